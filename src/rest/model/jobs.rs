//! Bodies about jobs: `/jobs`, `/jobs/overview`, `/jobs/{id}` and `/jobs/{id}/exceptions`.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::actors::job_info::{FailureKind, JobException, JobInfo, VertexInfo};
use crate::api::RuntimeMode;
use crate::graph::{ExecutionState, JobStatus};
use crate::metrics::IoCounters;
use crate::rest::model::epoch_millis;

fn millis_or_unset(t: Option<SystemTime>) -> i64 {
    t.map_or(-1, epoch_millis)
}

/// A job's duration in ms: `end-time - start-time` once it ended (as Flink defines it), else
/// how long it has run so far.
fn duration_millis(j: &JobInfo) -> i64 {
    match j.end_time {
        Some(end) => epoch_millis(end) - epoch_millis(j.start_time),
        None => i64::try_from(j.duration.as_millis()).unwrap_or(i64::MAX),
    }
}

/// One job in `GET /jobs`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobIdWithStatus {
    /// The job's id.
    pub id: String,
    /// Its status.
    pub status: JobStatus,
}

/// `GET /jobs`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobIdsWithStatus {
    /// Every job.
    pub jobs: Vec<JobIdWithStatus>,
}

fn counts(states: impl Iterator<Item = ExecutionState>) -> StateCounts {
    let mut c = StateCounts::default();
    for s in states {
        let n = match s {
            ExecutionState::Created => &mut c.created,
            ExecutionState::Scheduled => &mut c.scheduled,
            ExecutionState::Deploying => &mut c.deploying,
            ExecutionState::Initializing => &mut c.initializing,
            ExecutionState::Running => &mut c.running,
            ExecutionState::Finished => &mut c.finished,
            ExecutionState::Canceling => &mut c.canceling,
            ExecutionState::Canceled => &mut c.canceled,
            ExecutionState::Failed => &mut c.failed,
        };
        *n += 1;
    }
    c
}

/// Subtasks (or vertices) per state, under Flink's upper-case state names.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct StateCounts {
    /// CREATED.
    pub created: usize,
    /// SCHEDULED.
    pub scheduled: usize,
    /// DEPLOYING.
    pub deploying: usize,
    /// INITIALIZING.
    pub initializing: usize,
    /// RUNNING.
    pub running: usize,
    /// FINISHED.
    pub finished: usize,
    /// CANCELING.
    pub canceling: usize,
    /// CANCELED.
    pub canceled: usize,
    /// FAILED.
    pub failed: usize,
}

/// A job's subtasks per state in the jobs overview: lower-case names and the total.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct TaskCounts {
    /// CREATED.
    pub created: usize,
    /// SCHEDULED.
    pub scheduled: usize,
    /// DEPLOYING.
    pub deploying: usize,
    /// INITIALIZING.
    pub initializing: usize,
    /// RUNNING.
    pub running: usize,
    /// FINISHED.
    pub finished: usize,
    /// CANCELING.
    pub canceling: usize,
    /// CANCELED.
    pub canceled: usize,
    /// FAILED.
    pub failed: usize,
    /// All subtasks.
    pub total: usize,
}

impl From<StateCounts> for TaskCounts {
    fn from(c: StateCounts) -> Self {
        Self {
            created: c.created,
            scheduled: c.scheduled,
            deploying: c.deploying,
            initializing: c.initializing,
            running: c.running,
            finished: c.finished,
            canceling: c.canceling,
            canceled: c.canceled,
            failed: c.failed,
            total: c.created
                + c.scheduled
                + c.deploying
                + c.initializing
                + c.running
                + c.finished
                + c.canceling
                + c.canceled
                + c.failed,
        }
    }
}

/// One job in `GET /jobs/overview`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct JobOverviewEntry {
    /// The job's id.
    pub jid: String,
    /// Its name.
    pub name: String,
    /// STREAMING or BATCH.
    #[serde(rename = "jobType")]
    pub job_type: RuntimeMode,
    /// Its status.
    pub state: JobStatus,
    /// Submitted (ms since the epoch).
    pub start_time: i64,
    /// Ended (ms since the epoch), or -1.
    pub end_time: i64,
    /// Milliseconds it has run.
    pub duration: i64,
    /// Its status's last change (ms since the epoch).
    pub last_modification: i64,
    /// Its subtasks per state.
    pub tasks: TaskCounts,
}

