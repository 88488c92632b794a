//! The TaskManager's messages: what the JobManager's actors send it (remote messages, declared
//! with their handlers in the parent module) and what its subtasks report through it.

use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::actors::job_master::JobMaster;
use crate::actors::remote::ActorInfo;
use crate::actors::remote::ActorRef;
use crate::actors::subtask::figures::SubtaskIdentity;
use crate::actors::subtask::Subtask;
use crate::actors::task_plan::PlanError;
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::ids::{AllocationId, ExecutionAttemptId, JobId};
use crate::metrics::{IoCounters, IoMetrics};

/// The ResourceManager assigns one of this TaskManager's slots to a job.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct RequestSlot {
    /// The allocation.
    pub allocation: AllocationId,
    /// Which slot.
    pub slot: usize,
    /// The job.
    pub job_id: JobId,
    /// The job's JobMaster, to offer the slot to.
    pub job_master: ActorRef<JobMaster>,
}

/// The ResourceManager asks whether the TaskManager is alive (and still registered with it).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Result<HeartbeatAck, NotRegistered>")]
pub struct Heartbeat {
    /// The ResourceManager's id.
    pub resource_manager: String,
}

/// A heartbeat from a ResourceManager the TaskManager is not registered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{task_manager} is not registered with ResourceManager {resource_manager}")]
pub struct NotRegistered {
    /// The TaskManager.
    pub task_manager: String,
    /// The ResourceManager that sent the heartbeat.
    pub resource_manager: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// Subtasks running on the TaskManager.
    pub tasks: usize,
    /// Its process's memory and threads.
    #[serde(default)]
    pub process: Option<crate::metrics::process::ProcessStats>,
}

/// Runs a subtask; answers the TaskManager's refusal, if any.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Result<(), DeployError>")]
pub struct DeployTask {
    /// What to run.
    pub tdd: TaskDeploymentDescriptor,
}

/// Why a deployment was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DeployError {
    /// The slot is not allocated to this job here.
    #[error("no slot with allocation {0} for this job on this TaskManager")]
    NoSuchSlot(AllocationId),
    /// The program could not be obtained (the [`PlanError`], as text: it crosses processes).
    #[error("{0}")]
    Plan(String),
    /// The slot's thread is gone.
    #[error("the slot's thread has stopped")]
    SlotStopped,
    /// The TaskManager could not be asked.
    #[error("TaskManager unreachable: {0}")]
    Unreachable(crate::net::rpc::RemoteError),
}

impl From<PlanError> for DeployError {
    fn from(e: PlanError) -> Self {
        Self::Plan(e.to_string())
    }
}

/// Cancels a deployed subtask.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct CancelDeployedTask {
    /// The attempt.
    pub attempt: ExecutionAttemptId,
}

/// A subtask's state changed (subtask → TaskManager → JobMaster).
#[derive(Message, Clone, Debug, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct UpdateTaskExecutionState {
    /// The job.
    pub job_id: JobId,
    /// The attempt.
    pub attempt: ExecutionAttemptId,
    /// Its new state.
    pub state: ExecutionState,
    /// Why it failed.
    pub failure: Option<crate::data::FailureCause>,
    /// Its I/O counters at the change.
    #[serde(default)]
    pub io: Option<IoCounters>,
    /// Not a change of state: the RUNNING subtask has ended its input and waits for the final
    /// checkpoint (see [`crate::actors::subtask`]).
    #[serde(default)]
    pub input_ended: bool,
}

/// A subtask's answer to a checkpoint (subtask → TaskManager → JobMaster): its state file, or
/// why it declined.
#[derive(Message, Clone, Debug, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct CheckpointResponse {
    /// The job.
    pub job_id: JobId,
    /// The attempt.
    pub attempt: ExecutionAttemptId,
    /// The checkpoint.
    pub checkpoint_id: u64,
    /// Acknowledged with its state file (`None`: no state), or declined with the reason.
    pub result: Result<Option<crate::checkpoint::storage::StateHandle>, String>,
    /// Declined because the subtask no longer runs (its input ended): not a failure.
    #[serde(default)]
    pub not_running: bool,
    /// What the subtask measured of the checkpoint (with an acknowledgement).
    #[serde(default)]
    pub figures: crate::checkpoint::figures::SubtaskCheckpointFigures,
}

