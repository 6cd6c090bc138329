//! Configuration: [`RegistrationBuilder`] collects it and checks it once, in
//! [`RegistrationBuilder::build`], never per request.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Registration;
use crate::config::{Access, ClientIdGenerator, PeerAddress, RatRotation, ServerKind, StaticToken};
use crate::events::EventHook;
use crate::metadata::Limits;
use crate::policy::{Profile, RegistrationHook};
use crate::store::ClientStore;
use crate::store::Quotas;

mod build;
mod checks;

/// The default grace of a replaced registration access token (see
/// [`RegistrationBuilder::registration_access_token_grace`]).
const DEFAULT_RAT_GRACE: Duration = Duration::from_secs(10 * 60);

/// A configuration error, reported by [`RegistrationBuilder::build`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The issuer is not an absolute URL without query and fragment (RFC 8414 §2).
    #[error("the issuer must be an absolute URL without query or fragment: {0}")]
    InvalidIssuer(String),
    /// The issuer uses `http` on a host that is not loopback.
    #[error("the issuer must use https (http is allowed only on localhost, 127.0.0.1 and [::1])")]
    InsecureIssuer,
    /// The endpoint path does not start with `/`, or has a query or fragment.
    #[error("the endpoint must be an absolute path without query or fragment: {0}")]
    InvalidEndpoint(String),
    /// [`RegistrationBuilder::access`] was not called.
    #[error(
        "choose open registration (.access(Access::Open)) or protected registration (.access(Access::protected(tokens))) explicitly"
    )]
    AccessNotChosen,
    /// Registration is protected, but there is no static token and the store
    /// cannot hold initial access tokens: nobody could ever register.
    #[error(
        "protected registration needs static initial access tokens or a store with the initial access token capability"
    )]
    NoInitialAccessTokens,
    /// A token or hook refers to a profile that is not configured.
    #[error("no profile named \"{0}\" is configured")]
    UnknownProfile(String),
    /// A static initial access token cannot be sent as a Bearer token: it is
    /// empty or has a character outside RFC 6750 §2.1's `b64token` (letters,
    /// digits, `-` `.` `_` `~` `+` `/`, then optional trailing `=`; so no space,
    /// quote, comma or colon), and no request could ever present it. The token
    /// is named by its identifier, `static-N` for the N-th static token given
    /// to the builder counting from 0, never by its value.
    #[error(
        "static initial access token {0} (static-N: the N-th static token given to the builder, from 0) \
         is not a b64token, so no request could present it in `Authorization: Bearer` (RFC 6750 §2.1): \
         use only letters, digits, - . _ ~ + / and trailing =, \
         for example a random base64url string such as tower_dcr::Secret::generate() makes"
    )]
    InvalidInitialAccessToken(String),
    /// Quotas are configured but the store cannot count clients.
    #[error("quotas need a store with the lifecycle capability")]
    QuotasNeedLifecycle,
    /// [`Registration::reaper`](crate::Registration::reaper) on a store that
    /// cannot list stale clients (no lifecycle capability).
    #[error("the reaper needs a store with the lifecycle capability")]
    ReaperNeedsLifecycle,
    /// An extension member name is one of the standard members.
    #[error("\"{0}\" is a standard member and cannot be configured as an extension member")]
    ReservedExtensionMember(String),
    /// The profile cannot work (for example its default auth method is not allowed).
    #[error("invalid profile: {0}")]
    InvalidProfile(String),
    /// The URL client policy cannot work (for example loopback documents with
    /// an issuer that is not on loopback), or its fetcher could not be built.
    #[error("invalid metadata document policy: {0}")]
    InvalidMetadataDocuments(String),
    /// The client assertion configuration cannot work (no replay store, an
    /// `aud` rule that accepts nothing, a CA that holds no certificate), or
    /// its fetcher could not be built.
    #[error("invalid client assertion configuration: {0}")]
    InvalidClientAssertions(String),
    /// A profile allows `private_key_jwt` or `client_secret_jwt`, but
    /// nothing verifies client assertions: configure
    /// `RegistrationBuilder::client_assertions` (feature `client-assertion`).
    #[error(
        "{0}, but client assertions are not configured: call .client_assertions(..) \
         (feature client-assertion), or remove the JWT methods from the profile"
    )]
    ClientAssertionsNeeded(String),
}

