//! [`SqliteStore`]: clients in an SQLite database file (feature `sqlite`).

mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::StoreError;
use super::sql::{Connections, Done, Read, Statements, Write, sql, sql_store, store_error};
use writer::Writer;

/// How long [`SqliteStore::connect`]'s pools wait for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connection waits for another writer to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections [`SqliteStore::connect`] opens at most.
const READERS: u32 = 4;

/// A [`ClientStore`](crate::ClientStore) in an SQLite database, with every
/// optional capability (initial access tokens and lifecycle). Cloning shares
/// the connections and the writer.
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
/// # Group commit and durability
///
/// Every write (create, update, delete, token use, last use, sweep) goes
/// through one writer task, which commits everything queued in one
/// transaction on one write connection: one `fsync` for many registrations,
/// instead of one each with the writers of a pool queueing on SQLite's write
/// lock. [`SqliteStore::connect`] opens the file in WAL mode with
/// `synchronous = FULL`, so a commit returns only once the write-ahead log is
/// on disk, and each write returns only after its commit: once the service has
/// answered `201`, the registration survives the process being killed
/// (`SIGKILL`, a crash) *and* the machine losing power, as far as the disk
/// honours `fsync`. A statement that fails fails only its own request, never
/// the others committed with it. At most 4 096 writes wait in the queue;
/// beyond that a write waits up to 3 s for room, then fails with
/// [`StoreError::Unavailable`].
///
/// Reads run on up to four read-only connections (WAL lets them run while the
/// writer writes), kept between operations. A connection is waited for at most
/// 3 s, another process's write lock at most 5 s (`busy_timeout`); then the
/// operation fails with [`StoreError::Unavailable`] and the service answers
/// `503`. Close the store with [`SqliteStore::close`] (closing
/// [`pool`](Self::pool) alone waits for the connections the store keeps).
///
/// A store built with [`SqliteStore::new`] uses the pool as given, for its
/// reads and for the writer's transactions: set the options above yourself on
/// its [`SqliteConnectOptions`]. An in-memory database (`sqlite::memory:`) is
/// not meant for this store; use [`MemoryStore`](super::MemoryStore).
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
    reads: Arc<Connections<Sqlite>>,
    writer: Arc<Writer>,
    statements: Arc<Statements>,
    replay: super::SqliteReplayStore,
}

impl SqliteStore {
    /// A store over an existing pool, with unprefixed table names: reads and
    /// the writer's transactions use connections of `pool`, per operation. Run
    /// [`migrate`](Self::migrate) once before use.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            reads: Arc::new(Connections::per_operation(pool.clone())),
            replay: super::SqliteReplayStore::new(pool.clone()),
            writer: Arc::new(Writer::new(Connections::per_operation(pool))),
            statements: Arc::new(Statements::new(None, "", "BLOB")),
        }
    }

    /// Opens (creating it if missing) the database at `url`, such as
    /// `sqlite:clients.db`: one write connection in WAL mode with
    /// `synchronous = FULL`, and up to four read-only connections (see the
    /// [durability notes](SqliteStore#group-commit-and-durability)).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(store_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer keeps one connection; the jti replay store (rare writes
        // at the token endpoint) takes the other.
        let writes = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(store_error)?;
        let reads = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.read_only(true))
            .await
            .map_err(store_error)?;
        Ok(Self {
            reads: Arc::new(Connections::kept(reads)),
            replay: super::SqliteReplayStore::new(writes.clone()),
            writer: Arc::new(Writer::new(Connections::kept(writes))),
            statements: Arc::new(Statements::new(None, "", "BLOB")),
        })
    }

    /// Prefixes the table and index names with `prefix` (for example
    /// `"dcr_"`), so several stores or test runs can share one database.
    pub fn table_prefix(mut self, prefix: &str) -> Self {
        self.statements = Arc::new(Statements::new(None, prefix, "BLOB"));
        self.replay = self.replay.clone().table_prefix(prefix);
        self
    }

    /// The pool reads use. A store opened with [`connect`](Self::connect)
    /// reads on read-only connections, so this pool cannot write.
    pub fn pool(&self) -> &SqlitePool {
        self.reads.pool()
    }

    /// Closes the store's connections; operations fail with
    /// [`StoreError::Unavailable`] afterwards.
    pub async fn close(&self) {
        self.reads.close().await;
        self.writer.connections().close().await;
    }

    /// Creates the tables and indexes if they do not exist. Idempotent, and safe
    /// when several processes run it at once (SQLite serializes the writers).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut lease = self
            .writer
            .connections()
            .acquire()
            .await
            .map_err(store_error)?;
        for statement in &self.statements.schema {
            let result = sqlx::query(sql(statement)).execute(&mut *lease).await;
            lease.finished(&result);
            result.map_err(store_error)?;
        }
        drop(lease);
        self.replay.create_table().await.map_err(store_error)
    }

    /// Keys may hold U+0000: SQLite text is counted, not terminated.
    const STORES_NUL: bool = true;

    async fn write(&self, write: Write) -> Result<Done<SqliteRow>, StoreError> {
        self.writer.write(write, &self.statements).await
    }

    async fn read(&self, read: Read<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        let mut lease = self.reads.acquire().await.map_err(store_error)?;
        let result = read
            .query::<Sqlite>(&self.statements)
            .fetch_all(&mut *lease)
            .await;
        lease.finished(&result);
        result.map_err(store_error)
    }
}

sql_store!(SqliteStore {
    fn assertion_replay(&self) -> Option<&dyn super::AssertionReplayStore> {
        Some(&self.replay)
    }
});
