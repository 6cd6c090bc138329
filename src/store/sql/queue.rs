//! The hand-off from a caller to a store's batching writer (SQLite's writer
//! thread, PostgreSQL's group-commit tasks): a bounded queue of jobs, each
//! with a oneshot for its answer.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

/// How long a write waits for room in a full queue before failing.
pub(crate) const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// Why a hand-off failed.
pub(crate) enum HandOff {
    /// The writer is gone (closed, or its thread or tasks ended).
    Gone,
    /// The queue stayed full for [`QUEUE_WAIT`].
    Full,
}

/// Queues `job` (at once when there is room, else waiting up to
/// [`QUEUE_WAIT`]) and waits for its answer on `answer`.
pub(crate) async fn hand_off<J, A>(
    queue: mpsc::Sender<J>,
    job: J,
    answer: oneshot::Receiver<A>,
) -> Result<A, HandOff> {
    // Room in the queue, most of the time: no timer then.
    match queue.try_send(job) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Closed(_)) => return Err(HandOff::Gone),
        Err(mpsc::error::TrySendError::Full(job)) => {
            match tokio::time::timeout(QUEUE_WAIT, queue.send(job)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(HandOff::Gone),
                Err(_) => return Err(HandOff::Full),
            }
        }
    }
    drop(queue);
    answer.await.map_err(|_| HandOff::Gone)
}

impl HandOff {
    /// As a store error: `gone` or `full`, both [`StoreError::unavailable`].
    pub(crate) fn into_store_error<G, F>(self, gone: G, full: F) -> StoreError
    where
        G: std::error::Error + Send + Sync + 'static,
        F: std::error::Error + Send + Sync + 'static,
    {
        match self {
            Self::Gone => StoreError::unavailable(gone),
            Self::Full => StoreError::unavailable(full),
        }
    }
}

/// A store's batching tasks and the queue into them (PostgreSQL's group
/// commit and batched reads): started on first use, so that a store can be
/// made outside a runtime, and again if the runtime they ran on ended. The
/// tasks end once the queue is closed, after answering what was queued.
#[cfg(feature = "postgres")]
pub(crate) struct Tasks<J> {
    state: std::sync::Mutex<TaskState<J>>,
}

#[cfg(feature = "postgres")]
struct TaskState<J> {
    queue: Option<mpsc::Sender<J>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    closed: bool,
}

/// The receiving end the tasks share: the task holding its lock takes the
/// next batch.
#[cfg(feature = "postgres")]
pub(crate) type SharedQueue<J> = std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<J>>>;

#[cfg(feature = "postgres")]
impl<J: Send + 'static> Tasks<J> {
    /// No task running yet.
    pub(crate) fn new() -> Self {
        Self {
            state: std::sync::Mutex::new(TaskState {
                queue: None,
                tasks: Vec::new(),
                closed: false,
            }),
        }
    }

    /// The queue (room for `capacity` jobs), with `count` tasks made by `task`
    /// started if none is running; `closed` once [`close`](Self::close) ran.
    pub(crate) fn queue<F, Fut, E>(
        &self,
        capacity: usize,
        count: usize,
        task: F,
        closed: E,
    ) -> Result<mpsc::Sender<J>, StoreError>
    where
        F: Fn(SharedQueue<J>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.closed {
            return Err(StoreError::unavailable(closed));
        }
        if let Some(queue) = &state.queue
            && !queue.is_closed()
        {
            return Ok(queue.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(StoreError::unavailable)?;
        let (sender, receiver) = mpsc::channel(capacity);
        let receiver = std::sync::Arc::new(tokio::sync::Mutex::new(receiver));
        state.tasks = (0..count)
            .map(|_| runtime.spawn(task(std::sync::Arc::clone(&receiver))))
            .collect();
        state.queue = Some(sender.clone());
        Ok(sender)
    }

    /// Stops taking jobs and waits until the tasks answered what was queued.
    pub(crate) async fn close(&self) {
        let tasks = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.closed = true;
            state.queue = None;
            std::mem::take(&mut state.tasks)
        };
        for task in tasks {
            let _ = task.await;
        }
    }
}

#[cfg(feature = "postgres")]
impl<J> std::fmt::Debug for Tasks<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

/// Waits for the next job, then takes it and whatever else is queued, up to
/// `max` in `jobs`; `false` once the queue is closed and empty. The task that
/// holds the queue's lock takes the next batch.
#[cfg(feature = "postgres")]
pub(crate) async fn next_batch<J>(queue: &SharedQueue<J>, jobs: &mut Vec<J>, max: usize) -> bool {
    let mut queue = queue.lock().await;
    let Some(job) = queue.recv().await else {
        return false;
    };
    jobs.push(job);
    while jobs.len() < max {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    true
}
