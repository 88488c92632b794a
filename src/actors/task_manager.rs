//! The TaskManager actor: owns slots (one thread each), deploys subtasks into them and relays
//! their state changes to the JobMaster.
//!
//! ## In a distributed cluster
//! The TaskManager dials the JobManager, proves the cluster secret and registers. The
//! ResourceManager then sends heartbeats; if none arrives within the heartbeat timeout, or the
//! connection closes, the TaskManager gives the JobManager up: it cancels its subtasks, frees
//! its slots and dials again (every second) until a JobManager accepts it, so a restarted
//! JobManager gets its TaskManagers back on their own.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::gateway::{JobMasterGateway, ResourceManagerGateway};
use crate::actors::job_master::SlotOffer;
use crate::actors::slot::{Slot, StartSubtask};
use crate::actors::subtask::{CancelTask, NotifyCheckpointComplete, Subtask, TriggerCheckpoint};
use crate::actors::task_plan::{PlanError, PlanResolver};
use crate::config::RuntimeConfig;
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, TaskManagerId};
use crate::metrics::{IoCounters, IoMetrics};
use crate::net::remote::{DataHandler, RemoteNetwork};
use crate::net::rpc::{LocalFuture, PartitionRequest, RemotePeer, Reply, Request, RequestHandler};
use crate::net::NetworkEnvironment;

/// The ResourceManager assigns one of this TaskManager's slots to a job.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestSlot {
    /// The allocation.
    pub allocation: AllocationId,
    /// Which slot.
    pub slot: usize,
    /// The job.
    pub job_id: JobId,
    /// The job's JobMaster, to offer the slot to.
    pub job_master: JobMasterGateway,
}

/// Runs a subtask.
#[derive(Message)]
#[rtype(result = "Result<(), DeployError>")]
pub struct DeployTask {
    /// What to run.
    pub tdd: TaskDeploymentDescriptor,
}

/// Why a deployment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// The slot is not allocated to this job here.
    #[error("no slot with allocation {0} for this job on this TaskManager")]
    NoSuchSlot(AllocationId),
    /// The program could not be obtained.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The slot's thread is gone.
    #[error("the slot's thread has stopped")]
    SlotStopped,
}

/// Cancels a deployed subtask.
#[derive(Message)]
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
    pub failure: Option<String>,
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
}

/// The JobMaster starts a checkpoint at a source subtask (JobMaster → TaskManager → subtask).
#[derive(Message, Clone, Debug)]
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
#[derive(Message, Clone, Debug)]
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
}

/// The JobMaster releases a slot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FreeSlot {
    /// The allocation.
    pub allocation: AllocationId,
}

/// Stops the TaskManager and its slot threads.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

struct SlotEntry {
    arbiter: Arbiter,
    addr: Addr<Slot>,
    allocation: Option<(AllocationId, JobId, JobMasterGateway)>,
}

struct TaskEntry {
    addr: Addr<Subtask>,
    job_id: JobId,
    metrics: Arc<IoMetrics>,
}

/// Asks for the I/O counters of a job's subtasks running here, by attempt.
#[derive(Message)]
#[rtype(result = "Vec<(ExecutionAttemptId, IoCounters)>")]
pub struct RequestTaskIo {
    /// The job.
    pub job_id: JobId,
}

/// How a TaskManager in its own process reaches the JobManager.
pub struct RemoteSetup {
    /// The JobManager's RPC address.
    pub jobmanager: SocketAddr,
    /// Where this TaskManager accepts data channels (its endpoint's address).
    pub data_address: SocketAddr,
    /// The endpoint and data channels.
    pub network: RemoteNetwork,
}

struct Connected {
    peer: RemotePeer,
    last_heartbeat: Instant,
}

/// One TaskManager.
pub struct TaskManager {
    id: TaskManagerId,
    slot_count: usize,
    slots: Vec<SlotEntry>,
    tasks: HashMap<ExecutionAttemptId, TaskEntry>,
    /// Attempts cancelled while their subtask was still being started.
    cancelled_early: HashSet<ExecutionAttemptId>,
    resource_manager: Option<ResourceManagerGateway>,
    resolver: PlanResolver,
    network: NetworkEnvironment,
    config: RuntimeConfig,
    remote: Option<RemoteSetup>,
    connected: Option<Connected>,
    connecting: bool,
}

