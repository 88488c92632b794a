//! Keyed state in RocksDB: one instance per operator subtask on local disk, one column family
//! per state, incremental checkpoints.
//!
//! ## Layout
//! - A key is `key group (u16, big-endian) · length of the key's bytes (u32, big-endian) ·
//!   the key (rmp-serde)`, and for map state the user key's rmp-serde bytes after it. The key
//!   group first keeps each group contiguous, so a range of groups can be cut out (rescaling)
//!   and a checkpoint can be split by group; the length lets a map entry's key be split from
//!   its user key without knowing their types.
//! - A value is the rmp-serde bytes of the canonical form: the value alone without a TTL, the
//!   value with its expiry time with one (the heap backend's checkpoint form, entry by entry).
//!   A list is stored whole under its key; a map entry under its key and user key.
//! - Writes skip RocksDB's write-ahead log: a checkpoint, not the log, makes state durable
//!   (as in Flink), and RocksDB's checkpoint flushes the memtables first.
//!
//! ## Checkpoints
//! At the barrier, RocksDB writes a checkpoint of the instance (hard links to its immutable
//! SST files, and copies of its small MANIFEST, CURRENT and OPTIONS files) beside it; the
//! task goes on at once. Off the task's thread, that checkpoint is then
//! - for a **checkpoint**: uploaded incrementally: each SST file goes to the job's `shared/`
//!   directory once, named after the instance, and later checkpoints refer to it without
//!   writing it again; the small files go into the subtask's state file;
//! - for a **savepoint**: read entry by entry into the canonical form the heap backend writes
//!   (self-contained, restorable at any parallelism and by either backend).
//!
//! ## Restore
//! From an incremental checkpoint, the instance whose key groups cover most of this subtask's
//! is rebuilt from its files (hard links where the file system allows, else copies), and the
//! groups this subtask does not own are deleted; entries of this subtask's groups in other
//! old instances (after scaling in) are copied over. Canonical state (a savepoint, or a
//! heap checkpoint) is read into the instance when each state is first asked for, as the heap
//! backend does.

mod cell;
mod checkpoint;
mod layout;
mod restore;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rocksdb::{WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::data::{Data, Key};
use crate::eventtime::ProcessingClock;
use crate::state::context::RuntimeContext;
use crate::state::key_group::{key_group_range, KeyGroupRange};
use crate::state::keyed::{
    declared_otherwise, restored_lists, restored_maps, restored_values, ListState, MapState, Ttl,
    ValueState,
};
use crate::state::rocks_cache::StateCache;
use crate::state::{RestoredState, StateError, StateTtlConfig};

pub(crate) use cell::RocksCell;
use layout::{
    backend_error, cell_key, cf, encode_list, encode_stamped, options, random_name, serialize_error,
};

/// How a column family's entries are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateKind {
    /// One value per key (value, reducing, aggregating states).
    Value,
    /// One list per key.
    List,
    /// One entry per key and user key.
    Map,
}

/// A state held in a column family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnState {
    /// The state's name (and the column family's).
    pub name: String,
    /// How its entries are laid out.
    pub kind: StateKind,
    /// Whether values carry expiry times.
    pub ttl: bool,
}

/// An SST file of an instance, kept in the job's `shared/` directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    /// Its name in the instance's directory.
    pub local: String,
    /// Its name in `shared/`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether this checkpoint wrote it (else an earlier one did).
    #[serde(default)]
    pub uploaded: bool,
}

/// A RocksDB instance in an incremental checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RocksDbSnapshot {
    /// The key groups it held.
    pub key_groups: KeyGroupRange,
    /// Its states.
    pub states: Vec<ColumnState>,
    /// Its SST files.
    pub shared: Vec<SharedFile>,
    /// Its other files (MANIFEST, CURRENT, OPTIONS), whole.
    pub private: Vec<(String, ByteBuf)>,
    /// Where the shared files are: set when the checkpoint is opened for restoring.
    #[serde(skip)]
    pub shared_dir: Option<PathBuf>,
}

/// The default size of each instance's cache of value and list cells (see [`StateCache`]).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// What an earlier checkpoint of this instance (or of the one it was restored from) already
/// put in a `shared/` directory, by local file name.
#[derive(Debug, Clone)]
struct Upload {
    dir: PathBuf,
    name: String,
    size: u64,
}

