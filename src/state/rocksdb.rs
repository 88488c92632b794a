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

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::hash::Hash;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{
    ColumnFamily, DBCompressionType, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteOptions, DB,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::data::{Data, Key};
use crate::eventtime::ProcessingClock;
use crate::state::context::RuntimeContext;
use crate::state::key_group::{assign_to_key_group, key_group_range, KeyGroupRange};
use crate::state::keyed::{
    carry_untouched, declared_otherwise, restored_lists, restored_maps, restored_values, ListState,
    MapState, Stamped, Ttl, ValueState,
};
use crate::state::rocks_cache::{StateCache, WriteBack};
use crate::state::snapshot::{KeyedStateSnapshot, SnapshotTarget};
use crate::state::{OperatorSnapshot, RestoredState, StateError, StateSnapshot, StateTtlConfig};

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

fn backend_error(context: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("{context}: {e}"))
}

fn serialize_error(state: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Serialize {
        state: state.to_string(),
        message: e.to_string(),
    }
}

fn deserialize_error(state: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Deserialize {
        state: state.to_string(),
        message: e.to_string(),
    }
}

/// The default size of each instance's cache of value and list cells (see [`StateCache`]).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Bytes of a key group's first key.
fn group_prefix(group: usize) -> [u8; 2] {
    (group as u16).to_be_bytes()
}

/// The block cache all instances of the process share.
fn block_cache() -> Option<&'static rocksdb::Cache> {
    static CACHE: std::sync::OnceLock<Option<rocksdb::Cache>> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| rocksdb::Cache::new_lru_cache(256 << 20).ok())
        .as_ref()
}

/// The column family options: no compression (state is hot, CPU is scarce), a shared block
/// cache and bloom filters for point lookups.
fn options() -> Options {
    let mut o = Options::default();
    // Point reads and writes of value and list cells mostly stay in the backend's cache
    // (`StateCache`); RocksDB gets its writes as sorted batches (evictions, checkpoints),
    // which the default skip-list memtable takes cheaply and flushes without re-sorting
    // (measured: a hash memtable's re-sort at every flush cost more than half the time of
    // a running sum checkpointed every second). The prefix extractor (by cell) serves map
    // state's prefix scans and the memtable's bloom filter serves point reads that miss.
    o.set_prefix_extractor(rocksdb::SliceTransform::create(
        "rill-cell",
        cell_prefix,
        Some(has_cell_prefix),
    ));
    o.set_memtable_prefix_bloom_ratio(0.1);
    o.set_memtable_whole_key_filtering(true);
    o.set_allow_concurrent_memtable_write(false);
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_compression_type(DBCompressionType::None);
    o.set_write_buffer_size(64 << 20);
    o.set_max_background_jobs(2);
    o.set_keep_log_file_num(2);
    o.set_max_log_file_size(1 << 20);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    if let Some(cache) = block_cache() {
        table.set_block_cache(cache);
    }
    o.set_block_based_table_factory(&table);
    o
}

/// The cell part of a key: key group, key length and key (a map entry's user key after it
/// is left out).
fn cell_prefix(key: &[u8]) -> &[u8] {
    match key.get(2..6) {
        Some(len) => {
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            key.get(..6 + len).unwrap_or(key)
        }
        None => key,
    }
}

fn has_cell_prefix(key: &[u8]) -> bool {
    cell_prefix(key).len() < key.len() || key.len() >= 6
}

