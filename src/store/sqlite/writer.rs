//! Group commit: one thread owns the SQLite store's write connection and
//! commits every queued write in one transaction.
//!
//! SQLite has one writer at a time, and with `synchronous = FULL` each commit
//! waits for an `fsync` of the write-ahead log (about 0.2 ms on a good disk,
//! far more than the statement). One commit per operation caps a store near
//! 1/fsync operations per second, and connections of a pool queue on the write
//! lock, which shows as long tails. Instead, every write ([`Write`]) goes
//! through a bounded queue to one dedicated OS thread, which takes everything
//! queued (up to [`MAX_BATCH`]) into one `BEGIN IMMEDIATE … COMMIT`; while that
//! commit waits for the disk, the next batch queues. The thread runs SQLite
//! itself (rusqlite): a batch costs no hop per statement, only the wakeup of
//! each caller when its answer is ready. Each caller gets its own result only
//! once the commit has returned, so an acknowledged write is durable.
//! Consecutive creates go in as one multi-row `INSERT … RETURNING client_id`
//! (64, 16 or 4 rows: a few fixed sizes, each prepared once), so a batch of
//! registrations costs a few statements, not one each. Creates within quotas
//! join it when the counts, as the transaction sees them, have room for every
//! one of them ([`fits`]); otherwise each runs alone, its statement checking
//! the counts.
//!
//! A statement that fails fails only its own operation. SQLite undoes a failed
//! statement, but some errors (I/O, `RAISE(ROLLBACK)` in a trigger, a full
//! disk) undo the whole transaction, and which one happened is not visible
//! from the error alone; so on any statement error the transaction is rolled
//! back, the failing operation gets its error, and the rest of the batch runs
//! again in a new transaction (each of them answers only after a commit, so a
//! rolled-back attempt was never acknowledged). Every operation is one
//! deterministic statement, so running it again gives the answer it would
//! have given. After a second failed statement in one batch, the rest run one
//! transaction each (slower, but a batch of many failing statements costs no
//! more than running them one by one). If the connection itself fails, or
//! `BEGIN` or `COMMIT` does, every operation still in the batch fails with
//! [`StoreError::Unavailable`]; a connection that failed below SQL (I/O, a
//! file that is no database) is closed and opened again for the next batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension as _};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpointer;
use super::connection::{self, Database, connection_lost, error_text, store_error};
use crate::store::StoreError;
use crate::store::sql::{Done, SqliteRow, Statements, Write, hand_off};

/// At most this many writes wait for the writer; callers wait for room (up to
/// 3 s, the hand-off's wait) beyond that.
pub(crate) const QUEUE: usize = 4096;
/// At most this many writes in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// One queued write and where its result goes.
struct Job {
    write: Write,
    statements: Arc<Statements>,
    reply: oneshot::Sender<Result<Done<SqliteRow>, Failure>>,
}

/// Why a write failed, as the writer thread reports it. A statement's own
/// error is turned into a [`StoreError`] by the caller, on its task, so what
/// that logs (a missing table) goes to the caller's subscriber and span.
enum Failure {
    /// The write's statement failed.
    Statement(rusqlite::Error),
    /// The write's batch failed, or the writer is gone.
    Store(StoreError),
}

