//! Checkpoint storage: a directory per job, `chk-N/` per checkpoint, and savepoint directories.
//!
//! ## Layout
//! - `chk-N/<vertex>-<subtask>.state`: one subtask's snapshot (every operator of its chain).
//! - `shared/`: files that several checkpoints of the job refer to (the RocksDB backend's
//!   SST files, uploaded once); each is deleted when no retained checkpoint refers to it.
//! - `chk-N/_metadata`: written last, once every subtask acknowledged; a directory without a
//!   valid `_metadata` is not a checkpoint. It names the state files relative to its own
//!   directory, so a savepoint directory can be moved or copied elsewhere and still restored.
//!
//! ## Integrity
//! Every file starts with a header: magic (`RILL`), a kind byte, a format version, the
//! payload's length and its CRC-32. Reading checks all four, and any mismatch is an error that
//! names the file: a truncated or corrupted checkpoint is never restored silently. Files are
//! written whole or not at all ([`store::write_atomically`]), so a crash never leaves a
//! half-written file under the final name.
//!
//! ## Where
//! A local directory or an object-store prefix (`s3://bucket/prefix`): every read and write
//! goes through [`store`], which picks the storage by the location's scheme.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::barrier::SnapshotKind;
use crate::checkpoint::channel_state::ChannelState;
use crate::checkpoint::store;
use crate::ids::{JobId, VertexId};
use crate::state::snapshot::OperatorSnapshot;

const MAGIC: &[u8; 4] = b"RILL";
const VERSION: u8 = 1;
const KIND_STATE: u8 = b'S';
const KIND_METADATA: u8 = b'M';
const HEADER_LEN: usize = 4 + 1 + 1 + 8 + 4;

/// The name of a checkpoint's metadata file.
pub const METADATA_FILE: &str = "_metadata";

/// The directory beside `chk-N` holding files shared between a job's checkpoints.
pub const SHARED_DIR: &str = "shared";

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file could not be read or written.
    #[error("checkpoint file {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file is shorter or longer than its header says.
    #[error("checkpoint file {path} is truncated or damaged: its header announces {expected} bytes of state, the file holds {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// A file's checksum does not match its content, or its header is not Rill's.
    #[error("checkpoint file {path} is corrupted: {message}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No checkpoint could be restored from a location.
    #[error("no restorable checkpoint at {path}: {message}")]
    NotFound {
        /// The location.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Where a subtask's snapshot file is, and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateHandle {
    /// The file's name, relative to the checkpoint's directory.
    pub file: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The operators it holds state for.
    #[serde(default)]
    pub operators: Vec<String>,
    /// The files in the job's `shared/` directory the state refers to, with their sizes.
    #[serde(default)]
    pub shared: Vec<(String, u64)>,
    /// Bytes of those files written for this checkpoint (the others were written before).
    #[serde(default)]
    pub uploaded: u64,
    /// Bytes of in-flight records the file holds (unaligned checkpoints).
    #[serde(default)]
    pub persisted: u64,
}

impl StateHandle {
    /// The full size of the state: its file and every shared file it refers to.
    pub fn full_size(&self) -> u64 {
        self.size + self.shared.iter().map(|(_, s)| s).sum::<u64>()
    }

    /// The bytes this checkpoint wrote: its file and the shared files new in it.
    pub fn checkpointed_size(&self) -> u64 {
        self.size + self.uploaded
    }
}

/// One subtask's snapshot: each operator of its chain, by operator id, and the in-flight data
/// of an unaligned checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskSnapshot {
    /// `(operator id, its state)`, for operators that have state.
    pub operators: Vec<(String, OperatorSnapshot)>,
    /// In-flight records (empty for aligned checkpoints).
    #[serde(default)]
    pub channels: ChannelState,
}

/// One vertex in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexMetadata {
    /// The vertex.
    pub vertex: VertexId,
    /// Its name.
    pub name: String,
    /// The ids of its operators, head first.
    pub operators: Vec<String>,
    /// Its parallelism when the checkpoint was taken.
    pub parallelism: usize,
    /// Its max parallelism (key groups).
    pub max_parallelism: usize,
    /// Per subtask: its state file, or `None` when it had no state.
    pub subtasks: Vec<Option<StateHandle>>,
}

