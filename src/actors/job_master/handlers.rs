//! The JobMaster as an actor: its lifecycle, its supervision, and the messages it handles
//! (the remote ones declared here, beside their handlers).

use actix::prelude::*;

use super::*;
use crate::actors::job_master::checkpoints::RestoreError;
use crate::checkpoint::storage;

impl Actor for JobMaster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox_capacity);
        self.me = Some(self.registry.register(
            &Self::path_of(self.job_id),
            Some(crate::actors::dispatcher::DISPATCHER_PATH),
            ctx.address(),
            self.config.mailbox_capacity,
        ));
        self.set_status(JobStatus::Running);
        match self.job_graph.restore.clone() {
            // Resolving reads and checks every state file of the checkpoint: on the JobMaster's
            // I/O thread, never on the actor's.
            Some(r) => {
                let resolving = self.blocking(move || storage::resolve(&r.path));
                resolving
                    .into_actor(self)
                    .map(|resolved, act, ctx| {
                        let resolved = match resolved {
                            Some(r) => r.map_err(RestoreError::from),
                            None => Err(RestoreError::Busy),
                        };
                        act.begin(Some(resolved), ctx);
                    })
                    .spawn_supervised("restore", ctx);
            }
            None => self.begin(None, ctx),
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.registry.unregister(&Self::path_of(self.job_id));
    }
}

impl JobMaster {
    /// Starts the job once its restore location (if any) is resolved: checkpointing, then the
    /// slots. A job cancelled meanwhile stays as it is; an unusable restore location is its
    /// failure cause.
    fn begin(
        &mut self,
        resolved: Option<Result<storage::Resolved, RestoreError>>,
        ctx: &mut Context<Self>,
    ) {
        if self.graph.status() != JobStatus::Running {
            return;
        }
        if let Err(cause) = self.start_checkpointing(resolved, ctx) {
            self.graph.set_failure(cause.to_string());
            self.set_status(JobStatus::Failing);
            self.cancel_all();
            self.check_end(ctx);
            return;
        }
        self.request_slots(self.job_graph.slots_needed(), ctx);
    }

    /// The path a job's JobMaster registers at.
    pub fn path_of(job_id: JobId) -> String {
        format!("/jobmanager/jobmaster-{job_id}")
    }
}

impl Supervise for JobMaster {
    const KIND: &'static str = "JobMaster";

    /// Fails the job over through its restart strategy, with the panic as the cause: its
    /// subtasks are cancelled and redeployed from the latest completed checkpoint (or the job
    /// fails when the strategy gives up).
    fn recover(&mut self, cause: &str, ctx: &mut Context<Self>) {
        let cause = cause.to_string();
        self.on_failure(FailureKind::JobFailure, None, None, cause, true, ctx);
    }

    fn figures(&self) -> Option<&Arc<ActorFigures>> {
        self.me.as_ref().and_then(ActorRef::figures)
    }
}

remote_message!(JobMaster: OfferSlots = "rill.jm.OfferSlots");
remote_message!(JobMaster: UpdateTaskExecutionState = "rill.jm.UpdateTaskExecutionState");
remote_message!(JobMaster: CheckpointResponse = "rill.jm.CheckpointResponse");
remote_message!(JobMaster: TaskManagerLost = "rill.jm.TaskManagerLost");
remote_message!(JobMaster: ReportWatermark = "rill.jm.ReportWatermark");
remote_message!(inject_panic JobMaster);
crate::local_messages!(JobMaster: CancelJob, RequestJobDetails, RequestCheckpointStats, TriggerSavepoint);

/// Watermark alignment: a source's report may move its group's maximum, which every
/// TaskManager of the job then hears.
impl Handles<ReportWatermark> for JobMaster {
    type Result = ();

    fn handle(&mut self, msg: ReportWatermark, _ctx: &mut Self::Context) {
        let changed =
            self.alignment
                .report(&msg.group, &msg.source, msg.max_drift_ms, msg.watermark);
        if let Some(max) = changed {
            for tm in self.task_managers.values() {
                tm.announce_max_watermark(self.job_id, &msg.group, max);
            }
        }
    }
}

impl Handles<OfferSlots> for JobMaster {
    type Result = ();

