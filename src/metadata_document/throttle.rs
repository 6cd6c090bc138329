//! Bounds on how often the server fetches metadata documents: anyone can
//! name any URL as a `client_id`, so without them every `/authorize` or
//! `/token` request with an uncached URL is one outbound fetch.
//!
//! Errors are still never cached as documents (draft §5.2): a lookup that a
//! bound stops is answered as a temporary failure
//! ([`DocumentError::Throttled`](super::DocumentError::Throttled)), never with
//! the error of an earlier fetch.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hashlink::LruCache;
use tokio::time::Instant;

/// The default pause after a failed fetch of a URL.
pub const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(30);

/// Bounds on metadata document fetches, per URL, per host and in all
/// ([`MetadataDocuments::fetch_bounds`](super::MetadataDocuments::fetch_bounds)).
/// Only fetches count: a cached document costs nothing. Per-caller bounds
/// (per client address) are the host's, in front of its endpoints.
///
/// ```
/// use std::time::Duration;
/// use tower_dcr::metadata_document::{FetchBounds, MetadataDocuments};
///
/// let documents = MetadataDocuments::any_host().fetch_bounds(FetchBounds {
///     per_host: 120,
///     ..FetchBounds::default()
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchBounds {
    /// After a failed fetch of a URL (no answer, a status other than `200`,
    /// an invalid document), no new fetch of that URL for this long (default
    /// 30 s; zero: off). A success ends the pause.
    pub failure_backoff: Duration,
    /// Most fetches started to one host (the `client_id` URL's host, any
    /// port) per [`per_host_interval`](Self::per_host_interval), as a token
    /// bucket that allows this many at once (default 60).
    pub per_host: u32,
    /// The interval of [`per_host`](Self::per_host) (default one minute).
    pub per_host_interval: Duration,
    /// Most fetches in flight to one host at a time (default 4).
    pub max_in_flight_per_host: usize,
    /// Most fetches in flight in all (default 64).
    pub max_in_flight: usize,
}

impl Default for FetchBounds {
    fn default() -> Self {
        Self {
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            per_host: 60,
            per_host_interval: Duration::from_secs(60),
            max_in_flight_per_host: 4,
            max_in_flight: 64,
        }
    }
}

impl FetchBounds {
    /// Why the bounds can never let a fetch through, if they cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.per_host == 0 || self.per_host_interval.is_zero() {
            return Err("fetch bounds: per_host and per_host_interval must be positive");
        }
        if self.max_in_flight_per_host == 0 || self.max_in_flight == 0 {
            return Err("fetch bounds: the in-flight limits must be positive");
        }
        Ok(())
    }
}

/// One host's share.
struct Host {
    in_flight: usize,
    /// Fetches that may start now (a token bucket of `per_host`).
    tokens: f64,
    refilled: Instant,
}

struct State {
    /// URL -> no fetch before this instant.
    paused: LruCache<String, Instant>,
    hosts: LruCache<String, Host>,
    in_flight: usize,
}

/// The runtime side of [`FetchBounds`]: bounded memory (least recently used
/// URLs and hosts forgotten first), one short lock per fetch.
pub(crate) struct FetchThrottle {
    bounds: FetchBounds,
    state: Mutex<State>,
}

impl std::fmt::Debug for FetchThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchThrottle")
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

/// A fetch under way: gives its place back when dropped.
pub(crate) struct FetchPermit<'a> {
    throttle: &'a FetchThrottle,
    host: String,
}

impl Drop for FetchPermit<'_> {
    fn drop(&mut self) {
        let mut state = self.throttle.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if let Some(host) = state.hosts.get_mut(&self.host) {
            host.in_flight = host.in_flight.saturating_sub(1);
        }
    }
}

