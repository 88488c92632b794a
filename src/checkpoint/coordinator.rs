//! The checkpoint coordinator's bookkeeping (Flink's `CheckpointCoordinator`), as a plain state
//! machine: the JobMaster actor drives it with the clock, the subtasks' acknowledgements and
//! declines, and does the sending and the file writing it asks for.
//!
//! ## Rules
//! - A periodic checkpoint is triggered only when every subtask is running, fewer than
//!   `max_concurrent` checkpoints are pending or having their metadata written, and
//!   `min_pause` has passed since the last one completed (so a storage slower than the
//!   interval slows the checkpoints down rather than queueing their metadata).
//! - A checkpoint completes when every subtask acknowledged it; it fails when one declines it
//!   or when `timeout` passes first. More than `tolerable_failures` failures in a row fail the
//!   job.
//! - The newest `retained` completed checkpoints are kept; older ones are removed once a newer
//!   one completes. Savepoints are never removed.
//! - Each acknowledgement brings the subtask's figures ([`SubtaskCheckpointStats`]); they are
//!   kept with the pending checkpoint and, once it completed or failed, in the history of the
//!   newest [`HISTORY`] checkpoints (Flink's `web.checkpoints.history` default).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use crate::checkpoint::barrier::{CheckpointBarrier, SnapshotKind};
use crate::checkpoint::storage::{checkpoint_dir, StateHandle};

mod settings;
mod stats;

pub use settings::{CheckpointSettings, CheckpointingMode};
pub use stats::{
    CheckpointCounts, CheckpointRecord, CheckpointSizes, CheckpointStats, LatestCheckpoints,
    RestoredRecord, SubtaskCheckpointStats, TaskStats, VertexCheckpointStats,
};

/// A checkpoint waiting for acknowledgements.
#[derive(Debug)]
pub struct PendingCheckpoint {
    /// Its barrier.
    pub barrier: CheckpointBarrier,
    /// Its directory (the barrier's).
    pub dir: PathBuf,
    /// When it was triggered.
    pub started: Instant,
    /// Per vertex, per subtask: its acknowledgement (`Some(handle or none)`) once in.
    pub acks: Vec<Vec<Option<Option<StateHandle>>>>,
    /// Per vertex, per subtask: the figures it acknowledged with, once in.
    pub stats: TaskStats,
    waiting: usize,
}

/// What the coordinator asks the JobMaster to do after an event.
#[derive(Debug)]
pub enum CoordinatorAction {
    /// Every subtask acknowledged: write the metadata, then report completion.
    Complete(PendingCheckpoint),
    /// The checkpoint failed.
    Failed {
        /// Its id.
        id: u64,
        /// Why.
        reason: String,
        /// Whether the job must fail (too many failures in a row).
        fail_job: bool,
    },
}

/// The bookkeeping of one job's checkpoints.
#[derive(Debug)]
pub struct CheckpointCoordinator {
    settings: CheckpointSettings,
    job_dir: PathBuf,
    /// Parallelism per vertex.
    shape: Vec<usize>,
    next_id: u64,
    pending: BTreeMap<u64, PendingCheckpoint>,
    /// Checkpoints every subtask acknowledged whose metadata is being written.
    finalizing: usize,
    /// Completed checkpoints kept, oldest first: `(id, dir)`.
    retained: VecDeque<(u64, PathBuf)>,
    last_completed: Option<Instant>,
    failures_in_row: u32,
    /// Recent checkpoints, newest last (bounded).
    pub history: VecDeque<CheckpointRecord>,
    /// Counts: completed, failed.
    pub counts: (u64, u64),
    /// What the job last restored from: at its start (a savepoint or checkpoint given) or
    /// after a failure (its newest completed checkpoint).
    pub restored: Option<RestoredRecord>,
    /// How often the job (or a region of it) restored from a checkpoint or savepoint.
    pub restores: u64,
    /// The newest completed and failed checkpoints and completed savepoint, kept apart from the
    /// bounded history (as Flink's `latest` is), so that later checkpoints do not push them out.
    latest_completed: Option<CheckpointRecord>,
    latest_failed: Option<CheckpointRecord>,
    latest_savepoint: Option<CheckpointRecord>,
}

/// How many finished checkpoints the history keeps (as Flink's default of 10).
pub const HISTORY: usize = 10;