impl From<&JobInfo> for JobOverviewEntry {
    fn from(j: &JobInfo) -> Self {
        Self {
            jid: j.job_id.to_string(),
            name: j.name.clone(),
            job_type: j.job_type,
            state: j.status,
            start_time: epoch_millis(j.start_time),
            end_time: millis_or_unset(j.end_time),
            duration: duration_millis(j),
            last_modification: epoch_millis(j.last_modification),
            tasks: counts(
                j.vertices
                    .iter()
                    .flat_map(|v| v.subtasks.iter().map(|s| s.state)),
            )
            .into(),
        }
    }
}

/// `GET /jobs/overview`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobsOverview {
    /// Every job, newest first.
    pub jobs: Vec<JobOverviewEntry>,
}

/// One vertex in `GET /jobs/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobVertexDetails {
    /// The vertex's id.
    pub id: String,
    /// Its chained operators' names.
    pub name: String,
    /// Its max parallelism.
    #[serde(rename = "maxParallelism")]
    pub max_parallelism: usize,
    /// Its parallelism.
    pub parallelism: usize,
    /// Its subtasks' aggregate state.
    pub status: ExecutionState,
    /// Its subtasks per state.
    pub tasks: StateCounts,
    /// Its subtasks' I/O counters, summed.
    pub metrics: IoMetricsInfo,
}

impl From<&VertexInfo> for JobVertexDetails {
    fn from(v: &VertexInfo) -> Self {
        Self {
            id: v.id.to_string(),
            name: v.name.clone(),
            max_parallelism: v.max_parallelism,
            parallelism: v.parallelism,
            status: v.state(),
            tasks: counts(v.subtasks.iter().map(|s| s.state)),
            metrics: IoCounters::sum(v.subtasks.iter().map(|s| &s.io)).into(),
        }
    }
}

/// I/O counters under Flink's names. Bytes are the serialized bytes that crossed a process
/// boundary (buffers between subtasks of one process are not serialized; see
/// [`crate::metrics`]). The `-complete` flags say every subtask's counters are included,
/// which they always are here.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct IoMetricsInfo {
    /// Serialized bytes received from other processes.
    pub read_bytes: u64,
    /// Always true.
    pub read_bytes_complete: bool,
    /// Serialized bytes sent to other processes.
    pub write_bytes: u64,
    /// Always true.
    pub write_bytes_complete: bool,
    /// Records read from network inputs.
    pub read_records: u64,
    /// Always true.
    pub read_records_complete: bool,
    /// Records written to network outputs.
    pub write_records: u64,
    /// Always true.
    pub write_records_complete: bool,
    /// Records window operators dropped as late (Flink reports this operator metric,
    /// `numLateRecordsDropped`, through its metrics endpoint; Rill adds it here).
    #[serde(default)]
    pub late_records_dropped: u64,
}

impl From<IoCounters> for IoMetricsInfo {
    fn from(c: IoCounters) -> Self {
        Self {
            read_bytes: c.bytes_in,
            read_bytes_complete: true,
            write_bytes: c.bytes_out,
            write_bytes_complete: true,
            read_records: c.records_in,
            read_records_complete: true,
            write_records: c.records_out,
            write_records_complete: true,
            late_records_dropped: c.late_records_dropped,
        }
    }
}

/// One subtask in `GET /jobs/{id}/vertices/{vertex}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SubtaskDetails {
    /// Its index.
    pub subtask: usize,
    /// Its state.
    pub status: ExecutionState,
    /// Its attempt number.
    pub attempt: u32,
    /// The TaskManager it runs on, once placed.
    pub taskmanager_id: Option<String>,
    /// Its I/O counters.
    pub metrics: IoMetricsInfo,
}

