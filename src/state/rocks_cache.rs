//! A bounded write-back cache in front of the RocksDB backend's value and list cells.
//!
//! A cell's bytes are kept exactly as RocksDB would hold them (TTL stamps included), with
//! "known absent" cached too. Reads that hit skip RocksDB; writes stay in the cache (dirty)
//! until their entry is evicted or the backend snapshots, when every dirty entry is written
//! back in one `WriteBatch` before RocksDB's checkpoint is taken — so a checkpoint holds
//! exactly what the cells held. Map state does not go through the cache: its entries are
//! RocksDB keys of their own, read by prefix scans.
//!
//! Eviction is a second-chance sweep: once the cache holds more than its capacity, entries
//! not read or written since the previous sweep go (dirty ones handed to the writer), and
//! the others lose their mark, until at most three quarters of the capacity is used. The
//! sweep is linear in the cache's size and frees at least a quarter of it, so its cost per
//! access stays constant.

use hashbrown::HashMap;

use crate::util::StableBuildHasher;

/// Bytes an entry costs beyond its key and value (table slot, allocations), for the budget.
const ENTRY_OVERHEAD: usize = 64;

struct Slot {
    /// The cell's bytes; `None` when the cell is known to be empty.
    value: Option<Box<[u8]>>,
    /// Written since RocksDB last saw it.
    dirty: bool,
    /// Read or written since the last sweep.
    used: bool,
}

fn cost(key: &[u8], value: Option<&[u8]>) -> usize {
    ENTRY_OVERHEAD + key.len() + value.map_or(0, <[u8]>::len)
}

/// Cached cells, one table per state (by the state's index in the backend).
pub(crate) struct StateCache {
    tables: Vec<HashMap<Box<[u8]>, Slot, StableBuildHasher>>,
    bytes: usize,
    capacity: usize,
}

/// A dirty entry on its way to RocksDB: state index, cell key, bytes (`None`: delete).
pub(crate) type WriteBack<'a> = (usize, &'a [u8], Option<&'a [u8]>);

/// An evicted dirty entry, as [`WriteBack`] but owned.
pub(crate) type Dirty = (usize, Box<[u8]>, Option<Box<[u8]>>);

impl StateCache {
    /// A cache of about `capacity` bytes; 0 turns it off.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            tables: Vec::new(),
            bytes: 0,
            capacity,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The cached bytes of `key` in state `state`: `None` on a miss, `Some(None)` when the
    /// cell is known to be empty.
    pub(crate) fn get(&mut self, state: usize, key: &[u8]) -> Option<Option<&[u8]>> {
        let slot = self.tables.get_mut(state)?.get_mut(key)?;
        slot.used = true;
        Some(slot.value.as_deref())
    }

    /// Caches `value` for `key`: `dirty` for a write, else what RocksDB holds.
    pub(crate) fn put(&mut self, state: usize, key: &[u8], value: Option<&[u8]>, dirty: bool) {
        if self.tables.len() <= state {
            self.tables.resize_with(state + 1, HashMap::default);
        }
        let table = &mut self.tables[state];
        let added = cost(key, value);
        match table.get_mut(key) {
            Some(slot) => {
                self.bytes -= cost(key, slot.value.as_deref());
                // A running value usually keeps its size: overwrite it without allocating.
                match (&mut slot.value, value) {
                    (Some(old), Some(new)) if old.len() == new.len() => old.copy_from_slice(new),
                    (old, new) => *old = new.map(Box::from),
                }
                slot.dirty |= dirty;
                slot.used = true;
            }
            None => {
                table.insert(
                    Box::from(key),
                    Slot {
                        value: value.map(Box::from),
                        dirty,
                        used: true,
                    },
                );
            }
        }
        self.bytes += added;
    }

    /// Whether the cache holds more than its capacity (time for [`Self::evict`]).
    pub(crate) fn is_full(&self) -> bool {
        self.bytes > self.capacity
    }