impl CheckpointCoordinator {
    /// A coordinator for a job whose vertices have `shape` subtasks each, writing under
    /// `job_dir`; ids continue after `first_id - 1` (after a restored checkpoint's id).
    pub fn new(
        settings: CheckpointSettings,
        job_dir: PathBuf,
        shape: Vec<usize>,
        first_id: u64,
    ) -> Self {
        Self {
            settings,
            job_dir,
            shape,
            next_id: first_id.max(1),
            pending: BTreeMap::new(),
            retained: VecDeque::new(),
            last_completed: None,
            failures_in_row: 0,
            finalizing: 0,
            history: VecDeque::new(),
            counts: (0, 0),
            restored: None,
            restores: 0,
            latest_completed: None,
            latest_failed: None,
            latest_savepoint: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CheckpointSettings {
        &self.settings
    }

    /// The job's checkpoint directory.
    pub fn job_dir(&self) -> &PathBuf {
        &self.job_dir
    }

    /// Pending checkpoints.
    pub fn pending(&self) -> impl Iterator<Item = &PendingCheckpoint> {
        self.pending.values()
    }

    /// Notes that the job (or a region of it) restored from checkpoint `id` in `path` at `at`
    /// (ms since the epoch); `savepoint` when it was a savepoint.
    pub fn note_restore(&mut self, id: u64, path: &std::path::Path, at: i64, savepoint: bool) {
        self.restores += 1;
        self.restored = Some(RestoredRecord {
            id,
            external_path: path.display().to_string(),
            restore_timestamp: at,
            is_savepoint: savepoint,
        });
    }

    /// The newest completed checkpoint kept: `(id, dir)`.
    pub fn latest(&self) -> Option<&(u64, PathBuf)> {
        self.retained.back()
    }

    /// Whether a periodic checkpoint may be triggered now.
    pub fn may_trigger_periodic(&self, now: Instant) -> bool {
        self.pending.len() + self.finalizing < self.settings.max_concurrent.max(1)
            && self
                .last_completed
                .is_none_or(|t| now.duration_since(t) >= self.settings.min_pause)
    }

    /// Starts a checkpoint (or a savepoint into `target`): returns its barrier.
    pub fn trigger(
        &mut self,
        kind: SnapshotKind,
        now: Instant,
        timestamp: i64,
        target: Option<PathBuf>,
    ) -> CheckpointBarrier {
        let id = self.next_id;
        self.next_id += 1;
        let dir = target.unwrap_or_else(|| checkpoint_dir(&self.job_dir, id));
        let barrier = CheckpointBarrier {
            id,
            timestamp,
            kind,
            dir: dir.display().to_string(),
            alignment: self.settings.alignment(kind),
            is_final: false,
        };
        let waiting = self.shape.iter().sum();
        self.pending.insert(
            id,
            PendingCheckpoint {
                barrier: barrier.clone(),
                dir,
                started: now,
                acks: self.shape.iter().map(|p| vec![None; *p]).collect(),
                stats: self.shape.iter().map(|p| vec![None; *p]).collect(),
                waiting,
            },
        );
        barrier
    }

    /// Subtask `subtask` of vertex `vertex` acknowledged checkpoint `id` with `handle` and
    /// `stats`.
    pub fn acknowledge(
        &mut self,
        id: u64,
        vertex: usize,
        subtask: usize,
        handle: Option<StateHandle>,
        stats: SubtaskCheckpointStats,
    ) -> Option<CoordinatorAction> {
        let p = self.pending.get_mut(&id)?;
        let slot = p.acks.get_mut(vertex)?.get_mut(subtask)?;
        if slot.is_some() {
            return None;
        }
        *slot = Some(handle);
        if let Some(s) = p.stats.get_mut(vertex).and_then(|v| v.get_mut(subtask)) {
            *s = Some(stats);
        }
        p.waiting -= 1;
        if p.waiting > 0 {
            return None;
        }
        let p = self.pending.remove(&id)?;
        self.finalizing += 1;
        Some(CoordinatorAction::Complete(p))
    }

    /// The JobMaster wrote checkpoint `p`'s metadata: it is complete. Returns the ids of
    /// checkpoints no longer retained (their directories are to be removed).
    pub fn completed(
        &mut self,
        p: &PendingCheckpoint,
        sizes: CheckpointSizes,
        now: Instant,
    ) -> Vec<u64> {
        self.finalizing = self.finalizing.saturating_sub(1);
        self.failures_in_row = 0;
        self.last_completed = Some(now);
        self.counts.0 += 1;
        self.record(p, "COMPLETED", Some(sizes), now, None);
        // Older pending checkpoints can never complete once a newer one did (Flink drops them).
        let older: Vec<u64> = self
            .pending
            .range(..p.barrier.id)
            .map(|(id, _)| *id)
            .collect();
        for id in older {
            self.pending.remove(&id);
        }
        if p.barrier.kind == SnapshotKind::Savepoint {
            return Vec::new();
        }
        self.retained.push_back((p.barrier.id, p.dir.clone()));
        let mut dropped = Vec::new();
        while self.retained.len() > self.settings.retained.max(1) {
            if let Some((id, _)) = self.retained.pop_front() {
                dropped.push(id);
            }
        }
        dropped
    }

    /// The ids of the completed checkpoints kept.
    pub fn retained_ids(&self) -> Vec<u64> {
        self.retained.iter().map(|(id, _)| *id).collect()
    }

    /// Checkpoint `id` was declined by a subtask, or could not be completed.
    pub fn fail(&mut self, id: u64, reason: String, now: Instant) -> Option<CoordinatorAction> {
        self.fail_with(id, reason, now, true)
    }

    /// Checkpoint `id` could not be taken because a subtask was no longer running (its input
    /// ended): it fails, but does not count towards the tolerable failures (as in Flink).
    pub fn abort(&mut self, id: u64, reason: String, now: Instant) -> Option<CoordinatorAction> {
        self.fail_with(id, reason, now, false)
    }

    fn fail_with(
        &mut self,
        id: u64,
        reason: String,
        now: Instant,
        counts: bool,
    ) -> Option<CoordinatorAction> {
        let p = self.pending.remove(&id)?;
        Some(self.failed(&p, reason, now, counts))
    }

    /// A checkpoint every subtask acknowledged could not be completed after all (its metadata
    /// was not written, or the job restarted meanwhile): it fails, counting towards the
    /// tolerable failures when `counts`.
    pub fn not_completed(
        &mut self,
        p: &PendingCheckpoint,
        reason: String,
        now: Instant,
        counts: bool,
    ) -> CoordinatorAction {
        self.finalizing = self.finalizing.saturating_sub(1);
        self.failed(p, reason, now, counts)
    }

    fn failed(
        &mut self,
        p: &PendingCheckpoint,
        reason: String,
        now: Instant,
        counts: bool,
    ) -> CoordinatorAction {
        let id = p.barrier.id;
        self.counts.1 += 1;
        self.record(p, "FAILED", None, now, Some(reason.clone()));
        // A savepoint's failure is the user's to see, never the job's.
        let fail_job = if counts && p.barrier.kind == SnapshotKind::Checkpoint {
            self.failures_in_row += 1;
            self.failures_in_row > self.settings.tolerable_failures
        } else {
            false
        };
        CoordinatorAction::Failed {
            id,
            reason,
            fail_job,
        }
    }

    /// Fails every pending checkpoint older than the timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<CoordinatorAction> {
        let timeout = self.settings.timeout;
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| {
                self.fail(
                    id,
                    format!("checkpoint {id} expired before completing (timeout {timeout:?})"),
                    now,
                )
            })
            .collect()
    }