    fn handle(&mut self, msg: OfferSlots, ctx: &mut Self::Context) {
        if msg
            .address
            .actor
            .remote_node()
            .is_some_and(|node| node != msg.task_manager.0)
        {
            tracing::warn!(job_id = %self.job_id, task_manager = %msg.task_manager, "slot offer naming another TaskManager ignored");
            return;
        }
        self.task_managers
            .insert(msg.task_manager.clone(), msg.address.clone());
        let relocating = !self.relocating.is_empty() && self.relocation_asked > 0;
        for o in msg.offers {
            if (self.scheduled && !relocating) || self.graph.status().is_terminal() {
                msg.address.free_slot(o.allocation);
                continue;
            }
            if relocating {
                self.relocation_asked = self.relocation_asked.saturating_sub(1);
            }
            self.slots.push(OfferedSlot {
                task_manager: msg.task_manager.clone(),
                address: msg.address.clone(),
                allocation: o.allocation,
                slot: o.slot,
            });
        }
        if !self.scheduled
            && self.graph.status() == JobStatus::Running
            && self.slots.len() >= self.job_graph.slots_needed()
        {
            self.schedule(ctx);
        } else if relocating {
            self.place_relocating(ctx);
        }
    }
}

impl Handles<UpdateTaskExecutionState> for JobMaster {
    type Result = ();

    fn handle(&mut self, msg: UpdateTaskExecutionState, ctx: &mut Self::Context) {
        self.on_update(msg, ctx);
    }
}

impl Handles<CancelJob> for JobMaster {
    type Result = ();

    fn handle(&mut self, _: CancelJob, ctx: &mut Self::Context) {
        if matches!(
            self.graph.status(),
            JobStatus::Running | JobStatus::Created | JobStatus::Failing | JobStatus::Restarting
        ) {
            if self.graph.status() != JobStatus::Failing {
                self.set_status(JobStatus::Cancelling);
            }
            self.cancel_all();
            self.check_end(ctx);
        }
    }
}

impl Handles<RequestJobDetails> for JobMaster {
    type Result = Reply<Self, JobDetails>;

    fn handle(&mut self, msg: RequestJobDetails, _ctx: &mut Self::Context) -> Self::Result {
        if !msg.refresh_io || self.graph.status().is_globally_terminal() {
            return Reply::new::<RequestJobDetails>(actix::fut::ready(
                self.details(self.graph.status()),
            ));
        }
        // Every TaskManager is asked at once, so the counters of subtasks in different
        // processes are read at nearly the same moment.
        let queries: Vec<_> = self
            .task_managers
            .values()
            .map(|tm| {
                actix_rt::spawn(tokio::time::timeout(
                    IO_QUERY_TIMEOUT,
                    tm.task_io(self.job_id),
                ))
            })
            .collect();
        let answers = async move {
            let mut all = Vec::new();
            for q in queries {
                // A TaskManager that does not answer in time leaves its subtasks' counters
                // as last reported.
                if let Ok(Ok(io)) = q.await {
                    all.extend(io);
                }
            }
            all
        };
        Reply::new::<RequestJobDetails>(answers.into_actor(self).map(|answers, act, _| {
            for t in answers {
                act.graph.record_io(t.attempt, t.io);
                act.graph.record_rates(t.attempt, t.rates);
            }
            act.details(act.graph.status())
        }))
    }
}

/// A TaskManager that held slots of this job was declared lost.
#[derive(Message, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct TaskManagerLost {
    /// The TaskManager.
    pub task_manager: TaskManagerId,
    /// Why, naming the TaskManager.
    pub cause: String,
}

impl Handles<TaskManagerLost> for JobMaster {
    type Result = ();

    fn handle(&mut self, msg: TaskManagerLost, ctx: &mut Self::Context) {
        // Its slots are gone: never free them, never deploy to them.
        self.task_managers.remove(&msg.task_manager);
        self.slots.retain(|s| s.task_manager != msg.task_manager);
        let on_it: Vec<_> = self
            .graph
            .subtasks()
            .filter(|(_, _, x)| !x.state.is_terminal())
            .filter(|(_, _, x)| {
                x.location
                    .as_ref()
                    .is_some_and(|l| l.task_manager == msg.task_manager)
            })
            .map(|(_, _, x)| x.attempt)
            .collect();
        for attempt in on_it {
            self.on_update_as(
                UpdateTaskExecutionState {
                    job_id: self.job_id,
                    attempt,
                    state: ExecutionState::Failed,
                    failure: Some(crate::data::FailureCause::recoverable(msg.cause.clone())),
                    io: None,
                    input_ended: false,
                },
                FailureKind::TaskManagerLost,
                ctx,
            );
        }
        // Restarted regions placed on it (not deployed yet) need other slots.
        self.place_relocating(ctx);
    }
}
