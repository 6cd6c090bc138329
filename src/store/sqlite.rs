//! [`SqliteStore`]: clients in an SQLite database file (feature `sqlite`).

mod connection;
mod readers;
mod writer;

use std::path::Path;
use std::sync::Arc;

use super::StoreError;
use super::sql::{Dialect, Done, Read, SqliteRow, Statements, Write, sql_store};
use connection::Database;
use readers::Readers;
use writer::Writer;

pub(crate) use writer::Writer as SqliteWriter;

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
/// Every write (create, update, delete, token use, last use, sweep, and the
/// jti replay store's) goes through one writer thread, which owns the write
/// connection and commits everything queued in one transaction: one `fsync`
/// for many registrations, instead of one each with the writers of a pool
/// queueing on SQLite's write lock. [`SqliteStore::connect`] opens the file in WAL mode with
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
/// writer writes). A lookup by key (a client, a token) runs on the calling
/// task when a connection is idle, since it takes a few microseconds; reads
/// that scan run on tokio's blocking pool. Another process's write lock is
/// waited for at most 5 s (`busy_timeout`); then the operation fails with
/// [`StoreError::Unavailable`] and the service answers `503`. Close the store
/// with [`SqliteStore::close`]; dropping every clone closes it too. An
/// in-memory database (`sqlite::memory:`) cannot back this store (each
/// connection would see its own); use [`MemoryStore`](super::MemoryStore).
///
/// SQLite runs in the process through
/// [rusqlite](https://docs.rs/rusqlite) with a bundled libsqlite3.
///
/// # Schema
///
/// [`SqliteStore::migrate`] creates three tables, `{prefix}clients`,
/// `{prefix}initial_access_tokens` and `{prefix}assertion_jtis` (see
/// [`SqliteStore::table_prefix`]), if they do not exist. Credentials are stored as SHA-256 digests (`BLOB`); only the
/// HMAC key of a `client_secret_jwt` client is kept as is. Metadata is stored
/// as the JSON text of [`ClientMetadata`](crate::ClientMetadata), which reads
/// back exactly as written.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    reads: Arc<Readers>,
    writer: Arc<Writer>,
    statements: Arc<Statements>,
    replay: super::SqliteReplayStore,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url`, such as
    /// `sqlite:clients.db` or `sqlite:///var/lib/dcr/clients.db` (options
    /// after `?` are ignored): one write connection in WAL mode with
    /// `synchronous = FULL` on its own thread, and up to four read-only
    /// connections (see the
    /// [durability notes](SqliteStore#group-commit-and-durability)).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let database = Database::from_url(url).map_err(StoreError::unavailable)?;
        Self::with(database).await
    }

    /// [`connect`](Self::connect) to the database file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::with(Database::at(path.as_ref())).await
    }

    async fn with(database: Database) -> Result<Self, StoreError> {
        // Opening may wait for another process's lock (WAL mode): off the
        // runtime's threads.
        let opening = database.clone();
        let writer = tokio::task::spawn_blocking(move || Writer::start(opening))
            .await
            .map_err(StoreError::unavailable)??;
        let writer = Arc::new(writer);
        let statements = Arc::new(Statements::new(None, "", Dialect::Sqlite));
        Ok(Self {
            reads: Arc::new(Readers::new(database)),
            replay: super::SqliteReplayStore::on(Arc::clone(&writer), Arc::clone(&statements)),
            writer,
            statements,
        })
    }

    /// Prefixes the table and index names with `prefix` (for example
    /// `"dcr_"`), so several stores or test runs can share one database.
    pub fn table_prefix(mut self, prefix: &str) -> Self {
        self.statements = Arc::new(Statements::new(None, prefix, Dialect::Sqlite));
        self.replay = self.replay.clone().table_prefix(prefix);
        self
    }

    /// Closes the store's connections (the writer commits what is queued
    /// first); operations fail with [`StoreError::Unavailable`] afterwards.
    pub async fn close(&self) {
        self.reads.close();
        self.writer.close().await;
    }

    /// Creates the tables and indexes if they do not exist. Idempotent, and safe
    /// when several processes run it at once (SQLite serializes the writers).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        for statement in &self.statements.schema {
            self.write(Write::Other(Arc::clone(statement), Vec::new()))
                .await?;
        }
        self.replay.migrate().await
    }

    /// The store's jti replay store, on its writer.
    pub(crate) fn replay_store(&self) -> super::SqliteReplayStore {
        self.replay.clone()
    }

    /// Keys may hold U+0000: SQLite text is counted, not terminated.
    const STORES_NUL: bool = true;

    async fn write(&self, write: Write) -> Result<Done<SqliteRow>, StoreError> {
        self.writer.write(write, &self.statements).await
    }

    async fn read(&self, read: Read<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        self.reads.read(read, &self.statements).await
    }
}

sql_store!(SqliteStore {
    fn assertion_replay(&self) -> Option<&dyn super::AssertionReplayStore> {
        Some(&self.replay)
    }
});
