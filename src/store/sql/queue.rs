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