    /// Sweeps until at most three quarters of the capacity is used; returns the dirty
    /// entries that went, in order of state and key (sorted batches are cheap to insert into
    /// RocksDB's memtable).
    pub(crate) fn evict(&mut self) -> Vec<Dirty> {
        let target = self.capacity / 4 * 3;
        let Self { tables, bytes, .. } = self;
        let mut out = Vec::new();
        // The first pass takes what was not used since the last sweep; a second one takes
        // what it must when everything was.
        for _ in 0..2 {
            for (state, table) in tables.iter_mut().enumerate() {
                let gone = table.extract_if(|key, slot| {
                    if *bytes <= target || std::mem::take(&mut slot.used) {
                        return false;
                    }
                    *bytes -= cost(key, slot.value.as_deref());
                    true
                });
                out.extend(
                    gone.filter(|(_, slot)| slot.dirty)
                        .map(|(key, slot)| (state, key, slot.value)),
                );
            }
            if *bytes <= target {
                break;
            }
        }
        out.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    /// Hands every dirty entry to `write`, in order of state and key, and marks them clean
    /// once it succeeded.
    pub(crate) fn write_back<E>(
        &mut self,
        write: impl FnOnce(&[WriteBack<'_>]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut dirty: Vec<WriteBack<'_>> = self
            .tables
            .iter()
            .enumerate()
            .flat_map(|(state, table)| {
                table
                    .iter()
                    .filter(|(_, s)| s.dirty)
                    .map(move |(key, slot)| (state, &**key, slot.value.as_deref()))
            })
            .collect();
        if dirty.is_empty() {
            return Ok(());
        }
        dirty.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        write(&dirty)?;
        for slot in self.tables.iter_mut().flat_map(|t| t.values_mut()) {
            slot.dirty = false;
        }
        Ok(())
    }

    /// Forgets everything (the instance under it was replaced).
    pub(crate) fn clear(&mut self) {
        self.tables.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl StateCache {
        fn contains(&self, key: &[u8]) -> bool {
            self.tables[0].contains_key(key)
        }
    }

    type Owned = (usize, Vec<u8>, Option<Vec<u8>>);

    fn sorted(all: &[Owned]) -> bool {
        all.windows(2)
            .all(|w| (w[0].0, &w[0].1) < (w[1].0, &w[1].1))
    }

    fn evicted(cache: &mut StateCache) -> Vec<Owned> {
        let out: Vec<Owned> = cache
            .evict()
            .into_iter()
            .map(|(s, k, v)| (s, k.into_vec(), v.map(<[u8]>::into_vec)))
            .collect();
        assert!(sorted(&out));
        out
    }

    fn written_back(cache: &mut StateCache) -> Vec<Owned> {
        let mut out = Vec::new();
        let _ = cache.write_back(|all| {
            out.extend(
                all.iter()
                    .map(|(s, k, v)| (*s, k.to_vec(), v.map(<[u8]>::to_vec))),
            );
            Ok::<(), ()>(())
        });
        assert!(sorted(&out));
        out
    }

    #[test]
    fn reads_what_was_put_and_knows_absent_cells() {
        let mut c = StateCache::new(1 << 20);
        assert_eq!(c.get(0, b"a"), None);
        c.put(0, b"a", None, false);
        assert_eq!(c.get(0, b"a"), Some(None));
        c.put(1, b"a", Some(b"x"), true);
        assert_eq!(c.get(1, b"a"), Some(Some(&b"x"[..])));
        assert_eq!(c.get(0, b"a"), Some(None), "states are apart");
    }

    #[test]
    fn write_back_hands_over_dirty_entries_once() {
        let mut c = StateCache::new(1 << 20);
        c.put(0, b"clean", Some(b"1"), false);
        c.put(0, b"new", Some(b"2"), true);
        c.put(2, b"gone", None, true);
        assert_eq!(
            written_back(&mut c),
            vec![
                (0, b"new".to_vec(), Some(b"2".to_vec())),
                (2, b"gone".to_vec(), None)
            ]
        );
        assert!(written_back(&mut c).is_empty());
        // Still cached after being written back.
        assert_eq!(c.get(0, b"new"), Some(Some(&b"2"[..])));
    }

    #[test]
    fn a_clean_read_of_a_dirty_entry_keeps_it_dirty() {
        let mut c = StateCache::new(1 << 20);
        c.put(0, b"k", Some(b"1"), true);
        c.put(0, b"k", Some(b"2"), false);
        assert_eq!(
            written_back(&mut c),
            vec![(0, b"k".to_vec(), Some(b"2".to_vec()))]
        );
    }

    #[test]
    fn a_failed_write_back_keeps_entries_dirty() {
        let mut c = StateCache::new(1 << 20);
        c.put(0, b"k", Some(b"1"), true);
        assert_eq!(c.write_back(|_| Err("disk full")), Err("disk full"));
        assert_eq!(written_back(&mut c).len(), 1);
    }

    #[test]
    fn eviction_keeps_the_budget_spares_used_entries_and_writes_dirty_ones() {
        let per = cost(b"k000", Some(b"v"));
        let mut c = StateCache::new(per * 100);
        let key = |i: u32| format!("k{i:03}").into_bytes();
        for i in 0..100 {
            c.put(0, &key(i), Some(b"v"), i % 2 == 0);
        }
        assert!(!c.is_full());
        // Everything was used: the first pass only clears marks, the second cuts to 3/4.
        let first = evicted(&mut c);
        assert_eq!(c.bytes, per * 75);
        assert!(
            first.iter().all(|(_, k, _)| k[3] % 2 == 0),
            "clean entries are not written"
        );
        let cached: Vec<u32> = (0..100).filter(|i| c.contains(&key(*i))).collect();
        assert_eq!(cached.len(), 75);
        let hot = &cached[..10];
        for i in hot {
            assert!(c.get(0, &key(*i)).is_some());
        }
        for i in 300..330 {
            c.put(0, &key(i), Some(b"v"), true);
        }
        assert!(c.is_full());
        let out = evicted(&mut c);
        assert!(c.bytes <= per * 75, "{} > {}", c.bytes, per * 75);
        for i in hot.iter().chain(&[300, 329]) {
            assert!(c.contains(&key(*i)), "used entry {i} was evicted");
        }
        assert!(!out.is_empty());
        for (_, k, v) in &out {
            assert_eq!(v.as_deref(), Some(&b"v"[..]));
            assert!(!c.contains(k), "written entries left the cache");
        }
    }
}
