//! The JobMaster actor: one per job. Owns the ExecutionGraph; acquires slots, deploys subtasks,
//! follows their states and decides the job's status.
//!
//! ## Lifecycle
//! CREATED → RUNNING when it starts asking for slots; FINISHED when every subtask finished;
//! a cancel request moves it to CANCELLING and, once every subtask stopped, CANCELED. Slots
//! that are not offered within the slot request timeout fail the job.
//!
//! ## Failover
//! A failure (a subtask failed, its TaskManager was lost, too many checkpoints failed) is put
//! to the job's restart strategy ([`RestartBackoff`]). To restart, the job goes RESTARTING:
//! pending checkpoints are aborted, every subtask is cancelled, and once all stopped and the
//! strategy's delay passed, every subtask gets a new attempt, deployed into the job's slots
//! (slots of lost TaskManagers are asked for again, within the slot request timeout) and
//! restored from the newest completed checkpoint; the job is RUNNING again. When the strategy
//! gives up the job goes FAILING, then FAILED with the failure as cause. Failures reported
//! while a failover is under way belong to it. Every failure is kept in the exception
//! history with what the job did about it (the newest [`EXCEPTION_HISTORY`]).
//!
//! ## Checkpoints
//! The JobMaster drives its job's [`CheckpointCoordinator`] ([`checkpoints`]): it triggers
//! checkpoints (at every subtask: sources inject the barrier, the others take it through
//! their inputs or, once their input ended, directly), collects the subtasks' answers, writes
//! each completed checkpoint's `_metadata` and tells the subtasks. Once every subtask has
//! ended its input, the final checkpoint is triggered at once; the subtasks finish when it
//! completed. A job submitted with a restore location
//! deploys every subtask with the resolved checkpoint to start from.

mod checkpoints;
mod completion;

pub use checkpoints::{RequestCheckpointStats, SavepointError, SavepointOutcome, TriggerSavepoint};

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::dispatcher::{ArchiveJobDetails, Dispatcher, JobStatusChanged};
use crate::actors::gateway::TaskManagerGateway;
use crate::actors::job_info::{FailureKind, FailureRecord, JobException, SubtaskInfo};
use crate::actors::remote::{
    ActorFigures, ActorRef, ActorRegistry, Handles, Reply, Supervise, SupervisedContext,
    SupervisedFuture,
};
use crate::actors::resource_manager::{CancelSlotRequest, RequestSlots, ResourceManager};
use crate::actors::task_manager::{CheckpointResponse, ReportWatermark, UpdateTaskExecutionState};
use crate::checkpoint::CheckpointCoordinator;
use crate::config::RuntimeConfig;
use crate::graph::deployment::PlanRef;
use crate::graph::execution_graph::SlotLocation;
use crate::graph::regions::{FailoverStrategy, Regions};
use crate::graph::restart::{RestartBackoff, RestartDecision, RestartStrategy};
use crate::graph::{ExecutionGraph, ExecutionState, JobGraph, JobStatus};
use crate::ids::{AllocationId, JobId, TaskManagerId};
use crate::remote_message;

/// How long a status query waits for a TaskManager's I/O counters (below the Dispatcher's
/// wait for the JobMaster).
const IO_QUERY_TIMEOUT: Duration = Duration::from_millis(1000);

/// Failures a job's exception history keeps (Flink's `web.exception-history-size`).
pub const EXCEPTION_HISTORY: usize = 16;

/// Concurrent failures kept per history entry.
const CONCURRENT_EXCEPTIONS: usize = 16;

/// A slot offered to the job.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SlotOffer {
    /// The allocation.
    pub allocation: AllocationId,
    /// The slot's index on its TaskManager.
    pub slot: usize,
}

/// A TaskManager offers slots the ResourceManager allocated to this job.
#[derive(Message, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct OfferSlots {
    /// The TaskManager.
    pub task_manager: TaskManagerId,
    /// Its address.
    pub address: TaskManagerGateway,
    /// The slots.
    pub offers: Vec<SlotOffer>,
}

