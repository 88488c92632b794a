//! Restoring an instance (the module's Restore section): rebuilt from the files of the old
//! instance that covers most of this subtask's key groups, with the entries of its groups in
//! other old instances copied over.

use std::fs;
use std::path::Path;

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, DB};

use crate::checkpoint::store;
use crate::data::Key;
use crate::state::key_group::KeyGroupRange;
use crate::state::{RestoredState, StateError};

use super::layout::{backend_error, cf, group_prefix, options, random_name};
use super::{RocksDbKeyedStateBackend, RocksDbSnapshot, Upload};

impl<K: Key> RocksDbKeyedStateBackend<K> {
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
}

fn overlap(a: &KeyGroupRange, b: &KeyGroupRange) -> usize {
    let (start, end) = (a.start.max(b.start), a.end.min(b.end));
    (end + 1).saturating_sub(start)
}

/// Puts an instance's files from a checkpoint into `dir`: SST files from `shared/` (hard
/// links where it is local, downloads from an object store), the others written from the
/// snapshot.
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
        let size = store::len(&from)
            .map_err(|e| backend_error(&format!("restoring from {}", from.display()), e))?;
        if size != f.size {
            return Err(StateError::Backend(format!(
                "checkpoint file {} is truncated or damaged: expected {} bytes, found {size}",
                from.display(),
                f.size
            )));
        }
        store::download(&from, &to)
            .map_err(|e| backend_error(&format!("restoring from {}", from.display()), e))?;
    }
    for (name, bytes) in &snap.private {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| backend_error(&path.display().to_string(), e))?;
    }
    Ok(())
}
