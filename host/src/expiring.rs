//! The one expiring in-memory map: passkey ceremonies, dashboard sessions,
//! approval challenges and OAuth requests waiting for consent.
//!
//! Every entry lives the map's fixed lifetime, and the map holds at most
//! `capacity` of them, so no endpoint, anonymous or not, can grow memory
//! without bound. Because every entry has the same lifetime, insertion
//! order is expiry order: a queue of keys finds the expired ones in O(1)
//! per entry, instead of a sweep of the whole map on every insert.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a full map does with one more entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop the oldest entry to make room (challenges: the newest request
    /// is the one a person is waiting on).
    EvictOldest,
    /// Refuse the new entry (`insert` returns `Err(Full)`).
    Refuse,
}

/// The map is at its capacity and refuses new entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests are waiting; try again in a few minutes")]
pub struct Full;

struct Entry<V> {
    value: V,
    expires: Instant,
    /// Which insertion this is: a key in `order` whose entry was replaced
    /// or removed is stale.
    serial: u64,
}

struct Inner<V> {
    entries: HashMap<String, Entry<V>>,
    /// Keys in insertion (and so expiry) order, with their serial.
    order: VecDeque<(u64, String)>,
    next_serial: u64,
}

pub struct ExpiringMap<V> {
    inner: Mutex<Inner<V>>,
    lifetime: Duration,
    capacity: usize,
    when_full: WhenFull,
}

impl<V: Clone> ExpiringMap<V> {
    pub fn new(lifetime: Duration, capacity: usize, when_full: WhenFull) -> Self {
        ExpiringMap {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_serial: 0,
            }),
            lifetime,
            capacity: capacity.max(1),
            when_full,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock leaves a consistent map: every
        // operation below completes its changes before it can panic.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `value` under `key` (replacing what was there), for the map's
    /// lifetime.
    pub fn insert(&self, key: String, value: V) -> Result<(), Full> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.sweep(now);
        if !inner.entries.contains_key(&key) && inner.entries.len() >= self.capacity {
            match self.when_full {
                WhenFull::Refuse => return Err(Full),
                WhenFull::EvictOldest => inner.evict_oldest(),
            }
        }
        let serial = inner.next_serial;
        inner.next_serial += 1;
        inner.order.push_back((serial, key.clone()));
        inner.entries.insert(
            key,
            Entry {
                value,
                expires: now + self.lifetime,
                serial,
            },
        );
        inner.compact(self.capacity);
        Ok(())
    }

    /// The value under `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<V> {
        let inner = self.lock();
        inner
            .entries
            .get(key)
            .filter(|e| e.expires > Instant::now())
            .map(|e| e.value.clone())
    }

    /// Takes the value under `key` out, if it has not expired: a single-use
    /// entry is used once.
    pub fn take(&self, key: &str) -> Option<V> {
        let mut inner = self.lock();
        inner
            .entries
            .remove(key)
            .filter(|e| e.expires > Instant::now())
            .map(|e| e.value)
    }

    /// Removes every entry whose value fails `keep`.
    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.lock().entries.retain(|_, e| keep(&e.value));
    }

    /// How many entries the map holds (expired ones not yet swept
    /// included).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the map will hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long an entry lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

impl<V> Inner<V> {
    fn is_current(&self, serial: u64, key: &str) -> bool {
        self.entries.get(key).is_some_and(|e| e.serial == serial)
    }

    /// Drops expired entries from the front of the queue.
    fn sweep(&mut self, now: Instant) {
        while let Some((serial, key)) = self.order.front() {
            match self.entries.get(key) {
                Some(entry) if entry.serial == *serial => {
                    if entry.expires > now {
                        return;
                    }
                    self.entries.remove(key);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((serial, key)) = self.order.pop_front() {
            if self.is_current(serial, &key) {
                self.entries.remove(&key);
                return;
            }
        }
    }

    /// Keys taken or replaced leave stale places in the queue; once they
    /// outnumber the live ones, drop them, so the queue stays within twice
    /// the capacity.
    fn compact(&mut self, capacity: usize) {
        if self.order.len() > 2 * capacity {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|(serial, key)| self.is_current(*serial, key));
            self.order = order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_taken_once() {
        let map = ExpiringMap::new(Duration::from_millis(30), 10, WhenFull::Refuse);
        assert_eq!(map.insert("a".into(), 1), Ok(()));
        assert_eq!(map.get("a"), Some(1));
        assert_eq!(map.take("a"), Some(1));
        assert_eq!(map.take("a"), None);
        assert_eq!(map.insert("b".into(), 2), Ok(()));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(map.get("b"), None);
        assert_eq!(map.insert("c".into(), 3), Ok(()));
        assert_eq!(map.len(), 1, "the expired entry was swept");
    }

    #[test]
    fn a_full_map_refuses_or_evicts_the_oldest() {
        let refusing = ExpiringMap::new(Duration::from_secs(60), 2, WhenFull::Refuse);
        assert_eq!(refusing.insert("a".into(), 1), Ok(()));
        assert_eq!(refusing.insert("b".into(), 2), Ok(()));
        assert_eq!(refusing.insert("c".into(), 3), Err(Full));
        assert_eq!(
            refusing.insert("a".into(), 4),
            Ok(()),
            "replacing is not growing"
        );

        let evicting = ExpiringMap::new(Duration::from_secs(60), 2, WhenFull::EvictOldest);
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
            assert_eq!(evicting.insert(key.into(), value), Ok(()));
        }
        assert_eq!(evicting.get("a"), None);
        assert_eq!(evicting.get("c"), Some(3));
        assert_eq!(evicting.len(), 2);
    }

    #[test]
    fn the_queue_stays_bounded_when_entries_are_taken() {
        let map = ExpiringMap::new(Duration::from_secs(60), 8, WhenFull::EvictOldest);
        map.insert("long-lived".into(), 0).ok();
        for i in 0..10_000 {
            let key = format!("k{i}");
            map.insert(key.clone(), i).ok();
            map.take(&key);
        }
        let inner = map.lock();
        assert!(inner.order.len() <= 16, "{}", inner.order.len());
        assert_eq!(inner.entries.len(), 1);
    }
}