/// Cancels the job.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelJob;

/// A snapshot of the job for status queries.
#[derive(Message)]
#[rtype(result = "JobDetails")]
pub struct RequestJobDetails {
    /// Ask the TaskManagers for their running subtasks' I/O counters first (else the
    /// counters are those last reported with a state change or an earlier refresh).
    pub refresh_io: bool,
}

/// The job's status and its subtasks.
#[derive(Debug, Clone, MessageResponse)]
pub struct JobDetails {
    /// The job's status.
    pub status: JobStatus,
    /// Per vertex: name and its subtasks.
    pub vertices: Vec<(String, Vec<SubtaskInfo>)>,
    /// The exception history and the number of restarts.
    pub failures: FailureRecord,
}

struct OfferedSlot {
    task_manager: TaskManagerId,
    address: TaskManagerGateway,
    allocation: AllocationId,
    slot: usize,
}

mod failover;
mod handlers;

pub use handlers::TaskManagerLost;

/// Runs one job.
pub struct JobMaster {
    job_id: JobId,
    job_graph: Arc<JobGraph>,
    plan: PlanRef,
    graph: ExecutionGraph,
    resource_manager: Addr<ResourceManager>,
    dispatcher: Addr<Dispatcher>,
    config: RuntimeConfig,
    registry: ActorRegistry,
    /// Its own reference, once registered (started).
    me: Option<ActorRef<JobMaster>>,
    /// Its blocking I/O (checkpoint metadata, removals), off the actor's thread; `None` when
    /// the thread could not be started (the I/O then runs inline).
    io: Option<crate::actors::blocking::BlockingWorker>,
    /// Counts the restarts that aborted checkpoints: a checkpoint whose metadata was still
    /// being written across one is discarded.
    checkpoint_epoch: u64,
    slots: Vec<OfferedSlot>,
    task_managers: HashMap<TaskManagerId, TaskManagerGateway>,
    scheduled: bool,
    /// The job's checkpoint bookkeeping (created when the job starts).
    checkpoints: Option<CheckpointCoordinator>,
    /// The checkpoint every subtask restores from.
    restore_dir: Option<std::path::PathBuf>,
    /// Savepoints in flight.
    savepoints: std::collections::HashSet<u64>,
    /// The savepoint the job stops with, and whether it drains.
    stop_with: Option<(u64, bool)>,
    /// Subtask attempts whose input has ended: RUNNING, waiting for the final checkpoint.
    input_ended: std::collections::HashSet<crate::ids::ExecutionAttemptId>,
    /// The watermarks of the aligned sources, per alignment group.
    alignment: crate::eventtime::alignment::AlignmentGroups,
    /// The restart strategy's account of failures.
    backoff: RestartBackoff,
    /// When a restart decided on may start (once every subtask stopped).
    restart_at: Option<Instant>,
    /// Whether the restart is scheduled.
    restart_scheduled: bool,
    /// Full or region failover.
    failover: FailoverStrategy,
    /// The job's pipelined regions.
    regions: Regions,
    /// The subtasks of regions waiting to restart (the job stays RUNNING meanwhile).
    restarting_regions: BTreeSet<(usize, usize)>,
    /// The subtasks of restarted regions waiting for slots in place of a lost TaskManager's;
    /// they are deployed together once every one has a live slot.
    relocating: BTreeSet<(usize, usize)>,
    /// Slots asked for on behalf of `relocating` and not offered yet.
    relocation_asked: usize,
    /// Advances whenever `relocating` is emptied (placed, or given up): a slot request
    /// timeout of an earlier round is void.
    relocation_round: u64,
    /// The exception history (the newest `EXCEPTION_HISTORY` entries) and the restarts:
    /// failures handled with a restart of the job or of a region (two failures handled by
    /// one redeployment count twice, as in Flink).
    failures: FailureRecord,
}

