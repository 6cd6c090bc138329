//! Batched reads for PostgreSQL: concurrent `get`s of one store answered by
//! one `SELECT … WHERE client_id = ANY($1)`.
//!
//! A read by `client_id` costs this process a round trip (a write and a read
//! on the socket, a wakeup, the statement's encoding and parsing), more CPU
//! than the rest of a `GET`. As writes are (`group_commit`), reads go through
//! a bounded queue to a few tasks (up to [`IN_FLIGHT`]): a task that is free
//! takes everything queued (up to [`MAX_BATCH`]) and reads it with one
//! statement on one connection. A lone read finds a task free and runs at
//! once, as the single-row `SELECT`: nothing waits for a batch to fill, and
//! there is no timer. Under load, the reads that queue while the busy tasks
//! wait for their answers go in the next batch.
//!
//! Nothing is cached: every read asks the database after it was made, so a
//! client another instance changed or deleted is seen as it is (RFC 7592 §2
//! across instances). Each caller gets its own row, or `None`; two callers
//! asking for the same id share one row. A batch that fails (a lost
//! connection, a missing table) fails each of its reads with
//! [`StoreError::Unavailable`]; a serialization failure or deadlock runs the
//! batch again, a few times, after a short randomized backoff.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Postgres;
use sqlx::postgres::PgRow;
use tokio::sync::{mpsc, oneshot};

use super::{
    Connections, DatabaseError, SharedQueue, SqlRow, Statements, Tasks, client_from_row, hand_off,
    next_batch, sql,
};
use crate::store::postgres::{backoff, retryable};
use crate::store::{ClientRecord, StoreError};

/// At most this many reads wait for the reading tasks; callers wait for room
/// (up to [`QUEUE_WAIT`](super::queue::QUEUE_WAIT)) beyond that.
const QUEUE: usize = 4096;
/// At most this many reads in one statement.
const MAX_BATCH: usize = 256;
/// At most this many batches run at once, each on its own connection.
const IN_FLIGHT: usize = 2;
/// How many times a batch runs again after a serialization failure.
const RETRIES: u32 = 4;

/// What a read answers: the client, if stored.
type Answer = Result<Option<Arc<ClientRecord>>, Failure>;

/// One queued read and where its answer goes.
struct Job {
    client_id: String,
    statements: Arc<Statements>,
    reply: oneshot::Sender<Answer>,
}

/// Why a read failed, as the reading task reports it; turned into a
/// [`StoreError`] on the caller's task, so what it logs (a missing table)
/// goes to the caller's span.
enum Failure {
    /// The database answered the batch's statement with this error
    /// (SQLSTATE, message).
    Database(String, Arc<str>),
    /// The batch failed otherwise (the connection), or the row is corrupt.
    Store(StoreError),
}

/// The queue into a store's reading tasks, started on the first read (so a
/// store can be made outside a runtime) and again if the runtime they ran on
/// ended. The tasks end once the queue is closed.
#[derive(Debug)]
pub(crate) struct ReadBatch {
    connections: Arc<Connections<Postgres>>,
    tasks: Tasks<Job>,
}

impl ReadBatch {
    /// Batched reads over `connections`: each batch takes one connection.
    pub(crate) fn new(connections: Arc<Connections<Postgres>>) -> Self {
        Self {
            connections,
            tasks: Tasks::new(),
        }
    }

    /// The queue, with the tasks started if they are not running.
    fn queue(&self) -> Result<mpsc::Sender<Job>, StoreError> {
        // A quarter of the pool at most: writes and other reads need some.
        let quarter = self.connections.pool().options().get_max_connections() as usize / 4;
        let connections = &self.connections;
        self.tasks.queue(
            QUEUE,
            quarter.clamp(1, IN_FLIGHT),
            |queue| run(queue, Arc::clone(connections)),
            Closed,
        )
    }

    /// The client `client_id`, read in the next batch.
    pub(crate) async fn get(
        &self,
        client_id: &str,
        statements: &Arc<Statements>,
    ) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        let queue = self.queue()?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            client_id: client_id.to_owned(),
            statements: Arc::clone(statements),
            reply,
        };
        match hand_off(queue, job, answer).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(Failure::Database(code, message))) => {
                Err(DatabaseError::store_error(code, &message, false))
            }
            Ok(Err(Failure::Store(error))) => Err(error),
            Err(failed) => Err(failed.into_store_error(Closed, QueueFull)),
        }
    }

    /// Stops taking reads and waits until the queued ones are answered.
    pub(crate) async fn close(&self) {
        self.tasks.close().await;
    }
}

/// The store was closed, or its reading tasks are gone.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL store's reads are closed")]
struct Closed;

/// The read queue stayed full.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL read queue is full")]
struct QueueFull;