impl TaskManager {
    /// A TaskManager with `slots` slots that registers with `resource_manager` in this process.
    pub fn new(
        id: TaskManagerId,
        slots: usize,
        resource_manager: Addr<crate::actors::resource_manager::ResourceManager>,
        resolver: PlanResolver,
        transport: crate::net::LocalTransport,
        config: RuntimeConfig,
    ) -> Self {
        Self::build(
            id,
            slots,
            Some(ResourceManagerGateway::Local(resource_manager)),
            resolver,
            NetworkEnvironment {
                local: transport,
                remote: None,
            },
            config,
            None,
        )
    }

    /// A TaskManager in its own process that dials the JobManager of `setup`.
    pub fn remote(
        id: TaskManagerId,
        slots: usize,
        resolver: PlanResolver,
        setup: RemoteSetup,
        config: RuntimeConfig,
    ) -> Self {
        // One table for this process: remote partition requests are matched against the same
        // producers the local subtasks register in.
        let network = NetworkEnvironment {
            local: setup.network.local().clone(),
            remote: Some(setup.network.clone()),
        };
        Self::build(id, slots, None, resolver, network, config, Some(setup))
    }

    fn build(
        id: TaskManagerId,
        slot_count: usize,
        resource_manager: Option<ResourceManagerGateway>,
        resolver: PlanResolver,
        network: NetworkEnvironment,
        config: RuntimeConfig,
        remote: Option<RemoteSetup>,
    ) -> Self {
        Self {
            id,
            slot_count,
            slots: Vec::new(),
            tasks: HashMap::new(),
            cancelled_early: HashSet::new(),
            resource_manager,
            resolver,
            network,
            config,
            remote,
            connected: None,
            connecting: false,
        }
    }

    fn job_master_of(&self, job: JobId) -> Option<JobMasterGateway> {
        self.slots.iter().find_map(|s| {
            s.allocation
                .as_ref()
                .filter(|(_, j, _)| *j == job)
                .map(|(_, _, jm)| jm.clone())
        })
    }

    fn register(&mut self, rm: ResourceManagerGateway, ctx: &mut Context<Self>) {
        let data_address = self.remote.as_ref().map(|r| r.data_address);
        rm.register(
            self.id.clone(),
            ctx.address(),
            self.slot_count,
            data_address,
        )
        .into_actor(self)
        .map(move |res, act, ctx| match res {
            Ok(rm_id) => {
                tracing::info!(task_manager = %act.id, resource_manager = %rm_id, "registered");
                act.resource_manager = Some(rm);
                act.connecting = false;
            }
            Err(e) => {
                tracing::warn!(task_manager = %act.id, error = %e, "registration failed");
                act.disconnect("registration failed", ctx);
            }
        })
        .wait(ctx);
    }

