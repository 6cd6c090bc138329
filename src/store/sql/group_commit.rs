//! Group commit for PostgreSQL: queued writes are taken together into one
//! transaction, the creates among them into one multi-row `INSERT`.
//!
//! With one autocommitted statement per write, every registration costs
//! PostgreSQL a transaction (a commit record, a backend wakeup, the statement's
//! fixed cost) and this process a round trip. Instead, every [`Write`] goes
//! through a bounded queue to a few tasks (up to [`IN_FLIGHT`], at most half
//! the pool's connections): a task that is free takes everything queued (up to
//! [`MAX_BATCH`]) and runs it as one round of statements on one connection.
//! A lone write finds a task free and runs at once, as its own autocommitted
//! statement: nothing waits for a batch to fill. Under load, the writes that
//! queue while the busy tasks wait for their commits go in the next batch.
//!
//! Why several batches at once rather than one: a commit waits for the WAL
//! flush (`fdatasync`, 2.5–5 ms on the disk measured), and PostgreSQL already
//! lets concurrent commits share one flush. With a single batch in flight, a
//! write waits for the running batch's flush and then for its own (1.5 flushes
//! on average), and with a bounded number of clients that latency, not CPU,
//! bounds the rate (about 3 k registrations/s over HTTP with 32 clients,
//! against 5.4–6.2 k/s with four batches in flight: `BENCHMARKS.md`,
//! "PostgreSQL group commit"). A few batches in flight join PostgreSQL's
//! shared flushes and still cut the transactions per write.
//!
//! What a batch runs:
//! - the creates (of one statement set, with distinct `client_id`s) as one
//!   `INSERT … SELECT * FROM UNNEST($1::text[], …) ON CONFLICT DO NOTHING
//!   RETURNING client_id`: one prepared statement for any number of rows, and
//!   a create whose id is not returned met an existing row (a conflict). A
//!   second create of an id already in that statement runs after it, alone,
//!   so each gets its own answer;
//! - every other write (and such a repeated create) as its own statement,
//!   clients' in `client_id` order (so two instances' batches lock shared rows
//!   in one order);
//! - `BEGIN` before and `COMMIT` after when there is more than one statement;
//!   a single statement is its own transaction.
//!
//! Each caller gets its result only once the commit has returned, so an
//! acknowledged write is as durable as one autocommitted statement.
//!
//! # A failing statement fails only its own write
//!
//! PostgreSQL aborts the whole transaction at the first failing statement.
//! Two ways keep batch-mates apart: a `SAVEPOINT` before every statement
//! (a round trip each, for every batch), or rolling back and running the rest
//! again. Failures are rare here, because the ordinary outcomes are not
//! errors: a duplicate `client_id` or token is `ON CONFLICT DO NOTHING` (no row
//! changed: the caller's conflict), a stale revision or a missing client
//! changes no row. What remains is data PostgreSQL refuses (a NUL byte in
//! text), a missing table, a lost connection, a serialization failure or
//! deadlock. So a batch runs without savepoints, and after a failing statement
//! the transaction is rolled back, that write gets its error, and the others
//! run again (none was acknowledged, and each is one deterministic statement,
//! so running it again gives the answer it would have given). When the
//! multi-row insert fails, which row failed is unknown: the batch then runs one
//! write per transaction, as it does after a second failing statement in one
//! batch, so many failing writes cost no more than running them one by one. A
//! serialization failure (`40001`) or deadlock (`40P01`) runs the whole batch
//! again after a short randomized backoff, a few times, then one by one, each
//! with its own retries. A lost connection, or a `BEGIN` or `COMMIT` that fails
//! otherwise, fails every write still in the batch with
//! [`StoreError::Unavailable`].
//!
//! # Several instances
//!
//! Nothing here is local to one process: the revision check stays in each
//! `UPDATE`'s `WHERE`, consuming an initial access token stays one `UPDATE …
//! RETURNING` that checks the uses left, and a uniqueness conflict is decided
//! by the table's keys. Under PostgreSQL's default `READ COMMITTED`, a row
//! another instance's open transaction changed is waited for and checked
//! again, as for single statements.

use std::sync::Arc;

use sqlx::Postgres;
use sqlx::postgres::{PgConnection, PgRow};
use tokio::sync::{mpsc, oneshot};

use super::batch_counts::{BatchCounts, Limited, admit, counts_in, returns_counted};
use super::lease::connection_lost;
use super::plan::Plan;
use super::unnest::insert_many;
use super::{
    Connections, Done, SharedQueue, Statements, Tasks, Write, bind, hand_off, next_batch, sql,
    store_error,
};
use crate::store::StoreError;
use crate::store::postgres::{backoff, retryable};

