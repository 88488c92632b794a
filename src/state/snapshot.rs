//! What an operator's state looks like in a checkpoint, and how a restored operator reads its
//! share of it back.
//!
//! ## Layout
//! - **Keyed state** is cut by key group: per state, one serialized blob per key group that
//!   holds entries. A subtask restored at any parallelism reads the blobs of the groups in its
//!   range, from every old subtask's snapshot, and nothing else.
//! - **Operator list state** is a list of serialized entries per state. On restore, a
//!   `Split` list is dealt out evenly over the new subtasks (Flink's round-robin
//!   redistribution); a `Union` list goes whole to every subtask.
//!
//! - **RocksDB state** in a checkpoint (not a savepoint) is incremental: the handle of a
//!   database's files, the immutable SST files shared between checkpoints (see
//!   [`crate::state::rocksdb`]). Savepoints always hold the canonical form above, whichever
//!   backend wrote them, so a job can switch backends through a savepoint.
//!
//! Entries are rmp-serde bytes: the state's types are the job's record types, which are all
//! `Serialize + DeserializeOwned`.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::checkpoint::barrier::SnapshotKind;
use crate::state::key_group::{assign_to_key_group, KeyGroupRange};
use crate::state::rocksdb::RocksDbSnapshot;

/// Why state could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An entry did not serialize.
    #[error("state '{state}' could not be serialized: {message}")]
    Serialize {
        /// The state.
        state: String,
        /// Why.
        message: String,
    },
    /// An entry did not deserialize (the job's types changed, or the bytes are damaged).
    #[error("state '{state}' could not be read back: {message}")]
    Deserialize {
        /// The state.
        state: String,
        /// Why.
        message: String,
    },
    /// The state backend failed (RocksDB or the files of its checkpoints).
    #[error("state backend: {0}")]
    Backend(String),
}

impl crate::data::OperatorError {
    /// Operator `operator`'s state could not be written or read.
    pub fn state(operator: &str, e: StateError) -> Self {
        Self::Failed {
            operator: operator.to_string(),
            message: e.to_string(),
        }
    }
}

/// One keyed state of one operator: per key group, its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedStateSnapshot {
    /// The state's name.
    pub name: String,
    /// `(key group, serialized entries)`, by key group.
    pub groups: Vec<(u32, ByteBuf)>,
}

/// How an operator list state is redistributed on restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListMode {
    /// Entries are dealt out evenly over the new subtasks.
    Split,
    /// Every new subtask gets every entry.
    Union,
}

/// One operator list state of one subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStateSnapshot {
    /// The state's name.
    pub name: String,
    /// How it is redistributed.
    pub mode: ListMode,
    /// The serialized entries.
    pub entries: Vec<ByteBuf>,
}

/// One operator's state in one subtask's snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    /// Keyed states.
    pub keyed: Vec<KeyedStateSnapshot>,
    /// Operator list states.
    pub lists: Vec<ListStateSnapshot>,
    /// Keyed state in RocksDB's own files (incremental checkpoints of the RocksDB backend).
    #[serde(default)]
    pub rocksdb: Vec<RocksDbSnapshot>,
}

