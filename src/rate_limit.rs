//! Rate limiting of registrations (feature `rate-limit`), keyed by the client's
//! address or by its initial access token.
//!
//! Keyed by address, IPv6 clients are grouped by their /64 prefix (one
//! subscriber usually holds a whole /64). `X-Forwarded-For` is read only when
//! the direct peer is one of the configured trusted proxies; then the client is
//! the right-most address in it that is not itself a trusted proxy.
//!
//! Only `POST` registrations are limited: a rate limit never locks a client out
//! of managing the registration it already has.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use http::request::Parts;
use std::str::FromStr;

use crate::credentials::SecretDigest;

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), such as a
/// trusted proxy range. Parse it with [`str::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork(ipnet::IpNet);

impl IpNetwork {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl FromStr for IpNetwork {
    type Err = InvalidIpNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self).map_err(|_| InvalidIpNetwork)
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A string that is not an IP network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an IP network in CIDR notation (such as 10.0.0.0/8)")]
pub struct InvalidIpNetwork;

/// What the rate limit counts per.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RateLimitKey {
    /// The client's IP address (IPv6: its /64).
    #[default]
    PeerAddress,
    /// The initial access token presented; requests without one are counted by
    /// address. Lets many clients behind one address (a company NAT, a CI farm)
    /// register with their own tokens without locking each other out.
    InitialAccessToken,
}

/// A rate limit on registrations: `burst` registrations at once, refilled
/// evenly over a period; or [`RateLimit::off`].
///
/// The burst is a [`NonZeroU32`], so no constructor can fail:
///
/// ```
/// use std::num::NonZeroU32;
/// use tower_dcr::rate_limit::RateLimit;
///
/// let per_minute = |n| NonZeroU32::new(n).map_or_else(RateLimit::off, RateLimit::per_minute);
/// let limit = per_minute(20);  // 0 would be `RateLimit::off()`
/// ```
#[derive(Clone, Debug)]
pub struct RateLimit {
    /// `None`: off.
    quota: Option<Quota>,
    key: RateLimitKey,
    trusted_proxies: Vec<IpNetwork>,
}

impl RateLimit {
    /// `burst` registrations at once, refilled evenly over `period`. A period
    /// shorter than one nanosecond per registration counts as one nanosecond
    /// per registration (the limiter's resolution).
    pub fn per_period(burst: NonZeroU32, period: Duration) -> Self {
        let interval = (period / burst.get()).max(Duration::from_nanos(1));
        Self {
            quota: Quota::with_period(interval).map(|quota| quota.allow_burst(burst)),
            key: RateLimitKey::default(),
            trusted_proxies: Vec::new(),
        }
    }

    /// `burst` registrations at once, refilled over a second.
    pub fn per_second(burst: NonZeroU32) -> Self {
        Self::per_period(burst, Duration::from_secs(1))
    }

    /// `burst` registrations at once, refilled over a minute.
    pub fn per_minute(burst: NonZeroU32) -> Self {
        Self::per_period(burst, Duration::from_secs(60))
    }

    /// `burst` registrations at once, refilled over an hour.
    pub fn per_hour(burst: NonZeroU32) -> Self {
        Self::per_period(burst, Duration::from_secs(3600))
    }

    /// No rate limit: the same as not configuring one.
    pub fn off() -> Self {
        Self {
            quota: None,
            key: RateLimitKey::default(),
            trusted_proxies: Vec::new(),
        }
    }

    /// Whether this limit is [`off`](Self::off).
    pub fn is_off(&self) -> bool {
        self.quota.is_none()
    }

    /// `burst` registrations, refilled over `period`. `None` if `burst` is 0
    /// or `period` is zero.
    #[deprecated(note = "use `RateLimit::per_period` (or `per_minute`, ...) with a \
                         `NonZeroU32`, and `RateLimit::off()` for no limit")]
    pub fn new(burst: u32, period: Duration) -> Option<Self> {
        let burst = NonZeroU32::new(burst)?;
        (!period.is_zero()).then(|| Self::per_period(burst, period))
    }

    /// What to count per (default: the peer address).
    pub fn key(mut self, key: RateLimitKey) -> Self {
        self.key = key;
        self
    }

    /// Proxies whose `X-Forwarded-For` is believed. Without any, the header is
    /// ignored.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNetwork>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    UnknownAddress,
    Token([u8; 32]),
}

/// The running limiter.
pub(crate) struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<Key>,
    key: RateLimitKey,
    trusted_proxies: Vec<IpNetwork>,
    checks: AtomicU64,
    warned_without_address: AtomicBool,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// IPv6 addresses count by their /64; IPv4-mapped addresses as IPv4.
fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

impl RateLimiter {
    /// The running limiter; `None` for a limit that is off.
    pub(crate) fn new(limit: RateLimit) -> Option<Self> {
        Some(Self {
            limiter: DefaultKeyedRateLimiter::dashmap(limit.quota?),
            key: limit.key,
            trusted_proxies: limit.trusted_proxies,
            checks: AtomicU64::new(0),
            warned_without_address: AtomicBool::new(false),
        })
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, or behind trusted proxies the right-most
    /// untrusted `X-Forwarded-For` entry.
    pub(crate) fn client_address(&self, parts: &Parts, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusted(peer) {
            return Some(peer);
        }
        // Right to left: each hop was added by the proxy before it. The first
        // entry that is not a trusted proxy is the client; an entry that is not
        // an address (or `address:port`) ends the walk, since whatever is left
        // of it was written by the client itself.
        let entries: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let entry = entry.trim();
            let Some(ip) = entry
                .parse::<IpAddr>()
                .ok()
                .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
            else {
                break;
            };
            client = ip;
            if !self.trusted(ip) {
                break;
            }
        }
        Some(client)
    }

    /// Says once, at the first request without a client address, that such
    /// requests share one bucket: one client over the limit then limits all.
    fn warn_once_without_address(&self) {
        if !self.warned_without_address.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "rate limit: a registration request carries no client address, so all such \
                 requests share one bucket; under axum serve with \
                 into_make_service_with_connect_info::<SocketAddr>(), elsewhere insert the \
                 peer's SocketAddr as a request extension or set RegistrationBuilder::peer_address"
            );
        }
    }

    /// Counts one registration; `Err(wait)` when over the limit.
    pub(crate) fn check(
        &self,
        parts: &Parts,
        peer: Option<SocketAddr>,
        token: Option<&SecretDigest>,
    ) -> Result<(), Duration> {
        let key = match (self.key, token) {
            (RateLimitKey::InitialAccessToken, Some(digest)) => Key::Token(*digest.as_bytes()),
            _ => match self.client_address(parts, peer) {
                Some(ip) => Key::Address(normalize(ip)),
                None => {
                    self.warn_once_without_address();
                    Key::UnknownAddress
                }
            },
        };
        // Forget idle keys now and then, so the map does not grow without bound.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constructor_makes_a_limit_and_off_makes_none() {
        let two = NonZeroU32::new(2).unwrap();
        for limit in [
            RateLimit::per_second(two),
            RateLimit::per_minute(two),
            RateLimit::per_hour(two),
            RateLimit::per_period(two, Duration::ZERO),
        ] {
            assert!(!limit.is_off());
            assert!(RateLimiter::new(limit).is_some());
        }
        assert!(RateLimit::off().is_off());
        assert!(RateLimiter::new(RateLimit::off()).is_none());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(normalize(a), normalize(b));
        assert_ne!(normalize(a), normalize(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(normalize(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
