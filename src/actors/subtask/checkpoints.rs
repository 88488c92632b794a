//! The Subtask's part in checkpoints: barrier alignment outcomes, aligned and unaligned
//! checkpoints, and the end of the input (the final checkpoint); the snapshot itself is
//! [`super::snapshot`]'s. The rules are in the module above.

use super::*;

impl Subtask {
    /// Acts on what a barrier or an ended channel did to the alignment.
    pub(super) fn on_alignment(&mut self, alignment: Alignment) -> Result<(), OperatorError> {
        match alignment {
            Alignment::Pending => Ok(()),
            Alignment::Complete(barrier) => self.checkpoint(barrier),
            Alignment::Aborted { id, reason, then } => {
                self.respond(id, Err(reason));
                match then {
                    Some(barrier) => self.checkpoint(barrier),
                    None => Ok(()),
                }
            }
        }
    }

    /// Takes the chain's (and source's) state for `barrier`'s checkpoint, sends the barrier
    /// on, and writes the state file off this thread; the answer goes to the JobMaster once
    /// the file is written. A snapshot that fails declines the checkpoint (the job goes on).
    /// An unaligned barrier (at a source) overtakes the output queues instead.
    pub(super) fn checkpoint(&mut self, barrier: CheckpointBarrier) -> Result<(), OperatorError> {
        if barrier.alignment == BarrierAlignment::Unaligned {
            return self.start_unaligned(barrier, None);
        }
        self.supersede_unaligned(barrier.id);
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        chain.broadcast_barrier(&barrier);
        let taken = self.snapshot(&barrier);
        self.send_ready()?;
        let timed = matches!(
            barrier.alignment,
            BarrierAlignment::AlignedWithTimeout { .. }
        );
        if timed && self.outputs_hold(barrier.id) {
            self.unaligned = Some(PendingUnaligned {
                capture: InFlightCapture::new(barrier, []),
                taken,
                outputs_pending: true,
            });
        } else {
            self.persist(barrier, taken, None);
        }
        Ok(())
    }

    /// Whether barrier `id` still waits in an output queue.
    pub(super) fn outputs_hold(&mut self, id: u64) -> bool {
        self.chain
            .as_mut()
            .is_some_and(|c| c.writers().iter().any(|w| w.holds_barrier(id)))
    }

    /// The checkpoint waiting for its barrier to leave the output queues is written once it
    /// has.
    pub(super) fn on_outputs_sent(&mut self) {
        let Some(id) = self
            .unaligned
            .as_ref()
            .filter(|p| p.outputs_pending)
            .map(|p| p.capture.barrier().id)
        else {
            return;
        };
        if !self.outputs_hold(id) {
            if let Some(p) = self.unaligned.as_mut() {
                p.outputs_pending = false;
            }
            self.persist_unaligned_if_complete();
        }
    }