impl JobMaster {
    /// A JobMaster for a submitted job.
    pub fn new(
        job_id: JobId,
        job_graph: Arc<JobGraph>,
        plan: PlanRef,
        resource_manager: Addr<ResourceManager>,
        dispatcher: Addr<Dispatcher>,
        config: RuntimeConfig,
        registry: ActorRegistry,
    ) -> Self {
        let graph = ExecutionGraph::new(job_id, &job_graph);
        let strategy = job_graph
            .restart_strategy
            .clone()
            .or_else(|| config.restart_strategy.clone())
            .unwrap_or_else(|| {
                RestartStrategy::default_for(job_graph.checkpointing.interval.is_some())
            });
        let failover = job_graph
            .failover_strategy
            .unwrap_or(config.failover_strategy);
        let regions = Regions::of_job(&job_graph);
        Self {
            job_id,
            job_graph,
            plan,
            graph,
            resource_manager,
            dispatcher,
            config,
            registry,
            me: None,
            io: crate::actors::blocking::BlockingWorker::start(&format!("jm-io-{job_id}"))
                .map_err(|e| tracing::warn!(%job_id, error = %e, "no I/O thread; checkpoint I/O runs on the JobMaster's thread"))
                .ok(),
            checkpoint_epoch: 0,
            slots: Vec::new(),
            task_managers: HashMap::new(),
            scheduled: false,
            checkpoints: None,
            restore_dir: None,
            savepoints: std::collections::HashSet::new(),
            stop_with: None,
            input_ended: std::collections::HashSet::new(),
            alignment: Default::default(),
            backoff: RestartBackoff::new(strategy),
            failover,
            regions,
            restarting_regions: BTreeSet::new(),
            relocating: BTreeSet::new(),
            relocation_asked: 0,
            relocation_round: 0,
            restart_at: None,
            restart_scheduled: false,
            failures: FailureRecord::default(),
        }
    }

    fn set_status(&mut self, to: JobStatus) {
        match self.graph.transition(to) {
            Ok(()) => {
                tracing::info!(job_id = %self.job_id, status = ?to, "job status");
                self.dispatcher.do_send(JobStatusChanged {
                    job_id: self.job_id,
                    status: to,
                    failure: self.graph.failure().map(str::to_string),
                });
            }
            Err(e) => {
                tracing::warn!(job_id = %self.job_id, error = %e, "ignored job status change")
            }
        }
    }

