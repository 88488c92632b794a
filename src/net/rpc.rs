//! Actor messages between processes: the wire forms of the control-plane messages, a handle that
//! sends them to a remote node ([`RemotePeer`]), and the loop that serves a connection.
//!
//! ## Streams on a connection
//! - One unidirectional stream per direction carries one-way messages ("tells") in order, so
//!   that, say, RUNNING never overtakes FINISHED for the same subtask.
//! - A request that wants an answer opens its own bidirectional stream: one [`StreamOpen::Call`]
//!   frame, one [`Reply`] frame, with a timeout.
//! - A data channel is a bidirectional stream opened with [`StreamOpen::Partition`]; it lives as
//!   long as the channel (see `net::remote`).
//!
//! Anything that does not decode (garbage, an unknown message type, an oversized frame) closes
//! the connection with a logged reason; it never reaches an actor.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use quinn::{RecvStream, SendStream};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::actors::job_master::SlotOffer;
use crate::actors::task_manager::UpdateTaskExecutionState;
use crate::graph::TaskDeploymentDescriptor;
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, ResultPartitionId, TaskManagerId};
use crate::metrics::IoCounters;
use crate::net::frame::{read_message, write_message, FrameError};
use crate::net::quic::{close, NetError, Peer};

/// The largest control frame (a deployment descriptor is a few KiB).
pub const CONTROL_FRAME_LIMIT: usize = 4 * 1024 * 1024;
/// One-way messages queued for a peer before the connection is judged stuck and closed.
pub const TELL_QUEUE: usize = 4096;

/// A control-plane message.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum Request {
    /// TaskManager → ResourceManager: join the cluster.
    RegisterTaskManager {
        /// The TaskManager.
        id: TaskManagerId,
        /// Where its endpoint accepts data channels.
        data_address: SocketAddr,
        /// Its slots.
        slots: usize,
    },
    /// TaskManager → JobMaster: slots allocated to the job.
    OfferSlots {
        /// The job.
        job_id: JobId,
        /// The TaskManager.
        task_manager: TaskManagerId,
        /// The slots.
        offers: Vec<SlotOffer>,
    },
    /// TaskManager → JobMaster: a subtask changed state.
    UpdateTaskExecutionState(UpdateTaskExecutionState),
    /// TaskManager → ResourceManager: a slot is free again.
    SlotAvailable {
        /// The TaskManager.
        task_manager: TaskManagerId,
        /// The allocation that ended.
        allocation: AllocationId,
    },
    /// ResourceManager → TaskManager: are you there?
    Heartbeat {
        /// The ResourceManager's id.
        resource_manager: String,
    },
    /// ResourceManager → TaskManager: allocate a slot to a job.
    RequestSlot {
        /// The allocation.
        allocation: AllocationId,
        /// The slot.
        slot: usize,
        /// The job.
        job_id: JobId,
    },
    /// JobMaster → TaskManager: run a subtask.
    DeployTask(Box<TaskDeploymentDescriptor>),
    /// JobMaster → TaskManager: cancel a subtask.
    CancelTask {
        /// The attempt.
        attempt: ExecutionAttemptId,
    },
    /// JobMaster → TaskManager: release a slot.
    FreeSlot {
        /// The allocation.
        allocation: AllocationId,
    },
    /// JobMaster → TaskManager: the I/O counters of the job's subtasks there.
    RequestTaskIo {
        /// The job.
        job_id: JobId,
    },
    /// JobMaster → TaskManager: start a checkpoint at a source subtask.
    TriggerCheckpoint {
        /// The source subtask.
        attempt: ExecutionAttemptId,
        /// The barrier to inject.
        barrier: crate::checkpoint::CheckpointBarrier,
        /// Stop-with-savepoint (`Some(drain)`).
        #[serde(default)]
        stop: Option<bool>,
    },
    /// JobMaster → TaskManager: a checkpoint of the job completed.
    NotifyCheckpointComplete {
        /// The job.
        job_id: JobId,
        /// The checkpoint.
        checkpoint_id: u64,
        /// It failed instead.
        #[serde(default)]
        aborted: bool,
    },
    /// TaskManager → JobMaster: a subtask acknowledged or declined a checkpoint.
    CheckpointResponse(crate::actors::task_manager::CheckpointResponse),
}

