//! The TaskManager's supervision and the messages it handles (the remote ones declared here,
//! beside their handlers).

use std::time::Instant;

use actix::prelude::*;

use super::*;

impl Supervise for TaskManager {
    const KIND: &'static str = "TaskManager";

    /// Starts a new session: its subtasks are cancelled, its slots freed, and it registers
    /// again (dialling the JobManager anew when in its own process).
    fn recover(&mut self, cause: &str, ctx: &mut Context<Self>) {
        if self.remote.is_some() {
            self.disconnect(cause, ctx);
        } else {
            self.drop_session();
            if let Some(rm) = self.local_resource_manager.clone() {
                self.register(rm, ctx);
            }
        }
    }

    fn figures(&self) -> Option<&Arc<ActorFigures>> {
        self.me.as_ref().and_then(ActorRef::figures)
    }
}

remote_message!(TaskManager: RequestSlot = "rill.tm.RequestSlot");
remote_message!(TaskManager: Heartbeat = "rill.tm.Heartbeat");
remote_message!(TaskManager: DeployTask = "rill.tm.DeployTask");
remote_message!(TaskManager: CancelDeployedTask = "rill.tm.CancelTask");
remote_message!(TaskManager: TriggerTaskCheckpoint = "rill.tm.TriggerCheckpoint");
remote_message!(TaskManager: NotifyJobCheckpointComplete = "rill.tm.NotifyCheckpointComplete");
remote_message!(TaskManager: RequestTaskIo = "rill.tm.RequestTaskIo");
remote_message!(TaskManager: FreeSlot = "rill.tm.FreeSlot");
remote_message!(TaskManager: RequestActors = "rill.tm.RequestActors");
remote_message!(TaskManager: RequestLog = "rill.tm.RequestLog");
remote_message!(TaskManager: AnnounceMaxWatermark = "rill.tm.AnnounceMaxWatermark");
remote_message!(inject_panic TaskManager);
crate::local_messages!(
    TaskManager: TaskStarted,
    UpdateTaskExecutionState,
    CheckpointResponse,
    ReportWatermark,
    Shutdown,
    RequestTaskManagerFigures,
);

impl Handles<RequestSlot> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: RequestSlot, ctx: &mut Self::Context) {
        self.request_slot(msg, ctx);
    }
}

impl Handles<Heartbeat> for TaskManager {
    type Result = Result<HeartbeatAck, NotRegistered>;

    fn handle(&mut self, msg: Heartbeat, _ctx: &mut Self::Context) -> Self::Result {
        match &self.resource_manager {
            Some((_, id)) if *id == msg.resource_manager => {
                if let Some(c) = self.connected.as_mut() {
                    c.last_heartbeat = Instant::now();
                }
                Ok(HeartbeatAck {
                    tasks: self.tasks.len(),
                    process: crate::metrics::process::ProcessStats::current(),
                })
            }
            _ => Err(NotRegistered {
                task_manager: self.id.to_string(),
                resource_manager: msg.resource_manager,
            }),
        }
    }
}

impl Handles<DeployTask> for TaskManager {
    type Result = Reply<Self, Result<(), DeployError>>;

    fn handle(&mut self, msg: DeployTask, ctx: &mut Self::Context) -> Self::Result {
        self.deploy(msg.tdd, ctx)
    }
}

impl Handles<CancelDeployedTask> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: CancelDeployedTask, _ctx: &mut Self::Context) {
        self.cancel_task(msg.attempt);
    }
}

impl Handles<TaskStarted> for TaskManager {
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
                identity: msg.identity,
                metrics: msg.metrics,
                sampled: None,
                rates: None,
            },
        );
    }
}

impl Handles<UpdateTaskExecutionState> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: UpdateTaskExecutionState, _ctx: &mut Self::Context) {
        if msg.state.is_terminal() {
            self.tasks.remove(&msg.attempt);
        }
        if let Some(jm) = self.job_master_of(msg.job_id) {
            jm.tell_or_log(msg);
        }
    }
}

impl Handles<CheckpointResponse> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: CheckpointResponse, _ctx: &mut Self::Context) {
        if let Some(jm) = self.job_master_of(msg.job_id) {
            jm.tell_or_log(msg);
        }
    }
}

impl Handles<ReportWatermark> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: ReportWatermark, _ctx: &mut Self::Context) {
        if let Some(jm) = self.job_master_of(msg.job_id) {
            jm.tell_or_log(msg);
        }
    }
}

impl Handles<AnnounceMaxWatermark> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: AnnounceMaxWatermark, _ctx: &mut Self::Context) {
        // At most one announcement per report that moved the group's maximum, and a source
        // reports once per update interval: the subtasks' mailboxes see as few.
        for t in self.tasks.values().filter(|t| t.job_id == msg.job_id) {
            t.addr.do_send(msg.clone());
        }
    }
}

impl Handles<TriggerTaskCheckpoint> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: TriggerTaskCheckpoint, _ctx: &mut Self::Context) {
        self.trigger_checkpoint(msg);
    }
}

impl Handles<NotifyJobCheckpointComplete> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: NotifyJobCheckpointComplete, _ctx: &mut Self::Context) {
        self.notify_checkpoint_complete(msg);
    }
}

impl Handles<RequestTaskIo> for TaskManager {
    type Result = Vec<TaskIo>;

    fn handle(&mut self, msg: RequestTaskIo, _ctx: &mut Self::Context) -> Self::Result {
        self.task_io(msg.job_id)
    }
}

impl Handles<RequestActors> for TaskManager {
    type Result = Vec<crate::actors::remote::ActorInfo>;

    fn handle(&mut self, _: RequestActors, _ctx: &mut Self::Context) -> Self::Result {
        self.registry.snapshot()
    }
}

impl Handles<RequestLog> for TaskManager {
    type Result = MessageResult<RequestLog>;

    fn handle(&mut self, _: RequestLog, _ctx: &mut Self::Context) -> Self::Result {
        let (lines, bytes) = crate::logs::recent();
        MessageResult(LogLines { lines, bytes })
    }
}

impl Handles<RequestTaskManagerFigures> for TaskManager {
    type Result = MessageResult<RequestTaskManagerFigures>;

    fn handle(&mut self, _: RequestTaskManagerFigures, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.figures_now())
    }
}

impl Handles<FreeSlot> for TaskManager {
    type Result = ();

    fn handle(&mut self, msg: FreeSlot, _ctx: &mut Self::Context) {
        self.free_slot(msg.allocation);
    }
}

impl Handles<Shutdown> for TaskManager {
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
