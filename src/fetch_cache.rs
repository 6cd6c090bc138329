//! The cache of fetched documents (draft §5.2, RFC 9111): bounded, LRU, one
//! fetch per URL in flight.
//!
//! - Lifetime: `Cache-Control: no-store` is never cached; `max-age` wins over
//!   `Expires` (RFC 9111 §4.2.1); `no-cache` counts as a lifetime of zero; no
//!   header gives the default lifetime. Every lifetime but `no-store` is then
//!   held within the configured lower and upper bounds.
//! - Errors and invalid documents are never cached: only a validated value is
//!   ever inserted.
//! - Memory: at most `max_entries` values, least recently used out first.
//! - Single flight: concurrent lookups of a URL that is missing or stale share
//!   one fetch and its outcome, success or error.
//! - A failed refresh of a stale entry: when the failure is transient (no
//!   answer, a timeout, a `5xx`), the stale value is served for up to
//!   `stale_if_error` past its freshness; when the server answered (any other
//!   status, a body that is not a valid document), the entry is dropped at once
//!   and the lookup fails, since the client changed or withdrew its document.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use hashlink::LruCache;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// The bounds within which cache lifetimes are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheBounds {
    /// The shortest lifetime: a shorter `max-age`, `Expires` or `no-cache` is
    /// raised to it (default 60 s). `no-store` is never raised.
    pub min: Duration,
    /// The longest lifetime (default 24 h).
    pub max: Duration,
    /// The lifetime when the response has no cache headers (default 5 min).
    pub default: Duration,
    /// How long past its freshness an entry is still served while refreshes
    /// fail for transient reasons (default 10 min; zero: never).
    pub stale_if_error: Duration,
}

impl Default for CacheBounds {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(60),
            max: Duration::from_secs(24 * 60 * 60),
            default: Duration::from_secs(5 * 60),
            stale_if_error: Duration::from_secs(10 * 60),
        }
    }
}

/// How long a response may be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// `no-store`: not cached at all.
    NoStore,
    /// Reusable for this long.
    For(Duration),
}

/// The cache headers of a response, as received.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheHeaders {
    pub(crate) cache_control: Option<String>,
    pub(crate) expires: Option<String>,
    pub(crate) date: Option<String>,
    pub(crate) age: Option<String>,
}

impl CacheBounds {
    /// The freshness of a response with these headers (RFC 9111 §4.2.1),
    /// within the bounds.
    pub(crate) fn freshness(&self, headers: &CacheHeaders, now: SystemTime) -> Freshness {
        let mut max_age = None;
        let mut no_cache = false;
        for directive in headers
            .cache_control
            .as_deref()
            .unwrap_or_default()
            .split(',')
        {
            let directive = directive.trim();
            let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" => return Freshness::NoStore,
                "no-cache" => no_cache = true,
                "max-age" => {
                    // An invalid max-age makes the response stale (RFC 9111 §4.2.1).
                    let secs = value.trim().trim_matches('"').parse::<u64>().unwrap_or(0);
                    max_age = Some(max_age.map_or(secs, |m: u64| m.min(secs)));
                }
                _ => {}
            }
        }
        let age = headers
            .age
            .as_deref()
            .and_then(|a| a.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let lifetime = if no_cache {
            Duration::ZERO
        } else if let Some(secs) = max_age {
            Duration::from_secs(secs.saturating_sub(age))
        } else if let Some(expires) = headers.expires.as_deref() {
            // An invalid Expires (such as "0") is in the past.
            let date = headers
                .date
                .as_deref()
                .and_then(|d| httpdate::parse_http_date(d).ok())
                .unwrap_or(now);
            httpdate::parse_http_date(expires)
                .ok()
                .and_then(|at| at.duration_since(date).ok())
                .unwrap_or(Duration::ZERO)
                .saturating_sub(Duration::from_secs(age))
        } else {
            self.default
        };
        Freshness::For(lifetime.clamp(self.min, self.max.max(self.min)))
    }
}

