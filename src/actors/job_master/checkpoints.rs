//! The JobMaster's part in checkpointing: restoring at start, triggering, completing and
//! cleaning up (the bookkeeping itself is [`CheckpointCoordinator`]'s).
//!
//! ## Rules
//! - A periodic checkpoint is triggered only while every subtask runs (a subtask whose input
//!   ended still runs until the final checkpoint completed). It is sent to every subtask.
//! - Once every subtask has reported the end of its input, the final checkpoint is triggered
//!   at once (and every later one is final too); its completion lets the subtasks finish.
//! - A completed checkpoint's `_metadata` is written before any subtask is told it completed,
//!   on the JobMaster's I/O thread (as are removals), never on the actor's thread; writes
//!   complete in the order the checkpoints did. A checkpoint whose metadata was still being
//!   written when the job restarted is discarded: its execution is gone, and restoring it
//!   later could repeat what the restarted execution already committed.
//! - When the job ends FAILED its retained checkpoints stay (to restore from); when it is
//!   CANCELED or FINISHED they are removed, unless `retain_on_cancellation` is set.
//! - Restoring from a snapshot that holds state for operators the job does not have fails the
//!   job, unless the submission allows non-restored state.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use actix::prelude::*;

use crate::actors::job_master::JobMaster;
use crate::actors::remote::{Handles, SupervisedContext, SupervisedFuture};
use crate::actors::task_manager::CheckpointResponse;
use crate::checkpoint::coordinator::{
    CheckpointSizes, CheckpointStats, CoordinatorAction, PendingCheckpoint, SubtaskCheckpointStats,
};
use crate::checkpoint::storage::{self, checkpoint_dir, CheckpointMetadata, VertexMetadata};
use crate::checkpoint::{CheckpointCoordinator, SnapshotKind};
use crate::eventtime::processing_time_now;
use crate::graph::{ExecutionState, JobStatus};

/// Why a job cannot start from the checkpoint or savepoint it names.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// No usable checkpoint is there.
    #[error("cannot restore: {0}")]
    Resolve(#[from] storage::StorageError),
    /// The JobMaster's I/O thread took no more work.
    #[error("cannot restore: the JobMaster's I/O queue is full")]
    Busy,
    /// The checkpoint holds state of operators the job does not have.
    #[error("cannot restore from {dir}: it holds state for operators this job does not have ({operators}); allow non-restored state to start without it")]
    Unmatched {
        /// The checkpoint.
        dir: String,
        /// The operators, comma-separated.
        operators: String,
    },
}

impl JobMaster {
    /// The directory of this job's checkpoints.
    fn job_checkpoint_dir(&self) -> PathBuf {
        self.job_graph
            .checkpointing
            .dir
            .clone()
            .unwrap_or_else(|| self.config.checkpoint_dir.clone())
            .join(self.job_id.to_string())
    }

    /// Checks the resolved restore location against the job, creates the coordinator and
    /// starts periodic checkpoints. An unusable restore location is the job's failure cause.
    pub(super) fn start_checkpointing(
        &mut self,
        resolved: Option<Result<storage::Resolved, RestoreError>>,
        ctx: &mut Context<Self>,
    ) -> Result<(), RestoreError> {
        let mut first_id = 1;
        let mut restored = None;
        if let (Some(r), Some(resolved)) = (self.job_graph.restore.clone(), resolved) {
            let resolved = resolved?;
            for skipped in &resolved.skipped {
                tracing::warn!(job_id = %self.job_id, error = %skipped, "passed over a damaged checkpoint");
            }
            let cp = resolved.checkpoint;
            let ours: HashSet<String> = self
                .job_graph
                .vertices
                .iter()
                .flat_map(|v| v.operators.iter().map(|o| o.state_id()))
                .collect();
            let mut unmatched: Vec<&str> = cp
                .metadata
                .vertices
                .iter()
                .flat_map(|v| v.subtasks.iter().flatten())
                .flat_map(|h| h.operators.iter())
                .filter(|o| !ours.contains(*o))
                .map(String::as_str)
                .collect();
            unmatched.sort_unstable();
            unmatched.dedup();
            if !unmatched.is_empty() && !r.allow_non_restored_state {
                return Err(RestoreError::Unmatched {
                    dir: cp.dir.display().to_string(),
                    operators: unmatched.join(", "),
                });
            }
            tracing::info!(job_id = %self.job_id, checkpoint = cp.metadata.checkpoint_id, dir = %cp.dir.display(), "restoring");
            first_id = cp.metadata.checkpoint_id + 1;
            restored = Some((
                cp.metadata.checkpoint_id,
                cp.dir.clone(),
                cp.metadata.kind == crate::checkpoint::SnapshotKind::Savepoint,
            ));
            self.restore_dir = Some(cp.dir);
        }
        let shape = self
            .job_graph
            .vertices
            .iter()
            .map(|v| v.parallelism)
            .collect();
        let mut coordinator = CheckpointCoordinator::new(
            self.job_graph.checkpointing.clone(),
            self.job_checkpoint_dir(),
            shape,
            first_id,
        );
        if let Some((id, dir, savepoint)) = restored {
            coordinator.note_restore(id, &dir, processing_time_now(), savepoint);
        }
        if let Some(interval) = self.job_graph.checkpointing.interval {
            ctx.supervised_interval("periodic checkpoint", interval, |act, ctx| {
                act.periodic_checkpoint(ctx)
            });
        }
        self.checkpoints = Some(coordinator);
        Ok(())
    }

