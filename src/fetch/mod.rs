//! Outbound fetches with a guard against server-side request forgery (SSRF).
//!
//! Some registration rules make the server fetch a URL the client chose:
//! `sector_identifier_uri` (OpenID Connect DCR §5), and, where a host wants them,
//! `jwks_uri` or logos. A client could point such a URL at the server's own
//! network (`https://169.254.169.254/`, `https://localhost:6379/`, a name that
//! resolves to `10.0.0.5`). Every such fetch goes through a [`Fetcher`]; the
//! default one, [`GuardedFetcher`]:
//!
//! - fetches `https` URLs only, with certificates checked against the
//!   WebPKI roots, and ignores proxy settings;
//! - refuses an IP literal, and a host name any of whose resolved addresses,
//!   in a forbidden class: private, loopback,
//!   link-local, multicast, unspecified, broadcast, shared (CGNAT),
//!   documentation, benchmarking and reserved ranges, and IPv4-mapped or
//!   NAT64 forms of those;
//! - connects only to the addresses it vetted: the check runs inside the HTTP
//!   client's DNS resolver, so the addresses checked are the addresses
//!   connected to and a DNS answer that changes between check and connect
//!   (DNS rebinding) gains nothing;
//! - follows no redirect and accepts only `200 OK`;
//! - stops after a total time limit (default 5 s) and a body size limit
//!   (default 64 KiB), reading the body in chunks so an oversized one is never
//!   buffered whole.
//!
//! ```no_run
//! use tower_dcr::fetch::{Fetcher, GuardedFetcher};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let fetcher = GuardedFetcher::new()?;
//! let body = fetcher.fetch("https://client.example.org/sector.json").await?;
//! # let _ = body;
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

mod response;

pub use response::{FetchedResponse, is_json_content_type};

/// Default total time limit of one fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default size limit of a response body (64 KiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Fetches a document the server needs from a URL a client gave.
///
/// Implemented by [`GuardedFetcher`]; implement it yourself to add caching, or
/// in tests to return canned documents.
#[async_trait]
pub trait Fetcher: fmt::Debug + Send + Sync + 'static {
    /// Fetches `url` and returns the response body.
    async fn fetch(&self, url: &str) -> Result<Bytes, FetchError>;

    /// Fetches `url` with a body limit of `max_bytes`, and returns the body
    /// with the headers a cache and a JSON reader need. The default calls
    /// [`fetch`](Self::fetch) and reports no headers (no content type, no
    /// cache headers); [`GuardedFetcher`] reports them.
    async fn fetch_response(
        &self,
        url: &str,
        max_bytes: usize,
    ) -> Result<FetchedResponse, FetchError> {
        let body = self.fetch(url).await?;
        if body.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        Ok(FetchedResponse {
            body,
            ..FetchedResponse::default()
        })
    }
}

/// Why a fetch failed. The `Display` text is short, names no address and is
/// fit for an error description sent to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not an absolute URL with a host.
    #[error("not an absolute URL with a host")]
    InvalidUrl,
    /// The URL does not use `https`.
    #[error("only https URLs are fetched")]
    NotHttps,
    /// The host is, or resolves to, an address in a forbidden class.
    #[error("the host is or resolves to a {0} address, which is never fetched")]
    ForbiddenAddress(&'static str),
    /// The host name did not resolve to any address.
    #[error("the host name does not resolve")]
    Unresolvable,
    /// The server answered with a status other than `200 OK`; redirects are
    /// not followed.
    #[error("the server answered HTTP {0}; only 200 is accepted")]
    Status(u16),
    /// The response body exceeds the size limit (in bytes).
    #[error("the response exceeds {0} bytes")]
    TooLarge(usize),
    /// The fetch did not complete within the time limit.
    #[error("the server did not answer in time")]
    Timeout,
    /// Connecting, TLS, or reading the response failed.
    #[error("the document could not be retrieved")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
    /// The response is not JSON (`application/json` or `application/*+json`).
    #[error("the response is not JSON")]
    ContentType,
}

impl FetchError {
    /// Whether the failure may pass by itself: no answer, a time-out, a DNS
    /// failure or a `5xx`. A refused URL or address, or an answer that is not
    /// the expected document, is not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) | Self::Unresolvable => true,
            Self::Status(status) => *status >= 500,
            _ => false,
        }
    }
}

impl FetchError {
    /// A copy of the guard's own errors, found in an HTTP client error chain.
    fn copy_guard_error(&self) -> Option<Self> {
        match self {
            Self::ForbiddenAddress(class) => Some(Self::ForbiddenAddress(class)),
            Self::Unresolvable => Some(Self::Unresolvable),
            _ => None,
        }
    }
}

