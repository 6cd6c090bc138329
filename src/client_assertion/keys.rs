//! The keys of a client: decoded from its `jwks`, or from its `jwks_uri`
//! (fetched here through the guarded fetcher, when the endpoint verifies an
//! assertion) and cached by their HTTP headers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::fetch::{Fetcher, is_json_content_type};
use crate::fetch_cache::{Cache, CacheBounds, CacheHeaders, Failure, Origin};
use crate::jws::{self, PublicKey};

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
        let keys = jws::decode_jwk_set(jwks)?;
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

impl JwksCache {
    /// The keys at `uri`, cached or fetched now.
    pub(crate) async fn keys(&self, uri: &str) -> Result<(Arc<KeySet>, Origin), String> {
        self.cache
            .get_or_fetch(uri, |stale| self.fetch(uri, stale))
            .await
    }

    /// The keys at `uri` fetched again, when `current` is older than the
    /// refetch interval (a client that rotated its keys signs with one the
    /// cache does not know yet); `None` when it is too recent. Single flight
    /// per `jwks_uri`: only `current` is expired, so concurrent callers that
    /// saw it share one fetch, and a late one finds the keys fetched since.
    pub(crate) async fn refetch(
        &self,
        uri: &str,
        current: &Arc<KeySet>,
    ) -> Option<Result<(Arc<KeySet>, Origin), String>> {
        if current.fetched_at.elapsed() < self.refetch_after {
            return None;
        }
        self.cache.expire_if_current(uri, current);
        Some(self.keys(uri).await)
    }

    async fn fetch(
        &self,
        uri: &str,
        stale: Option<Arc<KeySet>>,
    ) -> Result<(KeySet, crate::fetch_cache::Freshness), Failure<String>> {
        let response = self
            .fetcher
            .fetch_response(uri, self.max_bytes)
            .await
            .map_err(|e| Failure {
                transient: e.is_transient(),
                error: format!("jwks_uri: {e}"),
            })?;
        let definitive = |error: &str| Failure {
            error: format!("jwks_uri: {error}"),
            transient: false,
        };
        if response
            .content_type
            .as_deref()
            .is_some_and(|ct| !is_json_content_type(ct))
        {
            return Err(definitive("not JSON"));
        }
        let set: Value =
            serde_json::from_slice(&response.body).map_err(|_| definitive("not JSON"))?;
        let keys = jws::decode_jwk_set(&set).map_err(definitive)?;
        if keys.is_empty() {
            return Err(definitive("no usable signing key"));
        }
        let digest: [u8; 32] = Sha256::digest(&response.body).into();
        let freshness = self.cache.bounds().freshness(
            &CacheHeaders {
                cache_control: response.cache_control,
                expires: response.expires,
                date: response.date,
                age: response.age,
            },
            SystemTime::now(),
        );
        Ok((
            KeySet {
                keys,
                digest,
                changed: stale.is_some_and(|s| s.digest != digest),
                fetched_at: Instant::now(),
            },
            freshness,
        ))
    }
}
