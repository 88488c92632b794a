//! Keyed state (Flink's `ValueState`, `ListState`, `MapState`, `ReducingState`,
//! `AggregatingState`) on the heap: one table per state, values per key as objects.
//!
//! ## Use
//! A function declares a descriptor (name, type, optional TTL) and reaches the current key's
//! state through its context: `ctx.value_state(&self.count)?.update(n)`. A state is created
//! the first time it is asked for; asking with another type under the same name is an error.
//!
//! ## Checkpoints
//! Every state is written as keyed state under its name, cut by key group. State restored from
//! a checkpoint stays in its serialized form until the function first asks for it; a
//! checkpoint taken before then writes that form back as it is, so no state is lost because a
//! function had not touched it yet.
//!
//! ## TTL (Flink's `StateTtlConfig`)
//! With a TTL, each value (each list element, each map entry) carries its expiry time: set
//! when it is written, and also when it is read under `OnReadAndWrite`. Expired values are
//! never returned and are removed when met (`NeverReturnExpired`). Expiry uses processing time.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::{Data, Key};
use crate::eventtime::{ProcessingClock, Timestamp};
use crate::state::rocksdb::RocksCell;
use crate::state::snapshot::{DeferredPart, KeyedStateSnapshot, StateError};
use crate::state::{RestoredState, StateSnapshot};
use crate::util::FastMap;
use crate::windowing::functions::AggregateFunction;

/// When a value's time to live starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlUpdateType {
    /// When it is created or written.
    OnCreateAndWrite,
    /// Also when it is read.
    OnReadAndWrite,
}

/// A state's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtlConfig {
    /// How long a value lives after its last update.
    pub ttl: Duration,
    /// What counts as an update.
    pub update_type: TtlUpdateType,
}

impl StateTtlConfig {
    /// Values expire `ttl` after they were created or written.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            update_type: TtlUpdateType::OnCreateAndWrite,
        }
    }

    /// Reads refresh the time to live too.
    pub fn on_read_and_write(mut self) -> Self {
        self.update_type = TtlUpdateType::OnReadAndWrite;
        self
    }
}

/// A value with its expiry time (`i64::MAX`: never).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Stamped<T> {
    pub(crate) v: T,
    pub(crate) exp: Timestamp,
}

impl<T> Stamped<T> {
    /// A value that never expires.
    pub(crate) fn forever(v: T) -> Self {
        Self {
            v,
            exp: Timestamp::MAX,
        }
    }
}

/// The TTL rules of one state, at one moment.
#[derive(Clone, Copy)]
pub(crate) struct Ttl {
    config: Option<StateTtlConfig>,
    now: Timestamp,
}

impl Ttl {
    /// The rules of `config`, at the time `clock` tells (read only when there is a TTL).
    pub(crate) fn at(clock: &ProcessingClock, config: Option<StateTtlConfig>) -> Self {
        Self {
            config,
            now: if config.is_some() { clock.now() } else { 0 },
        }
    }

    /// Whether reads refresh expiry times.
    #[inline]
    fn refreshes_on_read(&self) -> bool {
        self.config
            .is_some_and(|c| c.update_type == TtlUpdateType::OnReadAndWrite)
    }

    #[inline]
    fn expiry(&self) -> Timestamp {
        match self.config {
            Some(c) => self
                .now
                .saturating_add(i64::try_from(c.ttl.as_millis()).unwrap_or(i64::MAX)),
            None => Timestamp::MAX,
        }
    }

    #[inline]
    fn expired<T>(&self, s: &Stamped<T>) -> bool {
        s.exp <= self.now
    }

    #[inline]
    fn stamp<T>(&self, v: T) -> Stamped<T> {
        Stamped {
            v,
            exp: self.expiry(),
        }
    }

    /// A read: refreshes the expiry under `OnReadAndWrite`.
    #[inline]
    fn touch<T>(&self, s: &mut Stamped<T>) {
        if self.refreshes_on_read() {
            s.exp = self.expiry();
        }
    }
}

