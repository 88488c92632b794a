//! A TaskManager as the JobManager's actors address it (Flink's TaskExecutorGateway): its actor
//! reference, which reaches it the same way in this process or another, and where it accepts
//! data channels. The methods name what the JobManager asks of a TaskManager; each is one
//! message through the reference.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::actors::job_master::JobMaster;
use crate::actors::remote::{ActorInfo, ActorRef};
use crate::actors::task_manager::{
    AnnounceMaxWatermark, CancelDeployedTask, DeployError, DeployTask, FreeSlot, LogLines,
    NotifyJobCheckpointComplete, RequestActors, RequestLog, RequestSlot, RequestTaskIo, TaskIo,
    TaskManager, TriggerTaskCheckpoint,
};
use crate::checkpoint::CheckpointBarrier;
use crate::graph::TaskDeploymentDescriptor;
use crate::ids::{AllocationId, ExecutionAttemptId, JobId};
use crate::net::rpc::{LocalFuture, RemoteError, RemotePeer};

/// A TaskManager, as the JobManager's actors address it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskManagerGateway {
    /// The TaskManager actor.
    pub actor: ActorRef<TaskManager>,
    /// Where it accepts data channels; `None` in the JobManager's process.
    pub data_address: Option<SocketAddr>,
}

impl TaskManagerGateway {
    /// Where the TaskManager accepts data channels; `None` in this process.
    pub fn data_address(&self) -> Option<SocketAddr> {
        self.data_address
    }

    /// The connection it is reached through, when in another process.
    pub fn peer(&self) -> Option<&RemotePeer> {
        self.actor.peer()
    }

    /// Allocates `slot` to `job_id`; the TaskManager then offers it to the job's JobMaster.
    pub fn request_slot(
        &self,
        allocation: AllocationId,
        slot: usize,
        job_id: JobId,
        job_master: ActorRef<JobMaster>,
    ) {
        self.actor.tell_or_log(RequestSlot {
            allocation,
            slot,
            job_id,
            job_master,
        });
    }

    /// Deploys a subtask; resolves to the TaskManager's refusal, if any.
    pub fn deploy(&self, tdd: TaskDeploymentDescriptor) -> LocalFuture<Result<(), DeployError>> {
        let fut = self.actor.ask(DeployTask { tdd });
        Box::pin(async move { fut.await.map_err(DeployError::Unreachable)? })
    }

    /// Starts a checkpoint at a subtask (`stop`: stop-with-savepoint, draining or not).
    pub fn trigger_checkpoint(
        &self,
        attempt: ExecutionAttemptId,
        barrier: CheckpointBarrier,
        stop: Option<bool>,
    ) {
        self.actor.tell_or_log(TriggerTaskCheckpoint {
            attempt,
            barrier,
            stop,
        });
    }

    /// Tells the job's subtasks on this TaskManager that a checkpoint completed (or, with
    /// `aborted`, failed).
    pub fn notify_checkpoint_complete(&self, job_id: JobId, checkpoint_id: u64, aborted: bool) {
        self.actor.tell_or_log(NotifyJobCheckpointComplete {
            job_id,
            checkpoint_id,
            aborted,
        });
    }

    /// Tells the job's subtasks on this TaskManager how far the sources of an alignment group
    /// may run.
    pub fn announce_max_watermark(&self, job_id: JobId, group: &str, max_allowed: i64) {
        self.actor.tell_or_log(AnnounceMaxWatermark {
            job_id,
            group: group.to_string(),
            max_allowed,
        });
    }

    /// Cancels a subtask.
    pub fn cancel_task(&self, attempt: ExecutionAttemptId) {
        self.actor.tell_or_log(CancelDeployedTask { attempt });
    }

    /// The counters and rates of `job_id`'s subtasks on the TaskManager; empty when it does
    /// not answer.
    pub fn task_io(&self, job_id: JobId) -> LocalFuture<Vec<TaskIo>> {
        let fut = self.actor.ask(RequestTaskIo { job_id });
        Box::pin(async move { fut.await.unwrap_or_default() })
    }

    /// The actors of the TaskManager's node and their figures.
    pub fn actors(&self) -> LocalFuture<Result<Vec<ActorInfo>, RemoteError>> {
        self.actor.ask(RequestActors)
    }

    /// The TaskManager process's recent log lines.
    pub fn log(&self) -> LocalFuture<Result<LogLines, RemoteError>> {
        self.actor.ask(RequestLog)
    }

    /// Releases a slot.
    pub fn free_slot(&self, allocation: AllocationId) {
        self.actor.tell_or_log(FreeSlot { allocation });
    }
}
