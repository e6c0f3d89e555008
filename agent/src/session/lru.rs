//! A bounded map that forgets its least recently used entry first: the session tracker's
//! memory of process trees and response ids, so neither grows with the life of the agent.
use std::{
    borrow::Borrow,
    collections::{BTreeMap, HashMap},
    hash::Hash,
};

/// At most `capacity` entries; reading or writing an entry makes it the most recent.
pub(super) struct Lru<K, V> {
    capacity: usize,
    /// Bumped on every touch; an entry's tick is its place in `order`.
    clock: u64,
    entries: HashMap<K, (V, u64)>,
    /// Ticks, oldest first, to the key that holds each.
    order: BTreeMap<u64, K>,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), clock: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry for `key`, now the most recently used.
    pub(super) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let (_, tick) = self.entries.get_mut(key)?;
        let old = *tick;
        self.clock += 1;
        *tick = self.clock;
        let owner = self.order.remove(&old).expect("every entry has its tick in the order");
        self.order.insert(self.clock, owner);
        self.entries.get_mut(key).map(|(value, _)| value)
    }

    /// Sets `key` to `value` as the most recent entry, forgetting the least recently
    /// used one if the map is full.
    pub(super) fn insert(&mut self, key: K, value: V) {
        self.clock += 1;
        if let Some((_, old)) = self.entries.insert(key.clone(), (value, self.clock)) {
            self.order.remove(&old);
        }
        self.order.insert(self.clock, key);
        while self.entries.len() > self.capacity {
            self.pop_oldest();
        }
    }

    /// The least recently used entry.
    pub(super) fn oldest(&self) -> Option<&V> {
        let (_, key) = self.order.first_key_value()?;
        self.entries.get(key).map(|(value, _)| value)
    }

    pub(super) fn pop_oldest(&mut self) -> Option<(K, V)> {
        let (_, key) = self.order.pop_first()?;
        let (value, _) = self.entries.remove(&key).expect("every tick in the order has its entry");
        Some((key, value))
    }
}
