//! Flink's checkpoint statistics shapes: `GET /jobs/{id}/checkpoints` (`counts`, `summary`,
//! `latest`, `history`), `…/checkpoints/details/{cid}` (one checkpoint with its `tasks` by
//! vertex id) and `…/checkpoints/details/{cid}/subtasks/{vid}` (one vertex's `summary` and its
//! `subtasks`), made from the coordinator's [`CheckpointStats`].
//!
//! ## Conventions (Flink's)
//! Sizes in bytes, durations in milliseconds, times in milliseconds since the epoch (`-1`
//! before the first acknowledgement). `alignment_buffered` is always 0 (Flink deprecated it).
//! A summary's `min`, `max` and `avg` are whole numbers, its percentiles nearest-rank values;
//! over no values every figure is 0. Rill adds each subtask's `taskmanager`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checkpoint::coordinator::{
    CheckpointCounts, CheckpointRecord, CheckpointStats, RestoredRecord, SubtaskCheckpointStats,
    VertexCheckpointStats,
};
use crate::checkpoint::SnapshotKind;
use crate::graph::JobGraph;

/// Min, max, average and percentiles of some figures (Flink's `StatsSummaryDto`).
#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq, utoipa::ToSchema)]
pub struct StatsSummary {
    /// The least.
    pub min: u64,
    /// The greatest.
    pub max: u64,
    /// The mean, rounded down.
    pub avg: u64,
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p999: f64,
}

impl StatsSummary {
    /// The summary of `values`.
    pub fn of(values: impl IntoIterator<Item = u64>) -> Self {
        let mut v: Vec<u64> = values.into_iter().collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_unstable();
        let rank = |q: f64| {
            // Nearest rank: the smallest value with at least q of them at or below it.
            let i = (q * v.len() as f64).ceil() as usize;
            v[i.clamp(1, v.len()) - 1] as f64
        };
        Self {
            min: v[0],
            max: v[v.len() - 1],
            avg: (v.iter().map(|x| u128::from(*x)).sum::<u128>() / v.len() as u128) as u64,
            p50: rank(0.5),
            p90: rank(0.9),
            p95: rank(0.95),
            p99: rank(0.99),
            p999: rank(0.999),
        }
    }
}

/// `GET /jobs/{id}/checkpoints`.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct CheckpointingStatistics {
    /// Counts.
    pub counts: CheckpointCounts,
    /// Over the completed checkpoints the history holds.
    pub summary: CheckpointsSummary,
    /// The newest of each kind.
    pub latest: LatestCheckpointsInfo,
    /// Recent checkpoints, newest first (their `tasks` left empty, as Flink's).
    pub history: Vec<CheckpointStatistics>,
}

/// The summary of `GET /jobs/{id}/checkpoints`.
#[derive(Serialize, Debug, Clone, Default, utoipa::ToSchema)]
pub struct CheckpointsSummary {
    /// Bytes written.
    pub checkpointed_size: StatsSummary,
    /// Full state sizes.
    pub state_size: StatsSummary,
    /// Trigger to last acknowledgement.
    pub end_to_end_duration: StatsSummary,
    /// Always 0.
    pub alignment_buffered: StatsSummary,
    /// Bytes processed while aligning.
    pub processed_data: StatsSummary,
    /// In-flight bytes persisted.
    pub persisted_data: StatsSummary,
}

/// The newest completed checkpoint, savepoint and failed checkpoint, and the restore.
#[derive(Serialize, Debug, Clone, Default, utoipa::ToSchema)]
pub struct LatestCheckpointsInfo {
    /// The newest completed checkpoint.
    pub completed: Option<CheckpointStatistics>,
    /// The newest completed savepoint.
    pub savepoint: Option<CheckpointStatistics>,
    /// The newest failed one.
    pub failed: Option<CheckpointStatistics>,
    /// What the job restored from.
    pub restored: Option<RestoredRecord>,
}

