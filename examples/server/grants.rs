//! In-memory authorization state: consent requests waiting for the user,
//! authorization codes, access and refresh tokens.
//!
//! Every value handed out is 256 random bits ([`Secret::generate`]); the maps
//! are keyed by its SHA-256 digest, so they hold nothing a client could use.
//! Tokens issued from one authorization form a grant: when a code or a rotated
//! refresh token is replayed, the whole grant is revoked (RFC 6749 §4.1.2,
//! RFC 9700 §4.14.2).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_dcr::{Secret, SecretDigest};

/// How long a consent page can be answered.
pub const CONSENT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// The most consent requests kept at once: each `GET /authorize` adds one, so
/// this bounds the memory an anonymous caller can take.
pub const MAX_PENDING: usize = 10_000;
/// How long an authorization code can be redeemed (RFC 6749 §4.1.2: short).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long an access token works.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a refresh token works.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

type Key = [u8; 32];

fn key(value: &str) -> Key {
    *SecretDigest::of(value).as_bytes()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn deadline(lifetime: Duration) -> u64 {
    now().saturating_add(lifetime.as_secs())
}

/// A validated authorization request (RFC 6749 §4.1.1).
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Where the user agent goes back to: the presented redirect URI, or the
    /// only registered one when none was presented.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request; then the token request must
    /// repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_presented: bool,
    pub scope: Option<String>,
    pub state: Option<String>,
    /// The PKCE `S256` code challenge (RFC 7636 §4.3).
    pub code_challenge: Option<String>,
}

/// Identifies the tokens issued from one authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantId(u64);

/// What a token is good for.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub client_id: String,
    pub scope: Option<String>,
    pub expires_at: u64,
    grant: GrantId,
}

/// Tokens just issued.
pub struct Issued {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: u64,
}

struct Pending {
    request: AuthorizationRequest,
    expires_at: u64,
}

struct Code {
    request: AuthorizationRequest,
    expires_at: u64,
    grant: GrantId,
    redeemed: bool,
}

struct Refresh {
    info: TokenInfo,
    /// `false` once rotated: presenting it again revokes the grant.
    active: bool,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<Key, Pending>,
    codes: HashMap<Key, Code>,
    access: HashMap<Key, TokenInfo>,
    refresh: HashMap<Key, Refresh>,
    next_grant: u64,
}

impl Inner {
    fn revoke(&mut self, grant: GrantId) {
        self.access.retain(|_, t| t.grant != grant);
        self.refresh.retain(|_, t| t.info.grant != grant);
    }
}

/// The authorization state of the running server.
#[derive(Default)]
pub struct Grants {
    inner: Mutex<Inner>,
}

/// Why a consent request could not be kept.
#[derive(Debug)]
pub enum Busy {
    /// [`MAX_PENDING`] requests are waiting.
    TooManyPending,
    /// The OS random number generator failed.
    Random,
}

/// Why a code or refresh token was refused (`invalid_grant` either way).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Unknown or expired.
    Invalid,
    /// Already used: every token of its grant was revoked.
    Replayed,
}