impl OperatorSnapshot {
    /// Whether the operator has no state.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.lists.is_empty() && self.rocksdb.is_empty()
    }

    /// Adds a keyed state from its entries, cut by key group (`max_parallelism` groups).
    pub fn add_keyed<'a, K, V>(
        &mut self,
        name: &str,
        max_parallelism: usize,
        entries: impl IntoIterator<Item = (&'a K, &'a V)>,
    ) -> Result<(), StateError>
    where
        K: Serialize + Hash + 'a,
        V: Serialize + 'a,
    {
        let mut by_group: BTreeMap<u32, Vec<(&K, &V)>> = BTreeMap::new();
        for (k, v) in entries {
            let g = assign_to_key_group(k, max_parallelism) as u32;
            by_group.entry(g).or_default().push((k, v));
        }
        let mut groups = Vec::with_capacity(by_group.len());
        for (g, entries) in by_group {
            let bytes = rmp_serde::to_vec(&entries).map_err(|e| StateError::Serialize {
                state: name.to_string(),
                message: e.to_string(),
            })?;
            groups.push((g, ByteBuf::from(bytes)));
        }
        self.keyed.push(KeyedStateSnapshot {
            name: name.to_string(),
            groups,
        });
        Ok(())
    }

    /// Adds an operator list state.
    pub fn add_list<'a, V: Serialize + 'a>(
        &mut self,
        name: &str,
        mode: ListMode,
        entries: impl IntoIterator<Item = &'a V>,
    ) -> Result<(), StateError> {
        let entries = entries
            .into_iter()
            .map(|v| {
                rmp_serde::to_vec(v)
                    .map(ByteBuf::from)
                    .map_err(|e| StateError::Serialize {
                        state: name.to_string(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.lists.push(ListStateSnapshot {
            name: name.to_string(),
            mode,
            entries,
        });
        Ok(())
    }
}

/// A part of a snapshot still to be written, from a copy the operator made at the barrier.
pub type DeferredPart = Box<dyn FnOnce(&mut OperatorSnapshot) -> Result<(), StateError> + Send>;

/// A part still to be written that depends on where the snapshot goes.
type TargetedPart =
    Box<dyn FnOnce(&mut OperatorSnapshot, &SnapshotTarget) -> Result<(), StateError> + Send>;

/// Where a snapshot is written: a checkpoint's `chk-N` directory or a savepoint's directory.
#[derive(Debug, Clone)]
pub struct SnapshotTarget {
    /// Checkpoint (may share files with other checkpoints) or savepoint (self-contained).
    pub kind: SnapshotKind,
    /// The snapshot's directory.
    pub dir: PathBuf,
}

impl SnapshotTarget {
    /// Where files shared between a job's checkpoints go: `shared/` beside `chk-N`; `None`
    /// for a savepoint, which shares nothing.
    pub fn shared_dir(&self) -> Option<PathBuf> {
        match self.kind {
            SnapshotKind::Checkpoint => Some(shared_dir_of(&self.dir)),
            SnapshotKind::Savepoint => None,
        }
    }
}

/// The shared-file directory of the checkpoint in `chk_dir`.
pub fn shared_dir_of(chk_dir: &Path) -> PathBuf {
    chk_dir
        .parent()
        .unwrap_or(chk_dir)
        .join(crate::checkpoint::storage::SHARED_DIR)
}

/// An operator's snapshot as taken at a barrier: what is already written, and parts to be
/// written later, off the task's thread, from copies made at the barrier (copy-on-write: the
/// operator goes on processing while they are serialized).
#[derive(Default)]
pub struct StateSnapshot {
    written: OperatorSnapshot,
    deferred: Vec<TargetedPart>,
}

impl StateSnapshot {
    /// Adds a part to write later.
    pub fn defer(
        &mut self,
        part: impl FnOnce(&mut OperatorSnapshot) -> Result<(), StateError> + Send + 'static,
    ) {
        self.deferred.push(Box::new(move |out, _| part(out)));
    }

    /// Adds a part to write later that needs to know where the snapshot goes.
    pub fn defer_to(
        &mut self,
        part: impl FnOnce(&mut OperatorSnapshot, &SnapshotTarget) -> Result<(), StateError>
            + Send
            + 'static,
    ) {
        self.deferred.push(Box::new(part));
    }

    /// What is written already.
    pub fn written_mut(&mut self) -> &mut OperatorSnapshot {
        &mut self.written
    }

    /// Whether there is no state at all.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.deferred.is_empty()
    }

    /// Writes the deferred parts, for a snapshot going to `target`.
    pub fn complete(self, target: &SnapshotTarget) -> Result<OperatorSnapshot, StateError> {
        let mut out = self.written;
        for part in self.deferred {
            part(&mut out, target)?;
        }
        Ok(out)
    }
}

impl From<OperatorSnapshot> for StateSnapshot {
    fn from(written: OperatorSnapshot) -> Self {
        Self {
            written,
            deferred: Vec::new(),
        }
    }
}

/// The state a new subtask of an operator starts from: the operator's snapshots from every
/// subtask of the run it restores, and the share this subtask owns.
#[derive(Debug, Clone)]
pub struct RestoredState {
    /// The old subtasks' snapshots of the operator, by old subtask index.
    pub snapshots: Vec<OperatorSnapshot>,
    /// The key groups this subtask owns now.
    pub key_groups: KeyGroupRange,
    /// This subtask's index now.
    pub subtask_index: usize,
    /// The operator's parallelism now.
    pub parallelism: usize,
}

impl RestoredState {
    /// Fails when the state is in RocksDB's files (an incremental checkpoint of the RocksDB
    /// backend), which only that backend reads.
    pub fn require_canonical(&self) -> Result<(), StateError> {
        if self.snapshots.iter().any(|s| !s.rocksdb.is_empty()) {
            return Err(StateError::Backend(
                "this checkpoint holds RocksDB files (an incremental checkpoint of the RocksDB backend): restore it with --state-backend rocksdb, or take a savepoint to switch backends".into(),
            ));
        }
        Ok(())
    }

    /// Every entry of keyed state `name` whose key group this subtask owns.
    pub fn keyed<K: DeserializeOwned, V: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Vec<(K, V)>, StateError> {
        let mut out = Vec::new();
        for snap in &self.snapshots {
            for state in snap.keyed.iter().filter(|s| s.name == name) {
                for (g, bytes) in &state.groups {
                    if !self.key_groups.contains(*g as usize) {
                        continue;
                    }
                    let entries: Vec<(K, V)> =
                        rmp_serde::from_slice(bytes).map_err(|e| StateError::Deserialize {
                            state: name.to_string(),
                            message: format!("key group {g}: {e}"),
                        })?;
                    out.extend(entries);
                }
            }
        }
        Ok(out)
    }

    /// The serialized key groups of keyed state `name` this subtask owns, as they are.
    pub fn raw_keyed(&self, name: &str) -> Vec<(u32, ByteBuf)> {
        let mut out: Vec<(u32, ByteBuf)> = self
            .snapshots
            .iter()
            .flat_map(|s| s.keyed.iter().filter(|k| k.name == name))
            .flat_map(|k| k.groups.iter())
            .filter(|(g, _)| self.key_groups.contains(*g as usize))
            .cloned()
            .collect();
        out.sort_by_key(|(g, _)| *g);
        out
    }

    /// This subtask's share of operator list state `name`: for a split list, every
    /// `parallelism`-th entry of all old subtasks' entries in order, starting at this subtask's
    /// index; for a union list, all of them.
    pub fn list<V: DeserializeOwned>(&self, name: &str) -> Result<Vec<V>, StateError> {
        let mut all = self
            .snapshots
            .iter()
            .flat_map(|s| s.lists.iter().filter(|l| l.name == name))
            .peekable();
        let mode = match all.peek() {
            Some(l) => l.mode,
            None => return Ok(Vec::new()),
        };
        let entries = all.flat_map(|l| l.entries.iter());
        let mine: Vec<&ByteBuf> = match mode {
            ListMode::Union => entries.collect(),
            ListMode::Split => entries
                .enumerate()
                .filter(|(i, _)| i % self.parallelism.max(1) == self.subtask_index)
                .map(|(_, e)| e)
                .collect(),
        };
        mine.into_iter()
            .map(|bytes| {
                rmp_serde::from_slice(bytes).map_err(|e| StateError::Deserialize {
                    state: name.to_string(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::key_group::{assign_to_key_group, key_group_range};

    fn snapshot_of(keys: std::ops::Range<u64>) -> OperatorSnapshot {
        let entries: Vec<(u64, String)> = keys.map(|k| (k, format!("v{k}"))).collect();
        let mut s = OperatorSnapshot::default();
        s.add_keyed("values", 128, entries.iter().map(|(k, v)| (k, v)))
            .expect("serializes");
        s.add_list("offsets", ListMode::Split, &[entries.len() as u64])
            .expect("serializes");
        s.add_list("seen", ListMode::Union, &[entries.len() as u64 * 10])
            .expect("serializes");
        s
    }

    #[test]
    fn keyed_state_goes_where_its_key_group_is_owned_at_any_parallelism() {
        // Two old subtasks, restored at 1, 3 and 4.
        let old = vec![snapshot_of(0..500), snapshot_of(500..1000)];
        for p in [1, 3, 4] {
            let mut seen = Vec::new();
            for i in 0..p {
                let restored = RestoredState {
                    snapshots: old.clone(),
                    key_groups: key_group_range(128, p, i),
                    subtask_index: i,
                    parallelism: p,
                };
                let entries: Vec<(u64, String)> = restored.keyed("values").expect("reads");
                for (k, v) in &entries {
                    assert!(restored.key_groups.contains(assign_to_key_group(k, 128)));
                    assert_eq!(*v, format!("v{k}"));
                }
                seen.extend(entries.into_iter().map(|(k, _)| k));
                assert!(restored
                    .keyed::<u64, String>("other")
                    .expect("reads")
                    .is_empty());
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..1000).collect::<Vec<u64>>(), "p={p}");
        }
    }

    #[test]
    fn split_lists_are_dealt_out_and_union_lists_go_to_everyone() {
        let old = vec![snapshot_of(0..5), snapshot_of(5..12), snapshot_of(12..13)];
        let share = |i: usize, p: usize, name: &str| -> Vec<u64> {
            RestoredState {
                snapshots: old.clone(),
                key_groups: key_group_range(128, p, i),
                subtask_index: i,
                parallelism: p,
            }
            .list(name)
            .expect("reads")
        };
        assert_eq!(share(0, 2, "offsets"), vec![5, 1]);
        assert_eq!(share(1, 2, "offsets"), vec![7]);
        assert_eq!(share(0, 1, "offsets"), vec![5, 7, 1]);
        assert_eq!(share(3, 4, "offsets"), Vec::<u64>::new());
        assert_eq!(share(1, 4, "seen"), vec![50, 70, 10]);
        assert_eq!(share(0, 2, "missing"), Vec::<u64>::new());
    }

    #[test]
    fn damaged_entries_are_an_error_naming_the_state() {
        let mut s = snapshot_of(0..10);
        s.keyed[0].groups[0].1 = ByteBuf::from(vec![0xc1, 0xc1]);
        let restored = RestoredState {
            snapshots: vec![s],
            key_groups: key_group_range(128, 1, 0),
            subtask_index: 0,
            parallelism: 1,
        };
        let err = restored
            .keyed::<u64, String>("values")
            .expect_err("damaged bytes");
        assert!(err.to_string().contains("'values'"), "{err}");
    }
}
