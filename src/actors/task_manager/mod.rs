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
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::gateway::TaskManagerGateway;
use crate::actors::job_master::{JobMaster, OfferSlots, SlotOffer};
use crate::actors::remote::{
    ActorFigures, ActorRef, ActorRegistry, Handles, Reply, Supervise, SupervisedContext,
    SupervisedFuture,
};
use crate::actors::resource_manager::{RegisterTaskManager, ResourceManager, SlotAvailable};
use crate::actors::slot::{Slot, StartSubtask};
use crate::actors::subtask::{CancelTask, NotifyCheckpointComplete, Subtask, TriggerCheckpoint};
use crate::actors::task_plan::PlanResolver;
use crate::config::RuntimeConfig;
use crate::graph::TaskDeploymentDescriptor;
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, TaskManagerId};
use crate::metrics::{IoCounters, IoMetrics, TaskRates};
use crate::net::remote::RemoteNetwork;
use crate::net::rpc::RemotePeer;
use crate::net::NetworkEnvironment;
use crate::remote_message;

mod handlers;
mod leader;
mod messages;

pub use leader::JobManagerAddress;
pub use messages::*;

/// Where the ResourceManager is registered on the JobManager's node.
pub const RESOURCE_MANAGER_PATH: &str = "/jobmanager/resourcemanager";

struct SlotEntry {
    arbiter: Arbiter,
    addr: Addr<Slot>,
    allocation: Option<(AllocationId, JobId, ActorRef<JobMaster>)>,
}

struct TaskEntry {
    addr: Addr<Subtask>,
    job_id: JobId,
    identity: crate::actors::subtask::figures::SubtaskIdentity,
    metrics: Arc<IoMetrics>,
    /// Its counters at the last sample, and when.
    sampled: Option<(Instant, IoCounters)>,
    /// Its rates over the last sampling period.
    rates: Option<TaskRates>,
}

/// How often a TaskManager samples its subtasks' counters into rates.
pub const RATE_SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// How a TaskManager in its own process reaches the JobManager.
pub struct RemoteSetup {
    /// The JobManager: its RPC address, or its cluster's leader in etcd.
    pub jobmanager: JobManagerAddress,
    /// Where this TaskManager accepts data channels (its endpoint's address).
    pub data_address: std::net::SocketAddr,
    /// The endpoint and data channels.
    pub network: RemoteNetwork,
}

struct Connected {
    peer: RemotePeer,
    last_heartbeat: Instant,
    /// In an HA cluster: the term of the leader it dialled.
    term: Option<i64>,
}

/// One TaskManager.
pub struct TaskManager {
    id: TaskManagerId,
    slot_count: usize,
    slots: Vec<SlotEntry>,
    tasks: HashMap<ExecutionAttemptId, TaskEntry>,
    /// Attempts cancelled while their subtask was still being started.
    cancelled_early: HashSet<ExecutionAttemptId>,
    /// The ResourceManager it is registered with, and that ResourceManager's id.
    resource_manager: Option<(ActorRef<ResourceManager>, String)>,
    /// The ResourceManager of this process, when there is one (`rill local`).
    local_resource_manager: Option<ActorRef<ResourceManager>>,
    registry: ActorRegistry,
    me: Option<ActorRef<TaskManager>>,
    resolver: PlanResolver,
    network: NetworkEnvironment,
    config: RuntimeConfig,
    remote: Option<RemoteSetup>,
    connected: Option<Connected>,
    connecting: bool,
    /// A look-up of the leader in etcd is under way.
    checking_leader: bool,
}

impl TaskManager {
    /// A TaskManager with `slots` slots that registers with `resource_manager` in this process.
    pub fn new(
        id: TaskManagerId,
        slots: usize,
        resource_manager: ActorRef<ResourceManager>,
        resolver: PlanResolver,
        transport: crate::net::LocalTransport,
        config: RuntimeConfig,
        registry: ActorRegistry,
    ) -> Self {
        Self::build(
            id,
            slots,
            Some(resource_manager),
            resolver,
            NetworkEnvironment {
                local: transport,
                remote: None,
            },
            config,
            None,
            registry,
        )
    }

