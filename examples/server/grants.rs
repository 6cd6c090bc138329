//! Authorization state: consent requests waiting for the user, authorization
//! codes, access and refresh tokens, behind [`GrantStore`].
//!
//! Every value handed out is 256 random bits ([`Secret::generate`]); stores
//! keep its SHA-256 digest, so they hold nothing a client could use. Tokens
//! issued from one authorization form a grant: when a code or a rotated
//! refresh token is replayed, the whole grant is revoked (RFC 6749 §4.1.2,
//! RFC 9700 §4.14.2), through an index from the grant to its tokens.
//!
//! Bounds never refuse everyone ([`crate::bounded`]): consent requests are
//! bounded per requesting address (and per host of a URL client), codes per
//! approving address, tokens per client; a full bound drops the offender's
//! oldest entries. A rotated refresh token leaves only a small replay marker.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tower_dcr::{Secret, SecretDigest};

use crate::bounded::{Bounded, Bounds, Key};

mod postgres;
mod sqlite;

pub use postgres::PostgresGrants;
pub use sqlite::SqliteGrants;

/// How long a consent page can be answered.
pub const CONSENT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Consent requests kept, in all, per requesting address and per URL-client
/// host: each `GET /authorize` adds one, so these bound what an anonymous
/// caller can take; past them, that address's (or host's) oldest goes.
pub const PENDING_BOUNDS: Bounds = Bounds {
    total: 10_000,
    per_owner: 100,
    per_group: 1_000,
};
/// Authorization codes kept (used ones too, for replay detection), in all and
/// per approving address.
pub const CODE_BOUNDS: Bounds = Bounds {
    total: 10_000,
    per_owner: 1_000,
    per_group: usize::MAX,
};
/// Live access tokens, in all and per client: past its bound, a client's
/// oldest access token is revoked.
pub const ACCESS_BOUNDS: Bounds = Bounds {
    total: 50_000,
    per_owner: 1_000,
    per_group: usize::MAX,
};
/// Live refresh tokens, in all and per client.
pub const REFRESH_BOUNDS: Bounds = Bounds {
    total: 100_000,
    per_owner: 10_000,
    per_group: usize::MAX,
};
/// Replay markers of rotated refresh tokens, in all and per client; a marker
/// that goes only loses the detection of that old token's reuse.
pub const SPENT_BOUNDS: Bounds = Bounds {
    total: 100_000,
    per_owner: 10_000,
    per_group: usize::MAX,
};
/// How long an authorization code can be redeemed (RFC 6749 §4.1.2: short).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long an access token works.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long a refresh token works.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