impl CheckpointingStatistics {
    /// The answer for `stats`.
    pub fn new(stats: &CheckpointStats) -> Self {
        let listed = |r: &CheckpointRecord| CheckpointStatistics::new(r, None);
        let completed: Vec<&CheckpointRecord> = stats
            .history
            .iter()
            .filter(|r| r.status == "COMPLETED")
            .collect();
        let of = |f: fn(&CheckpointRecord) -> u64| StatsSummary::of(completed.iter().map(|r| f(r)));
        Self {
            counts: stats.counts.clone(),
            summary: CheckpointsSummary {
                checkpointed_size: of(|r| r.checkpointed_size),
                state_size: of(|r| r.state_size),
                end_to_end_duration: of(CheckpointRecord::end_to_end_ms),
                alignment_buffered: of(|_| 0),
                processed_data: of(|r| r.processed_data),
                persisted_data: of(|r| r.persisted_data),
            },
            latest: LatestCheckpointsInfo {
                completed: stats.latest.completed.as_ref().map(listed),
                savepoint: stats.latest.savepoint.as_ref().map(listed),
                failed: stats.latest.failed.as_ref().map(listed),
                restored: stats.latest.restored.clone(),
            },
            history: stats.history.iter().map(listed).collect(),
        }
    }
}

/// One checkpoint (Flink's `CheckpointStatistics`): an entry of the history, and the answer of
/// `…/checkpoints/details/{cid}` with its `tasks`.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct CheckpointStatistics {
    /// `completed`, `failed` or `in_progress`.
    #[serde(rename = "className")]
    pub class_name: &'static str,
    /// Its id.
    pub id: u64,
    /// `COMPLETED`, `FAILED` or `IN_PROGRESS`.
    pub status: &'static str,
    /// A savepoint.
    pub is_savepoint: bool,
    /// A savepoint's format (`CANONICAL`: self-contained); null for a checkpoint.
    #[serde(rename = "savepointFormat")]
    pub savepoint_format: Option<&'static str>,
    /// When it was triggered.
    pub trigger_timestamp: i64,
    /// The newest acknowledgement (`-1`: none yet).
    pub latest_ack_timestamp: i64,
    /// Bytes written for it.
    pub checkpointed_size: u64,
    /// Its full state.
    pub state_size: u64,
    /// Trigger to newest acknowledgement.
    pub end_to_end_duration: u64,
    /// Always 0.
    pub alignment_buffered: u64,
    /// Bytes processed while aligning.
    pub processed_data: u64,
    /// In-flight bytes persisted.
    pub persisted_data: u64,
    /// Its subtasks.
    pub num_subtasks: usize,
    /// Those that acknowledged.
    pub num_acknowledged_subtasks: usize,
    /// `CHECKPOINT`, `UNALIGNED_CHECKPOINT` or `SAVEPOINT`.
    pub checkpoint_type: &'static str,
    /// Per vertex id (in details; empty in listings).
    pub tasks: BTreeMap<String, TaskCheckpointStatistics>,
    /// A completed one's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_path: Option<String>,
    /// A completed one no longer retained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discarded: Option<bool>,
    /// When a failed one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_timestamp: Option<i64>,
    /// Why a failed one failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

impl CheckpointStatistics {
    /// The entry for `r`; with `graph`, its `tasks` by vertex id.
    pub fn new(r: &CheckpointRecord, graph: Option<&JobGraph>) -> Self {
        let completed = r.status == "COMPLETED";
        let failed = r.status == "FAILED";
        let tasks = graph.map_or_else(BTreeMap::new, |g| {
            g.vertices
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let stats = r.vertex(i)?;
                    Some((v.id.to_string(), TaskCheckpointStatistics::new(r, &stats)))
                })
                .collect()
        });
        Self {
            class_name: match r.status {
                "COMPLETED" => "completed",
                "FAILED" => "failed",
                _ => "in_progress",
            },
            id: r.id,
            status: r.status,
            is_savepoint: r.kind == SnapshotKind::Savepoint,
            savepoint_format: (r.kind == SnapshotKind::Savepoint).then_some("CANONICAL"),
            trigger_timestamp: r.trigger_timestamp,
            latest_ack_timestamp: r.latest_ack_timestamp.unwrap_or(-1),
            checkpointed_size: r.checkpointed_size,
            state_size: r.state_size,
            end_to_end_duration: r.end_to_end_ms(),
            alignment_buffered: 0,
            processed_data: r.processed_data,
            persisted_data: r.persisted_data,
            num_subtasks: r.num_subtasks(),
            num_acknowledged_subtasks: r.num_acknowledged_subtasks(),
            checkpoint_type: checkpoint_type(r),
            tasks,
            external_path: completed.then(|| r.external_path.clone()),
            discarded: completed.then_some(r.discarded),
            failure_timestamp: if failed { r.failure_timestamp } else { None },
            failure_message: if failed { r.failure.clone() } else { None },
        }
    }
}