impl Request {
    /// The message's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RegisterTaskManager { .. } => "RegisterTaskManager",
            Self::OfferSlots { .. } => "OfferSlots",
            Self::UpdateTaskExecutionState(_) => "UpdateTaskExecutionState",
            Self::SlotAvailable { .. } => "SlotAvailable",
            Self::Heartbeat { .. } => "Heartbeat",
            Self::RequestSlot { .. } => "RequestSlot",
            Self::DeployTask(_) => "DeployTask",
            Self::CancelTask { .. } => "CancelTask",
            Self::FreeSlot { .. } => "FreeSlot",
            Self::RequestTaskIo { .. } => "RequestTaskIo",
            Self::TriggerCheckpoint { .. } => "TriggerCheckpoint",
            Self::NotifyCheckpointComplete { .. } => "NotifyCheckpointComplete",
            Self::CheckpointResponse(_) => "CheckpointResponse",
        }
    }
}

/// The answer to a call.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done.
    Ack,
    /// The TaskManager is registered.
    Registered {
        /// The ResourceManager's id.
        resource_manager: String,
    },
    /// The heartbeat's answer.
    HeartbeatAck {
        /// Subtasks running on the TaskManager.
        tasks: usize,
    },
    /// The I/O counters of a job's subtasks on a TaskManager, by attempt.
    TaskIo(Vec<(ExecutionAttemptId, IoCounters)>),
    /// The request failed, with the reason.
    Error(String),
}

/// The first frame of a bidirectional stream.
#[derive(Serialize, Deserialize, Debug)]
pub enum StreamOpen {
    /// A request that wants one reply.
    Call(Request),
    /// A data channel: the consumer asks for a subpartition.
    Partition(PartitionRequest),
}

/// A consumer's request for one subpartition of a producer in the peer's process.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PartitionRequest {
    /// The partition.
    pub partition: ResultPartitionId,
    /// The subpartition.
    pub subpartition: u32,
    /// The consumer's initial credit.
    pub credit: u32,
}

/// A future that may hold actor handles (not `Send`); runs on the connection's arbiter.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A remote node's actors, as this node addresses them.
#[derive(Clone, Debug)]
pub struct RemotePeer {
    peer: Peer,
    tells: mpsc::Sender<Request>,
    call_timeout: Duration,
}

impl RemotePeer {
    /// Wraps an authenticated connection; starts its ordered one-way stream. Must run on an
    /// actix/tokio local runtime.
    pub fn new(peer: Peer, call_timeout: Duration) -> Self {
        let (tells, mut rx) = mpsc::channel::<Request>(TELL_QUEUE);
        let conn = peer.connection.clone();
        let addr = peer.address;
        actix_rt::spawn(async move {
            let mut send = match conn.open_uni().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(peer = %addr, error = %e, "no one-way stream");
                    return;
                }
            };
            while let Some(req) = rx.recv().await {
                if let Err(e) = write_message(&mut send, &req).await {
                    tracing::debug!(peer = %addr, error = %e, "one-way stream ended");
                    return;
                }
            }
            let _ = send.finish();
        });
        Self {
            peer,
            tells,
            call_timeout,
        }
    }

    /// The peer's node id.
    pub fn node_id(&self) -> &str {
        &self.peer.node_id
    }

    /// The peer's address.
    pub fn address(&self) -> SocketAddr {
        self.peer.address
    }

    /// The connection.
    pub fn connection(&self) -> &quinn::Connection {
        &self.peer.connection
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.peer.connection.close_reason().is_none()
    }

    /// Sends a one-way message, in order with the others. A peer that lets [`TELL_QUEUE`] of
    /// them pile up is stuck: its connection is closed (heartbeats then declare it lost).
    pub fn tell(&self, req: Request) {
        if let Err(e) = self.tells.try_send(req) {
            let reason = match e {
                mpsc::error::TrySendError::Full(r) => {
                    format!("{} dropped: the peer is not reading", r.name())
                }
                mpsc::error::TrySendError::Closed(r) => {
                    format!("{} dropped: the connection is closed", r.name())
                }
            };
            tracing::warn!(peer = %self.peer.address, %reason, "one-way message lost");
            self.peer
                .connection
                .close(close::PROTOCOL, b"control queue overflow");
        }
    }

    /// Sends a request and waits for its reply (at most the call timeout).
    pub async fn call(&self, req: Request) -> Result<Reply, NetError> {
        let conn = self.peer.connection.clone();
        let addr = self.peer.address;
        let exchange = async move {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| NetError::Connection(e.to_string()))?;
            write_message(&mut send, &StreamOpen::Call(req)).await?;
            let _ = send.finish();
            read_message::<Reply>(&mut recv, CONTROL_FRAME_LIMIT)
                .await?
                .ok_or_else(|| NetError::Connection("the peer closed the stream unanswered".into()))
        };
        tokio::time::timeout(self.call_timeout, exchange)
            .await
            .map_err(|_| NetError::Timeout {
                addr,
                timeout: self.call_timeout,
            })?
    }
}