    fn all_running(&self) -> bool {
        self.graph
            .subtasks()
            .all(|(_, _, x)| x.state == ExecutionState::Running)
    }

    fn periodic_checkpoint(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let expired = match self.checkpoints.as_mut() {
            Some(c) => c.expire(now),
            None => return,
        };
        for a in expired {
            self.on_checkpoint_action(a, ctx);
        }
        let may = self
            .checkpoints
            .as_ref()
            .is_some_and(|c| c.may_trigger_periodic(now));
        if may && self.graph.status() == JobStatus::Running && self.all_running() {
            self.trigger_checkpoint(SnapshotKind::Checkpoint, None, None);
        }
    }

    /// Whether every subtask runs with its input ended (waiting for the final checkpoint).
    fn all_input_ended(&self) -> bool {
        self.graph.subtasks().all(|(_, _, x)| {
            x.state == ExecutionState::Running && self.input_ended.contains(&x.attempt)
        })
    }

    /// A subtask's input ended. Once every subtask's has, the final checkpoint is triggered
    /// (also by the periodic timer later, should this one fail).
    pub(super) fn on_input_ended(&mut self, attempt: crate::ids::ExecutionAttemptId) {
        if self.graph.find(attempt).is_none() {
            return;
        }
        self.input_ended.insert(attempt);
        if self.graph.status() == JobStatus::Running && self.all_input_ended() {
            tracing::debug!(job_id = %self.job_id, "every subtask's input ended: the final checkpoint");
            self.trigger_checkpoint(SnapshotKind::Checkpoint, None, None);
        }
    }

    /// Starts a checkpoint (or a savepoint into `target`); returns its id. `stop`
    /// (`Some(drain)`) makes it a stop-with-savepoint. Every subtask is triggered: a source
    /// injects the barrier, a subtask whose input ended takes it directly, any other takes it
    /// when the barrier comes through its inputs (or at their end, if it never does). One
    /// triggered once every subtask's input ended is the final checkpoint.
    pub(super) fn trigger_checkpoint(
        &mut self,
        kind: SnapshotKind,
        target: Option<PathBuf>,
        stop: Option<bool>,
    ) -> Option<u64> {
        let is_final = self.all_input_ended();
        let c = self.checkpoints.as_mut()?;
        let mut barrier = c.trigger(kind, Instant::now(), processing_time_now(), target);
        barrier.is_final = is_final;
        tracing::debug!(job_id = %self.job_id, checkpoint = barrier.id, is_final, "triggering");
        for (_, _, x) in self.graph.subtasks() {
            let tm = x
                .location
                .as_ref()
                .and_then(|l| self.task_managers.get(&l.task_manager));
            if let Some(tm) = tm {
                tm.trigger_checkpoint(x.attempt, barrier.clone(), stop);
            }
        }
        Some(barrier.id)
    }

