//! How a subtask runs: turns over its source or its input channels, bounded by the buffers
//! and the time a turn may take, and stopped while an output queue is full.

use super::*;

impl Subtask {
    /// Runs as much as credit and the turn allow; turns errors and panics into failure.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Done {
            return;
        }
        let timed = self.config.task_metrics;
        if timed {
            self.metrics.turn_starts(Instant::now());
        }
        self.guarded(ctx, |act, ctx| act.pump_inner(ctx));
        self.schedule_processing_time(ctx);
        if timed {
            self.end_turn();
        }
        let waiting = self.unaligned.as_ref().filter(|p| p.outputs_pending);
        if let Some(barrier) = waiting.map(|p| p.capture.barrier().clone()) {
            self.set_alignment_deadline(&barrier, ctx);
        }
    }
    /// Books the turn that ends and what the subtask now waits for, and the watermark its
    /// outputs carry.
    fn end_turn(&mut self) {
        let waiting = if self.output_blocked() {
            Spent::BackPressured
        } else if self.pump_scheduled && !self.pump_later {
            Spent::Busy
        } else {
            Spent::Idle
        };
        self.metrics.turn_ends(Instant::now(), waiting);
        let writers = self
            .chain
            .as_mut()
            .map(|c| c.writers())
            .filter(|w| !w.is_empty());
        if let Some(w) = writers.and_then(|w| w.iter().map(|w| w.last_watermark()).min().flatten())
        {
            self.metrics.set_output_watermark(w);
        }
    }

    /// Runs `f`; an error or a panic fails the subtask.
    pub(super) fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        f: impl FnOnce(&mut Self, &mut Context<Self>) -> Result<(), OperatorError>,
    ) {
        match catch_unwind(AssertUnwindSafe(|| f(self, ctx))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(e, ctx),
            Err(payload) => {
                let e = OperatorError::Panicked {
                    operator: self.tdd.vertex_name.clone(),
                    message: panic_message(&*payload),
                };
                self.fail(e, ctx);
            }
        }
    }
    /// Keeps one timer set for the earliest processing time an operator asked for.
    pub(super) fn schedule_processing_time(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(next) = self.chain.as_ref().and_then(Chain::next_processing_time) else {
            return;
        };
        if let Some((at, handle)) = self.timer_at {
            if at <= next {
                return;
            }
            ctx.cancel_future(handle);
        }
        // A timer at `t` fires once the clock is past `t` (Flink's +1 ms): a record handled in
        // the millisecond `t` itself still belongs before it, so a processing-time window
        // ending at `t + 1` does not fire and then take more rows (firing twice).
        let delay = next
            .saturating_add(1)
            .saturating_sub(processing_time_now())
            .max(0) as u64;
        let handle = ctx.run_later(Duration::from_millis(delay), |act, ctx| {
            act.timer_at = None;
            if act.phase == Phase::Running {
                act.guarded(ctx, |act, _| match act.chain.as_mut() {
                    Some(chain) => {
                        chain.on_processing_time(processing_time_now().saturating_sub(1))
                    }
                    None => Ok(()),
                });
            }
            act.pump(ctx);
        });
        self.timer_at = Some((next, handle));
    }
    pub(super) fn pump_inner(&mut self, ctx: &mut Context<Self>) -> Result<(), OperatorError> {
        let mut turns = 0;
        let started = std::time::Instant::now();
        loop {
            self.send_ready()?;
            if self.phase == Phase::Finishing {
                return Ok(());
            }
            if self.phase == Phase::Ended {
                if self
                    .chain
                    .as_mut()
                    .is_none_or(|c| c.writers().iter().all(|w| w.is_drained()))
                {
                    self.input_done(ctx)?;
                }
                return Ok(());
            }
            if self.output_blocked() {
                return Ok(());
            }
            let took = started.elapsed();
            if turns >= self.config.buffers_per_turn || took >= TURN_BUDGET {
                if took >= SLOW_TURN {
                    self.schedule_pump_behind_others(ctx);
                } else {
                    self.schedule_pump(ctx, None);
                }
                return Ok(());
            }
            turns += 1;
            if let Some((input, batch)) = self.restored_input.pop_front() {
                self.metrics.add_records_in(batch.len() as u64);
                if let Some(chain) = self.chain.as_mut() {
                    chain.process(input, batch)?;
                }
            } else if self.source.is_some() {
                if self.pump_scheduled || self.stopped_for.is_some() {
                    return Ok(());
                }
                if self.alignment.is_some() && self.held_back_by_alignment() {
                    // Paused until its group's slowest source catches up: what it made so
                    // far goes out now.
                    if let Some(chain) = self.chain.as_mut() {
                        chain.writers().iter_mut().for_each(|w| w.flush());
                    }
                    self.send_ready()?;
                    return Ok(());
                }
                if !self.poll_source(ctx)? {
                    return Ok(());
                }
            } else {
                match self.next_input() {
                    Some(ch) => self.process_channel(ch)?,
                    None => return Ok(()),
                }
            }
        }
    }
    /// Polls the source once; returns whether to go on at once.
    pub(super) fn poll_source(&mut self, ctx: &mut Context<Self>) -> Result<bool, OperatorError> {
        let Some(source) = self.source.as_mut() else {
            return Ok(false);
        };
        let (batch, status) = source.poll(self.poll_size.next())?;
        if let (Some(b), Some(chain)) = (batch, self.chain.as_mut()) {
            let (records, record_bytes) = (b.len(), b.estimate_record_bytes());
            let written = |c: &mut Chain| -> u64 {
                c.writers().iter().map(|w| w.estimated_bytes_out()).sum()
            };
            let before = written(chain);
            chain.process(0, b)?;
            let after = written(chain);
            self.poll_size
                .observe(records, record_bytes, after.saturating_sub(before));
        }
        match status {
            SourcePoll::Ready => Ok(true),
            SourcePoll::Idle => {
                if let Some(chain) = self.chain.as_mut() {
                    chain.writers().iter_mut().for_each(|w| w.flush());
                }
                self.send_ready()?;
                self.schedule_pump(ctx, Some(self.config.source_idle_backoff));
                Ok(false)
            }
            SourcePoll::Finished => {
                // A bounded source ends with the maximum watermark: every event-time window
                // and timer downstream fires.
                if let Some(chain) = self.chain.as_mut() {
                    chain.process_watermark(MAX_WATERMARK)?;
                }
                self.end_input(0)?;
                Ok(true)
            }
        }
    }
    /// Goes on after every task already woken on this thread, also from other threads, and
    /// after the slot's timers that are due: a slow operator yields to the messages other
    /// threads sent its slot (checkpoint triggers, cancellation) and to the timers of the
    /// slot's other subtasks (alignment deadlines). A continuation woken at once (on this
    /// thread or from another) can run many times before the runtime next polls its timer
    /// driver, so a slow subtask would hold its slot's timers back for seconds; the
    /// continuation therefore waits for the timer driver (1 ms, against a turn of at least
    /// [`SLOW_TURN`]).
    pub(super) fn schedule_pump_behind_others(&mut self, ctx: &mut Context<Self>) {
        if self.pump_scheduled {
            return;
        }
        self.pump_scheduled = true;
        self.pump_later = false;
        let woken_elsewhere = tokio::time::sleep(Duration::from_millis(1));
        ctx.spawn(woken_elsewhere.into_actor(self).map(|_, act, ctx| {
            act.pump_scheduled = false;
            act.pump(ctx);
        }));
    }
    pub(super) fn schedule_pump(
        &mut self,
        ctx: &mut Context<Self>,
        delay: Option<std::time::Duration>,
    ) {
        if self.pump_scheduled {
            return;
        }
        self.pump_scheduled = true;
        self.pump_later = delay.is_some();
        match delay {
            // Yield to the slot's other subtasks once, then go on.
            None => {
                ctx.spawn(
                    tokio::task::yield_now()
                        .into_actor(self)
                        .map(|_, act, ctx| {
                            act.pump_scheduled = false;
                            act.pump(ctx);
                        }),
                );
            }
            Some(d) => {
                ctx.notify_later(Pump, d);
            }
        }
    }
    pub(super) fn end_input(&mut self, input: usize) -> Result<(), OperatorError> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        if chain.end_input(input)? {
            self.phase = Phase::Ended;
            if let Some(s) = self.source.as_mut() {
                // Checkpoints taken from now on hold the source at its end.
                self.source_at_end = Some(s.snapshot_state(self.taken)?);
                s.close()?;
            }
            self.source = None;
            // An ended source holds no aligned source back.
            self.report_watermark();
        }
        Ok(())
    }
    pub(super) fn send_ready(&mut self) -> Result<(), OperatorError> {
        if let Some(chain) = self.chain.as_mut() {
            let (mut records, mut bytes) = (0, 0);
            for w in chain.writers() {
                w.send_ready()?;
                records += w.records_out();
                bytes += w.bytes_out();
            }
            self.metrics.set_out(records, bytes);
        }
        if self.unaligned.is_some() {
            self.on_outputs_sent();
        }
        Ok(())
    }
    pub(super) fn output_blocked(&mut self) -> bool {
        let cap = self.config.outbox_capacity;
        self.chain
            .as_mut()
            .is_some_and(|c| c.writers().iter().any(|w| w.max_queued() >= cap))
    }
}