    /// Dials the JobManager (remote mode), retrying every second.
    fn connect(&mut self, ctx: &mut Context<Self>) {
        let Some(setup) = &self.remote else { return };
        if self.connecting || self.connected.is_some() {
            return;
        }
        self.connecting = true;
        let (network, jm) = (setup.network.clone(), setup.jobmanager);
        let node = network.node().clone();
        async move { node.connect(jm).await }
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(peer) => {
                    tracing::info!(task_manager = %act.id, jobmanager = %jm, "connected to the JobManager");
                    let peer = RemotePeer::new(peer, act.config.rpc_timeout);
                    crate::net::rpc::serve(
                        peer.clone(),
                        JobManagerLink {
                            tm: ctx.address(),
                            data: DataHandler(network),
                        },
                    );
                    act.connected = Some(Connected {
                        peer: peer.clone(),
                        last_heartbeat: Instant::now(),
                    });
                    act.register(ResourceManagerGateway::Remote(peer), ctx);
                }
                Err(e) => {
                    tracing::warn!(task_manager = %act.id, jobmanager = %jm, error = %e, "cannot reach the JobManager; retrying");
                    act.connecting = false;
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.connect(ctx));
                }
            })
            .spawn(ctx);
    }

    /// Gives the JobManager up: cancels every subtask, frees every slot, dials again.
    fn disconnect(&mut self, reason: &str, ctx: &mut Context<Self>) {
        tracing::warn!(task_manager = %self.id, %reason, "disconnected from the JobManager; cancelling tasks and registering again");
        for t in self.tasks.values() {
            t.addr.do_send(CancelTask);
        }
        for s in &mut self.slots {
            if let Some((_, job, _)) = s.allocation.take() {
                self.resolver.remove(job);
                self.network.local.forget_job(job);
            }
        }
        if let Some(c) = self.connected.take() {
            c.peer
                .connection()
                .close(crate::net::quic::close::SHUTDOWN, reason.as_bytes());
        }
        self.resource_manager = None;
        self.connecting = false;
        ctx.run_later(Duration::from_secs(1), |act, ctx| act.connect(ctx));
    }

    fn watchdog(&mut self, ctx: &mut Context<Self>) {
        let Some(c) = &self.connected else { return };
        let reason = if !c.peer.is_open() {
            Some("the connection closed".to_string())
        } else if c.last_heartbeat.elapsed() > self.config.heartbeat_timeout {
            Some(format!(
                "no heartbeat from the JobManager for {:?}",
                self.config.heartbeat_timeout
            ))
        } else {
            None
        };
        if let Some(r) = reason {
            self.disconnect(&r, ctx);
        }
    }

    fn request_slot(&mut self, msg: RequestSlot, ctx: &mut Context<Self>) {
        let Some(slot) = self.slots.get_mut(msg.slot) else {
            return;
        };
        slot.allocation = Some((msg.allocation, msg.job_id, msg.job_master.clone()));
        msg.job_master.offer_slots(
            msg.job_id,
            self.id.clone(),
            ctx.address(),
            vec![SlotOffer {
                allocation: msg.allocation,
                slot: msg.slot,
            }],
        );
    }

    fn deploy(
        &mut self,
        mut tdd: TaskDeploymentDescriptor,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<(), DeployError>> {
        let slot = self
            .slots
            .iter()
            .find(|s| matches!(&s.allocation, Some((a, j, _)) if *a == tdd.allocation && *j == tdd.job_id));
        let Some(slot) = slot else {
            return Box::pin(actix::fut::ready(Err(DeployError::NoSuchSlot(
                tdd.allocation,
            ))));
        };
        let plan = match self.resolver.resolve(&tdd.plan) {
            Ok(p) => p,
            Err(e) => return Box::pin(actix::fut::ready(Err(e.into()))),
        };
        // Producers on this TaskManager are reached in memory.
        for gate in &mut tdd.inputs {
            for ch in &mut gate.channels {
                if ch.producer_location == self.id {
                    ch.producer_address = None;
                }
            }
        }
        let attempt = tdd.attempt;
        let start = StartSubtask {
            tdd,
            plan,
            config: self.config.clone(),
            network: self.network.clone(),
            report: ctx.address().recipient(),
            started: ctx.address().recipient(),
            checkpoints: ctx.address().recipient(),
        };
        Box::pin(
            slot.addr
                .send(start)
                .into_actor(self)
                .map(move |res, act, _| match res {
                    Ok(_) => Ok(()),
                    Err(_) => {
                        act.cancelled_early.remove(&attempt);
                        Err(DeployError::SlotStopped)
                    }
                }),
        )
    }

    fn cancel_task(&mut self, attempt: ExecutionAttemptId) {
        match self.tasks.get(&attempt) {
            Some(t) => t.addr.do_send(CancelTask),
            // The deployment is still starting its subtask: cancel it once it exists. Bounded by
            // the deployments in flight, which only the JobMaster creates.
            None => {
                self.cancelled_early.insert(attempt);
            }
        }
    }

    fn free_slot(&mut self, allocation: AllocationId) {
        let mut freed_job = None;
        for s in &mut self.slots {
            if matches!(&s.allocation, Some((a, _, _)) if *a == allocation) {
                freed_job = s.allocation.take().map(|(_, j, _)| j);
            }
        }
        if let Some(job) = freed_job {
            if self.job_master_of(job).is_none() {
                self.resolver.remove(job);
                self.network.local.forget_job(job);
                self.tasks.retain(|_, t| t.job_id != job);
            }
            if let Some(rm) = &self.resource_manager {
                rm.slot_available(self.id.clone(), allocation);
            }
        }
    }
}