/// An unused random name.
fn random_name() -> String {
    format!("{:016x}", crate::util::random_u64())
}

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

    /// Takes restored state: RocksDB files (incremental checkpoints) are rebuilt into this
    /// instance now; canonical state is read as each state is first asked for.
    pub fn restore(
        &mut self,
        restored: RestoredState,
        internal: &[&str],
    ) -> Result<(), StateError> {
        self.internal = internal.iter().map(|s| s.to_string()).collect();
        let mine = restored.key_groups;
        self.key_groups = mine;
        let mut instances: Vec<&RocksDbSnapshot> = restored
            .snapshots
            .iter()
            .flat_map(|s| s.rocksdb.iter())
            .filter(|r| overlap(&r.key_groups, &mine) > 0)
            .collect();
        instances.sort_by_key(|r| std::cmp::Reverse(overlap(&r.key_groups, &mine)));
        if let Some((first, others)) = instances.split_first() {
            self.rebuild_from(first)?;
            for other in others {
                self.copy_groups_from(other)?;
            }
        }
        self.restored = Some(restored);
        Ok(())
    }

    /// Rebuilds the instance from `snap`'s files, keeping only this subtask's key groups.
    fn rebuild_from(&mut self, snap: &RocksDbSnapshot) -> Result<(), StateError> {
        self.cache.get_mut().clear();
        drop(self.db.take());
        let dir = self.db_dir();
        let _ = fs::remove_dir_all(&dir);
        materialize(snap, &dir)?;
        let db = self.open_db(&snap.states)?;
        // Groups outside this subtask's range go; the files stay until compaction drops them.
        let below = group_prefix(self.key_groups.start);
        let above = group_prefix(self.key_groups.end + 1);
        for s in &snap.states {
            let cf = cf(&db, &s.name)?;
            let mut batch = WriteBatch::default();
            if self.key_groups.start > 0 {
                batch.delete_range_cf(cf, [0u8, 0u8], below);
            }
            batch.delete_range_cf(cf, above.to_vec(), vec![0xffu8; 3]);
            db.write_opt(batch, &self.write)
                .map_err(|e| backend_error("cutting restored key groups", e))?;
        }
        self.states = snap.states.clone();
        if let Some(shared) = &snap.shared_dir {
            let mut uploads = self.lock_uploads()?;
            for f in &snap.shared {
                uploads.insert(
                    f.local.clone(),
                    Upload {
                        dir: shared.clone(),
                        name: f.name.clone(),
                        size: f.size,
                    },
                );
            }
        }
        self.db = Some(db);
        Ok(())
    }

    /// Copies the entries of this subtask's key groups from another old instance.
    fn copy_groups_from(&mut self, snap: &RocksDbSnapshot) -> Result<(), StateError> {
        let tmp = self.base.join(format!("merge-{}", random_name()));
        let result = (|| {
            materialize(snap, &tmp)?;
            let old = DB::open_cf_for_read_only(
                &options(),
                &tmp,
                snap.states.iter().map(|s| s.name.as_str()),
                false,
            )
            .map_err(|e| backend_error("opening a restored RocksDB instance", e))?;
            for s in &snap.states {
                self.declare(&s.name, s.kind, s.ttl)?;
                let db = self.db()?;
                let (from, to) = (cf(&old, &s.name)?, cf(db, &s.name)?);
                let mut read = ReadOptions::default();
                read.set_total_order_seek(true);
                read.set_iterate_upper_bound(group_prefix(self.key_groups.end + 1).to_vec());
                let start = group_prefix(self.key_groups.start);
                let mut batch = WriteBatch::default();
                for entry in
                    old.iterator_cf_opt(from, read, IteratorMode::From(&start, Direction::Forward))
                {
                    let (k, v) =
                        entry.map_err(|e| backend_error("reading a restored instance", e))?;
                    batch.put_cf(to, k, v);
                    if batch.len() >= 4096 {
                        db.write_opt(std::mem::take(&mut batch), &self.write)
                            .map_err(|e| backend_error("restoring", e))?;
                    }
                }
                db.write_opt(batch, &self.write)
                    .map_err(|e| backend_error("restoring", e))?;
            }
            Ok(())
        })();
        let _ = fs::remove_dir_all(&tmp);
        result
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

    /// Takes a RocksDB checkpoint of the instance now (hard links: the task goes on at once),
    /// and defers the rest: uploading its new files for a checkpoint, or reading it into the
    /// canonical form for a savepoint. Canonical restored state never asked for is carried
    /// as it is.
    pub fn snapshot(&mut self, out: &mut StateSnapshot) -> Result<(), StateError> {
        let touched: Vec<&str> = self.states.iter().map(|s| s.name.as_str()).collect();
        carry_untouched(self.restored.as_ref(), &touched, &self.internal, out);
        if self.states.is_empty() {
            return Ok(());
        }
        // The checkpoint must hold what the cells hold.
        let Self {
            db,
            states,
            write,
            cache,
            ..
        } = self;
        let db = db
            .as_ref()
            .ok_or_else(|| StateError::Backend("the RocksDB instance is closed".into()))?;
        cache
            .get_mut()
            .write_back(|all| write_batch(db, states, write, all.iter().copied()))?;
        self.snapshots += 1;
        let dir = self.base.join(format!("snapshot-{}", self.snapshots));
        let _ = fs::remove_dir_all(&dir);
        Checkpoint::new(self.db()?)
            .and_then(|c| c.create_checkpoint(&dir))
            .map_err(|e| backend_error("taking a RocksDB checkpoint", e))?;
        let local = LocalCheckpoint {
            dir,
            states: self.states.clone(),
            key_groups: self.key_groups,
            instance: self.instance.clone(),
            uploads: self.uploads.clone(),
        };
        out.defer_to(move |out, target| local.write(out, target));
        Ok(())
    }
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StateError> {
    db.cf_handle(name)
        .ok_or_else(|| StateError::Backend(format!("RocksDB has no column family '{name}'")))
}

fn overlap(a: &KeyGroupRange, b: &KeyGroupRange) -> usize {
    let (start, end) = (a.start.max(b.start), a.end.min(b.end));
    (end + 1).saturating_sub(start)
}

/// Writes `key group · key length · key` for `key` into `out`.
fn cell_key<K: Hash + Serialize>(
    out: &mut Vec<u8>,
    key: &K,
    max_parallelism: usize,
    state: &str,
) -> Result<(), StateError> {
    out.extend_from_slice(&group_prefix(assign_to_key_group(key, max_parallelism)));
    out.extend_from_slice(&[0; 4]);
    rmp_serde::encode::write(out, key).map_err(|e| serialize_error(state, e))?;
    let len = (out.len() - 6) as u32;
    out[2..6].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn encode_stamped<T: Serialize>(
    state: &str,
    s: &Stamped<T>,
    stamped: bool,
) -> Result<Vec<u8>, StateError> {
    let r = if stamped {
        rmp_serde::to_vec(s)
    } else {
        rmp_serde::to_vec(&s.v)
    };
    r.map_err(|e| serialize_error(state, e))
}

fn decode_stamped<T: DeserializeOwned>(
    state: &str,
    bytes: &[u8],
    stamped: bool,
) -> Result<Stamped<T>, StateError> {
    if stamped {
        rmp_serde::from_slice(bytes).map_err(|e| deserialize_error(state, e))
    } else {
        rmp_serde::from_slice(bytes)
            .map(Stamped::forever)
            .map_err(|e| deserialize_error(state, e))
    }
}

fn encode_list<T: Serialize>(
    state: &str,
    l: &[Stamped<T>],
    stamped: bool,
) -> Result<Vec<u8>, StateError> {
    let r = if stamped {
        rmp_serde::to_vec(l)
    } else {
        rmp_serde::to_vec(&l.iter().map(|s| &s.v).collect::<Vec<_>>())
    };
    r.map_err(|e| serialize_error(state, e))
}

/// One key's state in RocksDB, as the state handles reach it.
pub(crate) struct RocksCell<'a> {
    db: &'a DB,
    cf: &'a ColumnFamily,
    write: &'a WriteOptions,
    key: Vec<u8>,
    ttl: bool,
    /// Whether the key holds map entries under it (else one value or list).
    map: bool,
    name: &'a str,
    /// The backend's cache, for value and list cells when it is on.
    cache: Option<&'a RefCell<StateCache>>,
    /// The state's index in `states`.
    index: usize,
    states: &'a [ColumnState],
}

impl RocksCell<'_> {
    fn failed(&self, doing: &str, e: impl std::fmt::Display) -> StateError {
        backend_error(&format!("{doing} state '{}'", self.name), e)
    }

    fn read(&self, key: &[u8]) -> Result<Option<rocksdb::DBPinnableSlice<'_>>, StateError> {
        self.db
            .get_pinned_cf(self.cf, key)
            .map_err(|e| self.failed("reading", e))
    }

    fn store(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.db
            .put_cf_opt(self.cf, key, value, self.write)
            .map_err(|e| self.failed("writing", e))
    }

    fn remove(&self, key: &[u8]) -> Result<(), StateError> {
        self.db
            .delete_cf_opt(self.cf, key, self.write)
            .map_err(|e| self.failed("writing", e))
    }

    fn cache<'c>(
        &self,
        cache: &'c RefCell<StateCache>,
    ) -> Result<std::cell::RefMut<'c, StateCache>, StateError> {
        cache
            .try_borrow_mut()
            .map_err(|_| StateError::Backend(format!("state '{}' is in use", self.name)))
    }

    /// Decodes the cell's bytes with `decode`: from the cache, else from RocksDB (and then
    /// caches them).
    fn load<R>(
        &self,
        decode: impl FnOnce(Option<&[u8]>) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let Some(cache) = self.cache else {
            return decode(self.read(&self.key)?.as_deref());
        };
        let mut c = self.cache(cache)?;
        if let Some(bytes) = c.get(self.index, &self.key) {
            return decode(bytes);
        }
        let bytes = self.read(&self.key)?;
        let r = decode(bytes.as_deref());
        c.put(self.index, &self.key, bytes.as_deref(), false);
        self.evict_if_full(&mut c)?;
        r
    }

    /// Sets the cell's bytes (`None`: empties it): in the cache, else in RocksDB.
    fn save(&self, bytes: Option<&[u8]>) -> Result<(), StateError> {
        let Some(cache) = self.cache else {
            return match bytes {
                Some(b) => self.store(&self.key, b),
                None => self.remove(&self.key),
            };
        };
        let mut c = self.cache(cache)?;
        c.put(self.index, &self.key, bytes, true);
        self.evict_if_full(&mut c)
    }

    fn evict_if_full(&self, c: &mut StateCache) -> Result<(), StateError> {
        if !c.is_full() {
            return Ok(());
        }
        let gone = c.evict();
        write_batch(
            self.db,
            self.states,
            self.write,
            gone.iter().map(|(s, k, v)| (*s, &**k, v.as_deref())),
        )
    }

    pub(crate) fn get<T: DeserializeOwned>(&self) -> Result<Option<Stamped<T>>, StateError> {
        self.load(|b| {
            b.map(|b| decode_stamped(self.name, b, self.ttl))
                .transpose()
        })
    }

    pub(crate) fn put<T: Serialize>(&self, s: &Stamped<T>) -> Result<(), StateError> {
        self.save(Some(&encode_stamped(self.name, s, self.ttl)?))
    }

    pub(crate) fn delete(&self) -> Result<(), StateError> {
        self.save(None)
    }

    pub(crate) fn get_list<T: DeserializeOwned>(&self) -> Result<Vec<Stamped<T>>, StateError> {
        self.load(|b| {
            let Some(b) = b else {
                return Ok(Vec::new());
            };
            if self.ttl {
                rmp_serde::from_slice(b).map_err(|e| deserialize_error(self.name, e))
            } else {
                let l: Vec<T> =
                    rmp_serde::from_slice(b).map_err(|e| deserialize_error(self.name, e))?;
                Ok(l.into_iter().map(Stamped::forever).collect())
            }
        })
    }

    pub(crate) fn put_list<T: Serialize>(&self, l: &[Stamped<T>]) -> Result<(), StateError> {
        self.save(Some(&encode_list(self.name, l, self.ttl)?))
    }

    fn entry_key<UK: Serialize>(&self, uk: &UK) -> Result<Vec<u8>, StateError> {
        let mut k = self.key.clone();
        rmp_serde::encode::write(&mut k, uk).map_err(|e| serialize_error(self.name, e))?;
        Ok(k)
    }

    pub(crate) fn get_entry<UK: Serialize, UV: DeserializeOwned>(
        &self,
        uk: &UK,
    ) -> Result<Option<Stamped<UV>>, StateError> {
        match self.read(&self.entry_key(uk)?)? {
            Some(b) => decode_stamped(self.name, &b, self.ttl).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn put_entry<UK: Serialize, UV: Serialize>(
        &self,
        uk: &UK,
        s: &Stamped<UV>,
    ) -> Result<(), StateError> {
        self.store(
            &self.entry_key(uk)?,
            &encode_stamped(self.name, s, self.ttl)?,
        )
    }

    pub(crate) fn delete_entry<UK: Serialize>(&self, uk: &UK) -> Result<(), StateError> {
        self.remove(&self.entry_key(uk)?)
    }

    /// The raw entries under this key's prefix.
    fn scan(&self) -> Result<Vec<RawEntry>, StateError> {
        let mut read = ReadOptions::default();
        read.set_prefix_same_as_start(true);
        if let Some(end) = successor(&self.key) {
            read.set_iterate_upper_bound(end);
        }
        self.db
            .iterator_cf_opt(
                self.cf,
                read,
                IteratorMode::From(&self.key, Direction::Forward),
            )
            .map(|e| e.map_err(|e| self.failed("reading", e)))
            .collect()
    }

    pub(crate) fn entries<UK: DeserializeOwned, UV: DeserializeOwned>(
        &self,
    ) -> Result<Vec<(UK, Stamped<UV>)>, StateError> {
        let n = self.key.len();
        self.scan()?
            .into_iter()
            .map(|(k, v)| {
                let uk =
                    rmp_serde::from_slice(&k[n..]).map_err(|e| deserialize_error(self.name, e))?;
                Ok((uk, decode_stamped(self.name, &v, self.ttl)?))
            })
            .collect()
    }

    /// Removes the key's whole state: its value or list, or every entry of its map.
    pub(crate) fn clear(&self) -> Result<(), StateError> {
        if !self.map {
            return self.delete();
        }
        let mut batch = WriteBatch::default();
        for (k, _) in self.scan()? {
            batch.delete_cf(self.cf, k);
        }
        self.db
            .write_opt(batch, self.write)
            .map_err(|e| self.failed("writing", e))
    }
}

/// Writes cached entries to their states' column families in one batch.
fn write_batch<'e>(
    db: &DB,
    states: &[ColumnState],
    write: &WriteOptions,
    entries: impl IntoIterator<Item = WriteBack<'e>>,
) -> Result<(), StateError> {
    let cfs: Vec<Option<&ColumnFamily>> = states.iter().map(|s| db.cf_handle(&s.name)).collect();
    let mut batch = WriteBatch::default();
    for (state, key, value) in entries {
        let cf = cfs.get(state).copied().flatten().ok_or_else(|| {
            StateError::Backend(format!("cached state #{state} has no column family"))
        })?;
        match value {
            Some(v) => batch.put_cf(cf, key, v),
            None => batch.delete_cf(cf, key),
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    db.write_opt(batch, write)
        .map_err(|e| backend_error("writing cached state to RocksDB", e))
}

/// The smallest key above every key starting with `prefix`, if there is one.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Puts an instance's files from a checkpoint into `dir`: SST files hard-linked from
/// `shared/` (copied where linking fails), the others written from the snapshot.
fn materialize(snap: &RocksDbSnapshot, dir: &Path) -> Result<(), StateError> {
    fs::create_dir_all(dir).map_err(|e| backend_error(&dir.display().to_string(), e))?;
    let shared = snap.shared_dir.as_deref();
    for f in &snap.shared {
        let Some(shared) = shared else {
            return Err(StateError::Backend(
                "the checkpoint's shared files were not located".into(),
            ));
        };
        let (from, to) = (shared.join(&f.name), dir.join(&f.local));
        let size = fs::metadata(&from)
            .map_err(|e| backend_error(&format!("restoring from {}", from.display()), e))?
            .len();
        if size != f.size {
            return Err(StateError::Backend(format!(
                "checkpoint file {} is truncated or damaged: expected {} bytes, found {size}",
                from.display(),
                f.size
            )));
        }
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to)
                .map_err(|e| backend_error(&format!("restoring from {}", from.display()), e))?;
        }
    }
    for (name, bytes) in &snap.private {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| backend_error(&path.display().to_string(), e))?;
    }
    Ok(())
}