macro_rules! descriptor {
    ($(#[$doc:meta])* $name:ident < $($t:ident),* > { $($field:ident : $fty:ty),* }) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            pub(crate) name: String,
            pub(crate) ttl: Option<StateTtlConfig>,
            $(pub(crate) $field: $fty,)*
            _t: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                Self {
                    name: self.name.clone(),
                    ttl: self.ttl,
                    $($field: self.$field.clone(),)*
                    _t: PhantomData,
                }
            }
        }

        impl<$($t),*> $name<$($t),*> {
            /// The state's name.
            pub fn name(&self) -> &str {
                &self.name
            }

            /// Gives the state's values a time to live.
            pub fn with_ttl(mut self, ttl: StateTtlConfig) -> Self {
                self.ttl = Some(ttl);
                self
            }
        }
    };
}

descriptor!(
    /// Describes a `ValueState<T>`: one value per key.
    ValueStateDescriptor<T> {}
);
descriptor!(
    /// Describes a `ListState<T>`: a list per key.
    ListStateDescriptor<T> {}
);
descriptor!(
    /// Describes a `MapState<UK, UV>`: a map per key.
    MapStateDescriptor<UK, UV> {}
);
descriptor!(
    /// Describes a `ReducingState<T>`: values added are reduced into one per key.
    ReducingStateDescriptor<T> { reduce: Arc<dyn Fn(T, T) -> T + Send + Sync> }
);
descriptor!(
    /// Describes an `AggregatingState<IN, OUT>`: values added are aggregated by an
    /// [`AggregateFunction`] into one accumulator per key.
    AggregatingStateDescriptor<IN, A> { agg: Arc<A> }
);

impl<T> ValueStateDescriptor<T> {
    /// A value state named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            _t: PhantomData,
        }
    }
}

impl<T> ListStateDescriptor<T> {
    /// A list state named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            _t: PhantomData,
        }
    }
}

impl<UK, UV> MapStateDescriptor<UK, UV> {
    /// A map state named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            _t: PhantomData,
        }
    }
}

impl<T> ReducingStateDescriptor<T> {
    /// A reducing state named `name` combining values with `reduce`.
    pub fn new(name: &str, reduce: impl Fn(T, T) -> T + Send + Sync + 'static) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            reduce: Arc::new(reduce),
            _t: PhantomData,
        }
    }
}

impl<IN, A> AggregatingStateDescriptor<IN, A> {
    /// An aggregating state named `name` aggregating with `agg`.
    pub fn new(name: &str, agg: A) -> Self {
        Self {
            name: name.into(),
            ttl: None,
            agg: Arc::new(agg),
            _t: PhantomData,
        }
    }
}

/// Reads restored keyed state `name` in its canonical form: `Stamped` entries when the state
/// has a TTL, `Plain` ones (stamped by `stamp`, never expiring) when it has none.
fn restored_as<K: Key, Plain: Data, Stamp: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
    stamp: impl Fn(Plain) -> Stamp,
) -> Result<Vec<(K, Stamp)>, StateError> {
    if ttl {
        r.keyed::<K, Stamp>(name)
    } else {
        Ok(r.keyed::<K, Plain>(name)?
            .into_iter()
            .map(|(k, v)| (k, stamp(v)))
            .collect())
    }
}

/// Reads a restored value state.
pub(crate) fn restored_values<K: Key, T: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
) -> Result<Vec<(K, Stamped<T>)>, StateError> {
    restored_as(r, name, ttl, Stamped::forever)
}

/// Restored lists, per key.
pub(crate) type RestoredLists<K, T> = Vec<(K, Vec<Stamped<T>>)>;

/// Restored maps, per key.
pub(crate) type RestoredMaps<K, UK, UV> = Vec<(K, Vec<(UK, Stamped<UV>)>)>;

/// Reads a restored list state.
pub(crate) fn restored_lists<K: Key, T: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
) -> Result<RestoredLists<K, T>, StateError> {
    restored_as(r, name, ttl, |l: Vec<T>| {
        l.into_iter().map(Stamped::forever).collect()
    })
}

/// Reads a restored map state.
pub(crate) fn restored_maps<K: Key, UK: Key, UV: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
) -> Result<RestoredMaps<K, UK, UV>, StateError> {
    restored_as(r, name, ttl, |m: Vec<(UK, UV)>| {
        m.into_iter()
            .map(|(u, v)| (u, Stamped::forever(v)))
            .collect()
    })
}

/// A heap table's entries from `read` of the restored state, if there is one.
fn from_restored<E, M: Default + FromIterator<E>>(
    r: Option<&RestoredState>,
    read: impl FnOnce(&RestoredState) -> Result<Vec<E>, StateError>,
) -> Result<M, StateError> {
    Ok(match r {
        Some(r) => read(r)?.into_iter().collect(),
        None => M::default(),
    })
}

