//! The coordinator's statistics of a job's checkpoints (the model of
//! `GET /jobs/{id}/checkpoints` and `…/checkpoints/details/{cid}`, after Flink's): counts, the
//! newest of each kind, and a bounded history in which each checkpoint keeps what every
//! subtask acknowledged it with.

use std::time::Instant;

use serde::Serialize;

use crate::checkpoint::barrier::{BarrierAlignment, SnapshotKind};
use crate::checkpoint::coordinator::PendingCheckpoint;
use crate::checkpoint::figures::SubtaskCheckpointFigures;
use crate::checkpoint::storage::StateHandle;

/// What the coordinator keeps of one subtask's acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubtaskCheckpointStats {
    /// When the JobMaster received it (ms since the epoch).
    pub ack_timestamp: i64,
    /// The full size of its state (shared files included).
    pub state_size: u64,
    /// The bytes written for it.
    pub checkpointed_size: u64,
    /// What the subtask measured.
    pub figures: SubtaskCheckpointFigures,
    /// The TaskManager that ran it.
    pub taskmanager: Option<String>,
}

impl SubtaskCheckpointStats {
    /// An acknowledgement received at `ack_timestamp` with `handle` (none: no state).
    pub fn new(
        ack_timestamp: i64,
        handle: Option<&StateHandle>,
        figures: SubtaskCheckpointFigures,
        taskmanager: Option<String>,
    ) -> Self {
        Self {
            ack_timestamp,
            state_size: handle.map_or(0, StateHandle::full_size),
            checkpointed_size: handle.map_or(0, StateHandle::checkpointed_size),
            figures: SubtaskCheckpointFigures {
                persisted_bytes: handle.map_or(figures.persisted_bytes, |h| h.persisted),
                ..figures
            },
            taskmanager,
        }
    }

    /// From the trigger to its acknowledgement (ms).
    pub fn end_to_end_ms(&self, trigger_timestamp: i64) -> u64 {
        u64::try_from(self.ack_timestamp.saturating_sub(trigger_timestamp)).unwrap_or(0)
    }
}

/// Per vertex (in the job graph's order), per subtask: its acknowledgement, once in.
pub type TaskStats = Vec<Vec<Option<SubtaskCheckpointStats>>>;

/// One vertex's part in a checkpoint (Flink's `TaskCheckpointStatistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VertexCheckpointStats {
    /// Its newest acknowledgement.
    pub latest_ack_timestamp: Option<i64>,
    /// Its subtasks' state.
    pub state_size: u64,
    /// The bytes written for it.
    pub checkpointed_size: u64,
    /// Bytes processed during alignments.
    pub processed_data: u64,
    /// Bytes of in-flight data persisted.
    pub persisted_data: u64,
    /// Its subtasks.
    pub num_subtasks: usize,
    /// Those that acknowledged.
    pub num_acknowledged_subtasks: usize,
}

impl VertexCheckpointStats {
    /// The sums over `subtasks`.
    pub fn of(subtasks: &[Option<SubtaskCheckpointStats>]) -> Self {
        subtasks.iter().flatten().fold(
            Self {
                num_subtasks: subtasks.len(),
                ..Self::default()
            },
            |a, s| Self {
                latest_ack_timestamp: a.latest_ack_timestamp.max(Some(s.ack_timestamp)),
                state_size: a.state_size + s.state_size,
                checkpointed_size: a.checkpointed_size + s.checkpointed_size,
                processed_data: a.processed_data + s.figures.processed_bytes,
                persisted_data: a.persisted_data + s.figures.persisted_bytes,
                num_acknowledged_subtasks: a.num_acknowledged_subtasks + 1,
                ..a
            },
        )
    }
}

/// How a checkpoint ended (or how far it is), for statistics and the REST API.
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
    /// How long it took (ms), its metadata's writing included (so far, while in progress).
    pub duration_ms: u64,
    /// The full size of its state (files shared with earlier checkpoints included).
    pub state_size: u64,
    /// The bytes written for it (Flink's `checkpointed_size`: less than `state_size` for
    /// incremental checkpoints).
    pub checkpointed_size: u64,
    /// Bytes of in-flight data it persisted (unaligned checkpoints; Flink's
    /// `persisted_data`).
    pub persisted_data: u64,
    /// Bytes its subtasks processed while aligning (Flink's `processed_data`).
    pub processed_data: u64,
    /// Whether its barriers overtook in-flight data (it started unaligned, or some subtask
    /// went unaligned after the alignment timeout and persisted in-flight data).
    pub is_unaligned: bool,
    /// Its directory.
    pub external_path: String,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it failed (ms since the epoch, on the trigger's clock).
    pub failure_timestamp: Option<i64>,
    /// The newest acknowledgement (none before the first).
    pub latest_ack_timestamp: Option<i64>,
    /// A completed checkpoint no longer retained (its files are removed).
    pub discarded: bool,
    /// Per vertex, per subtask: its acknowledgement, once in.
    pub tasks: TaskStats,
}

