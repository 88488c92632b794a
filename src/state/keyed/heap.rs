//! The heap keyed state backend: a table per state, made when the state is first asked for.

use crate::data::{Data, Key};
use crate::eventtime::ProcessingClock;
use crate::state::snapshot::StateError;
use crate::state::{RestoredState, StateSnapshot};

use super::handles::{Cell, ListState, MapState, ValueState};
use super::restored::from_restored;
use super::tables::{ListTable, MapTable, StateTable, ValueTable};
use super::{
    carry_untouched, declared_otherwise, restored_lists, restored_maps, restored_values,
    StateTtlConfig, Ttl,
};

/// The keyed state of one operator instance, on the heap.
pub struct HeapKeyedStateBackend<K> {
    tables: Vec<(String, Box<dyn StateTable<K>>)>,
    max_parallelism: usize,
    clock: ProcessingClock,
    /// Restored state not yet asked for.
    restored: Option<RestoredState>,
    /// Names in the restored state the operator keeps itself (not user state).
    internal: Vec<String>,
}

impl<K: Key> HeapKeyedStateBackend<K> {
    /// An empty backend for `max_parallelism` key groups.
    pub fn new(max_parallelism: usize, clock: ProcessingClock) -> Self {
        Self {
            tables: Vec::new(),
            max_parallelism,
            clock,
            restored: None,
            internal: Vec::new(),
        }
    }

    /// Keeps restored state, to be read as each state is first asked for; the states named
    /// in `internal` are the operator's own (restored by it) and are left out. State in
    /// RocksDB's files (an incremental checkpoint) cannot be read on the heap.
    pub fn restore(
        &mut self,
        restored: RestoredState,
        internal: &[&str],
    ) -> Result<(), StateError> {
        restored.require_canonical()?;
        self.restored = Some(restored);
        self.internal = internal.iter().map(|s| s.to_string()).collect();
        Ok(())
    }

    /// The TTL rules of a state, now.
    pub(crate) fn ttl(&self, config: Option<StateTtlConfig>) -> Ttl {
        Ttl::at(&self.clock, config)
    }

    /// The table named `name` of type `S`, made (and filled from restored state) when new.
    fn table<S: StateTable<K> + 'static>(
        &mut self,
        name: &str,
        make: impl FnOnce(Option<&RestoredState>) -> Result<S, StateError>,
    ) -> Result<&mut S, StateError> {
        let i = match self.tables.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                let table = make(self.restored.as_ref())?;
                self.tables.push((name.to_string(), Box::new(table)));
                self.tables.len() - 1
            }
        };
        self.tables[i]
            .1
            .as_any_mut()
            .downcast_mut::<S>()
            .ok_or_else(|| declared_otherwise(name))
    }

    /// The current key's cell of value-like state `name`.
    pub(crate) fn value_cell<'a, T: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<ValueState<'a, K, T>, StateError> {
        let rules = self.ttl(ttl);
        let table = self.table(name, |r| {
            let map = from_restored(r, |r| restored_values::<K, T>(r, name, ttl.is_some()))?;
            Ok(ValueTable { map, ttl })
        })?;
        Ok(ValueState {
            cell: Cell::Heap { table, key },
            ttl: rules,
        })
    }

    /// The current key's list state.
    pub(crate) fn list_cell<'a, T: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<ListState<'a, K, T>, StateError> {
        let rules = self.ttl(ttl);
        let table = self.table(name, |r| {
            let map = from_restored(r, |r| restored_lists::<K, T>(r, name, ttl.is_some()))?;
            Ok(ListTable { map, ttl })
        })?;
        Ok(ListState {
            cell: Cell::Heap { table, key },
            ttl: rules,
        })
    }

    /// The current key's map state.
    pub(crate) fn map_cell<'a, UK: Key, UV: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<MapState<'a, K, UK, UV>, StateError> {
        let rules = self.ttl(ttl);
        let table = self.table(name, |r| {
            let map = from_restored(r, |r| {
                let maps = restored_maps::<K, UK, UV>(r, name, ttl.is_some())?;
                Ok(maps
                    .into_iter()
                    .map(|(k, m)| (k, m.into_iter().collect()))
                    .collect())
            })?;
            Ok(MapTable { map, ttl })
        })?;
        Ok(MapState {
            cell: Cell::Heap { table, key },
            ttl: rules,
        })
    }

    /// Takes every state (and restored state not asked for yet) into `out`: each table is
    /// copied now and serialized when `out` is completed.
    pub fn snapshot(&self, out: &mut StateSnapshot) -> Result<(), StateError> {
        for (name, table) in &self.tables {
            let part = table.snapshot(name, self.max_parallelism);
            out.defer(part);
        }
        let touched: Vec<&str> = self.tables.iter().map(|(n, _)| n.as_str()).collect();
        carry_untouched(self.restored.as_ref(), &touched, &self.internal, out);
        Ok(())
    }
}
