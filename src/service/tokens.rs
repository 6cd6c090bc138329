//! Minting initial access tokens (RFC 7591 §3) kept by the store; checking
//! them on a request is the endpoint's job.

use std::time::Duration;

use super::Registration;
use crate::credentials::{RandomError, Secret, generate_client_id};
use crate::store::{InitialAccessToken, InitialAccessTokenStore, StoreError};
use crate::time::now;

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
    /// The OS random number generator failed (the cause is its
    /// [`source`](std::error::Error::source)).
    #[error("no token was minted")]
    Random(#[from] RandomError),
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
        let secret = Secret::generate()?;
        let now = now();
        let record = InitialAccessToken {
            id: generate_client_id()?,
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
    #[deprecated(note = "use `store().initial_access_tokens()`")]
    pub fn initial_access_token_store(&self) -> Option<&dyn InitialAccessTokenStore> {
        self.config().store.initial_access_tokens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_failure_keeps_its_cause() {
        let error = MintError::from(RandomError::from(getrandom::Error::UNSUPPORTED));
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.to_string().contains("random number generator"));
    }
}
