//! The Slot actor: one thread (its own Arbiter) on which the subtasks placed in the slot run.
//! It registers each subtask it starts in its node's actor registry, under its own path
//! (`/taskmanager-<id>/slot-<n>/subtask-<vertex>-<index>`); the subtask leaves it when it stops.

use std::sync::Arc;

use actix::prelude::*;

use crate::actors::remote::{ActorRegistry, Supervise};
use crate::actors::subtask::Subtask;
use crate::actors::task_manager::{
    CheckpointResponse, ReportWatermark, TaskStarted, UpdateTaskExecutionState,
};
use crate::actors::task_plan::ResolvedPlan;
use crate::config::RuntimeConfig;
use crate::graph::TaskDeploymentDescriptor;

/// Starts a subtask on this slot's thread.
#[derive(Message)]
#[rtype(result = "Addr<Subtask>")]
pub struct StartSubtask {
    /// What to run.
    pub tdd: TaskDeploymentDescriptor,
    /// The job's program.
    pub plan: Arc<ResolvedPlan>,
    /// Data-plane settings.
    pub config: RuntimeConfig,
    /// Connects its channels.
    pub network: crate::net::NetworkEnvironment,
    /// Where it reports its state.
    pub report: Recipient<UpdateTaskExecutionState>,
    /// Told the subtask's address when it starts.
    pub started: Recipient<TaskStarted>,
    /// Where it answers checkpoints.
    pub checkpoints: Recipient<CheckpointResponse>,
    /// Where a source reports its watermark for alignment.
    pub watermarks: Recipient<ReportWatermark>,
}

/// A slot of a TaskManager.
pub struct Slot {
    /// Its index within the TaskManager.
    pub index: usize,
    /// Its node's registry.
    pub registry: ActorRegistry,
    /// Its path there.
    pub path: String,
    /// Its mailbox's capacity.
    pub capacity: usize,
}

impl Actor for Slot {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.capacity);
    }
}

impl Supervise for Slot {
    const KIND: &'static str = "Slot";
}

impl Handler<StartSubtask> for Slot {
    type Result = MessageResult<StartSubtask>;

    fn handle(&mut self, msg: StartSubtask, _ctx: &mut Self::Context) -> Self::Result {
        tracing::debug!(slot = self.index, task = %msg.tdd.task_name(), "starting subtask");
        let (registry, slot) = (self.registry.clone(), self.path.clone());
        // `create` starts the actor on the current arbiter: this slot's thread.
        MessageResult(Subtask::create(move |ctx| {
            let path = format!("{slot}/subtask-{}-{}", msg.tdd.vertex, msg.tdd.subtask);
            let subtask = Subtask::new(
                msg.tdd,
                msg.plan,
                msg.config,
                msg.network,
                msg.report,
                msg.started,
                msg.checkpoints,
            )
            .reporting_watermarks_to(msg.watermarks);
            registry.register_subtask(&path, &slot, ctx.address(), subtask.figures());
            subtask.registered_at(registry, path)
        }))
    }
}
