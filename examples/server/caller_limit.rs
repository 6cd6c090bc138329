//! A per-caller bound on the requests that name a URL client id
//! (`--url-client-rate`): each such request may make the server fetch a
//! metadata document, so one address may send only so many a minute. The
//! library bounds the fetches per URL, per host and in all; this is the
//! bound per caller in front of the endpoints.
//!
//! A token bucket per caller ([`crate::grants::caller`]: an address, an IPv6
//! /64), holding `rate` requests and refilled at `rate` a minute. The map of
//! buckets is itself bounded: idle (full) buckets are dropped, and past
//! [`MAX_CALLERS`] an arbitrary bucket goes (which only ever makes the limit
//! laxer for that caller).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use std::time::Instant;

/// The most callers tracked at once.
pub const MAX_CALLERS: usize = 100_000;

/// Whether a `client_id` is a URL client id (a metadata document's URL).
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id
        .get(.."https://".len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// See the module docs.
pub struct CallerLimit {
    rate: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl CallerLimit {
    /// `rate` requests a minute per caller, in a burst too; `None` for `0`
    /// (no limit).
    pub fn new(rate: u32) -> Option<Self> {
        (rate > 0).then(|| Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let per_second = f64::from(self.rate) / 60.0;
        let earned = now.duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + earned).min(f64::from(self.rate));
        bucket.at = now;
    }

    /// Counts one request of `caller`; `Err` with how long to wait when it
    /// has none left.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        self.check_at(caller, Instant::now())
    }

    fn check_at(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(caller) && buckets.len() >= MAX_CALLERS {
            self.drop_idle(&mut buckets, now);
            if buckets.len() >= MAX_CALLERS
                && let Some(any) = buckets.keys().next().cloned()
            {
                buckets.remove(&any);
            }
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: f64::from(self.rate),
            at: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let per_second = f64::from(self.rate) / 60.0;
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    fn drop_idle(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| {
            self.refill(bucket, now);
            bucket.tokens < f64::from(self.rate)
        });
    }

    /// Drops the buckets of callers that have been idle long enough to be
    /// full again. Run periodically.
    pub fn sweep(&self) {
        self.sweep_at(Instant::now());
    }

    fn sweep_at(&self, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        self.drop_idle(&mut buckets, now);
    }
}

/// Seconds for a `Retry-After` header: at least 1, rounded up.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_client_ids_are_https_urls() {
        assert!(is_url_client_id("https://app.example/client.json"));
        assert!(is_url_client_id("HTTPS://app.example/client.json"));
        assert!(!is_url_client_id("s6BhdRkqt3"));
        assert!(!is_url_client_id("http://app.example/client.json"));
        assert!(!is_url_client_id("é"));
    }

    #[test]
    fn a_caller_gets_its_rate_and_others_are_counted_apart() {
        let limit = CallerLimit::new(3).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limit.check_at("192.0.2.1", start).is_ok());
        }
        let wait = limit.check_at("192.0.2.1", start).unwrap_err();
        assert!(
            wait.abs_diff(Duration::from_secs(20)) < Duration::from_millis(1),
            "{wait:?}"
        );
        assert!(limit.check_at("192.0.2.2", start).is_ok());
        let later = start + Duration::from_secs(20);
        assert!(limit.check_at("192.0.2.1", later).is_ok());
        assert!(limit.check_at("192.0.2.1", later).is_err());
        limit.sweep_at(later + Duration::from_secs(120));
        assert!(limit.buckets.lock().unwrap().is_empty());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(Duration::from_millis(29_001)), 30);
    }
}
