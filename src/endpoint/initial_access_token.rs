//! Initial access tokens (RFC 7591 §3): who may register when registration is
//! protected.
//!
//! Two kinds, both presented as `Authorization: Bearer`:
//! - static tokens from the configuration, held only as SHA-256 digests and all
//!   compared in constant time;
//! - stored tokens, minted with [`Registration::mint_initial_access_token`] with
//!   an optional expiry, use count and profile, kept as digests by a store with
//!   the [`InitialAccessTokenStore`] capability and looked up by digest.
//!
//! A token is checked before the body is read, and a use of a stored token is
//! taken (atomically) only once the metadata passed validation, so a rejected
//! request does not use up a one-use token.

use http::HeaderMap;

use super::bearer::bearer_token;
use super::unavailable;
use crate::config::{Access, Config};
use crate::credentials::SecretDigest;
use crate::error::Rejection;
use crate::time::now;

/// What a registration request was authorized with.
#[derive(Debug, Default)]
pub(crate) struct Grant {
    /// The profile the registration falls under (`None`: the default).
    pub(crate) profile: Option<String>,
    /// The initial access token's identifier.
    pub(crate) token_id: Option<String>,
    /// Whether the token is a stored one, whose use is taken after validation.
    from_store: bool,
    /// The digest of the presented token.
    digest: Option<SecretDigest>,
}

/// Checks the initial access token of a registration request, without taking a
/// use yet.
pub(crate) async fn authorize(config: &Config, headers: &HeaderMap) -> Result<Grant, Rejection> {
    let static_tokens = match &config.access {
        Access::Open => return Ok(Grant::default()),
        Access::Protected { static_tokens } => static_tokens,
    };
    let token = bearer_token(headers)?.ok_or(Rejection::MissingToken)?;
    let presented = SecretDigest::of(token);
    // Compare with every static digest so the time does not depend on which
    // one matches.
    let mut matched = None;
    for candidate in static_tokens {
        if bool::from(subtle::ConstantTimeEq::ct_eq(&candidate.digest, &presented)) {
            matched = Some(candidate);
        }
    }
    if let Some(found) = matched {
        return Ok(Grant {
            profile: found.profile.clone(),
            token_id: Some(found.id.clone()),
            from_store: false,
            digest: Some(presented),
        });
    }
    let Some(store) = config.store.initial_access_tokens() else {
        return Err(Rejection::InvalidToken);
    };
    match store
        .find_initial_access_token(&presented)
        .await
        .map_err(unavailable)?
    {
        Some(stored) if stored.usable(now()) => Ok(Grant {
            profile: stored.profile,
            token_id: Some(stored.id),
            from_store: true,
            digest: Some(presented),
        }),
        _ => Err(Rejection::InvalidToken),
    }
}

impl Grant {
    /// The digest of the presented token, for rate limiting per token.
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) fn digest(&self) -> Option<&SecretDigest> {
        self.digest.as_ref()
    }
}

/// Takes one use of a stored token; `401` if another request took the last one
/// (or it expired) in the meantime.
pub(crate) async fn consume(config: &Config, grant: &Grant) -> Result<(), Rejection> {
    let (true, Some(digest), Some(store)) = (
        grant.from_store,
        &grant.digest,
        config.store.initial_access_tokens(),
    ) else {
        return Ok(());
    };
    match store
        .consume_initial_access_token(digest, now())
        .await
        .map_err(unavailable)?
    {
        Some(_) => Ok(()),
        None => Err(Rejection::InvalidToken),
    }
}
