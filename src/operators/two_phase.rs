//! A two-phase-commit file sink (Flink's `FileSink` with exactly-once semantics): records are
//! written as lines to a part file in progress; at a checkpoint the part file is closed and
//! becomes *pending* (its name is checkpointed); once the checkpoint completed it is
//! *committed* (renamed to its final name). The output directory's committed files hold every
//! record exactly once, whatever failures and restores happened.
//!
//! ## Files
//! - In progress: `.inprogress-<job>-<subtask>-<attempt>-<n>` (hidden; never part of the
//!   output). The attempt makes every name new: a restarted subtask never writes over a file
//!   of an earlier attempt, which may still wait to be committed.
//! - Committed: `part-<checkpoint>-<subtask>`, where `checkpoint` is the id of the checkpoint
//!   that closed it. Checkpoint ids only grow, also across restarts, so no two parts share a
//!   name.
//!
//! ## The end of the input
//! When the job checkpoints periodically, the end of the input commits nothing: the subtask
//! waits for the final checkpoint (see [`crate::actors::subtask`]), which closes the last part
//! and commits it with any part still pending when it completes. A part is thus committed only
//! by a completed checkpoint that holds the records after it (or the end), so a failure at any
//! point replays exactly what was not committed. Without periodic checkpoints the end of the
//! input commits every part at once (there is no checkpoint to restore from, and to wait for).
//!
//! ## Recovery
//! - The pending parts are union list state: every restored subtask sees all of them and
//!   commits them (the restored checkpoint completed, since it is being restored). A commit
//!   is a rename that is done already when only the committed name exists, so subtasks
//!   committing the same part concurrently, or again after a later failure, is harmless.
//! - In-progress files of earlier attempts (or jobs) that its index stands for (their subtask
//!   modulo the parallelism) and that are not pending are removed: their records come again
//!   from the restored sources. Files named before attempts were (older versions, whose
//!   pending parts were dealt out over the subtasks) are removed only when of another job.

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

/// The fields of an in-progress file's name: `.inprogress-<job>-<subtask>-<attempt>-<n>`
/// (files written before attempts were named have no attempt).
struct InProgress<'a> {
    job: &'a str,
    subtask: usize,
    attempt: Option<u32>,
}

impl<'a> InProgress<'a> {
    fn parse(name: &'a str) -> Option<Self> {
        let fields: Vec<&str> = name.strip_prefix(".inprogress-")?.split('-').collect();
        let (job, subtask) = (fields.first()?, fields.get(1)?.parse().ok()?);
        let attempt = match fields.len() {
            3 => None,
            4 => Some(fields[2].parse().ok()?),
            _ => return None,
        };
        Some(Self {
            job,
            subtask,
            attempt,
        })
    }
}