    fn on_checkpoint_action(&mut self, action: CoordinatorAction, ctx: &mut Context<Self>) {
        match action {
            CoordinatorAction::Complete(p) => {
                let metadata = CheckpointMetadata {
                    job_id: self.job_id,
                    job_name: self.job_graph.name.clone(),
                    checkpoint_id: p.barrier.id,
                    timestamp: p.barrier.timestamp,
                    kind: p.barrier.kind,
                    vertices: self
                        .job_graph
                        .vertices
                        .iter()
                        .zip(&p.acks)
                        .map(|(v, acks)| VertexMetadata {
                            vertex: v.id,
                            name: v.name.clone(),
                            operators: v.operators.iter().map(|o| o.state_id()).collect(),
                            parallelism: v.parallelism,
                            max_parallelism: v.max_parallelism,
                            subtasks: acks.iter().map(|a| a.clone().flatten()).collect(),
                        })
                        .collect(),
                };
                let (epoch, dir) = (self.checkpoint_epoch, p.dir.clone());
                let (ha, job_id, id) = (self.config.ha.clone(), self.job_id, p.barrier.id);
                self.blocking(move || {
                    super::completion::complete_checkpoint(
                        ha.as_deref(),
                        job_id,
                        id,
                        &dir,
                        metadata,
                    )
                })
                .into_actor(self)
                .map(move |written, act, ctx| act.metadata_written(p, epoch, written, ctx))
                .spawn_supervised("checkpoint metadata written", ctx);
            }
            CoordinatorAction::Failed {
                id,
                reason,
                fail_job,
            } => {
                tracing::warn!(job_id = %self.job_id, checkpoint = id, %reason, "checkpoint failed");
                let savepoint = self.savepoints.remove(&id).then_some(());
                if let Some(c) = self.checkpoints.as_ref() {
                    // A JobManager that may have been replaced touches no files: the
                    // directory may be its successor's checkpoint of the same id.
                    if savepoint.is_none() && self.may_write() {
                        let dir = checkpoint_dir(c.job_dir(), id);
                        self.blocking_detached(move || {
                            let _ = crate::checkpoint::store::remove_dir_all(&dir);
                        });
                    }
                }
                if savepoint.is_some() {
                    self.dispatcher.do_send(SavepointOutcome {
                        job_id: self.job_id,
                        id,
                        result: Err(SavepointError::Failed(reason.clone())),
                    });
                }
                if self.stop_with.is_some_and(|(s, _)| s == id) {
                    // The stop failed: the stopped sources go on.
                    self.stop_with = None;
                    for tm in self.task_managers.values() {
                        tm.notify_checkpoint_complete(self.job_id, id, true);
                    }
                }
                if fail_job && self.graph.status() == JobStatus::Running {
                    let tolerable = self.job_graph.checkpointing.tolerable_failures;
                    let message = format!(
                        "more than {tolerable} checkpoint failures in a row; the last: {reason}"
                    );
                    self.on_failure(
                        crate::actors::job_info::FailureKind::JobFailure,
                        None,
                        None,
                        message,
                        true,
                        ctx,
                    );
                }
            }
        }
    }

    /// Aborts every pending checkpoint and savepoint (the job restarts): they do not count
    /// as checkpoint failures; savepoints report the reason.
    pub(super) fn abort_checkpoints(&mut self, reason: &str, ctx: &mut Context<Self>) {
        // A checkpoint whose metadata is being written belongs to the execution that stops.
        self.checkpoint_epoch += 1;
        let now = Instant::now();
        let Some(c) = self.checkpoints.as_mut() else {
            return;
        };
        let ids: Vec<u64> = c.pending().map(|p| p.barrier.id).collect();
        let actions: Vec<CoordinatorAction> = ids
            .into_iter()
            .filter_map(|id| c.abort(id, reason.to_string(), now))
            .collect();
        for a in actions {
            self.on_checkpoint_action(a, ctx);
        }
    }

    /// The job reached its end: pending checkpoints are dropped, and the retained ones are
    /// removed unless the job failed or they are to be retained.
    pub(super) fn end_checkpointing(&mut self, end: JobStatus) {
        let dir = self.checkpoints.as_mut().and_then(|c| {
            c.abort_all(&format!("the job ended {end:?}"), Instant::now());
            let keep = end == JobStatus::Failed || c.settings().retain_on_cancellation;
            (!keep && c.settings().interval.is_some()).then(|| c.job_dir().to_path_buf())
        });
        let (ha, job_id) = (self.config.ha.clone(), self.job_id);
        if ha.is_none() && dir.is_none() {
            return;
        }
        self.blocking_detached(move || {
            if let Some(ha) = ha {
                // The job ended: no later leader may run it again. Its checkpoints are
                // removed only once etcd has forgotten it (a successor would restore from
                // them), and only by the leader.
                if let Err(e) = ha.remove_job(job_id) {
                    tracing::warn!(%job_id, error = %e, "removing an ended job from the job store; its checkpoints are kept");
                    return;
                }
            }
            if let Some(dir) = dir {
                let _ = crate::checkpoint::store::remove_dir_all(&dir);
            }
        });
    }