fn checkpoint_type(r: &CheckpointRecord) -> &'static str {
    match (r.kind, r.is_unaligned) {
        (SnapshotKind::Savepoint, _) => "SAVEPOINT",
        (_, true) => "UNALIGNED_CHECKPOINT",
        _ => "CHECKPOINT",
    }
}

/// One vertex's part in a checkpoint (Flink's `TaskCheckpointStatistics`).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct TaskCheckpointStatistics {
    /// The checkpoint's id.
    pub id: u64,
    /// The checkpoint's status.
    pub status: &'static str,
    /// Its subtasks' newest acknowledgement (`-1`: none yet).
    pub latest_ack_timestamp: i64,
    /// Bytes written for it.
    pub checkpointed_size: u64,
    /// Its subtasks' state.
    pub state_size: u64,
    /// Trigger to its newest acknowledgement.
    pub end_to_end_duration: u64,
    /// Always 0.
    pub alignment_buffered: u64,
    /// Bytes processed while aligning.
    pub processed_data: u64,
    /// In-flight bytes persisted.
    pub persisted_data: u64,
    /// Its subtasks.
    pub num_subtasks: usize,
    /// Those that acknowledged.
    pub num_acknowledged_subtasks: usize,
}

impl TaskCheckpointStatistics {
    /// Vertex `v`'s part in `r`.
    pub fn new(r: &CheckpointRecord, v: &VertexCheckpointStats) -> Self {
        Self {
            id: r.id,
            status: r.status,
            latest_ack_timestamp: v.latest_ack_timestamp.unwrap_or(-1),
            checkpointed_size: v.checkpointed_size,
            state_size: v.state_size,
            end_to_end_duration: v.latest_ack_timestamp.map_or(0, |a| {
                u64::try_from(a.saturating_sub(r.trigger_timestamp)).unwrap_or(0)
            }),
            alignment_buffered: 0,
            processed_data: v.processed_data,
            persisted_data: v.persisted_data,
            num_subtasks: v.num_subtasks,
            num_acknowledged_subtasks: v.num_acknowledged_subtasks,
        }
    }
}

/// `…/checkpoints/details/{cid}/subtasks/{vid}` (Flink's
/// `TaskCheckpointStatisticsWithSubtaskDetails`).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct TaskCheckpointDetails {
    /// The vertex's part.
    #[serde(flatten)]
    pub task: TaskCheckpointStatistics,
    /// Over its acknowledged subtasks.
    pub summary: SubtasksSummary,
    /// Each subtask, by index.
    pub subtasks: Vec<SubtaskCheckpointStatistics>,
}

/// The summary over a vertex's acknowledged subtasks.
#[derive(Serialize, Debug, Clone, Default, utoipa::ToSchema)]
pub struct SubtasksSummary {
    /// Bytes written.
    pub checkpointed_size: StatsSummary,
    /// State sizes.
    pub state_size: StatsSummary,
    /// Trigger to acknowledgement.
    pub end_to_end_duration: StatsSummary,
    /// The synchronous and asynchronous parts.
    pub checkpoint_duration: DurationSummary,
    /// The alignment.
    pub alignment: AlignmentSummary,
    /// Trigger to first barrier.
    pub start_delay: StatsSummary,
}

/// The synchronous and asynchronous parts' summaries.
#[derive(Serialize, Debug, Clone, Default, utoipa::ToSchema)]
pub struct DurationSummary {
    /// Taking the state.
    pub sync: StatsSummary,
    /// Writing it.
    pub r#async: StatsSummary,
}

/// The alignment's summaries.
#[derive(Serialize, Debug, Clone, Default, utoipa::ToSchema)]
pub struct AlignmentSummary {
    /// Always 0.
    pub buffered: StatsSummary,
    /// Bytes processed while aligning.
    pub processed: StatsSummary,
    /// In-flight bytes persisted.
    pub persisted: StatsSummary,
    /// First barrier to snapshot.
    pub duration: StatsSummary,
}

/// One subtask (Flink's `SubtaskCheckpointStatistics`): `completed` with its figures, or
/// `pending_or_failed` with its index only.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct SubtaskCheckpointStatistics {
    /// `completed` or `pending_or_failed`.
    #[serde(rename = "className")]
    pub class_name: &'static str,
    /// Its index.
    pub index: usize,
    /// `completed` or `pending_or_failed`.
    pub status: &'static str,
    /// Its figures, once it acknowledged.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub completed: Option<CompletedSubtask>,
}