    /// A TaskManager in its own process that dials the JobManager of `setup`.
    pub fn remote(
        id: TaskManagerId,
        slots: usize,
        resolver: PlanResolver,
        setup: RemoteSetup,
        config: RuntimeConfig,
        registry: ActorRegistry,
    ) -> Self {
        // One table for this process: remote partition requests are matched against the same
        // producers the local subtasks register in.
        let network = NetworkEnvironment {
            local: setup.network.local().clone(),
            remote: Some(setup.network.clone()),
        };
        Self::build(
            id,
            slots,
            None,
            resolver,
            network,
            config,
            Some(setup),
            registry,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        id: TaskManagerId,
        slot_count: usize,
        local_resource_manager: Option<ActorRef<ResourceManager>>,
        resolver: PlanResolver,
        network: NetworkEnvironment,
        config: RuntimeConfig,
        remote: Option<RemoteSetup>,
        registry: ActorRegistry,
    ) -> Self {
        Self {
            id,
            slot_count,
            slots: Vec::new(),
            tasks: HashMap::new(),
            cancelled_early: HashSet::new(),
            resource_manager: None,
            local_resource_manager,
            registry,
            me: None,
            resolver,
            network,
            config,
            remote,
            connected: None,
            connecting: false,
            checking_leader: false,
        }
    }

    /// The path a TaskManager registers at in its node's registry.
    pub fn path_of(id: &TaskManagerId) -> String {
        if id.0.starts_with("taskmanager-") {
            format!("/{}", id.0)
        } else {
            format!("/taskmanager-{}", id.0)
        }
    }

    fn job_master_of(&self, job: JobId) -> Option<ActorRef<JobMaster>> {
        self.slots.iter().find_map(|s| {
            s.allocation
                .as_ref()
                .filter(|(_, j, _)| *j == job)
                .map(|(_, _, jm)| jm.clone())
        })
    }

    fn gateway(&self) -> Option<TaskManagerGateway> {
        Some(TaskManagerGateway {
            actor: self.me.clone()?,
            data_address: self.remote.as_ref().map(|r| r.data_address),
        })
    }

    fn register(&mut self, rm: ActorRef<ResourceManager>, ctx: &mut Context<Self>) {
        let Some(address) = self.gateway() else {
            return;
        };
        rm.ask(RegisterTaskManager {
            id: self.id.clone(),
            address,
            slots: self.slot_count,
        })
        .into_actor(self)
        .map(move |res, act, ctx| match res {
            Ok(Ok(ack)) => {
                tracing::info!(task_manager = %act.id, resource_manager = %ack.resource_manager, "registered");
                act.resource_manager = Some((rm, ack.resource_manager));
                act.connecting = false;
            }
            Ok(Err(e)) => {
                tracing::warn!(task_manager = %act.id, error = %e, "registration refused");
                act.disconnect("registration refused", ctx);
            }
            Err(e) => {
                tracing::warn!(task_manager = %act.id, error = %e, "registration failed");
                act.disconnect("registration failed", ctx);
            }
        })
        .wait_supervised("registration", ctx);
    }

    /// Cancels every subtask and frees every slot: what it ran belonged to a session that is
    /// over.
    fn drop_session(&mut self) {
        for t in self.tasks.values() {
            t.addr.do_send(CancelTask);
        }
        for s in &mut self.slots {
            if let Some((_, job, _)) = s.allocation.take() {
                self.resolver.remove(job);
                self.network.local.forget_job(job);
            }
        }
        self.resource_manager = None;
    }

    /// Gives the JobManager up: cancels every subtask, frees every slot, dials again.
    fn disconnect(&mut self, reason: &str, ctx: &mut Context<Self>) {
        tracing::warn!(task_manager = %self.id, %reason, "disconnected from the JobManager; cancelling tasks and registering again");
        self.drop_session();
        if let Some(c) = self.connected.take() {
            c.peer
                .connection()
                .close(crate::net::quic::close::SHUTDOWN, reason.as_bytes());
        }
        self.connecting = false;
        ctx.supervised_later("reconnect", self.reconnect_delay(), |act, ctx| {
            act.connect(ctx)
        });
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
        if self.resource_manager.is_none() {
            tracing::warn!(task_manager = %self.id, "slot request while not registered; ignored");
            return;
        }
        let Some(address) = self.gateway() else {
            return;
        };
        let Some(slot) = self.slots.get_mut(msg.slot) else {
            return;
        };
        slot.allocation = Some((msg.allocation, msg.job_id, msg.job_master.clone()));
        let allocation = msg.allocation;
        msg.job_master
            .ask(OfferSlots {
                task_manager: self.id.clone(),
                address,
                offers: vec![SlotOffer {
                    allocation,
                    slot: msg.slot,
                }],
            })
            .into_actor(self)
            .map(move |res, act, _| {
                // The job's JobMaster is gone (the job ended): the slot is free again.
                if let Err(e) = res {
                    tracing::info!(task_manager = %act.id, %allocation, error = %e, "slot offer not taken; freeing the slot");
                    act.free_slot(allocation);
                }
            })
            .spawn_supervised("slot offer", ctx);
    }

    fn deploy(
        &mut self,
        mut tdd: TaskDeploymentDescriptor,
        ctx: &mut Context<Self>,
    ) -> Reply<Self, Result<(), DeployError>> {
        let slot = self
            .slots
            .iter()
            .find(|s| matches!(&s.allocation, Some((a, j, _)) if *a == tdd.allocation && *j == tdd.job_id));
        let Some(slot) = slot else {
            return Reply::new::<DeployTask>(actix::fut::ready(Err(DeployError::NoSuchSlot(
                tdd.allocation,
            ))));
        };
        let plan = match self.resolver.resolve(&tdd.plan) {
            Ok(p) => p,
            Err(e) => {
                return Reply::new::<DeployTask>(actix::fut::ready(Err(DeployError::from(e))))
            }
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
            watermarks: ctx.address().recipient(),
        };
        Reply::new::<DeployTask>(
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
            Some(t) => {
                // A query's sink waiting for its reader to make room returns and lets the
                // cancellation through.
                crate::connectors::collect::close(t.job_id);
                t.addr.do_send(CancelTask);
            }
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
            if let Some((rm, _)) = &self.resource_manager {
                rm.tell_or_log(SlotAvailable { allocation });
            }
        }
    }

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

    fn task_io(&self, job_id: JobId) -> Vec<TaskIo> {
        self.tasks
            .iter()
            .filter(|(_, t)| t.job_id == job_id)
            .map(|(a, t)| TaskIo {
                attempt: *a,
                io: t.metrics.snapshot(),
                rates: t.rates,
            })
            .collect()
    }

    /// Every subtask's figures, for this TaskManager's own `/metrics`.
    fn figures_now(&self) -> TaskManagerFigures {
        TaskManagerFigures {
            id: self.id.0.clone(),
            slots: self.slots.len(),
            slots_used: self.slots.iter().filter(|s| s.allocation.is_some()).count(),
            tasks: self
                .tasks
                .values()
                .map(|t| TaskFigures {
                    identity: t.identity.clone(),
                    io: t.metrics.snapshot(),
                    rates: t.rates,
                })
                .collect(),
        }
    }

    /// Turns each subtask's counters since the last sample into its rates.
    fn sample_rates(&mut self) {
        let now = Instant::now();
        for t in self.tasks.values_mut() {
            let io = t.metrics.snapshot_at(now);
            if let Some((then, before)) = &t.sampled {
                let seconds = now.saturating_duration_since(*then).as_secs_f64();
                if let Some(r) = TaskRates::between(before, &io, seconds) {
                    t.rates = Some(r);
                }
            }
            t.sampled = Some((now, io));
        }
    }
}

impl Actor for TaskManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox_capacity);
        if self.config.task_metrics {
            ctx.supervised_interval("rate sample", RATE_SAMPLE_PERIOD, |act, _| {
                act.sample_rates()
            });
        }
        ctx.supervised_interval(
            "actor sample",
            crate::actors::remote::SAMPLE_PERIOD,
            |act, _| act.registry.sample(),
        );
        self.me = Some(self.registry.register(
            &Self::path_of(&self.id),
            None,
            ctx.address(),
            self.config.mailbox_capacity,
        ));
        let me = Self::path_of(&self.id);
        for index in 0..self.slot_count {
            let arbiter = Arbiter::new();
            let (registry, path) = (self.registry.clone(), format!("{me}/slot-{index}"));
            let capacity = self.config.mailbox_capacity;
            let addr = Slot::start_in_arbiter(&arbiter.handle(), {
                let path = path.clone();
                move |_| Slot {
                    index,
                    registry,
                    path,
                    capacity,
                }
            });
            self.registry
                .register(&path, Some(&me), addr.clone(), capacity);
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
            ctx.supervised_interval("watchdog", every, |act, ctx| act.watchdog(ctx));
            if self
                .remote
                .as_ref()
                .is_some_and(|r| r.jobmanager.is_elected())
            {
                ctx.supervised_interval("leader check", leader::LEADER_POLL, |act, ctx| {
                    act.check_leader(ctx)
                });
            }
        } else if let Some(rm) = self.local_resource_manager.clone() {
            self.register(rm, ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.registry.unregister(&Self::path_of(&self.id));
        for s in &self.slots {
            s.arbiter.stop();
        }
    }
}