/// `GET /jobs/{id}/vertices/{vertex}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobVertexSubtasks {
    /// The vertex's id.
    pub id: String,
    /// Its chained operators' names.
    pub name: String,
    /// Its parallelism.
    pub parallelism: usize,
    /// Its max parallelism.
    #[serde(rename = "maxParallelism")]
    pub max_parallelism: usize,
    /// The server's time of this answer (ms since the epoch).
    pub now: i64,
    /// Its subtasks by index.
    pub subtasks: Vec<SubtaskDetails>,
}

impl JobVertexSubtasks {
    /// The subtasks of `v` as of `now`.
    pub fn new(v: &VertexInfo, now: SystemTime) -> Self {
        Self {
            id: v.id.to_string(),
            name: v.name.clone(),
            parallelism: v.parallelism,
            max_parallelism: v.max_parallelism,
            now: epoch_millis(now),
            subtasks: v
                .subtasks
                .iter()
                .enumerate()
                .map(|(i, s)| SubtaskDetails {
                    subtask: i,
                    status: s.state,
                    attempt: s.attempt,
                    taskmanager_id: s.task_manager.clone(),
                    metrics: s.io.into(),
                })
                .collect(),
        }
    }
}

/// `GET /jobs/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct JobDetailsInfo {
    /// The job's id.
    pub jid: String,
    /// Its name.
    pub name: String,
    /// STREAMING or BATCH.
    pub job_type: RuntimeMode,
    /// Its status.
    pub state: JobStatus,
    /// Submitted (ms since the epoch).
    pub start_time: i64,
    /// Ended (ms since the epoch), or -1.
    pub end_time: i64,
    /// Milliseconds it has run.
    pub duration: i64,
    /// Its status's last change (ms since the epoch).
    pub last_modification: i64,
    /// The server's time of this answer (ms since the epoch).
    pub now: i64,
    /// The failure's cause for a failing or failed job, else null (Rill's addition).
    pub failure: Option<String>,
    /// How many times the job (or a pipelined region of it) restarted after a failure
    /// (Rill's addition; Flink's job metric `numRestarts`).
    #[serde(default)]
    pub num_restarts: u64,
    /// Its vertices in topological order.
    pub vertices: Vec<JobVertexDetails>,
    /// Vertices per aggregate state.
    pub status_counts: StateCounts,
}

impl JobDetailsInfo {
    /// The details of `j` as of `now`.
    pub fn new(j: &JobInfo, now: SystemTime) -> Self {
        let vertices: Vec<JobVertexDetails> = j.vertices.iter().map(Into::into).collect();
        Self {
            jid: j.job_id.to_string(),
            name: j.name.clone(),
            job_type: j.job_type,
            state: j.status,
            start_time: epoch_millis(j.start_time),
            end_time: millis_or_unset(j.end_time),
            duration: duration_millis(j),
            last_modification: epoch_millis(j.last_modification),
            now: epoch_millis(now),
            failure: j.failure.clone(),
            num_restarts: j.failures.restarts,
            status_counts: counts(vertices.iter().map(|v| v.status)),
            vertices,
        }
    }
}

/// One entry of a job's exception history (Flink's `ExceptionInfo` with Rill's outcome).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionHistoryEntry {
    /// The kind of failure: `TaskFailure`, `TaskManagerLost` or `JobFailure`.
    pub exception_name: String,
    /// Its message (Rill has no stack traces to show).
    pub stacktrace: String,
    /// When it was reported (ms since the epoch).
    pub timestamp: i64,
    /// The failed subtask, `name (i/p)`.
    pub task_name: Option<String>,
    /// The TaskManager it ran on.
    pub task_manager_id: Option<String>,
    /// Labels of the failure (none yet).
    pub failure_labels: std::collections::BTreeMap<String, String>,
    /// Failures reported while this one was handled (newest history entries only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    // A reference to itself: without `no_recursion` gathering the schemas never ends.
    #[schema(no_recursion)]
    pub concurrent_exceptions: Vec<ExceptionHistoryEntry>,
    /// What the job did: RESTARTING or FAILING (absent for concurrent failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// The wait before the restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_delay_ms: Option<u64>,
    /// How many subtasks restarted: all of the job's, or those of the failed one's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_subtasks: Option<usize>,
}

