//! URL client ids: OAuth Client ID Metadata Documents
//! (draft-ietf-oauth-client-id-metadata-document-03).
//!
//! A client may use an `https` URL as its `client_id`; the URL names a JSON
//! document of its metadata, which the server fetches, validates with the same
//! rules as a registration, and caches. The host resolves such a client with
//! the same calls as a registered one
//! ([`Registration::client`](crate::Registration::client),
//! `check_redirect_uri`, `authenticate_client`, `profile_of`).
//!
//! Off unless configured with [`MetadataDocuments`]: an allow-list of hosts or
//! host patterns, or explicitly any host, with a profile per pattern.
//!
//! ```no_run
//! use http::HeaderMap;
//! use tower_dcr::client_assertion::ClientAssertions;
//! use tower_dcr::host::ClientCredentials;
//! use tower_dcr::metadata_document::MetadataDocuments;
//! use tower_dcr::store::RecordSource;
//! use tower_dcr::{MemoryStore, Registration};
//!
//! # async fn example(client_id: &str, headers: &HeaderMap) -> Result<(), Box<dyn std::error::Error>> {
//! let dcr = Registration::builder("https://auth.example.com")
//!     .open()
//!     .metadata_documents(MetadataDocuments::hosts(["*.agents.example"]))
//!     // URL clients may use private_key_jwt (the default URL-client profile).
//!     .client_assertions(ClientAssertions::new())
//!     .store(MemoryStore::new())
//!     .build()?;
//!
//! // The authorization endpoint, unchanged: registered and URL clients alike.
//! let (client, redirect_uri) = dcr.check_redirect_uri(client_id, None).await?;
//! if client.source == RecordSource::MetadataDocument {
//!     // Show the client_id's host prominently on the consent page (draft §8.5).
//! }
//! // The token endpoint, unchanged too.
//! let credentials = ClientCredentials::from_request(headers, Some(client_id), None)?;
//! let client = dcr.authenticate_client(&credentials).await?;
//! # let _ = (redirect_uri, client);
//! # Ok(())
//! # }
//! ```
//!
//! - The URL (draft §3): [`parse_client_id_url`].
//! - Fetching (draft §5, §8): through the SSRF-guarded fetcher; only `200`, no
//!   redirect, 5 KiB, a time limit, a JSON content type; special-use addresses
//!   refused, except a loopback document when the server itself is on loopback
//!   and [`MetadataDocuments::loopback_documents`] says so.
//! - Validation (draft §4): `client_id` equal to the URL; no `client_secret`,
//!   no shared-secret auth method (`none` by default); `redirect_uris` for
//!   redirect-based grants; then the registration parser, validator, profile
//!   and hook.
//! - Caching (draft §5.2): see [`CacheBounds`].
//! - Fetch bounds: a failed URL is not fetched again for a while, and each
//!   host gets a rate and a share of the fetches in flight; a lookup over a
//!   bound is a temporary failure, not an invalid client: see [`FetchBounds`].
//!
//! Resolved documents are not written to the client store: the document is
//! the source of truth and HTTP caching says how long a copy is good, so a
//! stored copy would be a second cache with its own staleness, one database
//! write per refresh, and a table growing with every URL ever presented, the
//! very thing the draft avoids. Events ([`EventKind::DocumentResolved`] and
//! friends) let a host keep its own record.
//!
#![doc = include_str!("../../docs/url-client-ids.md")]
//!
//! [`EventKind::DocumentResolved`]: crate::events::EventKind::DocumentResolved

mod client_id_url;
mod document;
mod state;
mod throttle;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::fetch_cache::CacheBounds;
pub use client_id_url::{
    ClientIdUrl, ClientIdUrlError, MAX_CLIENT_ID_URL_BYTES, is_url_client_id, parse_client_id_url,
};
pub use document::DocumentError;
pub use throttle::{DEFAULT_FAILURE_BACKOFF, FetchBounds};

pub(crate) use document::check_document;
pub(crate) use state::{ResolvedDocument, UrlClients};
pub(crate) use throttle::FetchThrottle;

use crate::fetch::Fetcher;
use crate::metadata::{GrantType, TokenEndpointAuthMethod};
use crate::policy::Profile;

/// The default body limit of a metadata document (draft §8.7: 5 KiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// The default time limit of one document fetch.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The default number of cached documents.
pub const DEFAULT_MAX_CACHED_DOCUMENTS: usize = 10_000;

