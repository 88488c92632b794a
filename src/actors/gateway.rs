//! Location-transparent addresses of the actors that talk across processes (Flink's gateways).
//! Code sends to a gateway; whether the actor is in this process (an actix `Addr`) or behind a
//! QUIC connection ([`RemotePeer`]) is decided here, once, not at every call site.

use std::net::SocketAddr;

use actix::Addr;

use crate::actors::job_master::{JobMaster, OfferSlots, SlotOffer};
use crate::actors::resource_manager::{RegisterTaskManager, ResourceManager, SlotAvailable};
use crate::actors::task_manager::{
    CancelDeployedTask, CheckpointResponse, DeployTask, FreeSlot, NotifyJobCheckpointComplete,
    RequestSlot, RequestTaskIo, TaskManager, TriggerTaskCheckpoint, UpdateTaskExecutionState,
};
use crate::checkpoint::CheckpointBarrier;
use crate::graph::TaskDeploymentDescriptor;
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, TaskManagerId};
use crate::metrics::IoCounters;
use crate::net::rpc::{LocalFuture, RemotePeer, Reply, Request};

/// A TaskManager, as the JobManager's actors address it.
#[derive(Clone, Debug)]
pub enum TaskManagerGateway {
    /// In this process.
    Local(Addr<TaskManager>),
    /// In another process.
    Remote {
        /// Its connection.
        peer: RemotePeer,
        /// Where it accepts data channels.
        data_address: SocketAddr,
    },
}

impl TaskManagerGateway {
    /// Where the TaskManager accepts data channels; `None` in this process.
    pub fn data_address(&self) -> Option<SocketAddr> {
        match self {
            Self::Local(_) => None,
            Self::Remote { data_address, .. } => Some(*data_address),
        }
    }

    /// The remote connection, if any.
    pub fn peer(&self) -> Option<&RemotePeer> {
        match self {
            Self::Local(_) => None,
            Self::Remote { peer, .. } => Some(peer),
        }
    }

    /// Whether a TaskManager in this process has stopped (it cannot answer heartbeats; one in
    /// another process is watched through its connection instead).
    pub fn is_stopped_local(&self) -> bool {
        match self {
            Self::Local(tm) => !tm.connected(),
            Self::Remote { .. } => false,
        }
    }

    /// Allocates `slot` to `job_id`; the TaskManager then offers it to the job's JobMaster.
    pub fn request_slot(
        &self,
        allocation: AllocationId,
        slot: usize,
        job_id: JobId,
        job_master: Addr<JobMaster>,
    ) {
        match self {
            Self::Local(tm) => tm.do_send(RequestSlot {
                allocation,
                slot,
                job_id,
                job_master: JobMasterGateway::Local(job_master),
            }),
            Self::Remote { peer, .. } => peer.tell(Request::RequestSlot {
                allocation,
                slot,
                job_id,
            }),
        }
    }

    /// Deploys a subtask; resolves to the TaskManager's refusal, if any.
    pub fn deploy(&self, tdd: TaskDeploymentDescriptor) -> LocalFuture<Result<(), String>> {
        match self {
            Self::Local(tm) => {
                let fut = tm.send(DeployTask { tdd });
                Box::pin(async move {
                    match fut.await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(format!("TaskManager unreachable: {e}")),
                    }
                })
            }
            Self::Remote { peer, .. } => {
                let peer = peer.clone();
                Box::pin(async move {
                    match peer.call(Request::DeployTask(Box::new(tdd))).await {
                        Ok(Reply::Ack) => Ok(()),
                        Ok(Reply::Error(e)) => Err(e),
                        Ok(other) => Err(format!("unexpected reply to DeployTask: {other:?}")),
                        Err(e) => Err(format!("TaskManager {} unreachable: {e}", peer.node_id())),
                    }
                })
            }
        }
    }

    /// Starts a checkpoint at a source subtask (`stop`: stop-with-savepoint, draining or not).
    pub fn trigger_checkpoint(
        &self,
        attempt: ExecutionAttemptId,
        barrier: CheckpointBarrier,
        stop: Option<bool>,
    ) {
        match self {
            Self::Local(tm) => tm.do_send(TriggerTaskCheckpoint {
                attempt,
                barrier,
                stop,
            }),
            Self::Remote { peer, .. } => peer.tell(Request::TriggerCheckpoint {
                attempt,
                barrier,
                stop,
            }),
        }
    }

    /// Tells the job's subtasks on this TaskManager that a checkpoint completed (or, with
    /// `aborted`, failed).
    pub fn notify_checkpoint_complete(&self, job_id: JobId, checkpoint_id: u64, aborted: bool) {
        match self {
            Self::Local(tm) => tm.do_send(NotifyJobCheckpointComplete {
                job_id,
                checkpoint_id,
                aborted,
            }),
            Self::Remote { peer, .. } => peer.tell(Request::NotifyCheckpointComplete {
                job_id,
                checkpoint_id,
                aborted,
            }),
        }
    }

    /// Cancels a subtask.
    pub fn cancel_task(&self, attempt: ExecutionAttemptId) {
        match self {
            Self::Local(tm) => tm.do_send(CancelDeployedTask { attempt }),
            Self::Remote { peer, .. } => peer.tell(Request::CancelTask { attempt }),
        }
    }

    /// The I/O counters of `job_id`'s subtasks on the TaskManager, by attempt; empty when it
    /// does not answer.
    pub fn task_io(&self, job_id: JobId) -> LocalFuture<Vec<(ExecutionAttemptId, IoCounters)>> {
        match self {
            Self::Local(tm) => {
                let fut = tm.send(RequestTaskIo { job_id });
                Box::pin(async move { fut.await.unwrap_or_default() })
            }
            Self::Remote { peer, .. } => {
                let peer = peer.clone();
                Box::pin(async move {
                    match peer.call(Request::RequestTaskIo { job_id }).await {
                        Ok(Reply::TaskIo(io)) => io,
                        _ => Vec::new(),
                    }
                })
            }
        }
    }

    /// Releases a slot.
    pub fn free_slot(&self, allocation: AllocationId) {
        match self {
            Self::Local(tm) => tm.do_send(FreeSlot { allocation }),
            Self::Remote { peer, .. } => peer.tell(Request::FreeSlot { allocation }),
        }
    }
}