    /// Forgets every pending checkpoint (the job stops or restarts).
    pub fn abort_all(&mut self, reason: &str, now: Instant) {
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                self.counts.1 += 1;
                self.record(&p, "FAILED", None, now, Some(reason.to_string()));
            }
        }
    }

    /// The statistics for the REST API.
    pub fn stats(&self) -> CheckpointStats {
        let now = Instant::now();
        let retained = self.retained_ids();
        let mut history: Vec<CheckpointRecord> = self
            .pending
            .values()
            .rev()
            .map(|p| CheckpointRecord::of(p, "IN_PROGRESS", None, now, None))
            .collect();
        history.extend(self.history.iter().rev().map(|r| CheckpointRecord {
            discarded: r.status == "COMPLETED"
                && r.kind == SnapshotKind::Checkpoint
                && !retained.contains(&r.id),
            ..r.clone()
        }));
        let newest = |f: &dyn Fn(&CheckpointRecord) -> bool| history.iter().find(|r| f(r)).cloned();
        let in_progress = self.pending.len() as u64;
        CheckpointStats {
            counts: CheckpointCounts {
                restored: self.restores,
                total: self.counts.0 + self.counts.1 + in_progress,
                in_progress,
                completed: self.counts.0,
                failed: self.counts.1,
            },
            latest: LatestCheckpoints {
                // From the history while it holds it (with its `discarded` flag).
                completed: newest(&|r| {
                    r.status == "COMPLETED" && r.kind == SnapshotKind::Checkpoint
                })
                .or_else(|| self.latest_completed.clone()),
                savepoint: self.latest_savepoint.clone(),
                failed: self.latest_failed.clone(),
                restored: self.restored.clone(),
            },
            history,
        }
    }

    fn record(
        &mut self,
        p: &PendingCheckpoint,
        status: &'static str,
        sizes: Option<CheckpointSizes>,
        now: Instant,
        failure: Option<String>,
    ) {
        let record = CheckpointRecord::of(p, status, sizes, now, failure);
        match (status, record.kind) {
            ("FAILED", _) => self.latest_failed = Some(record.clone()),
            ("COMPLETED", SnapshotKind::Savepoint) => self.latest_savepoint = Some(record.clone()),
            ("COMPLETED", SnapshotKind::Checkpoint) => self.latest_completed = Some(record.clone()),
            _ => {}
        }
        self.history.push_back(record);
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
