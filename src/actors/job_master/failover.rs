//! How the JobMaster meets failures: the restart strategy's decision, full and region
//! restarts, and placing restarted subtasks whose TaskManager was lost.

use std::time::{Instant, SystemTime};

use actix::prelude::*;

use super::*;

impl JobMaster {
    /// Puts a failure to the restart strategy: RESTARTING or FAILING, every subtask
    /// cancelled. A failure while the job already restarts, fails or is cancelled is recorded
    /// with the one being handled.
    pub(super) fn on_failure(
        &mut self,
        kind: FailureKind,
        subtask: Option<(usize, usize, String)>,
        task_manager: Option<String>,
        message: String,
        recoverable: bool,
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
        match self.backoff.handle_failure_of(recoverable, now, random) {
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

    pub(super) fn record_exception(&mut self, e: JobException) {
        let f = &mut self.failures;
        if f.exceptions.len() == EXCEPTION_HISTORY {
            f.exceptions.remove(0);
            f.dropped += 1;
        }
        f.exceptions.push(e);
    }

    /// Once every subtask of a restarting job stopped: restarts it when the strategy's delay
    /// has passed.
    pub(super) fn schedule_restart(&mut self, ctx: &mut Context<Self>) {
        if self.restart_scheduled {
            return;
        }
        self.restart_scheduled = true;
        let wait = self.restart_at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        });
        ctx.supervised_later("restart", wait, |act, ctx| act.restart(ctx));
    }

    /// Counts a restore from the newest completed checkpoint in the checkpoint statistics.
    fn note_restore(&mut self, id: u64, dir: &std::path::Path) {
        if let Some(c) = self.checkpoints.as_mut() {
            c.note_restore(id, dir, crate::eventtime::processing_time_now(), false);
        }
    }

    /// Every subtask's next attempt, restored from the newest completed checkpoint, into the
    /// job's slots (asking for the ones lost TaskManagers took).
    pub(super) fn restart(&mut self, ctx: &mut Context<Self>) {
        self.restart_scheduled = false;
        self.restart_at = None;
        if self.graph.status() == JobStatus::Running && !self.restarting_regions.is_empty() {
            self.restart_regions(ctx);
            return;
        }
        if self.graph.status() != JobStatus::Restarting {
            return;
        }
        if let Some((id, dir)) = self.checkpoints.as_ref().and_then(|c| c.latest()).cloned() {
            tracing::info!(job_id = %self.job_id, checkpoint = id, "restoring after a failure");
            self.note_restore(id, &dir);
            self.restore_dir = Some(dir);
        }
        self.graph.reset_attempts();
        self.input_ended.clear();
        self.alignment.clear();
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
    pub(super) fn restart_regions(&mut self, ctx: &mut Context<Self>) {
        let members = std::mem::take(&mut self.restarting_regions);
        if let Some((id, dir)) = self.checkpoints.as_ref().and_then(|c| c.latest()).cloned() {
            tracing::info!(job_id = %self.job_id, checkpoint = id, subtasks = members.len(), "restoring regions after a failure");
            self.note_restore(id, &dir);
            self.restore_dir = Some(dir);
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
    pub(super) fn place_relocating(&mut self, ctx: &mut Context<Self>) {
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
    pub(super) fn lost_slots_of_relocating(&self) -> Vec<AllocationId> {
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
    pub(super) fn free_slots(&self) -> Vec<SlotLocation> {
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
    pub(super) fn end_relocation(&mut self) {
        self.relocating.clear();
        self.relocation_asked = 0;
        self.relocation_round += 1;
    }

    /// Asks for `count` slots for restarted regions whose TaskManager was lost; a failure of
    /// the job if they are still missing after the slot request timeout.
    pub(super) fn request_relocation_slots(&mut self, count: usize, ctx: &mut Context<Self>) {
        tracing::info!(job_id = %self.job_id, count, "asking for slots in place of a lost TaskManager's");
        if let Some(me) = self.me.clone() {
            self.resource_manager.do_send(RequestSlots {
                job_id: self.job_id,
                count,
                job_master: me,
            });
        }
        let round = self.relocation_round;
        ctx.supervised_later("slot request timeout", self.config.slot_request_timeout, move |act, ctx| {
            // Void once the waiting subtasks were placed, or the job restarted or ended since.
            if act.relocation_round != round || act.graph.status() != JobStatus::Running {
                return;
            }
            let message = format!(
                "could not acquire the slots of a lost TaskManager within {:?} for {} restarted subtasks",
                act.config.slot_request_timeout,
                act.relocating.len()
            );
            act.on_failure(FailureKind::JobFailure, None, None, message, true, ctx);
        });
    }

    /// Asks the ResourceManager for `count` more slots; the job fails if it does not have all
    /// it needs within the slot request timeout.
    pub(super) fn request_slots(&mut self, count: usize, ctx: &mut Context<Self>) {
        if let Some(me) = self.me.clone() {
            self.resource_manager.do_send(RequestSlots {
                job_id: self.job_id,
                count,
                job_master: me,
            });
        }
        let generation = self.generation();
        let needed = self.job_graph.slots_needed();
        ctx.supervised_later(
            "slot request timeout",
            self.config.slot_request_timeout,
            move |act, ctx| {
                // Void once the job scheduled, ended, or restarted since.
                if act.scheduled
                    || act.graph.status().is_terminal()
                    || act.generation() != generation
                {
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
            },
        );
    }
}