    /// Places subtask `i` of every vertex of a slot sharing group in the group's `i`-th slot.
    /// Groups take the slots in the order of their first vertex, and the slots are ordered by
    /// TaskManager, then slot index, whatever order the offers came in: placement is
    /// deterministic, and a group's subtasks share TaskManagers as far as their slots allow.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        self.scheduled = true;
        self.slots
            .sort_by(|a, b| (&a.task_manager, a.slot).cmp(&(&b.task_manager, b.slot)));
        let mut group_offset: Vec<(String, usize)> = Vec::new();
        let mut next = 0;
        for v in &self.job_graph.vertices {
            if group_offset.iter().all(|(g, _)| *g != v.slot_sharing_group) {
                group_offset.push((v.slot_sharing_group.clone(), next));
                let width = self
                    .job_graph
                    .vertices
                    .iter()
                    .filter(|x| x.slot_sharing_group == v.slot_sharing_group)
                    .map(|x| x.parallelism)
                    .max()
                    .unwrap_or(0);
                next += width;
            }
        }
        for (vi, v) in self.job_graph.vertices.iter().enumerate() {
            let offset = group_offset
                .iter()
                .find(|(g, _)| *g == v.slot_sharing_group)
                .map_or(0, |(_, o)| *o);
            for s in 0..v.parallelism {
                let Some(slot) = self.slots.get(offset + s) else {
                    continue;
                };
                self.graph.assign(
                    vi,
                    s,
                    SlotLocation {
                        task_manager: slot.task_manager.clone(),
                        allocation: slot.allocation,
                    },
                );
                if let Err(e) = self.graph.update(vi, s, ExecutionState::Scheduled, None) {
                    tracing::warn!(job_id = %self.job_id, error = %e, "scheduling");
                }
            }
        }
        self.deploy_scheduled(ctx);
    }

    /// Deploys every SCHEDULED subtask to its slot.
    fn deploy_scheduled(&mut self, ctx: &mut Context<Self>) {
        let deployments: Vec<_> = self
            .graph
            .subtasks()
            .filter(|(_, _, x)| x.state == ExecutionState::Scheduled)
            .map(|(v, s, _)| (v, s))
            .collect();
        for (v, s) in deployments {
            let mut tdd = self.graph.descriptor(&self.job_graph, &self.plan, v, s);
            tdd.restore_from = self.restore_dir.clone();
            tdd.at_least_once = self.job_graph.checkpointing.mode
                == crate::checkpoint::CheckpointingMode::AtLeastOnce;
            tdd.state_backend = self
                .job_graph
                .state_backend
                .unwrap_or(self.config.state_backend);
            tdd.final_checkpoint = self.job_graph.checkpointing.interval.is_some();
            for gate in &mut tdd.inputs {
                for ch in &mut gate.channels {
                    ch.producer_address = self
                        .task_managers
                        .get(&ch.producer_location)
                        .and_then(TaskManagerGateway::data_address);
                }
            }
            let Some(tm) = tdd_task_manager(&self.graph, v, s)
                .and_then(|t| self.task_managers.get(&t))
                .cloned()
            else {
                continue;
            };
            if self
                .graph
                .update(v, s, ExecutionState::Deploying, None)
                .is_err()
            {
                continue;
            }
            let attempt = tdd.attempt;
            tm.deploy(tdd)
                .into_actor(self)
                .map(move |res, act, ctx| {
                    let Err(err) = res else { return };
                    act.on_update(
                        UpdateTaskExecutionState {
                            job_id: act.job_id,
                            attempt,
                            state: ExecutionState::Failed,
                            failure: Some(crate::data::FailureCause::recoverable(err.to_string())),
                            io: None,
                            input_ended: false,
                        },
                        ctx,
                    );
                })
                .spawn_supervised("deployment", ctx);
        }
    }

    fn on_update(&mut self, msg: UpdateTaskExecutionState, ctx: &mut Context<Self>) {
        self.on_update_as(msg, FailureKind::TaskFailure, ctx);
    }

    /// As `on_update`; a failure is of `kind` in the exception history.
    fn on_update_as(
        &mut self,
        msg: UpdateTaskExecutionState,
        kind: FailureKind,
        ctx: &mut Context<Self>,
    ) {
        if let Some(io) = msg.io {
            self.graph.record_io(msg.attempt, io);
        }
        if msg.input_ended {
            self.on_input_ended(msg.attempt);
            return;
        }
        let (v, s) = match self.graph.update_attempt(
            msg.attempt,
            msg.state,
            msg.failure.as_ref().map(|f| f.message.clone()),
        ) {
            Ok(pos) => pos,
            Err(e) => {
                tracing::debug!(job_id = %self.job_id, error = %e, "ignored subtask update");
                return;
            }
        };
        if msg.state == ExecutionState::Failed {
            let vertex = &self.graph.vertices[v];
            let task = format!("{} ({}/{})", vertex.name, s + 1, vertex.subtasks.len());
            let task_manager = vertex.subtasks[s]
                .location
                .as_ref()
                .map(|l| l.task_manager.to_string());
            let (message, recoverable) = msg
                .failure
                .map_or((String::new(), true), |f| (f.message, f.recoverable));
            let at = Some((v, s, task));
            self.on_failure(kind, at, task_manager, message, recoverable, ctx);
        }
        self.check_end(ctx);
    }

    /// Tells the job's full restarts apart (those that ask for slots): the first subtask's
    /// current attempt, which each of them renews.
    fn generation(&self) -> Option<crate::ids::ExecutionAttemptId> {
        self.graph
            .vertices
            .first()
            .and_then(|v| v.subtasks.first())
            .map(|x| x.attempt)
    }

    fn cancel_all(&mut self) {
        self.cancel_where(|_, _| true);
    }

    /// Cancels the running subtasks `(vertex, subtask)` that `which` picks.
    fn cancel_where(&mut self, which: impl Fn(usize, usize) -> bool) {
        let targets: Vec<(usize, usize, ExecutionState)> = self
            .graph
            .subtasks()
            .filter(|(v, s, x)| !x.state.is_terminal() && which(*v, *s))
            .map(|(v, s, x)| (v, s, x.state))
            .collect();
        for (v, s, state) in targets {
            let to = match state {
                ExecutionState::Created | ExecutionState::Scheduled => ExecutionState::Canceled,
                ExecutionState::Canceling => continue,
                _ => ExecutionState::Canceling,
            };
            if self.graph.update(v, s, to, None).is_err() {
                continue;
            }
            if to == ExecutionState::Canceling {
                let x = &self.graph.vertices[v].subtasks[s];
                if let Some(tm) = x
                    .location
                    .as_ref()
                    .and_then(|l| self.task_managers.get(&l.task_manager))
                {
                    tm.cancel_task(x.attempt);
                }
            }
        }
    }

    fn check_end(&mut self, ctx: &mut Context<Self>) {
        let regions_stopped = !self.restarting_regions.is_empty()
            && self
                .restarting_regions
                .iter()
                .all(|&(v, s)| self.graph.vertices[v].subtasks[s].state.is_terminal());
        let end = match self.graph.status() {
            JobStatus::Restarting if self.graph.all_terminal() => {
                self.schedule_restart(ctx);
                return;
            }
            JobStatus::Running if regions_stopped => {
                self.schedule_restart(ctx);
                return;
            }
            JobStatus::Running if self.graph.all_finished() => JobStatus::Finished,
            JobStatus::Failing if self.graph.all_terminal() => JobStatus::Failed,
            JobStatus::Cancelling if self.graph.all_terminal() => JobStatus::Canceled,
            _ => return,
        };
        self.archive(end);
        self.end_checkpointing(end);
        self.set_status(end);
        self.release(ctx);
    }

    fn release(&mut self, ctx: &mut Context<Self>) {
        self.resource_manager.do_send(CancelSlotRequest {
            job_id: self.job_id,
        });
        for s in self.slots.drain(..) {
            s.address.free_slot(s.allocation);
        }
        ctx.stop();
    }
}

