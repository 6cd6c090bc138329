//! Authenticating a management request with the registration access token
//! (RFC 7592 §2, RFC 6750 §2.1).

use std::sync::Arc;

use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::bearer::bearer_token;
use super::{rng_failed, unavailable};
use crate::config::Config;
use crate::credentials::{Secret, SecretDigest};
use crate::error::Rejection;
use crate::store::{ClientRecord, StoreError};
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

/// A request made with the previous token must not be answered with that
/// token, which dies when its grace ends, and the current one cannot be
/// returned (only its digest is stored): a new current token is issued
/// instead (RFC 7592 §2.1 and §3 let the server issue a new token in any
/// client information response; the client then discards the old one). The
/// token it replaces was never used, so its holder, if any, lost the answer
/// that carried it. The previous token keeps its deadline, never a longer one,
/// so the recovery answer may itself be lost and retried.
///
/// `Ok(None)`: another request changed the client first; authenticate again.
pub(super) async fn reissue_token(
    config: &Config,
    record: &ClientRecord,
) -> Result<Option<(Arc<ClientRecord>, Secret)>, Rejection> {
    let token = Secret::generate().map_err(rng_failed)?;
    let now = now();
    let mut next = record.clone();
    next.registration_access_token = Some(token.digest());
    // The profile's lifetime from now, as a rotation on update gives; never
    // longer than the replaced token's if the profile is gone.
    next.registration_access_token_expires_at =
        match config.profile_named(record.profile.as_deref()) {
            Some(profile) => profile
                .registration_access_token_lifetime
                .map_or(0, |lifetime| now.saturating_add(lifetime.as_secs())),
            None => record.registration_access_token_expires_at,
        };
    next.revision += 1;
    let next = Arc::new(next);
    match config
        .store
        .update(Arc::clone(&next), record.revision)
        .await
    {
        Ok(()) => Ok(Some((next, token))),
        Err(StoreError::Stale) => Ok(None),
        Err(error) => Err(unavailable(error)),
    }
}