/// `at + by`, or about a century later when that overflows (bounds are the
/// host's configuration and may be huge).
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

/// Why a fetch failed, as the cache needs to know it.
#[derive(Clone, Debug)]
pub(crate) struct Failure<E> {
    pub(crate) error: E,
    /// No answer, a timeout or a `5xx`: a stale entry may still be served.
    pub(crate) transient: bool,
}

/// What a lookup found, for the caller's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A fresh cached value.
    Cached,
    /// Fetched now, nothing cached before.
    Fetched,
    /// Fetched now, replacing a stale value.
    Refreshed,
    /// A stale value, served because its refresh failed transiently.
    StaleOnError,
}

struct Entry<V> {
    value: Arc<V>,
    fresh_until: Instant,
}

type Outcome<V, E> = Result<(Arc<V>, Origin), E>;
type Flight<V, E> = Arc<OnceCell<Outcome<V, E>>>;

/// A bounded LRU cache of validated values with single-flight fetching.
pub(crate) struct Cache<V, E> {
    entries: Mutex<LruCache<String, Entry<V>>>,
    flights: Mutex<HashMap<String, Flight<V, E>>>,
    bounds: CacheBounds,
}

impl<V, E> std::fmt::Debug for Cache<V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field(
                "entries",
                &self
                    .entries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len(),
            )
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl<V, E> Cache<V, E>
where
    V: Send + Sync,
    E: Clone + Send + Sync,
{
    /// An empty cache of at most `max_entries` values.
    pub(crate) fn new(max_entries: usize, bounds: CacheBounds) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(max_entries.max(1))),
            flights: Mutex::new(HashMap::new()),
            bounds,
        }
    }

    /// The number of cached values, fresh or stale.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The bounds lifetimes are held within.
    pub(crate) fn bounds(&self) -> &CacheBounds {
        &self.bounds
    }

    /// The cached value for `key` and whether it is still fresh.
    fn lookup(&self, key: &str, now: Instant) -> Option<(Arc<V>, bool)> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        Some((Arc::clone(&entry.value), now < entry.fresh_until))
    }

    /// The value cached for `key`, if it is still fresh: the fast path, with no
    /// flight bookkeeping.
    #[cfg_attr(not(feature = "client-id-metadata-document"), allow(dead_code))]
    pub(crate) fn fresh(&self, key: &str) -> Option<Arc<V>> {
        match self.lookup(key, Instant::now()) {
            Some((value, true)) => Some(value),
            _ => None,
        }
    }

    /// Makes the value cached for `key` stale if it is still `current`, the
    /// one the caller found wanting: of several callers that saw the same
    /// value, the first expires it and the others then find what it fetched
    /// (or join its fetch) instead of fetching again.
    #[cfg_attr(not(feature = "client-assertion"), allow(dead_code))]
    pub(crate) fn expire_if_current(&self, key: &str, current: &Arc<V>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(key)
            && Arc::ptr_eq(&entry.value, current)
        {
            entry.fresh_until = entry.fresh_until.min(Instant::now());
        }
    }

    /// The value for `key`: a fresh cached one, or else the outcome of one
    /// fetch shared by every concurrent caller. `fetch` gets the stale value,
    /// if any, to compare with what it fetches.
    pub(crate) async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Outcome<V, E>
    where
        F: FnOnce(Option<Arc<V>>) -> Fut,
        Fut: Future<Output = Result<(V, Freshness), Failure<E>>>,
    {
        if let Some((value, true)) = self.lookup(key, Instant::now()) {
            return Ok((value, Origin::Cached));
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(flights.entry(key.to_owned()).or_default())
        };
        let outcome = flight
            .get_or_init(|| async {
                // Another flight may have just filled the cache.
                let stale = match self.lookup(key, Instant::now()) {
                    Some((value, true)) => return Ok((value, Origin::Cached)),
                    Some((value, false)) => Some(value),
                    None => None,
                };
                self.fetch_and_store(key, stale, fetch).await
            })
            .await
            .clone();
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(key);
        }
        outcome
    }

    async fn fetch_and_store<F, Fut>(
        &self,
        key: &str,
        stale: Option<Arc<V>>,
        fetch: F,
    ) -> Outcome<V, E>
    where
        F: FnOnce(Option<Arc<V>>) -> Fut,
        Fut: Future<Output = Result<(V, Freshness), Failure<E>>>,
    {
        let had_stale = stale.is_some();
        match fetch(stale.clone()).await {
            Ok((value, freshness)) => {
                let value = Arc::new(value);
                let origin = if had_stale {
                    Origin::Refreshed
                } else {
                    Origin::Fetched
                };
                let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
                match freshness {
                    Freshness::NoStore => {
                        entries.remove(key);
                    }
                    Freshness::For(lifetime) => {
                        entries.insert(
                            key.to_owned(),
                            Entry {
                                value: Arc::clone(&value),
                                fresh_until: later(Instant::now(), lifetime),
                            },
                        );
                    }
                }
                Ok((value, origin))
            }
            Err(failure) => {
                let now = Instant::now();
                let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
                let servable = failure.transient
                    && entries
                        .get(key)
                        .is_some_and(|e| now < later(e.fresh_until, self.bounds.stale_if_error));
                match (servable, stale) {
                    (true, Some(stale)) => Ok((stale, Origin::StaleOnError)),
                    _ => {
                        entries.remove(key);
                        Err(failure.error)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn headers(cache_control: Option<&str>, expires: Option<&str>) -> CacheHeaders {
        CacheHeaders {
            cache_control: cache_control.map(str::to_owned),
            expires: expires.map(str::to_owned),
            date: None,
            age: None,
        }
    }

    fn unbounded() -> CacheBounds {
        CacheBounds {
            min: Duration::ZERO,
            max: Duration::from_secs(86_400),
            default: Duration::from_secs(300),
            stale_if_error: Duration::from_secs(600),
        }
    }

    /// RFC 9111 §5.2.2: no-store, no-cache, max-age; §5.3 Expires.
    #[test]
    fn cimd_5_2_freshness_from_cache_headers() {
        let b = unbounded();
        let now = SystemTime::now();
        let secs = |s| Freshness::For(Duration::from_secs(s));
        assert_eq!(
            b.freshness(&headers(Some("no-store"), None), now),
            Freshness::NoStore
        );
        assert_eq!(
            b.freshness(&headers(Some("public, max-age=60, no-store"), None), now),
            Freshness::NoStore
        );
        assert_eq!(
            b.freshness(&headers(Some("max-age=120"), None), now),
            secs(120)
        );
        assert_eq!(
            b.freshness(&headers(Some("no-cache, max-age=120"), None), now),
            secs(0)
        );
        assert_eq!(
            b.freshness(&headers(Some("max-age=abc"), None), now),
            secs(0)
        );
        let in_90 = httpdate::fmt_http_date(now + Duration::from_secs(90));
        match b.freshness(&headers(None, Some(&in_90)), now) {
            Freshness::For(d) => assert!((88..=90).contains(&d.as_secs()), "{d:?}"),
            other => panic!("{other:?}"),
        }
        // max-age wins over Expires.
        assert_eq!(
            b.freshness(&headers(Some("max-age=10"), Some(&in_90)), now),
            secs(10)
        );
        assert_eq!(b.freshness(&headers(None, Some("0")), now), secs(0));
        assert_eq!(b.freshness(&headers(None, None), now), secs(300));
        let mut aged = headers(Some("max-age=100"), None);
        aged.age = Some("40".into());
        assert_eq!(b.freshness(&aged, now), secs(60));
    }

    /// Draft §5.2: the server MAY define its own upper and lower bounds.
    #[test]
    fn cimd_5_2_lifetimes_are_held_within_bounds() {
        let b = CacheBounds {
            min: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            ..unbounded()
        };
        let now = SystemTime::now();
        assert_eq!(
            b.freshness(&headers(Some("max-age=5"), None), now),
            Freshness::For(Duration::from_secs(30))
        );
        assert_eq!(
            b.freshness(&headers(Some("max-age=999999"), None), now),
            Freshness::For(Duration::from_secs(3600))
        );
        assert_eq!(
            b.freshness(&headers(Some("no-store"), None), now),
            Freshness::NoStore
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_values_are_reused_and_stale_ones_refetched() {
        let cache: Cache<u32, &'static str> = Cache::new(8, unbounded());
        let fetches = AtomicUsize::new(0);
        let fetch = |_| async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok((7, Freshness::For(Duration::from_secs(10))))
        };
        assert_eq!(
            cache.get_or_fetch("k", fetch).await.unwrap().1,
            Origin::Fetched
        );
        assert_eq!(
            cache.get_or_fetch("k", fetch).await.unwrap().1,
            Origin::Cached
        );
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            cache.get_or_fetch("k", fetch).await.unwrap().1,
            Origin::Refreshed
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    /// Draft §5.2: MUST NOT cache error responses.
    #[tokio::test]
    async fn cimd_5_2_errors_are_not_cached() {
        let cache: Cache<u32, &'static str> = Cache::new(8, unbounded());
        let fetches = AtomicUsize::new(0);
        let failing = |_| async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Err::<(u32, Freshness), _>(Failure {
                error: "boom",
                transient: false,
            })
        };
        assert!(cache.get_or_fetch("k", failing).await.is_err());
        assert!(cache.get_or_fetch("k", failing).await.is_err());
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_entry_survives_transient_failures_within_the_bound() {
        let cache: Cache<u32, &'static str> = Cache::new(8, unbounded());
        let ok = |_| async { Ok((1, Freshness::For(Duration::from_secs(10)))) };
        let transient = |_| async {
            Err::<(u32, Freshness), _>(Failure {
                error: "timeout",
                transient: true,
            })
        };
        let definitive = |_| async {
            Err::<(u32, Freshness), _>(Failure {
                error: "404",
                transient: false,
            })
        };
        cache.get_or_fetch("k", ok).await.unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(
            cache.get_or_fetch("k", transient).await.unwrap().1,
            Origin::StaleOnError
        );
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(cache.get_or_fetch("k", transient).await, Err("timeout"));
        cache.get_or_fetch("k", ok).await.unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(cache.get_or_fetch("k", definitive).await, Err("404"));
        assert_eq!(cache.len(), 0, "an answered failure drops the entry");
    }

    #[tokio::test]
    async fn no_store_values_are_not_kept() {
        let cache: Cache<u32, &'static str> = Cache::new(8, unbounded());
        let fetch = |_| async { Ok((1, Freshness::NoStore)) };
        cache.get_or_fetch("k", fetch).await.unwrap();
        assert_eq!(cache.len(), 0);
    }

    #[tokio::test]
    async fn memory_is_bounded() {
        let cache: Cache<u32, &'static str> = Cache::new(3, unbounded());
        for key in ["a", "b", "c", "d", "e"] {
            let fetch = |_| async { Ok((1, Freshness::For(Duration::from_secs(60)))) };
            cache.get_or_fetch(key, fetch).await.unwrap();
        }
        assert_eq!(cache.len(), 3);
    }

    /// One fetch for 100 concurrent lookups of the same key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_share_one_fetch() {
        let cache: Arc<Cache<u32, &'static str>> = Arc::new(Cache::new(8, unbounded()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let cache = Arc::clone(&cache);
                let fetches = Arc::clone(&fetches);
                tokio::spawn(async move {
                    cache
                        .get_or_fetch("k", |_| async move {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok((5, Freshness::For(Duration::from_secs(60))))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(*task.await.unwrap().unwrap().0, 5);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
