//! What status queries learn about a job: the Dispatcher's [`JobInfo`] (Flink's
//! `JobDetailsInfo`) with one [`VertexInfo`] per JobVertex, and Flink's rule for a vertex's
//! aggregate state.
//!
//! ## Where the subtask states come from
//! While a job runs its JobMaster owns the ExecutionGraph, so the Dispatcher asks it; when the
//! job ends the JobMaster hands its final subtask states to the Dispatcher
//! ([`ArchiveJobDetails`](crate::actors::dispatcher::ArchiveJobDetails)) before it stops, and the
//! Dispatcher answers from those for as long as it keeps the job in its history.

use std::time::{Duration, SystemTime};

use crate::api::RuntimeMode;
use crate::graph::{ExecutionState, JobGraph, JobStatus};
use crate::ids::{JobId, VertexId};
use crate::metrics::IoCounters;

/// One subtask as status queries show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtaskInfo {
    /// Its state.
    pub state: ExecutionState,
    /// Its current attempt's number.
    pub attempt: u32,
    /// The TaskManager it runs on, once placed.
    pub task_manager: Option<String>,
    /// Its I/O counters, as last reported.
    pub io: IoCounters,
    /// Its rates, as its TaskManager last sampled them.
    pub rates: Option<crate::metrics::TaskRates>,
}

impl SubtaskInfo {
    /// A subtask not yet scheduled.
    pub fn created() -> Self {
        Self {
            state: ExecutionState::Created,
            attempt: 0,
            task_manager: None,
            io: IoCounters::default(),
            rates: None,
        }
    }
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A subtask's own error or panic.
    TaskFailure,
    /// The TaskManager running the subtask was lost.
    TaskManagerLost,
    /// The job as a whole (too many failed checkpoints, no slots).
    JobFailure,
}

impl FailureKind {
    /// The name the exception history shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaskFailure => "TaskFailure",
            Self::TaskManagerLost => "TaskManagerLost",
            Self::JobFailure => "JobFailure",
        }
    }
}

/// What a job's failures left: its exception history and how often it restarted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureRecord {
    /// The exception history, oldest first (at most the newest 16 entries).
    pub exceptions: Vec<JobException>,
    /// Older history entries that were dropped.
    pub dropped: usize,
    /// How many times the job (or a region of it) restarted, Flink's `numRestarts`.
    pub restarts: u64,
    /// The restart strategy's budget when this record was taken.
    pub budget: Option<crate::graph::restart::RestartBudget>,
}

/// One failure of a job, as its exception history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobException {
    /// When it was reported.
    pub timestamp: SystemTime,
    /// The kind of failure.
    pub kind: FailureKind,
    /// What happened (with the failed subtask, as the job's failure cause reads).
    pub message: String,
    /// The failed subtask (`name (i/p)`), if one failed.
    pub task: Option<String>,
    /// The TaskManager it ran on.
    pub task_manager: Option<String>,
    /// What the job did about it: RESTARTING (after `restart_delay`) or FAILING.
    pub outcome: JobStatus,
    /// The wait before the restart.
    pub restart_delay: Option<Duration>,
    /// How many subtasks restarted (all of the job's, or one region's).
    pub restarted_subtasks: Option<usize>,
    /// Failures reported while this one was being handled (part of the same failover).
    pub concurrent: Vec<JobException>,
}

/// One JobVertex as status queries show it.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexInfo {
    /// The vertex.
    pub id: VertexId,
    /// Its chained operators' names.
    pub name: String,
    /// Its parallelism.
    pub parallelism: usize,
    /// Its max parallelism.
    pub max_parallelism: usize,
    /// Its subtasks, by subtask index.
    pub subtasks: Vec<SubtaskInfo>,
}

impl VertexInfo {
    /// The vertices of `graph`, every subtask CREATED.
    pub fn from_job_graph(graph: &JobGraph) -> Vec<VertexInfo> {
        graph
            .vertices
            .iter()
            .map(|v| VertexInfo {
                id: v.id,
                name: v.name.clone(),
                parallelism: v.parallelism,
                max_parallelism: v.max_parallelism,
                subtasks: vec![SubtaskInfo::created(); v.parallelism],
            })
            .collect()
    }

    /// How many subtasks are in `state`.
    pub fn count(&self, state: ExecutionState) -> usize {
        self.subtasks.iter().filter(|s| s.state == state).count()
    }

