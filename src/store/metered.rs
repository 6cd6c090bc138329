//! A store that times every call for the `metrics` feature.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{ClientLifecycleStore, ClientRecord, ClientStore, InitialAccessTokenStore, StoreError};

/// Wraps the configured store: each of the four calls is recorded in
/// [`STORE_DURATION`](crate::metrics::STORE_DURATION) with its outcome.
#[derive(Debug)]
pub(crate) struct MeteredStore(pub(crate) Arc<dyn ClientStore>);

fn observe<T>(operation: &'static str, started: Instant, result: &Result<T, StoreError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(StoreError::Conflict) => "conflict",
        Err(StoreError::Stale) => "stale",
        Err(StoreError::Corrupt(_)) => "corrupt",
        Err(StoreError::Unavailable(_)) => "unavailable",
    };
    crate::metrics::store_call(operation, outcome, started.elapsed());
}

#[async_trait]
impl ClientStore for MeteredStore {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.0.create(record).await;
        observe("create", started, &result);
        result
    }

    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        let started = Instant::now();
        let result = self.0.get(client_id).await;
        observe("get", started, &result);
        result
    }

    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.0.update(record, expected_revision).await;
        observe("update", started, &result);
        result
    }

    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        let started = Instant::now();
        let result = self.0.delete(client_id, expected_revision).await;
        observe("delete", started, &result);
        result
    }

    fn initial_access_tokens(&self) -> Option<&dyn InitialAccessTokenStore> {
        self.0.initial_access_tokens()
    }

    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        self.0.lifecycle()
    }

    fn assertion_replay(&self) -> Option<&dyn super::AssertionReplayStore> {
        self.0.assertion_replay()
    }

    fn quotas(&self) -> Option<&dyn super::QuotaStore> {
        self.0.quotas().map(|_| self as &dyn super::QuotaStore)
    }
}

/// A create within quotas is recorded as a `create`.
#[async_trait]
impl super::QuotaStore for MeteredStore {
    async fn create_within(
        &self,
        record: Arc<ClientRecord>,
        quotas: &super::Quotas,
    ) -> Result<Option<super::QuotaFull>, StoreError> {
        let Some(inner) = self.0.quotas() else {
            return self.0.create(record).await.map(|()| None);
        };
        let started = Instant::now();
        let result = inner.create_within(record, quotas).await;
        observe("create", started, &result);
        result
    }
}