/// Builds a [`Registration`](crate::Registration) service. Start with
/// [`Registration::builder`](crate::Registration::builder).
///
/// ```
/// use tower_dcr::{Registration, MemoryStore};
///
/// let registration = Registration::builder("https://auth.example.com")
///     .endpoint("/register")
///     .open()
///     .store(MemoryStore::new())
///     .build()
///     .expect("valid configuration");
/// assert_eq!(
///     registration.registration_endpoint(),
///     "https://auth.example.com/register"
/// );
/// ```
#[must_use]
pub struct RegistrationBuilder {
    issuer: String,
    endpoint: Option<String>,
    access: Option<Access>,
    store: Option<Arc<dyn ClientStore>>,
    profile: Profile,
    profiles: HashMap<String, Profile>,
    hook: Option<Arc<dyn RegistrationHook>>,
    limits: Limits,
    extension_members: Vec<String>,
    issue_registration_access_token: bool,
    rat_rotation: RatRotation,
    rat_grace: Duration,
    rotate_client_secret_on_update: bool,
    client_id_generator: Option<ClientIdGenerator>,
    quotas: Quotas,
    last_used_interval: Option<Duration>,
    events: Option<Arc<dyn EventHook>>,
    peer_address: Option<PeerAddress>,
    server_kind: ServerKind,
    #[cfg(feature = "rate-limit")]
    rate_limit: Option<crate::rate_limit::RateLimit>,
    #[cfg(feature = "software-statement")]
    software_statements: Option<crate::software_statement::SoftwareStatementVerifier>,
    #[cfg(feature = "fetch")]
    fetcher: Option<Arc<dyn crate::fetch::Fetcher>>,
    #[cfg(feature = "client-id-metadata-document")]
    metadata_documents: Option<crate::metadata_document::MetadataDocuments>,
    #[cfg(feature = "client-assertion")]
    client_assertions: Option<crate::client_assertion::ClientAssertions>,
}

