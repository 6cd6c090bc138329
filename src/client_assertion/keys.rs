//! The keys of a client: decoded from its `jwks`, or from its `jwks_uri`
//! (fetched by `endpoint::client_assertion` through the guarded fetcher) and
//! cached by their HTTP headers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::fetch::Fetcher;
use crate::fetch_cache::{Cache, CacheBounds};
use crate::jose::{self, PublicKey};

/// A client's decoded signing keys.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<PublicKey>,
    /// SHA-256 of the JWK Set as fetched: a change of keys shows as a change of
    /// digest (draft-ietf-oauth-client-id-metadata-document §8.4.1).
    pub(crate) digest: [u8; 32],
    /// Whether the digest differs from the set this one replaced.
    pub(crate) changed: bool,
    pub(crate) fetched_at: Instant,
}

impl KeySet {
    /// Decodes an inline `jwks` member.
    pub(crate) fn inline(jwks: &Value) -> Result<Self, &'static str> {
        let keys = jose::decode_jwk_set(jwks)?;
        Ok(Self {
            keys,
            digest: Sha256::digest(jwks.to_string()).into(),
            changed: false,
            fetched_at: Instant::now(),
        })
    }
}

/// The cache of `jwks_uri` documents.
pub(crate) struct JwksCache {
    pub(crate) cache: Cache<KeySet, String>,
    pub(crate) fetcher: Arc<dyn Fetcher>,
    pub(crate) max_bytes: usize,
    pub(crate) refetch_after: Duration,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("cache", &self.cache)
            .field("max_bytes", &self.max_bytes)
            .field("refetch_after", &self.refetch_after)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    pub(crate) fn new(
        fetcher: Arc<dyn Fetcher>,
        bounds: CacheBounds,
        max_entries: usize,
        max_bytes: usize,
        refetch_after: Duration,
    ) -> Self {
        Self {
            cache: Cache::new(max_entries, bounds),
            fetcher,
            max_bytes,
            refetch_after,
        }
    }
}
