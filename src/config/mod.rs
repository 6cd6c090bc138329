//! Configuration: the choices that belong to the builder
//! ([`RegistrationBuilder`](crate::RegistrationBuilder)) alone ([`Access`],
//! [`RatRotation`], [`ServerKind`]), and the checked runtime configuration the
//! service runs with. The builder itself lives with the service it builds.
//!
//! Every other argument of the builder lives in the module of its concept
//! ([`Profile`](crate::Profile) in [`policy`](crate::policy),
//! [`Quotas`](crate::Quotas) in [`store`](crate::store), ...), and the common
//! ones are re-exported at the crate root: one path per type, plus the root.
//!
#![doc = include_str!("../../docs/configuration.md")]
//!
#![doc = include_str!("../../docs/operating.md")]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::credentials::SecretDigest;
use crate::events::{Event, EventHook, EventKind, Operation};
use crate::metadata::ClientMetadata;
use crate::policy::{Profile, RegistrationHook};
use crate::store::Quotas;
use crate::store::{ClientRecord, ClientStore};

/// When a registration access token is replaced (RFC 7592 §2.2 allows a new one
/// on every update).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RatRotation {
    /// Keep the token for the life of the registration.
    Never,
    /// Issue a new token in every successful `PUT` response (the default); the
    /// old one stops working at the first use of the new one, or when the
    /// grace of [`RegistrationBuilder::registration_access_token_grace`](crate::RegistrationBuilder::registration_access_token_grace) ends.
    #[default]
    OnUpdate,
}

/// What the host is, for its discovery document
/// ([`RegistrationBuilder::server_kind`](crate::RegistrationBuilder::server_kind)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServerKind {
    /// A plain OAuth 2.0 authorization server (RFC 8414): discovery lists the
    /// registration endpoint, auth methods, grant and response types, scopes
    /// and the JWT client authentication algorithms, no OpenID Connect member.
    OAuthAuthorizationServer,
    /// An OpenID Provider (OpenID Connect Discovery 1.0 §3): also
    /// `subject_types_supported` and the ID token, userinfo and request object
    /// algorithm lists. The default, as before the choice existed.
    #[default]
    OpenIdProvider,
}

/// Who may register clients (RFC 7591 §3): the one choice
/// [`RegistrationBuilder::access`](crate::RegistrationBuilder::access) requires.
///
/// ```
/// use tower_dcr::config::{Access, StaticToken};
///
/// let open = Access::Open;
/// let protected = Access::protected(["token-for-team-a"]);
/// let with_profile = Access::Protected {
///     static_tokens: vec![
///         "token-for-team-a".into(),
///         StaticToken::new("token-for-partners").profile("partner"),
///     ],
/// };
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Access {
    /// Anyone may register.
    Open,
    /// A registration must present an initial access token as a Bearer token:
    /// one of these static tokens, or one minted with
    /// [`Registration::mint_initial_access_token`](crate::Registration::mint_initial_access_token)
    /// and kept by the store (with no static token, only those).
    Protected {
        /// The static initial access tokens.
        static_tokens: Vec<StaticToken>,
    },
}

impl Access {
    /// Protected registration with these static tokens, which register under
    /// the default profile.
    pub fn protected<I>(tokens: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<StaticToken>,
    {
        Self::Protected {
            static_tokens: tokens.into_iter().map(Into::into).collect(),
        }
    }
}

/// A static initial access token from the configuration: only its SHA-256
/// digest is kept, and `Debug` shows neither.
///
/// The token must be a `b64token` (RFC 6750 §2.1), the only form a client can
/// send in `Authorization: Bearer`: letters, digits, `-` `.` `_` `~` `+` `/`,
/// then optional trailing `=`. Otherwise
/// [`build`](crate::RegistrationBuilder::build) fails with
/// [`ConfigError::InvalidInitialAccessToken`](crate::ConfigError::InvalidInitialAccessToken).
#[derive(Clone)]
pub struct StaticToken {
    pub(crate) digest: SecretDigest,
    /// `static-N`, N its position among the static tokens (set by the
    /// builder): it says nothing about the token, so records and logs that
    /// carry it reveal nothing either.
    pub(crate) id: String,
    pub(crate) profile: Option<String>,
    /// Whether the token can be sent as a Bearer token at all (RFC 6750 §2.1).
    pub(crate) well_formed: bool,
}

impl StaticToken {
    /// A token whose registrations get the default profile.
    pub fn new(token: impl AsRef<str>) -> Self {
        let token = token.as_ref();
        Self {
            digest: SecretDigest::of(token),
            id: String::new(),
            profile: None,
            well_formed: crate::credentials::is_b64token(token),
        }
    }