impl Grants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere never leaves the maps inconsistent: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a request until the user decides; returns the consent nonce that
    /// the form must post back.
    pub fn begin(&self, request: AuthorizationRequest) -> Result<Secret, Busy> {
        let nonce = Secret::generate().map_err(|_| Busy::Random)?;
        let pending = Pending {
            request,
            expires_at: deadline(CONSENT_LIFETIME),
        };
        let mut inner = self.lock();
        if inner.pending.len() >= MAX_PENDING {
            let now = now();
            inner.pending.retain(|_, p| now < p.expires_at);
            if inner.pending.len() >= MAX_PENDING {
                return Err(Busy::TooManyPending);
            }
        }
        inner.pending.insert(key(nonce.secret()), pending);
        Ok(nonce)
    }

    /// Takes the request a consent form answers: once only, and before it
    /// expires.
    pub fn take_pending(&self, nonce: &str) -> Option<AuthorizationRequest> {
        let pending = self.lock().pending.remove(&key(nonce))?;
        (now() < pending.expires_at).then_some(pending.request)
    }

    /// Issues an authorization code for an approved request.
    pub fn issue_code(
        &self,
        request: AuthorizationRequest,
    ) -> Result<Secret, tower_dcr::RandomError> {
        let code = Secret::generate()?;
        let mut inner = self.lock();
        let grant = GrantId(inner.next_grant);
        inner.next_grant += 1;
        inner.codes.insert(
            key(code.secret()),
            Code {
                request,
                expires_at: deadline(CODE_LIFETIME),
                grant,
                redeemed: false,
            },
        );
        Ok(code)
    }

    /// Redeems a code: the first attempt uses it up whatever its outcome; a
    /// second one revokes what the first obtained (RFC 6749 §4.1.2).
    pub fn redeem_code(&self, code: &str) -> Result<(AuthorizationRequest, GrantId), Refused> {
        let mut inner = self.lock();
        let entry = inner.codes.get_mut(&key(code)).ok_or(Refused::Invalid)?;
        if entry.redeemed {
            let grant = entry.grant;
            inner.revoke(grant);
            return Err(Refused::Replayed);
        }
        entry.redeemed = true;
        if now() >= entry.expires_at {
            return Err(Refused::Invalid);
        }
        Ok((entry.request.clone(), entry.grant))
    }

    /// Starts a grant without an authorization code (client credentials).
    pub fn new_grant(&self) -> GrantId {
        let mut inner = self.lock();
        inner.next_grant += 1;
        GrantId(inner.next_grant - 1)
    }

    /// Issues an access token, and a refresh token if asked, in `grant`.
    pub fn issue_tokens(
        &self,
        client_id: &str,
        scope: Option<String>,
        grant: GrantId,
        with_refresh_token: bool,
    ) -> Result<Issued, tower_dcr::RandomError> {
        let access_token = Secret::generate()?;
        let refresh_token = with_refresh_token.then(Secret::generate).transpose()?;
        let info = |lifetime| TokenInfo {
            client_id: client_id.to_owned(),
            scope: scope.clone(),
            expires_at: deadline(lifetime),
            grant,
        };
        let mut inner = self.lock();
        inner
            .access
            .insert(key(access_token.secret()), info(ACCESS_TOKEN_LIFETIME));
        if let Some(refresh) = &refresh_token {
            let refresh_info = Refresh {
                info: info(REFRESH_TOKEN_LIFETIME),
                active: true,
            };
            inner.refresh.insert(key(refresh.secret()), refresh_info);
        }
        Ok(Issued {
            access_token,
            refresh_token,
            expires_in: ACCESS_TOKEN_LIFETIME.as_secs(),
        })
    }

    /// Uses a refresh token of `client_id` (rotation: it works once; presenting
    /// it again revokes its grant). Returns its scope and grant.
    pub fn use_refresh_token(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<(Option<String>, GrantId), Refused> {
        let mut inner = self.lock();
        let entry = inner.refresh.get_mut(&key(token)).ok_or(Refused::Invalid)?;
        if entry.info.client_id != client_id || now() >= entry.info.expires_at {
            return Err(Refused::Invalid);
        }
        if !entry.active {
            let grant = entry.info.grant;
            inner.revoke(grant);
            return Err(Refused::Replayed);
        }
        entry.active = false;
        Ok((entry.info.scope.clone(), entry.info.grant))
    }

    /// What an unexpired access token is good for.
    pub fn access_token(&self, token: &str) -> Option<TokenInfo> {
        let info = self.lock().access.get(&key(token)).cloned()?;
        (now() < info.expires_at).then_some(info)
    }

    /// Drops everything expired. Run periodically.
    pub fn sweep(&self) {
        let now = now();
        let mut inner = self.lock();
        inner.pending.retain(|_, p| now < p.expires_at);
        // Used codes stay a while longer, so a late replay still revokes.
        inner
            .codes
            .retain(|_, c| now < c.expires_at.saturating_add(CONSENT_LIFETIME.as_secs()));
        inner.access.retain(|_, t| now < t.expires_at);
        inner.refresh.retain(|_, t| now < t.info.expires_at);
    }
}
