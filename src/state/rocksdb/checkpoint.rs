//! Taking a checkpoint of an instance (the module's Checkpoints section): a RocksDB
//! checkpoint at the barrier, then, off the task's thread, its new SST files uploaded to
//! `shared/` (checkpoints) or its entries read into the canonical form (savepoints).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{IteratorMode, ReadOptions, DB};
use serde_bytes::ByteBuf;

use crate::checkpoint::store;
use crate::data::Key;
use crate::state::key_group::KeyGroupRange;
use crate::state::keyed::carry_untouched;
use crate::state::snapshot::{KeyedStateSnapshot, SnapshotTarget};
use crate::state::{OperatorSnapshot, StateError, StateSnapshot};

use super::cell::write_batch;
use super::layout::{backend_error, cf, deserialize_error, options, RawEntry};
use super::{
    ColumnState, RocksDbKeyedStateBackend, RocksDbSnapshot, SharedFile, StateKind, Upload, Uploads,
};

impl<K: Key> RocksDbKeyedStateBackend<K> {
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
        store::create_dir_all(shared)
            .map_err(|e| backend_error(&shared.display().to_string(), e))?;
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
            let reuse = known.get(&local).filter(|u| {
                u.dir == shared && u.size == size && store::exists(&shared.join(&u.name))
            });
            let (name, uploaded) = match reuse {
                Some(u) => (u.name.clone(), false),
                None => {
                    let name = format!("{}-{local}", self.instance);
                    let to = shared.join(&name);
                    store::upload(&path, &to)
                        .map_err(|e| backend_error(&format!("uploading {}", to.display()), e))?;
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