    /// Starts unaligned checkpoint `barrier` here: its barrier was delivered on `arrived_on`
    /// (or its alignment timed out, or this is a source). The state is taken now, the barrier
    /// overtakes every output queue, and what each input delivered before its barrier and has
    /// not been processed is captured.
    pub(super) fn start_unaligned(
        &mut self,
        mut barrier: CheckpointBarrier,
        arrived_on: Option<usize>,
    ) -> Result<(), OperatorError> {
        let id = barrier.id;
        self.supersede_unaligned(id);
        if self.unaligned.is_some() || self.chain.is_none() {
            return Ok(());
        }
        let Some(hand) = self.aligner.hand_over(id) else {
            return Ok(());
        };
        if let Some(old) = hand.aborted {
            let why =
                format!("checkpoint {old} was still aligning when checkpoint {id} went unaligned");
            self.respond(old, Err(why));
        }
        let taken = self.snapshot(&barrier);
        barrier.alignment = BarrierAlignment::Unaligned;
        let mut capture =
            InFlightCapture::new(barrier.clone(), self.channels.iter().map(|c| c.input));
        for (input, batch) in &self.restored_input {
            capture.add_restored(*input, batch.clone());
        }
        for ch in 0..self.channels.len() {
            if self.channels[ch].ended || hand.arrived.get(ch).copied().unwrap_or(false) {
                // Nothing before its barrier is left unprocessed.
                capture.close(ch);
                continue;
            }
            let queue = &self.channels[ch].queue;
            let queued_barrier = queue
                .iter()
                .position(|e| matches!(e, StreamElement::Barrier(b) if b.id == id));
            for e in queue.iter().take(queued_barrier.unwrap_or(queue.len())) {
                capture.record(ch, e);
            }
            if let Some(pos) = queued_barrier {
                // It is overtaken where it waits; its buffer is free again.
                self.channels[ch].queue.remove(pos);
                self.channels[ch].inbox.processed();
                let (gate, gc) = (self.channels[ch].gate, self.channels[ch].gate_channel);
                let grant = self.gates[gate]
                    .on_consumed(gc)
                    .map_err(|e| self.protocol(e))?;
                self.grant(gate, grant);
                capture.close(ch);
            }
            if arrived_on == Some(ch) {
                capture.close(ch);
            }
        }
        if let Some(chain) = self.chain.as_mut() {
            for (w, writer) in chain.writers().iter_mut().enumerate() {
                capture.add_outputs(writer.overtake_with_barrier(w, &barrier));
            }
        }
        self.send_ready()?;
        self.unaligned = Some(PendingUnaligned {
            capture,
            taken,
            outputs_pending: false,
        });
        self.persist_unaligned_if_complete();
        Ok(())
    }

    /// An unaligned barrier (or one that went unaligned) was delivered on `ch`.
    pub(super) fn on_priority_barrier(
        &mut self,
        ch: usize,
        barrier: CheckpointBarrier,
    ) -> Result<(), OperatorError> {
        self.barrier_seen(&barrier);
        match self.unaligned.as_mut() {
            Some(p) if p.capture.barrier().id == barrier.id => {
                p.capture.close(ch);
                self.persist_unaligned_if_complete();
                Ok(())
            }
            Some(p) if p.capture.barrier().id > barrier.id => Ok(()),
            _ => self.start_unaligned(barrier, Some(ch)),
        }
    }

    /// Whether a barrier delivered now is handled at once, ahead of its channel's queue.
    pub(super) fn is_priority(&self, barrier: &CheckpointBarrier) -> bool {
        self.unaligned
            .as_ref()
            .is_some_and(|p| p.capture.barrier().id == barrier.id)
            || (!self.aligner.is_done(barrier.id) && barrier.is_unaligned_at(processing_time_now()))
    }

    /// Sets a timer for the deadline of an aligned barrier with an alignment timeout: if it
    /// has not aligned by then, it goes unaligned.
    pub(super) fn set_alignment_deadline(
        &mut self,
        barrier: &CheckpointBarrier,
        ctx: &mut Context<Self>,
    ) {
        let Some(at) = barrier.alignment.unaligned_from(barrier.timestamp) else {
            return;
        };
        if barrier.id <= self.deadline_set_for {
            return;
        }
        self.deadline_set_for = barrier.id;
        let id = barrier.id;
        let delay = at.saturating_sub(processing_time_now()).max(0) as u64;
        ctx.run_later(Duration::from_millis(delay), move |act, ctx| {
            if act.phase == Phase::Running {
                act.guarded(ctx, |act, _| act.alignment_timed_out(id));
            }
            act.pump(ctx);
        });
    }