impl Actor for TaskManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox_capacity);
        for index in 0..self.slot_count {
            let arbiter = Arbiter::new();
            let addr = Slot::start_in_arbiter(&arbiter.handle(), move |_| Slot { index });
            self.slots.push(SlotEntry {
                arbiter,
                addr,
                allocation: None,
            });
        }
        if self.remote.is_some() {
            self.connect(ctx);
            let every = self
                .config
                .heartbeat_interval
                .min(Duration::from_millis(500));
            ctx.run_interval(every, |act, ctx| act.watchdog(ctx));
        } else if let Some(rm) = self.resource_manager.clone() {
            self.register(rm, ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        for s in &self.slots {
            s.arbiter.stop();
        }
    }
}

impl Handler<RequestSlot> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: RequestSlot, ctx: &mut Self::Context) {
        self.request_slot(msg, ctx);
    }
}

impl Handler<DeployTask> for TaskManager {
    type Result = ResponseActFuture<Self, Result<(), DeployError>>;

    fn handle(&mut self, msg: DeployTask, ctx: &mut Self::Context) -> Self::Result {
        self.deploy(msg.tdd, ctx)
    }
}

impl Handler<CancelDeployedTask> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: CancelDeployedTask, _ctx: &mut Self::Context) {
        self.cancel_task(msg.attempt);
    }
}

impl Handler<TaskStarted> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: TaskStarted, _ctx: &mut Self::Context) {
        if self.cancelled_early.remove(&msg.attempt) {
            msg.address.do_send(CancelTask);
        }
        self.tasks.insert(
            msg.attempt,
            TaskEntry {
                addr: msg.address,
                job_id: msg.job_id,
                metrics: msg.metrics,
            },
        );
    }
}

impl Handler<UpdateTaskExecutionState> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: UpdateTaskExecutionState, _ctx: &mut Self::Context) {
        if msg.state.is_terminal() {
            self.tasks.remove(&msg.attempt);
        }
        if let Some(jm) = self.job_master_of(msg.job_id) {
            jm.update(msg);
        }
    }
}

impl Handler<CheckpointResponse> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: CheckpointResponse, _ctx: &mut Self::Context) {
        if let Some(jm) = self.job_master_of(msg.job_id) {
            jm.checkpoint_response(msg);
        }
    }
}

impl Handler<TriggerTaskCheckpoint> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: TriggerTaskCheckpoint, _ctx: &mut Self::Context) {
        self.trigger_checkpoint(msg);
    }
}

impl Handler<NotifyJobCheckpointComplete> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: NotifyJobCheckpointComplete, _ctx: &mut Self::Context) {
        self.notify_checkpoint_complete(msg);
    }
}

impl TaskManager {
    fn trigger_checkpoint(&mut self, msg: TriggerTaskCheckpoint) {
        match self.tasks.get(&msg.attempt) {
            Some(t) => t.addr.do_send(TriggerCheckpoint {
                barrier: msg.barrier,
                stop: msg.stop,
            }),
            None => {
                tracing::debug!(attempt = %msg.attempt, "checkpoint trigger for a subtask not running here")
            }
        }
    }

    fn notify_checkpoint_complete(&mut self, msg: NotifyJobCheckpointComplete) {
        for t in self.tasks.values().filter(|t| t.job_id == msg.job_id) {
            t.addr.do_send(NotifyCheckpointComplete {
                checkpoint_id: msg.checkpoint_id,
                aborted: msg.aborted,
            });
        }
    }

    fn task_io(&self, job_id: JobId) -> Vec<(ExecutionAttemptId, IoCounters)> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.job_id == job_id)
            .map(|(a, t)| (*a, t.metrics.snapshot()))
            .collect()
    }
}

impl Handler<RequestTaskIo> for TaskManager {
    type Result = Vec<(ExecutionAttemptId, IoCounters)>;

    fn handle(&mut self, msg: RequestTaskIo, _ctx: &mut Self::Context) -> Self::Result {
        self.task_io(msg.job_id)
    }
}

impl Handler<FreeSlot> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: FreeSlot, _ctx: &mut Self::Context) {
        self.free_slot(msg.allocation);
    }
}

impl Handler<Shutdown> for TaskManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        if let Some(c) = self.connected.take() {
            c.peer.connection().close(
                crate::net::quic::close::SHUTDOWN,
                b"TaskManager shutting down",
            );
        }
        ctx.stop();
    }
}

