//! The heap backend's tables: one per state, its values per key, copied at a checkpoint
//! and written in the canonical form.

use std::any::Any;

use crate::data::{Data, Key};
use crate::state::snapshot::DeferredPart;
use crate::util::FastMap;

use super::{Stamped, StateTtlConfig};

/// One state's table, whatever its type.
pub(super) trait StateTable<K>: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Copies the table and returns the writing of the copy, for later.
    fn snapshot(&self, name: &str, max_parallelism: usize) -> DeferredPart;
}

/// Values per key (value, reducing and aggregating states).
pub(crate) struct ValueTable<K, T> {
    pub(super) map: FastMap<K, Stamped<T>>,
    pub(super) ttl: Option<StateTtlConfig>,
}

/// Lists per key.
pub(crate) struct ListTable<K, T> {
    pub(super) map: FastMap<K, Vec<Stamped<T>>>,
    pub(super) ttl: Option<StateTtlConfig>,
}

/// A key's map: its entries are never persisted by hash, so they take a faster hash than the
/// stable one key groups need (a row of long strings as a key is hashed 16 bytes at a time).
pub(crate) type EntryMap<UK, V> = std::collections::HashMap<UK, V, foldhash::fast::FixedState>;

/// Maps per key.
pub(crate) struct MapTable<K, UK, UV> {
    pub(super) map: FastMap<K, EntryMap<UK, Stamped<UV>>>,
    pub(super) ttl: Option<StateTtlConfig>,
}

// Checkpoints hold the values alone when a state has no TTL, the stamped values when it has
// one: the same canonical form the RocksDB backend writes and reads.

impl<K: Key, T: Data> StateTable<K> for ValueTable<K, T> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, maxp: usize) -> DeferredPart {
        let (name, copy, ttl) = (name.to_string(), self.map.clone(), self.ttl.is_some());
        Box::new(move |out| {
            if ttl {
                out.add_keyed(&name, maxp, copy.iter())
            } else {
                out.add_keyed(&name, maxp, copy.iter().map(|(k, s)| (k, &s.v)))
            }
        })
    }
}

impl<K: Key, T: Data> StateTable<K> for ListTable<K, T> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, maxp: usize) -> DeferredPart {
        let (name, copy, ttl) = (name.to_string(), self.map.clone(), self.ttl.is_some());
        Box::new(move |out| {
            if ttl {
                out.add_keyed(&name, maxp, copy.iter())
            } else {
                let plain: Vec<(&K, Vec<&T>)> = copy
                    .iter()
                    .map(|(k, l)| (k, l.iter().map(|s| &s.v).collect()))
                    .collect();
                out.add_keyed(&name, maxp, plain.iter().map(|(k, l)| (*k, l)))
            }
        })
    }
}

impl<K: Key, UK: Key, UV: Data> StateTable<K> for MapTable<K, UK, UV> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, maxp: usize) -> DeferredPart {
        let (name, copy, ttl) = (name.to_string(), self.map.clone(), self.ttl.is_some());
        Box::new(move |out| {
            if ttl {
                type Entries<'a, UK, UV> = Vec<(&'a UK, &'a Stamped<UV>)>;
                let entries: Vec<(&K, Entries<'_, UK, UV>)> =
                    copy.iter().map(|(k, m)| (k, m.iter().collect())).collect();
                out.add_keyed(&name, maxp, entries.iter().map(|(k, m)| (*k, m)))
            } else {
                type Entries<'a, UK, UV> = Vec<(&'a UK, &'a UV)>;
                let entries: Vec<(&K, Entries<'_, UK, UV>)> = copy
                    .iter()
                    .map(|(k, m)| (k, m.iter().map(|(u, s)| (u, &s.v)).collect()))
                    .collect();
                out.add_keyed(&name, maxp, entries.iter().map(|(k, m)| (*k, m)))
            }
        })
    }
}

/// A heap table: one entry per key.
pub(super) trait PerKey<K> {
    fn remove_key(&mut self, key: &K);
}

impl<K: Key, T> PerKey<K> for ValueTable<K, T> {
    fn remove_key(&mut self, key: &K) {
        self.map.remove(key);
    }
}

impl<K: Key, T> PerKey<K> for ListTable<K, T> {
    fn remove_key(&mut self, key: &K) {
        self.map.remove(key);
    }
}

impl<K: Key, UK, UV> PerKey<K> for MapTable<K, UK, UV> {
    fn remove_key(&mut self, key: &K) {
        self.map.remove(key);
    }
}
