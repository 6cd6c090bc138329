//! SQLite connections through rusqlite: where the database is, how a
//! connection is opened (the write connection in WAL mode with
//! `synchronous = FULL`; read-only ones beside it), running one statement with
//! its values, and what a driver error means for the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Statement, ffi};

use super::checkpoint::WRITER_AUTOCHECKPOINT;
use crate::store::StoreError;
use crate::store::sql::{DatabaseError, Done, SqliteRow, Statements, Value, Write};

/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection: a store's ~20, the multi-row
/// inserts, and room for the counting statements and other stores' tables.
const STATEMENT_CACHE: usize = 64;

/// The write connection's page cache, in KiB (SQLite's default is 2 000):
/// each registration touches a random leaf of the `client_id` index, and a
/// leaf that fell out of the cache is read again from the file.
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// The database file of a store.
#[derive(Clone, Debug)]
pub(crate) struct Database {
    path: PathBuf,
}

/// A URL [`SqliteStore::connect`](super::SqliteStore::connect) cannot open.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadUrl {
    /// Not `sqlite:PATH` or `sqlite://PATH`.
    #[error("not an SQLite URL (sqlite:PATH or sqlite://PATH)")]
    NotSqlite,
    /// An in-memory database: each connection would see its own.
    #[error("an in-memory SQLite database cannot back SqliteStore: use MemoryStore")]
    InMemory,
}

impl Database {
    /// The file at `path`.
    pub(crate) fn at(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The file a URL names: `sqlite:PATH` or `sqlite://PATH`, optionally
    /// followed by `?…` options, which are ignored (the file is always
    /// created if missing, as with sqlx's `mode=rwc`).
    pub(crate) fn from_url(url: &str) -> Result<Self, BadUrl> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(BadUrl::NotSqlite)?;
        let path = rest.split('?').next().unwrap_or(rest);
        if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
            return Err(BadUrl::InMemory);
        }
        Ok(Self::at(Path::new(path)))
    }

    /// The write connection: creates the file if missing, WAL mode,
    /// `synchronous = FULL`.
    ///
    /// Temporary storage in memory: a statement that may fail halfway inside a
    /// transaction (the multi-row insert of a group commit) keeps the pages it
    /// changes in a statement journal, to undo itself alone; beyond 64 KiB
    /// SQLite spills that journal to a temporary file, which cost a file
    /// created, written and deleted per batch. The journal only ever undoes a
    /// statement of the open transaction, so where it lives has no bearing on
    /// what survives a crash (that is the WAL's job).
    pub(crate) fn open_writer(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String =
            connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_CANTOPEN),
                Some(format!("journal_mode is {mode}, not wal")),
            ));
        }
        connection.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; \
             PRAGMA cache_size = -{WRITER_CACHE_KIB}; \
             PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}"
        ))?;
        Ok(connection)
    }

    /// The connection that runs WAL checkpoints beside the writer (see
    /// [`checkpoint`](super::checkpoint)): read-write on an existing file,
    /// `synchronous = FULL` so a checkpoint syncs the database file before
    /// the log is reused.
    pub(crate) fn open_checkpointer(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0")?;
        Ok(connection)
    }

    /// A read-only connection (the write connection made the file WAL).
    pub(crate) fn open_reader(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }
}

/// Binds `values` as `?1`, `?2`, ….
pub(crate) fn bind(statement: &mut Statement<'_>, values: &[Value<'_>]) -> rusqlite::Result<()> {
    for (index, value) in values.iter().enumerate() {
        statement.raw_bind_parameter(index + 1, value)?;
    }
    Ok(())
}

/// Runs a query and copies out every row.
pub(crate) fn query(
    connection: &Connection,
    sql: &str,
    values: &[Value<'_>],
) -> rusqlite::Result<Vec<SqliteRow>> {
    let mut statement = connection.prepare_cached(sql)?;
    bind(&mut statement, values)?;
    let columns = statement.column_count();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(SqliteRow::read(row, columns)?);
    }
    Ok(out)
}

/// Runs one write: the rows it changed, or the row it returned.
pub(crate) fn execute(
    connection: &Connection,
    write: &Write,
    statements: &Statements,
) -> rusqlite::Result<Done<SqliteRow>> {
    let mut values = Vec::with_capacity(20);
    write.values(&mut values);
    let sql = write.statement(statements);
    if write.returns_row() {
        let row = query(connection, sql, &values)?.into_iter().next();
        return Ok(Done {
            affected: u64::from(row.is_some()),
            row,
        });
    }
    let mut statement = connection.prepare_cached(sql)?;
    bind(&mut statement, &values)?;
    let affected = statement.raw_execute()?;
    Ok(Done {
        affected: affected as u64,
        row: None,
    })
}

/// Maps a driver error: a unique violation is a [`StoreError::Conflict`], a
/// missing table names `migrate()`, any other failure makes the store
/// [`StoreError::Unavailable`]. Only the code and SQLite's message are kept.
pub(crate) fn store_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(e, message) => {
            let unique = matches!(
                e.extended_code,
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            );
            let text = match message {
                Some(message) => message.clone(),
                None => e.to_string(),
            };
            DatabaseError::store_error(e.extended_code.to_string(), &text, unique)
        }
        _ => StoreError::unavailable(error),
    }
}

/// The text of an error, as [`store_error`] keeps it, for every operation of
/// a failed batch.
pub(crate) fn error_text(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(e, Some(message)) => {
            format!("database error {}: {message}", e.extended_code)
        }
        rusqlite::Error::SqliteFailure(e, None) => {
            format!("database error {}: {e}", e.extended_code)
        }
        other => other.to_string(),
    }
}

/// Whether an error means the connection cannot be trusted any more (the
/// file is unreadable or gone), so it is closed and opened again.
pub(crate) fn connection_lost(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if matches!(
        e.code,
        ErrorCode::SystemIoFailure
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::NotADatabase
            | ErrorCode::CannotOpen
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file_and_refuse_memory() {
        let path = |url| Database::from_url(url).map(|d| d.path);
        assert_eq!(path("sqlite:dcr.db").unwrap(), Path::new("dcr.db"));
        assert_eq!(
            path("sqlite:///var/lib/dcr.db?mode=rwc").unwrap(),
            Path::new("/var/lib/dcr.db")
        );
        assert_eq!(
            path("sqlite://rel/dcr.db").unwrap(),
            Path::new("rel/dcr.db")
        );
        assert!(matches!(path("sqlite::memory:"), Err(BadUrl::InMemory)));
        assert!(matches!(path("sqlite:"), Err(BadUrl::InMemory)));
        assert!(matches!(path("postgres://x"), Err(BadUrl::NotSqlite)));
    }

    /// The durability `SqliteStore` documents: WAL, and a commit waits for the
    /// log's `fsync` (`synchronous = FULL`, 2).
    #[test]
    fn a_write_connection_is_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::at(&dir.path().join("new.db"));
        let writer = database.open_writer().unwrap();
        let pragma = |name: &str| -> String {
            writer
                .query_row(&format!("PRAGMA {name}"), [], |row| {
                    row.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
        assert_eq!(pragma("synchronous"), "Integer(2)");
        // Statement journals in memory, never in a temporary file.
        assert_eq!(pragma("temp_store"), "Integer(2)");
        // Checkpoints run beside the writer; its own is a backstop.
        assert_eq!(pragma("wal_autocheckpoint"), "Integer(10000)");
        let reader = database.open_reader().unwrap();
        assert!(
            reader.execute_batch("CREATE TABLE t (x)").is_err(),
            "read-only"
        );
    }
}
