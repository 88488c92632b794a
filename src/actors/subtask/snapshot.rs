//! A subtask's snapshot for a checkpoint: taking its operators' state on the slot's thread,
//! writing it off that thread, and acknowledging (or declining) with what it measured of the
//! checkpoint ([`crate::checkpoint::figures`]: the clock is read a few times per checkpoint,
//! never per record).

use super::*;
use crate::checkpoint::figures::{Measuring, Moment, SubtaskCheckpointFigures};
use crate::checkpoint::storage::StateHandle;

/// A checkpoint's state taken on the subtask's thread, and what was measured so far.
pub(super) struct Taken {
    /// The operators' state, or why it could not be taken.
    pub(super) state: TakenState,
    /// The measurement under way.
    pub(super) measuring: Measuring,
}

impl Subtask {
    /// The clocks and the input counter now.
    pub(super) fn moment(&self) -> Moment {
        Moment {
            wall_ms: processing_time_now(),
            mono: Instant::now(),
            bytes_in: self.metrics.bytes_in(),
        }
    }

    /// A barrier of `barrier`'s checkpoint is seen on an input: the first one starts its
    /// alignment.
    pub(super) fn barrier_seen(&mut self, barrier: &CheckpointBarrier) {
        let now = self.moment();
        self.clock.barrier_seen(barrier, now);
    }

    /// Takes the state for `barrier`'s checkpoint (its synchronous part), measured.
    pub(super) fn snapshot(&mut self, barrier: &CheckpointBarrier) -> Taken {
        let now = self.moment();
        let mut measuring = self.clock.snapshot_starts(barrier, now);
        let state = self.take_state(barrier.id);
        measuring.sync_done(Instant::now());
        Taken { state, measuring }
    }

    /// The state of the source (if any) and of every operator of the chain, for checkpoint
    /// `id` (copies, or handles to immutable data, to be written off this thread).
    fn take_state(&mut self, id: u64) -> TakenState {
        self.taken = self.taken.max(id);
        let Some(chain) = self.chain.as_mut() else {
            return Ok(Vec::new());
        };
        let mut operators = Vec::new();
        if let Some(head) = self.head_ctx.as_ref() {
            let s = match self.source.as_mut() {
                Some(source) => source.snapshot_state(id).map_err(|e| e.to_string())?,
                None => self.source_at_end.clone().unwrap_or_default(),
            };
            if !s.is_empty() {
                operators.push((head.operator_id.clone(), s.into()));
            }
        }
        operators.extend(chain.snapshot_state(id).map_err(|e| e.to_string())?);
        Ok(operators)
    }

    /// Writes the taken state (and captured in-flight data) of `barrier`'s checkpoint off this
    /// thread; the answer goes to the JobMaster once the file is written. State that could not
    /// be taken declines the checkpoint (the job goes on).
    pub(super) fn persist(
        &mut self,
        barrier: CheckpointBarrier,
        taken: Taken,
        in_flight: Option<InFlightCapture>,
    ) {
        let Taken { state, measuring } = taken;
        let operators = match state {
            Ok(ops) => ops,
            Err(e) => {
                self.respond(barrier.id, Err(e));
                return;
            }
        };
        let unaligned = in_flight.is_some();
        if operators.is_empty() && in_flight.as_ref().is_none_or(InFlightCapture::is_empty) {
            let figures = measuring.written(Instant::now(), 0, unaligned);
            self.respond_with(barrier.id, Ok(None), figures);
            return;
        }
        let (vertex, subtask) = (self.tdd.vertex, self.tdd.subtask.get());
        let (job_id, attempt, id) = (self.tdd.job_id, self.tdd.attempt, barrier.id);
        let respond = self.checkpoints.clone();
        let target = crate::state::SnapshotTarget {
            kind: barrier.kind,
            dir: std::path::PathBuf::from(barrier.dir),
        };
        tokio::task::spawn_blocking(move || {
            // The copies taken at the barrier are serialized here, off the slot's thread.
            let dir = &target.dir;
            let completed = operators
                .into_iter()
                .map(|(op, s)| s.complete(&target).map(|s| (op, s)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string());
            let channels = in_flight
                .map(InFlightCapture::encode)
                .transpose()
                .map_err(|e| e.to_string())
                .map(Option::unwrap_or_default);
            let result = completed.and_then(|operators| {
                let snapshot = SubtaskSnapshot {
                    operators,
                    channels: channels?,
                };
                write_subtask_state(dir, vertex, subtask, &snapshot)
                    .map(Some)
                    .map_err(|e| e.to_string())
            });
            let persisted = match &result {
                Ok(Some(h)) => h.persisted,
                _ => 0,
            };
            respond.do_send(CheckpointResponse {
                job_id,
                attempt,
                checkpoint_id: id,
                result,
                not_running: false,
                figures: measuring.written(Instant::now(), persisted, unaligned),
            });
        });
    }

    /// Declines checkpoint `checkpoint_id` (`Err`), or acknowledges it without measurements.
    pub(super) fn respond(&self, checkpoint_id: u64, result: Result<Option<StateHandle>, String>) {
        self.respond_with(checkpoint_id, result, SubtaskCheckpointFigures::default());
    }

    fn respond_with(
        &self,
        checkpoint_id: u64,
        result: Result<Option<StateHandle>, String>,
        figures: SubtaskCheckpointFigures,
    ) {
        self.checkpoints.do_send(CheckpointResponse {
            job_id: self.tdd.job_id,
            attempt: self.tdd.attempt,
            checkpoint_id,
            result,
            not_running: false,
            figures,
        });
    }
}
