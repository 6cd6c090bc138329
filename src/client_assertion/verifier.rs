//! The runtime state of client assertion checks; `endpoint::client_assertion`
//! runs them (algorithm, key, signature, claims, then the replay store).

use std::sync::Arc;

use super::{ClaimRules, ClientAssertions, JwksCache, LiveAssertions};
use crate::fetch::Fetcher;
use crate::store::AssertionReplayStore;

/// Why an assertion was not accepted.
#[derive(Debug)]
pub(crate) enum AssertionFailure {
    /// Refused, with the reason for the log.
    Invalid(String),
    /// The replay store could not answer (or there is none).
    Store(crate::store::StoreError),
}

impl From<&'static str> for AssertionFailure {
    fn from(reason: &'static str) -> Self {
        Self::Invalid(reason.to_owned())
    }
}

/// What a valid assertion showed on the way.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    /// The keys at the client's `jwks_uri` changed since they were last fetched.
    pub(crate) keys_changed: bool,
}

/// The runtime state of client assertion checks.
pub(crate) struct AssertionVerifier {
    pub(crate) rules: ClaimRules,
    pub(crate) jwks: JwksCache,
    pub(crate) replay: Option<Arc<dyn AssertionReplayStore>>,
    pub(crate) live: LiveAssertions,
}

impl std::fmt::Debug for AssertionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionVerifier")
            .field("rules", &self.rules)
            .field("jwks", &self.jwks)
            .field("own_replay_store", &self.replay.is_some())
            .field("live", &self.live)
            .finish()
    }
}

impl AssertionVerifier {
    pub(crate) fn new(config: &ClientAssertions, issuer: &str, fetcher: Arc<dyn Fetcher>) -> Self {
        Self {
            rules: ClaimRules {
                audiences: config.audiences(issuer),
                audience_rule: config.audience_rule,
                max_lifetime: config.max_lifetime,
                leeway: config.leeway,
            },
            jwks: JwksCache::new(
                fetcher,
                config.jwks_cache,
                1024,
                config.jwks_max_bytes,
                config.jwks_refetch_interval,
            ),
            replay: config.replay_store.clone(),
            live: LiveAssertions::new(config.max_live_per_client),
        }
    }
}