/// An acknowledged subtask's figures (Flink's `CompletedSubtaskCheckpointStatistics`).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct CompletedSubtask {
    /// When its acknowledgement came.
    pub ack_timestamp: i64,
    /// Trigger to acknowledgement.
    pub end_to_end_duration: u64,
    /// Bytes written.
    pub checkpointed_size: u64,
    /// Its state.
    pub state_size: u64,
    /// The synchronous and asynchronous parts.
    pub checkpoint: SubtaskDuration,
    /// The alignment.
    pub alignment: SubtaskAlignment,
    /// Trigger to first barrier.
    pub start_delay: u64,
    /// Taken unaligned.
    pub unaligned_checkpoint: bool,
    /// Always false: an aborted checkpoint has no acknowledgements.
    pub aborted: bool,
    /// The TaskManager that ran it (Rill's).
    pub taskmanager: Option<String>,
}

/// A subtask's synchronous and asynchronous parts (ms).
#[derive(Serialize, Debug, Clone, Copy, utoipa::ToSchema)]
pub struct SubtaskDuration {
    /// Taking the state.
    pub sync: u64,
    /// Writing it.
    pub r#async: u64,
}

/// A subtask's alignment.
#[derive(Serialize, Debug, Clone, Copy, utoipa::ToSchema)]
pub struct SubtaskAlignment {
    /// Always 0.
    pub buffered: u64,
    /// Bytes processed while aligning.
    pub processed: u64,
    /// In-flight bytes persisted.
    pub persisted: u64,
    /// First barrier to snapshot (ms).
    pub duration: u64,
}

impl TaskCheckpointDetails {
    /// Vertex `v`'s (by its index in the job graph) part in `r`; `None` if `r` has no such
    /// vertex.
    pub fn new(r: &CheckpointRecord, v: usize) -> Option<Self> {
        let subtasks = r.tasks.get(v)?;
        let vertex = VertexCheckpointStats::of(subtasks);
        let acked: Vec<&SubtaskCheckpointStats> = subtasks.iter().flatten().collect();
        let of = |f: &dyn Fn(&SubtaskCheckpointStats) -> u64| {
            StatsSummary::of(acked.iter().map(|s| f(s)))
        };
        let trigger = r.trigger_timestamp;
        Some(Self {
            task: TaskCheckpointStatistics::new(r, &vertex),
            summary: SubtasksSummary {
                checkpointed_size: of(&|s| s.checkpointed_size),
                state_size: of(&|s| s.state_size),
                end_to_end_duration: of(&|s| s.end_to_end_ms(trigger)),
                checkpoint_duration: DurationSummary {
                    sync: of(&|s| s.figures.sync_ms),
                    r#async: of(&|s| s.figures.async_ms),
                },
                alignment: AlignmentSummary {
                    buffered: of(&|_| 0),
                    processed: of(&|s| s.figures.processed_bytes),
                    persisted: of(&|s| s.figures.persisted_bytes),
                    duration: of(&|s| s.figures.alignment_ms),
                },
                start_delay: of(&|s| s.figures.start_delay_ms),
            },
            subtasks: subtasks
                .iter()
                .enumerate()
                .map(|(index, s)| SubtaskCheckpointStatistics::new(index, s.as_ref(), trigger))
                .collect(),
        })
    }
}

impl SubtaskCheckpointStatistics {
    /// Subtask `index`, acknowledged with `s` (or not) for a checkpoint triggered at
    /// `trigger`.
    pub fn new(index: usize, s: Option<&SubtaskCheckpointStats>, trigger: i64) -> Self {
        let class_name = if s.is_some() {
            "completed"
        } else {
            "pending_or_failed"
        };
        Self {
            class_name,
            index,
            status: class_name,
            completed: s.map(|s| CompletedSubtask {
                ack_timestamp: s.ack_timestamp,
                end_to_end_duration: s.end_to_end_ms(trigger),
                checkpointed_size: s.checkpointed_size,
                state_size: s.state_size,
                checkpoint: SubtaskDuration {
                    sync: s.figures.sync_ms,
                    r#async: s.figures.async_ms,
                },
                alignment: SubtaskAlignment {
                    buffered: 0,
                    processed: s.figures.processed_bytes,
                    persisted: s.figures.persisted_bytes,
                    duration: s.figures.alignment_ms,
                },
                start_delay: s.figures.start_delay_ms,
                unaligned_checkpoint: s.figures.unaligned,
                aborted: false,
                taskmanager: s.taskmanager.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
