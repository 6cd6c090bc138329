//! The runtime state of client assertion checks and the checks end to end
//! (RFC 7523 §3, OIDC Core §9): algorithm, key (the client's `jwks`, or its
//! `jwks_uri` fetched through the guarded fetcher and cached), signature,
//! claims, then the replay store.

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

use super::{
    ClaimRules, ClientAssertions, JwksCache, KeySet, LiveAssertions, Parsed, check_alg,
    check_claims, parse,
};
use crate::fetch::Fetcher;
use crate::fetch_cache::Origin;
use crate::jws::min_hmac_bytes;
use crate::metadata::TokenEndpointAuthMethod;
use crate::store::{AssertionReplayStore, ClientRecord, StoredSecret};

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

impl AssertionVerifier {
    /// Checks `assertion` for `record`. `accepted` is what the client's
    /// profile accepts (`Profile::token_endpoint_auth_signing_algs`);
    /// `store_replay` the client store's replay capability, used unless one
    /// was configured.
    pub(crate) async fn verify(
        &self,
        record: &ClientRecord,
        accepted: &[&str],
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
            accepted,
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
            AssertionFailure::Store(crate::store::StoreError::unavailable(
                "client assertions need a replay store, and the client store has none",
            ))
        })?;
        let client_id = &record.client_id;
        if !self.live.reserve(client_id, accepted.until, now) {
            return Err("too many live assertions for this client".into());
        }
        let outcome = match replay
            .first_use(client_id, &accepted.jti, accepted.until, now)
            .await
        {
            Ok(true) => return Ok(verified),
            Ok(false) => Err("jti replayed".into()),
            Err(error) => Err(AssertionFailure::Store(error)),
        };
        self.live.release(client_id, accepted.until);
        outcome
    }

    /// The signature against the client's `jwks`, or its `jwks_uri` (fetched
    /// again once when no cached key verifies). `true` when the fetched keys
    /// changed. Few keys are tried ([`Parsed::candidates`]), off the async
    /// worker threads.
    async fn verify_with_public_keys(
        &self,
        record: &ClientRecord,
        parsed: &Parsed<'_>,
    ) -> Result<bool, AssertionFailure> {
        if let Some(jwks) = &record.metadata.jwks {
            let set = KeySet::inline(jwks)?;
            return if parsed
                .verifies_off_thread(parsed.candidates(&set.keys)?)
                .await
            {
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
        if parsed
            .verifies_off_thread(parsed.candidates(&set.keys)?)
            .await
        {
            return Ok(changed(&set, origin));
        }
        match self.jwks.refetch(uri, &set).await {
            Some(Ok((set, origin)))
                if parsed
                    .verifies_off_thread(parsed.candidates(&set.keys)?)
                    .await =>
            {
                Ok(changed(&set, origin))
            }
            Some(Err(error)) => Err(AssertionFailure::Invalid(error)),
            _ => Err("signature does not verify with the keys at jwks_uri".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use bytes::Bytes;

    use super::*;
    use crate::fetch::{FetchError, Fetcher};
    use crate::fetch_cache::CacheBounds;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    /// Counts fetches; each takes 20 ms.
    #[derive(Debug, Default)]
    struct Counting(Arc<AtomicUsize>);

    #[async_trait]
    impl Fetcher for Counting {
        async fn fetch(&self, _url: &str) -> Result<Bytes, FetchError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Bytes::from_static(JWKS.as_bytes()))
        }
    }

    /// OIDC Core §9, RFC 7519 §4.1.4: end to end, an assertion accepted at
    /// its last valid second (`exp` + leeway - 1) cannot be replayed at that
    /// second, and at `exp` + leeway it is expired (the second its `jti`
    /// record expires in every replay store).
    #[tokio::test]
    async fn oidc_core_9_no_replay_window_at_exp_plus_leeway() {
        use jsonwebtoken::{EncodingKey, Header};
        use p256::pkcs8::EncodePrivateKey as _;

        use crate::client_assertion::ClientAssertions;
        use crate::metadata::ClientMetadata;
        use crate::store::MemoryReplayStore;

        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let der = secret.to_pkcs8_der().unwrap();
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let mut jwk = serde_json::to_value(
            jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::ES256)
                .unwrap(),
        )
        .unwrap();
        jwk["kid"] = "k".into();
        let metadata = ClientMetadata::from_json_object(
            serde_json::json!({
                "redirect_uris": ["https://app.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [jwk]},
            })
            .as_object()
            .unwrap()
            .clone(),
        )
        .unwrap();
        let record = ClientRecord::new_host_client("c", metadata, 0);
        let issuer = "https://as.example";
        let verifier = AssertionVerifier::new(
            &ClientAssertions::new(),
            issuer,
            Arc::new(Counting::default()),
        );
        let replay = MemoryReplayStore::new();
        const EXP: u64 = 1_800_000_000;
        let until = EXP + 30;
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k".into());
        let sign = |jti: &str| {
            let claims = serde_json::json!({
                "iss": "c", "sub": "c", "aud": issuer, "exp": EXP, "iat": EXP - 60, "jti": jti,
            });
            jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
        };
        let verify = |assertion: String, now: u64| {
            let (verifier, record, replay) = (&verifier, &record, &replay);
            async move {
                verifier
                    .verify(record, &["ES256"], &assertion, Some(replay), now)
                    .await
            }
        };
        verify(sign("a"), until - 1).await.unwrap();
        assert!(
            verify(sign("a"), until - 1).await.is_err(),
            "replay at the last valid second"
        );
        assert!(
            verify(sign("a"), until).await.is_err(),
            "expired at exp + leeway"
        );
        assert!(
            verify(sign("b"), until).await.is_err(),
            "expired at exp + leeway"
        );
    }

    /// Issue 24 item 13: `jwks_uri` refetches are single flight per URL. 50
    /// concurrent refetches of the key set they all found wanting make one
    /// fetch, and a caller that saw that old set later finds the new one
    /// instead of fetching again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jwks_uri_refetches_are_single_flight() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let cache = Arc::new(JwksCache::new(
            Arc::new(Counting(Arc::clone(&fetches))),
            CacheBounds::default(),
            16,
            16 * 1024,
            Duration::ZERO,
        ));
        let uri = "https://client.example/jwks.json";
        let (old, _) = cache.keys(uri).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (cache, old) = (Arc::clone(&cache), Arc::clone(&old));
                tokio::spawn(async move { cache.refetch(uri, &old).await.unwrap().unwrap() })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "one refetch for 50");
        let (late, origin) = cache.refetch(uri, &old).await.unwrap().unwrap();
        assert_eq!(origin, Origin::Cached);
        assert!(!Arc::ptr_eq(&late, &old));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "a late caller fetches nothing"
        );
    }
}