/// A failure shared by every read of a batch.
#[derive(Debug, thiserror::Error)]
#[error("the batch's read failed: {0}")]
struct BatchFailed(Arc<str>);

/// One of the tasks that take batches from the queue: the one holding the
/// queue's lock takes the next batch.
async fn run(queue: SharedQueue<Job>, connections: Arc<Connections<Postgres>>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while next_batch(&queue, &mut jobs, MAX_BATCH).await {
        // A caller that stopped waiting needs no answer.
        jobs.retain(|job| !job.reply.is_closed());
        // One statement per statement set (stores sharing a pool with
        // another schema or prefix), in the order they came.
        while let Some(first) = jobs.first() {
            let statements = Arc::clone(&first.statements);
            let (batch, rest): (Vec<_>, Vec<_>) = jobs
                .drain(..)
                .partition(|job| Arc::ptr_eq(&job.statements, &statements));
            jobs = rest;
            read(&connections, &statements, batch).await;
        }
    }
}

/// Reads the clients of `jobs` (all of `statements`) on one connection and
/// answers each.
async fn read(connections: &Connections<Postgres>, statements: &Statements, jobs: Vec<Job>) {
    let mut ids: Vec<&str> = jobs.iter().map(|job| job.client_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    #[cfg(all(test, feature = "conformance"))]
    tests::LARGEST.fetch_max(ids.len(), std::sync::atomic::Ordering::Relaxed);
    let mut attempt = 0;
    let result = loop {
        match fetch(connections, statements, &ids).await {
            Err(error) if attempt < RETRIES && retryable(&error) => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            result => break result,
        }
    };
    let rows = match result {
        Ok(rows) => rows,
        Err(error) => return fail_all(jobs, &error),
    };
    // Each row decoded once, shared by the callers that asked for it.
    let mut found: HashMap<String, Found> = HashMap::with_capacity(rows.len());
    for row in rows {
        let Ok(Some(id)) = row.text(0) else {
            let error = sqlx::Error::Protocol("a client row without its client_id".into());
            return fail_all(jobs, &error);
        };
        let client = match client_from_row(&row) {
            Ok(client) => Found::Client(Arc::new(client)),
            Err(_) => Found::Corrupt(row),
        };
        found.insert(id, client);
    }
    for job in jobs {
        let answer = match found.get(&job.client_id) {
            None => Ok(None),
            Some(Found::Client(client)) => Ok(Some(Arc::clone(client))),
            // Each caller gets its own error for the row.
            Some(Found::Corrupt(row)) => client_from_row(row)
                .map(|client| Some(Arc::new(client)))
                .map_err(Failure::Store),
        };
        let _ = job.reply.send(answer);
    }
}

/// A row of a batch: its client, or the row if it is corrupt.
enum Found {
    Client(Arc<ClientRecord>),
    Corrupt(PgRow),
}

/// Runs the read of `ids` (distinct) once: the single-row statement for one
/// id, else one `= ANY($1)`.
async fn fetch(
    connections: &Connections<Postgres>,
    statements: &Statements,
    ids: &[&str],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let mut lease = connections.acquire().await?;
    let result = match ids {
        [id] => {
            sqlx::query(sql(&statements.get_client))
                .bind(*id)
                .fetch_all(&mut *lease)
                .await
        }
        _ => {
            sqlx::query(sql(&statements.get_clients))
                .bind(ids)
                .fetch_all(&mut *lease)
                .await
        }
    };
    lease.finished(&result);
    result
}

/// Answers every job of a failed batch: the database's error by its
/// SQLSTATE and message only (its detail can quote values), any other as
/// [`StoreError::Unavailable`].
fn fail_all(jobs: Vec<Job>, error: &sqlx::Error) {
    let failure = || match error {
        sqlx::Error::Database(e) => Failure::Database(
            e.code().map(|c| c.into_owned()).unwrap_or_default(),
            Arc::from(e.message()),
        ),
        other => Failure::Store(StoreError::unavailable(BatchFailed(Arc::from(
            other.to_string(),
        )))),
    };
    for job in jobs {
        let _ = job.reply.send(Err(failure()));
    }
}

#[cfg(all(test, feature = "conformance"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::store::ClientStore;
    use crate::store::conformance::sample_record;
    use crate::store::{PostgresStore, StoreError};

    /// The most distinct ids one batch read.
    pub(super) static LARGEST: AtomicUsize = AtomicUsize::new(0);

    fn url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    /// A migrated store with its own tables, or `None` without a database
    /// (unless `TOWER_DCR_REQUIRE_POSTGRES=1`).
    async fn store(name: &str) -> Option<(PostgresStore, String)> {
        let application = format!("{name}_{}", std::process::id());
        let url = format!("{}?application_name={application}", url());
        let Ok(store) = PostgresStore::connect(&url).await else {
            assert!(std::env::var("TOWER_DCR_REQUIRE_POSTGRES").as_deref() != Ok("1"));
            return None;
        };
        let store = store.table_prefix(&format!("{application}_"));
        store.migrate().await.unwrap();
        Some((store, application))
    }

    async fn drop_tables(store: &PostgresStore, prefix: &str) {
        for table in [
            "clients",
            "initial_access_tokens",
            "client_counts",
            "assertion_jtis",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS \"{prefix}_{table}\""
            )))
            .execute(store.pool())
            .await
            .unwrap();
        }
    }

    /// Gets `ids` all at once: each answer with the id asked.
    async fn get_all(
        store: &PostgresStore,
        ids: &[String],
    ) -> Vec<(String, Result<Option<String>, StoreError>)> {
        let gets = ids.iter().map(|id| {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let got = store.get(&id).await;
                (id, got.map(|client| client.map(|c| c.client_id.clone())))
            })
        });
        let mut answers = Vec::new();
        for get in gets.collect::<Vec<_>>() {
            answers.push(get.await.unwrap());
        }
        answers
    }

    /// RFC 7592 §2 (read request): concurrent reads answered together each
    /// get exactly the client they asked for, or none for an unknown id, with
    /// ids repeated and missing in one batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rfc7592_2_batched_reads_answer_each_caller_its_own_client() {
        let Some((store, prefix)) = store("read_batch_own").await else {
            return;
        };
        for n in 0..64 {
            store
                .create(Arc::new(sample_record(&format!("present-{n}"))))
                .await
                .unwrap();
        }
        let mut ids = Vec::new();
        for round in 0..6 {
            for n in 0..64 {
                ids.push(format!("present-{}", (n * 7 + round) % 64));
                if n % 3 == 0 {
                    ids.push(format!("missing-{n}"));
                }
            }
        }
        for _ in 0..3 {
            for (id, got) in get_all(&store, &ids).await {
                let want = id.starts_with("present-").then_some(id.clone());
                assert_eq!(got.unwrap(), want, "{id}");
            }
        }
        assert!(
            LARGEST.load(Ordering::Relaxed) > 1,
            "concurrent reads were read in one statement"
        );
        // No cache: a deleted client is gone for the next read.
        assert!(store.delete("present-3", None).await.unwrap());
        assert!(store.get("present-3").await.unwrap().is_none());
        drop_tables(&store, &prefix).await;
        store.close().await;
    }

    /// RFC 7591 §3.2.2 / RFC 7592 §2: a batch that fails (a missing table, a
    /// lost connection) answers each of its reads `Unavailable` (a 503), and
    /// the store reads again once the database is back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_read_batch_fails_each_read_unavailable_and_recovers() {
        let Some((store, prefix)) = store("read_batch_fail").await else {
            return;
        };
        store.create(Arc::new(sample_record("kept"))).await.unwrap();
        let ids: Vec<String> = (0..40)
            .map(|n| {
                if n % 2 == 0 {
                    "kept".into()
                } else {
                    format!("other-{n}")
                }
            })
            .collect();

        // The table gone: every read fails with Unavailable.
        drop_tables(&store, &prefix).await;
        for (id, got) in get_all(&store, &ids).await {
            assert!(
                matches!(got, Err(StoreError::Unavailable(_))),
                "{id}: {got:?}"
            );
        }
        store.migrate().await.unwrap();
        store.create(Arc::new(sample_record("kept"))).await.unwrap();
        for (id, got) in get_all(&store, &ids).await {
            assert_eq!(got.unwrap(), (id == "kept").then_some(id.clone()));
        }

        // The store's connections killed: reads fail Unavailable or succeed,
        // never anything else, and the next ones all succeed.
        let admin = sqlx::PgPool::connect(&url()).await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE application_name = $1",
        )
        .bind(&prefix)
        .execute(&admin)
        .await
        .unwrap();
        let mut failed = 0;
        for (id, got) in get_all(&store, &ids).await {
            match got {
                Ok(got) => assert_eq!(got, (id == "kept").then_some(id.clone())),
                Err(StoreError::Unavailable(_)) => failed += 1,
                Err(other) => panic!("{id}: {other:?}"),
            }
        }
        assert!(failed > 0, "a read on a killed connection failed");
        // Each failed batch closed its connection: within a few rounds, every
        // killed connection is gone and every read succeeds.
        let mut recovered = false;
        for _ in 0..10 {
            let answers = get_all(&store, &ids).await;
            if answers.iter().all(|(_, got)| got.is_ok()) {
                for (id, got) in answers {
                    assert_eq!(got.unwrap(), (id == "kept").then_some(id.clone()));
                }
                recovered = true;
                break;
            }
        }
        assert!(
            recovered,
            "the store reads again after losing its connections"
        );
        drop_tables(&store, &prefix).await;
        store.close().await;
        admin.close().await;
    }
}
