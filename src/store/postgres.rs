//! [`PostgresStore`]: clients in PostgreSQL, shared by several tower-dcr
//! instances (feature `postgres`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};

use super::sql::{
    Connections, Dialect, Done, GroupCommit, Read, ReadBatch, Statements, Write, bind, quote, sql,
    sql_store, store_error,
};
use super::{ClientRecord, StoreError};

/// How long [`PostgresStore::connect`]'s pool waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How many times a statement is retried after a serialization failure.
const RETRIES: u32 = 4;
/// How many times `migrate` is retried after a concurrent migration's error
/// (about 6 s of backoff at most). Each statement of the schema can lose a
/// race to another instance's (`IF NOT EXISTS` is not atomic in PostgreSQL's
/// catalog), and the schema has grown to a dozen statements: with 8 instances
/// migrating at once on a loaded machine, 5 retries were once not enough.
const MIGRATE_RETRIES: u32 = 12;

/// A [`ClientStore`](crate::ClientStore) in PostgreSQL (or CockroachDB), with every optional
/// capability (initial access tokens and lifecycle). Cloning shares the pool.
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
/// Every operation is one statement, and no lock is held across requests
/// (a batch of writes, below, holds its rows' locks until its commit, a few
/// milliseconds). Updates are optimistic: `UPDATE … WHERE client_id = $1 AND
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
/// randomized backoff, with its batch: rolled back, it had no effect.
///
/// # Outages
///
/// [`PostgresStore::connect`] makes a pool that waits at most 3 s for a
/// connection. While the database is down, operations fail with
/// [`StoreError::Unavailable`] (the service answers `503` with `Retry-After`)
/// instead of hanging, and the store reconnects by itself once the database is
/// back.
///
/// # Group commit
///
/// Writes that arrive together are committed together: a few tasks (at most
/// half the pool's connections, four at most) each take everything queued
/// into one transaction, the new clients into one multi-row `INSERT`, so a
/// burst of registrations costs PostgreSQL a few transactions rather than one
/// each. A caller is answered only after its batch's `COMMIT` returned (as
/// durable as `synchronous_commit` makes it); a write alone runs at once as
/// one autocommitted statement; a statement that fails fails only its own
/// operation (the batch is rolled back and the others run again). A
/// serialization failure or deadlock reruns the batch, as above.
///
/// # Batched reads
///
/// Reads of one client by `client_id` (`get`) that arrive together are
/// answered together: a few tasks (two at most) each take every read queued
/// and run one `SELECT … WHERE client_id = ANY($1)`, so a burst of reads costs
/// one round trip rather than one each. A read alone runs at once (nothing
/// waits for a batch to fill). Nothing is cached: a read is sent to the
/// database after it was asked, so it sees every write acknowledged before
/// it, by this instance or another.
///
/// # Round trips
///
/// Each read, each batch of reads by `client_id`, and each batch of writes
/// is one round trip (plus `BEGIN` and
/// `COMMIT` for a batch of several statements): prepared statements (prepared
/// once per connection, then cached), no `SELECT` before an `UPDATE` (the
/// revision check is in its `WHERE`). The store keeps the connections it used checked out of
/// the pool it opened, because sqlx's pool pings a connection when it hands it
/// out and again when it takes it back (two more round trips per statement);
/// a kept connection idle for over a second is pinged before use, and one that
/// failed below the SQL level is closed, so after a database restart each kept
/// connection fails at most one operation. Close the store with
/// [`PostgresStore::close`]. A store built with [`PostgresStore::new`] uses
/// the pool as given, per operation.
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
    connections: Arc<Connections<Postgres>>,
    writes: Arc<GroupCommit>,
    reads: Arc<ReadBatch>,
    schema: Option<String>,
    prefix: String,
    statements: Arc<Statements>,
    replay: super::PostgresReplayStore,
}

impl PostgresStore {
    /// A store over an existing pool, with unprefixed tables in the connection's
    /// `search_path`; every operation checks a connection out of `pool` and
    /// back in. Run [`migrate`](Self::migrate) once before use.
    pub fn new(pool: PgPool) -> Self {
        Self::with(Connections::per_operation(pool))
    }

    fn with(connections: Connections<Postgres>) -> Self {
        let connections = Arc::new(connections);
        Self {
            replay: super::PostgresReplayStore::new(connections.pool().clone()),
            writes: Arc::new(GroupCommit::new(Arc::clone(&connections))),
            reads: Arc::new(ReadBatch::new(Arc::clone(&connections))),
            connections,
            schema: None,
            prefix: String::new(),
            statements: Arc::new(Statements::new(None, "", Dialect::Postgres)),
        }
    }

    /// Connects to the database at `url` with a pool that fails fast (3 s) when
    /// the database is unreachable (see the [outage notes](PostgresStore#outages)),
    /// and keeps its connections between operations (see
    /// [round trips](PostgresStore#round-trips)).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(store_error)?;
        Ok(Self::with(Connections::kept(pool)))
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
        self.replay = self
            .replay
            .clone()
            .in_schema(self.schema.as_deref())
            .table_prefix(&self.prefix);
        self.statements = Arc::new(Statements::new(
            self.schema.as_deref(),
            &self.prefix,
            Dialect::Postgres,
        ));
        self
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        self.connections.pool()
    }

    /// Closes the store's connections and its pool; operations fail with
    /// [`StoreError::Unavailable`] afterwards.
    pub async fn close(&self) {
        self.writes.close().await;
        self.reads.close().await;
        self.connections.close().await;
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
        let mut lease = self.connections.acquire().await?;
        let mut statements = Vec::new();
        if let Some(schema) = &self.schema {
            statements.push(Arc::from(format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote(schema)
            )));
        }
        statements.extend(self.statements.schema.iter().cloned());
        for statement in &statements {
            let result = sqlx::query(sql(statement)).execute(&mut *lease).await;
            lease.finished(&result);
            result?;
        }
        drop(lease);
        self.replay.create_table().await
    }

    /// Keys cannot hold U+0000: PostgreSQL text cannot, so no stored
    /// `client_id` or token id contains it, and a lookup by such a key (which a
    /// client can send, say to the host's token endpoint) finds nothing rather
    /// than failing.
    const STORES_NUL: bool = false;

    async fn write(&self, write: Write) -> Result<Done<PgRow>, StoreError> {
        self.writes.write(write, &self.statements).await
    }

    async fn read_client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        self.reads.get(client_id, &self.statements).await
    }

    async fn read(&self, read: Read<'_>) -> Result<Vec<PgRow>, StoreError> {
        let (statement, values) = read.statement(&self.statements);
        retry(|| async {
            let mut lease = self.connections.acquire().await?;
            let result = bind(
                sqlx::query(sqlx::AssertSqlSafe(statement.as_ref())),
                &values,
            )
            .fetch_all(&mut *lease)
            .await;
            lease.finished(&result);
            result
        })
        .await
    }
}

sql_store!(PostgresStore {
    fn assertion_replay(&self) -> Option<&dyn super::AssertionReplayStore> {
        Some(&self.replay)
    }
});

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