type Uploads = Arc<Mutex<HashMap<String, Upload>>>;

/// The keyed state of one operator subtask, in RocksDB.
pub struct RocksDbKeyedStateBackend<K> {
    db: Option<DB>,
    /// The instance's directory (removed when the backend is dropped).
    base: PathBuf,
    instance: String,
    states: Vec<ColumnState>,
    max_parallelism: usize,
    key_groups: KeyGroupRange,
    clock: ProcessingClock,
    write: WriteOptions,
    /// Canonical restored state not yet asked for.
    restored: Option<RestoredState>,
    internal: Vec<String>,
    uploads: Uploads,
    snapshots: u64,
    /// Value and list cells read or written recently (see [`StateCache`]).
    cache: RefCell<StateCache>,
    _k: PhantomData<fn(K)>,
}

impl<K> Drop for RocksDbKeyedStateBackend<K> {
    fn drop(&mut self) {
        drop(self.db.take());
        let _ = fs::remove_dir_all(&self.base);
        // The job's directory goes with its last instance on this TaskManager.
        if let Some(job_dir) = self.base.parent() {
            let _ = fs::remove_dir(job_dir);
        }
    }
}

impl<K: Key> RocksDbKeyedStateBackend<K> {
    /// A new, empty instance for `ctx`'s subtask under `ctx.local_state_dir`.
    pub fn open(ctx: &RuntimeContext) -> Result<Self, StateError> {
        let instance = random_name();
        let safe: String = ctx
            .operator_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let base = ctx.local_state_dir.join(format!(
            "job-{}/{safe}-{}-{instance}",
            ctx.job_id, ctx.subtask_index
        ));
        fs::create_dir_all(&base).map_err(|e| backend_error(&base.display().to_string(), e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        let mut b = Self {
            db: None,
            base,
            instance,
            states: Vec::new(),
            max_parallelism: ctx.max_parallelism,
            key_groups: key_group_range(ctx.max_parallelism, ctx.parallelism, ctx.subtask_index),
            clock: ctx.clock.clone(),
            write,
            restored: None,
            internal: Vec::new(),
            uploads: Arc::default(),
            snapshots: 0,
            cache: RefCell::new(StateCache::new(ctx.rocksdb_cache_bytes)),
            _k: PhantomData,
        };
        b.db = Some(b.open_db(&[])?);
        Ok(b)
    }

    fn db_dir(&self) -> PathBuf {
        self.base.join("db")
    }

    fn open_db(&self, states: &[ColumnState]) -> Result<DB, StateError> {
        let dir = self.db_dir();
        DB::open_cf(&options(), &dir, states.iter().map(|s| s.name.as_str()))
            .map_err(|e| backend_error(&format!("opening RocksDB at {}", dir.display()), e))
    }

    fn db(&self) -> Result<&DB, StateError> {
        self.db
            .as_ref()
            .ok_or_else(|| StateError::Backend("the RocksDB instance is closed".into()))
    }

    fn lock_uploads(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Upload>>, StateError> {
        self.uploads
            .lock()
            .map_err(|_| StateError::Backend("the upload table was poisoned".into()))
    }

    /// Makes sure state `name` exists with this layout; returns its index in `states`, and
    /// whether it is new.
    fn declare(
        &mut self,
        name: &str,
        kind: StateKind,
        ttl: bool,
    ) -> Result<(usize, bool), StateError> {
        if let Some(i) = self.states.iter().position(|s| s.name == name) {
            let s = &self.states[i];
            return if s.kind == kind && s.ttl == ttl {
                Ok((i, false))
            } else {
                Err(declared_otherwise(name))
            };
        }
        let db = self
            .db
            .as_mut()
            .ok_or_else(|| StateError::Backend("the RocksDB instance is closed".into()))?;
        if db.cf_handle(name).is_none() {
            db.create_cf(name, &options())
                .map_err(|e| backend_error(&format!("creating state '{name}'"), e))?;
        }
        self.states.push(ColumnState {
            name: name.to_string(),
            kind,
            ttl,
        });
        Ok((self.states.len() - 1, true))
    }

    /// Declares state `name` (see [`Self::declare`]); when it is new, writes the entries
    /// `read` finds in the canonical restored state: `write` gets each entry with its key's
    /// bytes and puts its RocksDB entries (one per map entry for maps).
    fn declare_with<E>(
        &mut self,
        name: &str,
        kind: StateKind,
        ttl: bool,
        read: impl FnOnce(&RestoredState) -> Result<Vec<(K, E)>, StateError>,
        write: impl Fn(&str, E, &mut Vec<u8>, &mut dyn FnMut(&[u8], &[u8])) -> Result<(), StateError>,
    ) -> Result<usize, StateError> {
        let (index, new) = self.declare(name, kind, ttl)?;
        let Some(r) = self.restored.as_ref().filter(|_| new) else {
            return Ok(index);
        };
        let entries = read(r)?;
        if entries.is_empty() {
            return Ok(index);
        }
        let db = self.db()?;
        let cf = cf(db, name)?;
        let mut batch = WriteBatch::default();
        let mut key = Vec::new();
        for (k, e) in entries {
            key.clear();
            cell_key(&mut key, &k, self.max_parallelism, name)?;
            write(name, e, &mut key, &mut |kb, vb| batch.put_cf(cf, kb, vb))?;
        }
        db.write_opt(batch, &self.write)
            .map_err(|e| backend_error(&format!("restoring state '{name}'"), e))?;
        Ok(index)
    }

    /// The current key's cell of the state at `index` in `states`.
    fn cell(&self, index: usize, key: &K) -> Result<RocksCell<'_>, StateError> {
        let db = self.db()?;
        let state = &self.states[index];
        let mut bytes = Vec::with_capacity(32);
        cell_key(&mut bytes, key, self.max_parallelism, &state.name)?;
        let map = state.kind == StateKind::Map;
        Ok(RocksCell {
            db,
            cf: cf(db, &state.name)?,
            write: &self.write,
            key: bytes,
            ttl: state.ttl,
            map,
            name: state.name.as_str(),
            cache: (!map && self.cache.borrow().enabled()).then_some(&self.cache),
            index,
            states: &self.states,
        })
    }

    fn rules(&self, ttl: Option<StateTtlConfig>) -> Ttl {
        Ttl::at(&self.clock, ttl)
    }

    /// The current key's cell of value-like state `name`.
    pub(crate) fn value_cell<'a, T: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<ValueState<'a, K, T>, StateError> {
        let stamped = ttl.is_some();
        let index = self.declare_with(
            name,
            StateKind::Value,
            stamped,
            |r| restored_values::<K, T>(r, name, stamped),
            |name, s, key, put| {
                put(key, &encode_stamped(name, &s, stamped)?);
                Ok(())
            },
        )?;
        Ok(ValueState::rocks(self.cell(index, key)?, self.rules(ttl)))
    }

    /// The current key's list state.
    pub(crate) fn list_cell<'a, T: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<ListState<'a, K, T>, StateError> {
        let stamped = ttl.is_some();
        let index = self.declare_with(
            name,
            StateKind::List,
            stamped,
            |r| restored_lists::<K, T>(r, name, stamped),
            |name, l, key, put| {
                put(key, &encode_list(name, &l, stamped)?);
                Ok(())
            },
        )?;
        Ok(ListState::rocks(self.cell(index, key)?, self.rules(ttl)))
    }

    /// The current key's map state.
    pub(crate) fn map_cell<'a, UK: Key, UV: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<MapState<'a, K, UK, UV>, StateError> {
        let stamped = ttl.is_some();
        let index = self.declare_with(
            name,
            StateKind::Map,
            stamped,
            |r| restored_maps::<K, UK, UV>(r, name, stamped),
            |name, m, key, put| {
                let prefix = key.len();
                for (uk, v) in m {
                    key.truncate(prefix);
                    rmp_serde::encode::write(key, &uk).map_err(|e| serialize_error(name, e))?;
                    put(key, &encode_stamped(name, &v, stamped)?);
                }
                Ok(())
            },
        )?;
        Ok(MapState::rocks(self.cell(index, key)?, self.rules(ttl)))
    }
}