    /// Checkpoint `id` has not aligned by its deadline: it goes unaligned if its barrier came
    /// on any channel (it is aligning, or waits in a queue), or if its barrier still waits in
    /// an output queue.
    pub(super) fn alignment_timed_out(&mut self, id: u64) -> Result<(), OperatorError> {
        if let (Some(p), Some(chain)) = (self.unaligned.as_mut(), self.chain.as_mut()) {
            if p.outputs_pending && p.capture.barrier().id == id {
                for (w, writer) in chain.writers().iter_mut().enumerate() {
                    p.capture.add_outputs(writer.overtake_queued_barrier(w, id));
                }
                p.outputs_pending = false;
                self.send_ready()?;
                self.persist_unaligned_if_complete();
                return Ok(());
            }
        }
        if self.aligner.is_done(id) {
            return Ok(());
        }
        let aligning = self.aligner.current().filter(|b| b.id == id).cloned();
        let barrier = aligning.or_else(|| {
            self.channels
                .iter()
                .flat_map(|c| c.queue.iter())
                .find_map(|e| match e {
                    StreamElement::Barrier(b) if b.id == id => Some(b.clone()),
                    _ => None,
                })
        });
        match barrier {
            Some(b) => self.start_unaligned(b, None),
            None => Ok(()),
        }
    }

    /// A barrier newer than the unaligned checkpoint capturing here gives that one up.
    pub(super) fn supersede_unaligned(&mut self, id: u64) {
        if self
            .unaligned
            .as_ref()
            .is_some_and(|p| p.capture.barrier().id < id)
        {
            if let Some(p) = self.unaligned.take() {
                let old = p.capture.barrier().id;
                let why = format!(
                    "checkpoint {old} was still capturing in-flight data when checkpoint {id} began"
                );
                self.respond(old, Err(why));
            }
        }
    }

    /// Writes the unaligned checkpoint once every input delivered its barrier or ended (and
    /// its barrier left or overtook the output queues).
    pub(super) fn persist_unaligned_if_complete(&mut self) {
        if !self
            .unaligned
            .as_ref()
            .is_some_and(|p| p.capture.is_complete() && !p.outputs_pending)
        {
            return;
        }
        if let Some(p) = self.unaligned.take() {
            let barrier = p.capture.barrier().clone();
            self.persist(barrier, p.taken, Some(p.capture));
        }
    }

    /// Everything is processed and sent. Without periodic checkpoints the subtask finishes
    /// now. With them it waits for the final checkpoint: a two-phase-commit sink's last
    /// records (and those pending for checkpoints that may never complete now) are committed
    /// only by a checkpoint that completed after the end of every subtask's input. It tells
    /// the JobMaster, which triggers that checkpoint once every subtask has ended.
    pub(super) fn input_done(&mut self, ctx: &mut Context<Self>) -> Result<(), OperatorError> {
        if !self.tdd.final_checkpoint {
            self.finish(ctx);
            return Ok(());
        }
        self.phase = Phase::Finishing;
        self.report.do_send(UpdateTaskExecutionState {
            job_id: self.tdd.job_id,
            attempt: self.tdd.attempt,
            state: ExecutionState::Running,
            failure: None,
            io: Some(self.metrics.snapshot()),
            input_ended: true,
        });
        // A checkpoint triggered while input remained, whose barrier no input brought.
        if let Some(barrier) = self.triggered.take() {
            self.checkpoint_at_end(barrier);
        }
        Ok(())
    }

    /// Takes checkpoint `barrier` at the end of the input: no barrier goes on (the outputs
    /// have ended, and a consumer takes the checkpoint at its own end).
    pub(super) fn checkpoint_at_end(&mut self, barrier: CheckpointBarrier) {
        if barrier.id <= self.taken {
            return;
        }
        if barrier.is_final {
            self.final_taken = Some(barrier.id);
        }
        let taken = self.snapshot(&barrier);
        self.persist(barrier, taken, None);
    }