impl CheckpointRecord {
    /// The record of `p` as it stands at `now`: `status`, with `sizes` once completed (until
    /// then the sums of the acknowledgements so far).
    pub fn of(
        p: &PendingCheckpoint,
        status: &'static str,
        sizes: Option<CheckpointSizes>,
        now: Instant,
        failure: Option<String>,
    ) -> Self {
        let duration_ms =
            u64::try_from(now.saturating_duration_since(p.started).as_millis()).unwrap_or(u64::MAX);
        let vertices: Vec<VertexCheckpointStats> = p
            .stats
            .iter()
            .map(|v| VertexCheckpointStats::of(v))
            .collect();
        let sum = |f: fn(&VertexCheckpointStats) -> u64| vertices.iter().map(f).sum::<u64>();
        let sizes = sizes.unwrap_or(CheckpointSizes {
            state: sum(|v| v.state_size),
            checkpointed: sum(|v| v.checkpointed_size),
            persisted: sum(|v| v.persisted_data),
        });
        let went_unaligned = p
            .stats
            .iter()
            .flatten()
            .flatten()
            .any(|s| s.figures.unaligned);
        Self {
            id: p.barrier.id,
            kind: p.barrier.kind,
            status,
            trigger_timestamp: p.barrier.timestamp,
            duration_ms,
            state_size: sizes.state,
            checkpointed_size: sizes.checkpointed,
            persisted_data: sizes.persisted,
            processed_data: sum(|v| v.processed_data),
            is_unaligned: p.barrier.alignment == BarrierAlignment::Unaligned
                || sizes.persisted > 0
                || went_unaligned,
            external_path: p.dir.display().to_string(),
            failure_timestamp: failure.as_ref().map(|_| {
                p.barrier
                    .timestamp
                    .saturating_add(i64::try_from(duration_ms).unwrap_or(i64::MAX))
            }),
            failure,
            latest_ack_timestamp: vertices.iter().filter_map(|v| v.latest_ack_timestamp).max(),
            discarded: false,
            tasks: p.stats.clone(),
        }
    }

    /// Its subtasks.
    pub fn num_subtasks(&self) -> usize {
        self.tasks.iter().map(Vec::len).sum()
    }

    /// Its subtasks that acknowledged.
    pub fn num_acknowledged_subtasks(&self) -> usize {
        self.tasks.iter().flatten().flatten().count()
    }

    /// From the trigger to the newest acknowledgement (Flink's `end_to_end_duration`), or its
    /// duration so far when none came yet.
    pub fn end_to_end_ms(&self) -> u64 {
        match self.latest_ack_timestamp {
            Some(ack) => u64::try_from(ack.saturating_sub(self.trigger_timestamp)).unwrap_or(0),
            None => self.duration_ms,
        }
    }

    /// Vertex `v`'s part (by its index in the job graph).
    pub fn vertex(&self, v: usize) -> Option<VertexCheckpointStats> {
        self.tasks.get(v).map(|s| VertexCheckpointStats::of(s))
    }
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

/// A job's checkpoint statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointStats {
    /// Counts.
    pub counts: CheckpointCounts,
    /// The newest of each kind.
    pub latest: LatestCheckpoints,
    /// Recent checkpoints, newest first, those in progress included.
    pub history: Vec<CheckpointRecord>,
}

impl CheckpointStats {
    /// Checkpoint `id`, if the history still holds it.
    pub fn find(&self, id: u64) -> Option<&CheckpointRecord> {
        self.history.iter().find(|r| r.id == id)
    }
}

/// Checkpoint counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RestoredRecord {
    /// The checkpoint's id.
    pub id: u64,
    /// Its directory.
    pub external_path: String,
    /// When the job restored from it (ms since the epoch).
    pub restore_timestamp: i64,
    /// Whether it was a savepoint.
    pub is_savepoint: bool,
}