/// The client could not be set up (the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client for outbound fetches could not be built")]
pub struct FetcherBuildError(#[source] reqwest::Error);

/// The forbidden class `ip` belongs to, or `None` for a globally routable
/// unicast address the guard lets through.
///
/// IPv4: `0.0.0.0/8`, `10/8`, `100.64/10`, `127/8`, `169.254/16`,
/// `172.16/12`, `192.0.0/24`, `192.0.2/24`, `192.88.99/24`, `192.168/16`,
/// `198.18/15`, `198.51.100/24`, `203.0.113/24`, `224/4`, `240/4` and
/// `255.255.255.255`. IPv6: `::`, `::1`, IPv4-compatible `::/96`,
/// `64:ff9b::/96` and `::ffff:0:0/96` by the IPv4 address they embed,
/// `64:ff9b:1::/48`, `100::/64`, `2001::/23`, `2001:db8::/32`, `2002::/16`,
/// `3fff::/20`, `fc00::/7`, `fe80::/10`, `fec0::/10`, `ff00::/8`, and
/// anything else outside global unicast `2000::/3`.
pub(crate) fn forbidden_address_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    if ip == Ipv4Addr::BROADCAST {
        return Some("broadcast");
    }
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_class(v4);
    }
    let s = ip.segments();
    let embedded_v4 =
        || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    Some(match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (deprecated)",
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => return v4_class(embedded_v4()),
        [0x64, 0xff9b, 1, ..] => "NAT64 local-use",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignment",
        [0x2002, ..] => "6to4",
        [0x3fff, 0..=0x0fff, ..] => "documentation",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique local (private)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast",
        [x, ..] if x & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    })
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// Addresses the guard lets through despite their class (tests only).
type Allowed = Arc<HashSet<IpAddr>>;

fn vet(ip: IpAddr, allowed: &HashSet<IpAddr>) -> Result<(), FetchError> {
    // An IPv4-mapped IPv6 address is allowed when its IPv4 form is.
    let canonical = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    if allowed.contains(&ip) || allowed.contains(&canonical) {
        return Ok(());
    }
    match forbidden_address_class(ip) {
        Some(class) => Err(FetchError::ForbiddenAddress(class)),
        None => Ok(()),
    }
}

