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

use crate::api::{Data, Key};
use crate::eventtime::{ProcessingClock, Timestamp};
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
struct Stamped<T> {
    v: T,
    exp: Timestamp,
}

/// The TTL rules of one state, at one moment.
#[derive(Clone, Copy)]
struct Ttl {
    config: Option<StateTtlConfig>,
    now: Timestamp,
}

impl Ttl {
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
        if self
            .config
            .is_some_and(|c| c.update_type == TtlUpdateType::OnReadAndWrite)
        {
            s.exp = self.expiry();
        }
    }
}

macro_rules! descriptor {
    ($(#[$doc:meta])* $name:ident < $($t:ident),* > { $($field:ident : $fty:ty),* }) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            name: String,
            ttl: Option<StateTtlConfig>,
            $($field: $fty,)*
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

/// One state's table, whatever its type.
trait StateTable<K>: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Copies the table and returns the writing of the copy, for later.
    fn snapshot(&self, name: &str, max_parallelism: usize) -> DeferredPart;
}

/// Values per key (value, reducing and aggregating states).
struct ValueTable<K, T> {
    map: FastMap<K, Stamped<T>>,
    ttl: Option<StateTtlConfig>,
}

/// Lists per key.
struct ListTable<K, T> {
    map: FastMap<K, Vec<Stamped<T>>>,
    ttl: Option<StateTtlConfig>,
}

/// Maps per key.
struct MapTable<K, UK, UV> {
    map: FastMap<K, FastMap<UK, Stamped<UV>>>,
    ttl: Option<StateTtlConfig>,
}

impl<K: Key, T: Data> StateTable<K> for ValueTable<K, T> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, maxp: usize) -> DeferredPart {
        let (name, copy) = (name.to_string(), self.map.clone());
        Box::new(move |out| out.add_keyed(&name, maxp, copy.iter()))
    }
}

impl<K: Key, T: Data> StateTable<K> for ListTable<K, T> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, maxp: usize) -> DeferredPart {
        let (name, copy) = (name.to_string(), self.map.clone());
        Box::new(move |out| out.add_keyed(&name, maxp, copy.iter()))
    }
}

