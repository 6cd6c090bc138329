//! A cap on the connections open at once from one client address, so that
//! one host cannot take every connection the server serves.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The key connections are counted by: an IPv4 address, or the /64 prefix
/// of an IPv6 address (one IPv6 host usually holds a whole /64).
fn key_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// The open connections per client address.
#[derive(Debug)]
pub struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One connection counted against its address until dropped.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    /// At most `max` connections per address; `0` for no cap.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// Counts a connection from `ip`, or `None` when its address already
    /// has its most connections open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = key_of(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_default();
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_its_cap_and_others_are_counted_apart() {
        let caps = PerAddress::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = caps.admit(a).unwrap();
        let _second = caps.admit(a).unwrap();
        assert!(caps.admit(a).is_none());
        assert!(caps.admit(b).is_some());
        drop(first);
        assert!(caps.admit(a).is_some());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let caps = PerAddress::new(1);
        let _one = caps.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert!(caps.admit("2001:db8::2".parse().unwrap()).is_none());
        assert!(caps.admit("2001:db8:0:1::1".parse().unwrap()).is_some());
        let _v4 = caps.admit("192.0.2.1".parse().unwrap()).unwrap();
        assert!(caps.admit("::ffff:192.0.2.1".parse().unwrap()).is_none());
    }
}