    /// The vertex's state as Flink aggregates it: any failed subtask makes it FAILED, then
    /// CANCELING, CANCELED, INITIALIZING and RUNNING win in that order; it is FINISHED only when
    /// every subtask finished (RUNNING while some still run), and CREATED, SCHEDULED or
    /// DEPLOYING when no subtask got further (the furthest of those).
    pub fn state(&self) -> ExecutionState {
        use ExecutionState::*;
        for s in [Failed, Canceling, Canceled, Initializing, Running] {
            if self.count(s) > 0 {
                return s;
            }
        }
        let finished = self.count(Finished);
        if finished > 0 {
            return if finished == self.subtasks.len() {
                Finished
            } else {
                Running
            };
        }
        for s in [Deploying, Scheduled] {
            if self.count(s) > 0 {
                return s;
            }
        }
        Created
    }
}

/// A job as status queries show it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// The job.
    pub job_id: JobId,
    /// Its name.
    pub name: String,
    /// Streaming or batch.
    pub job_type: RuntimeMode,
    /// Its status.
    pub status: JobStatus,
    /// The first failure's cause, for a failing or failed job.
    pub failure: Option<String>,
    /// When the failure was reported.
    pub failure_time: Option<SystemTime>,
    /// When it was submitted.
    pub start_time: SystemTime,
    /// When it reached a terminal status.
    pub end_time: Option<SystemTime>,
    /// When its status last changed.
    pub last_modification: SystemTime,
    /// How long it has run (until now, or until its end).
    pub duration: Duration,
    /// Its vertices in topological order.
    pub vertices: Vec<VertexInfo>,
    /// Its exception history and restarts.
    pub failures: FailureRecord,
}

impl JobInfo {
    /// Subtasks in `state` over all vertices.
    pub fn count(&self, state: ExecutionState) -> usize {
        self.vertices.iter().map(|v| v.count(state)).sum()
    }

    /// Subtasks in all.
    pub fn total_subtasks(&self) -> usize {
        self.vertices.iter().map(|v| v.subtasks.len()).sum()
    }

    /// Sets every vertex's subtasks from `states` (name and subtasks per vertex, in the
    /// vertices' order, as the JobMaster reports them). A vertex the report lacks, or one
    /// whose report has the wrong number of subtasks, keeps its subtasks.
    pub fn apply_states(&mut self, states: &[(String, Vec<SubtaskInfo>)]) {
        apply_states(&mut self.vertices, states);
    }
}

/// Sets `vertices`' subtasks from a JobMaster's report (see [`JobInfo::apply_states`]).
pub fn apply_states(vertices: &mut [VertexInfo], states: &[(String, Vec<SubtaskInfo>)]) {
    for (v, (_, s)) in vertices.iter_mut().zip(states) {
        if s.len() == v.subtasks.len() {
            v.subtasks.clone_from(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionState::*;

    fn sub(state: ExecutionState) -> SubtaskInfo {
        SubtaskInfo {
            state,
            ..SubtaskInfo::created()
        }
    }

    fn vertex(subtasks: &[ExecutionState]) -> VertexInfo {
        VertexInfo {
            id: VertexId(1),
            name: "v".into(),
            parallelism: subtasks.len(),
            max_parallelism: 128,
            subtasks: subtasks.iter().copied().map(sub).collect(),
        }
    }

    fn states(v: &VertexInfo) -> Vec<ExecutionState> {
        v.subtasks.iter().map(|s| s.state).collect()
    }

    #[test]
    fn aggregate_state_follows_flinks_precedence() {
        assert_eq!(vertex(&[Running, Failed, Finished]).state(), Failed);
        assert_eq!(vertex(&[Canceled, Canceling]).state(), Canceling);
        assert_eq!(vertex(&[Canceled, Finished]).state(), Canceled);
        assert_eq!(vertex(&[Running, Deploying]).state(), Running);
        assert_eq!(vertex(&[Finished, Finished]).state(), Finished);
        assert_eq!(vertex(&[Finished, Deploying]).state(), Running);
        assert_eq!(vertex(&[Created, Scheduled]).state(), Scheduled);
        assert_eq!(vertex(&[Created, Deploying]).state(), Deploying);
        assert_eq!(vertex(&[Created]).state(), Created);
    }

    #[test]
    fn reported_states_apply_only_where_the_shape_matches() {
        let mut info = JobInfo {
            job_id: JobId(1),
            name: "j".into(),
            job_type: RuntimeMode::Streaming,
            status: JobStatus::Running,
            failure: None,
            failure_time: None,
            start_time: SystemTime::UNIX_EPOCH,
            end_time: None,
            last_modification: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            vertices: vec![vertex(&[Created, Created]), vertex(&[Created])],
            failures: FailureRecord::default(),
        };
        info.apply_states(&[
            ("a".into(), vec![sub(Running), sub(Finished)]),
            ("b".into(), vec![sub(Running), sub(Running)]),
        ]);
        assert_eq!(states(&info.vertices[0]), [Running, Finished]);
        assert_eq!(states(&info.vertices[1]), [Created], "wrong shape ignored");
        assert_eq!(info.count(Running), 1);
        assert_eq!(info.total_subtasks(), 3);
    }
}
