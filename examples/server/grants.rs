//! In-memory authorization state: consent requests waiting for the user,
//! authorization codes, access and refresh tokens.
//!
//! Every value handed out is 256 random bits ([`Secret::generate`]); the maps
//! are keyed by its SHA-256 digest, so they hold nothing a client could use.
//! Tokens issued from one authorization form a grant: when a code or a rotated
//! refresh token is replayed, the whole grant is revoked (RFC 6749 §4.1.2,
//! RFC 9700 §4.14.2).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_dcr::{Secret, SecretDigest};

use crate::bounded::{Bounded, Full};

/// How long a consent page can be answered.
pub const CONSENT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// The most consent requests kept at once, and per client: each
/// `GET /authorize` adds one, so these bound the memory an anonymous caller
/// can take, and the per-client budget keeps one client (or someone naming
/// it) from filling the room of all.
pub const MAX_PENDING: usize = 10_000;
pub const MAX_PENDING_PER_CLIENT: usize = 100;
/// The most authorization codes kept (used ones too, for replay detection),
/// in all and per client.
pub const MAX_CODES: usize = 10_000;
pub const MAX_CODES_PER_CLIENT: usize = 1_000;
/// The most live access tokens, and refresh tokens, in all and per client.
pub const MAX_TOKENS: usize = 50_000;
pub const MAX_TOKENS_PER_CLIENT: usize = 1_000;
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

/// A validated authorization request (RFC 6749 §4.1.1, OpenID Connect Core
/// §3.1.2.1). Every value is bounded in length before it is kept here.
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
    /// Where the response parameters go: `query` or `fragment`.
    pub fragment: bool,
    /// The OpenID Connect `nonce`, repeated in the ID token.
    pub nonce: Option<String>,
    /// Whether the ID token must carry `auth_time` (`max_age` or
    /// `default_max_age` applied, or `require_auth_time`).
    pub auth_time_required: bool,
}

/// An approved request: what a code stands for.
#[derive(Clone, Debug)]
pub struct Approved {
    pub request: AuthorizationRequest,
    /// When the user authenticated (approved), seconds since the epoch.
    pub auth_time: u64,
    /// The user who approved.
    pub user: String,
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
    /// The user the token acts for; `None` for client credentials.
    pub user: Option<String>,
    pub grant: GrantId,
}

/// Tokens just issued.
pub struct Issued {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: u64,
}

struct Pending {
    request: AuthorizationRequest,
    /// The digest of the consent cookie of the browser that asked
    /// (`authorize::browser`).
    browser: SecretDigest,
    expires_at: u64,
}

struct Code {
    approved: Approved,
    expires_at: u64,
    grant: GrantId,
    redeemed: bool,
}

struct Refresh {
    info: TokenInfo,
    /// `false` once rotated: presenting it again revokes the grant.
    active: bool,
}

struct Inner {
    pending: Bounded<Pending>,
    codes: Bounded<Code>,
    access: Bounded<TokenInfo>,
    refresh: Bounded<Refresh>,
    next_grant: u64,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            pending: Bounded::new(MAX_PENDING, MAX_PENDING_PER_CLIENT),
            codes: Bounded::new(MAX_CODES, MAX_CODES_PER_CLIENT),
            access: Bounded::new(MAX_TOKENS, MAX_TOKENS_PER_CLIENT),
            refresh: Bounded::new(MAX_TOKENS, MAX_TOKENS_PER_CLIENT),
            next_grant: 0,
        }
    }
}

impl Inner {
    fn revoke(&mut self, grant: GrantId) {
        self.access.retain(|t| t.grant != grant);
        self.refresh.retain(|t| t.info.grant != grant);
    }

    /// Stores the tokens of `secrets` in `grant`: both or neither.
    fn store_tokens(
        &mut self,
        secrets: Secrets,
        client_id: &str,
        scope: Option<String>,
        user: Option<String>,
        grant: GrantId,
        now: u64,
    ) -> Result<Issued, Full> {
        let info = |lifetime: Duration| TokenInfo {
            client_id: client_id.to_owned(),
            scope: scope.clone(),
            expires_at: now.saturating_add(lifetime.as_secs()),
            user: user.clone(),
            grant,
        };
        let access = info(ACCESS_TOKEN_LIFETIME);
        let access_key = key(secrets.access_token.secret());
        self.access
            .insert(access_key, client_id, access.expires_at, access, now)?;
        if let Some(refresh) = &secrets.refresh_token {
            let refresh_info = Refresh {
                info: info(REFRESH_TOKEN_LIFETIME),
                active: true,
            };
            let evict_at = refresh_info.info.expires_at;
            if let Err(full) = self.refresh.insert(
                key(refresh.secret()),
                client_id,
                evict_at,
                refresh_info,
                now,
            ) {
                self.access.remove(&access_key);
                return Err(full);
            }
        }
        Ok(Issued {
            access_token: secrets.access_token,
            refresh_token: secrets.refresh_token,
            expires_in: ACCESS_TOKEN_LIFETIME.as_secs(),
        })
    }
}

