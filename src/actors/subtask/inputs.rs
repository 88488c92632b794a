//! A subtask's input channels: their queues (its mailbox for data, bounded by the credits it
//! grants), the elements delivered from them, the credit returned to producers, and the
//! producers that connect to its outputs.

use super::*;

impl Subtask {
    pub(super) fn next_input(&mut self) -> Option<usize> {
        let n = self.channels.len();
        for i in 0..n {
            let ch = (self.next_channel + i) % n;
            if !self.channels[ch].queue.is_empty() && !self.aligner.is_blocked(ch) {
                self.next_channel = (ch + 1) % n;
                return Some(ch);
            }
        }
        None
    }
    pub(super) fn process_channel(&mut self, ch: usize) -> Result<(), OperatorError> {
        let Some(element) = self.channels[ch].queue.pop_front() else {
            return Ok(());
        };
        self.channels[ch].inbox.processed();
        let (input, gate, gc) = (
            self.channels[ch].input,
            self.channels[ch].gate,
            self.channels[ch].gate_channel,
        );
        let ended = matches!(element, StreamElement::EndOfPartition);
        match element {
            StreamElement::Records(batch) => {
                self.metrics.add_records_in(batch.len() as u64);
                if let Some(chain) = self.chain.as_mut() {
                    chain.process(input, batch)?;
                }
            }
            StreamElement::Watermark(w) => self.advance_watermark(ch, w)?,
            StreamElement::Status(status) => {
                let idle = status == WatermarkStatus::Idle;
                for out in self.watermarks.input_idle(ch, idle) {
                    if let Some(chain) = self.chain.as_mut() {
                        match out {
                            ValveOutput::Watermark(w) => chain.process_watermark(w)?,
                            ValveOutput::Idle => {
                                chain.process_watermark_status(WatermarkStatus::Idle)?
                            }
                            ValveOutput::Active => {
                                chain.process_watermark_status(WatermarkStatus::Active)?
                            }
                        }
                    }
                }
            }
            StreamElement::EndOfPartition => {
                // An ended channel holds nothing back any more.
                self.advance_watermark(ch, MAX_WATERMARK)?;
                self.channels[ch].ended = true;
                self.gates[gate]
                    .on_ended(gc)
                    .map_err(|e| self.protocol(e))?;
                let alignment = self.aligner.on_end_of_partition(ch);
                self.on_alignment(alignment)?;
            }
            StreamElement::Barrier(barrier) => {
                self.barrier_seen(&barrier);
                self.supersede_unaligned(barrier.id);
                let alignment = self.aligner.on_barrier(ch, barrier);
                self.on_alignment(alignment)?;
            }
        }
        // Every element took a credit; it goes back once the element is processed.
        let grant = self.gates[gate]
            .on_consumed(gc)
            .map_err(|e| self.protocol(e))?;
        self.grant(gate, grant);
        if ended {
            if let Some(open) = self.inputs_open.get_mut(input) {
                *open -= 1;
                if *open == 0 {
                    self.end_input(input)?;
                }
            }
        }
        Ok(())
    }
    /// Channel `ch`'s watermark advanced; the chain gets the new minimum, if it moved.
    pub(super) fn advance_watermark(
        &mut self,
        ch: usize,
        w: Timestamp,
    ) -> Result<(), OperatorError> {
        let advanced = self.watermarks.input_watermark(ch, w);
        if let Some(w) = advanced {
            self.metrics.set_input_watermark(w);
            // Without network outputs, what it processed last is what it shows as emitted.
            if self.chain.as_mut().is_some_and(|c| c.writers().is_empty()) {
                self.metrics.set_output_watermark(w);
            }
        }
        match (advanced, self.chain.as_mut()) {
            (Some(out), Some(chain)) => chain.process_watermark(out),
            _ => Ok(()),
        }
    }
    pub(super) fn protocol(&self, e: crate::net::credit::CreditError) -> OperatorError {
        OperatorError::Failed {
            operator: self.tdd.task_name(),
            message: format!("credit protocol: {e}"),
        }
    }
    pub(super) fn grant(&mut self, gate: usize, grant: Option<Grant>) {
        let Some(g) = grant else { return };
        let Some(ch) = self
            .channels
            .iter()
            .find(|c| c.gate == gate && c.gate_channel == g.channel)
        else {
            return;
        };
        ch.inbox.counts().granted(g.credits);
        match &ch.producer {
            ProducerHandle::Local(queue) => queue.credit().grant(g.credits),
            ProducerHandle::Remote(cell) => cell.add(g.credits),
        }
    }
}

