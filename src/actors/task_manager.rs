//! The TaskManager actor: owns slots (one thread each), deploys subtasks into them and relays
//! their state changes to the JobMaster.

use std::collections::{HashMap, HashSet};

use actix::prelude::*;

use crate::actors::job_master::{JobMaster, OfferSlots, SlotOffer};
use crate::actors::resource_manager::{RegisterTaskManager, ResourceManager, SlotAvailable};
use crate::actors::slot::{Slot, StartSubtask};
use crate::actors::subtask::{CancelTask, Subtask};
use crate::actors::task_plan::{PlanError, PlanResolver};
use crate::config::RuntimeConfig;
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, TaskManagerId};
use crate::net::LocalTransport;

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
    pub job_master: Addr<JobMaster>,
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
#[derive(Message, Clone, Debug)]
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
    allocation: Option<(AllocationId, JobId, Addr<JobMaster>)>,
}

struct TaskEntry {
    addr: Addr<Subtask>,
    job_id: JobId,
}

/// One TaskManager.
pub struct TaskManager {
    id: TaskManagerId,
    slot_count: usize,
    slots: Vec<SlotEntry>,
    tasks: HashMap<ExecutionAttemptId, TaskEntry>,
    /// Attempts cancelled while their subtask was still being started.
    cancelled_early: HashSet<ExecutionAttemptId>,
    resource_manager: Addr<ResourceManager>,
    resolver: PlanResolver,
    transport: LocalTransport,
    config: RuntimeConfig,
}

impl TaskManager {
    /// A TaskManager with `slots` slots that registers with `resource_manager`.
    pub fn new(
        id: TaskManagerId,
        slots: usize,
        resource_manager: Addr<ResourceManager>,
        resolver: PlanResolver,
        transport: LocalTransport,
        config: RuntimeConfig,
    ) -> Self {
        Self {
            id,
            slot_count: slots,
            slots: Vec::new(),
            tasks: HashMap::new(),
            cancelled_early: HashSet::new(),
            resource_manager,
            resolver,
            transport,
            config,
        }
    }

    fn job_master_of(&self, job: JobId) -> Option<Addr<JobMaster>> {
        self.slots.iter().find_map(|s| {
            s.allocation
                .as_ref()
                .filter(|(_, j, _)| *j == job)
                .map(|(_, _, jm)| jm.clone())
        })
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
        let register = RegisterTaskManager {
            id: self.id.clone(),
            address: ctx.address(),
            slots: self.slot_count,
        };
        self.resource_manager
            .send(register)
            .into_actor(self)
            .map(|res, act, _| match res {
                Ok(ack) => tracing::info!(task_manager = %act.id, resource_manager = %ack.resource_manager, "registered"),
                Err(e) => tracing::error!(task_manager = %act.id, error = %e, "registration failed"),
            })
            .wait(ctx);
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
        let Some(slot) = self.slots.get_mut(msg.slot) else {
            return;
        };
        slot.allocation = Some((msg.allocation, msg.job_id, msg.job_master.clone()));
        msg.job_master.do_send(OfferSlots {
            task_manager: self.id.clone(),
            address: ctx.address(),
            offers: vec![SlotOffer {
                allocation: msg.allocation,
                slot: msg.slot,
            }],
        });
    }
}

impl Handler<DeployTask> for TaskManager {
    type Result = ResponseActFuture<Self, Result<(), DeployError>>;

    fn handle(&mut self, msg: DeployTask, ctx: &mut Self::Context) -> Self::Result {
        let tdd = msg.tdd;
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
        let attempt = tdd.attempt;
        let start = StartSubtask {
            tdd,
            plan,
            config: self.config.clone(),
            transport: self.transport.clone(),
            report: ctx.address().recipient(),
            started: ctx.address().recipient(),
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
}

impl Handler<CancelDeployedTask> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: CancelDeployedTask, _ctx: &mut Self::Context) {
        match self.tasks.get(&msg.attempt) {
            Some(t) => t.addr.do_send(CancelTask),
            // The deployment is still starting its subtask: cancel it once it exists. Bounded by
            // the deployments in flight, which only the JobMaster creates.
            None => {
                self.cancelled_early.insert(msg.attempt);
            }
        }
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
            jm.do_send(msg);
        }
    }
}

impl Handler<FreeSlot> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: FreeSlot, _ctx: &mut Self::Context) {
        let mut freed_job = None;
        for s in &mut self.slots {
            if matches!(&s.allocation, Some((a, _, _)) if *a == msg.allocation) {
                freed_job = s.allocation.take().map(|(_, j, _)| j);
            }
        }
        if let Some(job) = freed_job {
            if self.job_master_of(job).is_none() {
                self.resolver.remove(job);
                self.transport.forget_job(job);
                self.tasks.retain(|_, t| t.job_id != job);
            }
            self.resource_manager.do_send(SlotAvailable {
                allocation: msg.allocation,
            });
        }
    }
}

impl Handler<Shutdown> for TaskManager {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
