//! A map with size bounds whose entries expire, where a full map makes room
//! by dropping the offender's oldest entries, never by refusing everyone.
//!
//! Every map of in-memory authorization state is one of these, so no caller
//! can grow the process without bound. Each entry has an owner (a client, or
//! the address a request came from) and may belong to a group (the host of a
//! URL client). When an insert would pass a bound:
//!
//! - the owner's bound: the owner's own oldest entry goes;
//! - the group's bound: the group's oldest entry goes;
//! - the total bound: the oldest entry of the owner holding the most goes.
//!
//! So a flood pushes out the flooder's entries; an owner holding few entries
//! loses one only when every owner holds as few. Inserts never fail.
//! Expired entries are dropped as inserts come, through an index by expiry,
//! without scanning the map.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A map key: the SHA-256 digest of a secret.
pub type Key = [u8; 32];

/// The bounds of a [`Bounded`] map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The most entries in all.
    pub total: usize,
    /// The most entries of one owner.
    pub per_owner: usize,
    /// The most entries of one group.
    pub per_group: usize,
}

struct Entry<V> {
    owner: Arc<str>,
    group: Option<Arc<str>>,
    /// Insertion order: the smallest is the oldest.
    seq: u64,
    /// When the entry may be dropped (seconds since the epoch).
    evict_at: u64,
    value: V,
}

/// See the module docs.
pub struct Bounded<V> {
    entries: HashMap<Key, Entry<V>>,
    /// Each owner's entries, oldest first.
    owners: HashMap<Arc<str>, BTreeMap<u64, Key>>,
    /// Each group's entries, oldest first.
    groups: HashMap<Arc<str>, BTreeMap<u64, Key>>,
    /// The owners by how many entries they hold: the last holds the most.
    sizes: BTreeSet<(usize, Arc<str>)>,
    /// Every entry by when it may be dropped.
    expiry: BTreeMap<(u64, u64), Key>,
    bounds: Bounds,
    next_seq: u64,
}

impl<V> Bounded<V> {
    /// An empty map with these bounds (each at least 1).
    pub fn new(bounds: Bounds) -> Self {
        Self {
            entries: HashMap::new(),
            owners: HashMap::new(),
            groups: HashMap::new(),
            sizes: BTreeSet::new(),
            expiry: BTreeMap::new(),
            bounds: Bounds {
                total: bounds.total.max(1),
                per_owner: bounds.per_owner.max(1),
                per_group: bounds.per_group.max(1),
            },
            next_seq: 0,
        }
    }

    /// How many entries the map holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many entries `owner` holds.
    pub fn held_by(&self, owner: &str) -> usize {
        self.owners.get(owner).map_or(0, BTreeMap::len)
    }