/// A RocksDB checkpoint of an instance on local disk, to be written into a snapshot.
struct LocalCheckpoint {
    dir: PathBuf,
    states: Vec<ColumnState>,
    key_groups: KeyGroupRange,
    instance: String,
    uploads: Uploads,
}

impl LocalCheckpoint {
    fn write(self, out: &mut OperatorSnapshot, target: &SnapshotTarget) -> Result<(), StateError> {
        let result = match target.shared_dir() {
            Some(shared) => self.upload(out, &shared),
            None => self.canonical(out),
        };
        let _ = fs::remove_dir_all(&self.dir);
        result
    }

    /// Uploads the SST files not in `shared` yet; refers to the others.
    fn upload(&self, out: &mut OperatorSnapshot, shared: &Path) -> Result<(), StateError> {
        fs::create_dir_all(shared).map_err(|e| backend_error(&shared.display().to_string(), e))?;
        let known = self
            .uploads
            .lock()
            .map_err(|_| StateError::Backend("the upload table was poisoned".into()))?
            .clone();
        let mut files = Vec::new();
        let mut private = Vec::new();
        let mut now = HashMap::new();
        let listing = fs::read_dir(&self.dir)
            .map_err(|e| backend_error(&self.dir.display().to_string(), e))?;
        for entry in listing {
            let entry = entry.map_err(|e| backend_error(&self.dir.display().to_string(), e))?;
            let Some(local) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = entry.path();
            if !local.ends_with(".sst") {
                let bytes =
                    fs::read(&path).map_err(|e| backend_error(&path.display().to_string(), e))?;
                private.push((local, ByteBuf::from(bytes)));
                continue;
            }
            let size = entry
                .metadata()
                .map_err(|e| backend_error(&path.display().to_string(), e))?
                .len();
            let reuse = known
                .get(&local)
                .filter(|u| u.dir == shared && u.size == size && shared.join(&u.name).exists());
            let (name, uploaded) = match reuse {
                Some(u) => (u.name.clone(), false),
                None => {
                    let name = format!("{}-{local}", self.instance);
                    copy_durably(&path, &shared.join(&name))?;
                    (name, true)
                }
            };
            now.insert(
                local.clone(),
                Upload {
                    dir: shared.to_path_buf(),
                    name: name.clone(),
                    size,
                },
            );
            files.push(SharedFile {
                local,
                name,
                size,
                uploaded,
            });
        }
        files.sort_by(|a, b| a.local.cmp(&b.local));
        private.sort_by(|a, b| a.0.cmp(&b.0));
        *self
            .uploads
            .lock()
            .map_err(|_| StateError::Backend("the upload table was poisoned".into()))? = now;
        out.rocksdb.push(RocksDbSnapshot {
            key_groups: self.key_groups,
            states: self.states.clone(),
            shared: files,
            private,
            shared_dir: None,
        });
        Ok(())
    }

