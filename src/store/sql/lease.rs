//! Connections kept checked out of the PostgreSQL store's own pool between
//! operations.
//!
//! sqlx 0.9's pool pings a connection when it hands it out
//! (`test_before_acquire`) and again, from a spawned task, when it takes it
//! back: two extra network round trips and a task per statement, more CPU than
//! the statement itself. A store that opened its pool itself keeps
//! the connections it has used in a last-in-first-out stack instead, so a
//! statement costs one round trip. A connection idle for more than
//! [`IDLE_CHECK`] is pinged before use (a database restarted in the meantime
//! is noticed without failing a request); one that failed below the SQL level
//! (I/O, protocol) or whose operation was abandoned is closed, never reused.
//! At most as many are out as the pool allows, so waiting for one is bounded
//! by the pool's acquire timeout as before.
//!
//! A pool given by the caller (`PostgresStore::new`) is used per operation, as
//! given.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Pool};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A kept connection idle for longer than this is pinged before use.
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(1);

/// A pool, and the connections the store keeps out of it.
#[derive(Debug)]
pub(crate) struct Connections<DB: Database> {
    pool: Pool<DB>,
    kept: Option<Kept<DB>>,
}

#[derive(Debug)]
struct Kept<DB: Database> {
    idle: Mutex<Vec<(PoolConnection<DB>, Instant)>>,
    permits: Semaphore,
}

impl<DB: Database> Connections<DB> {
    /// Uses `pool` per operation: every statement checks a connection out and
    /// back in.
    pub(crate) fn per_operation(pool: Pool<DB>) -> Self {
        Self { pool, kept: None }
    }

    /// Keeps connections of `pool` (which this store opened) between
    /// operations: all but two of the pool's connections at most, so a
    /// statement run on the pool directly (the jti replay store's)
    /// still finds one.
    pub(crate) fn kept(pool: Pool<DB>) -> Self {
        let permits = (pool.options().get_max_connections() as usize).saturating_sub(2);
        Self {
            pool,
            kept: Some(Kept {
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(permits.max(1)),
            }),
        }
    }

    /// The pool.
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Closes the kept connections and the pool.
    pub(crate) async fn close(&self) {
        if let Some(kept) = &self.kept {
            kept.permits.close();
            let idle = std::mem::take(&mut *lock(&kept.idle));
            for (connection, _) in idle {
                connection.close().await.ok();
            }
        }
        self.pool.close().await;
    }

    /// A connection for one operation.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_, DB>, sqlx::Error> {
        let Some(kept) = &self.kept else {
            return Ok(Lease {
                connection: Some(self.pool.acquire().await?),
                home: None,
                reusable: false,
                _permit: None,
            });
        };
        if self.pool.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        let timeout = self.pool.options().get_acquire_timeout();
        let permit = match tokio::time::timeout(timeout, kept.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(sqlx::Error::PoolClosed),
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        };
        loop {
            let popped = lock(&kept.idle).pop();
            let connection = match popped {
                Some((mut connection, since)) => {
                    if since.elapsed() > IDLE_CHECK && connection.ping().await.is_err() {
                        connection.close_on_drop();
                        continue;
                    }
                    connection
                }
                None => self.pool.acquire().await?,
            };
            return Ok(Lease {
                connection: Some(connection),
                home: Some(self),
                reusable: false,
                _permit: Some(permit),
            });
        }
    }
}

impl<DB: Database> Drop for Connections<DB> {
    fn drop(&mut self) {
        // A checked-out connection goes back to its pool through a spawned
        // task, which needs a runtime; a store dropped outside one (at the end
        // of `main`) detaches its kept connections and drops them directly.
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        if let Some(kept) = &self.kept {
            for (connection, _) in std::mem::take(&mut *lock(&kept.idle)) {
                drop(connection.detach());
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A connection checked out for one operation. Call [`Lease::finished`] with
/// the operation's result: a connection whose operation was abandoned (the
/// future dropped mid-statement) or failed below the SQL level is closed.
#[derive(Debug)]
pub(crate) struct Lease<'a, DB: Database> {
    connection: Option<PoolConnection<DB>>,
    home: Option<&'a Connections<DB>>,
    reusable: bool,
    _permit: Option<SemaphorePermit<'a>>,
}

impl<DB: Database> Lease<'_, DB> {
    /// Records how the operation ended: the connection is kept after a success
    /// or an error the database answered (a constraint, a serialization
    /// failure), closed after any other.
    pub(crate) fn finished<T>(&mut self, result: &Result<T, sqlx::Error>) {
        self.reusable = match result {
            Ok(_) => true,
            Err(error) => !connection_lost(error),
        };
    }
}

/// Whether an error means the connection cannot be trusted any more.
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::PoolClosed
            | sqlx::Error::PoolTimedOut
    )
}

impl<DB: Database> Deref for Lease<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &Self::Target {
        self.connection.as_ref().expect("present until dropped")
    }
}

impl<DB: Database> DerefMut for Lease<'_, DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.connection.as_mut().expect("present until dropped")
    }
}

impl<DB: Database> Drop for Lease<'_, DB> {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        match self.home {
            Some(Connections {
                pool,
                kept: Some(kept),
            }) if self.reusable && !pool.is_closed() => {
                lock(&kept.idle).push((connection, Instant::now()));
            }
            // Checked back into the pool, which tests it; or, kept but not
            // reusable, closed.
            Some(_) => connection.close_on_drop(),
            None => {}
        }
    }
}
