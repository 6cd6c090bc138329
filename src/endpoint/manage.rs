//! Authenticating a management request with the registration access token
//! (RFC 7592 §2, RFC 6750 §2.1).

use std::sync::Arc;

use http::HeaderMap;

use super::bearer::bearer_token;
use super::unavailable;
use crate::config::Config;
use crate::credentials::SecretDigest;
use crate::error::Rejection;
use crate::store::ClientRecord;

/// Loads the client and checks the presented registration access token.
///
/// Unknown client, client without a token, wrong token, another client's token:
/// all give the same [`Rejection::InvalidToken`], after the same digest work, so
/// nobody learns which client identifiers exist (RFC 7592 §2.1).
pub(super) async fn authenticate<'h>(
    config: &Config,
    client_id: &str,
    headers: &'h HeaderMap,
) -> Result<(Arc<ClientRecord>, &'h str), Rejection> {
    let token = bearer_token(headers)?.ok_or(Rejection::MissingToken)?;
    let record = config.store.get(client_id).await.map_err(unavailable)?;
    let presented = SecretDigest::of(token);
    let valid = record
        .as_ref()
        .and_then(|r| r.registration_access_token.as_ref())
        .is_some_and(|stored| bool::from(subtle::ConstantTimeEq::ct_eq(stored, &presented)));
    match record {
        Some(record) if valid => Ok((record, token)),
        _ => Err(Rejection::InvalidToken),
    }
}