/// At most this many writes wait for the batching task; callers wait for
/// room (up to [`QUEUE_WAIT`](super::queue::QUEUE_WAIT)) beyond that.
pub(crate) const QUEUE: usize = 4096;
/// At most this many writes in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// At most this many batches run at once, each on its own connection (and
/// at most half the pool's connections).
pub(crate) const IN_FLIGHT: usize = 4;
/// How many times a batch runs again after a serialization failure or a
/// deadlock before its writes run one by one.
const RETRIES: u32 = 4;

/// One queued write and where its result goes.
struct Job {
    write: Write,
    statements: Arc<Statements>,
    reply: oneshot::Sender<Result<Done<PgRow>, Failure>>,
}

/// Why a write failed, as the batching task reports it. A statement's own
/// error is turned into a [`StoreError`] by the caller, on its task, so what
/// that logs (a missing table) goes to the caller's span.
enum Failure {
    /// The write's statement failed.
    Statement(sqlx::Error),
    /// The write's batch failed, or the task is gone.
    Store(StoreError),
}

/// The queue into a store's batching tasks, started on the first write (so a
/// store can be made outside a runtime) and again if the runtime they ran on
/// ended. The tasks end once the queue is closed or dropped, after
/// committing what was queued.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    connections: Arc<Connections<Postgres>>,
    tasks: Tasks<Job>,
}

impl GroupCommit {
    /// Group commit over `connections`: each batch takes one connection.
    pub(crate) fn new(connections: Arc<Connections<Postgres>>) -> Self {
        Self {
            connections,
            tasks: Tasks::new(),
        }
    }

    /// The queue, with the task started if it is not running.
    fn queue(&self) -> Result<mpsc::Sender<Job>, StoreError> {
        // Half the pool at most, so reads still find connections.
        let half = self.connections.pool().options().get_max_connections() as usize / 2;
        let connections = &self.connections;
        self.tasks.queue(
            QUEUE,
            half.clamp(1, IN_FLIGHT),
            |queue| run(queue, Arc::clone(connections)),
            Closed,
        )
    }

    /// Runs `write` in the next batch; returns once it is committed.
    pub(crate) async fn write(
        &self,
        write: Write,
        statements: &Arc<Statements>,
    ) -> Result<Done<PgRow>, StoreError> {
        let queue = self.queue()?;
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
            Err(failed) => Err(failed.into_store_error(Closed, QueueFull)),
        }
    }

    /// Stops taking writes and waits until what was queued is committed.
    pub(crate) async fn close(&self) {
        self.tasks.close().await;
    }
}

/// The store was closed, or its batching task is gone.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL store's writes are closed")]
struct Closed;

/// The write queue stayed full.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL write queue is full")]
struct QueueFull;

/// A failure shared by every write of a batch.
#[derive(Debug, thiserror::Error)]
#[error("the batch's transaction failed: {0}")]
struct BatchFailed(Arc<str>);

/// One of the tasks that take batches from the queue: the one holding the
/// queue's lock takes the next batch, so a batch starts as soon as writes are
/// queued and fewer than [`IN_FLIGHT`] batches run.
async fn run(queue: SharedQueue<Job>, connections: Arc<Connections<Postgres>>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while next_batch(&queue, &mut jobs, MAX_BATCH).await {
        // A caller that stopped waiting (its request was dropped) gets nothing
        // done: its write may or may not happen, and here it does not.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        commit(&connections, &mut jobs).await;
    }
}