impl Subtask {
    /// One element arrived on channel `index` (the producer still holds `backlog`): it takes
    /// its credit and waits in the channel's queue to be processed, or, an unaligned barrier,
    /// is handled at once. Returns whether it was queued.
    pub(super) fn deliver(
        &mut self,
        index: usize,
        element: StreamElement,
        backlog: u32,
        ctx: &mut Context<Self>,
    ) -> bool {
        let Some(ch) = self.channels.get(index) else {
            return false;
        };
        ch.inbox.counts().arrived(&element);
        let (gate, gc) = (ch.gate, ch.gate_channel);
        // An unaligned barrier came without credit and takes no buffer.
        let credited = !element.travels_without_credit();
        if credited {
            match self.gates[gate].on_element(gc, backlog) {
                Ok(grant) => self.grant(gate, grant),
                Err(e) => {
                    let e = self.protocol(e);
                    self.fail(e, ctx);
                    return false;
                }
            }
        }
        if let StreamElement::Barrier(b) = &element {
            if self.is_priority(b) {
                // Handled now, ahead of what the channel queued; a buffer it took is free.
                let b = b.clone();
                self.guarded(ctx, |act, _| {
                    if credited {
                        let grant = act.gates[gate]
                            .on_consumed(gc)
                            .map_err(|e| act.protocol(e))?;
                        act.grant(gate, grant);
                    }
                    act.on_priority_barrier(index, b)
                });
                return false;
            }
            self.set_alignment_deadline(b, ctx);
        }
        if let Some(p) = self.unaligned.as_mut() {
            p.capture.record(index, &element);
            self.persist_unaligned_if_complete();
        }
        match self.channels.get_mut(index) {
            Some(ch) => {
                ch.queue.push_back(element);
                true
            }
            None => false,
        }
    }

    /// A frame from a producer in another process: decoded here, on the slot's thread.
    /// Returns whether its element was queued.
    pub(super) fn deliver_frame(
        &mut self,
        index: usize,
        frame: &[u8],
        ctx: &mut Context<Self>,
    ) -> bool {
        let Some(decode) = self.channels.get(index).and_then(|c| c.decode) else {
            return false;
        };
        self.metrics.add_bytes_in(frame.len() as u64);
        match crate::net::data_frame::decode_frame(frame, decode) {
            Ok((element, backlog)) => self.deliver(index, element, backlog, ctx),
            Err(cause) => {
                self.channel_failed(
                    index,
                    crate::data::FailureCause::recoverable(format!(
                        "a remote channel sent a frame that does not decode: {cause}"
                    )),
                    ctx,
                );
                false
            }
        }
    }

    /// The channel broke: unless it had ended anyway, the subtask fails.
    pub(super) fn channel_failed(
        &mut self,
        index: usize,
        cause: crate::data::FailureCause,
        ctx: &mut Context<Self>,
    ) {
        let ended = self.channels.get(index).is_none_or(|c| c.ended);
        if self.phase == Phase::Done || ended {
            return;
        }
        let e = OperatorError::InputFailed {
            operator: self.tdd.task_name(),
            cause,
        };
        self.fail(e, ctx);
    }
}

impl Handler<ChannelReady> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: ChannelReady, ctx: &mut Self::Context) {
        let index = msg.channel.get();
        let Some(inbox) = self.channels.get(index).map(|c| c.inbox.clone()) else {
            return;
        };
        let mut arrivals = VecDeque::new();
        inbox.take_all(&mut arrivals);
        for arrival in arrivals {
            let queued = self.phase != Phase::Done
                && match arrival {
                    Arrival::Element(element, backlog) => {
                        self.deliver(index, element, backlog, ctx)
                    }
                    Arrival::Frame(frame) => self.deliver_frame(index, &frame, ctx),
                    Arrival::Failed(cause) => {
                        self.channel_failed(index, cause, ctx);
                        false
                    }
                };
            // What was not queued to be processed (a barrier handled at once, a failure, or
            // anything after the end) holds no buffer any more.
            if !queued {
                inbox.processed();
            }
        }
        if self.phase == Phase::Done {
            return;
        }
        // Processed once the mailbox is drained: a barrier delivered behind these buffers is
        // seen before the next buffer is processed.
        self.schedule_pump(ctx, None);
    }
}
impl Handler<ConnectConsumer> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: ConnectConsumer, ctx: &mut Self::Context) {
        let link = match msg.consumer {
            ConsumerEnd::Local(queue) => ChannelLink::Local(queue),
            ConsumerEnd::Remote(output) => ChannelLink::Remote(output),
        };
        // Credit the consumer grants after this producer waited for some wakes it, once.
        let me = ctx.address();
        link.credit()
            .connect_producer(Arc::new(move || me.do_send(CreditAvailable)));
        if let Some(w) = self
            .chain
            .as_mut()
            .and_then(|c| c.writers().get_mut(msg.writer))
        {
            self.figures
                .output_connected(msg.writer, msg.subpartition, link.clone());
            w.connect(msg.subpartition, link);
        }
        self.pump(ctx);
    }
}
impl Handler<CreditAvailable> for Subtask {
    type Result = ();

    fn handle(&mut self, _: CreditAvailable, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, _| act.send_ready());
        self.schedule_pump(ctx, None);
    }
}