/// One state's table, whatever its type.
trait StateTable<K>: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Copies the table and returns the writing of the copy, for later.
    fn snapshot(&self, name: &str, max_parallelism: usize) -> DeferredPart;
}

/// Values per key (value, reducing and aggregating states).
pub(crate) struct ValueTable<K, T> {
    map: FastMap<K, Stamped<T>>,
    ttl: Option<StateTtlConfig>,
}

/// Lists per key.
pub(crate) struct ListTable<K, T> {
    map: FastMap<K, Vec<Stamped<T>>>,
    ttl: Option<StateTtlConfig>,
}

/// Maps per key.
pub(crate) struct MapTable<K, UK, UV> {
    map: FastMap<K, FastMap<UK, Stamped<UV>>>,
    ttl: Option<StateTtlConfig>,
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

/// Copies restored keyed state that was never asked for into `out` as it is, so that no
/// state is lost because a function had not touched it yet.
pub(crate) fn carry_untouched(
    restored: Option<&RestoredState>,
    touched: &[&str],
    internal: &[String],
    out: &mut StateSnapshot,
) {
    let Some(r) = restored else { return };
    let mut untouched: Vec<&str> = r
        .snapshots
        .iter()
        .flat_map(|s| s.keyed.iter().map(|k| k.name.as_str()))
        .filter(|n| !touched.contains(n))
        .filter(|n| !internal.iter().any(|i| i == n))
        .collect();
    untouched.sort_unstable();
    untouched.dedup();
    for name in untouched {
        out.written_mut().keyed.push(KeyedStateSnapshot {
            name: name.to_string(),
            groups: r.raw_keyed(name),
        });
    }
}

/// The error for a state asked for with another kind or type than it was declared with.
pub(crate) fn declared_otherwise(name: &str) -> StateError {
    StateError::Deserialize {
        state: name.to_string(),
        message: "the state was declared before with another kind or type".into(),
    }
}

/// Where one key's state is: an entry of a heap table, or a RocksDB key.
enum Cell<'a, K, Table> {
    Heap { table: &'a mut Table, key: &'a K },
    Rocks(RocksCell<'a>),
}

/// A heap table: one entry per key.
trait PerKey<K> {
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

impl<K, Table: PerKey<K>> Cell<'_, K, Table> {
    /// Removes the key's whole state.
    fn clear(&mut self) -> Result<(), StateError> {
        match self {
            Cell::Heap { table, key } => {
                table.remove_key(key);
                Ok(())
            }
            Cell::Rocks(cell) => cell.clear(),
        }
    }
}

/// The current key's value.
pub struct ValueState<'a, K, T> {
    cell: Cell<'a, K, ValueTable<K, T>>,
    ttl: Ttl,
}

impl<'a, K, T> ValueState<'a, K, T> {
    pub(crate) fn rocks(cell: RocksCell<'a>, ttl: Ttl) -> Self {
        Self {
            cell: Cell::Rocks(cell),
            ttl,
        }
    }
}

impl<K: Key, T: Data> ValueState<'_, K, T> {
    /// The value, if set (and not expired).
    pub fn value(&mut self) -> Result<Option<T>, StateError> {
        let ttl = self.ttl;
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let Some(e) = table.map.get_mut(*key) else {
                    return Ok(None);
                };
                if table.ttl.is_some() && ttl.expired(e) {
                    table.map.remove(*key);
                    return Ok(None);
                }
                ttl.touch(e);
                Ok(Some(e.v.clone()))
            }
            Cell::Rocks(cell) => {
                let Some(mut s) = cell.get::<T>()? else {
                    return Ok(None);
                };
                if ttl.config.is_some() && ttl.expired(&s) {
                    cell.delete()?;
                    return Ok(None);
                }
                if ttl.refreshes_on_read() {
                    ttl.touch(&mut s);
                    cell.put(&s)?;
                }
                Ok(Some(s.v))
            }
        }
    }

    /// Sets the value.
    pub fn update(&mut self, value: T) -> Result<(), StateError> {
        let s = self.ttl.stamp(value);
        match &mut self.cell {
            Cell::Heap { table, key } => {
                match table.map.get_mut(*key) {
                    Some(e) => *e = s,
                    None => {
                        table.map.insert((*key).clone(), s);
                    }
                }
                Ok(())
            }
            Cell::Rocks(cell) => cell.put(&s),
        }
    }

    /// Removes the value.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.cell.clear()
    }
}