impl ExceptionHistoryEntry {
    fn from(e: &JobException, top: bool) -> Self {
        Self {
            exception_name: e.kind.as_str().to_string(),
            stacktrace: e.message.clone(),
            timestamp: epoch_millis(e.timestamp),
            task_name: e.task.clone(),
            task_manager_id: e.task_manager.clone(),
            failure_labels: Default::default(),
            concurrent_exceptions: e.concurrent.iter().map(|c| Self::from(c, false)).collect(),
            job_status: top.then_some(e.outcome),
            restart_delay_ms: e
                .restart_delay
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            restarted_subtasks: e.restarted_subtasks,
        }
    }
}

/// A job's failures, newest first (as Flink lists them).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ExceptionHistory {
    /// The failures.
    pub entries: Vec<ExceptionHistoryEntry>,
    /// Whether older ones were dropped.
    pub truncated: bool,
}

/// `GET /jobs/{id}/exceptions`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobExceptions {
    /// The job's failure cause, else the newest failure's message, or null.
    #[serde(rename = "root-exception")]
    pub root_exception: Option<String>,
    /// When that was reported (ms since the epoch), or null.
    pub timestamp: Option<i64>,
    /// Whether exceptions were left out.
    pub truncated: bool,
    /// Every failure kept.
    #[serde(rename = "exceptionHistory")]
    pub exception_history: ExceptionHistory,
    /// Rill's addition: the restart strategy and what it would still allow.
    #[serde(
        rename = "restart-strategy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub restart_strategy: Option<RestartStrategyInfo>,
}

/// A job's restart strategy and its budget (in `GET /jobs/{id}/exceptions`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct RestartStrategyInfo {
    /// The strategy with its settings, e.g. `fixed-delay (attempts 3, delay 1000 ms)`.
    pub description: String,
    /// Restarts it granted so far.
    pub restarts: u32,
    /// Restarts it would still grant now (for `failure-rate`: failures the current interval
    /// still tolerates); null where it never gives up (`exponential-delay`).
    #[serde(rename = "remaining-restarts")]
    pub remaining_restarts: Option<u32>,
}

impl From<&JobInfo> for JobExceptions {
    fn from(j: &JobInfo) -> Self {
        let newest = j.failures.exceptions.last();
        let (root_exception, timestamp) = match (&j.failure, newest) {
            (Some(f), _) => (
                Some(f.clone()),
                Some(epoch_millis(
                    j.failure_time.or(j.end_time).unwrap_or(j.last_modification),
                )),
            ),
            (None, Some(e)) => (Some(e.message.clone()), Some(epoch_millis(e.timestamp))),
            (None, None) => (None, None),
        };
        let mut entries: Vec<ExceptionHistoryEntry> = j
            .failures
            .exceptions
            .iter()
            .rev()
            .map(|e| ExceptionHistoryEntry::from(e, true))
            .collect();
        // A job that failed before any subtask did (no slots, an unusable restore point).
        if let (true, Some(f), Some(t)) = (entries.is_empty(), &j.failure, timestamp) {
            entries.push(ExceptionHistoryEntry {
                exception_name: FailureKind::JobFailure.as_str().to_string(),
                stacktrace: f.clone(),
                timestamp: t,
                task_name: None,
                task_manager_id: None,
                failure_labels: Default::default(),
                concurrent_exceptions: Vec::new(),
                job_status: Some(JobStatus::Failed),
                restart_delay_ms: None,
                restarted_subtasks: None,
            });
        }
        Self {
            root_exception,
            timestamp,
            truncated: j.failures.dropped > 0,
            exception_history: ExceptionHistory {
                entries,
                truncated: j.failures.dropped > 0,
            },
            restart_strategy: j.failures.budget.as_ref().map(|b| RestartStrategyInfo {
                description: b.strategy.clone(),
                restarts: b.restarts,
                remaining_restarts: b.remaining,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