/// A completed checkpoint or savepoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// The job that took it.
    pub job_id: JobId,
    /// The job's name.
    pub job_name: String,
    /// The checkpoint's id.
    pub checkpoint_id: u64,
    /// When it was triggered (ms since the epoch).
    pub timestamp: i64,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Every vertex of the job.
    pub vertices: Vec<VertexMetadata>,
}

impl CheckpointMetadata {
    fn handles(&self) -> impl Iterator<Item = &StateHandle> {
        self.vertices
            .iter()
            .flat_map(|v| v.subtasks.iter().flatten())
    }

    /// The full size of the state: state files and the shared files they refer to.
    pub fn state_size(&self) -> u64 {
        self.handles().map(StateHandle::full_size).sum()
    }

    /// The bytes written for this checkpoint (shared files written before are not counted).
    pub fn checkpointed_size(&self) -> u64 {
        self.handles().map(StateHandle::checkpointed_size).sum()
    }

    /// Bytes of in-flight records persisted (unaligned checkpoints).
    pub fn persisted_size(&self) -> u64 {
        self.handles().map(|h| h.persisted).sum()
    }

    /// The names of the shared files the checkpoint refers to.
    pub fn shared_files(&self) -> impl Iterator<Item = &str> {
        self.handles()
            .flat_map(|h| h.shared.iter().map(|(name, _)| name.as_str()))
    }
}

/// A checkpoint's directory and what it holds.
#[derive(Debug, Clone)]
pub struct CompletedCheckpoint {
    /// The directory.
    pub dir: PathBuf,
    /// Its metadata.
    pub metadata: CheckpointMetadata,
}

/// The directory of checkpoint `id` under a job's checkpoint directory.
pub fn checkpoint_dir(job_dir: &Path, id: u64) -> PathBuf {
    job_dir.join(format!("chk-{id}"))
}

/// The name of a subtask's state file.
pub fn state_file_name(vertex: VertexId, subtask: usize) -> String {
    format!("{vertex}-{subtask}.state")
}

fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.push(kind);
    out.push(VERSION);
    out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn decode(path: &Path, kind: u8, bytes: &[u8]) -> Result<Vec<u8>, StorageError> {
    let corrupted = |message: String| StorageError::Corrupted {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() < HEADER_LEN {
        return Err(StorageError::Truncated {
            path: path.to_path_buf(),
            expected: HEADER_LEN as u64,
            found: bytes.len() as u64,
        });
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    if &header[0..4] != MAGIC || header[4] != kind {
        return Err(corrupted(
            "it does not start with a Rill checkpoint header".into(),
        ));
    }
    if header[5] != VERSION {
        return Err(corrupted(format!(
            "format version {} is not the {VERSION} this Rill reads",
            header[5]
        )));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[6..14]);
    let len = u64::from_be_bytes(len);
    if len != payload.len() as u64 {
        return Err(StorageError::Truncated {
            path: path.to_path_buf(),
            expected: len,
            found: payload.len() as u64,
        });
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&header[14..18]);
    if u32::from_be_bytes(crc) != crc32fast::hash(payload) {
        return Err(corrupted("its checksum does not match its content".into()));
    }
    Ok(payload.to_vec())
}

/// Writes `bytes` to `path`, whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    store::write_atomically(path, bytes).map_err(|e| io_error(path, e))
}

/// Writes a subtask's snapshot into checkpoint directory `dir`; returns its handle.
pub fn write_subtask_state(
    dir: &Path,
    vertex: VertexId,
    subtask: usize,
    snapshot: &SubtaskSnapshot,
) -> Result<StateHandle, StorageError> {
    store::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let file = state_file_name(vertex, subtask);
    let path = dir.join(&file);
    let payload = rmp_serde::to_vec(snapshot).map_err(|e| io_error(&path, e))?;
    let bytes = encode(KIND_STATE, &payload);
    write_atomically(&path, &bytes)?;
    let files = snapshot
        .operators
        .iter()
        .flat_map(|(_, s)| s.rocksdb.iter())
        .flat_map(|r| r.shared.iter());
    let (mut shared, mut uploaded) = (Vec::new(), 0);
    for f in files {
        shared.push((f.name.clone(), f.size));
        if f.uploaded {
            uploaded += f.size;
        }
    }
    Ok(StateHandle {
        file,
        size: bytes.len() as u64,
        operators: snapshot
            .operators
            .iter()
            .map(|(id, _)| id.clone())
            .collect(),
        shared,
        uploaded,
        persisted: snapshot.channels.persisted_bytes(),
    })
}

/// Reads a subtask's snapshot named by `handle` in checkpoint directory `dir`.
pub fn read_subtask_state(
    dir: &Path,
    handle: &StateHandle,
) -> Result<SubtaskSnapshot, StorageError> {
    let path = dir.join(&handle.file);
    let bytes = store::read(&path).map_err(|e| io_error(&path, e))?;
    if bytes.len() as u64 != handle.size {
        return Err(StorageError::Truncated {
            path,
            expected: handle.size,
            found: bytes.len() as u64,
        });
    }
    let payload = decode(&path, KIND_STATE, &bytes)?;
    rmp_serde::from_slice(&payload).map_err(|e| StorageError::Corrupted {
        path,
        message: format!("its state does not decode: {e}"),
    })
}

/// Writes a checkpoint's metadata into its directory, completing it.
pub fn write_metadata(dir: &Path, metadata: &CheckpointMetadata) -> Result<(), StorageError> {
    store::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let path = dir.join(METADATA_FILE);
    let payload = rmp_serde::to_vec(metadata).map_err(|e| io_error(&path, e))?;
    write_atomically(&path, &encode(KIND_METADATA, &payload))
}

/// Reads the metadata of the checkpoint in `dir`.
pub fn read_metadata(dir: &Path) -> Result<CheckpointMetadata, StorageError> {
    let path = dir.join(METADATA_FILE);
    let bytes = store::read(&path).map_err(|e| io_error(&path, e))?;
    let payload = decode(&path, KIND_METADATA, &bytes)?;
    rmp_serde::from_slice(&payload).map_err(|e| StorageError::Corrupted {
        path,
        message: format!("its metadata does not decode: {e}"),
    })
}

/// Reads and checks every file of the checkpoint in `dir`.
pub fn verify(dir: &Path) -> Result<CompletedCheckpoint, StorageError> {
    let metadata = read_metadata(dir)?;
    let shared = crate::state::snapshot::shared_dir_of(dir);
    for handle in metadata.handles() {
        read_subtask_state(dir, handle)?;
        for (name, size) in &handle.shared {
            let path = shared.join(name);
            let found = store::len(&path).map_err(|e| io_error(&path, e))?;
            if found != *size {
                return Err(StorageError::Truncated {
                    path,
                    expected: *size,
                    found,
                });
            }
        }
    }
    Ok(CompletedCheckpoint {
        dir: dir.to_path_buf(),
        metadata,
    })
}

/// The ids of the `chk-N` directories under a job's checkpoint directory, newest first
/// (none where it cannot be listed).
pub fn checkpoint_ids(job_dir: &Path) -> Vec<u64> {
    listed_ids(job_dir).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not list the checkpoints");
        Vec::new()
    })
}

/// [`checkpoint_ids`], or why the directory could not be listed.
fn listed_ids(job_dir: &Path) -> Result<Vec<u64>, StorageError> {
    let names = store::children(job_dir).map_err(|e| io_error(job_dir, e))?;
    let mut ids: Vec<u64> = names
        .iter()
        .filter_map(|n| n.strip_prefix("chk-").and_then(|n| n.parse().ok()))
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(ids)
}

/// Whether `dir` holds a `_metadata` file; where that cannot be told, why goes to `skipped`.
fn has_metadata(dir: &Path, skipped: &mut Vec<StorageError>) -> bool {
    let path = dir.join(METADATA_FILE);
    store::is_file(&path).unwrap_or_else(|e| {
        skipped.push(io_error(&path, e));
        false
    })
}