impl<K: Key, UK: Key, UV: Data> StateTable<K> for MapTable<K, UK, UV> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn snapshot(&self, name: &str, maxp: usize) -> DeferredPart {
        let (name, copy) = (name.to_string(), self.map.clone());
        Box::new(move |out| {
            type Entries<'a, UK, UV> = Vec<(&'a UK, &'a Stamped<UV>)>;
            let entries: Vec<(&K, Entries<'_, UK, UV>)> =
                copy.iter().map(|(k, m)| (k, m.iter().collect())).collect();
            out.add_keyed(&name, maxp, entries.iter().map(|(k, m)| (*k, m)))
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

    /// Sets the clock TTLs are measured by.
    pub fn set_clock(&mut self, clock: ProcessingClock, max_parallelism: usize) {
        self.clock = clock;
        self.max_parallelism = max_parallelism;
    }

    /// Keeps restored state, to be read as each state is first asked for; the states named
    /// in `internal` are the operator's own (restored by it) and are left out.
    pub fn restore(&mut self, restored: RestoredState, internal: &[&str]) {
        self.restored = Some(restored);
        self.internal = internal.iter().map(|s| s.to_string()).collect();
    }

    fn ttl(&self, config: Option<StateTtlConfig>) -> Ttl {
        Ttl {
            config,
            now: if config.is_some() {
                self.clock.now()
            } else {
                0
            },
        }
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
            .ok_or_else(|| StateError::Deserialize {
                state: name.to_string(),
                message: "the state was declared before with another kind or type".into(),
            })
    }

    fn value_table<T: Data>(
        &mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
    ) -> Result<&mut ValueTable<K, T>, StateError> {
        self.table(name, |r| {
            let map = match r {
                Some(r) => r.keyed::<K, Stamped<T>>(name)?.into_iter().collect(),
                None => FastMap::default(),
            };
            Ok(ValueTable { map, ttl })
        })
    }

    /// The current key's value state.
    pub fn value_state<'a, T: Data>(
        &'a mut self,
        d: &ValueStateDescriptor<T>,
        key: &'a K,
    ) -> Result<ValueState<'a, K, T>, StateError> {
        let ttl = self.ttl(d.ttl);
        let table = self.value_table::<T>(&d.name, d.ttl)?;
        Ok(ValueState { table, key, ttl })
    }

    /// The current key's list state.
    pub fn list_state<'a, T: Data>(
        &'a mut self,
        d: &ListStateDescriptor<T>,
        key: &'a K,
    ) -> Result<ListState<'a, K, T>, StateError> {
        let ttl = self.ttl(d.ttl);
        let name = d.name.clone();
        let table = self.table(&name, |r| {
            let map = match r {
                Some(r) => r.keyed::<K, Vec<Stamped<T>>>(&name)?.into_iter().collect(),
                None => FastMap::default(),
            };
            Ok(ListTable { map, ttl: d.ttl })
        })?;
        Ok(ListState { table, key, ttl })
    }

    /// The current key's map state.
    pub fn map_state<'a, UK: Key, UV: Data>(
        &'a mut self,
        d: &MapStateDescriptor<UK, UV>,
        key: &'a K,
    ) -> Result<MapState<'a, K, UK, UV>, StateError> {
        let ttl = self.ttl(d.ttl);
        let name = d.name.clone();
        let table = self.table(&name, |r| {
            let map = match r {
                Some(r) => r
                    .keyed::<K, Vec<(UK, Stamped<UV>)>>(&name)?
                    .into_iter()
                    .map(|(k, m)| (k, m.into_iter().collect()))
                    .collect(),
                None => FastMap::default(),
            };
            Ok(MapTable { map, ttl: d.ttl })
        })?;
        Ok(MapState { table, key, ttl })
    }

    /// The current key's reducing state.
    pub fn reducing_state<'a, T: Data>(
        &'a mut self,
        d: &ReducingStateDescriptor<T>,
        key: &'a K,
    ) -> Result<ReducingState<'a, K, T>, StateError> {
        let ttl = self.ttl(d.ttl);
        let table = self.value_table::<T>(&d.name, d.ttl)?;
        Ok(ReducingState {
            inner: ValueState { table, key, ttl },
            reduce: d.reduce.clone(),
        })
    }

    /// The current key's aggregating state.
    pub fn aggregating_state<'a, IN, A>(
        &'a mut self,
        d: &AggregatingStateDescriptor<IN, A>,
        key: &'a K,
    ) -> Result<AggregatingState<'a, K, IN, A>, StateError>
    where
        A: AggregateFunction<IN>,
        A::Acc: Data,
    {
        let ttl = self.ttl(d.ttl);
        let table = self.value_table::<A::Acc>(&d.name, d.ttl)?;
        Ok(AggregatingState {
            inner: ValueState { table, key, ttl },
            agg: d.agg.clone(),
            _in: PhantomData,
        })
    }

    /// Takes every state (and restored state not asked for yet) into `out`: each table is
    /// copied now and serialized when `out` is completed.
    pub fn snapshot(&self, out: &mut StateSnapshot) -> Result<(), StateError> {
        for (name, table) in &self.tables {
            let part = table.snapshot(name, self.max_parallelism);
            out.defer(part);
        }
        if let Some(r) = &self.restored {
            let mut untouched: Vec<&str> = r
                .snapshots
                .iter()
                .flat_map(|s| s.keyed.iter().map(|k| k.name.as_str()))
                .filter(|n| !self.tables.iter().any(|(t, _)| t == n))
                .filter(|n| !self.internal.iter().any(|i| i == n))
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
        Ok(())
    }
}

/// The current key's value.
pub struct ValueState<'a, K, T> {
    table: &'a mut ValueTable<K, T>,
    key: &'a K,
    ttl: Ttl,
}

impl<K: Key, T: Data> ValueState<'_, K, T> {
    /// The value, if set (and not expired).
    pub fn value(&mut self) -> Option<T> {
        let ttl = self.ttl;
        let e = self.table.map.get_mut(self.key)?;
        if self.table.ttl.is_some() && ttl.expired(e) {
            self.table.map.remove(self.key);
            return None;
        }
        ttl.touch(e);
        Some(e.v.clone())
    }

    /// Sets the value.
    pub fn update(&mut self, value: T) {
        let s = self.ttl.stamp(value);
        match self.table.map.get_mut(self.key) {
            Some(e) => *e = s,
            None => {
                self.table.map.insert(self.key.clone(), s);
            }
        }
    }

    /// Removes the value.
    pub fn clear(&mut self) {
        self.table.map.remove(self.key);
    }
}

/// The current key's list.
pub struct ListState<'a, K, T> {
    table: &'a mut ListTable<K, T>,
    key: &'a K,
    ttl: Ttl,
}

