//! [`SqliteStore`]: clients in an SQLite database file (feature `sqlite`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{self, ClientRow, Statements, limit, sql, store_error, to_i64};
use super::{
    ClientFilter, ClientLifecycleStore, ClientRecord, ClientStore, InitialAccessToken,
    InitialAccessTokenStore, StaleCriteria, StoreError,
};
use crate::credentials::SecretDigest;

/// How long [`SqliteStore::connect`]'s pool waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection waits for another writer to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`ClientStore`] in an SQLite database, with every optional capability
/// (initial access tokens and lifecycle). Cloning shares the pool.
///
/// The embedded durable store: one file, no server to run.
///
/// ```no_run
/// # async fn setup() -> Result<(), tower_dcr::StoreError> {
/// let store = tower_dcr::store::SqliteStore::connect("sqlite:clients.db").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
///
/// # Durability
///
/// [`SqliteStore::connect`] opens the file in WAL mode with
/// `synchronous = FULL`: every commit waits for the write-ahead log to reach the
/// disk (`fsync`) before the store returns. So once the service has answered
/// `201`, the registration survives the process being killed (`SIGKILL`, a
/// crash) *and* the machine losing power, as far as the disk honours `fsync`.
/// (`synchronous = NORMAL` would survive a killed process too, since the log is
/// already in the operating system's cache, but could lose the last commits on
/// power loss; registrations are rare enough that one `fsync` each is cheap.)
///
/// WAL mode lets readers run while one connection writes. Writers wait for each
/// other up to the 5 s `busy_timeout` rather than failing at once; a pool
/// connection is waited for at most 3 s, after which the operation fails with
/// [`StoreError::Unavailable`] and the service answers `503`.
///
/// A store built with [`SqliteStore::new`] uses the pool as given: set these
/// options yourself on its [`SqliteConnectOptions`]. An in-memory database
/// (`sqlite::memory:`) is not meant for this store; use
/// [`MemoryStore`](super::MemoryStore).
///
/// # Schema
///
/// [`SqliteStore::migrate`] creates two tables, `{prefix}clients` and
/// `{prefix}initial_access_tokens` (see [`SqliteStore::table_prefix`]), if they
/// do not exist. Credentials are stored as SHA-256 digests (`BLOB`); only the
/// HMAC key of a `client_secret_jwt` client is kept as is. Metadata is stored
/// as the JSON text of [`ClientMetadata`](crate::ClientMetadata), which reads
/// back exactly as written.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    statements: Arc<Statements>,
    replay: super::SqliteReplayStore,
}

impl SqliteStore {
    /// A store over an existing pool, with unprefixed table names. Run
    /// [`migrate`](Self::migrate) once before use.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            replay: super::SqliteReplayStore::new(pool.clone()),
            pool,
            statements: Arc::new(Statements::new(None, "", "BLOB")),
        }
    }

    /// Opens (creating it if missing) the database at `url`, such as
    /// `sqlite:clients.db`, in WAL mode with `synchronous = FULL` (see the
    /// [durability notes](SqliteStore#durability)).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(store_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        Ok(Self::new(pool))
    }

    /// Prefixes the table and index names with `prefix` (for example
    /// `"dcr_"`), so several stores or test runs can share one database.
    pub fn table_prefix(mut self, prefix: &str) -> Self {
        self.statements = Arc::new(Statements::new(None, prefix, "BLOB"));
        self.replay = super::SqliteReplayStore::new(self.pool.clone()).table_prefix(prefix);
        self
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the tables and indexes if they do not exist. Idempotent, and safe
    /// when several processes run it at once (SQLite serializes the writers).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        for statement in &self.statements.schema {
            sqlx::query(sql(statement))
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
        }
        self.replay.create_table().await.map_err(store_error)
    }

    async fn fetch_clients(
        &self,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        let rows = query.fetch_all(&self.pool).await.map_err(store_error)?;
        rows.iter()
            .map(|row| sql::client_from_row(row).map(Arc::new))
            .collect()
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        let row = ClientRow::new(&record)?;
        let done = row
            .bind(sqlx::query(sql(&self.statements.insert_client)))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        let row = sqlx::query(sql(&self.statements.get_client))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
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
        let row = ClientRow::new(&record)?;
        let done = row
            .bind(sqlx::query(sql(&self.statements.update_client)))
            .bind(expected_revision)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
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
        let query = match expected_revision {
            None => sqlx::query(sql(&self.statements.delete_client)).bind(client_id),
            Some(revision) => {
                let Ok(revision) = i64::try_from(revision) else {
                    return Ok(false);
                };
                sqlx::query(sql(&self.statements.delete_client_at_revision))
                    .bind(client_id)
                    .bind(revision)
            }
        };
        let done = query.execute(&self.pool).await.map_err(store_error)?;
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
}

#[async_trait]
impl InitialAccessTokenStore for SqliteStore {
    async fn create_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError> {
        let done = sql::bind_token(token, sqlx::query(sql(&self.statements.insert_token)))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn find_initial_access_token(
        &self,
        digest: &SecretDigest,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        let row = sqlx::query(sql(&self.statements.find_token))
            .bind(digest.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(|row| sql::token_from_row(&row)).transpose()
    }

    async fn consume_initial_access_token(
        &self,
        digest: &SecretDigest,
        now: u64,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        let row = sqlx::query(sql(&self.statements.consume_token))
            .bind(digest.as_bytes().as_slice())
            .bind(to_i64(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(|row| sql::token_from_row(&row)).transpose()
    }

    async fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError> {
        let rows = sqlx::query(sql(&self.statements.list_tokens))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter().map(sql::token_from_row).collect()
    }

    async fn revoke_initial_access_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(sql(&self.statements.revoke_token))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl ClientLifecycleStore for SqliteStore {
    async fn record_use(&self, client_id: &str, at: u64) -> Result<(), StoreError> {
        sqlx::query(sql(&self.statements.record_use))
            .bind(client_id)
            .bind(to_i64(at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit_to: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        let query = match after {
            None => sqlx::query(sql(&self.statements.list_clients)).bind(limit(limit_to)),
            Some(after) => sqlx::query(sql(&self.statements.list_clients_after))
                .bind(after)
                .bind(limit(limit_to)),
        };
        self.fetch_clients(query).await
    }

    async fn count_clients(&self, filter: &ClientFilter<'_>) -> Result<u64, StoreError> {
        let (statement, binds) = self.statements.count_clients(filter);
        let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(statement));
        for value in &binds {
            query = query.bind(value.as_ref());
        }
        let count = query.fetch_one(&self.pool).await.map_err(store_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn stale_clients(
        &self,
        criteria: &StaleCriteria,
        limit_to: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        let query = sqlx::query(sql(&self.statements.stale_clients))
            .bind(criteria.unused_created_before.map(to_i64))
            .bind(criteria.idle_since.map(to_i64))
            .bind(limit(limit_to));
        self.fetch_clients(query).await
    }

    async fn delete_if_stale(
        &self,
        client_id: &str,
        criteria: &StaleCriteria,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql(&self.statements.delete_if_stale))
            .bind(client_id)
            .bind(criteria.unused_created_before.map(to_i64))
            .bind(criteria.idle_since.map(to_i64))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn expired_secrets(
        &self,
        now: u64,
        limit_to: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        let query = sqlx::query(sql(&self.statements.expired_secrets))
            .bind(to_i64(now))
            .bind(limit(limit_to));
        self.fetch_clients(query).await
    }
}