impl fmt::Debug for RegistrationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationBuilder")
            .field("issuer", &self.issuer)
            .field("endpoint", &self.endpoint)
            .field("profile", &self.profile)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl RegistrationBuilder {
    pub(crate) fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            endpoint: None,
            access: None,
            store: None,
            profile: Profile::default(),
            profiles: HashMap::new(),
            hook: None,
            limits: Limits::default(),
            extension_members: Vec::new(),
            issue_registration_access_token: true,
            rat_rotation: RatRotation::default(),
            rat_grace: DEFAULT_RAT_GRACE,
            rotate_client_secret_on_update: false,
            client_id_generator: None,
            quotas: Quotas::default(),
            last_used_interval: Some(Duration::from_secs(300)),
            events: None,
            peer_address: None,
            server_kind: ServerKind::default(),
            #[cfg(feature = "rate-limit")]
            rate_limit: None,
            #[cfg(feature = "software-statement")]
            software_statements: None,
            #[cfg(feature = "fetch")]
            fetcher: None,
            #[cfg(feature = "client-id-metadata-document")]
            metadata_documents: None,
            #[cfg(feature = "client-assertion")]
            client_assertions: None,
        }
    }

    /// The path of the registration endpoint on the issuer's origin (default:
    /// the issuer's path followed by `/register`). Management URLs are
    /// `{endpoint}/{client_id}`.
    pub fn endpoint(mut self, path: impl Into<String>) -> Self {
        self.endpoint = Some(path.into());
        self
    }

    /// Who may register clients (RFC 7591 §3): [`Access::Open`] or
    /// [`Access::Protected`], required (there is no default, so that nobody
    /// runs open registration by accident). The last call wins.
    pub fn access(mut self, access: Access) -> Self {
        self.access = Some(access);
        self.number_static_tokens();
        self
    }

    /// Open registration, the same as [`access(Access::Open)`](Self::access).
    pub fn open(self) -> Self {
        self.access(Access::Open)
    }

    /// Gives each static token its identifier, `static-N`.
    fn number_static_tokens(&mut self) {
        if let Some(Access::Protected { static_tokens }) = &mut self.access {
            for (index, token) in static_tokens.iter_mut().enumerate() {
                token.id = format!("static-{index}");
            }
        }
    }

    /// Adds static tokens to protected registration (turning it on).
    fn add_static_tokens(mut self, tokens: impl IntoIterator<Item = StaticToken>) -> Self {
        if !matches!(self.access, Some(Access::Protected { .. })) {
            self.access = Some(Access::protected(Vec::<StaticToken>::new()));
        }
        if let Some(Access::Protected { static_tokens }) = &mut self.access {
            static_tokens.extend(tokens);
        }
        self.number_static_tokens();
        self
    }

    /// Protected registration, with the store's tokens only.
    #[deprecated(note = "use `.access(Access::Protected { static_tokens: vec![] })`")]
    pub fn protected(self) -> Self {
        self.add_static_tokens([])
    }

    /// Protected registration with these static initial access tokens.
    #[deprecated(note = "use `.access(Access::protected(tokens))`")]
    pub fn initial_access_tokens<I, S>(self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.add_static_tokens(tokens.into_iter().map(StaticToken::new))
    }

    /// Protected registration with a static token bound to a named profile.
    #[deprecated(note = "use `.access(Access::Protected { static_tokens })` with \
                         `StaticToken::new(token).profile(name)`")]
    pub fn initial_access_token_for_profile(
        self,
        token: impl AsRef<str>,
        profile: impl Into<String>,
    ) -> Self {
        self.add_static_tokens([StaticToken::new(token).profile(profile)])
    }

    /// The client store (default: a new [`MemoryStore`](crate::store::MemoryStore)).
    /// A store shared with other parts of the host is passed the same way, as
    /// an `Arc<dyn ClientStore>` (taken as it is, not wrapped again) or an
    /// `Arc<S>`.
    pub fn store<S: ClientStore>(mut self, store: S) -> Self {
        let mut slot = Some(store);
        let shared = (&mut slot as &mut dyn std::any::Any)
            .downcast_mut::<Option<Arc<dyn ClientStore>>>()
            .and_then(Option::take);
        self.store = match (shared, slot) {
            (Some(shared), _) => Some(shared),
            (None, store) => store.map(|store| Arc::new(store) as Arc<dyn ClientStore>),
        };
        self
    }

    /// A store shared with other parts of the host.
    #[deprecated(note = "use `.store(store)`, which takes an `Arc<dyn ClientStore>` as it is")]
    pub fn shared_store(self, store: Arc<dyn ClientStore>) -> Self {
        self.store(store)
    }

    /// The rules of the default profile: open registration, and tokens without
    /// a profile (default: [`Profile::default`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// A named profile, for registrations with an initial access token bound to
    /// it. A client keeps its profile for its updates.
    pub fn named_profile(mut self, name: impl Into<String>, profile: Profile) -> Self {
        self.profiles.insert(name.into(), profile);
        self
    }

    /// The host's hook, run after the built-in rules on every registration and
    /// update.
    pub fn hook(mut self, hook: impl RegistrationHook) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Request size limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Extension members (beyond RFC 7591 and OIDC) to keep and echo. Other
    /// unknown members are ignored (RFC 7591 §2).
    pub fn extension_members<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extension_members = names.into_iter().map(Into::into).collect();
        self
    }

    /// Whether registrations get a registration access token for RFC 7592
    /// management (default: yes).
    pub fn issue_registration_access_token(mut self, issue: bool) -> Self {
        self.issue_registration_access_token = issue;
        self
    }

    /// When registration access tokens are replaced (default:
    /// [`RatRotation::OnUpdate`]).
    pub fn registration_access_token_rotation(mut self, rotation: RatRotation) -> Self {
        self.rat_rotation = rotation;
        self
    }

    /// How long a registration access token replaced by a rotation keeps
    /// working, unless the new token is used first (default: 10 minutes; zero:
    /// the old token dies at once). If the `200` that carried the new token is
    /// lost, the client can still read its configuration, or retry the update,
    /// with the old one (RFC 7592 §2.2), and gets a new token that stays valid
    /// (a request with the old token is never answered with the old token). A
    /// retry with the old token keeps the old token's original deadline, so
    /// the grace is never extended. The price: within the grace, two updates
    /// presenting the same token may both succeed.
    ///
    /// Why 10 minutes: long enough for a client to retry after a lost answer,
    /// through a timeout, a restart and a few backed-off retries; short enough
    /// that a stale copy of the old token (a log, a backup of the client's
    /// configuration) is useless soon after. A client that did get the answer
    /// ends the grace itself with its first use of the new token.
    pub fn registration_access_token_grace(mut self, grace: Duration) -> Self {
        self.rat_grace = grace;
        self
    }

    /// Whether every successful `PUT` issues a new client secret (default: no;
    /// the secret is kept while the auth method still uses one).
    pub fn rotate_client_secret_on_update(mut self, rotate: bool) -> Self {
        self.rotate_client_secret_on_update = rotate;
        self
    }

    /// Generates `client_id` values instead of the default 128 random bits. The
    /// identifiers must be unique and unguessable enough for your deployment;
    /// they appear in URLs, so use URL-safe characters.
    pub fn client_id_generator(
        mut self,
        generate: impl Fn() -> String + Send + Sync + 'static,
    ) -> Self {
        self.client_id_generator = Some(Arc::new(generate));
        self
    }

    /// Quotas on dynamically registered clients (needs a store with the
    /// lifecycle capability). When one is full, registration answers `429`
    /// until the reaper or a deletion frees room.
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// What the host is: a plain OAuth 2.0 authorization server, or an OpenID
    /// Provider (the default). It decides which members
    /// [`discovery_metadata`](crate::Registration::discovery_metadata) lists:
    /// only an OpenID Provider gets `subject_types_supported` and the ID token,
    /// userinfo and request object algorithm lists.
    pub fn server_kind(mut self, kind: ServerKind) -> Self {
        self.server_kind = kind;
        self
    }

    /// How often at most the host helpers write a client's last use to the store
    /// (default: every 5 minutes per client; `None`: never record).
    pub fn last_used_interval(mut self, interval: Option<Duration>) -> Self {
        self.last_used_interval = interval;
        self
    }

    /// Receives an [`Event`](crate::events::Event) for every registration,
    /// update, deletion, rejection, rate limit and reap.
    pub fn events(mut self, hook: impl EventHook) -> Self {
        self.events = Some(Arc::new(hook));
        self
    }

    /// How to find the peer address in a request's extensions. The default
    /// reads axum's `ConnectInfo<SocketAddr>` (feature `axum`, which
    /// `rate-limit` turns on; serve the router with
    /// `into_make_service_with_connect_info::<SocketAddr>()`), then a bare
    /// [`SocketAddr`] extension. Set this for any other place, such as a
    /// connection type of your own:
    /// `.peer_address(|ext| ext.get::<MyPeer>().map(|p| p.0))`.
    ///
    /// Without an address, every such request shares one rate-limit bucket
    /// (the service says so once, at `warn`, at the first such request).
    pub fn peer_address(
        mut self,
        find: impl Fn(&http::Extensions) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> Self {
        self.peer_address = Some(Arc::new(find));
        self
    }

    /// Limits how fast registrations are accepted (`429` with `Retry-After` over
    /// the limit).
    #[cfg(feature = "rate-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
    pub fn rate_limit(mut self, limit: crate::rate_limit::RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Verifies software statements (RFC 7591 §2.3): a valid statement's claims
    /// override the same members of the request, and the statement is stored
    /// and echoed unmodified. Without a verifier, a `software_statement` member
    /// is ignored (RFC 7591 §2.3 allows it) and not stored.
    #[cfg(feature = "software-statement")]
    #[cfg_attr(docsrs, doc(cfg(feature = "software-statement")))]
    pub fn software_statements(
        mut self,
        verifier: crate::software_statement::SoftwareStatementVerifier,
    ) -> Self {
        self.software_statements = Some(verifier);
        self
    }

    /// The fetcher for documents the server must retrieve, such as
    /// `sector_identifier_uri` (OIDC DCR §5); use
    /// [`GuardedFetcher`](crate::fetch::GuardedFetcher), the SSRF guard.
    /// Without one, registrations with a `sector_identifier_uri` are refused,
    /// since it cannot be verified.
    #[cfg(feature = "fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
    pub fn fetcher(mut self, fetcher: impl crate::fetch::Fetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Accepts URL client ids (OAuth Client ID Metadata Documents) under this
    /// policy; off by default. See [`crate::metadata_document`].
    #[cfg(feature = "client-id-metadata-document")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client-id-metadata-document")))]
    pub fn metadata_documents(
        mut self,
        policy: crate::metadata_document::MetadataDocuments,
    ) -> Self {
        self.metadata_documents = Some(policy);
        self
    }

    /// Verifies JWT client assertions (`private_key_jwt`, `client_secret_jwt`)
    /// in [`Registration::authenticate_client`](crate::Registration::authenticate_client) with these rules. See
    /// [`crate::client_assertion`].
    #[cfg(feature = "client-assertion")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client-assertion")))]
    pub fn client_assertions(mut self, rules: crate::client_assertion::ClientAssertions) -> Self {
        self.client_assertions = Some(rules);
        self
    }
}

impl RegistrationBuilder {
    /// Checks the configuration and builds the service.
    pub fn build(self) -> Result<Registration, ConfigError> {
        self.into_config().map(Registration::from_config)
    }
}

#[cfg(test)]
mod build_tests {
    use super::*;

    #[test]
    fn issuer_must_be_https_unless_loopback() {
        let build = |issuer: &str| Registration::builder(issuer).open().build().map(|_| ());
        assert_eq!(
            build("http://auth.example.com"),
            Err(ConfigError::InsecureIssuer)
        );
        assert!(build("http://127.0.0.1:8080").is_ok());
        assert!(build("http://localhost:8080").is_ok());
        assert!(build("https://auth.example.com").is_ok());
        assert!(matches!(
            build("https://a.example/?q"),
            Err(ConfigError::InvalidIssuer(_))
        ));
        assert!(matches!(
            build("not a url"),
            Err(ConfigError::InvalidIssuer(_))
        ));
    }

    #[test]
    fn access_must_be_chosen() {
        let err = Registration::builder("https://a.example")
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::AccessNotChosen);
    }

    #[test]
    fn endpoint_follows_issuer_path() {
        let r = Registration::builder("https://a.example/tenant/")
            .open()
            .build()
            .unwrap();
        assert_eq!(
            r.registration_endpoint(),
            "https://a.example/tenant/register"
        );
        let r = Registration::builder("https://a.example")
            .endpoint("/oauth/register")
            .open()
            .build()
            .unwrap();
        assert_eq!(
            r.registration_endpoint(),
            "https://a.example/oauth/register"
        );
        for bad in ["register", "/", "/r?x", "/r/"] {
            let e = Registration::builder("https://a.example")
                .endpoint(bad)
                .open()
                .build();
            assert!(matches!(e, Err(ConfigError::InvalidEndpoint(_))), "{bad}");
        }
    }

    #[test]
    fn standard_members_cannot_be_extensions() {
        for name in ["client_name", "client_secret", "client_name#fr"] {
            let e = Registration::builder("https://a.example")
                .open()
                .extension_members([name])
                .build();
            assert!(
                matches!(e, Err(ConfigError::ReservedExtensionMember(_))),
                "{name}"
            );
        }
    }
}
