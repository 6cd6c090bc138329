//! Optional store capabilities: initial access tokens and client lifecycle.
//!
//! A store offers them by overriding [`ClientStore::initial_access_tokens`] or
//! [`ClientStore::lifecycle`](super::ClientStore::lifecycle); the defaults
//! return `None`, so a custom store can skip them. Features that need a
//! capability (stored initial access tokens, quotas, reaping, last-use tracking)
//! report its absence when they are configured.
//!
//! [`ClientStore::initial_access_tokens`]: super::ClientStore::initial_access_tokens

use std::sync::Arc;

use async_trait::async_trait;

use super::{ClientRecord, RecordSource, StoreError};
use crate::credentials::SecretDigest;

/// A stored initial access token (RFC 7591 §3): only its digest is kept.
#[derive(Clone, Debug)]
pub struct InitialAccessToken {
    /// A public identifier, for listing, revoking, and per-token quotas.
    pub id: String,
    /// SHA-256 digest of the token.
    pub digest: SecretDigest,
    /// The policy profile registrations with this token get (`None`: default).
    pub profile: Option<String>,
    /// When it was minted, seconds since the Unix epoch.
    pub created_at: u64,
    /// When it stops working, seconds since the Unix epoch (`None`: never).
    pub expires_at: Option<u64>,
    /// How many registrations it allows in all (`None`: unlimited).
    pub max_uses: Option<u64>,
    /// How many registrations it has been used for.
    pub uses: u64,
}

impl InitialAccessToken {
    /// Whether the token can register one more client at `now`.
    pub fn usable(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| now < at) && self.max_uses.is_none_or(|max| self.uses < max)
    }
}

/// Storage for initial access tokens.
#[async_trait]
pub trait InitialAccessTokenStore: Send + Sync {
    /// Stores a new token. [`StoreError::Conflict`] if the id or digest exists.
    async fn create_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError>;

    /// The token with this digest, whether usable or not.
    async fn find_initial_access_token(
        &self,
        digest: &SecretDigest,
    ) -> Result<Option<InitialAccessToken>, StoreError>;

    /// Atomically takes one use of the token with this digest if it is usable at
    /// `now` ([`InitialAccessToken::usable`]), returning it with `uses`
    /// incremented; `None` if it is unknown, expired or used up. Two concurrent
    /// calls on a one-use token: exactly one gets `Some`.
    async fn consume_initial_access_token(
        &self,
        digest: &SecretDigest,
        now: u64,
    ) -> Result<Option<InitialAccessToken>, StoreError>;

    /// Every stored token, ordered by id.
    async fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError>;

    /// Deletes the token with this id; `true` if it existed.
    async fn revoke_initial_access_token(&self, id: &str) -> Result<bool, StoreError>;
}

/// Which clients to count.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientFilter<'a> {
    /// Only clients with this source.
    pub source: Option<RecordSource>,
    /// Only clients with this `software_id`.
    pub software_id: Option<&'a str>,
    /// Only clients registered with this initial access token.
    pub initial_access_token_id: Option<&'a str>,
}

impl ClientFilter<'_> {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &ClientRecord) -> bool {
        self.source.is_none_or(|s| s == record.source)
            && self
                .software_id
                .is_none_or(|id| record.metadata.software_id.as_deref() == Some(id))
            && self
                .initial_access_token_id
                .is_none_or(|id| record.initial_access_token_id.as_deref() == Some(id))
    }
}

/// When a dynamically registered client counts as stale. Host-created clients
/// ([`RecordSource::Host`]) are never stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaleCriteria {
    /// Stale if never used and created before this time (seconds since the
    /// epoch): the registration grace period has passed.
    pub unused_created_before: Option<u64>,
    /// Stale if last used before this time: idle for too long.
    pub idle_since: Option<u64>,
}

impl StaleCriteria {
    /// Whether `record` is stale by these criteria.
    pub fn matches(&self, record: &ClientRecord) -> bool {
        if record.source != RecordSource::Dynamic {
            return false;
        }
        match record.last_used_at {
            None => self
                .unused_created_before
                .is_some_and(|before| record.created_at < before),
            Some(used) => self.idle_since.is_some_and(|before| used < before),
        }
    }
}

/// Listing, counting, last-use tracking and stale-client sweeps.
#[async_trait]
pub trait ClientLifecycleStore: Send + Sync {
    /// Records that the client was used at `at` (seconds since the epoch),
    /// without changing its revision. `last_used_at` only moves forward (an
    /// earlier `at` is ignored), and unknown clients are ignored.
    async fn record_use(&self, client_id: &str, at: u64) -> Result<(), StoreError>;

    /// Up to `limit` clients ordered by `client_id`, starting after `after`.
    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError>;

    /// How many clients match `filter`.
    async fn count_clients(&self, filter: &ClientFilter<'_>) -> Result<u64, StoreError>;

    /// Up to `limit` stale clients ([`StaleCriteria::matches`]).
    async fn stale_clients(
        &self,
        criteria: &StaleCriteria,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError>;

    /// Deletes the client only if it is still stale by `criteria` (a use
    /// recorded since [`stale_clients`](Self::stale_clients) saves it); `true`
    /// if it was deleted.
    async fn delete_if_stale(
        &self,
        client_id: &str,
        criteria: &StaleCriteria,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` clients whose secret expired at or before `now`.
    async fn expired_secrets(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError>;
}