fn tdd_task_manager(graph: &ExecutionGraph, v: usize, s: usize) -> Option<TaskManagerId> {
    graph.vertices[v].subtasks[s]
        .location
        .as_ref()
        .map(|l| l.task_manager.clone())
}

impl JobMaster {
    /// Hands the job's final subtask states to the Dispatcher, which answers status queries
    /// from them once this JobMaster has stopped. Sent before the terminal status, so that a
    /// query never sees the job ended without them.
    fn archive(&self, status: JobStatus) {
        self.dispatcher.do_send(ArchiveJobDetails {
            job_id: self.job_id,
            details: self.details(status),
            checkpoints: self.checkpoints.as_ref().map(CheckpointCoordinator::stats),
        });
    }

    /// The per-vertex subtask states, with `status` as the job's.
    fn details(&self, status: JobStatus) -> JobDetails {
        JobDetails {
            status,
            vertices: self
                .graph
                .vertices
                .iter()
                .map(|v| {
                    let subtasks = v
                        .subtasks
                        .iter()
                        .map(|s| SubtaskInfo {
                            state: s.state,
                            attempt: s.attempt_number,
                            task_manager: s.location.as_ref().map(|l| l.task_manager.to_string()),
                            io: s.io,
                            rates: s.rates,
                        })
                        .collect();
                    (v.name.clone(), subtasks)
                })
                .collect(),
            failures: FailureRecord {
                budget: Some(self.backoff.budget(std::time::Instant::now())),
                ..self.failures.clone()
            },
        }
    }
}