/// What a node does with what its peers send.
pub trait RequestHandler: Clone + 'static {
    /// A one-way message.
    fn tell(&self, from: &RemotePeer, req: Request);
    /// A call; the reply is sent back.
    fn call(&self, from: &RemotePeer, req: Request) -> LocalFuture<Reply>;
    /// A data channel opened by a consumer on the peer.
    fn partition(
        &self,
        from: &RemotePeer,
        req: PartitionRequest,
        send: SendStream,
        recv: RecvStream,
    );
    /// The connection ended (closed, lost or broken).
    fn closed(&self, from: &RemotePeer, reason: String);
}

/// Serves the streams the peer opens on `peer`'s connection until it closes.
pub fn serve<H: RequestHandler>(peer: RemotePeer, handler: H) {
    // One-way streams: read in order.
    {
        let (peer, handler) = (peer.clone(), handler.clone());
        actix_rt::spawn(async move {
            loop {
                let mut recv = match peer.connection().accept_uni().await {
                    Ok(r) => r,
                    Err(_) => return,
                };
                let (peer, handler) = (peer.clone(), handler.clone());
                actix_rt::spawn(async move {
                    loop {
                        match read_message::<Request>(&mut recv, CONTROL_FRAME_LIMIT).await {
                            Ok(Some(req)) => handler.tell(&peer, req),
                            Ok(None) => return,
                            Err(e) => return protocol_error(&peer, &e),
                        }
                    }
                });
            }
        });
    }
    // Bidirectional streams: calls and data channels.
    actix_rt::spawn(async move {
        let reason = loop {
            let (mut send, mut recv) = match peer.connection().accept_bi().await {
                Ok(s) => s,
                Err(e) => break e.to_string(),
            };
            let (peer, handler) = (peer.clone(), handler.clone());
            actix_rt::spawn(async move {
                match read_message::<StreamOpen>(&mut recv, CONTROL_FRAME_LIMIT).await {
                    Ok(Some(StreamOpen::Call(req))) => {
                        let reply = handler.call(&peer, req).await;
                        if write_message(&mut send, &reply).await.is_ok() {
                            let _ = send.finish();
                        }
                    }
                    Ok(Some(StreamOpen::Partition(req))) => {
                        handler.partition(&peer, req, send, recv)
                    }
                    Ok(None) => {}
                    Err(e) => protocol_error(&peer, &e),
                }
            });
        };
        handler.closed(&peer, reason);
    });
}

fn protocol_error(peer: &RemotePeer, e: &FrameError) {
    tracing::warn!(peer = %peer.address(), node = %peer.node_id(), error = %e, "closing connection: protocol error");
    peer.connection()
        .close(close::PROTOCOL, e.to_string().as_bytes());
}
