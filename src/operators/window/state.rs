//! The window operator's state: per window, a small table of its keys' slots.
//!
//! Elements arrive roughly in time order, so consecutive elements fall into the same few
//! windows: grouping slots by window keeps the table an element probes small and hot in the
//! cache (a window of a hundred keys is a few kilobytes), where one table of every key's every
//! window would miss the cache on most probes once it holds a few hundred thousand. A window
//! whose last key is removed gives its table back to a free list, and the next new window takes
//! it with its capacity: tables are not grown and freed as windows come and go.

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry as TableEntry, HashTable};

use crate::util::StableBuildHasher;
use crate::windowing::triggers::{TimerSlots, TriggerState};

/// An element's key: extracted (owned) or pointed at inside the element.
pub(super) enum KeySource<'a, K> {
    Owned(K),
    Ref(&'a K),
}

impl<K: Clone> KeySource<'_, K> {
    #[inline]
    pub fn get(&self) -> &K {
        match self {
            Self::Owned(k) => k,
            Self::Ref(k) => k,
        }
    }

    #[inline]
    pub fn into_owned(self) -> K {
        match self {
            Self::Owned(k) => k,
            Self::Ref(k) => k.clone(),
        }
    }
}

/// One key's window: its contents, trigger state and timers.
pub(super) struct Slot<K, A> {
    pub key: K,
    pub contents: Option<A>,
    pub timers: TimerSlots,
    pub trigger_state: TriggerState,
}

impl<K, A> Slot<K, A> {
    pub fn new(key: K) -> Self {
        Self {
            key,
            contents: None,
            timers: TimerSlots::default(),
            trigger_state: None,
        }
    }
}

/// One window and the slots of its keys.
pub(super) struct Group<K, W, A> {
    pub window: W,
    pub slots: HashTable<Slot<K, A>>,
}

/// Every key's windows.
pub(super) struct WindowState<K, W, A> {
    /// Each live window's group (an index into `groups`), hashed by window.
    index: HashTable<(u64, usize)>,
    groups: Vec<Group<K, W, A>>,
    /// Groups not in use; their tables are empty and keep their capacity.
    free: Vec<usize>,
    /// The group of the window looked up last.
    last: Option<usize>,
    hasher: StableBuildHasher,
}