/// The current key's list.
pub struct ListState<'a, K, T> {
    cell: Cell<'a, K, ListTable<K, T>>,
    ttl: Ttl,
}

impl<'a, K, T> ListState<'a, K, T> {
    pub(crate) fn rocks(cell: RocksCell<'a>, ttl: Ttl) -> Self {
        Self {
            cell: Cell::Rocks(cell),
            ttl,
        }
    }
}

impl<K: Key, T: Data> ListState<'_, K, T> {
    /// The list's elements (not expired), in order.
    pub fn get(&mut self) -> Result<Vec<T>, StateError> {
        let ttl = self.ttl;
        let with_ttl = ttl.config.is_some();
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let Some(list) = table.map.get_mut(*key) else {
                    return Ok(Vec::new());
                };
                if with_ttl {
                    list.retain(|e| !ttl.expired(e));
                }
                let out = list
                    .iter_mut()
                    .map(|e| {
                        ttl.touch(e);
                        e.v.clone()
                    })
                    .collect();
                if list.is_empty() {
                    table.map.remove(*key);
                }
                Ok(out)
            }
            Cell::Rocks(cell) => {
                let mut list = cell.get_list::<T>()?;
                if !with_ttl {
                    return Ok(list.into_iter().map(|s| s.v).collect());
                }
                let before = list.len();
                list.retain(|e| !ttl.expired(e));
                if ttl.refreshes_on_read() {
                    list.iter_mut().for_each(|e| ttl.touch(e));
                }
                if list.is_empty() {
                    if before > 0 {
                        cell.delete()?;
                    }
                } else if list.len() != before || ttl.refreshes_on_read() {
                    cell.put_list(&list)?;
                }
                Ok(list.into_iter().map(|s| s.v).collect())
            }
        }
    }

    /// Appends an element.
    pub fn add(&mut self, value: T) -> Result<(), StateError> {
        self.add_all(std::iter::once(value))
    }

    /// Appends elements.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = T>) -> Result<(), StateError> {
        let ttl = self.ttl;
        let stamped = values.into_iter().map(|v| ttl.stamp(v));
        match &mut self.cell {
            Cell::Heap { table, key } => {
                match table.map.get_mut(*key) {
                    Some(l) => l.extend(stamped),
                    None => {
                        let l: Vec<_> = stamped.collect();
                        if !l.is_empty() {
                            table.map.insert((*key).clone(), l);
                        }
                    }
                }
                Ok(())
            }
            Cell::Rocks(cell) => {
                let mut list = cell.get_list::<T>()?;
                let before = list.len();
                list.extend(stamped);
                if list.len() == before {
                    return Ok(());
                }
                cell.put_list(&list)
            }
        }
    }

    /// Replaces the list.
    pub fn update(&mut self, values: Vec<T>) -> Result<(), StateError> {
        self.clear()?;
        self.add_all(values)
    }

    /// Empties the list.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.cell.clear()
    }
}

/// The current key's map.
pub struct MapState<'a, K, UK, UV> {
    cell: Cell<'a, K, MapTable<K, UK, UV>>,
    ttl: Ttl,
}

impl<'a, K, UK, UV> MapState<'a, K, UK, UV> {
    pub(crate) fn rocks(cell: RocksCell<'a>, ttl: Ttl) -> Self {
        Self {
            cell: Cell::Rocks(cell),
            ttl,
        }
    }
}