/// What a restore location resolved to, with the newer checkpoints that were passed over
/// because they failed their checks.
#[derive(Debug)]
pub struct Resolved {
    /// The checkpoint to restore.
    pub checkpoint: CompletedCheckpoint,
    /// Why newer candidates were skipped.
    pub skipped: Vec<StorageError>,
}

/// Resolves what a user names to restore from: a checkpoint or savepoint directory, its
/// `_metadata` file, or a job's checkpoint directory (its newest valid `chk-N`). A damaged
/// checkpoint falls back to the newest older `chk-N` beside it that passes its checks; the
/// damage is reported in `skipped`.
pub fn resolve(path: &Path) -> Result<Resolved, StorageError> {
    let dir = if path.file_name().and_then(|n| n.to_str()) == Some(METADATA_FILE) {
        path.parent().unwrap_or(path).to_path_buf()
    } else {
        path.to_path_buf()
    };
    let mut skipped = Vec::new();
    if has_metadata(&dir, &mut skipped) {
        match verify(&dir) {
            Ok(checkpoint) => {
                return Ok(Resolved {
                    checkpoint,
                    skipped,
                })
            }
            Err(e) => skipped.push(e),
        }
    }
    // A job directory, or a damaged chk-N whose older siblings may do.
    let (parent, below) = match dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("chk-"))
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(id) => (dir.parent().map(Path::to_path_buf), id),
        None => (Some(dir.clone()), u64::MAX),
    };
    if let Some(parent) = parent {
        let ids = listed_ids(&parent).unwrap_or_else(|e| {
            skipped.push(e);
            Vec::new()
        });
        for id in ids.into_iter().filter(|i| *i < below) {
            let candidate = checkpoint_dir(&parent, id);
            if !has_metadata(&candidate, &mut skipped) {
                continue;
            }
            match verify(&candidate) {
                Ok(checkpoint) => {
                    return Ok(Resolved {
                        checkpoint,
                        skipped,
                    })
                }
                Err(e) => skipped.push(e),
            }
        }
    }
    let message = if skipped.is_empty() {
        "no _metadata file there, and no chk-N directory with one".to_string()
    } else {
        skipped
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    Err(StorageError::NotFound { path: dir, message })
}

/// Removes the directories of checkpoints `dropped` under `job_dir`, and the shared files
/// they referred to that none of the checkpoints in `retained` refers to.
///
/// A shared file (an SST file of a RocksDB instance) is never referred to again once a
/// completed checkpoint of its instance left it out: files are immutable and a checkpoint
/// refers to every live file of its instance, so the newest retained checkpoint covers every
/// file a later checkpoint can refer to.
pub fn discard(job_dir: &Path, dropped: &[u64], retained: &[u64]) {
    let shared_of = |id: u64| -> Vec<String> {
        read_metadata(&checkpoint_dir(job_dir, id))
            .map(|m| m.shared_files().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut garbage: std::collections::BTreeSet<String> =
        dropped.iter().flat_map(|id| shared_of(*id)).collect();
    if !garbage.is_empty() {
        for id in retained {
            for name in shared_of(*id) {
                garbage.remove(&name);
            }
        }
    }
    let shared = job_dir.join(SHARED_DIR);
    for name in garbage {
        let path = shared.join(&name);
        if let Err(e) = store::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %e, "could not remove a shared checkpoint file");
        }
    }
    for id in dropped {
        let dir = checkpoint_dir(job_dir, *id);
        if let Err(e) = store::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove an old checkpoint");
        }
    }
}

/// Removes checkpoint directories under `job_dir` that are not in `keep`.
pub fn remove_others(job_dir: &Path, keep: &[u64]) {
    for id in checkpoint_ids(job_dir) {
        if !keep.contains(&id) {
            let dir = checkpoint_dir(job_dir, id);
            if let Err(e) = store::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove an old checkpoint");
            }
        }
    }
}

#[cfg(test)]
mod tests;
