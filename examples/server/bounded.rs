//! A map with a size bound, in all and per client, whose entries expire.
//!
//! Every map of in-memory authorization state is one of these, so no caller
//! can grow the process without bound: when a bound is reached, expired
//! entries are dropped (at most once a second, so a flood does not turn each
//! insert into a full scan) and, if that frees nothing, the insert is refused.
//! The per-client bound keeps one client from using up the room of all.

use std::collections::HashMap;

/// A bound was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The map holds its most entries.
    Total,
    /// The client holds its most entries.
    Client,
}

struct Entry<V> {
    client_id: String,
    /// When the entry may be dropped (seconds since the epoch).
    evict_at: u64,
    value: V,
}

/// See the module docs.
pub struct Bounded<V> {
    entries: HashMap<[u8; 32], Entry<V>>,
    per_client: HashMap<String, usize>,
    max_total: usize,
    max_per_client: usize,
    last_sweep: u64,
}

impl<V> Bounded<V> {
    /// An empty map holding at most `max_total` entries, `max_per_client` of
    /// one client.
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Self {
            entries: HashMap::new(),
            per_client: HashMap::new(),
            max_total,
            max_per_client,
            last_sweep: 0,
        }
    }

    /// Adds an entry of `client_id`, to be dropped at `evict_at`.
    pub fn insert(
        &mut self,
        key: [u8; 32],
        client_id: &str,
        evict_at: u64,
        value: V,
        now: u64,
    ) -> Result<(), Full> {
        let full = |map: &Self| {
            if map.entries.len() >= map.max_total {
                Some(Full::Total)
            } else if map.per_client.get(client_id).copied().unwrap_or(0) >= map.max_per_client {
                Some(Full::Client)
            } else {
                None
            }
        };
        if full(self).is_some() && now > self.last_sweep {
            self.sweep(now);
        }
        if let Some(full) = full(self) {
            return Err(full);
        }
        *self.per_client.entry(client_id.to_owned()).or_default() += 1;
        if let Some(old) = self.entries.insert(
            key,
            Entry {
                client_id: client_id.to_owned(),
                evict_at,
                value,
            },
        ) {
            self.forget(&old.client_id);
        }
        Ok(())
    }

    fn forget(&mut self, client_id: &str) {
        if let Some(count) = self.per_client.get_mut(client_id) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(client_id);
            }
        }
    }

    /// The entry under `key`, with its client.
    pub fn get(&self, key: &[u8; 32]) -> Option<(&str, &V)> {
        self.entries
            .get(key)
            .map(|e| (e.client_id.as_str(), &e.value))
    }

    /// The entry under `key`, to change.
    pub fn get_mut(&mut self, key: &[u8; 32]) -> Option<(&str, &mut V)> {
        self.entries
            .get_mut(key)
            .map(|e| (e.client_id.as_str(), &mut e.value))
    }

    /// Removes and returns the value under `key`.
    pub fn remove(&mut self, key: &[u8; 32]) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.forget(&entry.client_id);
        Some(entry.value)
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        let per_client = &mut self.per_client;
        self.entries.retain(|_, entry| {
            let kept = keep(&entry.value);
            if !kept && let Some(count) = per_client.get_mut(&entry.client_id) {
                *count -= 1;
            }
            kept
        });
        self.per_client.retain(|_, count| *count > 0);
    }

    /// Drops the entries whose time has come.
    pub fn sweep(&mut self, now: u64) {
        self.last_sweep = now;
        let per_client = &mut self.per_client;
        self.entries.retain(|_, entry| {
            let kept = now < entry.evict_at;
            if !kept && let Some(count) = per_client.get_mut(&entry.client_id) {
                *count -= 1;
            }
            kept
        });
        self.per_client.retain(|_, count| *count > 0);
    }
}