impl<K, W, A> WindowState<K, W, A>
where
    K: std::hash::Hash + Eq,
    W: std::hash::Hash + Eq + Clone,
{
    pub fn new() -> Self {
        Self {
            index: HashTable::new(),
            groups: Vec::new(),
            free: Vec::new(),
            last: None,
            hasher: StableBuildHasher::default(),
        }
    }

    /// The hash a key's slot is found by (inside its window's table).
    #[inline]
    pub fn key_hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The group of window `w`, if it is live.
    #[inline]
    pub fn find_group(&mut self, w: &W) -> Option<usize> {
        if let Some(g) = self.last {
            if self.groups[g].window == *w {
                return Some(g);
            }
        }
        let hash = self.hasher.hash_one(w);
        let groups = &self.groups;
        let g = self
            .index
            .find(hash, |&(_, g)| groups[g].window == *w)
            .map(|&(_, g)| g)?;
        self.last = Some(g);
        Some(g)
    }

    /// The group of window `w`, made live if it was not.
    #[inline]
    pub fn group(&mut self, w: &W) -> usize {
        if let Some(g) = self.find_group(w) {
            return g;
        }
        let g = match self.free.pop() {
            Some(g) => {
                self.groups[g].window = w.clone();
                g
            }
            None => {
                self.groups.push(Group {
                    window: w.clone(),
                    slots: HashTable::new(),
                });
                self.groups.len() - 1
            }
        };
        let hash = self.hasher.hash_one(w);
        self.index.insert_unique(hash, (hash, g), |&(h, _)| h);
        self.last = Some(g);
        g
    }

    /// Window `w` and the slot of `key` (whose hash is `hash`) in it, made if there is none;
    /// a key held by reference is cloned only then.
    #[inline]
    pub fn slot_or_insert(
        &mut self,
        w: &W,
        hash: u64,
        key: KeySource<'_, K>,
    ) -> (&W, &mut Slot<K, A>)
    where
        K: Clone,
    {
        let g = self.group(w);
        let hasher = &self.hasher;
        let Group { window, slots } = &mut self.groups[g];
        let k = key.get();
        let slot = match slots.entry(hash, |s| s.key == *k, |s| hasher.hash_one(&s.key)) {
            TableEntry::Occupied(o) => o.into_mut(),
            TableEntry::Vacant(v) => v.insert(Slot::new(key.into_owned())).into_mut(),
        };
        (window, slot)
    }

    /// The group `g` (live) for in-place work on its slots.
    #[inline]
    pub fn group_mut(&mut self, g: usize) -> &mut Group<K, W, A> {
        &mut self.groups[g]
    }

    /// Every live window and its slots.
    pub fn iter(&self) -> impl Iterator<Item = (&W, &Slot<K, A>)> {
        self.index.iter().flat_map(move |&(_, g)| {
            let group = &self.groups[g];
            group.slots.iter().map(move |s| (&group.window, s))
        })
    }

    /// Gives group `g` back if it has no slot left.
    pub fn release_if_empty(&mut self, g: usize) {
        let group = &self.groups[g];
        if !group.slots.is_empty() {
            return;
        }
        let hash = self.hasher.hash_one(&group.window);
        if let Ok(e) = self.index.find_entry(hash, |&(_, x)| x == g) {
            e.remove();
        }
        if self.last == Some(g) {
            self.last = None;
        }
        self.free.push(g);
    }

    /// Removes `key`'s window `w` and returns its slot.
    pub fn take(&mut self, key: &K, w: &W) -> Option<Slot<K, A>> {
        let g = self.find_group(w)?;
        let hash = self.key_hash(key);
        let slot = self.groups[g]
            .slots
            .find_entry(hash, |s| s.key == *key)
            .ok()
            .map(|e| e.remove().0);
        self.release_if_empty(g);
        slot
    }

    /// Puts a slot into window `w` (its key must not be there).
    pub fn put(&mut self, w: &W, slot: Slot<K, A>) {
        let g = self.group(w);
        let hash = self.key_hash(&slot.key);
        let hasher = &self.hasher;
        self.groups[g]
            .slots
            .insert_unique(hash, slot, |s| hasher.hash_one(&s.key));
    }

    /// The number of live windows of all keys (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index
            .iter()
            .map(|&(_, g)| self.groups[g].slots.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windowing::TimeWindow;

    type State = WindowState<u64, TimeWindow, u64>;

    fn add(state: &mut State, key: u64, w: TimeWindow, n: u64) {
        let hash = state.key_hash(&key);
        let (window, slot) = state.slot_or_insert(&w, hash, KeySource::Owned(key));
        assert_eq!(*window, w);
        *slot.contents.get_or_insert(0) += n;
    }

    fn contents(state: &mut State, key: u64, w: TimeWindow) -> Option<u64> {
        let g = state.find_group(&w)?;
        let hash = state.key_hash(&key);
        state
            .group_mut(g)
            .slots
            .find(hash, |s| s.key == key)
            .and_then(|s| s.contents)
    }

    #[test]
    fn slots_are_found_per_key_and_window() {
        let mut state = State::new();
        let (a, b) = (TimeWindow::new(0, 10), TimeWindow::new(10, 20));
        add(&mut state, 1, a, 1);
        add(&mut state, 2, a, 10);
        add(&mut state, 1, b, 100);
        add(&mut state, 1, a, 1);
        assert_eq!(state.len(), 3);
        assert_eq!(contents(&mut state, 1, a), Some(2));
        assert_eq!(contents(&mut state, 2, a), Some(10));
        assert_eq!(contents(&mut state, 1, b), Some(100));
        assert_eq!(contents(&mut state, 2, b), None);
    }

    #[test]
    fn an_emptied_window_gives_its_table_to_the_next_window() {
        let mut state = State::new();
        let (a, b, c) = (
            TimeWindow::new(0, 10),
            TimeWindow::new(10, 20),
            TimeWindow::new(20, 30),
        );
        for k in 0..50 {
            add(&mut state, k, a, k);
        }
        add(&mut state, 7, b, 7);
        let ga = state.find_group(&a).expect("a is live");
        for k in 0..50 {
            assert_eq!(state.take(&k, &a).and_then(|s| s.contents), Some(k));
        }
        // `a` is gone, and its table (with its capacity) now serves `c`.
        assert_eq!(state.find_group(&a), None);
        assert_eq!(state.take(&3, &a).map(|s| s.key), None);
        add(&mut state, 3, c, 30);
        assert_eq!(state.find_group(&c), Some(ga));
        assert!(state.group_mut(ga).slots.capacity() >= 50);
        assert_eq!(contents(&mut state, 3, c), Some(30));
        assert_eq!(contents(&mut state, 7, b), Some(7));
        assert_eq!(state.len(), 2);
        // A slot moved to another window (as sessions merge).
        let slot = state.take(&7, &b).expect("7 is in b");
        state.put(&a, slot);
        assert_eq!(contents(&mut state, 7, a), Some(7));
        assert_eq!(state.find_group(&b), None);
        assert_eq!(state.len(), 2);
    }
}
