//! `DELETE {endpoint}/{client_id}`: deregister the client (RFC 7592 §2.3).

use std::net::SocketAddr;

use http::request::Parts;

use super::manage::authenticate;
use super::unavailable;
use crate::config::Config;
use crate::error::Rejection;
use crate::events::{EventKind, Operation};
use crate::response::{self, ResponseBody};

/// How many times a deletion that lost a race with an update is retried.
const ATTEMPTS: usize = 4;

/// Deletes the client, its secret and its registration access token, and
/// answers `204 No Content` (RFC 7592 §2.3).
///
/// The deletion applies only to the revision whose token was checked: if an
/// update changed the client in between, the token is checked again (a rotated
/// token is dead: `401`). If another request deleted the client first, the
/// token no longer belongs to a client: `401`.
pub(crate) async fn delete(
    config: &Config,
    client_id: &str,
    parts: &Parts,
    peer: Option<SocketAddr>,
) -> Result<http::Response<ResponseBody>, Rejection> {
    for _ in 0..ATTEMPTS {
        let (record, _, _) = authenticate(config, client_id, &parts.headers).await?;
        let deleted = config
            .store
            .delete(&record.client_id, Some(record.revision))
            .await
            .map_err(unavailable)?;
        if deleted {
            tracing::debug!(client_id = %record.client_id, "client deleted");
            config.emit(
                EventKind::Deleted,
                Operation::Delete,
                None,
                Some(&record),
                peer,
            );
            return Ok(response::no_content());
        }
    }
    Err(Rejection::StoreUnavailable)
}