/// The values of tokens about to be issued, drawn before the lock is taken.
struct Secrets {
    access_token: Secret,
    refresh_token: Option<Secret>,
}

impl Secrets {
    fn generate(with_refresh_token: bool) -> Result<Self, Busy> {
        Ok(Self {
            access_token: Secret::generate().map_err(|_| Busy::Random)?,
            refresh_token: with_refresh_token
                .then(Secret::generate)
                .transpose()
                .map_err(|_| Busy::Random)?,
        })
    }
}

/// The authorization state of the running server.
#[derive(Default)]
pub struct Grants {
    inner: Mutex<Inner>,
}

/// Why something could not be kept.
#[derive(Debug)]
pub enum Busy {
    /// A bound of [`Bounded`] was reached.
    Full(Full),
    /// The OS random number generator failed.
    Random,
}

impl From<Full> for Busy {
    fn from(full: Full) -> Self {
        Self::Full(full)
    }
}

/// Why a consent form's request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotTaken {
    /// Unknown, expired or already answered.
    Unknown,
    /// Posted by another browser than the one that asked.
    OtherBrowser,
}

/// Why redeeming a code or a refresh token issued nothing.
#[derive(Debug)]
pub enum Redeem<E> {
    /// The code or token itself was refused.
    Refused(Refused),
    /// The caller's check refused the request.
    Check(E),
    /// The tokens could not be stored.
    Busy(Busy),
}

/// Why a code or refresh token was refused (`invalid_grant` either way).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Unknown, expired, or issued to another client.
    Invalid,
    /// Already used: every token of its grant was revoked.
    Replayed,
}