/// The queue into the writer thread. The thread ends once every handle to the
/// queue is gone, or the writer is closed.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Opens the write connection of `database` and starts the writer thread.
    pub(crate) fn start(database: Database) -> Result<Self, StoreError> {
        let connection = database.open_writer().map_err(store_error)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let checkpointer = Checkpointer::start(database.clone());
        let thread = std::thread::Builder::new()
            .name("tower-dcr-sqlite-writer".into())
            .spawn(move || run(receiver, database, Some(connection), checkpointer))
            .map_err(StoreError::unavailable)?;
        Ok(Self {
            queue: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `write` in the next group commit; returns once it is committed.
    pub(crate) async fn write(
        &self,
        write: Write,
        statements: &Arc<Statements>,
    ) -> Result<Done<SqliteRow>, StoreError> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::unavailable(WriterGone))?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            write,
            statements: Arc::clone(statements),
            reply,
        };
        match hand_off(queue, job, answer).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(Failure::Statement(error))) => Err(store_error(error)),
            Ok(Err(Failure::Store(error))) => Err(error),
            Err(failed) => Err(failed.into_store_error(WriterGone, QueueFull)),
        }
    }

    /// Stops taking writes; the thread commits what is queued, closes the
    /// connection and ends, which this waits for.
    pub(crate) async fn close(&self) {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The writer was closed, or its thread is gone.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite writer is closed")]
struct WriterGone;

/// The write queue stayed full.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite write queue is full")]
struct QueueFull;

/// A failure shared by every operation of a batch.
#[derive(Debug, thiserror::Error)]
#[error("the batch's transaction failed: {0}")]
struct BatchFailed(Arc<str>);

/// Commits batches until the queue closes; then stops the checkpoint thread
/// (dropping it waits for it) and closes the connection.
fn run(
    mut queue: mpsc::Receiver<Job>,
    database: Database,
    mut connection: Option<Connection>,
    checkpointer: Option<Checkpointer>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while let Some(job) = queue.blocking_recv() {
        jobs.push(job);
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A caller that stopped waiting (its request was dropped) gets nothing
        // done: its operation may or may not happen, and here it does not.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        if connection.is_none() {
            match database.open_writer() {
                Ok(opened) => connection = Some(opened),
                Err(error) => {
                    fail_all(&mut jobs, &error);
                    continue;
                }
            }
        }
        if let Some(open) = &connection
            && let Err(error) = commit(open, &mut jobs)
            && connection_lost(&error)
        {
            connection = None;
        }
        if let Some(checkpointer) = &checkpointer {
            checkpointer.committed();
        }
    }
    drop(checkpointer);
}