    /// Adds an entry of `owner` (in `group`, if any), to be dropped at
    /// `evict_at`. Returns what had to go to make room, expired entries
    /// included, so the caller can forget them elsewhere too.
    pub fn insert(
        &mut self,
        key: Key,
        owner: &str,
        group: Option<&str>,
        evict_at: u64,
        value: V,
        now: u64,
    ) -> Vec<(Key, V)> {
        let mut gone = self.sweep(now);
        gone.extend(self.remove(&key).map(|v| (key, v)));
        while self.held_by(owner) >= self.bounds.per_owner {
            gone.extend(self.evict_oldest_of_owner(owner));
        }
        if let Some(group) = group {
            while self.groups.get(group).map_or(0, BTreeMap::len) >= self.bounds.per_group {
                let Some(oldest) = self
                    .groups
                    .get(group)
                    .and_then(|g| g.values().next().copied())
                else {
                    break;
                };
                gone.extend(self.remove(&oldest).map(|v| (oldest, v)));
            }
        }
        while self.entries.len() >= self.bounds.total {
            let Some((_, largest)) = self.sizes.last().cloned() else {
                break;
            };
            gone.extend(self.evict_oldest_of_owner(&largest));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let owner: Arc<str> = self
            .owners
            .get_key_value(owner)
            .map_or_else(|| Arc::from(owner), |(k, _)| k.clone());
        let group: Option<Arc<str>> = group.map(|g| {
            self.groups
                .get_key_value(g)
                .map_or_else(|| Arc::from(g), |(k, _)| k.clone())
        });
        self.resize(&owner, 1);
        self.owners
            .entry(owner.clone())
            .or_default()
            .insert(seq, key);
        if let Some(group) = &group {
            self.groups
                .entry(group.clone())
                .or_default()
                .insert(seq, key);
        }
        self.expiry.insert((evict_at, seq), key);
        self.entries.insert(
            key,
            Entry {
                owner,
                group,
                seq,
                evict_at,
                value,
            },
        );
        gone
    }

    fn evict_oldest_of_owner(&mut self, owner: &str) -> Option<(Key, V)> {
        let oldest = *self.owners.get(owner)?.values().next()?;
        self.remove(&oldest).map(|v| (oldest, v))
    }

    /// Moves `owner`'s place in `sizes` by `delta` entries.
    fn resize(&mut self, owner: &Arc<str>, delta: isize) {
        let held = self.held_by(owner);
        if held > 0 {
            self.sizes.remove(&(held, owner.clone()));
        }
        let held = held.saturating_add_signed(delta);
        if held > 0 {
            self.sizes.insert((held, owner.clone()));
        }
    }

    /// The entry under `key`, with its owner.
    pub fn get(&self, key: &Key) -> Option<(&str, &V)> {
        self.entries.get(key).map(|e| (&*e.owner, &e.value))
    }

    /// The entry under `key`, to change.
    pub fn get_mut(&mut self, key: &Key) -> Option<&mut V> {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Removes and returns the value under `key`.
    pub fn remove(&mut self, key: &Key) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.resize(&entry.owner, -1);
        if let Some(order) = self.owners.get_mut(&entry.owner) {
            order.remove(&entry.seq);
            if order.is_empty() {
                self.owners.remove(&entry.owner);
            }
        }
        if let Some(group) = &entry.group
            && let Some(order) = self.groups.get_mut(group)
        {
            order.remove(&entry.seq);
            if order.is_empty() {
                self.groups.remove(group);
            }
        }
        self.expiry.remove(&(entry.evict_at, entry.seq));
        Some(entry.value)
    }

    /// Drops the entries whose time has come, and returns them.
    pub fn sweep(&mut self, now: u64) -> Vec<(Key, V)> {
        let mut gone = Vec::new();
        while let Some((&(evict_at, _), &key)) = self.expiry.first_key_value() {
            if evict_at > now {
                break;
            }
            match self.remove(&key) {
                Some(value) => gone.push((key, value)),
                None => {
                    self.expiry.pop_first();
                }
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> Key {
        let mut key = [0; 32];
        key[..4].copy_from_slice(&n.to_be_bytes());
        key
    }

    fn map(total: usize, per_owner: usize, per_group: usize) -> Bounded<u32> {
        Bounded::new(Bounds {
            total,
            per_owner,
            per_group,
        })
    }

    #[test]
    fn an_owner_at_its_bound_loses_its_own_oldest_entry() {
        let mut map = map(100, 3, 100);
        map.insert(key(0), "victim", None, 1_000, 0, 0);
        for n in 1..=10 {
            map.insert(key(n), "flooder", None, 1_000, n, 0);
        }
        assert_eq!(map.held_by("flooder"), 3);
        assert!(map.get(&key(0)).is_some(), "the victim's entry stays");
        assert!(map.get(&key(7)).is_none(), "the flooder's oldest went");
        assert!(map.get(&key(8)).is_some());
    }

    #[test]
    fn a_full_map_takes_from_the_largest_owner() {
        let mut map = map(10, 8, 100);
        map.insert(key(0), "victim", None, 1_000, 0, 0);
        map.insert(key(1), "other", None, 1_000, 0, 0);
        for n in 2..40 {
            map.insert(key(n), &format!("flooder{}", n % 2), None, 1_000, n, 0);
        }
        assert_eq!(map.len(), 10);
        assert!(map.get(&key(0)).is_some());
        assert!(map.get(&key(1)).is_some());
        assert_eq!(map.held_by("flooder0") + map.held_by("flooder1"), 8);
    }

    #[test]
    fn a_group_at_its_bound_loses_its_oldest_entry() {
        let mut map = map(100, 100, 2);
        map.insert(key(0), "a", Some("host.example"), 1_000, 0, 0);
        map.insert(key(1), "b", Some("host.example"), 1_000, 1, 0);
        map.insert(key(2), "c", Some("other.example"), 1_000, 2, 0);
        map.insert(key(3), "d", Some("host.example"), 1_000, 3, 0);
        assert!(map.get(&key(0)).is_none());
        assert!(map.get(&key(1)).is_some());
        assert!(map.get(&key(2)).is_some());
        assert_eq!(map.held_by("a"), 0);
    }

    #[test]
    fn expired_entries_go_first_and_are_returned() {
        let mut map = map(2, 2, 2);
        map.insert(key(0), "a", None, 10, 0, 0);
        map.insert(key(1), "a", None, 100, 1, 0);
        let gone = map.insert(key(2), "b", None, 100, 2, 10);
        assert_eq!(gone.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [0]);
        assert!(map.get(&key(1)).is_some());
        assert_eq!(map.sweep(100).len(), 2);
        assert_eq!(map.len(), 0);
        assert!(map.owners.is_empty() && map.sizes.is_empty() && map.expiry.is_empty());
    }
}