fn key(value: &str) -> Key {
    *SecretDigest::of(value).as_bytes()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who a bound counts a request against: its client address, an IPv6 client
/// by its /64 (one host usually holds a whole /64).
pub fn caller(peer: Option<SocketAddr>) -> String {
    match peer.map(|p| p.ip().to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// A validated authorization request (RFC 6749 §4.1.1, OpenID Connect Core
/// §3.1.2.1). Every value is bounded in length before it is kept here.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Approved {
    pub request: AuthorizationRequest,
    /// When the user authenticated (approved), seconds since the epoch.
    pub auth_time: u64,
    /// The user who approved.
    pub user: String,
}

/// Identifies the tokens issued from one authorization: random, so that
/// several instances on one store never pick the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GrantId(pub u64);

impl GrantId {
    fn generate() -> Result<Self, Busy> {
        let mut bytes = [0; 8];
        getrandom::fill(&mut bytes).map_err(|_| Busy::Random)?;
        Ok(Self(u64::from_be_bytes(bytes)))
    }
}

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

/// A consent request waiting for the user.
#[derive(Clone, Debug)]
pub struct Pending {
    pub request: AuthorizationRequest,
    /// The digest of the consent cookie of the browser that asked
    /// (`authorize::browser`).
    pub browser: SecretDigest,
    pub expires_at: u64,
    /// The requesting address ([`caller`]), bounded apart from others.
    pub caller: String,
    /// The host of a URL client's `client_id`, bounded apart from others.
    pub url_client_host: Option<String>,
}

/// An authorization code.
#[derive(Clone, Debug)]
pub struct Code {
    pub approved: Approved,
    pub expires_at: u64,
    pub grant: GrantId,
    /// The approving address ([`caller`]), bounded apart from others.
    pub caller: String,
}

/// Tokens to keep in a grant: both or neither.
#[derive(Clone, Debug)]
pub struct NewTokens {
    /// The access token's digest and what it is good for.
    pub access: (Key, TokenInfo),
    /// The refresh token's digest and what it is good for.
    pub refresh: Option<(Key, TokenInfo)>,
}

/// What a presented refresh token is.
#[derive(Clone, Debug)]
pub enum RefreshState {
    /// Live: what it is good for.
    Live(TokenInfo),
    /// Rotated already: presenting it again is a replay.
    Spent { client_id: String, grant: GrantId },
}

/// Why a store did not do what was asked.
#[derive(Debug)]
pub enum GrantError {
    /// Unknown, expired, or issued to another client.
    Invalid,
    /// Already used: every token of its grant was revoked.
    Replayed,
    /// A consent answer posted by another browser than the one that asked.
    OtherBrowser,
    /// The store could not answer.
    Unavailable(tower_dcr::BoxError),
}

/// Where authorization state lives. Every method is one atomic step, also
/// across server instances sharing a store: a code is redeemed once, a
/// refresh token rotated once, and tokens are never kept in a revoked grant.
#[async_trait]
pub trait GrantStore: Send + Sync + 'static {
    /// Keeps a consent request under the digest of its consent key.
    async fn begin(&self, consent: Key, pending: Pending) -> Result<(), GrantError>;

    /// Takes the request a consent form answers, once, before it expires,
    /// and only when `browser` is the digest it is bound to; otherwise it is
    /// left for its own browser (`OtherBrowser`).
    async fn take_pending(
        &self,
        consent: &Key,
        browser: Option<&SecretDigest>,
        now: u64,
    ) -> Result<AuthorizationRequest, GrantError>;

    /// Keeps an authorization code under its digest, in a new grant.
    async fn issue_code(&self, code: Key, entry: Code) -> Result<(), GrantError>;

    /// Marks a code of `client_id` used and returns what it stands for. Used
    /// already: revokes its grant (`Replayed`). Another client's code is
    /// `Invalid` and left as it was (RFC 6749 §4.1.3); an expired one is
    /// used up and `Invalid`.
    async fn redeem_code(
        &self,
        code: &Key,
        client_id: &str,
        now: u64,
    ) -> Result<(Approved, GrantId), GrantError>;

    /// Keeps tokens in their grant (`Replayed` when it was revoked).
    async fn store_tokens(&self, tokens: NewTokens, now: u64) -> Result<(), GrantError>;

    /// What a presented refresh token is, if anything.
    async fn refresh_token(&self, token: &Key) -> Result<Option<RefreshState>, GrantError>;

    /// Spends the live refresh token `old`, leaving a replay marker, and keeps
    /// `tokens` in its grant. If it was spent meanwhile, that is a replay:
    /// the grant is revoked (`Replayed`).
    async fn rotate(&self, old: &Key, tokens: NewTokens, now: u64) -> Result<(), GrantError>;

    /// Revokes every token of `grant`; tokens kept in it later are refused.
    async fn revoke(&self, grant: GrantId) -> Result<(), GrantError>;

    /// What a live access token is good for.
    async fn access_token(&self, token: &Key) -> Result<Option<TokenInfo>, GrantError>;

    /// Drops what has expired.
    async fn sweep(&self, now: u64) -> Result<(), GrantError>;
}

/// Where the signing keys of every instance on one database live: one row,
/// the sealed (encrypted) key set, with a version that every change bumps.
#[async_trait]
pub trait KeyTable: Send + Sync + 'static {
    /// The sealed key set and its version, if any.
    async fn load_keys(&self) -> Result<Option<(i64, Vec<u8>)>, GrantError>;

    /// Stores the first key set; `false` if another instance stored one first.
    async fn create_keys(&self, sealed: Vec<u8>) -> Result<bool, GrantError>;

    /// Replaces the key set of version `version`; `false` if it changed since.
    async fn replace_keys(&self, version: i64, sealed: Vec<u8>) -> Result<bool, GrantError>;
}

// ---------------------------------------------------------------------------
// In memory
// ---------------------------------------------------------------------------

/// A grant's tokens, so revoking it touches only them.
#[derive(Default)]
struct GrantEntry {
    tokens: std::collections::HashSet<Key>,
    /// Whether its code is still kept (then the entry stays, to refuse
    /// tokens after a replay).
    code: bool,
    revoked: bool,
}

struct Spent {
    grant: GrantId,
}

struct CodeEntry {
    code: Code,
    redeemed: bool,
}

struct Maps {
    pending: Bounded<Pending>,
    codes: Bounded<CodeEntry>,
    access: Bounded<TokenInfo>,
    refresh: Bounded<TokenInfo>,
    spent: Bounded<Spent>,
    grants: std::collections::HashMap<GrantId, GrantEntry>,
}

impl Default for Maps {
    fn default() -> Self {
        Self {
            pending: Bounded::new(PENDING_BOUNDS),
            codes: Bounded::new(CODE_BOUNDS),
            access: Bounded::new(ACCESS_BOUNDS),
            refresh: Bounded::new(REFRESH_BOUNDS),
            spent: Bounded::new(SPENT_BOUNDS),
            grants: std::collections::HashMap::new(),
        }
    }
}

impl Maps {
    /// Forgets tokens that went (expired, evicted or revoked) in their grants.
    fn tokens_gone(&mut self, gone: Vec<(Key, TokenInfo)>) {
        for (key, info) in gone {
            self.untrack(info.grant, &key);
        }
    }

    fn untrack(&mut self, grant: GrantId, key: &Key) {
        if let Some(entry) = self.grants.get_mut(&grant) {
            entry.tokens.remove(key);
            if entry.tokens.is_empty() && !entry.code {
                self.grants.remove(&grant);
            }
        }
    }

    fn codes_gone(&mut self, gone: Vec<(Key, CodeEntry)>) {
        for (_, entry) in gone {
            let grant = entry.code.grant;
            if let Some(g) = self.grants.get_mut(&grant) {
                g.code = false;
                if g.tokens.is_empty() {
                    self.grants.remove(&grant);
                }
            }
        }
    }

