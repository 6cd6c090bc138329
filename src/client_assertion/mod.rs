//! JWT client authentication at the host's token endpoint (RFC 7523 §2.2,
//! OIDC Core §9): `private_key_jwt` and `client_secret_jwt`, for registered and
//! URL clients alike.
//!
//! The client sends `client_assertion_type` = [`JWT_BEARER`] and a signed JWT
//! in `client_assertion`; the host's token endpoint passes those two form
//! fields, with the others, to
//! [`Registration::authenticate_token_request_with_assertion`](crate::Registration::authenticate_token_request_with_assertion),
//! one call for every method (or reads them with
//! [`ClientCredentials::from_request_with_assertion`](crate::host::ClientCredentials::from_request_with_assertion)
//! and calls `authenticate_client`). The assertion must:
//!
//! - be signed with the client's registered `token_endpoint_auth_signing_alg`,
//!   or else an algorithm its profile allows; asymmetric for `private_key_jwt`,
//!   HMAC over the client secret for `client_secret_jwt`; never `none`;
//! - verify with a key of the client: its `jwks`, or its `jwks_uri` fetched
//!   through the SSRF guard and cached (fetched again, at most once per
//!   interval, when no cached key verifies: the client may have rotated them);
//! - carry `iss` = `sub` = `client_id`; an `aud` that is the issuer identifier
//!   alone, as a string or a one-element array (draft-ietf-oauth-rfc7523bis:
//!   "MUST reject any JWT that does not contain its issuer identifier as its
//!   sole audience value", against audience injection; [`AudienceRule`]
//!   restores RFC 7523 §3's wider rule); an `exp` not past and at most the
//!   maximum lifetime ahead; `nbf` and `iat` not in the future, within the
//!   leeway;
//! - carry a `jti` never seen before: it is kept in the store's
//!   replay store ([`crate::store::AssertionReplayStore`]) until the
//!   assertion expires, so several instances sharing a database refuse each
//!   other's replays.
//!
//! Every failure is `invalid_client`; the reason (a short fixed text, never
//! the assertion or a secret) goes to the log at info level, never to the
//! client.

mod keys;
mod live;
mod verifier;
mod verify;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use keys::{JwksCache, KeySet};
pub(crate) use live::LiveAssertions;
pub(crate) use verifier::{AssertionFailure, AssertionVerifier};
pub(crate) use verify::{ClaimRules, Parsed, check_alg, check_claims, parse};

use crate::fetch::Fetcher;
use crate::fetch_cache::CacheBounds;
use crate::store::AssertionReplayStore;

/// `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The default longest lifetime of an assertion (`exp` - now, `exp` - `iat`).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(300);

/// The default most live (unexpired) assertions one client may have had
/// accepted ([`ClientAssertions::max_live_assertions_per_client`]).
pub const DEFAULT_MAX_LIVE_ASSERTIONS_PER_CLIENT: usize = 4096;

/// The default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Which `aud` values a client assertion may carry
/// ([`ClientAssertions::audience_rule`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudienceRule {
    /// draft-ietf-oauth-rfc7523bis: the issuer identifier as the sole
    /// audience value, a string or a one-element array. An assertion a client
    /// made for another server cannot be replayed here, nor one made for this
    /// server's token endpoint URL elsewhere. The default.
    #[default]
    IssuerOnly,
    /// RFC 7523 §3: `aud` names this server among any other values: the
    /// issuer (unless [`ClientAssertions::issuer_audience`] is off), or the
    /// token endpoint URL given with [`ClientAssertions::token_endpoint`]. For
    /// hosts whose clients cannot send the issuer alone yet.
    Rfc7523,
}

/// The rules of client assertions, given to
/// [`RegistrationBuilder::client_assertions`](crate::RegistrationBuilder::client_assertions).
///
/// ```
/// use std::time::Duration;
/// use tower_dcr::client_assertion::ClientAssertions;
///
/// let rules = ClientAssertions::new()
///     .token_endpoint("https://auth.example.com/token")
///     .max_lifetime(Duration::from_secs(120));
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientAssertions {
    pub(crate) token_endpoint: Option<String>,
    pub(crate) issuer_audience: bool,
    pub(crate) audience_rule: AudienceRule,
    pub(crate) max_lifetime: Duration,
    pub(crate) leeway: Duration,
    pub(crate) max_live_per_client: usize,
    pub(crate) jwks_max_bytes: usize,
    pub(crate) jwks_cache: CacheBounds,
    pub(crate) jwks_refetch_interval: Duration,
    pub(crate) replay_store: Option<Arc<dyn AssertionReplayStore>>,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) fetcher: Option<Arc<dyn Fetcher>>,
}

impl std::fmt::Debug for ClientAssertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAssertions")
            .field("token_endpoint", &self.token_endpoint)
            .field("issuer_audience", &self.issuer_audience)
            .field("audience_rule", &self.audience_rule)
            .field("max_lifetime", &self.max_lifetime)
            .field("leeway", &self.leeway)
            .field("max_live_per_client", &self.max_live_per_client)
            .field("jwks_refetch_interval", &self.jwks_refetch_interval)
            .finish_non_exhaustive()
    }
}

