//! Broadcast state (Flink's `BroadcastState`): maps that every parallel instance of a
//! broadcast-process operator holds alike, written only from the broadcast input.
//!
//! ## Checkpoints
//! Every instance holds the same maps (each saw every broadcast element, in the same order),
//! so subtask 0 alone writes them, as union list state under the descriptor's name; on
//! restore, at any parallelism, every instance reads them whole.

use std::any::Any;

use crate::data::{Data, Key};
use crate::state::snapshot::ListMode;
use crate::state::{MapStateDescriptor, OperatorSnapshot, RestoredState, StateError};
use crate::util::FastMap;

trait BroadcastTable: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn snapshot(&self, name: &str, out: &mut OperatorSnapshot) -> Result<(), StateError>;
}

impl<K: Key, V: Data> BroadcastTable for FastMap<K, V> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, out: &mut OperatorSnapshot) -> Result<(), StateError> {
        let entries: Vec<(&K, &V)> = self.iter().collect();
        out.add_list(name, ListMode::Union, &entries)
    }
}

/// The broadcast state of one operator instance.
#[derive(Default)]
pub struct BroadcastStates {
    maps: Vec<(String, Box<dyn BroadcastTable>)>,
    restored: Option<RestoredState>,
}

impl BroadcastStates {
    /// Keeps restored state, read as each map is first asked for.
    pub fn restore(&mut self, restored: RestoredState) {
        self.restored = Some(restored);
    }

    fn table<K: Key, V: Data>(
        &mut self,
        d: &MapStateDescriptor<K, V>,
    ) -> Result<&mut FastMap<K, V>, StateError> {
        let i = match self.maps.iter().position(|(n, _)| *n == d.name) {
            Some(i) => i,
            None => {
                let mut map: FastMap<K, V> = FastMap::default();
                if let Some(r) = &self.restored {
                    map.extend(r.list::<(K, V)>(&d.name)?);
                }
                self.maps.push((d.name.clone(), Box::new(map)));
                self.maps.len() - 1
            }
        };
        self.maps[i]
            .1
            .as_any_mut()
            .downcast_mut::<FastMap<K, V>>()
            .ok_or_else(|| crate::state::keyed::declared_otherwise(&d.name))
    }

    /// The map described by `d`, to read and write (from the broadcast input).
    pub fn get_mut<K: Key, V: Data>(
        &mut self,
        d: &MapStateDescriptor<K, V>,
    ) -> Result<BroadcastState<'_, K, V>, StateError> {
        Ok(BroadcastState {
            map: self.table(d)?,
        })
    }

    /// The map described by `d`, to read (from the other input).
    pub fn get<K: Key, V: Data>(
        &mut self,
        d: &MapStateDescriptor<K, V>,
    ) -> Result<ReadOnlyBroadcastState<'_, K, V>, StateError> {
        Ok(ReadOnlyBroadcastState {
            map: self.table(d)?,
        })
    }

    /// Writes every map (and restored maps never asked for) into `out`: only from subtask 0,
    /// since every instance holds the same.
    pub fn snapshot(&self, subtask: usize, out: &mut OperatorSnapshot) -> Result<(), StateError> {
        if subtask != 0 {
            return Ok(());
        }
        for (name, table) in &self.maps {
            table.snapshot(name, out)?;
        }
        if let Some(r) = &self.restored {
            for s in r.snapshots.iter().take(1) {
                for l in &s.lists {
                    if !self.maps.iter().any(|(n, _)| *n == l.name) {
                        out.lists.push(l.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

/// A broadcast map, writable (in `process_broadcast_element`).
pub struct BroadcastState<'a, K, V> {
    map: &'a mut FastMap<K, V>,
}

impl<K: Key, V: Data> BroadcastState<'_, K, V> {
    /// The value under `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    /// Whether `k` has a value.
    pub fn contains(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    /// Sets the value under `k`.
    pub fn put(&mut self, k: K, v: V) {
        self.map.insert(k, v);
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k)
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Empties the map.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// A broadcast map, read-only (in `process_element`: only the broadcast input may change
/// it, so that every instance keeps the same).
pub struct ReadOnlyBroadcastState<'a, K, V> {
    map: &'a FastMap<K, V>,
}

impl<K: Key, V: Data> ReadOnlyBroadcastState<'_, K, V> {
    /// The value under `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    /// Whether `k` has a value.
    pub fn contains(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }
}