    fn revoke(&mut self, grant: GrantId) {
        let Some(entry) = self.grants.get_mut(&grant) else {
            return;
        };
        entry.revoked = true;
        let tokens = std::mem::take(&mut entry.tokens);
        let keep = entry.code;
        for key in tokens {
            self.access.remove(&key);
            self.refresh.remove(&key);
        }
        if !keep {
            self.grants.remove(&grant);
        }
    }

    fn store_tokens(&mut self, tokens: NewTokens, now: u64) -> Result<(), GrantError> {
        let grant = tokens.access.1.grant;
        let entry = self.grants.entry(grant).or_default();
        if entry.revoked {
            return Err(GrantError::Replayed);
        }
        entry.tokens.insert(tokens.access.0);
        if let Some((key, _)) = &tokens.refresh {
            entry.tokens.insert(*key);
        }
        let (key, info) = tokens.access;
        let client = info.client_id.clone();
        let gone = self
            .access
            .insert(key, &client, None, info.expires_at, info, now);
        self.tokens_gone(gone);
        if let Some((key, info)) = tokens.refresh {
            let client = info.client_id.clone();
            let gone = self
                .refresh
                .insert(key, &client, None, info.expires_at, info, now);
            self.tokens_gone(gone);
        }
        Ok(())
    }
}

/// The grant store of `--store memory`: in this process only, lost on
/// restart.
#[derive(Default)]
pub struct MemoryGrants {
    maps: Mutex<Maps>,
}

impl MemoryGrants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        // A panic elsewhere never leaves the maps inconsistent: keep serving.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl GrantStore for MemoryGrants {
    async fn begin(&self, consent: Key, pending: Pending) -> Result<(), GrantError> {
        let caller = pending.caller.clone();
        let host = pending.url_client_host.clone();
        let expires_at = pending.expires_at;
        self.lock().pending.insert(
            consent,
            &caller,
            host.as_deref(),
            expires_at,
            pending,
            now(),
        );
        Ok(())
    }

    async fn take_pending(
        &self,
        consent: &Key,
        browser: Option<&SecretDigest>,
        now: u64,
    ) -> Result<AuthorizationRequest, GrantError> {
        let mut maps = self.lock();
        let (_, pending) = maps.pending.get(consent).ok_or(GrantError::Invalid)?;
        if now >= pending.expires_at {
            maps.pending.remove(consent);
            return Err(GrantError::Invalid);
        }
        let same = browser.is_some_and(|b| b.as_bytes() == pending.browser.as_bytes());
        if !same {
            return Err(GrantError::OtherBrowser);
        }
        let pending = maps.pending.remove(consent).ok_or(GrantError::Invalid)?;
        Ok(pending.request)
    }

    async fn issue_code(&self, code: Key, entry: Code) -> Result<(), GrantError> {
        let mut maps = self.lock();
        maps.grants.entry(entry.grant).or_default().code = true;
        // Used codes stay a while longer, so a late replay still revokes.
        let evict_at = entry.expires_at.saturating_add(CONSENT_LIFETIME.as_secs());
        let caller = entry.caller.clone();
        let gone = maps.codes.insert(
            code,
            &caller,
            None,
            evict_at,
            CodeEntry {
                code: entry,
                redeemed: false,
            },
            now(),
        );
        maps.codes_gone(gone);
        Ok(())
    }

    async fn redeem_code(
        &self,
        code: &Key,
        client_id: &str,
        now: u64,
    ) -> Result<(Approved, GrantId), GrantError> {
        let mut maps = self.lock();
        let entry = maps.codes.get_mut(code).ok_or(GrantError::Invalid)?;
        if entry.code.approved.request.client_id != client_id {
            return Err(GrantError::Invalid);
        }
        let grant = entry.code.grant;
        if entry.redeemed {
            maps.revoke(grant);
            return Err(GrantError::Replayed);
        }
        entry.redeemed = true;
        if now >= entry.code.expires_at {
            return Err(GrantError::Invalid);
        }
        Ok((entry.code.approved.clone(), grant))
    }

    async fn store_tokens(&self, tokens: NewTokens, now: u64) -> Result<(), GrantError> {
        self.lock().store_tokens(tokens, now)
    }

    async fn refresh_token(&self, token: &Key) -> Result<Option<RefreshState>, GrantError> {
        let maps = self.lock();
        if let Some((_, info)) = maps.refresh.get(token) {
            return Ok(Some(RefreshState::Live(info.clone())));
        }
        Ok(maps
            .spent
            .get(token)
            .map(|(client_id, spent)| RefreshState::Spent {
                client_id: client_id.to_owned(),
                grant: spent.grant,
            }))
    }

    async fn rotate(&self, old: &Key, tokens: NewTokens, now: u64) -> Result<(), GrantError> {
        let mut maps = self.lock();
        let Some(info) = maps.refresh.remove(old) else {
            if let Some((_, spent)) = maps.spent.get(old) {
                let grant = spent.grant;
                maps.revoke(grant);
                return Err(GrantError::Replayed);
            }
            return Err(GrantError::Invalid);
        };
        if let Err(error) = maps.store_tokens(tokens, now) {
            // Revoked meanwhile: the old token goes with its grant.
            maps.untrack(info.grant, old);
            return Err(error);
        }
        maps.untrack(info.grant, old);
        let gone = maps.spent.insert(
            *old,
            &info.client_id,
            None,
            info.expires_at,
            Spent { grant: info.grant },
            now,
        );
        drop(gone);
        Ok(())
    }

    async fn revoke(&self, grant: GrantId) -> Result<(), GrantError> {
        self.lock().revoke(grant);
        Ok(())
    }

    async fn access_token(&self, token: &Key) -> Result<Option<TokenInfo>, GrantError> {
        Ok(self.lock().access.get(token).map(|(_, t)| t.clone()))
    }

    async fn sweep(&self, now: u64) -> Result<(), GrantError> {
        let mut maps = self.lock();
        maps.pending.sweep(now);
        let gone = maps.codes.sweep(now);
        maps.codes_gone(gone);
        let gone = maps.access.sweep(now);
        maps.tokens_gone(gone);
        let gone = maps.refresh.sweep(now);
        maps.tokens_gone(gone);
        maps.spent.sweep(now);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// What the endpoints call
// ---------------------------------------------------------------------------

/// The values of tokens about to be issued, drawn before the store is asked.
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

    /// The tokens to keep, and the answer once they are kept.
    fn into_tokens(
        self,
        client_id: &str,
        scope: Option<String>,
        user: Option<String>,
        grant: GrantId,
        now: u64,
    ) -> (NewTokens, Issued) {
        let info = |lifetime: Duration| TokenInfo {
            client_id: client_id.to_owned(),
            scope: scope.clone(),
            expires_at: now.saturating_add(lifetime.as_secs()),
            user: user.clone(),
            grant,
        };
        let tokens = NewTokens {
            access: (key(self.access_token.secret()), info(ACCESS_TOKEN_LIFETIME)),
            refresh: self
                .refresh_token
                .as_ref()
                .map(|r| (key(r.secret()), info(REFRESH_TOKEN_LIFETIME))),
        };
        let issued = Issued {
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            expires_in: ACCESS_TOKEN_LIFETIME.as_secs(),
        };
        (tokens, issued)
    }
}