impl Grants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere never leaves the maps inconsistent: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a request until the user decides, bound to the browser that
    /// asked (the digest of its consent cookie); returns the consent key that
    /// the form must post back.
    pub fn begin(
        &self,
        request: AuthorizationRequest,
        browser: SecretDigest,
    ) -> Result<Secret, Busy> {
        let consent = Secret::generate().map_err(|_| Busy::Random)?;
        let client_id = request.client_id.clone();
        let expires_at = deadline(CONSENT_LIFETIME);
        let pending = Pending {
            request,
            browser,
            expires_at,
        };
        self.lock().pending.insert(
            key(consent.secret()),
            &client_id,
            expires_at,
            pending,
            now(),
        )?;
        Ok(consent)
    }

    /// Takes the request a consent form answers: once only, before it
    /// expires, and only when `same_browser` accepts the browser it is bound
    /// to; otherwise it is left for its own browser.
    pub fn take_pending(
        &self,
        consent: &str,
        same_browser: impl FnOnce(&SecretDigest) -> bool,
    ) -> Result<AuthorizationRequest, NotTaken> {
        let mut inner = self.lock();
        let consent = key(consent);
        let (_, pending) = inner.pending.get(&consent).ok_or(NotTaken::Unknown)?;
        if now() >= pending.expires_at {
            inner.pending.remove(&consent);
            return Err(NotTaken::Unknown);
        }
        if !same_browser(&pending.browser) {
            return Err(NotTaken::OtherBrowser);
        }
        let pending = inner.pending.remove(&consent).ok_or(NotTaken::Unknown)?;
        Ok(pending.request)
    }

    /// Issues an authorization code for an approved request.
    pub fn issue_code(&self, approved: Approved) -> Result<Secret, Busy> {
        let code = Secret::generate().map_err(|_| Busy::Random)?;
        let client_id = approved.request.client_id.clone();
        let mut inner = self.lock();
        let grant = GrantId(inner.next_grant);
        inner.next_grant += 1;
        let expires_at = deadline(CODE_LIFETIME);
        // Used codes stay a while longer, so a late replay still revokes.
        let evict_at = expires_at.saturating_add(CONSENT_LIFETIME.as_secs());
        let entry = Code {
            approved,
            expires_at,
            grant,
            redeemed: false,
        };
        inner
            .codes
            .insert(key(code.secret()), &client_id, evict_at, entry, now())?;
        Ok(code)
    }

    /// Redeems a code presented by `client_id` and issues its tokens, in one
    /// step under the lock: a replay arriving at any moment finds either an
    /// unused code or the tokens it must revoke (RFC 6749 §4.1.2), never a
    /// redemption whose tokens are yet to be stored.
    ///
    /// The first attempt by the client the code was issued to uses it up
    /// whatever its outcome (`check` refusing it included); a second one
    /// revokes what the first obtained. A code presented by another client is
    /// refused and left as it was, so nobody can burn or revoke another
    /// client's grant with a leaked code (RFC 6749 §4.1.3: the code must have
    /// been issued to the authenticated client).
    pub fn redeem_code<E>(
        &self,
        code: &str,
        client_id: &str,
        with_refresh_token: bool,
        check: impl FnOnce(&Approved) -> Result<(), E>,
    ) -> Result<(Approved, GrantId, Issued), Redeem<E>> {
        let secrets = Secrets::generate(with_refresh_token).map_err(Redeem::Busy)?;
        let now = now();
        let mut inner = self.lock();
        let (owner, entry) = inner
            .codes
            .get_mut(&key(code))
            .ok_or(Redeem::Refused(Refused::Invalid))?;
        if owner != client_id {
            return Err(Redeem::Refused(Refused::Invalid));
        }
        if entry.redeemed {
            let grant = entry.grant;
            inner.revoke(grant);
            return Err(Redeem::Refused(Refused::Replayed));
        }
        entry.redeemed = true;
        if now >= entry.expires_at {
            return Err(Redeem::Refused(Refused::Invalid));
        }
        check(&entry.approved).map_err(Redeem::Check)?;
        let approved = entry.approved.clone();
        let grant = entry.grant;
        let issued = inner
            .store_tokens(
                secrets,
                client_id,
                approved.request.scope.clone(),
                Some(approved.user.clone()),
                grant,
                now,
            )
            .map_err(|full| Redeem::Busy(full.into()))?;
        Ok((approved, grant, issued))
    }

    /// Revokes every token of `grant` (its tokens could not be completed).
    pub fn revoke(&self, grant: GrantId) {
        self.lock().revoke(grant);
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
        user: Option<String>,
        grant: GrantId,
        with_refresh_token: bool,
    ) -> Result<Issued, Busy> {
        let secrets = Secrets::generate(with_refresh_token)?;
        let now = now();
        Ok(self
            .lock()
            .store_tokens(secrets, client_id, scope, user, grant, now)?)
    }

    /// Rotates a refresh token of `client_id` (RFC 6749 §6, RFC 9700
    /// §4.14.2): `scope` picks the new tokens' scope from what the token was
    /// issued for; the new tokens are stored and the old refresh token spent
    /// in one step under the lock. A refused request (`scope` says no, or the
    /// token maps are full) leaves the token as it was, so a retry is not
    /// taken for a replay; presenting a spent token revokes its grant.
    pub fn refresh<E>(
        &self,
        token: &str,
        client_id: &str,
        scope: impl FnOnce(Option<&str>) -> Result<Option<String>, E>,
    ) -> Result<(Option<String>, Issued), Redeem<E>> {
        let secrets = Secrets::generate(true).map_err(Redeem::Busy)?;
        let now = now();
        let mut inner = self.lock();
        let token_key = key(token);
        let (_, entry) = inner
            .refresh
            .get(&token_key)
            .ok_or(Redeem::Refused(Refused::Invalid))?;
        if entry.info.client_id != client_id || now >= entry.info.expires_at {
            return Err(Redeem::Refused(Refused::Invalid));
        }
        if !entry.active {
            let grant = entry.info.grant;
            inner.revoke(grant);
            return Err(Redeem::Refused(Refused::Replayed));
        }
        let original = entry.info.clone();
        let scope = scope(original.scope.as_deref()).map_err(Redeem::Check)?;
        let issued = inner
            .store_tokens(
                secrets,
                client_id,
                scope.clone(),
                original.user,
                original.grant,
                now,
            )
            .map_err(|full| Redeem::Busy(full.into()))?;
        if let Some((_, entry)) = inner.refresh.get_mut(&token_key) {
            entry.active = false;
        }
        Ok((scope, issued))
    }

    /// What an unexpired access token is good for.
    pub fn access_token(&self, token: &str) -> Option<TokenInfo> {
        let info = self
            .lock()
            .access
            .get(&key(token))
            .map(|(_, t)| t.clone())?;
        (now() < info.expires_at).then_some(info)
    }

    /// Drops everything expired. Run periodically.
    pub fn sweep(&self) {
        let now = now();
        let mut inner = self.lock();
        inner.pending.sweep(now);
        inner.codes.sweep(now);
        inner.access.sweep(now);
        inner.refresh.sweep(now);
    }
}