impl<K: Key, T: Data> ListState<'_, K, T> {
    /// The list's elements (not expired), in order.
    pub fn get(&mut self) -> Vec<T> {
        let ttl = self.ttl;
        let with_ttl = self.table.ttl.is_some();
        let Some(list) = self.table.map.get_mut(self.key) else {
            return Vec::new();
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
            self.table.map.remove(self.key);
        }
        out
    }

    /// Appends an element.
    pub fn add(&mut self, value: T) {
        let s = self.ttl.stamp(value);
        match self.table.map.get_mut(self.key) {
            Some(l) => l.push(s),
            None => {
                self.table.map.insert(self.key.clone(), vec![s]);
            }
        }
    }

    /// Appends elements.
    pub fn add_all(&mut self, values: impl IntoIterator<Item = T>) {
        for v in values {
            self.add(v);
        }
    }

    /// Replaces the list.
    pub fn update(&mut self, values: Vec<T>) {
        self.clear();
        self.add_all(values);
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.table.map.remove(self.key);
    }
}

/// The current key's map.
pub struct MapState<'a, K, UK, UV> {
    table: &'a mut MapTable<K, UK, UV>,
    key: &'a K,
    ttl: Ttl,
}

impl<K: Key, UK: Key, UV: Data> MapState<'_, K, UK, UV> {
    /// The value under `k`, if any (and not expired).
    pub fn get(&mut self, k: &UK) -> Option<UV> {
        let ttl = self.ttl;
        let with_ttl = self.table.ttl.is_some();
        let m = self.table.map.get_mut(self.key)?;
        let e = m.get_mut(k)?;
        if with_ttl && ttl.expired(e) {
            m.remove(k);
            return None;
        }
        ttl.touch(e);
        Some(e.v.clone())
    }

    /// Whether `k` has a (live) value.
    pub fn contains(&mut self, k: &UK) -> bool {
        self.get(k).is_some()
    }

    /// Sets the value under `k`.
    pub fn put(&mut self, k: UK, v: UV) {
        let s = self.ttl.stamp(v);
        self.table
            .map
            .entry(self.key.clone())
            .or_default()
            .insert(k, s);
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: &UK) {
        if let Some(m) = self.table.map.get_mut(self.key) {
            m.remove(k);
            if m.is_empty() {
                self.table.map.remove(self.key);
            }
        }
    }

    /// Every (live) entry, in no particular order.
    pub fn entries(&mut self) -> Vec<(UK, UV)> {
        let ttl = self.ttl;
        let with_ttl = self.table.ttl.is_some();
        let Some(m) = self.table.map.get_mut(self.key) else {
            return Vec::new();
        };
        if with_ttl {
            m.retain(|_, e| !ttl.expired(e));
        }
        m.iter_mut()
            .map(|(k, e)| {
                ttl.touch(e);
                (k.clone(), e.v.clone())
            })
            .collect()
    }

    /// Whether the map has no (live) entry.
    pub fn is_empty(&mut self) -> bool {
        self.entries().is_empty()
    }

    /// Empties the map.
    pub fn clear(&mut self) {
        self.table.map.remove(self.key);
    }
}

/// The current key's reduced value.
pub struct ReducingState<'a, K, T> {
    inner: ValueState<'a, K, T>,
    reduce: Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

impl<K: Key, T: Data> ReducingState<'_, K, T> {
    /// The reduction of every value added, if any.
    pub fn get(&mut self) -> Option<T> {
        self.inner.value()
    }

    /// Reduces `value` into the state.
    pub fn add(&mut self, value: T) {
        let next = match self.inner.value() {
            Some(acc) => (self.reduce)(acc, value),
            None => value,
        };
        self.inner.update(next);
    }

    /// Removes the value.
    pub fn clear(&mut self) {
        self.inner.clear();
    }
}

/// The current key's aggregate.
pub struct AggregatingState<'a, K, IN, A: AggregateFunction<IN>> {
    inner: ValueState<'a, K, A::Acc>,
    agg: Arc<A>,
    _in: PhantomData<fn(IN)>,
}