/// Why something could not be kept.
#[derive(Debug)]
pub enum Busy {
    /// The grant store could not answer (logged at error level).
    Unavailable,
    /// The OS random number generator failed.
    Random,
}

/// Why a consent form's request was not taken.
#[derive(Debug)]
pub enum NotTaken {
    /// Unknown, expired or already answered.
    Unknown,
    /// Posted by another browser than the one that asked.
    OtherBrowser,
    /// The grant store could not answer.
    Busy,
}

/// Why redeeming a code or a refresh token issued nothing.
#[derive(Debug)]
pub enum Redeem<E> {
    /// The code or token itself was refused.
    Refused(Refused),
    /// The caller's check refused the request.
    Check(E),
    /// The tokens could not be kept.
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

/// A store's transaction lost a race with another (a serialization failure,
/// a deadlock) and was rolled back: nothing was written, and the step may run
/// again. Carried in [`GrantError::Unavailable`].
#[derive(Debug, thiserror::Error)]
#[error("the transaction lost a race and was rolled back: {0}")]
pub struct Conflict(pub tower_dcr::BoxError);

/// Runs a step of the store again (at most three times more) when it lost a
/// race ([`Conflict`]).
async fn again<T, F, Fut>(mut step: F) -> Result<T, GrantError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GrantError>>,
{
    let mut attempt = 0;
    loop {
        match step().await {
            Err(GrantError::Unavailable(error)) if attempt < 3 && error.is::<Conflict>() => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            other => return other,
        }
    }
}

fn unavailable(error: &tower_dcr::BoxError) -> Busy {
    tracing::error!(%error, "the grant store failed");
    Busy::Unavailable
}

impl<E> From<GrantError> for Redeem<E> {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::Invalid | GrantError::OtherBrowser => Self::Refused(Refused::Invalid),
            GrantError::Replayed => Self::Refused(Refused::Replayed),
            GrantError::Unavailable(error) => Self::Busy(unavailable(&error)),
        }
    }
}

impl From<GrantError> for Busy {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::Unavailable(error) => unavailable(&error),
            // Only stores that fail answer these where `Busy` is expected.
            GrantError::Invalid | GrantError::OtherBrowser | GrantError::Replayed => {
                Self::Unavailable
            }
        }
    }
}

/// The authorization state of the running server.
#[derive(Clone)]
pub struct Grants {
    store: Arc<dyn GrantStore>,
}

impl Default for Grants {
    fn default() -> Self {
        Self::new(Arc::new(MemoryGrants::default()))
    }
}

impl Grants {
    /// Grants kept in `store`.
    pub fn new(store: Arc<dyn GrantStore>) -> Self {
        Self { store }
    }