    /// Reads every state into the canonical form, by key group, without knowing its types:
    /// an entry's key and value bytes are already the rmp-serde forms the canonical lists
    /// hold, so only array headers are written around them.
    fn canonical(&self, out: &mut OperatorSnapshot) -> Result<(), StateError> {
        let db = DB::open_cf_for_read_only(
            &options(),
            &self.dir,
            self.states.iter().map(|s| s.name.as_str()),
            false,
        )
        .map_err(|e| backend_error("opening a RocksDB checkpoint", e))?;
        for s in &self.states {
            let cf = cf(&db, &s.name)?;
            let mut groups: Vec<(u32, ByteBuf)> = Vec::new();
            let mut group: Option<u16> = None;
            // Pairs of the current group: (key bytes, value bytes or map entries).
            let mut pairs: Vec<(Box<[u8]>, Entry)> = Vec::new();
            let flush = |g: Option<u16>,
                         pairs: &mut Vec<(Box<[u8]>, Entry)>,
                         groups: &mut Vec<(u32, ByteBuf)>| {
                if let (Some(g), false) = (g, pairs.is_empty()) {
                    groups.push((u32::from(g), ByteBuf::from(encode_group(pairs))));
                }
                pairs.clear();
            };
            let mut read = ReadOptions::default();
            read.set_total_order_seek(true);
            for entry in db.iterator_cf_opt(cf, read, IteratorMode::Start) {
                let (k, v) = entry.map_err(|e| backend_error("reading a RocksDB checkpoint", e))?;
                if k.len() < 6 {
                    return Err(deserialize_error(&s.name, "a key shorter than its prefix"));
                }
                let g = u16::from_be_bytes([k[0], k[1]]);
                let len = u32::from_be_bytes([k[2], k[3], k[4], k[5]]) as usize;
                let Some(key) = k.get(6..6 + len) else {
                    return Err(deserialize_error(&s.name, "a key shorter than its length"));
                };
                if group != Some(g) {
                    flush(group, &mut pairs, &mut groups);
                    group = Some(g);
                }
                match s.kind {
                    StateKind::Value | StateKind::List => {
                        pairs.push((key.into(), Entry::Value(v)));
                    }
                    StateKind::Map => {
                        let uk: Box<[u8]> = k[6 + len..].into();
                        match pairs.last_mut() {
                            Some((last, Entry::Map(m))) if **last == *key => m.push((uk, v)),
                            _ => pairs.push((key.into(), Entry::Map(vec![(uk, v)]))),
                        }
                    }
                }
            }
            flush(group, &mut pairs, &mut groups);
            if !groups.is_empty() {
                out.keyed.push(KeyedStateSnapshot {
                    name: s.name.clone(),
                    groups,
                });
            }
        }
        Ok(())
    }
}

