//! Client storage: the [`ClientStore`] trait, the [`ClientRecord`] it stores, and
//! the backends.
//!
//! A store implements four methods. Optional capabilities (initial access
//! tokens, listing, expiry sweeps, quotas) are extension traits, so a custom store can
//! start small.
//!
//! Records are immutable values shared behind an [`Arc`]: the service builds a
//! new record for every change and hands it to the store, and the in-memory store
//! keeps and returns the same `Arc` without copying.
//!
//! Backends: [`MemoryStore`] (always), `SqliteStore` (feature `sqlite`, one
//! durable file), `PostgresStore` (feature `postgres`, several instances share
//! one PostgreSQL or CockroachDB database). Each has every optional capability.
//! The `conformance` feature exposes the suite they all pass, to run against a
//! custom store.
//!
#![doc = include_str!("../../docs/stores.md")]

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
mod extensions;
mod memory;
#[cfg(feature = "metrics")]
pub(crate) mod metered;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod missing_table;
#[cfg(feature = "postgres")]
mod postgres;
mod quota;
mod record;
mod replay;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod replay_sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

pub use extensions::{
    ClientFilter, ClientLifecycleStore, InitialAccessToken, InitialAccessTokenStore, StaleCriteria,
};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
pub use quota::{QuotaFull, QuotaStore, Quotas};
pub use record::{ClientRecord, RecordSource, StoredSecret};
pub use replay::{AssertionReplayStore, MemoryReplayStore};
#[cfg(feature = "postgres")]
pub use replay_sql::PostgresReplayStore;
#[cfg(feature = "sqlite")]
pub use replay_sql::SqliteReplayStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

pub use crate::error::BoxError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create`: a client with this `client_id` already exists.
    #[error("a client with this client_id already exists")]
    Conflict,
    /// `update`: the stored revision is not the expected one (another update won),
    /// or the client no longer exists.
    #[error("the client was changed or deleted concurrently")]
    Stale,
    /// The backend cannot answer now (connection lost, timeout, overloaded). The
    /// service answers `503` with `Retry-After` and recovers once the backend does.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored record cannot be read back (a row a person or another program
    /// broke). Retrying does not help: the service logs it at error level and
    /// answers `500` without `Retry-After`. The error names the record, never
    /// a stored value.
    #[error("a stored record is corrupt")]
    Corrupt(#[source] BoxError),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    pub fn unavailable(error: impl Into<BoxError>) -> Self {
        Self::Unavailable(error.into())
    }

    /// Wraps a description of a broken record as [`StoreError::Corrupt`].
    pub fn corrupt(error: impl Into<BoxError>) -> Self {
        Self::Corrupt(error.into())
    }
}

/// Where registered clients live.
///
/// Implementations must be safe to call concurrently. Every backend should pass
/// the conformance suite (`store::conformance`, feature `conformance`).
#[async_trait]
pub trait ClientStore: Debug + Send + Sync + 'static {
    /// Stores a new client. Fails with [`StoreError::Conflict`] if the
    /// `client_id` exists.
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError>;

    /// Loads a client, or `None` if there is none with this `client_id`.
    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError>;

    /// Replaces a client if its stored revision is `expected_revision`; the new
    /// record carries the next revision. Fails with [`StoreError::Stale`]
    /// otherwise, or if the client does not exist.
    ///
    /// `last_used_at` only moves forward: a later use recorded since the record
    /// was read ([`ClientLifecycleStore::record_use`]) is kept, so an update
    /// never makes an active client look stale to a sweep.
    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError>;

    /// Deletes a client; `true` if it existed (and, with `expected_revision`,
    /// had that revision: a registration changed concurrently is not deleted on
    /// the strength of a stale check).
    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError>;

    /// The store's initial access token capability, if it has one.
    fn initial_access_tokens(&self) -> Option<&dyn InitialAccessTokenStore> {
        None
    }

    /// The store's lifecycle capability (listing, counting, last use, sweeps),
    /// if it has one.
    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        None
    }

    /// The store's replay store for client assertion `jti` values, if it has
    /// one.
    fn assertion_replay(&self) -> Option<&dyn AssertionReplayStore> {
        None
    }

    /// The store's quota capability, if it has one: it counts its clients
    /// and stores a registration only within the quotas, atomically across
    /// every instance sharing it, in O(1). Without it the service counts with
    /// [`ClientLifecycleStore::count_clients`] and serializes its own
    /// registrations while quotas are configured, which is exact for one
    /// process only.
    fn quotas(&self) -> Option<&dyn QuotaStore> {
        None
    }
}

#[async_trait]
impl<S: ClientStore + ?Sized> ClientStore for Arc<S> {
    async fn create(&self, record: Arc<ClientRecord>) -> Result<(), StoreError> {
        (**self).create(record).await
    }
    async fn get(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        (**self).get(client_id).await
    }
    async fn update(
        &self,
        record: Arc<ClientRecord>,
        expected_revision: u64,
    ) -> Result<(), StoreError> {
        (**self).update(record, expected_revision).await
    }
    async fn delete(
        &self,
        client_id: &str,
        expected_revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        (**self).delete(client_id, expected_revision).await
    }
    fn initial_access_tokens(&self) -> Option<&dyn InitialAccessTokenStore> {
        (**self).initial_access_tokens()
    }
    fn lifecycle(&self) -> Option<&dyn ClientLifecycleStore> {
        (**self).lifecycle()
    }
    fn assertion_replay(&self) -> Option<&dyn AssertionReplayStore> {
        (**self).assertion_replay()
    }
    fn quotas(&self) -> Option<&dyn QuotaStore> {
        (**self).quotas()
    }
}