    /// Registrations with this token get the named profile.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("id", &self.id)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl From<&str> for StaticToken {
    fn from(token: &str) -> Self {
        Self::new(token)
    }
}

impl From<String> for StaticToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl From<&String> for StaticToken {
    fn from(token: &String) -> Self {
        Self::new(token)
    }
}

/// Generates client identifiers.
pub(crate) type ClientIdGenerator = Arc<dyn Fn() -> String + Send + Sync>;

/// Finds the peer address in a request's extensions.
pub(crate) type PeerAddress = Arc<dyn Fn(&http::Extensions) -> Option<SocketAddr> + Send + Sync>;

/// What is percent-encoded in a path segment: everything but the unreserved
/// characters of RFC 3986 §2.3.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The checked configuration the service runs with.
pub(crate) struct Config {
    pub(crate) issuer: String,
    pub(crate) endpoint: String,
    pub(crate) registration_endpoint: String,
    pub(crate) access: Access,
    pub(crate) store: Arc<dyn ClientStore>,
    pub(crate) profile: Profile,
    pub(crate) profiles: HashMap<String, Profile>,
    pub(crate) hook: Option<Arc<dyn RegistrationHook>>,
    pub(crate) limits: crate::metadata::Limits,
    pub(crate) extension_members: HashSet<String>,
    pub(crate) issue_registration_access_token: bool,
    pub(crate) rat_rotation: RatRotation,
    /// Serializes this process's registrations while quotas are configured
    /// and the store has no quota capability (a custom store).
    pub(crate) quota_lock: tokio::sync::Mutex<()>,
    /// How long a rotated registration access token keeps working.
    pub(crate) rat_grace: Duration,
    pub(crate) rotate_client_secret_on_update: bool,
    pub(crate) client_id_generator: Option<ClientIdGenerator>,
    pub(crate) quotas: Quotas,
    pub(crate) last_used_interval: Option<Duration>,
    pub(crate) events: Option<Arc<dyn EventHook>>,
    pub(crate) peer_address: Option<PeerAddress>,
    pub(crate) server_kind: ServerKind,
    #[cfg(feature = "rate-limit")]
    pub(crate) rate_limiter: Option<crate::rate_limit::RateLimiter>,
    #[cfg(feature = "software-statement")]
    pub(crate) software_statements: Option<crate::software_statement::SoftwareStatementVerifier>,
    #[cfg(feature = "fetch")]
    pub(crate) fetcher: Option<Arc<dyn crate::fetch::Fetcher>>,
    #[cfg(feature = "client-id-metadata-document")]
    pub(crate) url_clients: Option<crate::metadata_document::UrlClients>,
    #[cfg(feature = "client-assertion")]
    pub(crate) assertions: Option<crate::client_assertion::AssertionVerifier>,
}

impl Config {
    /// The profile called `name`, or the default profile for `None`.
    pub(crate) fn profile_named(&self, name: Option<&str>) -> Option<&Profile> {
        match name {
            None => Some(&self.profile),
            Some(name) => self.profiles.get(name),
        }
    }

    /// The peer address of a request, if the host provides it: the host's own
    /// finder, or else axum's `ConnectInfo<SocketAddr>` (feature `axum`) or a
    /// bare `SocketAddr` extension.
    pub(crate) fn peer_addr(&self, extensions: &http::Extensions) -> Option<SocketAddr> {
        match &self.peer_address {
            Some(find) => find(extensions),
            None => default_peer_addr(extensions),
        }
    }

    /// The default profile followed by the named ones, in name order.
    pub(crate) fn all_profiles(&self) -> impl Iterator<Item = &Profile> {
        let mut names: Vec<&String> = self.profiles.keys().collect();
        names.sort();
        std::iter::once(&self.profile).chain(names.into_iter().map(|n| &self.profiles[n]))
    }
}

/// Where the servers we know put the peer address: axum's
/// `ConnectInfo<SocketAddr>` (with `into_make_service_with_connect_info`), or a
/// bare `SocketAddr` (a hyper or tower stack that inserts it itself).
fn default_peer_addr(extensions: &http::Extensions) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(address)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*address);
    }
    extensions.get::<SocketAddr>().copied()
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("registration_endpoint", &self.registration_endpoint)
            .field("store", &self.store)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// `{registration endpoint}/{client_id}` (RFC 7592 §3), from configuration,
    /// with the identifier percent-encoded as one path segment.
    pub(crate) fn registration_client_uri(&self, client_id: &str) -> String {
        let mut uri = String::with_capacity(self.registration_endpoint.len() + 1 + client_id.len());
        uri.push_str(&self.registration_endpoint);
        uri.push('/');
        uri.extend(percent_encoding::utf8_percent_encode(
            client_id,
            PATH_SEGMENT,
        ));
        uri
    }

    /// Sends an event to the host's event hook, if there is one.
    pub(crate) fn emit(
        &self,
        kind: EventKind,
        operation: Operation,
        client_id: Option<&str>,
        record: Option<&ClientRecord>,
        peer_addr: Option<SocketAddr>,
    ) {
        let Some(events) = &self.events else {
            return;
        };
        let mut event = Event::new(kind, operation);
        event.client_id = client_id
            .or(record.map(|r| r.client_id.as_str()))
            .map(str::to_owned);
        if let Some(record) = record {
            event.software_id.clone_from(&record.metadata.software_id);
            event.profile.clone_from(&record.profile);
        }
        event.peer_addr = peer_addr;
        events.on_event(&event);
    }

    /// Drops the extension members this server is not configured to keep
    /// (RFC 7591 §2: unknown members are ignored).
    pub(crate) fn keep_configured_extensions(&self, metadata: &mut ClientMetadata) {
        if !metadata.extensions.is_empty() {
            metadata
                .extensions
                .retain(|name, _| self.extension_members.contains(name));
        }
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;

    #[test]
    fn static_tokens_never_show_in_debug() {
        let access = Access::Protected {
            static_tokens: vec![StaticToken::new("s3cr3t-token").profile("partner")],
        };
        let shown = format!("{access:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("partner"), "{shown}");
    }
}