/// Which hosts may serve metadata documents.
#[derive(Clone, Debug)]
enum Hosts {
    Any,
    Listed(Vec<String>),
}

/// The policy for URL client ids: which hosts, under which profile, with which
/// fetch and cache limits. Given to
/// [`RegistrationBuilder::metadata_documents`](crate::RegistrationBuilder::metadata_documents).
///
/// ```
/// use tower_dcr::metadata_document::MetadataDocuments;
///
/// let documents = MetadataDocuments::hosts(["app.example.com", "*.agents.example"]);
/// ```
#[derive(Clone)]
#[must_use]
pub struct MetadataDocuments {
    hosts: Hosts,
    profile: Profile,
    /// Whether the host set `profile` (else it is the default one).
    profile_chosen: bool,
    host_profiles: Vec<(String, Profile)>,
    pub(crate) max_document_bytes: usize,
    pub(crate) timeout: Duration,
    pub(crate) cache: CacheBounds,
    pub(crate) fetch_bounds: FetchBounds,
    pub(crate) max_cached: usize,
    pub(crate) allow_query: bool,
    pub(crate) loopback_documents: bool,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) fetcher: Option<Arc<dyn Fetcher>>,
}

impl fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataDocuments")
            .field("hosts", &self.hosts)
            .field(
                "host_profiles",
                &self
                    .host_profiles
                    .iter()
                    .map(|(p, _)| p)
                    .collect::<Vec<_>>(),
            )
            .field("max_document_bytes", &self.max_document_bytes)
            .field("timeout", &self.timeout)
            .field("cache", &self.cache)
            .field("fetch_bounds", &self.fetch_bounds)
            .field("max_cached", &self.max_cached)
            .field("allow_query", &self.allow_query)
            .field("loopback_documents", &self.loopback_documents)
            .finish_non_exhaustive()
    }
}

impl MetadataDocuments {
    fn with_hosts(hosts: Hosts) -> Self {
        Self {
            hosts,
            profile: Self::default_profile(),
            profile_chosen: false,
            host_profiles: Vec::new(),
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            timeout: DEFAULT_FETCH_TIMEOUT,
            cache: CacheBounds::default(),
            fetch_bounds: FetchBounds::default(),
            max_cached: DEFAULT_MAX_CACHED_DOCUMENTS,
            allow_query: false,
            loopback_documents: false,
            root_certificates: Vec::new(),
            fetcher: None,
        }
    }

    /// Documents from any host (what an open MCP server wants).
    pub fn any_host() -> Self {
        Self::with_hosts(Hosts::Any)
    }

