//! [`PostgresStore`]: clients in PostgreSQL, shared by several tower-dcr

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::quota::QuotaTables;
use super::sql::{self, ClientRow, Statements, limit, quote, sql, store_error, to_i64};
use super::{
    ClientFilter, ClientLifecycleStore, ClientRecord, ClientStore, InitialAccessToken,
    InitialAccessTokenStore, QuotaReservationStore, StaleCriteria, StoreError,
};
use crate::credentials::SecretDigest;

/// How long [`PostgresStore::connect`]'s pool waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times a statement is retried after a serialization failure.
const RETRIES: u32 = 4;
/// How many times `migrate` is retried after a concurrent migration's error.
const MIGRATE_RETRIES: u32 = 5;

/// A [`ClientStore`] in PostgreSQL (or CockroachDB), with every optional
/// capability (initial access tokens and lifecycle). Cloning shares the pool.
///
/// instances (feature `postgres`).
///
/// ```no_run
/// # async fn setup() -> Result<(), tower_dcr::StoreError> {
/// let store = tower_dcr::store::PostgresStore::connect("postgres://dcr@db/auth").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
///
/// # Several instances
///
/// Every operation is one statement, so instances never hold locks across
/// requests. Updates are optimistic: `UPDATE … WHERE client_id = $1 AND
/// revision = $n` changes nothing when another instance got there first, and
/// the caller sees [`StoreError::Stale`]. Consuming an initial access token is a
/// single `UPDATE … RETURNING` that checks expiry and remaining uses, so a
/// one-use token registers exactly one client across all instances.
///
/// # CockroachDB and other PostgreSQL-wire databases
///
/// The SQL stays within what CockroachDB accepts: `TEXT`, `BYTEA` and `BIGINT`
/// columns, `INSERT … ON CONFLICT DO NOTHING`, `UPDATE … RETURNING`,
/// `CREATE … IF NOT EXISTS`; no advisory locks, sequences, triggers or
/// PL/pgSQL. A statement that fails with SQLSTATE `40001` (serialization
/// failure, which CockroachDB's serializable transactions raise under
/// contention) or `40P01` (deadlock) is retried a few times with a short
/// randomized backoff; being a single autocommitted statement, it had no
/// effect.
///
/// # Outages
///
/// [`PostgresStore::connect`] makes a pool that waits at most 3 s for a
/// connection. While the database is down, operations fail with
/// [`StoreError::Unavailable`] (the service answers `503` with `Retry-After`)
/// instead of hanging; the pool tests connections before use and reconnects by
/// itself once the database is back. A store built with
/// [`PostgresStore::new`] uses the pool as given.
///
/// # Schema
///
/// [`PostgresStore::migrate`] creates the tables `{prefix}clients` and
/// `{prefix}initial_access_tokens`, in the configured
/// [`schema`](PostgresStore::schema) (created too) or else the connection's
/// `search_path`. It is safe to run from several instances at once: PostgreSQL
/// can fail concurrent `CREATE … IF NOT EXISTS` with a unique violation on its
/// catalogs, which `migrate` retries. Listings are ordered by `client_id` in the
/// column's collation (bytewise under `C`, CockroachDB's default).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<String>,
    prefix: String,
    statements: Arc<Statements>,
    replay: super::PostgresReplayStore,
}

impl PostgresStore {
    /// A store over an existing pool, with unprefixed tables in the connection's
    /// `search_path`. Run [`migrate`](Self::migrate) once before use.
    pub fn new(pool: PgPool) -> Self {
        Self {
            replay: super::PostgresReplayStore::new(pool.clone()),
            pool,
            schema: None,
            prefix: String::new(),
            statements: Arc::new(Statements::new(None, "", "BYTEA")),
        }
    }

