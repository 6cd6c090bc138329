//! [`MemoryStore`]: a concurrent in-memory store.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use super::{ClientRecord, ClientStore, StoreError};

/// An in-memory [`ClientStore`]: a sharded concurrent hash map, O(1) per
/// operation, no lock held across an `.await`. Records are lost when the process
/// exits; use the SQLite or PostgreSQL store for durable registrations.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    clients: Arc<DashMap<String, Arc<ClientRecord>>>,
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
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        match self.clients.entry(record.client_id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict),
            Entry::Vacant(slot) => {
                slot.insert(record);
                Ok(())
            }
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
                *current = record;
                Ok(())
            }
            _ => Err(StoreError::Stale),
        }
    }

    async fn delete(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.remove(client_id).is_some())
    }
}
