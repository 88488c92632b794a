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

pub use checkpoints::{RequestCheckpointStats, SavepointOutcome, TriggerSavepoint};

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;

use crate::actors::dispatcher::{ArchiveJobDetails, Dispatcher, JobStatusChanged};
use crate::actors::gateway::TaskManagerGateway;
use crate::actors::job_info::{FailureKind, FailureRecord, JobException, SubtaskInfo};
use crate::actors::remote::{ActorRef, ActorRegistry, Supervise};
use crate::actors::resource_manager::{CancelSlotRequest, RequestSlots, ResourceManager};
use crate::actors::task_manager::{CheckpointResponse, UpdateTaskExecutionState};
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
            slots: Vec::new(),
            task_managers: HashMap::new(),
            scheduled: false,
            checkpoints: None,
            restore_dir: None,
            savepoints: std::collections::HashSet::new(),
            stop_with: None,
            input_ended: std::collections::HashSet::new(),
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
                            failure: Some(err),
                            io: None,
                            input_ended: false,
                        },
                        ctx,
                    );
                })
                .spawn(ctx);
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
        let (v, s) = match self
            .graph
            .update_attempt(msg.attempt, msg.state, msg.failure.clone())
        {
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
            let message = msg.failure.unwrap_or_default();
            self.on_failure(kind, Some((v, s, task)), task_manager, message, ctx);
        }
        self.check_end(ctx);
    }

    /// Puts a failure to the restart strategy: RESTARTING or FAILING, every subtask
    /// cancelled. A failure while the job already restarts, fails or is cancelled is recorded
    /// with the one being handled.
    pub(super) fn on_failure(
        &mut self,
        kind: FailureKind,
        subtask: Option<(usize, usize, String)>,
        task_manager: Option<String>,
        message: String,
        ctx: &mut Context<Self>,
    ) {
        let cause = match &subtask {
            Some((_, _, t)) => format!("{t} failed: {message}"),
            None => message.clone(),
        };
        let at = subtask.as_ref().map(|(v, s, _)| (*v, *s));
        let task = subtask.map(|(_, _, t)| t);
        let mut entry = JobException {
            timestamp: SystemTime::now(),
            kind,
            message: cause.clone(),
            task,
            task_manager,
            outcome: self.graph.status(),
            restart_delay: None,
            restarted_subtasks: None,
            concurrent: Vec::new(),
        };
        let region_restarting = at
            .is_some_and(|p| self.restarting_regions.contains(&p) || self.relocating.contains(&p));
        if region_restarting
            || !matches!(self.graph.status(), JobStatus::Running | JobStatus::Created)
        {
            if let Some(current) = self.failures.exceptions.last_mut() {
                if current.concurrent.len() < CONCURRENT_EXCEPTIONS {
                    current.concurrent.push(entry);
                }
            }
            return;
        }
        let now = Instant::now();
        let random = (crate::util::random_u64() >> 11) as f64 / (1u64 << 53) as f64;
        match self.backoff.handle_failure_of(&cause, now, random) {
            RestartDecision::Restart(delay) => {
                self.failures.restarts += 1;
                entry.outcome = JobStatus::Restarting;
                entry.restart_delay = Some(delay);
                let at_restart = now + delay;
                self.restart_at = Some(self.restart_at.map_or(at_restart, |t| t.max(at_restart)));
                // A subtask's failure (its own, or its TaskManager's loss) restarts its
                // region, when the job has several.
                let region = match (self.failover, at, kind) {
                    (
                        FailoverStrategy::Region,
                        Some((v, s)),
                        FailureKind::TaskFailure | FailureKind::TaskManagerLost,
                    ) if self.regions.count() > 1 => self.regions.region(v, s),
                    _ => None,
                };
                if let Some(r) = region {
                    let members = self.regions.members(r);
                    tracing::warn!(job_id = %self.job_id, %cause, ?delay, region = r, subtasks = members.len(), "restarting a region");
                    entry.restarted_subtasks = Some(members.len());
                    self.record_exception(entry);
                    self.restarting_regions.extend(members);
                    self.abort_checkpoints("a region restarts", ctx);
                    let members = self.restarting_regions.clone();
                    self.cancel_where(|v, s| members.contains(&(v, s)));
                    self.check_end(ctx);
                    return;
                }
                tracing::warn!(job_id = %self.job_id, %cause, ?delay, restarts = self.backoff.restarts(), "restarting the job");
                entry.restarted_subtasks = Some(self.graph.subtasks().count());
                self.record_exception(entry);
                self.restarting_regions.clear();
                self.set_status(JobStatus::Restarting);
                self.abort_checkpoints("the job restarts", ctx);
            }
            RestartDecision::GiveUp(why) => {
                entry.outcome = JobStatus::Failing;
                self.record_exception(entry);
                let failure = match self.backoff.strategy() {
                    RestartStrategy::None => cause,
                    _ => format!("{cause} ({why})"),
                };
                self.graph.set_failure(failure);
                self.set_status(JobStatus::Failing);
            }
        }
        // Everything stops: restarted regions waiting for slots wait no more.
        self.end_relocation();
        self.cancel_all();
        self.check_end(ctx);
    }

    fn record_exception(&mut self, e: JobException) {
        let f = &mut self.failures;
        if f.exceptions.len() == EXCEPTION_HISTORY {
            f.exceptions.remove(0);
            f.dropped += 1;
        }
        f.exceptions.push(e);
    }

    /// Once every subtask of a restarting job stopped: restarts it when the strategy's delay
    /// has passed.
    fn schedule_restart(&mut self, ctx: &mut Context<Self>) {
        if self.restart_scheduled {
            return;
        }
        self.restart_scheduled = true;
        let wait = self.restart_at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        });
        ctx.run_later(wait, |act, ctx| act.restart(ctx));
    }

    /// Every subtask's next attempt, restored from the newest completed checkpoint, into the
    /// job's slots (asking for the ones lost TaskManagers took).
    fn restart(&mut self, ctx: &mut Context<Self>) {
        self.restart_scheduled = false;
        self.restart_at = None;
        if self.graph.status() == JobStatus::Running && !self.restarting_regions.is_empty() {
            self.restart_regions(ctx);
            return;
        }
        if self.graph.status() != JobStatus::Restarting {
            return;
        }
        if let Some((id, dir)) = self.checkpoints.as_ref().and_then(|c| c.latest()) {
            tracing::info!(job_id = %self.job_id, checkpoint = id, "restoring after a failure");
            self.restore_dir = Some(dir.clone());
        }
        self.graph.reset_attempts();
        self.input_ended.clear();
        self.scheduled = false;
        self.set_status(JobStatus::Running);
        let needed = self.job_graph.slots_needed();
        if self.slots.len() >= needed {
            self.schedule(ctx);
        } else {
            self.request_slots(needed - self.slots.len(), ctx);
        }
    }

    /// The next attempt of every subtask of the restarting regions, in the slots they had (or
    /// in new ones where their TaskManager was lost), restored from the newest completed
    /// checkpoint; the other regions run on.
    fn restart_regions(&mut self, ctx: &mut Context<Self>) {
        let members = std::mem::take(&mut self.restarting_regions);
        if let Some((id, dir)) = self.checkpoints.as_ref().and_then(|c| c.latest()) {
            tracing::info!(job_id = %self.job_id, checkpoint = id, subtasks = members.len(), "restoring regions after a failure");
            self.restore_dir = Some(dir.clone());
        }
        self.graph
            .reset_attempts_of(|v, s| members.contains(&(v, s)));
        self.relocating.extend(members);
        self.place_relocating(ctx);
    }

    /// Deploys the subtasks of restarted regions once every one of them has a live slot. A
    /// lost slot's subtasks move together into one free slot (they shared it); slots that
    /// are missing are asked for, and if they do not come within the slot request timeout the
    /// job fails over as a whole (its restart strategy decides).
    fn place_relocating(&mut self, ctx: &mut Context<Self>) {
        if self.relocating.is_empty() {
            return;
        }
        let lost = self.lost_slots_of_relocating();
        let mut free = self.free_slots().into_iter();
        let mut placed = 0;
        for old in &lost {
            let Some(new) = free.next() else {
                break;
            };
            placed += 1;
            for &(v, s) in &self.relocating {
                let moves = self.graph.vertices[v].subtasks[s]
                    .location
                    .as_ref()
                    .is_some_and(|l| l.allocation == *old);
                if moves {
                    self.graph.assign(v, s, new.clone());
                }
            }
        }
        let missing = lost.len() - placed;
        if missing > 0 {
            if missing > self.relocation_asked {
                let ask = missing - self.relocation_asked;
                self.relocation_asked += ask;
                self.request_relocation_slots(ask, ctx);
            }
            return;
        }
        let members = std::mem::take(&mut self.relocating);
        self.end_relocation();
        for (v, s) in members {
            if let Err(e) = self.graph.update(v, s, ExecutionState::Scheduled, None) {
                tracing::warn!(job_id = %self.job_id, error = %e, "rescheduling");
            }
        }
        self.deploy_scheduled(ctx);
    }

    /// The slots the relocating subtasks had that are gone, each once, in subtask order.
    fn lost_slots_of_relocating(&self) -> Vec<AllocationId> {
        let live: std::collections::HashSet<AllocationId> =
            self.slots.iter().map(|s| s.allocation).collect();
        let mut lost = Vec::new();
        for &(v, s) in &self.relocating {
            let had = self.graph.vertices[v].subtasks[s]
                .location
                .as_ref()
                .map(|l| l.allocation);
            if let Some(a) = had.filter(|a| !live.contains(a) && !lost.contains(a)) {
                lost.push(a);
            }
        }
        lost
    }

    /// The job's slots that no subtask is placed in.
    fn free_slots(&self) -> Vec<SlotLocation> {
        let used: std::collections::HashSet<AllocationId> = self
            .graph
            .subtasks()
            .filter_map(|(_, _, x)| x.location.as_ref().map(|l| l.allocation))
            .collect();
        self.slots
            .iter()
            .filter(|s| !used.contains(&s.allocation))
            .map(|s| SlotLocation {
                task_manager: s.task_manager.clone(),
                allocation: s.allocation,
            })
            .collect()
    }

    /// No restarted region waits for slots any more (placed, or given up).
    fn end_relocation(&mut self) {
        self.relocating.clear();
        self.relocation_asked = 0;
        self.relocation_round += 1;
    }

    /// Asks for `count` slots for restarted regions whose TaskManager was lost; a failure of
    /// the job if they are still missing after the slot request timeout.
    fn request_relocation_slots(&mut self, count: usize, ctx: &mut Context<Self>) {
        tracing::info!(job_id = %self.job_id, count, "asking for slots in place of a lost TaskManager's");
        if let Some(me) = self.me.clone() {
            self.resource_manager.do_send(RequestSlots {
                job_id: self.job_id,
                count,
                job_master: me,
            });
        }
        let round = self.relocation_round;
        ctx.run_later(self.config.slot_request_timeout, move |act, ctx| {
            // Void once the waiting subtasks were placed, or the job restarted or ended since.
            if act.relocation_round != round || act.graph.status() != JobStatus::Running {
                return;
            }
            let message = format!(
                "could not acquire the slots of a lost TaskManager within {:?} for {} restarted subtasks",
                act.config.slot_request_timeout,
                act.relocating.len()
            );
            act.on_failure(FailureKind::JobFailure, None, None, message, ctx);
        });
    }

    /// Asks the ResourceManager for `count` more slots; the job fails if it does not have all
    /// it needs within the slot request timeout.
    fn request_slots(&mut self, count: usize, ctx: &mut Context<Self>) {
        if let Some(me) = self.me.clone() {
            self.resource_manager.do_send(RequestSlots {
                job_id: self.job_id,
                count,
                job_master: me,
            });
        }
        let generation = self.generation();
        let needed = self.job_graph.slots_needed();
        ctx.run_later(self.config.slot_request_timeout, move |act, ctx| {
            // Void once the job scheduled, ended, or restarted since.
            if act.scheduled || act.graph.status().is_terminal() || act.generation() != generation {
                return;
            }
            act.graph.set_failure(format!(
                "could not acquire the {needed} slots the job needs within {:?} ({} offered)",
                act.config.slot_request_timeout,
                act.slots.len()
            ));
            act.set_status(JobStatus::Failing);
            act.cancel_all();
            act.check_end(ctx);
        });
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
        if let Err(cause) = self.start_checkpointing(ctx) {
            self.graph.set_failure(cause);
            self.set_status(JobStatus::Failing);
            self.cancel_all();
            self.check_end(ctx);
            return;
        }
        self.request_slots(self.job_graph.slots_needed(), ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.registry.unregister(&Self::path_of(self.job_id));
    }
}

