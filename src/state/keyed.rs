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
mod tests {
    use super::*;
    use crate::checkpoint::barrier::SnapshotKind;
    use crate::state::context::RuntimeContext;
    use crate::state::key_group::key_group_range;
    use crate::state::{KeyedStateBackend, OperatorSnapshot, SnapshotTarget, StateBackendKind};
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A backend of `kind` (RocksDB under `dir`) whose clock reads `time`.
    fn backend_at(
        kind: StateBackendKind,
        dir: &std::path::Path,
        time: &Arc<AtomicI64>,
    ) -> KeyedStateBackend<String> {
        backend_cached(kind, dir, time, crate::state::rocksdb::DEFAULT_CACHE_BYTES)
    }

    /// As [`backend_at`], with a RocksDB cache of `cache` bytes.
    fn backend_cached(
        kind: StateBackendKind,
        dir: &std::path::Path,
        time: &Arc<AtomicI64>,
        cache: usize,
    ) -> KeyedStateBackend<String> {
        let mut ctx = RuntimeContext::standalone("test");
        ctx.clock = ProcessingClock::manual(time.clone());
        ctx.state_backend = kind;
        ctx.local_state_dir = dir.to_path_buf();
        ctx.rocksdb_cache_bytes = cache;
        KeyedStateBackend::for_context(&ctx).expect("opens")
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rill-keyed-{name}-{}-{}",
            std::process::id(),
            crate::util::random_u64()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    const KINDS: [StateBackendKind; 2] = [StateBackendKind::Heap, StateBackendKind::RocksDb];

    #[test]
    fn values_expire_after_their_ttl_and_reads_refresh_them_when_asked() {
        for kind in KINDS {
            let dir = scratch("ttl");
            let time = Arc::new(AtomicI64::new(1_000));
            let mut b = backend_at(kind, &dir, &time);
            let written = ValueStateDescriptor::<u64>::new("w")
                .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
            let read = ValueStateDescriptor::<u64>::new("r")
                .with_ttl(StateTtlConfig::new(Duration::from_millis(100)).on_read_and_write());
            let k = "a".to_string();
            let value = |b: &mut KeyedStateBackend<String>, d: &ValueStateDescriptor<u64>| {
                b.value_state(d, &k).expect("state").value().expect("reads")
            };
            b.value_state(&written, &k)
                .expect("state")
                .update(1)
                .expect("writes");
            b.value_state(&read, &k)
                .expect("state")
                .update(2)
                .expect("writes");
            time.store(1_080, Ordering::Relaxed);
            assert_eq!(value(&mut b, &written), Some(1), "{kind}");
            // A read at 1080 keeps "r" alive until 1180.
            assert_eq!(value(&mut b, &read), Some(2), "{kind}");
            time.store(1_100, Ordering::Relaxed);
            assert_eq!(value(&mut b, &written), None, "{kind}");
            assert_eq!(value(&mut b, &read), Some(2), "{kind}");
            time.store(1_300, Ordering::Relaxed);
            assert_eq!(value(&mut b, &read), None, "{kind}");

            let list = ListStateDescriptor::<u64>::new("l")
                .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
            b.list_state(&list, &k)
                .expect("state")
                .add(1)
                .expect("writes");
            time.store(1_350, Ordering::Relaxed);
            b.list_state(&list, &k)
                .expect("state")
                .add(2)
                .expect("writes");
            time.store(1_410, Ordering::Relaxed);
            let got = b
                .list_state(&list, &k)
                .expect("state")
                .get()
                .expect("reads");
            assert_eq!(got, vec![2], "{kind}");

            let map = MapStateDescriptor::<u64, u64>::new("m")
                .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
            b.map_state(&map, &k)
                .expect("state")
                .put(1, 10)
                .expect("writes");
            time.store(1_460, Ordering::Relaxed);
            b.map_state(&map, &k)
                .expect("state")
                .put(2, 20)
                .expect("writes");
            time.store(1_520, Ordering::Relaxed);
            let mut m = b.map_state(&map, &k).expect("state");
            assert_eq!(m.get(&1).expect("reads"), None, "{kind}");
            assert_eq!(m.entries().expect("reads"), vec![(2, 20)], "{kind}");
            drop(b);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_name_declared_with_another_type_is_an_error() {
        for kind in KINDS {
            let dir = scratch("types");
            let mut b = backend_at(kind, &dir, &Arc::new(AtomicI64::new(0)));
            let k = "a".to_string();
            b.value_state(&ValueStateDescriptor::<u64>::new("x"), &k)
                .expect("state")
                .update(1)
                .expect("writes");
            assert!(b
                .list_state(&ListStateDescriptor::<u64>::new("x"), &k)
                .is_err());
            if kind == StateBackendKind::Heap {
                // RocksDB holds bytes: a type change shows when they do not decode.
                assert!(b
                    .value_state(&ValueStateDescriptor::<String>::new("x"), &k)
                    .is_err());
            }
            drop(b);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    fn restored(snap: OperatorSnapshot, p: usize, i: usize) -> RestoredState {
        RestoredState {
            snapshots: vec![snap],
            key_groups: key_group_range(128, p, i),
            subtask_index: i,
            parallelism: p,
        }
    }

    fn take(b: &mut KeyedStateBackend<String>, target: &SnapshotTarget) -> OperatorSnapshot {
        let mut snap = StateSnapshot::default();
        b.snapshot(&mut snap).expect("snapshots");
        let mut snap = snap.complete(target).expect("writes");
        for r in &mut snap.rocksdb {
            r.shared_dir = target.shared_dir();
        }
        snap
    }

    /// A RocksDB cache far smaller than the state: values, deletions and lists go through
    /// many evictions, reads always see the last write, and a checkpoint taken mid-way holds
    /// exactly the cells' contents at that moment (read back without a cache).
    #[test]
    fn rocksdb_cells_read_their_writes_through_evictions_and_checkpoints() {
        type Model = std::collections::HashMap<String, (Option<u64>, Vec<u64>)>;
        let value = ValueStateDescriptor::<u64>::new("v");
        let list = ListStateDescriptor::<u64>::new("l");
        let time = Arc::new(AtomicI64::new(0));
        let dir = scratch("cache");
        let mut b = backend_cached(StateBackendKind::RocksDb, &dir, &time, 4 << 10);
        let mut model = Model::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut step = |b: &mut KeyedStateBackend<String>, model: &mut Model| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let k = format!("k{}", rng % 400);
            let m = model.entry(k.clone()).or_default();
            let mut v = b.value_state(&value, &k).expect("s");
            assert_eq!(v.value().expect("r"), m.0, "{k}");
            match (rng >> 20) % 8 {
                0 => {
                    v.clear().expect("w");
                    m.0 = None;
                }
                1 => {
                    b.list_state(&list, &k).expect("s").clear().expect("w");
                    m.1.clear();
                }
                n => {
                    let x = m.0.unwrap_or(0) + n;
                    v.update(x).expect("w");
                    m.0 = Some(x);
                    b.list_state(&list, &k).expect("s").add(x).expect("w");
                    m.1.push(x);
                }
            }
        };
        for _ in 0..20_000 {
            step(&mut b, &mut model);
        }
        let target = SnapshotTarget {
            kind: SnapshotKind::Checkpoint,
            dir: dir.join("chk-1"),
        };
        let snap = take(&mut b, &target);
        let at_checkpoint = model.clone();
        for _ in 0..5_000 {
            step(&mut b, &mut model);
        }
        let check = |b: &mut KeyedStateBackend<String>, model: &Model| {
            for (k, (v, l)) in model {
                assert_eq!(
                    b.value_state(&value, k).expect("s").value().expect("r"),
                    *v,
                    "{k}"
                );
                let got: Vec<u64> = b.list_state(&list, k).expect("s").get().expect("r");
                assert_eq!(&got, l, "{k}");
            }
        };
        check(&mut b, &model);
        let mut r = backend_cached(StateBackendKind::RocksDb, &dir, &time, 0);
        r.restore(restored(snap, 1, 0), &[]).expect("restores");
        check(&mut r, &at_checkpoint);
        drop((b, r));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every state type through a snapshot of one backend and a restore into another, as a
    /// savepoint (canonical) and, RocksDB to RocksDB, as an incremental checkpoint.
    #[test]
    fn every_state_type_survives_a_snapshot_into_either_backend() {
        let value = ValueStateDescriptor::<u64>::new("v");
        let list = ListStateDescriptor::<String>::new("l");
        let map = MapStateDescriptor::<u64, String>::new("m");
        let reducing = ReducingStateDescriptor::<u64>::new("r", |a, b| a + b);
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        let time = Arc::new(AtomicI64::new(0));
        for from in KINDS {
            for (to, kind) in [
                (StateBackendKind::Heap, SnapshotKind::Savepoint),
                (StateBackendKind::RocksDb, SnapshotKind::Savepoint),
                (StateBackendKind::RocksDb, SnapshotKind::Checkpoint),
            ] {
                if kind == SnapshotKind::Checkpoint && from == StateBackendKind::Heap {
                    continue;
                }
                let dir = scratch("types");
                let target = SnapshotTarget {
                    kind,
                    dir: dir.join("chk-1"),
                };
                let mut b = backend_at(from, &dir, &time);
                for (i, k) in keys.iter().enumerate() {
                    let i = i as u64;
                    b.value_state(&value, k).expect("s").update(i).expect("w");
                    let mut l = b.list_state(&list, k).expect("s");
                    l.add(format!("{k}-a")).expect("w");
                    l.add(format!("{k}-b")).expect("w");
                    let mut m = b.map_state(&map, k).expect("s");
                    for j in 0..(i % 4) {
                        m.put(j, format!("{k}/{j}")).expect("w");
                    }
                    for j in 0..=i {
                        b.reducing_state(&reducing, k)
                            .expect("s")
                            .add(j)
                            .expect("w");
                    }
                }
                let snap = take(&mut b, &target);
                drop(b);
                // Restored at parallelism 2: each half holds exactly its keys.
                let mut seen = 0;
                for i in 0..2 {
                    let r = restored(snap.clone(), 2, i);
                    let mine = r.key_groups;
                    let mut b2 = backend_at(to, &dir, &time);
                    b2.restore(r, &[]).expect("restores");
                    for (n, k) in keys.iter().enumerate() {
                        let owned =
                            mine.contains(crate::state::key_group::assign_to_key_group(k, 128));
                        let n = n as u64;
                        let v = b2.value_state(&value, k).expect("s").value().expect("r");
                        assert_eq!(v, owned.then_some(n), "{from}->{to} {kind:?} {k}");
                        if !owned {
                            continue;
                        }
                        seen += 1;
                        let l = b2.list_state(&list, k).expect("s").get().expect("r");
                        assert_eq!(l, vec![format!("{k}-a"), format!("{k}-b")]);
                        let mut m = b2.map_state(&map, k).expect("s").entries().expect("r");
                        m.sort();
                        let want: Vec<(u64, String)> =
                            (0..(n % 4)).map(|j| (j, format!("{k}/{j}"))).collect();
                        assert_eq!(m, want, "{from}->{to} {kind:?} {k}");
                        let r = b2
                            .reducing_state(&reducing, k)
                            .expect("s")
                            .get()
                            .expect("r");
                        assert_eq!(r, Some(n * (n + 1) / 2));
                    }
                }
                assert_eq!(seen, keys.len(), "{from}->{to} {kind:?}");
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }

    #[test]
    fn restored_state_is_read_when_asked_and_kept_until_then() {
        for kind in KINDS {
            let dir = scratch("untouched");
            let time = Arc::new(AtomicI64::new(0));
            let target = SnapshotTarget {
                kind: SnapshotKind::Savepoint,
                dir: dir.join("sp"),
            };
            let mut b = backend_at(kind, &dir, &time);
            let d = ValueStateDescriptor::<u64>::new("v");
            let untouched = ValueStateDescriptor::<u64>::new("u");
            for i in 0..20u64 {
                let k = format!("k{i}");
                b.value_state(&d, &k).expect("state").update(i).expect("w");
                b.value_state(&untouched, &k)
                    .expect("state")
                    .update(i * 10)
                    .expect("w");
            }
            let snap = take(&mut b, &target);
            let mut r = backend_at(kind, &dir, &time);
            r.restore(restored(snap, 1, 0), &[]).expect("restores");
            let v = r.value_state(&d, &"k7".to_string()).expect("state").value();
            assert_eq!(v.expect("reads"), Some(7));
            // "u" was never asked for: the next snapshot still holds it.
            let again = take(&mut r, &target);
            let mut r2 = backend_at(kind, &dir, &time);
            r2.restore(restored(again, 1, 0), &[]).expect("restores");
            for i in 0..20u64 {
                let k = format!("k{i}");
                let u = r2.value_state(&untouched, &k).expect("state").value();
                assert_eq!(u.expect("reads"), Some(i * 10), "{kind}");
                let v = r2.value_state(&d, &k).expect("state").value();
                assert_eq!(v.expect("reads"), Some(i), "{kind}");
            }
            drop((b, r, r2));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A second incremental checkpoint of mostly unchanged state writes only the new files.
    #[test]
    fn rocksdb_checkpoints_upload_only_new_files() {
        let dir = scratch("incremental");
        let time = Arc::new(AtomicI64::new(0));
        let mut b = backend_at(StateBackendKind::RocksDb, &dir, &time);
        let d = ValueStateDescriptor::<String>::new("v");
        for i in 0..20_000u64 {
            let v = format!("{i:0>200}");
            b.value_state(&d, &format!("k{i}"))
                .expect("s")
                .update(v)
                .expect("w");
        }
        let first = SnapshotTarget {
            kind: SnapshotKind::Checkpoint,
            dir: dir.join("job/chk-1"),
        };
        let one = take(&mut b, &first);
        let uploaded = |s: &OperatorSnapshot| -> (u64, u64) {
            let files = s.rocksdb.iter().flat_map(|r| r.shared.iter());
            files.fold((0, 0), |(u, t), f| {
                (u + if f.uploaded { f.size } else { 0 }, t + f.size)
            })
        };
        let (u1, t1) = uploaded(&one);
        assert!(
            u1 > 4_000_000 && u1 == t1,
            "first uploads everything: {u1} of {t1}"
        );
        for i in 0..10u64 {
            b.value_state(&d, &format!("k{i}"))
                .expect("s")
                .update("changed".into())
                .expect("w");
        }
        let second = SnapshotTarget {
            kind: SnapshotKind::Checkpoint,
            dir: dir.join("job/chk-2"),
        };
        let two = take(&mut b, &second);
        let (u2, t2) = uploaded(&two);
        assert!(t2 > t1, "the second refers to both files: {t2}");
        assert!(
            u2 * 50 < t2,
            "the second writes only its new file: {u2} of {t2}"
        );
        // Restored from the second, the instance holds both generations of values.
        let mut r = backend_at(StateBackendKind::RocksDb, &dir, &time);
        r.restore(restored(two, 1, 0), &[]).expect("restores");
        let v = |r: &mut KeyedStateBackend<String>, k: &str| {
            r.value_state(&d, &k.to_string())
                .expect("s")
                .value()
                .expect("r")
        };
        assert_eq!(v(&mut r, "k3"), Some("changed".into()));
        assert_eq!(v(&mut r, "k19999"), Some(format!("{:0>200}", 19_999)));
        drop((b, r));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