    /// Whether this JobManager may change checkpoint files: always without HA; with HA while
    /// it leads.
    fn may_write(&self) -> bool {
        self.config.ha.as_ref().is_none_or(|h| h.leading())
    }

    /// Runs blocking I/O on the JobMaster's I/O thread (inline when it has none); resolves to
    /// `None` when the thread's queue is full.
    pub(super) fn blocking<T, F>(
        &self,
        f: F,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<T>>>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match &self.io {
            Some(io) => Box::pin(io.run(f)),
            None => {
                let out = f();
                Box::pin(async move { Some(out) })
            }
        }
    }

    /// Runs blocking I/O on the I/O thread without waiting for it.
    fn blocking_detached(&self, f: impl FnOnce() + Send + 'static) {
        match &self.io {
            Some(io) => io.spawn(f),
            None => f(),
        }
    }

    /// A completed checkpoint's `_metadata` was written (or not): it completes, and the
    /// subtasks are told, unless the job restarted meanwhile (then it is discarded, as its
    /// execution is gone).
    fn metadata_written(
        &mut self,
        p: PendingCheckpoint,
        epoch: u64,
        written: Option<Result<CheckpointMetadata, super::completion::CompleteError>>,
        ctx: &mut Context<Self>,
    ) {
        let now = Instant::now();
        let current = epoch == self.checkpoint_epoch;
        let Some(c) = self.checkpoints.as_mut() else {
            return;
        };
        let metadata = match written {
            Some(Ok(m)) if current => m,
            other => {
                let (reason, counts) = match other {
                    Some(Ok(_)) => (
                        "discarded: the job restarted while its metadata was written".to_string(),
                        false,
                    ),
                    Some(Err(e)) => (format!("completing it: {e}"), true),
                    None => (
                        "the JobMaster's I/O thread did not take its metadata".to_string(),
                        true,
                    ),
                };
                let a = c.not_completed(&p, reason, now, counts);
                return self.on_checkpoint_action(a, ctx);
            }
        };
        let sizes = CheckpointSizes {
            state: metadata.state_size(),
            checkpointed: metadata.checkpointed_size(),
            persisted: metadata.persisted_size(),
        };
        let dropped = c.completed(&p, sizes, now);
        tracing::info!(job_id = %self.job_id, checkpoint = p.barrier.id, kind = ?p.barrier.kind, bytes = sizes.state, written = sizes.checkpointed, in_flight = sizes.persisted, "checkpoint completed");
        let (dir, retained) = (c.job_dir().to_path_buf(), c.retained_ids());
        self.blocking_detached(move || storage::discard(&dir, &dropped, &retained));
        for tm in self.task_managers.values() {
            tm.notify_checkpoint_complete(self.job_id, p.barrier.id, false);
        }
        if self.savepoints.remove(&p.barrier.id) {
            self.dispatcher.do_send(SavepointOutcome {
                job_id: self.job_id,
                id: p.barrier.id,
                result: Ok(p.dir.display().to_string()),
            });
        }
        if let Some((id, drain)) = self.stop_with {
            if id == p.barrier.id {
                self.stop_with = None;
                // Drained sources end on their own; the others are cancelled, so that
                // nothing is emitted after the savepoint.
                if !drain && self.graph.status() == JobStatus::Running {
                    self.set_status(JobStatus::Cancelling);
                    self.cancel_all();
                    self.check_end(ctx);
                }
            }
        }
    }
}

/// Asks for the job's checkpoint statistics.
#[derive(Message)]
#[rtype(result = "Option<CheckpointStats>")]
pub struct RequestCheckpointStats;

impl Handles<RequestCheckpointStats> for JobMaster {
    type Result = Option<CheckpointStats>;

    fn handle(&mut self, _: RequestCheckpointStats, _ctx: &mut Self::Context) -> Self::Result {
        self.checkpoints.as_ref().map(CheckpointCoordinator::stats)
    }
}

