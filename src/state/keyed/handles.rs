//! The state handles a function gets for the current key (`ValueState`, `ListState`,
//! `MapState`, `ReducingState`, `AggregatingState`), on either backend.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::data::{Data, Key};
use crate::state::rocksdb::RocksCell;
use crate::state::snapshot::StateError;
use crate::windowing::functions::AggregateFunction;

use super::tables::{ListTable, MapTable, PerKey, ValueTable};
use super::Ttl;

/// Where one key's state is: an entry of a heap table, or a RocksDB key.
pub(super) enum Cell<'a, K, Table> {
    Heap { table: &'a mut Table, key: &'a K },
    Rocks(RocksCell<'a>),
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
    pub(super) cell: Cell<'a, K, ValueTable<K, T>>,
    pub(super) ttl: Ttl,
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

    /// The value, if set (and not expired), moved out for a read-modify-write: on the heap it
    /// leaves the table without a copy (a large value, such as a `DISTINCT`'s set, is not
    /// cloned per record); in RocksDB it is read. Either way the caller then
    /// [`update`](Self::update)s or [`clear`](Self::clear)s it.
    pub fn take(&mut self) -> Result<Option<T>, StateError> {
        let ttl = self.ttl;
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let Some(e) = table.map.remove(*key) else {
                    return Ok(None);
                };
                if table.ttl.is_some() && ttl.expired(&e) {
                    return Ok(None);
                }
                Ok(Some(e.v))
            }
            Cell::Rocks(_) => self.value(),
        }
    }

    /// Changes the value in place: `f` gets it (`None` when unset or expired) and says whether
    /// it changed it. On the heap nothing is copied (a key's long list of rows is not cloned to
    /// add one); in RocksDB the value is read and, when changed, written back. Left `None`, the
    /// value is cleared; a changed value expires as a written one, an unchanged one as a read.
    pub fn modify<R>(
        &mut self,
        f: impl FnOnce(&mut Option<T>) -> (R, bool),
    ) -> Result<R, StateError> {
        let ttl = self.ttl;
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let (mut v, exp) = match table.map.remove(*key) {
                    Some(e) if !(table.ttl.is_some() && ttl.expired(&e)) => {
                        (Some(e.v), Some(e.exp))
                    }
                    _ => (None, None),
                };
                let (r, changed) = f(&mut v);
                if let Some(v) = v {
                    let s = match exp {
                        Some(exp) if !changed => {
                            let mut s = super::ttl::Stamped { v, exp };
                            ttl.touch(&mut s);
                            s
                        }
                        _ => ttl.stamp(v),
                    };
                    table.map.insert((*key).clone(), s);
                }
                Ok(r)
            }
            Cell::Rocks(_) => {
                let mut v = self.value()?;
                let (r, changed) = f(&mut v);
                if changed {
                    match v {
                        Some(v) => self.update(v)?,
                        None => self.clear()?,
                    }
                }
                Ok(r)
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
    pub(super) cell: Cell<'a, K, ListTable<K, T>>,
    pub(super) ttl: Ttl,
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
    pub(super) cell: Cell<'a, K, MapTable<K, UK, UV>>,
    pub(super) ttl: Ttl,
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

    /// Sets the value under `k` to `f` of the current one (`None` when absent or expired):
    /// one lookup on the heap.
    pub fn upsert(&mut self, k: UK, f: impl FnOnce(Option<&UV>) -> UV) -> Result<(), StateError> {
        let ttl = self.ttl;
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let with_ttl = table.ttl.is_some();
                let m = table.map.entry((*key).clone()).or_default();
                match m.entry(k) {
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        let e = o.get_mut();
                        let live = !(with_ttl && ttl.expired(e));
                        *e = ttl.stamp(f(live.then_some(&e.v)));
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(ttl.stamp(f(None)));
                    }
                }
                Ok(())
            }
            Cell::Rocks(_) => {
                let v = f(self.get(&k)?.as_ref());
                self.put(k, v)
            }
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

    /// Visits every (live) entry in place, in no particular order: on the heap nothing is
    /// cloned; in RocksDB each entry is read, and written back when `f` says it changed the
    /// value (a changed value expires as a written one). Stops at `f`'s first error.
    pub fn for_each_mut<E: From<StateError>>(
        &mut self,
        mut f: impl FnMut(&UK, &mut UV) -> Result<bool, E>,
    ) -> Result<(), E> {
        let ttl = self.ttl;
        let with_ttl = ttl.config.is_some();
        match &mut self.cell {
            Cell::Heap { table, key } => {
                let Some(m) = table.map.get_mut(*key) else {
                    return Ok(());
                };
                if with_ttl {
                    m.retain(|_, e| !ttl.expired(e));
                }
                for (k, e) in m.iter_mut() {
                    if f(k, &mut e.v)? {
                        e.exp = ttl.stamp(()).exp;
                    } else {
                        ttl.touch(e);
                    }
                }
                Ok(())
            }
            Cell::Rocks(cell) => {
                for (k, mut s) in cell.entries::<UK, UV>()? {
                    if with_ttl && ttl.expired(&s) {
                        cell.delete_entry(&k)?;
                        continue;
                    }
                    if f(&k, &mut s.v)? {
                        s.exp = ttl.stamp(()).exp;
                    } else if ttl.refreshes_on_read() {
                        ttl.touch(&mut s);
                    } else {
                        continue;
                    }
                    cell.put_entry(&k, &s)?;
                }
                Ok(())
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