    /// Connects to the database at `url` with a pool that fails fast (3 s) when
    /// the database is unreachable (see the [outage notes](PostgresStore#outages)).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(store_error)?;
        Ok(Self::new(pool))
    }

    /// Keeps the tables in `schema`, which [`migrate`](Self::migrate) creates if
    /// needed.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self.rebuild()
    }

    /// Prefixes the table and index names with `prefix` (for example `"dcr_"`),
    /// so several stores or test runs can share one schema.
    pub fn table_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self.rebuild()
    }

    fn rebuild(mut self) -> Self {
        self.replay = super::PostgresReplayStore::new(self.pool.clone())
            .in_schema(self.schema.as_deref())
            .table_prefix(&self.prefix);
        self.statements = Arc::new(Statements::new(
            self.schema.as_deref(),
            &self.prefix,
            "BYTEA",
        ));
        self
    }

    /// The names of the quota reservation tables (`store::quota`).
    pub(super) fn quota_tables(&self) -> QuotaTables {
        QuotaTables::new(self.schema.as_deref(), &self.prefix)
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema (if configured), tables and indexes if they do not
    /// exist. Idempotent, and safe when several instances run it at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.try_migrate().await {
                Err(e) if attempt < MIGRATE_RETRIES && lost_migration_race(&e) => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                result => return result.map_err(store_error),
            }
        }
    }

    async fn try_migrate(&self) -> Result<(), sqlx::Error> {
        if let Some(schema) = &self.schema {
            let statement = format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema));
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&self.pool)
                .await?;
        }
        for statement in &self.statements.schema {
            sqlx::query(sql(statement)).execute(&self.pool).await?;
        }
        for statement in self.quota_tables().schema() {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&self.pool)
                .await?;
        }
        self.replay.create_table().await
    }

    async fn fetch_clients<'q>(
        &self,
        query: impl Fn() -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        let rows = retry(|| query().fetch_all(&self.pool)).await?;
        rows.iter()
            .map(|row| sql::client_from_row(row).map(Arc::new))
            .collect()
    }
}

/// Whether a key can be stored: PostgreSQL text cannot hold U+0000, so no
/// stored `client_id` or token id contains it, and a lookup by such a key
/// (which a client can send, say to the host's token endpoint) finds nothing
/// rather than failing.
fn storable(key: &str) -> bool {
    !key.contains('\0')
}

/// Whether `error` is worth running the same statement again: a serialization
/// failure (`40001`) or a deadlock (`40P01`) rolled it back.
pub(super) fn retryable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e)
        if matches!(e.code().as_deref(), Some("40001" | "40P01")))
}

/// Whether `migrate` collided with another instance's: PostgreSQL reports
/// concurrent `CREATE … IF NOT EXISTS` as a unique violation on its catalogs
/// (`23505`) or as an existing object (`42P07`, `42710`).
fn lost_migration_race(error: &sqlx::Error) -> bool {
    retryable(error)
        || matches!(error, sqlx::Error::Database(e)
            if matches!(e.code().as_deref(), Some("23505" | "42P07" | "42710")))
}

/// Randomized, growing delay before retry `attempt` (1-based): 10–20 ms, then
/// 20–40 ms, …
pub(super) fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(getrandom::u32().unwrap_or(0)) % base;
    Duration::from_millis(base / 2 + jitter)
}

/// Runs a statement, again after a serialization failure (see [`retryable`]).
async fn retry<T, F, Fut>(mut run: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match run().await {
            Err(e) if attempt < RETRIES && retryable(&e) => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            result => return result.map_err(store_error),
        }
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        let row = ClientRow::new(&record)?;
        let done = retry(|| {
            row.bind(sqlx::query(sql(&self.statements.insert_client)))
                .execute(&self.pool)
        })
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        if !storable(client_id) {
            return Ok(None);
        }
        let row = retry(|| {
            sqlx::query(sql(&self.statements.get_client))
                .bind(client_id)
                .fetch_optional(&self.pool)
        })
        .await?;
        row.map(|row| sql::client_from_row(&row).map(Arc::new))
            .transpose()
    }

    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError> {
        let Ok(expected_revision) = i64::try_from(expected_revision) else {
            return Err(StoreError::Stale);
        };
        if !storable(&record.client_id) {
            return Err(StoreError::Stale);
        }
        let row = ClientRow::new(&record)?;
        let done = retry(|| {
            row.bind(sqlx::query(sql(&self.statements.update_client)))
                .bind(expected_revision)
                .execute(&self.pool)
        })
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Stale);
        }
        Ok(())
    }

    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        if !storable(client_id) {
            return Ok(false);
        }
        let done = match expected_revision {
            None => {
                retry(|| {
                    sqlx::query(sql(&self.statements.delete_client))
                        .bind(client_id)
                        .execute(&self.pool)
                })
                .await?
            }
            Some(revision) => {
                let Ok(revision) = i64::try_from(revision) else {
                    return Ok(false);
                };
                retry(|| {
                    sqlx::query(sql(&self.statements.delete_client_at_revision))
                        .bind(client_id)
                        .bind(revision)
                        .execute(&self.pool)
                })
                .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    fn initial_access_tokens(&self) -> Option<&dyn InitialAccessTokenStore> {
        Some(self)
    }

    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        Some(self)
    }

    fn assertion_replay(&self) -> Option<&dyn super::AssertionReplayStore> {
        Some(&self.replay)
    }

    fn quota_reservations(&self) -> Option<&dyn QuotaReservationStore> {
        Some(self)
    }
}

