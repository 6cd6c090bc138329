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

use std::time::Duration;

use http::HeaderMap;

use crate::bearer::bearer_token;
use crate::config::{Access, Config};
use crate::credentials::{Secret, SecretDigest, generate_client_id};
use crate::endpoint::{now, unavailable};
use crate::error::Rejection;
use crate::service::Registration;
use crate::store::{InitialAccessToken, InitialAccessTokenStore, StoreError};

/// A static initial access token from the configuration.
#[derive(Clone)]
pub(crate) struct StaticToken {
    pub(crate) digest: SecretDigest,
    pub(crate) id: String,
    pub(crate) profile: Option<String>,
    /// Whether the token can be sent as a Bearer token at all (RFC 6750 §2.1).
    pub(crate) well_formed: bool,
}

impl StaticToken {
    /// The `index`-th static token. Its id (`static-{index}`) says nothing about
    /// the token, so records and logs that carry it reveal nothing either.
    pub(crate) fn new(token: &str, profile: Option<String>, index: usize) -> Self {
        Self {
            digest: SecretDigest::of(token),
            id: format!("static-{index}"),
            profile,
            well_formed: crate::bearer::is_b64token(token),
        }
    }
}

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

/// Options for [`Registration::mint_initial_access_token`].
#[derive(Clone, Debug, Default)]
pub struct InitialAccessTokenOptions {
    /// How long the token works (`None`: until revoked).
    pub expires_in: Option<Duration>,
    /// How many registrations it allows (`None`: unlimited).
    pub max_uses: Option<u64>,
    /// The named profile registrations with it get (`None`: the default).
    pub profile: Option<String>,
}

/// Why an initial access token could not be minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The store has no [`InitialAccessTokenStore`] capability.
    #[error("the client store cannot hold initial access tokens")]
    Unsupported,
    /// The profile is not configured.
    #[error("no profile named \"{0}\" is configured")]
    UnknownProfile(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random number generator failed.
    #[error("the OS random number generator failed")]
    Random,
}

impl Registration {
    /// Mints an initial access token and stores its digest. The returned
    /// [`Secret`] is the token to hand to the developer who will register; it
    /// cannot be recovered later.
    pub async fn mint_initial_access_token(
        &self,
        options: InitialAccessTokenOptions,
    ) -> Result<(Secret, InitialAccessToken), MintError> {
        let config = self.config();
        let store = config
            .store
            .initial_access_tokens()
            .ok_or(MintError::Unsupported)?;
        if let Some(profile) = &options.profile
            && !config.profiles.contains_key(profile)
        {
            return Err(MintError::UnknownProfile(profile.clone()));
        }
        let secret = Secret::generate().map_err(|_| MintError::Random)?;
        let now = now();
        let record = InitialAccessToken {
            id: generate_client_id().map_err(|_| MintError::Random)?,
            digest: secret.digest(),
            profile: options.profile,
            created_at: now,
            expires_at: options.expires_in.map(|d| now.saturating_add(d.as_secs())),
            max_uses: options.max_uses,
            uses: 0,
        };
        store.create_initial_access_token(&record).await?;
        Ok((secret, record))
    }

    /// The store's initial access token capability, to list or revoke tokens.
    pub fn initial_access_token_store(&self) -> Option<&dyn InitialAccessTokenStore> {
        self.config().store.initial_access_tokens()
    }
}
