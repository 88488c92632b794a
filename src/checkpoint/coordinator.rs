//! The checkpoint coordinator's bookkeeping (Flink's `CheckpointCoordinator`), as a plain state
//! machine: the JobMaster actor drives it with the clock, the subtasks' acknowledgements and
//! declines, and does the sending and the file writing it asks for.
//!
//! ## Rules
//! - A periodic checkpoint is triggered only when every subtask is running, fewer than
//!   `max_concurrent` checkpoints are pending, and `min_pause` has passed since the last one
//!   completed.
//! - A checkpoint completes when every subtask acknowledged it; it fails when one declines it
//!   or when `timeout` passes first. More than `tolerable_failures` failures in a row fail the
//!   job.
//! - The newest `retained` completed checkpoints are kept; older ones are removed once a newer
//!   one completes. Savepoints are never removed.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::checkpoint::barrier::{BarrierAlignment, CheckpointBarrier, SnapshotKind};
use crate::checkpoint::storage::{checkpoint_dir, StateHandle};

/// Exactly-once (aligned barriers) or at-least-once (barriers not aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CheckpointingMode {
    /// Barriers are aligned: each checkpoint holds exactly the records before it.
    #[default]
    ExactlyOnce,
    /// Barriers are not aligned: after a restore some records may be processed again.
    AtLeastOnce,
}

/// A job's checkpoint settings (Flink's `CheckpointConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSettings {
    /// How often to checkpoint; `None`: never (savepoints can still be taken).
    pub interval: Option<Duration>,
    /// A checkpoint not completed in this time fails.
    pub timeout: Duration,
    /// The least time between a checkpoint's completion and the next trigger.
    pub min_pause: Duration,
    /// How many checkpoints may be pending at once.
    pub max_concurrent: usize,
    /// Failed checkpoints in a row the job survives.
    pub tolerable_failures: u32,
    /// How many completed checkpoints to keep.
    pub retained: usize,
    /// Where the job's `chk-N` directories go (`<dir>/<job id>/chk-N`); `None`: the cluster's.
    pub dir: Option<PathBuf>,
    /// Exactly-once or at-least-once.
    pub mode: CheckpointingMode,
    /// Keep the retained checkpoints when the job is cancelled.
    pub retain_on_cancellation: bool,
    /// Unaligned checkpoints (exactly-once mode only; savepoints stay aligned): barriers
    /// overtake in-flight data, which becomes part of the checkpoint.
    #[serde(default)]
    pub unaligned: bool,
    /// With `unaligned`: checkpoints start aligned and a subtask goes unaligned once this much
    /// time has passed since the trigger without its alignment completing (Flink's
    /// `aligned-checkpoint-timeout`); zero: unaligned from the start.
    #[serde(default)]
    pub aligned_timeout: Duration,
}

impl CheckpointSettings {
    /// How the barriers of a checkpoint (or savepoint) of `kind` pass in-flight data.
    pub fn alignment(&self, kind: SnapshotKind) -> BarrierAlignment {
        let unaligned = self.unaligned
            && kind == SnapshotKind::Checkpoint
            && self.mode == CheckpointingMode::ExactlyOnce;
        match (unaligned, self.aligned_timeout.as_millis()) {
            (false, _) => BarrierAlignment::Aligned,
            (true, 0) => BarrierAlignment::Unaligned,
            (true, ms) => BarrierAlignment::AlignedWithTimeout {
                after_ms: u64::try_from(ms).unwrap_or(u64::MAX),
            },
        }
    }
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            interval: None,
            timeout: Duration::from_secs(600),
            min_pause: Duration::ZERO,
            max_concurrent: 1,
            tolerable_failures: 0,
            retained: 1,
            dir: None,
            mode: CheckpointingMode::ExactlyOnce,
            retain_on_cancellation: false,
            unaligned: false,
            aligned_timeout: Duration::ZERO,
        }
    }
}

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
    waiting: usize,
}

