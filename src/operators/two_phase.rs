//! A two-phase-commit file sink (Flink's `FileSink` with exactly-once semantics): records are
//! written as lines to a part file in progress; at a checkpoint the part file is closed and
//! becomes *pending* (its name is checkpointed); once the checkpoint completed it is
//! *committed* (renamed to its final name). The output directory's committed files hold every
//! record exactly once, whatever failures and restores happened.
//!
//! ## Files
//! - In progress: `.inprogress-<job>-<subtask>-<n>` (hidden; never part of the output).
//! - Committed: `part-<epoch>-<subtask>`, where `epoch` is the id of the checkpoint that closed
//!   it (the part written after the last checkpoint, at the end of input, gets the next id).
//!
//! ## Recovery
//! - On restore, pending files of the restored checkpoint are committed (that checkpoint
//!   completed, since it is being restored), unless they already were.
//! - In-progress files of earlier runs are removed: their records come again from the
//!   restored sources.
//! - The part a subtask commits at the end of input is named by the next checkpoint id after
//!   the last one it took. A failure after that commit restores the last checkpoint, replays
//!   the same records into a part of the same name, and replaces it: the output stays exact
//!   for deterministic jobs (a job whose output after a checkpoint can differ from run to run
//!   could leave one part written twice in that window).

use std::fmt::Display;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::SinkFunction;
use crate::operators::{OperatorError, RuntimeContext, UserError};
use crate::state::{ListMode, OperatorSnapshot, RestoredState};

/// A part file closed at a checkpoint, to be committed once it completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    checkpoint: u64,
    in_progress: String,
    committed: String,
}

const PENDING: &str = "pending";
const EPOCH: &str = "epoch";

/// The two-phase-commit file sink.
pub struct TwoPhaseCommitFileSink<T> {
    dir: PathBuf,
    subtask: usize,
    parallelism: usize,
    job: String,
    name: String,
    /// The part being written: its writer and name.
    current: Option<(BufWriter<File>, String)>,
    parts: u64,
    pending: Vec<Pending>,
    /// The id of the next checkpoint (names the current part when it closes).
    epoch: u64,
    _t: PhantomData<fn(T)>,
}

impl<T> Clone for TwoPhaseCommitFileSink<T> {
    /// A copy not yet opened: each subtask has its own files.
    fn clone(&self) -> Self {
        Self::new(self.dir.clone())
    }
}