/// Commits `jobs` and answers each of them: all in one transaction; after a
/// failed statement, the others again in one transaction; after a second, each
/// in its own. Returns the error that failed the whole batch, if one did.
fn commit(connection: &Connection, jobs: &mut Vec<Job>) -> Result<(), rusqlite::Error> {
    let mut failed_statements = 0;
    while !jobs.is_empty() {
        if failed_statements >= 2 {
            return one_by_one(connection, jobs);
        }
        match attempt(connection, jobs) {
            Attempt::Committed(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Attempt::Failed(error) => {
                rollback(connection);
                fail_all(jobs, &error);
                return Err(error);
            }
            Attempt::OperationFailed(index, error) => {
                rollback(connection);
                let job = jobs.remove(index);
                let _ = job.reply.send(Err(Failure::Statement(error)));
                failed_statements += 1;
            }
            Attempt::ChunkFailed(_) => {
                rollback(connection);
                failed_statements = 2;
            }
        }
    }
    Ok(())
}

/// Commits each job in its own transaction. Stops at an error of the
/// connection itself, which fails the rest and is returned.
fn one_by_one(connection: &Connection, jobs: &mut Vec<Job>) -> Result<(), rusqlite::Error> {
    while !jobs.is_empty() {
        let job = jobs.remove(0);
        match attempt(connection, std::slice::from_ref(&job)) {
            Attempt::Committed(mut results) => {
                let _ = job.reply.send(results.pop().ok_or_else(|| {
                    Failure::Store(StoreError::unavailable(BatchFailed(Arc::from("no result"))))
                }));
            }
            Attempt::OperationFailed(_, error) | Attempt::ChunkFailed(error) => {
                rollback(connection);
                let _ = job.reply.send(Err(Failure::Statement(error)));
            }
            Attempt::Failed(error) => {
                rollback(connection);
                let _ = job
                    .reply
                    .send(Err(Failure::Store(StoreError::unavailable(BatchFailed(
                        Arc::from(error_text(&error)),
                    )))));
                if connection_lost(&error) {
                    fail_all(jobs, &error);
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

enum Attempt {
    /// Committed; one result per job, in order.
    Committed(Vec<Done<SqliteRow>>),
    /// The operation at this index failed; the transaction must be rolled back.
    OperationFailed(usize, rusqlite::Error),
    /// A multi-row insert failed: which row is not known, so the batch must
    /// run again one operation per transaction.
    ChunkFailed(rusqlite::Error),
    /// The transaction failed as a whole (begin, connection, commit).
    Failed(rusqlite::Error),
}

fn attempt(connection: &Connection, jobs: &[Job]) -> Attempt {
    // One statement alone is its own transaction, committed as durably.
    let explicit = jobs.len() > 1;
    if explicit && let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        return Attempt::Failed(error);
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut index = 0;
    while index < jobs.len() {
        if let Some((rows, statement)) = multi_insert(&jobs[index..]) {
            let chunk = &jobs[index..index + rows];
            match fits(connection, chunk).and_then(|fits| {
                fits.then(|| insert_many(connection, statement, chunk))
                    .transpose()
            }) {
                Ok(Some(inserted)) => {
                    results.extend(inserted);
                    index += rows;
                    continue;
                }
                // A quota is (nearly) full: each create alone.
                Ok(None) => {}
                Err(error) if connection_lost(&error) => return Attempt::Failed(error),
                Err(error) => return Attempt::ChunkFailed(error),
            }
        }
        let job = &jobs[index];
        match connection::execute(connection, &job.write, &job.statements) {
            Ok(done) => results.push(done),
            Err(error) if connection_lost(&error) => return Attempt::Failed(error),
            Err(error) => return Attempt::OperationFailed(index, error),
        }
        index += 1;
    }
    if !explicit {
        return Attempt::Committed(results);
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => Attempt::Committed(results),
        Err(error) => Attempt::Failed(error),
    }
}

/// The multi-row insert that takes the creates `jobs` starts with: the
/// largest prepared size that as many consecutive creates of one store fill,
/// with distinct client ids (a duplicate must get its own conflict). `None`
/// if `jobs` does not start with that many.
fn multi_insert(jobs: &[Job]) -> Option<(usize, &str)> {
    let first = jobs.first()?;
    let creates = jobs
        .iter()
        .take_while(|job| {
            matches!(
                job.write,
                Write::CreateClient(_) | Write::CreateClientWithin(..)
            ) && Arc::ptr_eq(&job.statements, &first.statements)
        })
        .count();
    let (rows, statement) = first
        .statements
        .insert_clients
        .iter()
        .find(|(rows, _)| *rows <= creates)?;
    let mut ids: Vec<&str> = jobs[..*rows]
        .iter()
        .filter_map(|job| match &job.write {
            Write::CreateClient(row) | Write::CreateClientWithin(row, _) => Some(row.client_id()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    (ids.len() == *rows).then_some((*rows, &**statement))
}

/// Whether every create within quotas of `jobs` (creates of one store) fits
/// under its limits, taking places in their order, by the counts this
/// transaction sees (the writer is the only one: they stay so until its
/// inserts, whose triggers count them).
fn fits(connection: &Connection, jobs: &[Job]) -> Result<bool, rusqlite::Error> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for job in jobs {
        let Write::CreateClientWithin(_, limits) = &job.write else {
            continue;
        };
        for (key, max) in limits {
            let count = match counts.get(key.as_str()) {
                Some(count) => *count,
                None => {
                    let count = connection
                        .prepare_cached(&job.statements.count_of)?
                        .query_row([key], |row| row.get::<_, i64>(0))
                        .optional()?
                        .unwrap_or_default();
                    counts.insert(key, count);
                    count
                }
            };
            if count >= *max {
                return Ok(false);
            }
        }
        for (key, _) in limits {
            *counts.entry(key).or_default() += 1;
        }
    }
    Ok(true)
}

/// Inserts the rows of `jobs` (creates) with one statement; each job's result
/// says whether its row went in (else its id existed: a conflict).
fn insert_many(
    connection: &Connection,
    statement: &str,
    jobs: &[Job],
) -> Result<Vec<Done<SqliteRow>>, rusqlite::Error> {
    let mut values = Vec::with_capacity(jobs.len() * 18);
    for job in jobs {
        if let Write::CreateClient(row) | Write::CreateClientWithin(row, _) = &job.write {
            row.values(&mut values);
        }
    }
    let returned = connection::query(connection, statement, &values)?;
    let mut inserted = Vec::with_capacity(returned.len());
    for row in &returned {
        match row.0.first() {
            Some(rusqlite::types::Value::Text(id)) => inserted.push(id.as_str()),
            _ => {
                return Err(rusqlite::Error::InvalidColumnType(
                    0,
                    "client_id".into(),
                    rusqlite::types::Type::Null,
                ));
            }
        }
    }
    Ok(jobs
        .iter()
        .map(|job| {
            let id = match &job.write {
                Write::CreateClient(row) | Write::CreateClientWithin(row, _) => row.client_id(),
                _ => "",
            };
            Done {
                affected: u64::from(inserted.contains(&id)),
                row: None,
            }
        })
        .collect())
}

/// Ends whatever transaction is open; an error means none was.
fn rollback(connection: &Connection) {
    if !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
}

fn fail_all(jobs: &mut Vec<Job>, error: &rusqlite::Error) {
    let text: Arc<str> = Arc::from(error_text(error));
    for job in jobs.drain(..) {
        let _ = job
            .reply
            .send(Err(Failure::Store(StoreError::unavailable(BatchFailed(
                Arc::clone(&text),
            )))));
    }
}