/// How a checkpoint ended, for statistics and the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointRecord {
    /// Its id.
    pub id: u64,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// `COMPLETED` or `FAILED` (or `IN_PROGRESS` in listings).
    pub status: &'static str,
    /// When it was triggered (ms since the epoch).
    pub trigger_timestamp: i64,
    /// How long it took (ms).
    pub duration_ms: u64,
    /// The full size of its state (files shared with earlier checkpoints included).
    pub state_size: u64,
    /// The bytes written for it (Flink's `checkpointed_size`: less than `state_size` for
    /// incremental checkpoints).
    pub checkpointed_size: u64,
    /// Bytes of in-flight data it persisted (unaligned checkpoints; Flink's
    /// `persisted_data`).
    pub persisted_data: u64,
    /// Whether its barriers overtook in-flight data (it started unaligned, or some subtask
    /// went unaligned after the alignment timeout and persisted in-flight data).
    pub is_unaligned: bool,
    /// Its directory.
    pub external_path: String,
    /// Why it failed.
    pub failure: Option<String>,
}

/// How big a completed checkpoint is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointSizes {
    /// The full state.
    pub state: u64,
    /// What was written for it.
    pub checkpointed: u64,
    /// In-flight data persisted (unaligned checkpoints).
    pub persisted: u64,
}

/// A job's checkpoint statistics (the model of `GET /jobs/{id}/checkpoints`, after Flink's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointStats {
    /// Counts.
    pub counts: CheckpointCounts,
    /// The newest of each kind.
    pub latest: LatestCheckpoints,
    /// Recent checkpoints, newest first.
    pub history: Vec<CheckpointRecord>,
}

/// Checkpoint counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointCounts {
    /// 1 if the job was restored from a checkpoint or savepoint.
    pub restored: u64,
    /// Triggered.
    pub total: u64,
    /// Pending.
    pub in_progress: u64,
    /// Completed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
}

/// The newest completed checkpoint, savepoint and failed checkpoint, and the restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LatestCheckpoints {
    /// The newest completed checkpoint.
    pub completed: Option<CheckpointRecord>,
    /// The newest completed savepoint.
    pub savepoint: Option<CheckpointRecord>,
    /// The newest failed one.
    pub failed: Option<CheckpointRecord>,
    /// What the job restored from.
    pub restored: Option<RestoredRecord>,
}

/// What a job restored from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredRecord {
    /// The checkpoint's id.
    pub id: u64,
    /// Its directory.
    pub external_path: String,
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
    /// Completed checkpoints kept, oldest first: `(id, dir)`.
    retained: VecDeque<(u64, PathBuf)>,
    last_completed: Option<Instant>,
    failures_in_row: u32,
    /// Recent checkpoints, newest last (bounded).
    pub history: VecDeque<CheckpointRecord>,
    /// Counts: completed, failed.
    pub counts: (u64, u64),
    /// The checkpoint the job was restored from.
    pub restored: Option<(u64, String)>,
}