impl<K: Key, IN, A> AggregatingState<'_, K, IN, A>
where
    A: AggregateFunction<IN>,
    A::Acc: Data,
{
    /// The aggregate's result, if anything was added.
    pub fn get(&mut self) -> Option<A::Out> {
        self.inner.value().map(|acc| self.agg.get_result(&acc))
    }

    /// Adds `value` to the aggregate.
    pub fn add(&mut self, value: &IN) {
        let mut acc = self
            .inner
            .value()
            .unwrap_or_else(|| self.agg.create_accumulator());
        self.agg.add(value, &mut acc);
        self.inner.update(acc);
    }

    /// Removes the aggregate.
    pub fn clear(&mut self) {
        self.inner.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::key_group::key_group_range;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn backend() -> (HeapKeyedStateBackend<String>, Arc<AtomicI64>) {
        let time = Arc::new(AtomicI64::new(1_000));
        let b = HeapKeyedStateBackend::new(128, ProcessingClock::manual(time.clone()));
        (b, time)
    }

    #[test]
    fn values_expire_after_their_ttl_and_reads_refresh_them_when_asked() {
        let (mut b, time) = backend();
        let written = ValueStateDescriptor::<u64>::new("w")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        let read = ValueStateDescriptor::<u64>::new("r")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)).on_read_and_write());
        let k = "a".to_string();
        b.value_state(&written, &k).expect("state").update(1);
        b.value_state(&read, &k).expect("state").update(2);
        time.store(1_080, Ordering::Relaxed);
        assert_eq!(b.value_state(&written, &k).expect("state").value(), Some(1));
        // A read at 1080 keeps "r" alive until 1180.
        assert_eq!(b.value_state(&read, &k).expect("state").value(), Some(2));
        time.store(1_100, Ordering::Relaxed);
        assert_eq!(b.value_state(&written, &k).expect("state").value(), None);
        assert_eq!(b.value_state(&read, &k).expect("state").value(), Some(2));
        time.store(1_300, Ordering::Relaxed);
        assert_eq!(b.value_state(&read, &k).expect("state").value(), None);

        let list = ListStateDescriptor::<u64>::new("l")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        b.list_state(&list, &k).expect("state").add(1);
        time.store(1_350, Ordering::Relaxed);
        b.list_state(&list, &k).expect("state").add(2);
        time.store(1_410, Ordering::Relaxed);
        assert_eq!(b.list_state(&list, &k).expect("state").get(), vec![2]);

        let map = MapStateDescriptor::<u64, u64>::new("m")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        b.map_state(&map, &k).expect("state").put(1, 10);
        time.store(1_460, Ordering::Relaxed);
        b.map_state(&map, &k).expect("state").put(2, 20);
        time.store(1_520, Ordering::Relaxed);
        let mut m = b.map_state(&map, &k).expect("state");
        assert_eq!(m.get(&1), None);
        assert_eq!(m.entries(), vec![(2, 20)]);
    }

    #[test]
    fn a_name_declared_with_another_type_is_an_error() {
        let (mut b, _) = backend();
        let k = "a".to_string();
        b.value_state(&ValueStateDescriptor::<u64>::new("x"), &k)
            .expect("state")
            .update(1);
        assert!(b
            .value_state(&ValueStateDescriptor::<String>::new("x"), &k)
            .is_err());
        assert!(b
            .list_state(&ListStateDescriptor::<u64>::new("x"), &k)
            .is_err());
    }

    #[test]
    fn restored_state_is_read_when_asked_and_kept_until_then() {
        let (mut b, _) = backend();
        let d = ValueStateDescriptor::<u64>::new("v");
        let untouched = ValueStateDescriptor::<u64>::new("u");
        for i in 0..20u64 {
            let k = format!("k{i}");
            b.value_state(&d, &k).expect("state").update(i);
            b.value_state(&untouched, &k).expect("state").update(i * 10);
        }
        let mut snap = StateSnapshot::default();
        b.snapshot(&mut snap).expect("snapshots");
        let snap = snap.complete().expect("writes");

        let restored = RestoredState {
            snapshots: vec![snap],
            key_groups: key_group_range(128, 1, 0),
            subtask_index: 0,
            parallelism: 1,
        };
        let (mut r, _) = backend();
        r.restore(restored, &[]);
        assert_eq!(
            r.value_state(&d, &"k7".to_string()).expect("state").value(),
            Some(7)
        );
        // "u" was never asked for: the next snapshot still holds it.
        let mut again = StateSnapshot::default();
        r.snapshot(&mut again).expect("snapshots");
        let again = again.complete().expect("writes");
        let restored = RestoredState {
            snapshots: vec![again],
            key_groups: key_group_range(128, 1, 0),
            subtask_index: 0,
            parallelism: 1,
        };
        let (mut r2, _) = backend();
        r2.restore(restored, &[]);
        for i in 0..20u64 {
            let k = format!("k{i}");
            assert_eq!(
                r2.value_state(&untouched, &k).expect("state").value(),
                Some(i * 10)
            );
            assert_eq!(r2.value_state(&d, &k).expect("state").value(), Some(i));
        }
    }
}
