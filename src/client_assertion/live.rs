//! A bound on the live `jti` records one client may hold: without it, one
//! client (a URL client anyone can create) could fill the replay store with
//! valid assertions as fast as it can sign them.
//!
//! Counted per service instance, in memory: a client over the bound is
//! refused (`invalid_client`) until some of its assertions expire. Refusing,
//! rather than forgetting the oldest records, keeps every accepted `jti`
//! until its assertion expires: the bound never reopens a replay.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// How many reservations between two sweeps of clients with nothing live.
const SWEEP_EVERY: u64 = 1024;

/// The live assertions of one client: how many expire at each second.
#[derive(Default)]
struct Live {
    until: BTreeMap<u64, u32>,
    len: usize,
}

impl Live {
    /// Forgets the assertions expired at `now` (valid while `now < until`).
    fn prune(&mut self, now: u64) {
        while let Some((&until, &count)) = self.until.first_key_value() {
            if until > now {
                break;
            }
            self.until.pop_first();
            self.len -= count as usize;
        }
    }
}

/// The live assertions of every client, within a bound per client.
pub(crate) struct LiveAssertions {
    max_per_client: usize,
    clients: Mutex<HashMap<[u8; 32], Live>>,
    reservations: AtomicU64,
}

impl std::fmt::Debug for LiveAssertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAssertions")
            .field("max_per_client", &self.max_per_client)
            .finish_non_exhaustive()
    }
}

fn key(client_id: &str) -> [u8; 32] {
    Sha256::digest(client_id.as_bytes()).into()
}

impl LiveAssertions {
    pub(crate) fn new(max_per_client: usize) -> Self {
        Self {
            max_per_client,
            clients: Mutex::new(HashMap::new()),
            reservations: AtomicU64::new(0),
        }
    }

    /// Counts one more live assertion of `client_id`, valid until `until`;
    /// `false` (nothing counted) when the client already has the most.
    pub(crate) fn reserve(&self, client_id: &str, until: u64, now: u64) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if self.reservations.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            clients.retain(|_, live| {
                live.prune(now);
                live.len > 0
            });
        }
        let live = clients.entry(key(client_id)).or_default();
        live.prune(now);
        if live.len >= self.max_per_client {
            return false;
        }
        *live.until.entry(until).or_default() += 1;
        live.len += 1;
        true
    }

    /// Takes back a reservation whose assertion was not accepted after all.
    pub(crate) fn release(&self, client_id: &str, until: u64) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(live) = clients.get_mut(&key(client_id)) else {
            return;
        };
        if let Some(count) = live.until.get_mut(&until) {
            *count -= 1;
            live.len -= 1;
            if *count == 0 {
                live.until.remove(&until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 24 item 17: at most `max` live assertions per client; room comes
    /// back as they expire (at `until`) or are released, and other clients
    /// are not affected.
    #[test]
    fn live_assertions_are_bounded_per_client() {
        let live = LiveAssertions::new(2);
        assert!(live.reserve("a", 100, 10));
        assert!(live.reserve("a", 200, 10));
        assert!(!live.reserve("a", 200, 10), "over the bound");
        assert!(live.reserve("b", 200, 10), "per client");
        live.release("a", 200);
        assert!(live.reserve("a", 300, 10));
        assert!(!live.reserve("a", 300, 99));
        assert!(live.reserve("a", 300, 100), "the first expired at 100");
    }
}