/// How many finished checkpoints the history keeps (as Flink's default of 10).
const HISTORY: usize = 10;

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
            history: VecDeque::new(),
            counts: (0, 0),
            restored: None,
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

    /// The newest completed checkpoint kept: `(id, dir)`.
    pub fn latest(&self) -> Option<&(u64, PathBuf)> {
        self.retained.back()
    }

    /// Whether a periodic checkpoint may be triggered now.
    pub fn may_trigger_periodic(&self, now: Instant) -> bool {
        self.pending.len() < self.settings.max_concurrent.max(1)
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
                waiting,
            },
        );
        barrier
    }

    /// Subtask `subtask` of vertex `vertex` acknowledged checkpoint `id`.
    pub fn acknowledge(
        &mut self,
        id: u64,
        vertex: usize,
        subtask: usize,
        handle: Option<StateHandle>,
    ) -> Option<CoordinatorAction> {
        let p = self.pending.get_mut(&id)?;
        let slot = p.acks.get_mut(vertex)?.get_mut(subtask)?;
        if slot.is_some() {
            return None;
        }
        *slot = Some(handle);
        p.waiting -= 1;
        if p.waiting > 0 {
            return None;
        }
        self.pending.remove(&id).map(CoordinatorAction::Complete)
    }

    /// The JobMaster wrote checkpoint `p`'s metadata: it is complete. Returns the ids of
    /// checkpoints no longer retained (their directories are to be removed).
    pub fn completed(
        &mut self,
        p: &PendingCheckpoint,
        sizes: CheckpointSizes,
        now: Instant,
    ) -> Vec<u64> {
        self.failures_in_row = 0;
        self.last_completed = Some(now);
        self.counts.0 += 1;
        self.record(p, "COMPLETED", sizes, now, None);
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
        Some(self.not_completed(&p, reason, now, counts))
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
        let id = p.barrier.id;
        self.counts.1 += 1;
        self.record(
            p,
            "FAILED",
            CheckpointSizes::default(),
            now,
            Some(reason.clone()),
        );
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
                self.record(
                    &p,
                    "FAILED",
                    CheckpointSizes::default(),
                    now,
                    Some(reason.to_string()),
                );
            }
        }
    }

    /// The statistics for the REST API.
    pub fn stats(&self) -> CheckpointStats {
        let newest = |f: &dyn Fn(&CheckpointRecord) -> bool| {
            self.history.iter().rev().find(|r| f(r)).cloned()
        };
        let in_progress = self.pending.len() as u64;
        let mut history: Vec<CheckpointRecord> = self.history.iter().rev().cloned().collect();
        for p in self.pending.values().rev() {
            history.insert(
                0,
                CheckpointRecord {
                    id: p.barrier.id,
                    kind: p.barrier.kind,
                    status: "IN_PROGRESS",
                    trigger_timestamp: p.barrier.timestamp,
                    duration_ms: p.started.elapsed().as_millis() as u64,
                    state_size: 0,
                    checkpointed_size: 0,
                    persisted_data: 0,
                    is_unaligned: p.barrier.alignment == BarrierAlignment::Unaligned,
                    external_path: p.dir.display().to_string(),
                    failure: None,
                },
            );
        }
        CheckpointStats {
            counts: CheckpointCounts {
                restored: u64::from(self.restored.is_some()),
                total: self.counts.0 + self.counts.1 + in_progress,
                in_progress,
                completed: self.counts.0,
                failed: self.counts.1,
            },
            latest: LatestCheckpoints {
                completed: newest(&|r| {
                    r.status == "COMPLETED" && r.kind == SnapshotKind::Checkpoint
                }),
                savepoint: newest(&|r| {
                    r.status == "COMPLETED" && r.kind == SnapshotKind::Savepoint
                }),
                failed: newest(&|r| r.status == "FAILED"),
                restored: self.restored.as_ref().map(|(id, path)| RestoredRecord {
                    id: *id,
                    external_path: path.clone(),
                }),
            },
            history,
        }
    }

    fn record(
        &mut self,
        p: &PendingCheckpoint,
        status: &'static str,
        sizes: CheckpointSizes,
        now: Instant,
        failure: Option<String>,
    ) {
        self.history.push_back(CheckpointRecord {
            id: p.barrier.id,
            kind: p.barrier.kind,
            status,
            trigger_timestamp: p.barrier.timestamp,
            duration_ms: now.duration_since(p.started).as_millis() as u64,
            state_size: sizes.state,
            checkpointed_size: sizes.checkpointed,
            persisted_data: sizes.persisted,
            is_unaligned: p.barrier.alignment == BarrierAlignment::Unaligned || sizes.persisted > 0,
            external_path: p.dir.display().to_string(),
            failure,
        });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