    /// Keeps a request until the user decides, bound to the browser that
    /// asked (the digest of its consent cookie) and counted against the
    /// address that asked (`caller`) and, for a URL client, its host;
    /// returns the consent key that the form must post back.
    pub async fn begin(
        &self,
        request: AuthorizationRequest,
        browser: SecretDigest,
        caller: String,
        url_client_host: Option<String>,
    ) -> Result<Secret, Busy> {
        let consent = Secret::generate().map_err(|_| Busy::Random)?;
        let pending = Pending {
            request,
            browser,
            expires_at: now().saturating_add(CONSENT_LIFETIME.as_secs()),
            caller,
            url_client_host,
        };
        let consent_key = key(consent.secret());
        again(|| self.store.begin(consent_key, pending.clone())).await?;
        Ok(consent)
    }

    /// Takes the request a consent form answers: once only, before it
    /// expires, and only when `browser` (the digest of the posting browser's
    /// consent cookie) is the one it is bound to; otherwise it is left for
    /// its own browser.
    pub async fn take_pending(
        &self,
        consent: &str,
        browser: Option<SecretDigest>,
    ) -> Result<AuthorizationRequest, NotTaken> {
        let (consent, now) = (key(consent), now());
        again(|| self.store.take_pending(&consent, browser.as_ref(), now))
            .await
            .map_err(|error| match error {
                GrantError::Invalid | GrantError::Replayed => NotTaken::Unknown,
                GrantError::OtherBrowser => NotTaken::OtherBrowser,
                GrantError::Unavailable(error) => {
                    unavailable(&error);
                    NotTaken::Busy
                }
            })
    }

    /// Issues an authorization code for an approved request, counted against
    /// the approving address (`caller`).
    pub async fn issue_code(&self, approved: Approved, caller: String) -> Result<Secret, Busy> {
        let code = Secret::generate().map_err(|_| Busy::Random)?;
        let entry = Code {
            approved,
            expires_at: now().saturating_add(CODE_LIFETIME.as_secs()),
            grant: GrantId::generate()?,
            caller,
        };
        let code_key = key(code.secret());
        again(|| self.store.issue_code(code_key, entry.clone())).await?;
        Ok(code)
    }

    /// Redeems a code presented by `client_id` and keeps its tokens. A replay
    /// arriving at any moment finds either an unused code or a grant it
    /// revokes, and tokens are never kept in a revoked grant (RFC 6749
    /// §4.1.2).
    ///
    /// The first attempt by the client the code was issued to uses it up
    /// whatever its outcome (`check` refusing it included); a second one
    /// revokes what the first obtained. A code presented by another client is
    /// refused and left as it was, so nobody can burn or revoke another
    /// client's grant with a leaked code (RFC 6749 §4.1.3: the code must have
    /// been issued to the authenticated client).
    pub async fn redeem_code<E>(
        &self,
        code: &str,
        client_id: &str,
        with_refresh_token: bool,
        check: impl FnOnce(&Approved) -> Result<(), E>,
    ) -> Result<(Approved, GrantId, Issued), Redeem<E>> {
        let secrets = Secrets::generate(with_refresh_token).map_err(Redeem::Busy)?;
        let now = now();
        let code = key(code);
        let (approved, grant) = again(|| self.store.redeem_code(&code, client_id, now)).await?;
        check(&approved).map_err(Redeem::Check)?;
        let (tokens, issued) = secrets.into_tokens(
            client_id,
            approved.request.scope.clone(),
            Some(approved.user.clone()),
            grant,
            now,
        );
        again(|| self.store.store_tokens(tokens.clone(), now)).await?;
        Ok((approved, grant, issued))
    }

    /// Revokes every token of `grant` (its tokens could not be completed).
    pub async fn revoke(&self, grant: GrantId) {
        if let Err(GrantError::Unavailable(error)) = again(|| self.store.revoke(grant)).await {
            unavailable(&error);
        }
    }

    /// Issues an access token in a grant of its own (client credentials).
    pub async fn issue_client_token(
        &self,
        client_id: &str,
        scope: Option<String>,
    ) -> Result<Issued, Busy> {
        let secrets = Secrets::generate(false)?;
        let now = now();
        let (tokens, issued) =
            secrets.into_tokens(client_id, scope, None, GrantId::generate()?, now);
        again(|| self.store.store_tokens(tokens.clone(), now)).await?;
        Ok(issued)
    }

    /// Rotates a refresh token of `client_id` (RFC 6749 §6, RFC 9700
    /// §4.14.2): `scope` picks the new tokens' scope from what the token was
    /// issued for; the old token is spent only as the new tokens are kept,
    /// in one step of the store. A refused request (`scope` says no, or the
    /// store cannot answer) leaves the token as it was, so a retry is not
    /// taken for a replay; presenting a spent token revokes its grant.
    pub async fn refresh<E>(
        &self,
        token: &str,
        client_id: &str,
        scope: impl FnOnce(Option<&str>) -> Result<Option<String>, E>,
    ) -> Result<(Option<String>, Issued), Redeem<E>> {
        let secrets = Secrets::generate(true).map_err(Redeem::Busy)?;
        let now = now();
        let token_key = key(token);
        let original = match self.store.refresh_token(&token_key).await? {
            None => return Err(Redeem::Refused(Refused::Invalid)),
            Some(RefreshState::Spent {
                client_id: owner,
                grant,
            }) => {
                if owner != client_id {
                    return Err(Redeem::Refused(Refused::Invalid));
                }
                again(|| self.store.revoke(grant)).await?;
                return Err(Redeem::Refused(Refused::Replayed));
            }
            Some(RefreshState::Live(info)) => info,
        };
        if original.client_id != client_id || now >= original.expires_at {
            return Err(Redeem::Refused(Refused::Invalid));
        }
        let scope = scope(original.scope.as_deref()).map_err(Redeem::Check)?;
        let (tokens, issued) =
            secrets.into_tokens(client_id, scope.clone(), original.user, original.grant, now);
        again(|| self.store.rotate(&token_key, tokens.clone(), now)).await?;
        Ok((scope, issued))
    }

