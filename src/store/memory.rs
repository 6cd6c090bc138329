//! [`MemoryStore`]: a concurrent in-memory store.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::quota::{Counted, MemoryCounts};
use super::{
    ClientFilter, ClientLifecycleStore, ClientRecord, ClientStore, InitialAccessToken,
    InitialAccessTokenStore, QuotaFull, QuotaStore, Quotas, StaleCriteria, StoreError,
};
use crate::credentials::SecretDigest;

/// An in-memory [`ClientStore`]: a sharded concurrent hash map, O(1) per
/// operation, no lock held across an `.await`. Records are lost when the process
/// exits; use the SQLite or PostgreSQL store for durable registrations.
///
/// It has every optional capability: initial access tokens, lifecycle and
/// quotas. It counts its dynamically registered clients as it stores and
/// deletes them (`store::quota`), so a quota check and the counts of
/// [`ClientLifecycleStore::count_clients`] that quotas read are O(1).
/// Listing and sweeps walk every client (O(n)); they are meant for background
/// tasks and admin tools, not the request path.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    clients: Arc<DashMap<String, Arc<ClientRecord>>>,
    counts: Arc<MemoryCounts>,
    initial_access_tokens: Arc<DashMap<[u8; 32], InitialAccessToken>>,
    replay: super::MemoryReplayStore,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of stored clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is stored.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    fn collect_sorted(
        &self,
        keep: impl Fn(&ClientRecord) -> bool,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<Arc<ClientRecord>> {
        let mut found: Vec<Arc<ClientRecord>> = self
            .clients
            .iter()
            .filter(|r| after.is_none_or(|a| r.key().as_str() > a) && keep(r.value()))
            .map(|r| Arc::clone(r.value()))
            .collect();
        found.sort_unstable_by(|a, b| a.client_id.cmp(&b.client_id));
        found.truncate(limit);
        found
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        match self.create_counted(record, &Quotas::default())? {
            // No limit, so no quota is full.
            Some(_) => Err(StoreError::Conflict),
            None => Ok(()),
        }
    }

    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        Ok(self.clients.get(client_id).map(|r| Arc::clone(&r)))
    }

    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError> {
        match self.clients.get_mut(&record.client_id) {
            Some(mut current) if current.revision == expected_revision => {
                self.counts.replace(&current, &record);
                *current = if current.last_used_at > record.last_used_at {
                    let mut kept = ClientRecord::clone(&record);
                    kept.last_used_at = current.last_used_at;
                    Arc::new(kept)
                } else {
                    record
                };
                Ok(())
            }
            _ => Err(StoreError::Stale),
        }
    }

    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        let removed = self.clients.remove_if(client_id, |_, r| {
            expected_revision.is_none_or(|rev| r.revision == rev)
        });
        Ok(self.counted_out(removed))
    }

    fn initial_access_tokens(&self) -> Option<&dyn InitialAccessTokenStore> {
        Some(self)
    }

    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        Some(self)
    }

    fn assertion_replay(&self) -> Option<&dyn super::AssertionReplayStore> {
        Some(&self.replay)
    }

    fn quotas(&self) -> Option<&dyn QuotaStore> {
        Some(self)
    }
}

impl MemoryStore {
    /// Takes the record's places in the counts, then stores it; gives them
    /// back if its `client_id` exists.
    fn create_counted(
        &self,
        record: Arc<ClientRecord>,
        quotas: &Quotas,
    ) -> Result<Option<QuotaFull>, StoreError> {
        if let Err(full) = self.counts.take(&record, quotas) {
            return Ok(Some(full));
        }
        match self.clients.entry(record.client_id.clone()) {
            Entry::Occupied(slot) => {
                drop(slot);
                self.counts.give_back(&record);
                Err(StoreError::Conflict)
            }
            Entry::Vacant(slot) => {
                slot.insert(record);
                Ok(None)
            }
        }
    }

    /// Gives back the places of a removed client; whether one was removed.
    fn counted_out(&self, removed: Option<(String, Arc<ClientRecord>)>) -> bool {
        match removed {
            Some((_, record)) => {
                self.counts.give_back(&record);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl QuotaStore for MemoryStore {
    async fn create_within(
        &self,
        record: Arc<ClientRecord>,
        quotas: &Quotas,
    ) -> Result<Option<QuotaFull>, StoreError> {
        self.create_counted(record, quotas)
    }
}

#[async_trait]
impl InitialAccessTokenStore for MemoryStore {
    async fn create_initial_access_token(
        &self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError> {
        if self.initial_access_tokens.iter().any(|t| t.id == token.id) {
            return Err(StoreError::Conflict);
        }
        match self.initial_access_tokens.entry(*token.digest.as_bytes()) {
            Entry::Occupied(_) => Err(StoreError::Conflict),
            Entry::Vacant(slot) => {
                slot.insert(token.clone());
                Ok(())
            }
        }
    }

    async fn find_initial_access_token(
        &self,
        digest: &SecretDigest,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        Ok(self
            .initial_access_tokens
            .get(digest.as_bytes())
            .map(|t| t.clone()))
    }

    async fn consume_initial_access_token(
        &self,
        digest: &SecretDigest,
        now: u64,
    ) -> Result<Option<InitialAccessToken>, StoreError> {
        // `get_mut` holds the shard's write lock: check and increment are atomic.
        Ok(
            match self.initial_access_tokens.get_mut(digest.as_bytes()) {
                Some(mut token) if token.usable(now) => {
                    token.uses += 1;
                    Some(token.clone())
                }
                _ => None,
            },
        )
    }

    async fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError> {
        let mut all: Vec<_> = self
            .initial_access_tokens
            .iter()
            .map(|t| t.clone())
            .collect();
        all.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    async fn revoke_initial_access_token(&self, id: &str) -> Result<bool, StoreError> {
        let key = self
            .initial_access_tokens
            .iter()
            .find(|t| t.id == id)
            .map(|t| *t.key());
        Ok(key.is_some_and(|k| self.initial_access_tokens.remove(&k).is_some()))
    }
}

#[async_trait]
impl ClientLifecycleStore for MemoryStore {
    async fn record_use(&self, client_id: &str, at: u64) -> Result<(), StoreError> {
        if let Some(mut current) = self.clients.get_mut(client_id)
            && current.last_used_at.is_none_or(|last| last < at)
        {
            let mut record = ClientRecord::clone(&current);
            record.last_used_at = Some(at);
            *current = Arc::new(record);
        }
        Ok(())
    }

    async fn list_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        Ok(self.collect_sorted(|_| true, after, limit))
    }

    async fn count_clients(&self, filter: &ClientFilter<'_>) -> Result<u64, StoreError> {
        if let Some(counted) = Counted::of(filter) {
            return Ok(self.counts.get(counted));
        }
        Ok(self
            .clients
            .iter()
            .filter(|r| filter.matches(r.value()))
            .count() as u64)
    }

    async fn stale_clients(
        &self,
        criteria: &StaleCriteria,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        Ok(self.collect_sorted(|r| criteria.matches(r), None, limit))
    }

    async fn delete_if_stale(
        &self,
        client_id: &str,
        criteria: &StaleCriteria,
    ) -> Result<bool, StoreError> {
        let removed = self
            .clients
            .remove_if(client_id, |_, r| criteria.matches(r));
        Ok(self.counted_out(removed))
    }

    async fn expired_secrets(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<Arc<ClientRecord>>, StoreError> {
        Ok(self.collect_sorted(
            |r| r.client_secret.is_some() && r.secret_expired(now),
            None,
            limit,
        ))
    }
}
