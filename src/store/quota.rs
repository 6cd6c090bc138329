//! Registration quotas kept as counts: every store that has the
//! [`QuotaStore`] capability counts its dynamically registered clients as it
//! stores and deletes them (in total, per `software_id`, per initial access
//! token), so a registration checks and takes its place in O(1), in the same
//! step that stores the client, without waiting for another registration.
//!
//! - [`MemoryStore`](super::MemoryStore) keeps the counts in atomics and a
//!   sharded map.
//! - The SQL stores keep them in a `client_counts` table, written in the same
//!   transaction as the client: SQLite by triggers on the clients table, inside
//!   its group commit; PostgreSQL in each batch of its group commit, which
//!   locks the count rows a quota checks (`INSERT … ON CONFLICT`, no advisory
//!   lock), so instances sharing one database never overshoot a quota
//!   together. `migrate()` builds the counts of an existing database once.
//!
//! A store without the capability (a custom store) still works with quotas:
//! the service then counts with
//! [`ClientLifecycleStore::count_clients`](super::ClientLifecycleStore::count_clients)
//! and serializes its own registrations, which is exact for one process only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use dashmap::DashMap;

use super::{ClientFilter, ClientRecord, RecordSource, StoreError};

/// Limits on how many dynamically registered clients may exist. Clients the
/// host created itself are never counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Most dynamically registered clients in all.
    pub max_clients: Option<u64>,
    /// Most clients per `software_id` (clients without one are not counted here).
    pub max_per_software_id: Option<u64>,
    /// Most clients registered with one initial access token.
    pub max_per_initial_access_token: Option<u64>,
}

impl Quotas {
    /// Whether no quota is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.max_clients.is_none()
            && self.max_per_software_id.is_none()
            && self.max_per_initial_access_token.is_none()
    }
}

/// Which quota a registration did not fit under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaFull {
    /// [`Quotas::max_clients`].
    Clients,
    /// [`Quotas::max_per_software_id`], for the record's `software_id`.
    SoftwareId,
    /// [`Quotas::max_per_initial_access_token`], for the record's token.
    InitialAccessToken,
}

/// Storing a client only if it fits under the quotas, atomically.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Stores `record` as [`ClientStore::create`](super::ClientStore::create)
    /// does, if, counting it, the dynamically registered clients
    /// ([`RecordSource::Dynamic`]) stay within every limit of `quotas`: in
    /// all, with its `software_id`, with its initial access token. Returns
    /// `None` once stored, or the first full quota (in [`QuotaFull`]'s order)
    /// without storing anything. Two concurrent calls, on any instance sharing
    /// the store, never both take the last place; deleting a client (also by
    /// a sweep) frees its place. Fails with [`StoreError::Conflict`] if the
    /// `client_id` exists.
    async fn create_within(
        &self,
        record: Arc<ClientRecord>,
        quotas: &Quotas,
    ) -> Result<Option<QuotaFull>, StoreError>;
}