/// The HTTP client's DNS resolver: resolves, then refuses the name when any
/// address is forbidden. The client connects only to what it returns.
#[derive(Debug)]
struct GuardedResolver {
    allowed: Allowed,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = Arc::clone(&self.allowed);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Box the `FetchError` itself (not a `Box<FetchError>`) so that
            // `transport_error` can downcast it out of the client's error chain.
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| BoxError::from(FetchError::Unresolvable))?
                .collect();
            if addrs.is_empty() {
                return Err(BoxError::from(FetchError::Unresolvable));
            }
            for addr in &addrs {
                vet(addr.ip(), &allowed).map_err(BoxError::from)?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Builds a [`GuardedFetcher`].
#[derive(Debug)]
#[must_use]
pub struct GuardedFetcherBuilder {
    timeout: Duration,
    max_response_bytes: usize,
    allow_http: bool,
    allowed: HashSet<IpAddr>,
    root_certificates: Vec<Vec<u8>>,
}

impl GuardedFetcherBuilder {
    /// Total time limit of one fetch: resolving, connecting, TLS, and reading
    /// the whole body (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Size limit of a response body in bytes (default 64 KiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// **Dangerous; for tests only.** Also fetches `http` URLs.
    pub fn dangerous_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// **Dangerous; for tests only.** Lets these addresses through the guard
    /// (e.g. `127.0.0.1` for a test server), whatever their class.
    pub fn dangerous_allow_addresses(
        mut self,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        self.allowed.extend(addresses);
        self
    }

    /// Trusts one more certificate authority (PEM), besides the WebPKI roots:
    /// for a private CA in development or tests. Certificates are always
    /// verified; an invalid one is never accepted.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Builds the fetcher and its HTTP client.
    pub fn build(self) -> Result<GuardedFetcher, FetcherBuildError> {
        let allowed: Allowed = Arc::new(self.allowed);
        let mut client = reqwest::Client::builder();
        for pem in &self.root_certificates {
            client = client.add_root_certificate(
                reqwest::Certificate::from_pem(pem).map_err(FetcherBuildError)?,
            );
        }
        let client = client
            .dns_resolver(Arc::new(GuardedResolver {
                allowed: Arc::clone(&allowed),
            }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .https_only(!self.allow_http)
            .timeout(self.timeout)
            .user_agent(concat!("tower-dcr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(FetcherBuildError)?;
        Ok(GuardedFetcher {
            inner: Arc::new(GuardedInner {
                client,
                allowed,
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
                allow_http: self.allow_http,
            }),
        })
    }
}

#[derive(Debug)]
struct GuardedInner {
    client: reqwest::Client,
    allowed: Allowed,
    timeout: Duration,
    max_response_bytes: usize,
    allow_http: bool,
}

/// The default [`Fetcher`], with the SSRF guard described in the
/// [module docs](self). Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct GuardedFetcher {
    inner: Arc<GuardedInner>,
}

impl GuardedFetcher {
    /// A fetcher with the defaults: https only, 5 s, 64 KiB.
    pub fn new() -> Result<Self, FetcherBuildError> {
        Self::builder().build()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> GuardedFetcherBuilder {
        GuardedFetcherBuilder {
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_http: false,
            allowed: HashSet::new(),
            root_certificates: Vec::new(),
        }
    }

    /// The checks that need no network: an absolute URL with a host, the
    /// `https` scheme, and, when the host is an IP literal, an address outside
    /// the forbidden classes. Host names are checked when they are resolved,
    /// at fetch time.
    pub fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        let url = Url::parse(url).map_err(|_| FetchError::InvalidUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.inner.allow_http => {}
            _ => return Err(FetchError::NotHttps),
        }
        match url.host() {
            None => return Err(FetchError::InvalidUrl),
            Some(Host::Ipv4(ip)) => vet(IpAddr::V4(ip), &self.inner.allowed)?,
            Some(Host::Ipv6(ip)) => vet(IpAddr::V6(ip), &self.inner.allowed)?,
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    async fn get(&self, url: Url, max: usize) -> Result<FetchedResponse, FetchError> {
        let mut response = self
            .inner
            .client
            .get(url)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(FetchError::TooLarge(max));
        }
        let headers = response.headers();
        let header = |name: reqwest::header::HeaderName| {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(", "))
        };
        let mut fetched = FetchedResponse {
            body: Bytes::new(),
            content_type: header(reqwest::header::CONTENT_TYPE),
            cache_control: header(reqwest::header::CACHE_CONTROL),
            expires: header(reqwest::header::EXPIRES),
            date: header(reqwest::header::DATE),
            age: header(reqwest::header::AGE),
        };
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        fetched.body = body.freeze();
        Ok(fetched)
    }
}

#[async_trait]
impl Fetcher for GuardedFetcher {
    async fn fetch(&self, url: &str) -> Result<Bytes, FetchError> {
        Ok(self
            .fetch_response(url, self.inner.max_response_bytes)
            .await?
            .body)
    }

    async fn fetch_response(
        &self,
        url: &str,
        max_bytes: usize,
    ) -> Result<FetchedResponse, FetchError> {
        let url = self.check_url(url)?;
        tokio::time::timeout(self.inner.timeout, self.get(url, max_bytes))
            .await
            .unwrap_or(Err(FetchError::Timeout))
    }
}

/// Maps an HTTP client error, recovering the guard's own error from the chain
/// (the resolver's refusal arrives wrapped in connect errors).
fn transport_error(error: reqwest::Error) -> FetchError {
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(guard) = e
            .downcast_ref::<FetchError>()
            .and_then(FetchError::copy_guard_error)
        {
            return guard;
        }
        source = e.source();
    }
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Transport(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Option<&'static str> {
        forbidden_address_class(ip.parse().unwrap())
    }

    #[test]
    fn forbidden_classes() {
        for (ip, expected) in [
            ("0.0.0.0", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.1", "private"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "IPv4-compatible (deprecated)"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("64:ff9b:1::1", "NAT64 local-use"),
            ("100::1", "discard-only"),
            ("2001::1", "IETF protocol assignment"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique local (private)"),
            ("fd12:3456::1", "unique local (private)"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local (deprecated)"),
            ("ff02::1", "multicast"),
            ("4000::1", "reserved"),
        ] {
            assert_eq!(class(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn global_unicast_passes() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }

    #[test]
    fn allowed_addresses_cover_their_mapped_form() {
        let allowed: HashSet<IpAddr> = ["127.0.0.1".parse().unwrap()].into();
        assert!(vet("127.0.0.1".parse().unwrap(), &allowed).is_ok());
        assert!(vet("::ffff:127.0.0.1".parse().unwrap(), &allowed).is_ok());
        assert!(vet("127.0.0.2".parse().unwrap(), &allowed).is_err());
        assert!(vet("::1".parse().unwrap(), &allowed).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let resolver = GuardedResolver {
            allowed: Arc::default(),
        };
        let error = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost must be refused");
        assert!(matches!(
            error.downcast_ref::<FetchError>(),
            Some(FetchError::ForbiddenAddress("loopback"))
        ));
    }
}