#[async_trait]
impl InitialAccessTokenStore for PostgresStore {
    async fn create_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError> {
        let done = retry(|| {
            sql::bind_token(token, sqlx::query(sql(&self.statements.insert_token)))
                .execute(&self.pool)
        })
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn find_initial_access_token(
        &self,
        digest: &SecretDigest,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        let row = retry(|| {
            sqlx::query(sql(&self.statements.find_token))
                .bind(digest.as_bytes().as_slice())
                .fetch_optional(&self.pool)
        })
        .await?;
        row.map(|row| sql::token_from_row(&row)).transpose()
    }

    async fn consume_initial_access_token(
        &self,
        digest: &SecretDigest,
        now: u64,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        let row = retry(|| {
            sqlx::query(sql(&self.statements.consume_token))
                .bind(digest.as_bytes().as_slice())
                .bind(to_i64(now))
                .fetch_optional(&self.pool)
        })
        .await?;
        row.map(|row| sql::token_from_row(&row)).transpose()
    }

    async fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError> {
        let rows =
            retry(|| sqlx::query(sql(&self.statements.list_tokens)).fetch_all(&self.pool)).await?;
        rows.iter().map(sql::token_from_row).collect()
    }

    async fn revoke_initial_access_token(&self, id: &str) -> Result<bool, StoreError> {
        if !storable(id) {
            return Ok(false);
        }
        let done = retry(|| {
            sqlx::query(sql(&self.statements.revoke_token))
                .bind(id)
                .execute(&self.pool)
        })
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl ClientLifecycleStore for PostgresStore {
    async fn record_use(&self, client_id: &str, at: u64) -> Result<(), StoreError> {
        if !storable(client_id) {
            return Ok(());
        }
        retry(|| {
            sqlx::query(sql(&self.statements.record_use))
                .bind(client_id)
                .bind(to_i64(at))
                .execute(&self.pool)
        })
        .await?;
        Ok(())
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit_to: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        // Ids after "a\0b" are those after "a": none stored starts with "a\0".
        let after = after.map(|a| a.find('\0').map_or(a, |nul| &a[..nul]));
        self.fetch_clients(|| match after {
            None => sqlx::query(sql(&self.statements.list_clients)).bind(limit(limit_to)),
            Some(after) => sqlx::query(sql(&self.statements.list_clients_after))
                .bind(after)
                .bind(limit(limit_to)),
        })
        .await
    }

    async fn count_clients(&self, filter: &ClientFilter<'_>) -> Result<u64, StoreError> {
        let (statement, binds) = self.statements.count_clients(filter);
        let statement: Arc<str> = statement.into();
        let count = retry(|| {
            let mut query = sqlx::query_scalar::<_, i64>(sql(&statement));
            for value in &binds {
                query = query.bind(value.as_ref());
            }
            query.fetch_one(&self.pool)
        })
        .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn stale_clients(
        &self,
        criteria: &StaleCriteria,
        limit_to: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        self.fetch_clients(|| {
            sqlx::query(sql(&self.statements.stale_clients))
                .bind(criteria.unused_created_before.map(to_i64))
                .bind(criteria.idle_since.map(to_i64))
                .bind(limit(limit_to))
        })
        .await
    }

    async fn delete_if_stale(
        &self,
        client_id: &str,
        criteria: &StaleCriteria,
    ) -> Result<bool, StoreError> {
        if !storable(client_id) {
            return Ok(false);
        }
        let done = retry(|| {
            sqlx::query(sql(&self.statements.delete_if_stale))
                .bind(client_id)
                .bind(criteria.unused_created_before.map(to_i64))
                .bind(criteria.idle_since.map(to_i64))
                .execute(&self.pool)
        })
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn expired_secrets(
        &self,
        now: u64,
        limit_to: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        self.fetch_clients(|| {
            sqlx::query(sql(&self.statements.expired_secrets))
                .bind(to_i64(now))
                .bind(limit(limit_to))
        })
        .await
    }
}
