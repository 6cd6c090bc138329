//! [`SqliteStore`]: clients in an SQLite database file (feature `sqlite`).

mod checkpoint;
mod connection;
mod decoded;
mod readers;
mod writer;

use std::path::Path;
use std::sync::Arc;

use super::ClientRecord;
use super::StoreError;
use super::sql::{Dialect, Done, Read, SqliteRow, Statements, Write, sql_store};
use connection::Database;
use decoded::Decoded;
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
/// the others committed with it. WAL checkpoints (copying the log into the
/// database file) run on a thread of their own, so a commit does not wait for
/// one. At most 4 096 writes wait in the queue;
/// beyond that a write waits up to 3 s for room, then fails with
/// [`StoreError::Unavailable`].
///
/// Reads run on up to four read-only connections (WAL lets them run while the
/// writer writes). A lookup by key (a client, a token) runs on the calling
/// task when a connection is idle, since it takes a few microseconds; reads
/// that scan run on tokio's blocking pool. The decoded record of a client read
/// recently is reused while its row reads back unchanged (the row is still
/// read each time). Another process's write lock is
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
///
/// The secondary indexes (on `software_id`, `initial_access_token_id`,
/// `client_secret_expires_at`, for quota counts and sweeps) are partial: they
/// hold only the rows that have a value there, so a typical registration
/// writes fewer pages. `migrate` replaces the full indexes a database made by
/// an earlier version has.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    reads: Arc<Readers>,
    decoded: Arc<Decoded>,
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
            decoded: Arc::default(),
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

    async fn read_client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        match self.read(Read::Client(client_id)).await?.pop() {
            Some(row) => self.decoded.record(row).map(Some),
            None => Ok(None),
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::SqliteStore;
    use crate::credentials::Secret;
    use crate::store::{ClientFilter, ClientRecord, ClientStore, RecordSource, StoredSecret};

    /// The clients table and its indexes as `migrate` created them before the
    /// partial indexes, with the prefix `p_`.
    const OLD_SCHEMA: &str = r#"
        CREATE TABLE "p_clients" (
            client_id TEXT NOT NULL PRIMARY KEY,
            metadata TEXT NOT NULL,
            client_secret_kind TEXT,
            client_secret BLOB,
            registration_access_token BLOB,
            revision BIGINT NOT NULL,
            source TEXT NOT NULL,
            profile TEXT,
            initial_access_token_id TEXT,
            software_id TEXT,
            client_id_issued_at BIGINT NOT NULL,
            client_secret_expires_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            last_used_at BIGINT,
            registration_access_token_expires_at BIGINT NOT NULL DEFAULT 0,
            previous_registration_access_token BLOB,
            previous_registration_access_token_expires_at BIGINT
        );
        CREATE INDEX "p_clients_software_id" ON "p_clients" (software_id);
        CREATE INDEX "p_clients_initial_access_token_id" ON "p_clients" (initial_access_token_id);
        CREATE INDEX "p_clients_last_used_at" ON "p_clients" (last_used_at, created_at);
        CREATE INDEX "p_clients_client_secret_expires_at" ON "p_clients" (client_secret_expires_at);
        CREATE TABLE "p_initial_access_tokens" (
            id TEXT NOT NULL PRIMARY KEY,
            digest BLOB NOT NULL UNIQUE,
            profile TEXT,
            created_at BIGINT NOT NULL,
            expires_at BIGINT,
            max_uses BIGINT,
            uses BIGINT NOT NULL
        );
    "#;

    fn indexes(connection: &Connection) -> Vec<String> {
        let mut statement = connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name = 'p_clients' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The plan SQLite picks for `sql`, one line per step.
    fn plan(connection: &Connection, sql: &str) -> String {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let nulls = vec![rusqlite::types::Null; statement.parameter_count()];
        let details: Vec<String> = statement
            .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        details.join("; ")
    }

    /// A database made by the previous schema keeps its rows through
    /// `migrate`, which replaces the three full secondary indexes with
    /// partial ones (twice: it is idempotent), and the queries that searched
    /// the old indexes use the new ones and still find every row.
    #[tokio::test]
    async fn migrate_replaces_the_full_indexes_of_an_existing_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(OLD_SCHEMA)
            .unwrap();

        let store = SqliteStore::open(&path).await.unwrap().table_prefix("p_");
        let mut records = Vec::new();
        for i in 0..40u64 {
            let mut record =
                ClientRecord::new_host_client(format!("c{i:02}"), Default::default(), 100);
            record.source = RecordSource::Dynamic;
            if i % 4 == 1 {
                record.metadata.software_id = Some(format!("app{}", i % 8));
            }
            if i % 5 == 2 {
                record.initial_access_token_id = Some("iat".into());
            }
            if i % 3 == 0 {
                record.client_secret = Some(StoredSecret::Digest(Secret::new("s").digest()));
                record.client_secret_expires_at = 1_000 + i;
            }
            store.create(Arc::new(record.clone())).await.unwrap();
            records.push(record);
        }
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();

        let connection = Connection::open(&path).unwrap();
        assert_eq!(
            indexes(&connection),
            [
                "p_clients_client_secret_expiring",
                "p_clients_initial_access_token_id_set",
                "p_clients_last_used_at",
                "p_clients_software_id_set",
            ]
        );
        let statements = &store.statements;
        let (count_software, _) = statements.count_clients(&ClientFilter {
            software_id: Some("app1"),
            ..ClientFilter::default()
        });
        assert!(
            plan(&connection, &count_software).contains("p_clients_software_id_set"),
            "{}",
            plan(&connection, &count_software)
        );
        let (count_token, _) = statements.count_clients(&ClientFilter {
            initial_access_token_id: Some("iat"),
            ..ClientFilter::default()
        });
        assert!(
            plan(&connection, &count_token).contains("p_clients_initial_access_token_id_set"),
            "{}",
            plan(&connection, &count_token)
        );
        // The sweeps search the indexes with the limit bound, as the store
        // runs them (issue #23 item 2: a walk of the primary key read every
        // client at every sweep).
        let sweep = &statements.expired_secrets;
        assert!(
            plan(&connection, sweep).contains("p_clients_client_secret_expiring"),
            "{}",
            plan(&connection, sweep)
        );
        let stale = &statements.stale_clients;
        assert!(
            plan(&connection, stale).contains("p_clients_last_used_at")
                && !plan(&connection, stale).contains("SCAN"),
            "{}",
            plan(&connection, stale)
        );

        for record in &records {
            let stored = store.get(&record.client_id).await.unwrap().unwrap();
            assert_eq!(stored.metadata.software_id, record.metadata.software_id);
            assert_eq!(
                stored.initial_access_token_id,
                record.initial_access_token_id
            );
            assert_eq!(
                stored.client_secret_expires_at,
                record.client_secret_expires_at
            );
        }
        let lifecycle = store.lifecycle().unwrap();
        let count = |filter: ClientFilter<'static>| async move {
            lifecycle.count_clients(&filter).await.unwrap()
        };
        let expected =
            |f: &dyn Fn(&ClientRecord) -> bool| records.iter().filter(|r| f(r)).count() as u64;
        assert_eq!(
            count(ClientFilter {
                software_id: Some("app1"),
                ..ClientFilter::default()
            })
            .await,
            expected(&|r| r.metadata.software_id.as_deref() == Some("app1"))
        );
        assert_eq!(
            count(ClientFilter {
                initial_access_token_id: Some("iat"),
                ..ClientFilter::default()
            })
            .await,
            expected(&|r| r.initial_access_token_id.is_some())
        );
        assert_eq!(count(ClientFilter::default()).await, 40);
        let expired = lifecycle.expired_secrets(1_020, 100).await.unwrap();
        let mut ids: Vec<_> = expired.iter().map(|r| r.client_id.as_str()).collect();
        ids.sort_unstable();
        let want: Vec<_> = records
            .iter()
            .filter(|r| r.client_secret.is_some() && r.client_secret_expires_at <= 1_020)
            .map(|r| r.client_id.as_str())
            .collect();
        assert!(!want.is_empty());
        assert_eq!(ids, want);
        store.close().await;
    }

    /// A record decoded before is handed out again only while its row is
    /// unchanged: a change made through another store on the same file (as
    /// another process would) is seen on the next read.
    #[tokio::test]
    async fn a_reused_record_never_hides_a_change_made_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decoded.db");
        let here = SqliteStore::open(&path).await.unwrap();
        here.migrate().await.unwrap();
        let elsewhere = SqliteStore::open(&path).await.unwrap();

        let mut record = ClientRecord::new_host_client("c", Default::default(), 100);
        record.metadata.software_id = Some("first".into());
        here.create(Arc::new(record.clone())).await.unwrap();
        let first = here.get("c").await.unwrap().unwrap();
        let again = here.get("c").await.unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "an unchanged row is decoded once"
        );

        let mut updated = record.clone();
        updated.metadata.software_id = Some("second".into());
        updated.revision = 1;
        elsewhere.update(Arc::new(updated), 0).await.unwrap();
        let seen = here.get("c").await.unwrap().unwrap();
        assert_eq!(seen.metadata.software_id.as_deref(), Some("second"));
        assert_eq!(seen.revision, 1);

        assert!(elsewhere.delete("c", None).await.unwrap());
        assert!(here.get("c").await.unwrap().is_none());
        // The same id and revision again, with other metadata.
        let mut recreated = record.clone();
        recreated.metadata.software_id = Some("third".into());
        elsewhere.create(Arc::new(recreated)).await.unwrap();
        let seen = here.get("c").await.unwrap().unwrap();
        assert_eq!(seen.metadata.software_id.as_deref(), Some("third"));

        // A plain client_secret_jwt key is never kept beside its record.
        let mut plain = ClientRecord::new_host_client("p", Default::default(), 100);
        plain.client_secret = Some(StoredSecret::Plain(Secret::new("hmac key")));
        here.create(Arc::new(plain)).await.unwrap();
        let first = here.get("p").await.unwrap().unwrap();
        let again = here.get("p").await.unwrap().unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert!(
            matches!(&again.client_secret, Some(StoredSecret::Plain(s)) if s.secret() == "hmac key")
        );
        here.close().await;
        elsewhere.close().await;
    }

    /// Commits are copied into the database file by the checkpoint thread,
    /// not only when the log reaches the writer's own (much larger)
    /// automatic checkpoint.
    #[tokio::test]
    async fn the_checkpoint_thread_copies_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpointed.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for i in 0..super::checkpoint::EVERY_COMMITS + 8 {
            let record = ClientRecord::new_host_client(format!("c{i}"), Default::default(), 1);
            store.create(Arc::new(record)).await.unwrap();
        }
        let mut waited = 0;
        while std::fs::metadata(&path).unwrap().len() <= before && waited < 50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(
            std::fs::metadata(&path).unwrap().len() > before,
            "nothing was checkpointed"
        );
        store.close().await;
    }

    /// Two stores (as two processes would) migrating an old database at the
    /// same time both succeed, and leave the partial indexes alone.
    #[tokio::test]
    async fn concurrent_migrations_of_an_old_database_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(OLD_SCHEMA)
            .unwrap();
        let first = SqliteStore::open(&path).await.unwrap().table_prefix("p_");
        let second = SqliteStore::open(&path).await.unwrap().table_prefix("p_");
        let (a, b) = tokio::join!(first.migrate(), second.migrate());
        a.unwrap();
        b.unwrap();
        assert_eq!(
            indexes(&Connection::open(&path).unwrap()),
            [
                "p_clients_client_secret_expiring",
                "p_clients_initial_access_token_id_set",
                "p_clients_last_used_at",
                "p_clients_software_id_set",
            ]
        );
        let record = ClientRecord::new_host_client("c", Default::default(), 1);
        first.create(Arc::new(record)).await.unwrap();
        assert!(second.get("c").await.unwrap().is_some());
        first.close().await;
        second.close().await;
    }
}