/// A source subtask's watermark, for watermark alignment
/// ([`crate::eventtime::alignment`]; subtask → TaskManager → JobMaster).
#[derive(Message, Clone, Debug, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct ReportWatermark {
    /// The job.
    pub job_id: JobId,
    /// The reporting subtask (its vertex and index).
    pub source: String,
    /// Its alignment group.
    pub group: String,
    /// The drift the group allows, ms.
    pub max_drift_ms: i64,
    /// Its watermark.
    pub watermark: crate::eventtime::alignment::ReportedWatermark,
}

/// How far an alignment group's sources may run now (JobMaster → TaskManager → the job's
/// subtasks).
#[derive(Message, Clone, Debug, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct AnnounceMaxWatermark {
    /// The job.
    pub job_id: JobId,
    /// The alignment group.
    pub group: String,
    /// The highest watermark its sources may be polled at.
    pub max_allowed: crate::eventtime::Timestamp,
}

/// The JobMaster starts a checkpoint at a source subtask (JobMaster → TaskManager → subtask).
#[derive(Message, Clone, Debug, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct TriggerTaskCheckpoint {
    /// The source subtask's attempt.
    pub attempt: ExecutionAttemptId,
    /// The barrier to inject.
    pub barrier: crate::checkpoint::CheckpointBarrier,
    /// Stop-with-savepoint: `Some(drain)` stops the source before the barrier (after the
    /// maximum watermark when draining); it ends once the savepoint completes.
    pub stop: Option<bool>,
}

/// A checkpoint of a job completed (JobMaster → TaskManager → the job's subtasks).
#[derive(Message, Clone, Debug, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct NotifyJobCheckpointComplete {
    /// The job.
    pub job_id: JobId,
    /// The checkpoint.
    pub checkpoint_id: u64,
    /// It failed instead (a source stopped for it resumes).
    pub aborted: bool,
}

/// A deployed subtask has started on its slot (subtask → TaskManager), before it reports any
/// state, so a cancellation either finds it or is applied when it starts.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TaskStarted {
    /// The attempt.
    pub attempt: ExecutionAttemptId,
    /// The job.
    pub job_id: JobId,
    /// The subtask.
    pub address: Addr<Subtask>,
    /// Its I/O counters.
    pub metrics: Arc<IoMetrics>,
    /// Which subtask it is (for the TaskManager's own metrics).
    pub identity: SubtaskIdentity,
}

/// The JobMaster releases a slot.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct FreeSlot {
    /// The allocation.
    pub allocation: AllocationId,
}

/// Stops the TaskManager and its slot threads.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// One subtask's counters and rates, as its TaskManager reports them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskIo {
    /// The attempt.
    pub attempt: ExecutionAttemptId,
    /// Its counters now.
    pub io: IoCounters,
    /// Its rates over the TaskManager's last sampling period (none before the first).
    pub rates: Option<crate::metrics::TaskRates>,
}

/// Asks for the counters and rates of a job's subtasks running here.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Vec<TaskIo>")]
pub struct RequestTaskIo {
    /// The job.
    pub job_id: JobId,
}

/// Asks a TaskManager for its node's actors and their figures (the JobManager gathers every
/// node's for `GET /actors`).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Vec<ActorInfo>")]
pub struct RequestActors;

/// Asks a TaskManager for its process's recent log lines.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "LogLines")]
pub struct RequestLog;

/// A process's recent log lines, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogLines {
    /// The lines.
    pub lines: Vec<String>,
    /// Their bytes.
    pub bytes: usize,
}

/// One subtask's figures as the TaskManager's own `/metrics` shows them.
#[derive(Debug, Clone)]
pub struct TaskFigures {
    /// Which subtask.
    pub identity: SubtaskIdentity,
    /// Its counters now.
    pub io: IoCounters,
    /// Its rates over the last sampling period.
    pub rates: Option<crate::metrics::TaskRates>,
}

/// Asks the TaskManager (in its own process) for all its subtasks' figures.
#[derive(Message, Debug, Clone)]
#[rtype(result = "TaskManagerFigures")]
pub struct RequestTaskManagerFigures;

/// What a TaskManager's own `/metrics` shows.
#[derive(Debug, Clone, Default)]
pub struct TaskManagerFigures {
    /// Its id.
    pub id: String,
    /// Its slots.
    pub slots: usize,
    /// Slots allocated to jobs.
    pub slots_used: usize,
    /// Its subtasks.
    pub tasks: Vec<TaskFigures>,
}