/// Commits `jobs` on one connection and answers each of them (see the module
/// docs for what happens after a failure).
async fn commit(connections: &Connections<Postgres>, jobs: &mut Vec<Job>) {
    let mut lease = match connections.acquire().await {
        Ok(lease) => lease,
        Err(error) => return fail_all(jobs, &error),
    };
    let mut failed_statements = 0;
    let mut retries = 0;
    while !jobs.is_empty() {
        if failed_statements >= 2 {
            let result = one_by_one(&mut lease, jobs).await;
            lease.finished(&result);
            return;
        }
        match attempt_within_quotas(&mut lease, jobs).await {
            Attempt::Committed(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Attempt::Failed(error) => {
                fail_all(jobs, &error);
                lease.finished(&Err::<(), _>(error));
                return;
            }
            Attempt::Retry(_) if retries < RETRIES => {
                retries += 1;
                tokio::time::sleep(backoff(retries)).await;
            }
            Attempt::Retry(_) | Attempt::ChunkFailed | Attempt::Full => failed_statements = 2,
            Attempt::OperationFailed(index, error) => {
                let job = jobs.remove(index);
                let _ = job.reply.send(Err(Failure::Statement(error)));
                failed_statements += 1;
            }
        }
    }
    lease.finished(&Ok::<(), sqlx::Error>(()));
}

/// Commits each job in its own transaction (with what it changes in the
/// counts), each retried after a serialization failure. Stops at an error of
/// the connection itself, which fails the rest and is returned.
async fn one_by_one(connection: &mut PgConnection, jobs: &mut Vec<Job>) -> Result<(), sqlx::Error> {
    jobs.reverse();
    while let Some(job) = jobs.pop() {
        let mut retries = 0;
        let result = loop {
            match attempt_within_quotas(connection, std::slice::from_ref(&job)).await {
                Attempt::Committed(mut results) => {
                    break results.pop().ok_or_else(|| {
                        sqlx::Error::Protocol("a write of the batch did not run".into())
                    });
                }
                Attempt::Retry(_) if retries < RETRIES => {
                    retries += 1;
                    tokio::time::sleep(backoff(retries)).await;
                }
                Attempt::Retry(error)
                | Attempt::OperationFailed(_, error)
                | Attempt::Failed(error) => break Err(error),
                Attempt::ChunkFailed | Attempt::Full => {
                    break Err(sqlx::Error::Protocol("a lone write ran as a chunk".into()));
                }
            }
        };
        match result {
            Ok(done) => {
                let _ = job.reply.send(Ok(done));
            }
            Err(error) if connection_lost(&error) => {
                jobs.push(job);
                fail_all(jobs, &error);
                return Err(error);
            }
            Err(error) => {
                let _ = job.reply.send(Err(Failure::Statement(error)));
            }
        }
    }
    Ok(())
}

enum Attempt {
    /// Committed; one result per job, in order.
    Committed(Vec<Done<PgRow>>),
    /// The write at this index failed; the transaction was rolled back.
    OperationFailed(usize, sqlx::Error),
    /// The multi-row insert failed (which row is not known); rolled back.
    ChunkFailed,
    /// A serialization failure or deadlock; rolled back, worth running again.
    Retry(sqlx::Error),
    /// The transaction failed as a whole (the connection, `BEGIN`, `COMMIT`,
    /// `ROLLBACK`).
    Failed(sqlx::Error),
    /// A quota would overflow (the batch ran without locking the counts
    /// first); rolled back, to run again locking them.
    Full,
}

/// Runs `jobs` once: first without locking the counts, the quotas checked
/// when the batch adds to them (the lock then lasts only until the commit,
/// as without quotas); if a quota would overflow, again with the counts
/// locked before the writes, refusing the creates that do not fit.
async fn attempt_within_quotas(connection: &mut PgConnection, jobs: &[Job]) -> Attempt {
    match attempt(connection, jobs, false).await {
        Attempt::Full => attempt(connection, jobs, true).await,
        other => other,
    }
}

/// Runs `jobs` once, in one transaction (or as one autocommitted statement);
/// `admit_first`: the counts the quotas read are locked before the writes.
async fn attempt(connection: &mut PgConnection, jobs: &[Job], admit_first: bool) -> Attempt {
    // A write that changes a count commits with the counts' change.
    let explicit = jobs.len() > 1 || jobs.iter().any(|job| counts_in(&job.write));
    if explicit && let Err(error) = sqlx::raw_sql("BEGIN").execute(&mut *connection).await {
        return failed(connection, false, error, Attempt::Failed).await;
    }
    let mut results: Vec<Option<Done<PgRow>>> = jobs.iter().map(|_| None).collect();
    let limited: Vec<Limited<'_>> = jobs
        .iter()
        .enumerate()
        .filter_map(|(index, job)| match &job.write {
            Write::CreateClientWithin(_, limits) => Some((index, &job.statements, &limits[..])),
            _ => None,
        })
        .collect();
    let admitted = match admit_first {
        true => admit(connection, &limited).await,
        false => Ok(Vec::new()),
    };
    let refused = match admitted {
        Ok(refused) => refused,
        Err(error) => {
            let at = |error| Attempt::OperationFailed(limited[0].0, error);
            return failed(connection, explicit, error, at).await;
        }
    };
    for &index in &refused {
        results[index] = Some(Done {
            affected: 0,
            row: None,
        });
    }
    let writes: Vec<_> = jobs
        .iter()
        .map(|job| (&job.write, &job.statements))
        .collect();
    let plan = Plan::of(&writes, &refused);
    let mut counts = BatchCounts::default();
    if !admit_first {
        for (_, statements, limits) in &limited {
            counts.limit(statements, limits);
        }
    }
    if !plan.many.is_empty() {
        let rows: Vec<_> = plan
            .many
            .iter()
            .filter_map(|&index| match &jobs[index].write {
                Write::CreateClient(row) | Write::CreateClientWithin(row, _) => Some(&**row),
                _ => None,
            })
            .collect();
        let statement = &jobs[plan.many[0]].statements.insert_clients_unnest;
        match insert_many(connection, statement, &rows).await {
            Ok(inserted) => {
                for (&index, affected) in plan.many.iter().zip(inserted) {
                    if affected > 0
                        && let Write::CreateClient(row) | Write::CreateClientWithin(row, _) =
                            &jobs[index].write
                    {
                        counts.inserted(&jobs[index].statements, row);
                    }
                    results[index] = Some(Done {
                        affected,
                        row: None,
                    });
                }
            }
            Err(error) => {
                return failed(connection, explicit, error, |_| Attempt::ChunkFailed).await;
            }
        }
    }
    for &index in &plan.single {
        match execute(connection, &jobs[index], &mut counts).await {
            Ok(done) => results[index] = Some(done),
            Err(error) => {
                let at = |error| Attempt::OperationFailed(index, error);
                return failed(connection, explicit, error, at).await;
            }
        }
    }
    let written = counts.write(connection).await;
    if let Ok(false) = written {
        return failed(connection, explicit, sqlx::Error::RowNotFound, |_| {
            Attempt::Full
        })
        .await;
    }
    if let Err(error) = written {
        // Which write's count failed is known only for a lone write.
        let lone = jobs.len() == 1;
        let at = move |error| match lone {
            true => Attempt::OperationFailed(0, error),
            false => Attempt::ChunkFailed,
        };
        return failed(connection, explicit, error, at).await;
    }
    if explicit && let Err(error) = sqlx::raw_sql("COMMIT").execute(&mut *connection).await {
        // A failed COMMIT has ended the transaction.
        return failed(connection, false, error, Attempt::Failed).await;
    }
    match results.into_iter().collect::<Option<Vec<_>>>() {
        Some(results) => Attempt::Committed(results),
        // Every job is in the plan exactly once.
        None => Attempt::Failed(sqlx::Error::Protocol(
            "a write of the batch did not run".into(),
        )),
    }
}

/// The attempt's outcome after `error`: the transaction (if `explicit`) rolled
/// back, and `error` reported as `statement_failed` says, unless the
/// connection is lost (the batch fails) or the error is worth a retry.
async fn failed(
    connection: &mut PgConnection,
    explicit: bool,
    error: sqlx::Error,
    statement_failed: impl FnOnce(sqlx::Error) -> Attempt,
) -> Attempt {
    if connection_lost(&error) {
        return Attempt::Failed(error);
    }
    if explicit && let Err(rollback) = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await {
        return Attempt::Failed(rollback);
    }
    if retryable(&error) {
        Attempt::Retry(error)
    } else {
        statement_failed(error)
    }
}

/// Runs one write as one statement, adding what it changed to `counts`.
async fn execute(
    connection: &mut PgConnection,
    job: &Job,
    counts: &mut BatchCounts,
) -> Result<Done<PgRow>, sqlx::Error> {
    let mut values = Vec::new();
    if let Write::CreateClient(row) | Write::CreateClientWithin(row, _) = &job.write {
        // The quotas were checked by `admit`: a plain insert.
        row.values(&mut values);
        let query = bind(sqlx::query(sql(&job.statements.insert_client)), &values);
        let affected = query.execute(connection).await?.rows_affected();
        if affected > 0 {
            counts.inserted(&job.statements, row);
        }
        return Ok(Done {
            affected,
            row: None,
        });
    }
    job.write.values(&mut values);
    let statement = job.write.statement(&job.statements);
    let query = bind(sqlx::query(sql(statement)), &values);
    if returns_counted(&job.write) {
        let rows = query.fetch_all(connection).await?;
        counts.changed(&job.statements, &job.write, &rows)?;
        return Ok(Done {
            affected: rows.len() as u64,
            row: None,
        });
    }
    if job.write.returns_row() {
        query.fetch_optional(connection).await.map(|row| Done {
            affected: u64::from(row.is_some()),
            row,
        })
    } else {
        query.execute(connection).await.map(|done| Done {
            affected: done.rows_affected(),
            row: None,
        })
    }
}

/// A sqlx error as text for every write of a failed batch: a database's
/// answer by its SQLSTATE and message only (its detail can quote row values).
fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => format!(
            "database error {}: {}",
            e.code().as_deref().unwrap_or(""),
            e.message()
        ),
        other => other.to_string(),
    }
}

fn fail_all(jobs: &mut Vec<Job>, error: &sqlx::Error) {
    let text: Arc<str> = Arc::from(describe(error));
    for job in jobs.drain(..) {
        let _ = job
            .reply
            .send(Err(Failure::Store(StoreError::unavailable(BatchFailed(
                Arc::clone(&text),
            )))));
    }
}