    /// Documents only from these hosts: `app.example.com` (that host) or
    /// `*.example.com` (any subdomain of `example.com`, not `example.com`
    /// itself). Case-insensitive; the port does not matter.
    pub fn hosts<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_hosts(Hosts::Listed(
            patterns
                .into_iter()
                .map(|p| p.into().to_ascii_lowercase())
                .collect(),
        ))
    }

    /// The profile of URL clients from hosts without one of their own
    /// ([`host_profile`](Self::host_profile)). The default: auth method `none`,
    /// and `private_key_jwt` too when the service verifies client assertions
    /// (`RegistrationBuilder::client_assertions`); the `authorization_code`
    /// and `refresh_token` grants, PKCE required. A profile set here that
    /// allows a JWT method without client assertions is refused by `build()`.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self.profile_chosen = true;
        self
    }

    /// Fits the default profile to the service: without client assertions
    /// nothing could verify a `private_key_jwt` client, so it allows `none`
    /// alone. A profile the host chose is left as it is (and checked).
    pub(crate) fn fit_default_profile(&mut self, client_assertions: bool) {
        if !self.profile_chosen && !client_assertions {
            self.profile = std::mem::take(&mut self.profile)
                .token_endpoint_auth_methods([TokenEndpointAuthMethod::None]);
        }
    }

    /// The profile of URL clients whose host matches `pattern` (the first
    /// matching pattern wins). The pattern is also allowed.
    pub fn host_profile(mut self, pattern: impl Into<String>, profile: Profile) -> Self {
        let pattern = pattern.into().to_ascii_lowercase();
        if let Hosts::Listed(list) = &mut self.hosts
            && !list.contains(&pattern)
        {
            list.push(pattern.clone());
        }
        self.host_profiles.push((pattern, profile));
        self
    }

    /// Body limit of a document in bytes (default 5 KiB, draft §8.7).
    pub fn max_document_bytes(mut self, max: usize) -> Self {
        self.max_document_bytes = max;
        self
    }

    /// Time limit of one fetch (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cache lifetime bounds (draft §5.2).
    pub fn cache_bounds(mut self, bounds: CacheBounds) -> Self {
        self.cache = bounds;
        self
    }

    /// Bounds on fetches per URL, per host and in all (default:
    /// [`FetchBounds::default`]). The builder refuses bounds that let no
    /// fetch through.
    pub fn fetch_bounds(mut self, bounds: FetchBounds) -> Self {
        self.fetch_bounds = bounds;
        self
    }

    /// How many documents are cached at most (default 10 000), least recently
    /// used out first.
    pub fn max_cached_documents(mut self, max: usize) -> Self {
        self.max_cached = max;
        self
    }

    /// Accepts a query in the `client_id` URL (draft §3: SHOULD NOT; refused by
    /// default).
    pub fn allow_query(mut self, allow: bool) -> Self {
        self.allow_query = allow;
        self
    }

    /// **For development.** Fetches documents from the loopback address the
    /// server itself runs on (draft §8.6). The builder refuses it unless the
    /// issuer is on loopback; never for production.
    pub fn loopback_documents(mut self, allow: bool) -> Self {
        self.loopback_documents = allow;
        self
    }

    /// Trusts one more certificate authority (PEM) when fetching documents and
    /// their `jwks_uri`, for a private CA in development or tests.
    /// Certificates are always verified.
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Fetches documents with this fetcher instead of the built-in guarded
    /// one (the caller then owns the SSRF guard and the content-type check).
    pub fn fetcher(mut self, fetcher: impl Fetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// The default profile of URL clients.
    fn default_profile() -> Profile {
        Profile::default()
            .token_endpoint_auth_methods([
                TokenEndpointAuthMethod::None,
                TokenEndpointAuthMethod::PrivateKeyJwt,
            ])
            .default_token_endpoint_auth_method(TokenEndpointAuthMethod::None)
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .require_pkce(true)
    }

    /// Whether documents may come from `host` (lowercase, no port).
    pub(crate) fn allows_host(&self, host: &str) -> bool {
        match &self.hosts {
            Hosts::Any => true,
            Hosts::Listed(patterns) => patterns.iter().any(|p| host_matches(p, host)),
        }
    }

    /// The index of the host profile for `host` (`None`: the default one).
    pub(crate) fn profile_index(&self, host: &str) -> Option<usize> {
        self.host_profiles
            .iter()
            .position(|(pattern, _)| host_matches(pattern, host))
    }

    /// Every profile with the name it is registered under in the
    /// configuration.
    pub(crate) fn named_profiles(&self) -> impl Iterator<Item = (String, &Profile)> {
        std::iter::once((profile_name(None), &self.profile)).chain(
            self.host_profiles
                .iter()
                .enumerate()
                .map(|(i, (_, p))| (profile_name(Some(i)), p)),
        )
    }
}

/// The configuration name of a URL-client profile: `url-client` for the
/// default one, `url-client:{n}` for the n-th host profile.
pub(crate) fn profile_name(index: Option<usize>) -> String {
    match index {
        None => "url-client".to_owned(),
        Some(i) => format!("url-client:{i}"),
    }
}

/// `pattern` is a host, or `*.` and a domain matching its strict subdomains.
fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let policy = MetadataDocuments::hosts(["App.Example.com", "*.agents.example"]);
        assert!(policy.allows_host("app.example.com"));
        assert!(policy.allows_host("app.example.com."));
        assert!(!policy.allows_host("evil.app.example.com"));
        assert!(policy.allows_host("a.agents.example"));
        assert!(policy.allows_host("b.a.agents.example"));
        assert!(!policy.allows_host("agents.example"));
        assert!(!policy.allows_host("xagents.example"));
        assert!(MetadataDocuments::any_host().allows_host("anything.example"));
    }

    #[test]
    fn host_profiles_are_allowed_and_found_in_order() {
        let policy = MetadataDocuments::hosts(["a.example"])
            .host_profile("*.b.example", Profile::default())
            .host_profile("x.b.example", Profile::default());
        assert!(policy.allows_host("x.b.example"));
        assert_eq!(policy.profile_index("x.b.example"), Some(0));
        assert_eq!(policy.profile_index("a.example"), None);
        assert_eq!(policy.named_profiles().count(), 3);
    }
}
