//! Group commit: one task owns the SQLite store's write connection and
//! commits every queued write in one transaction.
//!
//! SQLite has one writer at a time, and with `synchronous = FULL` each commit
//! waits for an `fsync` of the write-ahead log (about 0.2 ms on a good disk,
//! far more than the statement). One commit per operation caps a store near
//! 1/fsync operations per second, and connections of a pool queue on the write
//! lock, which shows as long tails. Instead, every write ([`Write`]) goes
//! through a bounded queue to one task, which takes everything queued (up to
//! [`MAX_BATCH`]) into one `BEGIN IMMEDIATE … COMMIT`; while that commit waits
//! for the disk, the next batch queues. Each caller gets its own result only
//! once the commit has returned, so an acknowledged write is durable.
//! Consecutive creates go in as one multi-row `INSERT … RETURNING client_id`
//! (64, 16 or 4 rows: a few fixed sizes, each prepared once), so a batch of
//! registrations costs a few statements, not one each.
//!
//! A statement that fails fails only its own operation. SQLite undoes a failed
//! statement, but some errors (I/O, `RAISE(ROLLBACK)` in a trigger, a full
//! disk) undo the whole transaction, and which one happened is not visible
//! through the driver; so on any statement error the transaction is rolled
//! back, the failing operation gets its error, and the rest of the batch runs
//! again in a new transaction (each of them answers only after a commit, so a
//! rolled-back attempt was never acknowledged). Every operation is one
//! deterministic statement, so running it again gives the answer it would
//! have given. After a second failed statement in one batch, the rest run one
//! transaction each (slower, but a batch of many failing statements costs no
//! more than running them one by one). If the connection itself fails, or
//! `BEGIN` or `COMMIT` does, every operation still in the batch fails with
//! [`StoreError::Unavailable`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};
use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;
use crate::store::sql::{Connections, Done, Statements, Write, connection_lost, sql, store_error};

/// At most this many writes wait for the writer; callers wait for room (up to
/// [`QUEUE_WAIT`]) beyond that.
pub(crate) const QUEUE: usize = 4096;
/// At most this many writes in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// How long a write waits for room in a full queue before failing.
const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// One queued write and where its result goes.
struct Job {
    write: Write,
    statements: Arc<Statements>,
    reply: oneshot::Sender<Result<Done<SqliteRow>, StoreError>>,
}

/// The queue into the writer task, started on the first write (on the runtime
/// that makes it). The task ends when every handle to the queue is gone.
#[derive(Debug)]
pub(crate) struct Writer {
    connections: Arc<Connections<Sqlite>>,
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Writer {
    /// A writer whose transactions run on connections from `connections`.
    pub(crate) fn new(connections: Connections<Sqlite>) -> Self {
        Self {
            connections: Arc::new(connections),
            queue: OnceLock::new(),
        }
    }

    /// The connections the writer uses.
    pub(crate) fn connections(&self) -> &Connections<Sqlite> {
        &self.connections
    }

    /// Runs `write` in the next group commit; returns once it is committed.
    pub(crate) async fn write(
        &self,
        write: Write,
        statements: &Arc<Statements>,
    ) -> Result<Done<SqliteRow>, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(receiver, Arc::clone(&self.connections)));
            sender
        });
        let (reply, answer) = oneshot::channel();
        let job = Job {
            write,
            statements: Arc::clone(statements),
            reply,
        };
        match tokio::time::timeout(QUEUE_WAIT, queue.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(StoreError::unavailable(WriterGone)),
            Err(_) => return Err(StoreError::unavailable(QueueFull)),
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable(WriterGone)))
    }
}

/// The writer task is gone (its runtime shut down).
#[derive(Debug, thiserror::Error)]
#[error("the SQLite writer task is not running")]
struct WriterGone;

/// The write queue stayed full.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite write queue is full")]
struct QueueFull;

/// A failure shared by every operation of a batch.
#[derive(Debug, thiserror::Error)]
#[error("the batch's transaction failed: {0}")]
struct BatchFailed(Arc<str>);

async fn run(mut queue: mpsc::Receiver<Job>, connections: Arc<Connections<Sqlite>>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        // A caller that stopped waiting (its request was dropped) gets nothing
        // done: its operation may or may not happen, and here it does not.
        jobs.retain(|job| !job.reply.is_closed());
        commit(&connections, &mut jobs).await;
        jobs.clear();
    }
}