impl FetchThrottle {
    /// A throttle remembering at most `max_entries` URLs and as many hosts.
    pub(crate) fn new(bounds: FetchBounds, max_entries: usize) -> Self {
        Self {
            bounds,
            state: Mutex::new(State {
                paused: LruCache::new(max_entries.max(1)),
                hosts: LruCache::new(max_entries.max(1)),
                in_flight: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit to fetch `url` from `host` now, or how long to wait before
    /// asking again.
    pub(crate) fn acquire(&self, url: &str, host: &str) -> Result<FetchPermit<'_>, Duration> {
        let now = Instant::now();
        let bounds = &self.bounds;
        let mut state = self.lock();
        if let Some(until) = state.paused.get(url).copied() {
            if now < until {
                return Err(until - now);
            }
            state.paused.remove(url);
        }
        if state.in_flight >= bounds.max_in_flight {
            return Err(Duration::from_secs(1));
        }
        let capacity = f64::from(bounds.per_host);
        let per_second = capacity / bounds.per_host_interval.as_secs_f64();
        if !state.hosts.contains_key(host) {
            state.hosts.insert(
                host.to_owned(),
                Host {
                    in_flight: 0,
                    tokens: capacity,
                    refilled: now,
                },
            );
        }
        let Some(share) = state.hosts.get_mut(host) else {
            return Err(Duration::from_secs(1));
        };
        let elapsed = now.saturating_duration_since(share.refilled).as_secs_f64();
        share.tokens = elapsed.mul_add(per_second, share.tokens).min(capacity);
        share.refilled = now;
        if share.in_flight >= bounds.max_in_flight_per_host {
            return Err(Duration::from_secs(1));
        }
        if share.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - share.tokens) / per_second)
                .max(Duration::from_secs(1)));
        }
        share.tokens -= 1.0;
        share.in_flight += 1;
        state.in_flight += 1;
        Ok(FetchPermit {
            throttle: self,
            host: host.to_owned(),
        })
    }

    /// Records how a fetch of `url` ended: a failure pauses the URL for
    /// [`FetchBounds::failure_backoff`], a success ends any pause.
    pub(crate) fn finished(&self, url: &str, failed: bool) {
        let mut state = self.lock();
        if failed && !self.bounds.failure_backoff.is_zero() {
            let until = Instant::now()
                .checked_add(self.bounds.failure_backoff)
                .unwrap_or_else(Instant::now);
            state.paused.insert(url.to_owned(), until);
        } else {
            state.paused.remove(url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> FetchBounds {
        FetchBounds {
            failure_backoff: Duration::from_secs(30),
            per_host: 3,
            per_host_interval: Duration::from_secs(60),
            max_in_flight_per_host: 2,
            max_in_flight: 3,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_url_is_paused_until_the_backoff_ends() {
        let throttle = FetchThrottle::new(bounds(), 16);
        drop(throttle.acquire("u", "h").unwrap());
        throttle.finished("u", true);
        let wait = throttle.acquire("u", "h").err().unwrap();
        assert_eq!(wait, Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(31)).await;
        drop(throttle.acquire("u", "h").unwrap());
        throttle.finished("u", false);
        assert!(throttle.acquire("u", "h").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_gets_its_rate_and_its_share_of_fetches_in_flight() {
        let throttle = FetchThrottle::new(bounds(), 16);
        let a = throttle.acquire("a", "h").unwrap();
        let b = throttle.acquire("b", "h").unwrap();
        assert!(
            throttle.acquire("c", "h").is_err(),
            "two in flight per host"
        );
        let other = throttle.acquire("x", "other").unwrap();
        assert!(throttle.acquire("y", "third").is_err(), "three in all");
        drop((a, b, other));
        drop(throttle.acquire("c", "h").unwrap());
        // Three per minute: the bucket is empty now.
        let wait = throttle.acquire("d", "h").err().unwrap();
        assert_eq!(wait, Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(21)).await;
        assert!(throttle.acquire("d", "h").is_ok());
    }

    #[test]
    fn bounds_that_allow_nothing_are_refused() {
        assert!(FetchBounds::default().check().is_ok());
        for bad in [
            FetchBounds {
                per_host: 0,
                ..FetchBounds::default()
            },
            FetchBounds {
                max_in_flight: 0,
                ..FetchBounds::default()
            },
            FetchBounds {
                max_in_flight_per_host: 0,
                ..FetchBounds::default()
            },
            FetchBounds {
                per_host_interval: Duration::ZERO,
                ..FetchBounds::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
