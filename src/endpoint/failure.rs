//! Failures the endpoint cannot resolve itself: the store or the OS random
//! number generator.

use crate::credentials::RandomError;
use crate::error::Rejection;
use crate::store::StoreError;

/// Any store failure the endpoint cannot resolve itself: a `503` while the
/// store is unavailable; a `500` (logged at error level) for a corrupt record,
/// which no retry would fix.
pub(crate) fn unavailable(error: StoreError) -> Rejection {
    let cause = crate::error::cause_chain(&error);
    if matches!(error, StoreError::Corrupt(_)) {
        tracing::error!(error = %error, cause, "client store holds a corrupt record");
        return Rejection::StoreCorrupt;
    }
    tracing::warn!(error = %error, cause, "client store failed");
    Rejection::StoreUnavailable
}

/// The OS CSPRNG failed: treated like an unavailable backend.
pub(crate) fn rng_failed(error: RandomError) -> Rejection {
    tracing::error!(error = %error, "the OS random number generator failed");
    Rejection::StoreUnavailable
}