/// A key's bytes and its value's.
type RawEntry = (Box<[u8]>, Box<[u8]>);

/// A key's value bytes, or its map entries' user key and value bytes.
enum Entry {
    Value(Box<[u8]>),
    Map(Vec<RawEntry>),
}

/// Writes a msgpack array header of `n` elements.
fn array_header(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n <= usize::from(u16::MAX) {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// The canonical bytes of one key group: `[(key, value)]`, or `[(key, [(user key, value)])]`.
fn encode_group(pairs: &[(Box<[u8]>, Entry)]) -> Vec<u8> {
    let mut out = Vec::new();
    array_header(&mut out, pairs.len());
    for (k, e) in pairs {
        array_header(&mut out, 2);
        out.extend_from_slice(k);
        match e {
            Entry::Value(v) => out.extend_from_slice(v),
            Entry::Map(m) => {
                array_header(&mut out, m.len());
                for (uk, v) in m {
                    array_header(&mut out, 2);
                    out.extend_from_slice(uk);
                    out.extend_from_slice(v);
                }
            }
        }
    }
    out
}

/// Copies `from` to `to` through a synced temporary file and a rename.
fn copy_durably(from: &Path, to: &Path) -> Result<(), StateError> {
    let tmp = to.with_extension("inprogress");
    let err = |e: std::io::Error| backend_error(&format!("uploading {}", to.display()), e);
    fs::copy(from, &tmp).map_err(err)?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(err)?;
    fs::rename(&tmp, to).map_err(err)
}
