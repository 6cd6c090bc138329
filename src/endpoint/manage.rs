//! Authenticating a management request with the registration access token
//! (RFC 7592 §2, RFC 6750 §2.1).

use std::sync::Arc;

use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::bearer::bearer_token;
use super::unavailable;
use crate::config::Config;
use crate::credentials::SecretDigest;
use crate::error::Rejection;
use crate::store::ClientRecord;
use crate::time::now;

/// Which registration access token a request presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Presented {
    /// The current token.
    Current,
    /// The token the last rotation replaced, within its grace period.
    Previous,
}

/// Loads the client and checks the presented registration access token: the
/// current one unless it has expired, or the previous one within its grace
/// period.
///
/// Unknown client, client without a token, wrong or expired token, another
/// client's token: all give the same [`Rejection::InvalidToken`], after the same
/// digest work, so nobody learns which client identifiers exist (RFC 7592 §2.1).
pub(super) async fn authenticate<'h>(
    config: &Config,
    client_id: &str,
    headers: &'h HeaderMap,
) -> Result<(Arc<ClientRecord>, &'h str, Presented), Rejection> {
    let token = bearer_token(headers)?.ok_or(Rejection::MissingToken)?;
    let record = config.store.get(client_id).await.map_err(unavailable)?;
    let presented = SecretDigest::of(token);
    let now = now();
    let same = |stored: &SecretDigest| bool::from(stored.ct_eq(&presented));
    let current = record.as_ref().is_some_and(|r| {
        let matches = r.registration_access_token.as_ref().is_some_and(same);
        let expiry = r.registration_access_token_expires_at;
        matches & (expiry == 0 || now < expiry)
    });
    let previous = record.as_ref().is_some_and(|r| {
        r.previous_registration_access_token
            .as_ref()
            .is_some_and(|(digest, until)| same(digest) & (now < *until))
    });
    match record {
        Some(record) if current => Ok((record, token, Presented::Current)),
        Some(record) if previous => Ok((record, token, Presented::Previous)),
        _ => Err(Rejection::InvalidToken),
    }
}

/// The first use of the current token ends the previous token's grace: the
/// record is stored without it. A failure (a concurrent change, an unavailable
/// store) only leaves the previous token to its deadline.
pub(super) async fn retire_previous_token(
    config: &Config,
    record: &ClientRecord,
    presented: Presented,
) {
    if presented != Presented::Current || record.previous_registration_access_token.is_none() {
        return;
    }
    let mut next = record.clone();
    next.previous_registration_access_token = None;
    next.revision += 1;
    if let Err(error) = config.store.update(Arc::new(next), record.revision).await {
        tracing::debug!(%error, client_id = %record.client_id, "the previous registration access token was not retired");
    }
}