/// A JobMaster, as a TaskManager addresses it.
#[derive(Clone, Debug)]
pub enum JobMasterGateway {
    /// In this process.
    Local(Addr<JobMaster>),
    /// Behind the connection to the JobManager.
    Remote(RemotePeer),
}

impl JobMasterGateway {
    /// Whether messages can still reach it.
    pub fn is_alive(&self) -> bool {
        match self {
            Self::Local(jm) => jm.connected(),
            Self::Remote(peer) => peer.is_open(),
        }
    }

    /// Offers slots of `tm` to the job.
    pub fn offer_slots(
        &self,
        job_id: JobId,
        task_manager: TaskManagerId,
        tm: Addr<TaskManager>,
        offers: Vec<SlotOffer>,
    ) {
        match self {
            Self::Local(jm) => jm.do_send(OfferSlots {
                task_manager,
                address: TaskManagerGateway::Local(tm),
                offers,
            }),
            Self::Remote(peer) => peer.tell(Request::OfferSlots {
                job_id,
                task_manager,
                offers,
            }),
        }
    }

    /// Reports a subtask's new state.
    pub fn update(&self, msg: UpdateTaskExecutionState) {
        match self {
            Self::Local(jm) => jm.do_send(msg),
            Self::Remote(peer) => peer.tell(Request::UpdateTaskExecutionState(msg)),
        }
    }

    /// Reports a subtask's answer to a checkpoint.
    pub fn checkpoint_response(&self, msg: CheckpointResponse) {
        match self {
            Self::Local(jm) => jm.do_send(msg),
            Self::Remote(peer) => peer.tell(Request::CheckpointResponse(msg)),
        }
    }
}

/// The ResourceManager, as a TaskManager addresses it.
#[derive(Clone, Debug)]
pub enum ResourceManagerGateway {
    /// In this process.
    Local(Addr<ResourceManager>),
    /// Behind the connection to the JobManager.
    Remote(RemotePeer),
}

impl ResourceManagerGateway {
    /// Registers the TaskManager; resolves to the ResourceManager's id.
    pub fn register(
        &self,
        id: TaskManagerId,
        tm: Addr<TaskManager>,
        slots: usize,
        data_address: Option<SocketAddr>,
    ) -> LocalFuture<Result<String, String>> {
        match self {
            Self::Local(rm) => {
                let fut = rm.send(RegisterTaskManager {
                    id,
                    address: TaskManagerGateway::Local(tm),
                    slots,
                });
                Box::pin(async move {
                    fut.await
                        .map(|ack| ack.resource_manager)
                        .map_err(|e| e.to_string())
                })
            }
            Self::Remote(peer) => {
                let peer = peer.clone();
                Box::pin(async move {
                    let Some(data_address) = data_address else {
                        return Err("a remote TaskManager needs a data address".into());
                    };
                    match peer
                        .call(Request::RegisterTaskManager {
                            id,
                            data_address,
                            slots,
                        })
                        .await
                    {
                        Ok(Reply::Registered { resource_manager }) => Ok(resource_manager),
                        Ok(Reply::Error(e)) => Err(e),
                        Ok(other) => Err(format!("unexpected reply: {other:?}")),
                        Err(e) => Err(e.to_string()),
                    }
                })
            }
        }
    }

    /// A slot of `task_manager` is free again.
    pub fn slot_available(&self, task_manager: TaskManagerId, allocation: AllocationId) {
        match self {
            Self::Local(rm) => rm.do_send(SlotAvailable { allocation }),
            Self::Remote(peer) => peer.tell(Request::SlotAvailable {
                task_manager,
                allocation,
            }),
        }
    }
}