    /// What an unexpired access token is good for; `None` too when the store
    /// cannot answer (logged): a token that cannot be checked is not active.
    pub async fn access_token(&self, token: &str) -> Option<TokenInfo> {
        let info = match self.store.access_token(&key(token)).await {
            Ok(info) => info?,
            Err(GrantError::Unavailable(error)) => {
                unavailable(&error);
                return None;
            }
            Err(_) => return None,
        };
        (now() < info.expires_at).then_some(info)
    }

    /// Drops everything expired. Run periodically.
    pub async fn sweep(&self) {
        if let Err(GrantError::Unavailable(error)) = self.store.sweep(now()).await {
            unavailable(&error);
        }
    }
}

/// The bounds scenario every SQL grant store passes: the same rows, the same
/// evictions, as the in-memory maps (`crate::bounded`).
#[cfg(test)]
pub(crate) mod bounds_scenario {
    use super::{GrantStore, now};

    /// A store's pending-request table with test-sized bounds (an owner holds
    /// 3 rows, a group 2, the table 6), written and read directly.
    pub(crate) trait SmallPendingTable: GrantStore {
        /// Inserts row `n` held by `owner` (in `group`), expiring at `expires_at`.
        async fn insert(
            &self,
            n: u8,
            owner: &'static str,
            group: Option<&'static str>,
            expires_at: u64,
        );
        /// The rows' numbers, oldest first.
        async fn keys(&self) -> Vec<u8>;
    }

    /// An owner past its bound loses its own oldest rows, a group its oldest,
    /// a full table its expired rows first, then the oldest row of the owner
    /// holding the most; the sweep drops expired rows.
    pub(crate) async fn check(store: &impl SmallPendingTable) {
        let later = now() + 600;
        store.insert(0, "victim", None, later).await;
        for n in 1..=5 {
            store.insert(n, "flooder", None, later).await;
        }
        assert_eq!(
            store.keys().await,
            [0, 3, 4, 5],
            "the flooder's own oldest went"
        );
        for (n, owner) in [(6, "a"), (7, "b"), (8, "c")] {
            store.insert(n, owner, Some("host"), later).await;
        }
        assert_eq!(
            store.keys().await,
            [0, 3, 4, 5, 7, 8],
            "the host's oldest went"
        );
        store.insert(9, "d", None, later).await;
        assert_eq!(
            store.keys().await,
            [0, 4, 5, 7, 8, 9],
            "the largest holder's oldest went"
        );
        store.insert(10, "e", None, now() - 1).await;
        assert_eq!(store.keys().await, [0, 5, 7, 8, 9, 10]);
        store.insert(11, "f", None, later).await;
        assert_eq!(
            store.keys().await,
            [0, 5, 7, 8, 9, 11],
            "the expired row went first"
        );
        store.sweep(later).await.unwrap();
        assert!(store.keys().await.is_empty());
    }
}

#[cfg(test)]
mod tests {
    //! The attacks that turned each bound against all users (a few clients
    //! or callers flooding one map), each at the real bounds: the flooder's
    //! oldest entries give way, another client's flow still completes.

    use super::*;