impl JobMaster {
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
        self.on_failure(FailureKind::JobFailure, None, None, cause.to_string(), ctx);
    }
}

remote_message!(JobMaster: OfferSlots = "rill.jm.OfferSlots");
remote_message!(JobMaster: UpdateTaskExecutionState = "rill.jm.UpdateTaskExecutionState");
remote_message!(JobMaster: CheckpointResponse = "rill.jm.CheckpointResponse");
remote_message!(JobMaster: TaskManagerLost = "rill.jm.TaskManagerLost");
remote_message!(inject_panic JobMaster);

impl Handler<OfferSlots> for JobMaster {
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

impl Handler<UpdateTaskExecutionState> for JobMaster {
    type Result = ();

    fn handle(&mut self, msg: UpdateTaskExecutionState, ctx: &mut Self::Context) {
        self.on_update(msg, ctx);
    }
}

impl Handler<CancelJob> for JobMaster {
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

impl Handler<RequestJobDetails> for JobMaster {
    type Result = ResponseActFuture<Self, JobDetails>;

    fn handle(&mut self, msg: RequestJobDetails, _ctx: &mut Self::Context) -> Self::Result {
        if !msg.refresh_io || self.graph.status().is_globally_terminal() {
            return Box::pin(actix::fut::ready(self.details(self.graph.status())));
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
        Box::pin(answers.into_actor(self).map(|answers, act, _| {
            for (attempt, io) in answers {
                act.graph.record_io(attempt, io);
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

impl Handler<TaskManagerLost> for JobMaster {
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
                    failure: Some(msg.cause.clone()),
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
                        })
                        .collect();
                    (v.name.clone(), subtasks)
                })
                .collect(),
            failures: self.failures.clone(),
        }
    }
}
