//! One client assertion checked end to end: algorithm, key, signature,
//! claims, then the replay store.

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

use super::{
    ClaimRules, ClientAssertions, JwksCache, KeySet, Parsed, check_alg, check_claims, parse,
};
use crate::fetch::Fetcher;
use crate::fetch_cache::Origin;
use crate::jose::min_hmac_bytes;
use crate::metadata::TokenEndpointAuthMethod;
use crate::store::{AssertionReplayStore, ClientRecord, StoredSecret};

/// Why an assertion was not accepted.
#[derive(Debug)]
pub(crate) enum AssertionFailure {
    /// Refused, with the reason for the log.
    Invalid(String),
    /// The replay store could not answer.
    Unavailable,
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
    rules: ClaimRules,
    jwks: JwksCache,
    replay: Option<Arc<dyn AssertionReplayStore>>,
}

impl std::fmt::Debug for AssertionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionVerifier")
            .field("rules", &self.rules)
            .field("jwks", &self.jwks)
            .field("own_replay_store", &self.replay.is_some())
            .finish()
    }
}

impl AssertionVerifier {
    pub(crate) fn new(config: &ClientAssertions, issuer: &str, fetcher: Arc<dyn Fetcher>) -> Self {
        Self {
            rules: ClaimRules {
                audiences: config.audiences(issuer),
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
        }
    }

    /// Checks `assertion` for `record`. `allowed` is the profile's
    /// `token_endpoint_auth_signing_alg` list; `store_replay` the client store's
    /// replay capability, used unless one was configured.
    pub(crate) async fn verify(
        &self,
        record: &ClientRecord,
        allowed: &[String],
        assertion: &str,
        store_replay: Option<&dyn AssertionReplayStore>,
        now: u64,
    ) -> Result<Verified, AssertionFailure> {
        let parsed = parse(assertion)?;
        let metadata = &record.metadata;
        let method = metadata.auth_method();
        check_alg(
            parsed.alg,
            method,
            metadata
                .algorithms()
                .token_endpoint_auth_signing_alg
                .as_deref(),
            allowed,
        )?;
        let mut verified = Verified::default();
        if method == TokenEndpointAuthMethod::ClientSecretJwt {
            let Some(StoredSecret::Plain(secret)) = &record.client_secret else {
                return Err("no client secret kept for client_secret_jwt".into());
            };
            let bytes = secret.secret().as_bytes();
            if bytes.len() < min_hmac_bytes(parsed.alg) || record.secret_expired(now) {
                return Err("client secret too short for the alg, or expired".into());
            }
            if !parsed.verifies_with([&DecodingKey::from_secret(bytes)]) {
                return Err("signature does not verify".into());
            }
        } else {
            verified.keys_changed = self.verify_with_public_keys(record, &parsed).await?;
        }
        let accepted = check_claims(&parsed.claims, &record.client_id, &self.rules, now)?;
        let replay = self.replay.as_deref().or(store_replay).ok_or_else(|| {
            tracing::error!("client assertions need a replay store: the client store has none");
            AssertionFailure::Unavailable
        })?;
        let until = accepted.exp.saturating_add(self.rules.leeway.as_secs());
        match replay
            .first_use(&record.client_id, &accepted.jti, until, now)
            .await
        {
            Ok(true) => Ok(verified),
            Ok(false) => Err("jti replayed".into()),
            Err(error) => {
                tracing::warn!(%error, "assertion replay store failed");
                Err(AssertionFailure::Unavailable)
            }
        }
    }

    /// The signature against the client's `jwks`, or its `jwks_uri` (fetched
    /// again once when no cached key verifies). `true` when the fetched keys
    /// changed.
    async fn verify_with_public_keys(
        &self,
        record: &ClientRecord,
        parsed: &Parsed<'_>,
    ) -> Result<bool, AssertionFailure> {
        let fits = |set: &KeySet| {
            parsed.verifies_with(
                set.keys
                    .iter()
                    .filter(|k| k.fits(parsed.alg, parsed.kid.as_deref()))
                    .map(|k| &k.key),
            )
        };
        if let Some(jwks) = &record.metadata.jwks {
            let set = KeySet::inline(jwks)?;
            return if fits(&set) {
                Ok(false)
            } else {
                Err("signature does not verify with the client's jwks".into())
            };
        }
        let Some(uri) = &record.metadata.jwks_uri else {
            return Err("the client has neither jwks nor jwks_uri".into());
        };
        let (set, origin) = self
            .jwks
            .keys(uri)
            .await
            .map_err(AssertionFailure::Invalid)?;
        let changed = |set: &KeySet, origin| set.changed && origin != Origin::Cached;
        if fits(&set) {
            return Ok(changed(&set, origin));
        }
        match self.jwks.refetch(uri, &set).await {
            Some(Ok((set, origin))) if fits(&set) => Ok(changed(&set, origin)),
            Some(Err(error)) => Err(AssertionFailure::Invalid(error)),
            _ => Err("signature does not verify with the keys at jwks_uri".into()),
        }
    }
}