    /// Queues the output records a restored unaligned checkpoint persisted (ahead of anything
    /// new) and keeps its input records to process first.
    pub(super) fn restore_in_flight(
        &mut self,
        chain: &mut Chain,
        state: ChannelState,
    ) -> Result<(), OperatorError> {
        let failed = |message: String| OperatorError::Failed {
            operator: self.tdd.task_name(),
            message,
        };
        for input in state.inputs {
            let gate = self.tdd.inputs.iter().find(|g| g.input == input.input);
            let decode = gate
                .and_then(|g| self.plan.decoder(g.edge))
                .ok_or_else(|| {
                    failed(format!(
                        "the checkpoint holds records for input {}, which the job does not have",
                        input.input
                    ))
                })?;
            for b in &input.buffers {
                self.restored_input
                    .push_back((input.input, b.decode(decode)?));
            }
        }
        for output in state.outputs {
            let edge = self.tdd.outputs.get(output.writer).map(|o| o.edge);
            let decode = edge.and_then(|e| self.plan.decoder(e));
            let writer = chain.writers().get_mut(output.writer);
            let (Some(edge), Some(decode), Some(writer)) = (edge, decode, writer) else {
                return Err(failed(format!(
                    "the checkpoint holds records for output {}, which the job does not have",
                    output.writer
                )));
            };
            let same = writer.subpartition_count() == output.subpartitions;
            let broadcast = self
                .plan
                .job_graph
                .edges
                .iter()
                .any(|e| e.id == edge && e.partitioner == PartitionerKind::Broadcast);
            if !same && broadcast {
                return Err(failed(format!(
                    "the checkpoint holds in-flight broadcast records for {} consumers, the job now has {}",
                    output.subpartitions,
                    writer.subpartition_count()
                )));
            }
            for b in &output.buffers {
                let batch = b.decode(decode)?;
                if same {
                    writer.requeue(output.subpartition, batch);
                } else {
                    writer.write(batch)?;
                }
            }
        }
        Ok(())
    }
}

impl Handler<TriggerCheckpoint> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: TriggerCheckpoint, ctx: &mut Self::Context) {
        let id = msg.barrier.id;
        match self.phase {
            Phase::Running if self.source.is_some() => {
                let stop = msg.stop;
                if let Some(drain) = stop {
                    // Stop-with-savepoint: nothing is emitted after the savepoint's barrier.
                    self.stopped_for = Some((id, drain));
                }
                self.guarded(ctx, |act, _| {
                    if stop == Some(true) {
                        // Draining: every event-time window and timer fires before it.
                        if let Some(chain) = act.chain.as_mut() {
                            chain.process_watermark(MAX_WATERMARK)?;
                        }
                    }
                    act.checkpoint(msg.barrier)
                });
                self.pump(ctx);
            }
            Phase::Running | Phase::Ended => {
                // The barrier comes through the inputs; if they all end first, it is taken at
                // the end.
                if id > self.taken && self.triggered.as_ref().is_none_or(|b| b.id < id) {
                    self.triggered = Some(msg.barrier);
                }
            }
            Phase::Finishing => self.checkpoint_at_end(msg.barrier),
            Phase::Done => {
                // Not a failure of the checkpoint.
                self.checkpoints.do_send(CheckpointResponse {
                    job_id: self.tdd.job_id,
                    attempt: self.tdd.attempt,
                    checkpoint_id: id,
                    result: Err(format!("{} has finished", self.tdd.task_name())),
                    not_running: true,
                    figures: Default::default(),
                });
            }
        }
    }
}
impl Handler<NotifyCheckpointComplete> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: NotifyCheckpointComplete, ctx: &mut Self::Context) {
        if self.phase == Phase::Done {
            return;
        }
        let id = msg.checkpoint_id;
        if msg.aborted {
            if self.stopped_for.is_some_and(|(s, _)| s == id) {
                self.stopped_for = None;
            }
            self.pump(ctx);
            return;
        }
        self.guarded(ctx, |act, _| {
            if let Some(s) = act.source.as_mut() {
                s.notify_checkpoint_complete(id)?;
            }
            if let Some(c) = act.chain.as_mut() {
                c.notify_checkpoint_complete(id)?;
            }
            // A source drained for this savepoint ends now.
            if act.stopped_for == Some((id, true)) {
                act.stopped_for = None;
                act.end_input(0)?;
            }
            Ok(())
        });
        if self.phase == Phase::Finishing && self.final_taken.is_some_and(|f| f <= id) {
            self.finish(ctx);
            return;
        }
        self.pump(ctx);
    }
}