/// A message from the JobManager's actors, received over the connection.
#[derive(Message)]
#[rtype(result = "Reply")]
pub struct FromJobManager {
    /// The message.
    pub request: Request,
    /// The connection it came on.
    pub peer: RemotePeer,
}

impl Handler<FromJobManager> for TaskManager {
    type Result = ResponseActFuture<Self, Reply>;

    fn handle(&mut self, msg: FromJobManager, ctx: &mut Self::Context) -> Self::Result {
        let current = self
            .connected
            .as_ref()
            .is_some_and(|c| c.peer.connection().stable_id() == msg.peer.connection().stable_id());
        if !current {
            return Box::pin(actix::fut::ready(Reply::Error(
                "not the JobManager this TaskManager is registered with".into(),
            )));
        }
        let reply = match msg.request {
            Request::Heartbeat { .. } => {
                if let Some(c) = self.connected.as_mut() {
                    c.last_heartbeat = Instant::now();
                }
                Reply::HeartbeatAck {
                    tasks: self.tasks.len(),
                }
            }
            Request::RequestSlot {
                allocation,
                slot,
                job_id,
            } => {
                let job_master = JobMasterGateway::Remote(msg.peer);
                self.request_slot(
                    RequestSlot {
                        allocation,
                        slot,
                        job_id,
                        job_master,
                    },
                    ctx,
                );
                Reply::Ack
            }
            Request::DeployTask(tdd) => {
                return Box::pin(self.deploy(*tdd, ctx).map(|res, _, _| match res {
                    Ok(()) => Reply::Ack,
                    Err(e) => Reply::Error(e.to_string()),
                }))
            }
            Request::CancelTask { attempt } => {
                self.cancel_task(attempt);
                Reply::Ack
            }
            Request::FreeSlot { allocation } => {
                self.free_slot(allocation);
                Reply::Ack
            }
            Request::RequestTaskIo { job_id } => Reply::TaskIo(self.task_io(job_id)),
            Request::TriggerCheckpoint {
                attempt,
                barrier,
                stop,
            } => {
                self.trigger_checkpoint(TriggerTaskCheckpoint {
                    attempt,
                    barrier,
                    stop,
                });
                Reply::Ack
            }
            Request::NotifyCheckpointComplete {
                job_id,
                checkpoint_id,
                aborted,
            } => {
                self.notify_checkpoint_complete(NotifyJobCheckpointComplete {
                    job_id,
                    checkpoint_id,
                    aborted,
                });
                Reply::Ack
            }
            other => Reply::Error(format!("{} is not for a TaskManager", other.name())),
        };
        Box::pin(actix::fut::ready(reply))
    }
}

/// Serves the TaskManager's connection to the JobManager: control messages go to the
/// TaskManager actor; data channels (none are expected from the JobManager) to the network.
#[derive(Clone)]
struct JobManagerLink {
    tm: Addr<TaskManager>,
    data: DataHandler,
}

impl RequestHandler for JobManagerLink {
    fn tell(&self, from: &RemotePeer, request: Request) {
        let msg = FromJobManager {
            request,
            peer: from.clone(),
        };
        if let Err(e) = self.tm.try_send(msg) {
            // A one-way message that cannot be delivered must not vanish: closing the
            // connection makes the TaskManager give up this JobManager session (cancelling its
            // subtasks) and register again, and the JobManager sees the TaskManager go.
            tracing::warn!(error = %e, "TaskManager mailbox full: closing the connection to the JobManager");
            from.connection().close(
                crate::net::quic::close::OVERLOADED,
                b"TaskManager mailbox full",
            );
        }
    }

    fn call(&self, from: &RemotePeer, request: Request) -> LocalFuture<Reply> {
        let fut = self.tm.send(FromJobManager {
            request,
            peer: from.clone(),
        });
        Box::pin(async move {
            fut.await
                .unwrap_or_else(|e| Reply::Error(format!("TaskManager unavailable: {e}")))
        })
    }

    fn partition(
        &self,
        from: &RemotePeer,
        req: PartitionRequest,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) {
        self.data.partition(from, req, send, recv);
    }

    fn closed(&self, _from: &RemotePeer, reason: String) {
        tracing::info!(%reason, "connection to the JobManager closed");
    }
}