impl<K: Key, UK: Key, UV: Data> MapState<'_, K, UK, UV> {
    /// The value under `k`, if any (and not expired).
    pub fn get(&mut self, k: &UK) -> Result<Option<UV>, StateError> {
        let ttl = self.ttl;
        let with_ttl = ttl.config.is_some();
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let Some(m) = table.map.get_mut(*key) else {
                    return Ok(None);
                };
                let Some(e) = m.get_mut(k) else {
                    return Ok(None);
                };
                if with_ttl && ttl.expired(e) {
                    m.remove(k);
                    return Ok(None);
                }
                ttl.touch(e);
                Ok(Some(e.v.clone()))
            }
            Cell::Rocks(cell) => {
                let Some(mut s) = cell.get_entry::<UK, UV>(k)? else {
                    return Ok(None);
                };
                if with_ttl && ttl.expired(&s) {
                    cell.delete_entry(k)?;
                    return Ok(None);
                }
                if ttl.refreshes_on_read() {
                    ttl.touch(&mut s);
                    cell.put_entry(k, &s)?;
                }
                Ok(Some(s.v))
            }
        }
    }

    /// Whether `k` has a (live) value.
    pub fn contains(&mut self, k: &UK) -> Result<bool, StateError> {
        Ok(self.get(k)?.is_some())
    }

    /// Sets the value under `k`.
    pub fn put(&mut self, k: UK, v: UV) -> Result<(), StateError> {
        let s = self.ttl.stamp(v);
        match &mut self.cell {
            Cell::Heap { table, key } => {
                table.map.entry((*key).clone()).or_default().insert(k, s);
                Ok(())
            }
            Cell::Rocks(cell) => cell.put_entry(&k, &s),
        }
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: &UK) -> Result<(), StateError> {
        match &mut self.cell {
            Cell::Heap { table, key } => {
                if let Some(m) = table.map.get_mut(*key) {
                    m.remove(k);
                    if m.is_empty() {
                        table.map.remove(*key);
                    }
                }
                Ok(())
            }
            Cell::Rocks(cell) => cell.delete_entry(k),
        }
    }

    /// Every (live) entry, in no particular order.
    pub fn entries(&mut self) -> Result<Vec<(UK, UV)>, StateError> {
        let ttl = self.ttl;
        let with_ttl = ttl.config.is_some();
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let Some(m) = table.map.get_mut(*key) else {
                    return Ok(Vec::new());
                };
                if with_ttl {
                    m.retain(|_, e| !ttl.expired(e));
                }
                Ok(m.iter_mut()
                    .map(|(k, e)| {
                        ttl.touch(e);
                        (k.clone(), e.v.clone())
                    })
                    .collect())
            }
            Cell::Rocks(cell) => {
                let mut out = Vec::new();
                for (k, mut s) in cell.entries::<UK, UV>()? {
                    if with_ttl && ttl.expired(&s) {
                        cell.delete_entry(&k)?;
                        continue;
                    }
                    if ttl.refreshes_on_read() {
                        ttl.touch(&mut s);
                        cell.put_entry(&k, &s)?;
                    }
                    out.push((k, s.v));
                }
                Ok(out)
            }
        }
    }

    /// Whether the map has no (live) entry.
    pub fn is_empty(&mut self) -> Result<bool, StateError> {
        Ok(self.entries()?.is_empty())
    }

    /// Empties the map.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.cell.clear()
    }
}

/// The current key's reduced value.
pub struct ReducingState<'a, K, T> {
    pub(crate) inner: ValueState<'a, K, T>,
    pub(crate) reduce: Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

impl<K: Key, T: Data> ReducingState<'_, K, T> {
    /// The reduction of every value added, if any.
    pub fn get(&mut self) -> Result<Option<T>, StateError> {
        self.inner.value()
    }

    /// Reduces `value` into the state.
    pub fn add(&mut self, value: T) -> Result<(), StateError> {
        let next = match self.inner.value()? {
            Some(acc) => (self.reduce)(acc, value),
            None => value,
        };
        self.inner.update(next)
    }

    /// Removes the value.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.inner.clear()
    }
}

/// The current key's aggregate.
pub struct AggregatingState<'a, K, IN, A: AggregateFunction<IN>> {
    pub(crate) inner: ValueState<'a, K, A::Acc>,
    pub(crate) agg: Arc<A>,
    pub(crate) _in: PhantomData<fn(IN)>,
}

impl<K: Key, IN, A> AggregatingState<'_, K, IN, A>
where
    A: AggregateFunction<IN>,
    A::Acc: Data,
{
    /// The aggregate's result, if anything was added.
    pub fn get(&mut self) -> Result<Option<A::Out>, StateError> {
        Ok(self.inner.value()?.map(|acc| self.agg.get_result(&acc)))
    }

    /// Adds `value` to the aggregate.
    pub fn add(&mut self, value: &IN) -> Result<(), StateError> {
        let mut acc = match self.inner.value()? {
            Some(acc) => acc,
            None => self.agg.create_accumulator(),
        };
        self.agg.add(value, &mut acc);
        self.inner.update(acc)
    }

    /// Removes the aggregate.
    pub fn clear(&mut self) -> Result<(), StateError> {
        self.inner.clear()
    }
}

#[cfg(test)]
mod tests;