    fn request(client_id: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: client_id.to_owned(),
            redirect_uri: "http://127.0.0.1/cb".to_owned(),
            redirect_uri_presented: true,
            scope: Some("openid".to_owned()),
            state: None,
            code_challenge: None,
            fragment: false,
            nonce: None,
            auth_time_required: false,
        }
    }

    fn approved(client_id: &str) -> Approved {
        Approved {
            request: request(client_id),
            auth_time: now(),
            user: "demo-user".to_owned(),
        }
    }

    fn ok(_: &Approved) -> Result<(), ()> {
        Ok(())
    }

    /// Runs a victim's whole flow from `caller`: consent, code, tokens.
    async fn victim_flow(grants: &Grants, client_id: &str, caller: &str) -> Issued {
        let browser = Secret::generate().unwrap();
        let consent = grants
            .begin(request(client_id), browser.digest(), caller.into(), None)
            .await
            .unwrap();
        let request = grants
            .take_pending(consent.secret(), Some(browser.digest()))
            .await
            .unwrap();
        let code = grants
            .issue_code(
                Approved {
                    request,
                    auth_time: now(),
                    user: "demo-user".into(),
                },
                caller.into(),
            )
            .await
            .unwrap();
        let (_, _, issued) = grants
            .redeem_code(code.secret(), client_id, true, ok)
            .await
            .unwrap();
        issued
    }

    /// Attack: 20,000 `/authorize` requests (then approvals) from 10 clients
    /// filled the pending and code maps, and every user's approval failed
    /// with `temporarily_unavailable` for 11 minutes.
    #[tokio::test]
    async fn ten_flooding_addresses_do_not_stop_another_users_flow() {
        let grants = Grants::default();
        let browser = Secret::generate().unwrap().digest();
        for n in 0..20_000 {
            let caller = format!("198.51.100.{}", n % 10);
            let client = format!("flooder-{}", n % 10);
            grants
                .begin(request(&client), browser, caller.clone(), None)
                .await
                .unwrap();
            grants.issue_code(approved(&client), caller).await.unwrap();
        }
        let issued = victim_flow(&grants, "victim", "192.0.2.1").await;
        assert!(
            grants
                .access_token(issued.access_token.secret())
                .await
                .is_some()
        );
    }

    /// Attack: 100 `GET /authorize` naming one public client locked that
    /// client's users out for 10 minutes (a per-client budget). Pending
    /// requests count against the address that asked: the flooder loses its
    /// own oldest, the client's other users are untouched.
    #[tokio::test]
    async fn requests_naming_a_victim_client_push_out_only_the_flooders_own() {
        let grants = Grants::default();
        let victim_browser = Secret::generate().unwrap();
        let waiting = grants
            .begin(
                request("public"),
                victim_browser.digest(),
                "192.0.2.1".into(),
                None,
            )
            .await
            .unwrap();
        let flood_browser = Secret::generate().unwrap();
        let mut flood = Vec::new();
        for _ in 0..1_000 {
            flood.push(
                grants
                    .begin(
                        request("public"),
                        flood_browser.digest(),
                        "203.0.113.9".into(),
                        None,
                    )
                    .await
                    .unwrap(),
            );
        }
        assert!(matches!(
            grants
                .take_pending(flood[0].secret(), Some(flood_browser.digest()))
                .await,
            Err(NotTaken::Unknown)
        ));
        assert!(
            grants
                .take_pending(flood[999].secret(), Some(flood_browser.digest()))
                .await
                .is_ok()
        );
        assert!(
            grants
                .take_pending(waiting.secret(), Some(victim_browser.digest()))
                .await
                .is_ok()
        );
        victim_flow(&grants, "public", "192.0.2.1").await;
    }

    /// Attack: 10,000 anonymous `/authorize` over 100 made-up URL client ids
    /// blocked all logins. Pending requests of URL clients also count
    /// against their host: a flood through many addresses at one host gives
    /// way within that host.
    #[tokio::test]
    async fn made_up_url_clients_at_one_host_stay_within_that_host() {
        let grants = Grants::default();
        let browser = Secret::generate().unwrap();
        for n in 0..10_000 {
            grants
                .begin(
                    request(&format!("https://evil.example/{}", n % 100)),
                    browser.digest(),
                    format!("198.51.{}.{}", n / 250, n % 250),
                    Some("evil.example".into()),
                )
                .await
                .unwrap();
        }
        let other_browser = Secret::generate().unwrap();
        let consent = grants
            .begin(
                request("https://good.example/app"),
                other_browser.digest(),
                "192.0.2.1".into(),
                Some("good.example".into()),
            )
            .await
            .unwrap();
        assert!(
            grants
                .take_pending(consent.secret(), Some(other_browser.digest()))
                .await
                .is_ok()
        );
        victim_flow(&grants, "registered", "192.0.2.2").await;
    }

    /// Attack: 50 clients × 1,000 `client_credentials` requests filled the
    /// live-token bound and `/token` answered 503 to every client for over
    /// 36 minutes. Now a full bound revokes the oldest token of the client
    /// holding the most; a client with few tokens keeps them.
    #[tokio::test]
    async fn fifty_clients_filling_the_token_bound_do_not_lock_out_another() {
        let grants = Grants::default();
        let light = grants.issue_client_token("light", None).await.unwrap();
        for n in 0..51_000 {
            grants
                .issue_client_token(&format!("machine-{}", n % 50), None)
                .await
                .unwrap();
        }
        let new = grants.issue_client_token("newcomer", None).await.unwrap();
        assert!(
            grants
                .access_token(light.access_token.secret())
                .await
                .is_some()
        );
        assert!(
            grants
                .access_token(new.access_token.secret())
                .await
                .is_some()
        );
        victim_flow(&grants, "victim", "192.0.2.1").await;
    }

    /// Attack: rotated refresh tokens kept their slot for 30 days, so 50,000
    /// refreshes locked every refresh-capable client out. A rotated token
    /// leaves only a replay marker, outside the live bound, and still
    /// revokes its grant when replayed (RFC 9700 §4.14.2).
    #[tokio::test]
    async fn rotated_refresh_tokens_leave_markers_not_live_tokens() {
        let grants = Grants::default();
        let victim = victim_flow(&grants, "victim", "192.0.2.1").await;
        let flooder = victim_flow(&grants, "flooder", "203.0.113.9").await;
        let first = flooder.refresh_token.unwrap();
        let mut current = first.secret().to_owned();
        let mut last = None;
        let mut recent = String::new();
        for n in 0..50_000 {
            if n == 49_000 {
                recent.clone_from(&current);
            }
            let (_, issued) = grants
                .refresh(&current, "flooder", |s: Option<&str>| {
                    Ok::<_, ()>(s.map(str::to_owned))
                })
                .await
                .unwrap();
            current = issued.refresh_token.as_ref().unwrap().secret().to_owned();
            last = Some(issued);
        }
        let (_, refreshed) = grants
            .refresh(
                victim.refresh_token.as_ref().unwrap().secret(),
                "victim",
                |s: Option<&str>| Ok::<_, ()>(s.map(str::to_owned)),
            )
            .await
            .unwrap();
        assert!(
            grants
                .access_token(refreshed.access_token.secret())
                .await
                .is_some()
        );
        // Markers are bounded per client too: the flooder's oldest went, and
        // with it only the detection of that old token's reuse.
        let last = last.unwrap();
        let forgotten = grants
            .refresh(first.secret(), "flooder", |s: Option<&str>| {
                Ok::<_, ()>(s.map(str::to_owned))
            })
            .await;
        assert!(matches!(forgotten, Err(Redeem::Refused(Refused::Invalid))));
        assert!(
            grants
                .access_token(last.access_token.secret())
                .await
                .is_some()
        );
        // A replay of a recently rotated token revokes the flooder's grant.
        let replay = grants
            .refresh(&recent, "flooder", |s: Option<&str>| {
                Ok::<_, ()>(s.map(str::to_owned))
            })
            .await;
        assert!(matches!(replay, Err(Redeem::Refused(Refused::Replayed))));
        assert!(
            grants
                .access_token(last.access_token.secret())
                .await
                .is_none()
        );
        assert!(
            grants
                .access_token(refreshed.access_token.secret())
                .await
                .is_some()
        );
    }

    /// Attack: a replayed code scanned every token under the global lock.
    /// Revocation follows the grant's own index: it removes that grant's
    /// tokens and no others, whatever else is held.
    #[tokio::test]
    async fn a_replayed_code_revokes_its_grant_through_the_index() {
        let grants = Grants::default();
        let mut others = Vec::new();
        for n in 0..49_000 {
            let issued = grants
                .issue_client_token(&format!("c{}", n % 49), None)
                .await
                .unwrap();
            if n % 7_000 == 0 {
                others.push(issued);
            }
        }
        let code = grants
            .issue_code(approved("victim"), "192.0.2.1".into())
            .await
            .unwrap();
        let (_, _, issued) = grants
            .redeem_code(code.secret(), "victim", true, ok)
            .await
            .unwrap();
        let replay = grants.redeem_code(code.secret(), "victim", true, ok).await;
        assert!(matches!(replay, Err(Redeem::Refused(Refused::Replayed))));
        assert!(
            grants
                .access_token(issued.access_token.secret())
                .await
                .is_none()
        );
        let refresh = grants
            .refresh(
                issued.refresh_token.as_ref().unwrap().secret(),
                "victim",
                |s: Option<&str>| Ok::<_, ()>(s.map(str::to_owned)),
            )
            .await;
        assert!(matches!(refresh, Err(Redeem::Refused(Refused::Invalid))));
        for other in others {
            assert!(
                grants
                    .access_token(other.access_token.secret())
                    .await
                    .is_some()
            );
        }
    }

    /// A step that lost a race (a rolled-back transaction) runs again, at
    /// most three times more; any other failure is answered at once.
    #[tokio::test]
    async fn a_step_that_lost_a_race_runs_again() {
        let conflict = || GrantError::Unavailable(Box::new(Conflict("40P01".into())));
        let mut calls = 0;
        let result = again(|| {
            calls += 1;
            let result = if calls < 3 {
                Err(conflict())
            } else {
                Ok(calls)
            };
            async move { result }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        let mut calls = 0;
        let result: Result<(), _> = again(|| {
            calls += 1;
            async { Err(conflict()) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 4);
        let mut calls = 0;
        let result: Result<(), _> = again(|| {
            calls += 1;
            async { Err(GrantError::Unavailable("down".into())) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    /// RFC 6749 §4.1.2: tokens are never kept in a grant that a replay
    /// revoked between the redemption and the keeping of its tokens.
    #[tokio::test]
    async fn tokens_are_not_kept_in_a_revoked_grant() {
        let store = MemoryGrants::default();
        let code = [7; 32];
        store
            .issue_code(
                code,
                Code {
                    approved: approved("c"),
                    expires_at: now() + 60,
                    grant: GrantId(1),
                    caller: "192.0.2.1".into(),
                },
            )
            .await
            .unwrap();
        store.redeem_code(&code, "c", now()).await.unwrap();
        assert!(matches!(
            store.redeem_code(&code, "c", now()).await,
            Err(GrantError::Replayed)
        ));
        let secrets = Secrets::generate(true).unwrap();
        let (tokens, issued) = secrets.into_tokens("c", None, None, GrantId(1), now());
        assert!(matches!(
            store.store_tokens(tokens, now()).await,
            Err(GrantError::Replayed)
        ));
        let access = key(issued.access_token.secret());
        assert!(store.access_token(&access).await.unwrap().is_none());
    }
}