impl<T> TwoPhaseCommitFileSink<T> {
    /// A sink committing part files into the directory `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            subtask: 0,
            parallelism: 1,
            job: String::new(),
            name: "two-phase-commit file sink".into(),
            current: None,
            parts: 0,
            pending: Vec::new(),
            epoch: 1,
            _t: PhantomData,
        }
    }

    fn io(&self, path: &Path, e: std::io::Error) -> UserError {
        Box::new(OperatorError::io(&self.name, path.display(), &e))
    }

    /// Closes the current part (flushed and synced) and returns its in-progress name.
    fn close_current(&mut self) -> Result<Option<String>, UserError> {
        let Some((mut w, name)) = self.current.take() else {
            return Ok(None);
        };
        let path = self.dir.join(&name);
        w.flush().map_err(|e| self.io(&path, e))?;
        w.get_ref().sync_all().map_err(|e| self.io(&path, e))?;
        Ok(Some(name))
    }

    /// Renames a closed part to its committed name (done already if only that exists).
    fn commit(&self, p: &Pending) -> Result<(), UserError> {
        let (from, to) = (self.dir.join(&p.in_progress), self.dir.join(&p.committed));
        match fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(_) if to.exists() && !from.exists() => Ok(()),
            Err(e) => Err(self.io(&from, e)),
        }
    }

    /// Removes in-progress files of earlier runs whose subtask this one now stands for.
    fn remove_abandoned(&self) -> Result<(), UserError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(rest) = name.strip_prefix(".inprogress-") else {
                continue;
            };
            let mut fields = rest.split('-');
            let (Some(job), Some(subtask)) = (fields.next(), fields.next()) else {
                continue;
            };
            let mine = subtask
                .parse::<usize>()
                .is_ok_and(|s| s % self.parallelism.max(1) == self.subtask);
            let kept = self.pending.iter().any(|p| p.in_progress == name);
            if job != self.job && mine && !kept {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

impl<T: Display + Send + 'static> SinkFunction<T> for TwoPhaseCommitFileSink<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.subtask = ctx.subtask_index;
        self.parallelism = ctx.parallelism;
        self.job = ctx.job_id.to_string();
        self.name = ctx.operator_name.clone();
        fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        // Restored pending parts belong to a completed checkpoint: commit them.
        for p in std::mem::take(&mut self.pending) {
            self.commit(&p)?;
        }
        self.remove_abandoned()
    }

    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        if self.current.is_none() {
            let name = format!(".inprogress-{}-{}-{}", self.job, self.subtask, self.parts);
            self.parts += 1;
            let path = self.dir.join(&name);
            let f = File::create(&path).map_err(|e| self.io(&path, e))?;
            self.current = Some((BufWriter::with_capacity(256 * 1024, f), name));
        }
        let Some((w, name)) = self.current.as_mut() else {
            return Ok(());
        };
        for v in values {
            if let Err(e) = writeln!(w, "{v}") {
                let path = self.dir.join(name.as_str());
                return Err(Box::new(OperatorError::io(&self.name, path.display(), &e)));
            }
        }
        Ok(())
    }

    /// The end of input: the last part is committed at once.
    fn finish(&mut self) -> Result<(), UserError> {
        if let Some(name) = self.close_current()? {
            let p = Pending {
                checkpoint: self.epoch,
                in_progress: name,
                committed: format!("part-{}-{}", self.epoch, self.subtask),
            };
            self.commit(&p)?;
        }
        Ok(())
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        self.pending = restored.list(PENDING)?;
        let epochs: Vec<u64> = restored.list(EPOCH)?;
        self.epoch = epochs
            .into_iter()
            .chain(self.pending.iter().map(|p| p.checkpoint + 1))
            .max()
            .unwrap_or(1);
        Ok(())
    }

    /// Pre-commit: the current part is closed and becomes pending for this checkpoint.
    fn snapshot_state(
        &mut self,
        checkpoint: u64,
        snapshot: &mut OperatorSnapshot,
    ) -> Result<(), UserError> {
        if let Some(name) = self.close_current()? {
            self.pending.push(Pending {
                checkpoint,
                in_progress: name,
                committed: format!("part-{checkpoint}-{}", self.subtask),
            });
        }
        self.epoch = checkpoint + 1;
        snapshot.add_list(PENDING, ListMode::Split, &self.pending)?;
        snapshot.add_list(EPOCH, ListMode::Union, &[self.epoch])?;
        Ok(())
    }

    /// Commit: every part pending for this checkpoint or an earlier one.
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), UserError> {
        let (done, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint <= checkpoint_id);
        self.pending = waiting;
        for p in &done {
            self.commit(p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;
    use crate::state::key_group::key_group_range;

    fn ctx(job: u128) -> RuntimeContext {
        let mut c = RuntimeContext::standalone("sink");
        c.job_id = JobId(job);
        c
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    }

    fn restored(snapshot: OperatorSnapshot) -> RestoredState {
        RestoredState {
            snapshots: vec![snapshot],
            key_groups: key_group_range(128, 1, 0),
            subtask_index: 0,
            parallelism: 1,
        }
    }

    #[test]
    fn parts_are_committed_only_once_their_checkpoint_completed() {
        let dir = std::env::temp_dir().join(format!("rill-2pc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut sink = TwoPhaseCommitFileSink::<u64>::new(dir.clone());
        sink.open(&ctx(1)).expect("opens");
        sink.invoke_batch(vec![1, 2]).expect("writes");
        let mut at_3 = OperatorSnapshot::default();
        sink.snapshot_state(3, &mut at_3).expect("pre-commits");
        // Pending: not visible as output yet.
        assert!(
            listing(&dir).iter().all(|n| !n.starts_with("part-")),
            "{:?}",
            listing(&dir)
        );
        sink.invoke_batch(vec![3]).expect("writes");
        let mut at_4 = OperatorSnapshot::default();
        sink.snapshot_state(4, &mut at_4).expect("pre-commits");
        sink.notify_checkpoint_complete(3).expect("commits");
        assert_eq!(
            fs::read_to_string(dir.join("part-3-0")).expect("committed"),
            "1\n2\n"
        );
        assert!(
            !dir.join("part-4-0").exists(),
            "checkpoint 4 has not completed"
        );
        sink.invoke_batch(vec![4]).expect("writes");

        // The job dies here. Restored from checkpoint 4 (which completed, unknown to the
        // sink): its pending part is committed, the part written after it is dropped.
        let mut again = TwoPhaseCommitFileSink::<u64>::new(dir.clone());
        again.initialize_state(&restored(at_4)).expect("restores");
        again.open(&ctx(2)).expect("opens");
        assert_eq!(listing(&dir), vec!["part-3-0", "part-4-0"]);
        assert_eq!(
            fs::read_to_string(dir.join("part-4-0")).expect("committed"),
            "3\n"
        );
        // The end of input commits the last part under the next checkpoint's id.
        again.invoke_batch(vec![4]).expect("writes");
        again.finish().expect("commits");
        assert_eq!(
            fs::read_to_string(dir.join("part-5-0")).expect("committed"),
            "4\n"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