/// Commits `jobs` and answers each of them: all in one transaction; after a
/// failed statement, the others again in one transaction; after a second, each
/// in its own.
async fn commit(connections: &Connections<Sqlite>, jobs: &mut Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let mut lease = match connections.acquire().await {
        Ok(lease) => lease,
        Err(error) => return fail_all(jobs, &error),
    };
    let mut failed_statements = 0;
    while !jobs.is_empty() {
        if failed_statements >= 2 {
            let result = one_by_one(&mut lease, jobs).await;
            lease.finished(&result);
            return;
        }
        match attempt(&mut lease, jobs).await {
            Attempt::Committed(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Attempt::Failed(error) => {
                rollback(&mut lease).await;
                fail_all(jobs, &error);
                lease.finished::<()>(&Err(error));
                return;
            }
            Attempt::OperationFailed(index, error) => {
                rollback(&mut lease).await;
                let job = jobs.remove(index);
                let _ = job.reply.send(Err(store_error(error)));
                failed_statements += 1;
            }
            Attempt::ChunkFailed(_) => {
                rollback(&mut lease).await;
                failed_statements = 2;
            }
        }
    }
    lease.finished::<()>(&Ok(()));
}

/// Commits each job in its own transaction. Stops at an error of the
/// connection itself, which fails the rest and is returned.
async fn one_by_one(
    connection: &mut sqlx::SqliteConnection,
    jobs: &mut Vec<Job>,
) -> Result<(), sqlx::Error> {
    while !jobs.is_empty() {
        let job = jobs.remove(0);
        match attempt(connection, std::slice::from_ref(&job)).await {
            Attempt::Committed(mut results) => {
                let _ =
                    job.reply.send(results.pop().ok_or_else(|| {
                        StoreError::unavailable(BatchFailed(Arc::from("no result")))
                    }));
            }
            Attempt::OperationFailed(_, error) | Attempt::ChunkFailed(error) => {
                rollback(connection).await;
                let _ = job.reply.send(Err(store_error(error)));
            }
            Attempt::Failed(error) => {
                rollback(connection).await;
                let _ = job
                    .reply
                    .send(Err(StoreError::unavailable(BatchFailed(Arc::from(
                        error_text(&error),
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
    OperationFailed(usize, sqlx::Error),
    /// A multi-row insert failed: which row is not known, so the batch must
    /// run again one operation per transaction.
    ChunkFailed(sqlx::Error),
    /// The transaction failed as a whole (begin, connection, commit).
    Failed(sqlx::Error),
}

async fn attempt(connection: &mut sqlx::SqliteConnection, jobs: &[Job]) -> Attempt {
    // One statement alone is its own transaction, committed as durably.
    let explicit = jobs.len() > 1;
    if explicit
        && let Err(error) = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *connection)
            .await
    {
        return Attempt::Failed(error);
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut index = 0;
    while index < jobs.len() {
        if let Some((rows, statement)) = multi_insert(&jobs[index..]) {
            let chunk = &jobs[index..index + rows];
            match insert_many(connection, statement, chunk).await {
                Ok(inserted) => results.extend(inserted),
                Err(error) if connection_lost(&error) => return Attempt::Failed(error),
                Err(error) => return Attempt::ChunkFailed(error),
            }
            index += rows;
            continue;
        }
        let job = &jobs[index];
        let query = job.write.query::<Sqlite>(&job.statements);
        let result = if job.write.returns_row() {
            query
                .fetch_optional(&mut *connection)
                .await
                .map(|row| Done {
                    affected: u64::from(row.is_some()),
                    row,
                })
        } else {
            query.execute(&mut *connection).await.map(|done| Done {
                affected: done.rows_affected(),
                row: None,
            })
        };
        match result {
            Ok(done) => results.push(done),
            Err(error) if connection_lost(&error) => return Attempt::Failed(error),
            Err(error) => return Attempt::OperationFailed(index, error),
        }
        index += 1;
    }
    if !explicit {
        return Attempt::Committed(results);
    }
    match sqlx::query("COMMIT").execute(&mut *connection).await {
        Ok(_) => Attempt::Committed(results),
        Err(error) => Attempt::Failed(error),
    }
}

/// The multi-row insert that takes the creates `jobs` starts with: the
/// largest prepared size that as many consecutive creates of one store fill,
/// with distinct client ids (a duplicate must get its own conflict). `None`
/// if `jobs` does not start with that many.
fn multi_insert(jobs: &[Job]) -> Option<(usize, &Arc<str>)> {
    let first = jobs.first()?;
    let creates = jobs
        .iter()
        .take_while(|job| {
            matches!(job.write, Write::CreateClient(_))
                && Arc::ptr_eq(&job.statements, &first.statements)
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
            Write::CreateClient(row) => Some(row.client_id()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    (ids.len() == *rows).then_some((*rows, statement))
}

/// Inserts the rows of `jobs` (creates) with one statement; each job's result
/// says whether its row went in (else its id existed: a conflict).
async fn insert_many(
    connection: &mut sqlx::SqliteConnection,
    statement: &Arc<str>,
    jobs: &[Job],
) -> Result<Vec<Done<SqliteRow>>, sqlx::Error> {
    let mut query = sqlx::query(sql(statement));
    for job in jobs {
        if let Write::CreateClient(row) = &job.write {
            query = row.bind(query);
        }
    }
    let returned = query.fetch_all(&mut *connection).await?;
    let mut inserted = Vec::with_capacity(returned.len());
    for row in &returned {
        inserted.push(row.try_get::<String, _>(0)?);
    }
    Ok(jobs
        .iter()
        .map(|job| {
            let id = match &job.write {
                Write::CreateClient(row) => row.client_id(),
                _ => "",
            };
            Done {
                affected: u64::from(inserted.iter().any(|i| i == id)),
                row: None,
            }
        })
        .collect())
}

/// Ends whatever transaction is open; an error means none was.
async fn rollback(connection: &mut sqlx::SqliteConnection) {
    let _ = sqlx::query("ROLLBACK").execute(connection).await;
}

fn fail_all(jobs: &mut Vec<Job>, error: &sqlx::Error) {
    let text: Arc<str> = Arc::from(error_text(error));
    for job in jobs.drain(..) {
        let _ = job
            .reply
            .send(Err(StoreError::unavailable(BatchFailed(Arc::clone(&text)))));
    }
}

/// The text of an error for every operation of a batch: a database error's
/// SQLSTATE and message only (see [`store_error`]).
fn error_text(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => format!(
            "database error {}: {}",
            e.code().unwrap_or_default(),
            e.message()
        ),
        other => other.to_string(),
    }
}
