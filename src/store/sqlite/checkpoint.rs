//! WAL checkpoints on a thread of their own, beside the writer.
//!
//! In WAL mode a commit appends pages to the write-ahead log; a checkpoint
//! copies them into the database file, `fsync`s it, and lets the log start
//! over. By default SQLite runs it inside the commit that takes the log past
//! 1 000 pages, on the connection that committed: the writer thread, so the
//! whole batch waiting for that commit also waited for up to a thousand page
//! writes and the database file's `fsync`, and the next batch queued behind
//! it. Here the writer only counts its commits and, every
//! [`EVERY_COMMITS`], wakes this thread, which runs a `PASSIVE` checkpoint on
//! its own connection: it copies what no reader still needs without taking
//! the write lock, while the writer goes on committing. A checkpoint also
//! runs after [`IDLE`] without one if anything was committed since.
//!
//! Durability does not depend on it: every commit is in the log, `fsync`ed,
//! before it is acknowledged; the checkpoint connection runs with
//! `synchronous = FULL`, so the database file is synced before the log is
//! reused. If this thread cannot keep up, or its connection cannot be
//! opened, the writer's own automatic checkpoint (raised to
//! [`WRITER_AUTOCHECKPOINT`] pages) still bounds the log.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::connection::Database;

/// Commits between two checkpoints under load (a group commit of a dozen
/// registrations appends a few dozen pages).
pub(crate) const EVERY_COMMITS: usize = 32;
/// A checkpoint runs after this long without one if anything was committed.
const IDLE: Duration = Duration::from_secs(1);
/// The writer's own automatic checkpoint, in pages of log: a backstop only.
pub(crate) const WRITER_AUTOCHECKPOINT: u32 = 10_000;

/// What the writer and the checkpoint thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Commits since the last checkpoint began.
    commits: AtomicUsize,
    stop: AtomicBool,
}

/// The writer's handle on the checkpoint thread. Dropping it stops the
/// thread and waits for it.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the checkpoint thread for `database`; `None` if the thread
    /// cannot be started (the writer's automatic checkpoint then does the
    /// work).
    pub(crate) fn start(database: Database) -> Option<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tower-dcr-sqlite-checkpoint".into())
            .spawn(move || run(&theirs, &database))
            .ok()?;
        Some(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Counts a commit; every [`EVERY_COMMITS`] wakes the thread.
    pub(crate) fn committed(&self) {
        if self.shared.commits.fetch_add(1, Ordering::Relaxed) + 1 == EVERY_COMMITS {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(thread) = &*self.thread.lock().unwrap_or_else(PoisonError::into_inner) {
            thread.thread().unpark();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared, database: &Database) {
    let mut connection: Option<Connection> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(IDLE);
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        // Woken for a full count, or idle for IDLE with something committed.
        if shared.commits.swap(0, Ordering::Relaxed) == 0 {
            continue;
        }
        if connection.is_none() {
            connection = database.open_checkpointer().ok();
        }
        if let Some(open) = &connection
            && open
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .is_err()
        {
            // Opened again on the next round; the writer's automatic
            // checkpoint covers the gap.
            connection = None;
        }
    }
}
