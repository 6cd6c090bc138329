//! Reads on a few read-only connections, run on the calling thread when they
//! are point lookups.
//!
//! A read by key (a client by `client_id`, a token by digest) is one B-tree
//! seek in SQLite's page cache: a few microseconds, less than handing it to
//! another thread and being woken with the answer (two context switches, the
//! bulk of a read's CPU when every statement went to a driver's worker
//! thread). So a point read runs inline, on the task that asked, on the first
//! idle connection of the set ([`Mutex::try_lock`], lowest index first, so the
//! same one or two connections keep a warm page and statement cache). With
//! four connections and a runtime with fewer worker threads than that, one is
//! almost always idle. When every connection is busy, and for reads that scan
//! (listings, counts, sweeps: their time grows with the table), the read runs
//! on tokio's blocking pool instead, so it never holds a runtime thread for
//! long.
//!
//! WAL lets these connections read while the writer writes; they never wait
//! for the writer, only (rarely, briefly) for a checkpoint, bounded by the
//! busy timeout. A connection is opened on first use, and dropped after an
//! error below SQL, to be opened again on the next read.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::Connection;

use super::connection::{self, Database, connection_lost, store_error};
use crate::store::StoreError;
use crate::store::sql::{Read, SqliteRow, Statements, Value};

/// Read connections per store.
pub(crate) const READERS: usize = 4;

/// The read-only connections of a store.
#[derive(Debug)]
pub(crate) struct Readers {
    database: Database,
    slots: [Mutex<Option<Connection>>; READERS],
    /// Where the next read that waits starts looking.
    next: AtomicUsize,
    closed: AtomicBool,
}

/// The store was closed.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite store is closed")]
struct Closed;

impl Readers {
    /// Read connections on `database`, opened when first used.
    pub(crate) fn new(database: Database) -> Self {
        Self {
            database,
            slots: Default::default(),
            next: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Closes every connection; reads fail with
    /// [`StoreError::Unavailable`] afterwards.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for slot in &self.slots {
            lock(slot).take();
        }
    }

    /// Runs `read`: inline if it is a point lookup and a connection is idle,
    /// on the blocking pool otherwise.
    pub(crate) async fn read(
        self: &Arc<Self>,
        read: Read<'_>,
        statements: &Statements,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let (sql, values) = read.statement(statements);
        if read.is_point() {
            for slot in &self.slots {
                match slot.try_lock() {
                    Ok(guard) => return self.run(guard, &sql, &values),
                    Err(TryLockError::Poisoned(poisoned)) => {
                        return self.run(poisoned.into_inner(), &sql, &values);
                    }
                    Err(TryLockError::WouldBlock) => {}
                }
            }
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % READERS;
        if tokio::runtime::Handle::try_current().is_err() {
            return self.run(lock(&self.slots[index]), &sql, &values);
        }
        let sql = sql.into_owned();
        let values: Vec<Value<'static>> = values.into_iter().map(Value::into_owned).collect();
        let readers = Arc::clone(self);
        // The error is mapped here, on the caller's task: what that logs (a
        // missing table) goes to the caller's subscriber and span.
        tokio::task::spawn_blocking(move || {
            readers.query(lock(&readers.slots[index]), &sql, &values)
        })
        .await
        .map_err(StoreError::unavailable)?
        .map_err(Failed::into_store_error)
    }

    fn run(
        &self,
        slot: MutexGuard<'_, Option<Connection>>,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<SqliteRow>, StoreError> {
        self.query(slot, sql, values)
            .map_err(Failed::into_store_error)
    }

    fn query(
        &self,
        mut slot: MutexGuard<'_, Option<Connection>>,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<SqliteRow>, Failed> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Failed::Closed);
        }
        if slot.is_none() {
            *slot = Some(self.database.open_reader().map_err(Failed::Sqlite)?);
        }
        let connection = slot.as_ref().ok_or(Failed::Closed)?;
        connection::query(connection, sql, values).map_err(|error| {
            if connection_lost(&error) {
                *slot = None;
            }
            Failed::Sqlite(error)
        })
    }
}

/// Why a read failed, before it is a [`StoreError`].
enum Failed {
    Closed,
    Sqlite(rusqlite::Error),
}

impl Failed {
    fn into_store_error(self) -> StoreError {
        match self {
            Self::Closed => StoreError::unavailable(Closed),
            Self::Sqlite(error) => store_error(error),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
