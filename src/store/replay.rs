//! The replay store of client assertions: each `jti` is accepted once until
//! the assertion expires (RFC 7523 §3 item 7, OIDC Core §9).
//!
//! An optional store capability ([`ClientStore::assertion_replay`]). Several
//! service instances that share one database share its replay store, so an
//! assertion accepted by one instance is refused by every other.
//!
//! A record is live while `now < expires_at`, the seconds at which the
//! assertion itself is still valid (`exp` + leeway, RFC 7519 §4.1.4), so a
//! `jti` is never forgotten while its assertion could still be accepted.
//! Every store here forgets expired records by itself, with bounded work per
//! call: the host never has to call
//! [`purge_expired`](AssertionReplayStore::purge_expired).
//!
//! [`ClientStore::assertion_replay`]: super::ClientStore::assertion_replay

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use sha2::{Digest, Sha256};

use super::StoreError;

/// Remembers the `jti` of accepted client assertions until they expire.
#[async_trait]
pub trait AssertionReplayStore: Send + Sync {
    /// Records `jti` for `client_id` until `expires_at` (seconds since the
    /// epoch; the record is live while `now < expires_at`). `true` if it was
    /// not recorded, or only by a record expired at `now` (`expires_at <=
    /// now`); `false` for a replay. Atomic: of two concurrent calls with the
    /// same `client_id` and `jti`, exactly one gets `true`.
    async fn first_use(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, StoreError>;

    /// Forgets the records expired at `now`; returns how many. The stores of
    /// this crate also do it by themselves, a bounded batch at a time.
    async fn purge_expired(&self, now: u64) -> Result<u64, StoreError>;
}

/// The key of one `(client_id, jti)` pair: a SHA-256 digest, so that stored
/// keys have a fixed size whatever a client sends.
pub(crate) fn replay_key(client_id: &str, jti: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((client_id.len() as u64).to_be_bytes());
    hash.update(client_id.as_bytes());
    hash.update(jti.as_bytes());
    hash.finalize().into()
}

/// How many insertions between two sweeps of expired records.
const SWEEP_EVERY: u64 = 1024;

/// An in-memory [`AssertionReplayStore`] (one instance only). Expired records
/// are swept every 1024 insertions, so memory stays proportional to the
/// assertions alive at once.
#[derive(Clone, Debug, Default)]
pub struct MemoryReplayStore {
    seen: Arc<DashMap<[u8; 32], u64>>,
    inserts: Arc<AtomicU64>,
}

impl MemoryReplayStore {
    /// An empty replay store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are kept, expired or not.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no record is kept.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[async_trait]
impl AssertionReplayStore for MemoryReplayStore {
    async fn first_use(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let first = match self.seen.entry(replay_key(client_id, jti)) {
            Entry::Occupied(mut seen) if *seen.get() <= now => {
                seen.insert(expires_at);
                true
            }
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(expires_at);
                true
            }
        };
        if first && self.inserts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.seen.retain(|_, at| *at > now);
        }
        Ok(first)
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
        let before = self.seen.len();
        self.seen.retain(|_, at| *at > now);
        Ok(before.saturating_sub(self.seen.len()) as u64)
    }
}

/// How many `first_use` calls between two bounded purges of expired records
/// in the SQL stores.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const PURGE_EVERY: u64 = 16;

/// Most expired records one bounded purge deletes: more than `PURGE_EVERY`
/// insertions add, so the table shrinks back to its live records.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const PURGE_BATCH: u64 = 256;

/// Counts `first_use` calls; every [`PURGE_EVERY`]-th is due to purge.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[derive(Clone, Debug, Default)]
pub(crate) struct PurgeTick(Arc<AtomicU64>);

impl PurgeTick {
    /// Whether this call should purge a batch of expired records.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn due(&self) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
    }
}

/// The contract every replay store meets at the boundary: a record with
/// `expires_at = T` refuses a replay at `T - 1` (the last second its
/// assertion is valid) and is expired at `T`; and expired records go away
/// without `purge_expired`. `extra_calls` first_use calls are made at the
/// end, enough for the store's own purge to run.
#[cfg(test)]
pub(crate) async fn check_boundary_and_purge(store: &dyn AssertionReplayStore, extra_calls: u64) {
    const T: u64 = 1_000;
    assert!(store.first_use("c", "j", T, T - 1).await.unwrap());
    assert!(
        !store.first_use("c", "j", T, T - 1).await.unwrap(),
        "a replay at the last valid second (T - 1) is refused"
    );
    assert!(
        store.first_use("c", "j", T + 300, T).await.unwrap(),
        "at T the record is expired, as the assertion is"
    );
    for i in 0..40 {
        store
            .first_use("c", &format!("old-{i}"), 100, 10)
            .await
            .unwrap();
    }
    for i in 0..extra_calls {
        store
            .first_use("c", &format!("new-{i}"), 10 * T, 200)
            .await
            .unwrap();
    }
    assert_eq!(
        store.purge_expired(200).await.unwrap(),
        0,
        "expired records were already purged"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OIDC Core §9, RFC 7519 §4.1.4: the boundary, and purging without the
    /// host calling anything.
    #[tokio::test]
    async fn oidc_core_9_memory_replay_store_boundary_and_purge() {
        let store = MemoryReplayStore::new();
        check_boundary_and_purge(&store, SWEEP_EVERY).await;
        assert!(store.len() <= SWEEP_EVERY as usize + 1);
    }

    #[tokio::test]
    async fn a_jti_is_accepted_once_until_it_expires() {
        let store = MemoryReplayStore::new();
        assert!(store.first_use("c", "j1", 100, 10).await.unwrap());
        assert!(!store.first_use("c", "j1", 100, 20).await.unwrap());
        assert!(store.first_use("other", "j1", 100, 20).await.unwrap());
        assert!(
            store.first_use("c", "j1", 200, 100).await.unwrap(),
            "expired"
        );
        assert_eq!(store.purge_expired(150).await.unwrap(), 1);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn keys_separate_client_and_jti() {
        assert_ne!(replay_key("ab", "c"), replay_key("a", "bc"));
    }
}