/// Why a savepoint was refused, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavepointError {
    /// Some subtask (or the job) is not running.
    #[error("a savepoint needs every subtask of the job running (the job is {0:?})")]
    NotRunning(JobStatus),
    /// A stop-with-savepoint is under way.
    #[error("the job is already stopping with a savepoint")]
    AlreadyStopping,
    /// The job does not checkpoint.
    #[error("the job has no checkpoint coordinator")]
    NoCoordinator,
    /// The job ended before it was asked.
    #[error("the job has ended: savepoints are taken of running jobs")]
    JobEnded,
    /// The savepoint was triggered and failed.
    #[error("{0}")]
    Failed(String),
}

/// Takes a savepoint into `target` (under `savepoints/` beside the jobs' checkpoint
/// directories when `None`); with `stop`
/// (`Some(drain)`), stops the job with it. Answers the savepoint's id.
#[derive(Message)]
#[rtype(result = "Result<u64, SavepointError>")]
pub struct TriggerSavepoint {
    /// Where the savepoint goes.
    pub target: Option<PathBuf>,
    /// Stop the job with the savepoint, draining (`Some(true)`) or not.
    pub stop: Option<bool>,
}

impl Handles<TriggerSavepoint> for JobMaster {
    type Result = Result<u64, SavepointError>;

    fn handle(&mut self, msg: TriggerSavepoint, _ctx: &mut Self::Context) -> Self::Result {
        if self.graph.status() != JobStatus::Running || !self.all_running() {
            return Err(SavepointError::NotRunning(self.graph.status()));
        }
        if self.stop_with.is_some() {
            return Err(SavepointError::AlreadyStopping);
        }
        // Savepoints belong to the user: by default beside the jobs' checkpoint directories,
        // never inside this job's (which goes when the job ends).
        let target = msg.target.unwrap_or_else(|| {
            let root = self
                .job_graph
                .checkpointing
                .dir
                .clone()
                .unwrap_or_else(|| self.config.checkpoint_dir.clone());
            root.join("savepoints").join(format!(
                "savepoint-{}-{:08x}",
                self.job_id,
                crate::util::random_u64() as u32
            ))
        });
        let id = self
            .trigger_checkpoint(SnapshotKind::Savepoint, Some(target), msg.stop)
            .ok_or(SavepointError::NoCoordinator)?;
        self.savepoints.insert(id);
        if let Some(drain) = msg.stop {
            self.stop_with = Some((id, drain));
        }
        Ok(id)
    }
}

/// A savepoint of a job completed (its directory) or failed (why): JobMaster → Dispatcher,
/// which answers savepoint status queries, also after the job ended.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SavepointOutcome {
    /// The job.
    pub job_id: crate::ids::JobId,
    /// The savepoint's id.
    pub id: u64,
    /// Its directory, or why it failed.
    pub result: Result<String, SavepointError>,
}

impl Handles<CheckpointResponse> for JobMaster {
    type Result = ();

    fn handle(&mut self, msg: CheckpointResponse, ctx: &mut Self::Context) {
        let Some((v, s)) = self.graph.find(msg.attempt) else {
            return;
        };
        let now = Instant::now();
        let task = format!(
            "{} ({}/{})",
            self.job_graph.vertices[v].name,
            s + 1,
            self.job_graph.vertices[v].parallelism
        );
        // Flink's acknowledgement time: when the JobMaster received it.
        let ack_timestamp = processing_time_now();
        let taskmanager = self
            .graph
            .subtasks()
            .find(|(_, _, x)| x.attempt == msg.attempt)
            .and_then(|(_, _, x)| x.location.as_ref())
            .map(|l| l.task_manager.to_string());
        let Some(c) = self.checkpoints.as_mut() else {
            return;
        };
        let action = match msg.result {
            Ok(handle) => {
                let stats = SubtaskCheckpointStats::new(
                    ack_timestamp,
                    handle.as_ref(),
                    msg.figures,
                    taskmanager,
                );
                c.acknowledge(msg.checkpoint_id, v, s, handle, stats)
            }
            Err(reason) if msg.not_running => c.abort(
                msg.checkpoint_id,
                format!(
                    "{task} could not take checkpoint {}: {reason}",
                    msg.checkpoint_id
                ),
                now,
            ),
            Err(reason) => c.fail(
                msg.checkpoint_id,
                format!("{task} declined checkpoint {}: {reason}", msg.checkpoint_id),
                now,
            ),
        };
        if let Some(a) = action {
            self.on_checkpoint_action(a, ctx);
        }
    }
}