/// The counts a filter reads, if it is one a counting store keeps: the
/// dynamically registered clients in all, with one `software_id`, or with one
/// initial access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted<'a> {
    /// Every dynamically registered client.
    All,
    /// Those with this `software_id`.
    SoftwareId(&'a str),
    /// Those registered with this initial access token.
    InitialAccessToken(&'a str),
}

impl<'a> Counted<'a> {
    /// The count `filter` asks for, if it is a kept one.
    pub(crate) fn of(filter: &ClientFilter<'a>) -> Option<Self> {
        if filter.source != Some(RecordSource::Dynamic) {
            return None;
        }
        match (filter.software_id, filter.initial_access_token_id) {
            (None, None) => Some(Self::All),
            (Some(id), None) => Some(Self::SoftwareId(id)),
            (None, Some(id)) => Some(Self::InitialAccessToken(id)),
            (Some(_), Some(_)) => None,
        }
    }

    /// The counts `record` is in, each with the limit `quotas` sets on it,
    /// in [`QuotaFull`]'s order; none for a host-created client.
    pub(crate) fn of_record(record: &'a ClientRecord, quotas: &Quotas) -> CountsOf<'a> {
        let mut counts = CountsOf::default();
        if record.source == RecordSource::Dynamic {
            counts.0[0] = Some((Self::All, quotas.max_clients));
            counts.0[1] = record
                .metadata
                .software_id
                .as_deref()
                .map(|id| (Self::SoftwareId(id), quotas.max_per_software_id));
            counts.0[2] = record.initial_access_token_id.as_deref().map(|id| {
                (
                    Self::InitialAccessToken(id),
                    quotas.max_per_initial_access_token,
                )
            });
        }
        counts
    }

    /// Which quota this count is limited by.
    pub(crate) fn full(self) -> QuotaFull {
        match self {
            Self::All => QuotaFull::Clients,
            Self::SoftwareId(_) => QuotaFull::SoftwareId,
            Self::InitialAccessToken(_) => QuotaFull::InitialAccessToken,
        }
    }
}

/// The counts one record is in, with their limits ([`Counted::of_record`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CountsOf<'a>([Option<(Counted<'a>, Option<u64>)>; 3]);

impl<'a> CountsOf<'a> {
    /// Each count with its limit.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Counted<'a>, Option<u64>)> + '_ {
        self.0.iter().flatten().copied()
    }
}

/// The memory store's counts: an atomic for all dynamically registered
/// clients, a sharded map per `software_id` and per token (an entry is
/// removed when it reaches zero, so the maps hold only live values).
#[derive(Debug, Default)]
pub(crate) struct MemoryCounts {
    all: AtomicU64,
    per_software_id: DashMap<String, u64>,
    per_initial_access_token: DashMap<String, u64>,
}

impl MemoryCounts {
    /// The current count of `counted`.
    pub(crate) fn get(&self, counted: Counted<'_>) -> u64 {
        match counted {
            Counted::All => self.all.load(Ordering::Acquire),
            Counted::SoftwareId(id) => self.per_software_id.get(id).map_or(0, |n| *n),
            Counted::InitialAccessToken(id) => {
                self.per_initial_access_token.get(id).map_or(0, |n| *n)
            }
        }
    }

    /// Takes a place for `record` in each of its counts, or none and the
    /// first full quota.
    pub(crate) fn take(&self, record: &ClientRecord, quotas: &Quotas) -> Result<(), QuotaFull> {
        let counts = Counted::of_record(record, quotas);
        for (taken, (counted, max)) in counts.iter().enumerate() {
            if !self.add(counted, max) {
                for (counted, _) in counts.iter().take(taken) {
                    self.sub(counted);
                }
                return Err(counted.full());
            }
        }
        Ok(())
    }

    /// Gives back the places of `record` (deleted, or not stored after all).
    pub(crate) fn give_back(&self, record: &ClientRecord) {
        for (counted, _) in Counted::of_record(record, &Quotas::default()).iter() {
            self.sub(counted);
        }
    }

    /// Moves `old`'s places to `new` (an update), if they differ: counts move
    /// whatever the limits, as an update is not a registration.
    pub(crate) fn replace(&self, old: &ClientRecord, new: &ClientRecord) {
        let none = Quotas::default();
        let (old_counts, new_counts) = (
            Counted::of_record(old, &none),
            Counted::of_record(new, &none),
        );
        if !old_counts.iter().eq(new_counts.iter()) {
            for (counted, _) in new_counts.iter() {
                self.add(counted, None);
            }
            for (counted, _) in old_counts.iter() {
                self.sub(counted);
            }
        }
    }

    /// Adds one to `counted` if it is below `max`.
    fn add(&self, counted: Counted<'_>, max: Option<u64>) -> bool {
        let room = |n: u64| max.is_none_or(|max| n < max);
        let map = match counted {
            Counted::All => {
                return self
                    .all
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        room(n).then_some(n + 1)
                    })
                    .is_ok();
            }
            Counted::SoftwareId(id) => (&self.per_software_id, id),
            Counted::InitialAccessToken(id) => (&self.per_initial_access_token, id),
        };
        let (map, id) = map;
        if !room(0) {
            return false;
        }
        // The entry's shard lock makes the check and the increment one step.
        let mut n = match map.get_mut(id) {
            Some(n) => n,
            None => map.entry(id.to_owned()).or_insert(0),
        };
        if room(*n) {
            *n += 1;
            true
        } else {
            false
        }
    }

    /// Subtracts one from `counted`.
    fn sub(&self, counted: Counted<'_>) {
        let (map, id) = match counted {
            Counted::All => {
                let _ = self
                    .all
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
                return;
            }
            Counted::SoftwareId(id) => (&self.per_software_id, id),
            Counted::InitialAccessToken(id) => (&self.per_initial_access_token, id),
        };
        if let Some(mut n) = map.get_mut(id) {
            *n = n.saturating_sub(1);
        }
        map.remove_if(id, |_, n| *n == 0);
    }
}