impl Default for ClientAssertions {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientAssertions {
    /// The defaults: `aud` must be the issuer alone ([`AudienceRule::IssuerOnly`]);
    /// at most 5 minutes of lifetime;
    /// 30 s of leeway; at most 4096 live assertions per client;
    /// `jwks_uri` documents up to 16 KiB, cached by their
    /// headers, fetched again at most once a minute for an unknown key; the
    /// client store's replay store.
    pub fn new() -> Self {
        Self {
            token_endpoint: None,
            issuer_audience: true,
            audience_rule: AudienceRule::IssuerOnly,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            leeway: DEFAULT_LEEWAY,
            max_live_per_client: DEFAULT_MAX_LIVE_ASSERTIONS_PER_CLIENT,
            jwks_max_bytes: 16 * 1024,
            jwks_cache: CacheBounds::default(),
            jwks_refetch_interval: Duration::from_secs(60),
            replay_store: None,
            root_certificates: Vec::new(),
            fetcher: None,
        }
    }

    /// Which `aud` values are accepted (default
    /// [`AudienceRule::IssuerOnly`], as draft-ietf-oauth-rfc7523bis asks).
    pub fn audience_rule(mut self, rule: AudienceRule) -> Self {
        self.audience_rule = rule;
        self
    }

    /// Under [`AudienceRule::Rfc7523`], also accepts the token endpoint URL as
    /// `aud` (RFC 7523 §3 allows it). Ignored under the default
    /// [`AudienceRule::IssuerOnly`], which accepts the issuer alone.
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }

    /// Under [`AudienceRule::Rfc7523`], whether the issuer identifier is
    /// accepted as `aud` (default `true`); turn it off to accept only the
    /// token endpoint URL. [`build`](crate::RegistrationBuilder::build)
    /// refuses it off under [`AudienceRule::IssuerOnly`] (nothing would be
    /// accepted).
    pub fn issuer_audience(mut self, accept: bool) -> Self {
        self.issuer_audience = accept;
        self
    }

    /// The longest lifetime of an assertion (default 5 minutes).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// The clock skew allowed on `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The most assertions of one client accepted and not yet expired
    /// (default 4096, about 12 a second with 5-minute assertions). Over it,
    /// the client's assertions are refused (`invalid_client`, logged with the
    /// reason) until some expire: each accepted `jti` stays in the replay
    /// store until its assertion expires, so one client cannot fill the store,
    /// and no replay is ever let through to make room. Counted by each
    /// service instance.
    pub fn max_live_assertions_per_client(mut self, max: usize) -> Self {
        self.max_live_per_client = max;
        self
    }

    /// Cache bounds of `jwks_uri` documents.
    pub fn jwks_cache_bounds(mut self, bounds: CacheBounds) -> Self {
        self.jwks_cache = bounds;
        self
    }

    /// How soon a `jwks_uri` is fetched again when no cached key verifies an
    /// assertion (default 60 s).
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// The replay store of `jti` values, instead of the client store's
    /// capability (for a store without one, or a shared one elsewhere).
    pub fn replay_store(mut self, store: impl AssertionReplayStore + 'static) -> Self {
        self.replay_store = Some(Arc::new(store));
        self
    }

    /// Trusts one more certificate authority (PEM) when fetching `jwks_uri`.
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Fetches `jwks_uri` with this fetcher instead of the built-in guarded one.
    pub fn fetcher(mut self, fetcher: impl Fetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Refuses rules that could accept no assertion (checked by
    /// [`build`](crate::RegistrationBuilder::build)); `store_replay`: whether
    /// the client store has a replay store.
    pub(crate) fn check(&self, store_replay: bool) -> Result<(), String> {
        if self.replay_store.is_none() && !store_replay {
            return Err("no jti replay store: the client store has none, \
                        and none was given with replay_store(..)"
                .into());
        }
        if self.max_lifetime.is_zero() {
            return Err("max_lifetime is zero".into());
        }
        if self.max_live_per_client == 0 {
            return Err("max_live_assertions_per_client is zero".into());
        }
        match self.audience_rule {
            AudienceRule::IssuerOnly if !self.issuer_audience => {
                Err("issuer_audience(false) with AudienceRule::IssuerOnly accepts no aud".into())
            }
            AudienceRule::Rfc7523 if !self.issuer_audience && self.token_endpoint.is_none() => {
                Err("issuer_audience(false) without a token_endpoint accepts no aud".into())
            }
            _ => Ok(()),
        }
    }

    /// The accepted `aud` values for `issuer`.
    pub(crate) fn audiences(&self, issuer: &str) -> Vec<String> {
        if self.audience_rule == AudienceRule::IssuerOnly {
            return vec![issuer.to_owned()];
        }
        let mut audiences = Vec::new();
        if self.issuer_audience {
            audiences.push(issuer.to_owned());
        }
        audiences.extend(self.token_endpoint.iter().cloned());
        audiences
    }
}