/// The two-phase-commit file sink.
pub struct TwoPhaseCommitFileSink<T> {
    dir: PathBuf,
    subtask: usize,
    parallelism: usize,
    job: String,
    attempt: u32,
    /// A final checkpoint follows the end of the input (it commits the last part).
    final_checkpoint: bool,
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
            attempt: 0,
            final_checkpoint: false,
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
            Ok(()) => {
                tracing::debug!(subtask = self.subtask, attempt = self.attempt, checkpoint = p.checkpoint, from = %p.in_progress, to = %p.committed, "committed a part");
                Ok(())
            }
            Err(_) if to.exists() && !from.exists() => Ok(()),
            Err(e) => Err(self.io(&from, e)),
        }
    }

    /// Whether this subtask stands for the subtask that wrote in-progress file `name`.
    fn stands_for(&self, name: &str) -> bool {
        InProgress::parse(name).is_some_and(|f| f.subtask % self.parallelism.max(1) == self.subtask)
    }

    /// Removes in-progress files of earlier attempts or jobs whose subtask this one now
    /// stands for, unless they are pending.
    fn remove_abandoned(&self) -> Result<(), UserError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(file) = InProgress::parse(&name) else {
                continue;
            };
            let earlier = file.job != self.job || file.attempt.is_some_and(|a| a < self.attempt);
            let kept = self.pending.iter().any(|p| p.in_progress == name);
            if earlier && self.stands_for(&name) && !kept {
                tracing::debug!(subtask = self.subtask, attempt = self.attempt, file = %name, "removed an abandoned part");
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
        self.attempt = ctx.attempt;
        self.final_checkpoint = ctx.final_checkpoint;
        self.name = ctx.operator_name.clone();
        fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        tracing::debug!(subtask = self.subtask, attempt = self.attempt, epoch = self.epoch, pending = ?self.pending, "opened");
        self.remove_abandoned()?;
        // Restored pending parts belong to a completed checkpoint: commit them.
        for p in std::mem::take(&mut self.pending) {
            self.commit(&p)?;
        }
        Ok(())
    }

    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        if self.current.is_none() {
            let name = format!(
                ".inprogress-{}-{}-{}-{}",
                self.job, self.subtask, self.attempt, self.parts
            );
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

    /// The end of input: the final checkpoint commits the last part. Without periodic
    /// checkpoints there is none: every part is committed now.
    fn finish(&mut self) -> Result<(), UserError> {
        if self.final_checkpoint {
            return Ok(());
        }
        if let Some(name) = self.close_current()? {
            self.pending.push(Pending {
                checkpoint: self.epoch,
                in_progress: name,
                committed: format!("part-{}-{}", self.epoch, self.subtask),
            });
        }
        for p in std::mem::take(&mut self.pending) {
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
            tracing::debug!(subtask = self.subtask, attempt = self.attempt, checkpoint, file = %name, "pre-committed a part");
            self.pending.push(Pending {
                checkpoint,
                in_progress: name,
                committed: format!("part-{checkpoint}-{}", self.subtask),
            });
        }
        self.epoch = checkpoint + 1;
        snapshot.add_list(PENDING, ListMode::Union, &self.pending)?;
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

    /// Subtask `subtask` of 2, attempt `attempt`, of job 1.
    fn ctx_of(subtask: usize, attempt: u32) -> RuntimeContext {
        let mut c = ctx(1);
        c.subtask_index = subtask;
        c.parallelism = 2;
        c.attempt = attempt;
        c
    }

    /// A restored subtask never writes over a part that another restored subtask has still to
    /// commit. Pending parts used to be dealt out over the restored subtasks (a split list)
    /// and named by a counter that started again at 0 after each restart: subtask 0's second
    /// pending part went to subtask 1, and subtask 0's own second part took its name before
    /// subtask 1 committed it.
    #[test]
    fn restored_subtasks_never_overwrite_a_pending_part() {
        let dir = std::env::temp_dir().join(format!("rill-2pc-restore-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (mut s0, mut s1) = (
            TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
            TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
        );
        s0.open(&ctx_of(0, 0)).expect("opens");
        s1.open(&ctx_of(1, 0)).expect("opens");
        s0.invoke_batch(vec![1]).expect("writes");
        s0.snapshot_state(5, &mut OperatorSnapshot::default())
            .expect("pre-commits");
        // Checkpoint 5 completes, but subtask 0 is not told before the failure.
        s0.invoke_batch(vec![2]).expect("writes");
        s1.invoke_batch(vec![3]).expect("writes");
        let (mut at_6_0, mut at_6_1) = (OperatorSnapshot::default(), OperatorSnapshot::default());
        s0.snapshot_state(6, &mut at_6_0).expect("pre-commits");
        s1.snapshot_state(6, &mut at_6_1).expect("pre-commits");
        drop((s0, s1));

        // Restored from checkpoint 6; subtask 0 opens, writes and checkpoints before
        // subtask 1 opens.
        let restored = |subtask| RestoredState {
            snapshots: vec![at_6_0.clone(), at_6_1.clone()],
            key_groups: key_group_range(128, 2, subtask),
            subtask_index: subtask,
            parallelism: 2,
        };
        let (mut r0, mut r1) = (
            TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
            TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
        );
        r0.initialize_state(&restored(0)).expect("restores");
        r1.initialize_state(&restored(1)).expect("restores");
        r0.open(&ctx_of(0, 1)).expect("opens");
        for (i, checkpoint) in [(4, 7), (5, 8)] {
            r0.invoke_batch(vec![i]).expect("writes");
            r0.snapshot_state(checkpoint, &mut OperatorSnapshot::default())
                .expect("pre-commits");
        }
        r1.open(&ctx_of(1, 1)).expect("opens");
        r0.notify_checkpoint_complete(8).expect("commits");
        let read = |name: &str| fs::read_to_string(dir.join(name)).expect(name);
        assert_eq!(read("part-5-0"), "1\n");
        assert_eq!(read("part-6-0"), "2\n");
        assert_eq!(read("part-6-1"), "3\n");
        assert_eq!(read("part-7-0"), "4\n");
        assert_eq!(read("part-8-0"), "5\n");
        let _ = fs::remove_dir_all(&dir);
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
