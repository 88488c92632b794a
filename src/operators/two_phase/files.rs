//! The sink's files, in a local directory or in an object store (`s3://bucket/prefix`, through
//! [`crate::checkpoint::store`]).
//!
//! ## In an object store
//! An object cannot be appended to, so a part in progress is written to a local staging
//! directory of the sink's subtask attempt (under the system's temporary directory). When it
//! closes (at a checkpoint, or rolling) it is uploaded — in parts above
//! [`MULTIPART_ABOVE`](crate::checkpoint::store::MULTIPART_ABOVE) — under its in-progress
//! name, and the local file is removed: the checkpoint that makes it pending completes only
//! after the upload. The commit is a rename (S3: a copy, then a delete of the in-progress
//! object), done already when only the committed object exists, as locally. So the committed
//! objects hold every record exactly once, as the committed files do.

use std::path::{Path, PathBuf};

use super::{in_bucket, InProgress, Pending, TwoPhaseCommitFileSink};
use crate::checkpoint::store;
use crate::operators::UserError;

/// The root of the sinks' local staging directories.
fn staging_root() -> PathBuf {
    std::env::temp_dir().join("rill-sink-staging")
}

/// Renames part `p` under `dir` to its committed name: done already if only that exists.
pub fn commit_part(dir: &Path, p: &Pending) -> std::io::Result<()> {
    let (from, to) = (dir.join(&p.in_progress), dir.join(&p.committed));
    match store::rename(&from, &to) {
        Ok(()) => Ok(()),
        Err(e) => match (store::is_file(&to), store::is_file(&from)) {
            (Ok(true), Ok(false)) => Ok(()),
            _ => Err(e),
        },
    }
}

impl<T> TwoPhaseCommitFileSink<T> {
    /// Where the part `name` (relative to the sink's directory) is written while open.
    pub(super) fn local_path(&self, name: &str) -> PathBuf {
        self.staging.as_ref().unwrap_or(&self.dir).join(name)
    }

    /// With an object-store directory: a fresh staging directory for this attempt, and
    /// those of this subtask's earlier attempts removed (their parts are uploaded or lost
    /// with the attempt).
    pub(super) fn stage(&mut self) -> Result<(), UserError> {
        if !store::is_remote(&self.dir) {
            return Ok(());
        }
        // One directory per sink (two sinks of a job may have the same subtask indexes),
        // then per subtask and attempt.
        let root = staging_root().join(format!("{:016x}", {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.dir.hash(&mut h);
            h.finish()
        }));
        let mine = format!("{}-{}-", self.job, self.subtask);
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let earlier = name
                    .strip_prefix(&mine)
                    .and_then(|a| a.parse::<u32>().ok())
                    .is_some_and(|a| a < self.attempt);
                if earlier {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = root.join(format!("{mine}{}", self.attempt));
        std::fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        self.staging = Some(dir);
        Ok(())
    }

    /// Removes the staging directory once every part is uploaded (the end of the input),
    /// and the sink's directory above it when no other attempt uses it.
    pub(super) fn unstage(&mut self) {
        if let Some(dir) = self.staging.take() {
            let _ = std::fs::remove_dir(&dir);
            if let Some(sink) = dir.parent() {
                let _ = std::fs::remove_dir(sink);
            }
        }
    }

    /// Makes a closed part durable where the sink commits it: nothing to do locally; with
    /// an object store it is uploaded, and its local copy removed.
    pub(super) fn publish(&self, name: &str) -> Result<(), UserError> {
        if self.staging.is_none() {
            return Ok(());
        }
        let (local, remote) = (self.local_path(name), self.dir.join(name));
        store::upload(&local, &remote).map_err(|e| self.io(&remote, e))?;
        let _ = std::fs::remove_file(&local);
        Ok(())
    }

    /// Removes in-progress files (in the sink's directory and its buckets) of earlier attempts
    /// or jobs whose subtask this one now stands for, unless they are pending.
    pub(super) fn remove_abandoned(&self) -> Result<(), UserError> {
        let files = store::files(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        for relative in files {
            let (bucket, name) = relative.rsplit_once('/').unwrap_or(("", &relative));
            let Some(file) = InProgress::parse(name) else {
                continue;
            };
            let earlier = file.job != self.job || file.attempt.is_some_and(|a| a < self.attempt);
            let kept = self
                .pending
                .iter()
                .any(|p| p.in_progress == in_bucket(bucket, name));
            if earlier && self.stands_for(name) && !kept {
                tracing::debug!(subtask = self.subtask, attempt = self.attempt, file = %relative, "removed an abandoned part");
                let _ = store::remove_file(&self.dir.join(&relative));
            }
        }
        Ok(())
    }
}
