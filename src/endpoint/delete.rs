//! `DELETE {endpoint}/{client_id}`: deregister the client (RFC 7592 §2.3).

use std::net::SocketAddr;

use http::request::Parts;

use super::manage::authenticate;
use super::unavailable;
use crate::config::Config;
use crate::error::Rejection;
use crate::events::EventKind;
use crate::response::{self, ResponseBody};

/// Deletes the client, its secret and its registration access token, and
/// answers `204 No Content`. If another request deleted it first, the token no
/// longer belongs to a client: `401` (RFC 7592 §2.3).
pub(crate) async fn delete(
    config: &Config,
    client_id: &str,
    parts: Parts,
    peer: Option<SocketAddr>,
) -> Result<http::Response<ResponseBody>, Rejection> {
    let (record, _) = authenticate(config, client_id, &parts.headers).await?;
    if config
        .store
        .delete(&record.client_id)
        .await
        .map_err(unavailable)?
    {
        tracing::info!(client_id = %record.client_id, "client deleted");
        config.emit(EventKind::Deleted, "delete", None, Some(&record), peer);
        Ok(response::no_content())
    } else {
        Err(Rejection::InvalidToken)
    }
}
