//! The Subtask actor: one operator chain instance, its input channels and its network outputs.
//! It runs on its slot's thread and shares it cooperatively with the slot's other subtasks.
//!
//! ## Rules
//! - Input arrives as [`DeliverElement`] messages, one buffer or event each, only against
//!   credit; elements of one channel are processed in order.
//! - A buffer's credit goes back to its producer once the buffer is processed.
//! - While any output queue is full the subtask takes no input (and a source is not polled):
//!   its channels' credits run out and its producers stop in turn.
//! - A source is polled at most `buffers_per_turn` times per turn, then the subtask yields, so
//!   cancellation and other subtasks on the slot are served promptly.
//! - A panic or error in an operator ends the subtask FAILED with its message.
//! - Checkpoints: a source subtask injects a barrier when the coordinator triggers it; other
//!   subtasks align the barrier over their channels (a channel whose barrier arrived is not
//!   read until all have it, in exactly-once mode). Then the chain's state is taken, the
//!   barrier goes to every output, and the state file is written off the slot's thread; the
//!   subtask acknowledges with the file (or declines) once it is written.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::actors::task_manager::{CheckpointResponse, TaskStarted, UpdateTaskExecutionState};
use crate::actors::task_plan::{build_task, ResolvedPlan};
use crate::api::SourcePoll;
use crate::checkpoint::barrier::Alignment;
use crate::checkpoint::restore::Restorer;
use crate::checkpoint::storage::{write_subtask_state, SubtaskSnapshot};
use crate::checkpoint::{BarrierAligner, CheckpointBarrier};
use crate::config::RuntimeConfig;
use crate::eventtime::valve::{ValveOutput, WatermarkValve};
use crate::eventtime::{processing_time_now, Timestamp, WatermarkStatus, MAX_WATERMARK};
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::ids::{ChannelIndex, ResultPartitionId};
use crate::metrics::IoMetrics;
use crate::net::credit::{Grant, InputGateCredits};
use crate::net::remote::{CreditCell, RemoteOutput};
use crate::net::rpc::PartitionRequest;
use crate::net::{ChannelLink, NetworkEnvironment, StreamElement};
use crate::operators::sources::SourceDriver;
use crate::operators::{Chain, OperatorError, RuntimeContext};
use crate::util::panic_message;

/// One buffer or event for an input channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverElement {
    /// The consumer's channel.
    pub channel: ChannelIndex,
    /// The element.
    pub element: StreamElement,
    /// Elements the producer still holds for this channel.
    pub backlog: u32,
    /// The element's serialized size, when it crossed from another process (else 0).
    pub wire_bytes: u32,
}

/// Credit announced by a consumer for one subpartition.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddCredit {
    /// The producer's record writer.
    pub writer: usize,
    /// The subpartition.
    pub subpartition: usize,
    /// Credits to add.
    pub credits: u32,
}

/// A consumer asks for a subpartition (the partition request).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ConnectConsumer {
    /// The partition.
    pub partition: ResultPartitionId,
    /// The producer's writer for it (filled in by the transport).
    pub writer: usize,
    /// The subpartition.
    pub subpartition: usize,
    /// The consumer.
    pub consumer: ConsumerEnd,
    /// The consumer's channel.
    pub channel: ChannelIndex,
    /// The consumer's initial credit.
    pub credit: u32,
}

/// Where a remote channel learns its producer and writer once connected (taken once).
pub type ProducerSlot = Arc<Mutex<Option<oneshot::Sender<(Addr<Subtask>, usize)>>>>;

/// Where a partition request came from.
#[derive(Clone)]
pub enum ConsumerEnd {
    /// A subtask in this process.
    Local(Addr<Subtask>),
    /// A subtask in another process, behind a QUIC stream.
    Remote {
        /// The stream's send queue.
        output: RemoteOutput,
        /// Told the producer and its writer once connected (taken once).
        connected: ProducerSlot,
    },
}

/// A remote input channel failed (its connection or stream broke, or a frame was bad).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChannelFailed {
    /// The channel.
    pub channel: ChannelIndex,
    /// Why.
    pub cause: String,
}

/// How a consumer returns credit to the producer of one channel.
enum ProducerHandle {
    /// In this process.
    Local {
        producer: Addr<Subtask>,
        writer: usize,
        subpartition: usize,
    },
    /// In another process.
    Remote(Arc<CreditCell>),
}

/// The producer accepted a partition request.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProducerConnected {
    /// The consumer's channel.
    pub channel: ChannelIndex,
    /// The producer.
    pub producer: Addr<Subtask>,
    /// The producer's writer.
    pub writer: usize,
    /// The subpartition.
    pub subpartition: usize,
}

/// Cancels the subtask.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelTask;

/// Starts a checkpoint at a source subtask: its position is taken and the barrier injected.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TriggerCheckpoint {
    /// The barrier.
    pub barrier: CheckpointBarrier,
    /// Stop-with-savepoint: `Some(drain)` stops polling the source first (after emitting the
    /// maximum watermark when draining); the source ends once the savepoint completes.
    pub stop: Option<bool>,
}

/// A checkpoint completed on every subtask of the job.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NotifyCheckpointComplete {
    /// The checkpoint.
    pub checkpoint_id: u64,
    /// It failed instead: a source stopped for it resumes.
    pub aborted: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Pump;

struct InputChannel {
    input: usize,
    gate: usize,
    gate_channel: usize,
    producer: Option<ProducerHandle>,
    queue: VecDeque<StreamElement>,
    ended: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    /// All input processed; waiting for outputs to drain.
    Ended,
    Done,
}

/// One operator chain instance.
pub struct Subtask {
    tdd: TaskDeploymentDescriptor,
    plan: Arc<ResolvedPlan>,
    config: RuntimeConfig,
    network: NetworkEnvironment,
    report: Recipient<UpdateTaskExecutionState>,
    started: Recipient<TaskStarted>,
    checkpoints: Recipient<CheckpointResponse>,
    aligner: BarrierAligner,
    chain: Option<Chain>,
    source: Option<Box<dyn SourceDriver>>,
    head_ctx: Option<RuntimeContext>,
    channels: Vec<InputChannel>,
    gates: Vec<InputGateCredits>,
    watermarks: WatermarkValve,
    inputs_open: Vec<usize>,
    next_channel: usize,
    phase: Phase,
    pump_scheduled: bool,
    /// The savepoint a stopped source waits for, and whether it drains (then it ends once
    /// the savepoint completes; otherwise the JobMaster cancels the job).
    stopped_for: Option<(u64, bool)>,
    /// The processing time the chain is next to be called at, and the timer that will.
    timer_at: Option<(Timestamp, SpawnHandle)>,
    state: ExecutionState,
    metrics: Arc<IoMetrics>,
}

impl Subtask {
    /// A subtask for `tdd`; it builds its chain when started.
    pub fn new(
        tdd: TaskDeploymentDescriptor,
        plan: Arc<ResolvedPlan>,
        config: RuntimeConfig,
        network: NetworkEnvironment,
        report: Recipient<UpdateTaskExecutionState>,
        started: Recipient<TaskStarted>,
        checkpoints: Recipient<CheckpointResponse>,
    ) -> Self {
        Self {
            tdd,
            plan,
            config,
            network,
            report,
            started,
            checkpoints,
            aligner: BarrierAligner::new(0),
            chain: None,
            source: None,
            head_ctx: None,
            channels: Vec::new(),
            gates: Vec::new(),
            watermarks: WatermarkValve::new(0),
            inputs_open: Vec::new(),
            next_channel: 0,
            phase: Phase::Running,
            pump_scheduled: false,
            stopped_for: None,
            timer_at: None,
            state: ExecutionState::Deploying,
            metrics: Arc::default(),
        }
    }

    fn set_state(&mut self, to: ExecutionState, failure: Option<String>) {
        match self.state.transition(to) {
            Ok(s) => self.state = s,
            Err(e) => {
                tracing::warn!(task = %self.tdd.task_name(), error = %e, "ignored state change");
                return;
            }
        }
        self.report.do_send(UpdateTaskExecutionState {
            job_id: self.tdd.job_id,
            attempt: self.tdd.attempt,
            state: to,
            failure,
            io: Some(self.metrics.snapshot()),
        });
    }

    fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), OperatorError> {
        let built =
            build_task(&self.plan, &self.tdd, &self.config, &self.metrics).map_err(|e| {
                OperatorError::Failed {
                    operator: self.tdd.vertex_name.clone(),
                    message: e.to_string(),
                }
            })?;
        let mut chain = built.chain;
        self.set_state(ExecutionState::Initializing, None);
        self.source = built.source;
        self.head_ctx = Some(built.head_ctx.clone());
        if let Some(dir) = self.tdd.restore_from.clone() {
            let mut restorer = Restorer::open(&dir).map_err(|e| OperatorError::Failed {
                operator: self.tdd.task_name(),
                message: format!("cannot restore: {e}"),
            })?;
            if let Some(s) = self.source.as_mut() {
                if let Some(r) = restorer.for_operator(&built.head_ctx)? {
                    s.initialize_state(&r)?;
                }
            }
            chain.initialize_state(|ctx| restorer.for_operator(ctx))?;
        }
        if let Some(s) = self.source.as_mut() {
            s.open(&built.head_ctx)?;
        }
        chain.open()?;
        self.chain = Some(chain);

        let me = ctx.address();
        for (w, out) in self.tdd.outputs.iter().enumerate() {
            self.network
                .local
                .register_producer(out.partition, me.clone(), w);
        }
        let mut index = 0u32;
        for (g, gate) in self.tdd.inputs.iter().enumerate() {
            let credits = InputGateCredits::new(
                gate.channels.len(),
                self.config.exclusive_credits,
                self.config.floating_credits,
            );
            for (gc, ch) in gate.channels.iter().enumerate() {
                let producer = match (ch.producer_address, &self.network.remote) {
                    (Some(addr), Some(remote)) => {
                        let decode =
                            self.plan
                                .decoder(gate.edge)
                                .ok_or_else(|| OperatorError::Failed {
                                    operator: self.tdd.task_name(),
                                    message: format!("edge {:?} is not in the plan", gate.edge),
                                })?;
                        let cell = remote.request_partition(
                            ch.producer_location.0.clone(),
                            addr,
                            PartitionRequest {
                                partition: ch.partition,
                                subpartition: ch.subpartition,
                                credit: credits.initial_credit(),
                            },
                            me.clone(),
                            ChannelIndex(index),
                            decode,
                        );
                        Some(ProducerHandle::Remote(cell))
                    }
                    _ => {
                        self.network.local.request_partition(ConnectConsumer {
                            partition: ch.partition,
                            writer: 0,
                            subpartition: ch.subpartition as usize,
                            consumer: ConsumerEnd::Local(me.clone()),
                            channel: ChannelIndex(index),
                            credit: credits.initial_credit(),
                        });
                        None
                    }
                };
                self.channels.push(InputChannel {
                    input: gate.input,
                    gate: g,
                    gate_channel: gc,
                    producer,
                    queue: VecDeque::new(),
                    ended: false,
                });
                index += 1;
            }
            self.gates.push(credits);
        }
        self.watermarks = WatermarkValve::new(self.channels.len());
        self.aligner = BarrierAligner::with_blocking(self.channels.len(), !self.tdd.at_least_once);
        let inputs = self
            .plan
            .job_graph
            .vertices
            .iter()
            .find(|v| v.id == self.tdd.vertex)
            .map_or(0, |v| v.head_inputs);
        self.inputs_open = (0..inputs)
            .map(|i| self.channels.iter().filter(|c| c.input == i).count())
            .collect();
        self.set_state(ExecutionState::Running, None);

        ctx.run_interval(self.config.buffer_timeout, |act, ctx| {
            if act.phase == Phase::Running {
                if let Some(chain) = act.chain.as_mut() {
                    chain.writers().iter_mut().for_each(|w| w.flush());
                }
                act.pump(ctx);
            }
        });
        // A head whose every input is empty (no channels) has ended before it began.
        if self.source.is_none() {
            for i in 0..self.inputs_open.len() {
                if self.inputs_open[i] == 0 {
                    self.end_input(i)?;
                }
            }
        }
        self.pump(ctx);
        Ok(())
    }

    /// Runs as much as credit and the turn allow; turns errors and panics into failure.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.phase == Phase::Done {
            return;
        }
        self.guarded(ctx, |act, ctx| act.pump_inner(ctx));
        self.schedule_processing_time(ctx);
    }

    /// Runs `f`; an error or a panic fails the subtask.
    fn guarded(
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
    fn schedule_processing_time(&mut self, ctx: &mut Context<Self>) {
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
        let delay = next.saturating_sub(processing_time_now()).max(0) as u64;
        let handle = ctx.run_later(Duration::from_millis(delay), |act, ctx| {
            act.timer_at = None;
            if act.phase == Phase::Running {
                act.guarded(ctx, |act, _| match act.chain.as_mut() {
                    Some(chain) => chain.on_processing_time(processing_time_now()),
                    None => Ok(()),
                });
            }
            act.pump(ctx);
        });
        self.timer_at = Some((next, handle));
    }

    fn pump_inner(&mut self, ctx: &mut Context<Self>) -> Result<(), OperatorError> {
        let mut turns = 0;
        loop {
            self.send_ready()?;
            if self.phase == Phase::Ended {
                if self
                    .chain
                    .as_mut()
                    .is_none_or(|c| c.writers().iter().all(|w| w.is_drained()))
                {
                    self.finish(ctx);
                }
                return Ok(());
            }
            if self.output_blocked() {
                return Ok(());
            }
            if turns >= self.config.buffers_per_turn {
                self.schedule_pump(ctx, None);
                return Ok(());
            }
            turns += 1;
            if self.source.is_some() {
                if self.pump_scheduled || self.stopped_for.is_some() {
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
    fn poll_source(&mut self, ctx: &mut Context<Self>) -> Result<bool, OperatorError> {
        let Some(source) = self.source.as_mut() else {
            return Ok(false);
        };
        let (batch, status) = source.poll(self.config.buffer_size)?;
        if let (Some(b), Some(chain)) = (batch, self.chain.as_mut()) {
            chain.process(0, b)?;
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

    fn schedule_pump(&mut self, ctx: &mut Context<Self>, delay: Option<std::time::Duration>) {
        if self.pump_scheduled {
            return;
        }
        self.pump_scheduled = true;
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

    fn end_input(&mut self, input: usize) -> Result<(), OperatorError> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        if chain.end_input(input)? {
            self.phase = Phase::Ended;
            if let Some(s) = self.source.as_mut() {
                s.close()?;
            }
            self.source = None;
        }
        Ok(())
    }

    fn next_input(&mut self) -> Option<usize> {
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

    fn process_channel(&mut self, ch: usize) -> Result<(), OperatorError> {
        let Some(element) = self.channels[ch].queue.pop_front() else {
            return Ok(());
        };
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

    /// Acts on what a barrier or an ended channel did to the alignment.
    fn on_alignment(&mut self, alignment: Alignment) -> Result<(), OperatorError> {
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
    fn checkpoint(&mut self, barrier: CheckpointBarrier) -> Result<(), OperatorError> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(());
        };
        let taken = (|| {
            let mut operators = Vec::new();
            if let (Some(source), Some(head)) = (self.source.as_mut(), self.head_ctx.as_ref()) {
                let s = source.snapshot_state(barrier.id)?;
                if !s.is_empty() {
                    operators.push((head.operator_id.clone(), s.into()));
                }
            }
            operators.extend(chain.snapshot_state(barrier.id)?);
            Ok::<_, OperatorError>(operators)
        })();
        chain.broadcast_barrier(&barrier);
        let operators = match taken {
            Ok(ops) => ops,
            Err(e) => {
                self.respond(barrier.id, Err(e.to_string()));
                return self.send_ready();
            }
        };
        self.send_ready()?;
        if operators.is_empty() {
            self.respond(barrier.id, Ok(None));
            return Ok(());
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
                .collect::<Result<Vec<_>, _>>();
            let result = completed.map_err(|e| e.to_string()).and_then(|operators| {
                write_subtask_state(dir, vertex, subtask, &SubtaskSnapshot { operators })
                    .map(Some)
                    .map_err(|e| e.to_string())
            });
            respond.do_send(CheckpointResponse {
                job_id,
                attempt,
                checkpoint_id: id,
                result,
                not_running: false,
            });
        });
        Ok(())
    }

    fn respond(
        &self,
        checkpoint_id: u64,
        result: Result<Option<crate::checkpoint::storage::StateHandle>, String>,
    ) {
        self.checkpoints.do_send(CheckpointResponse {
            job_id: self.tdd.job_id,
            attempt: self.tdd.attempt,
            checkpoint_id,
            result,
            not_running: false,
        });
    }

    /// Channel `ch`'s watermark advanced; the chain gets the new minimum, if it moved.
    fn advance_watermark(&mut self, ch: usize, w: Timestamp) -> Result<(), OperatorError> {
        match (self.watermarks.input_watermark(ch, w), self.chain.as_mut()) {
            (Some(out), Some(chain)) => chain.process_watermark(out),
            _ => Ok(()),
        }
    }

    fn protocol(&self, e: crate::net::credit::CreditError) -> OperatorError {
        OperatorError::Failed {
            operator: self.tdd.task_name(),
            message: format!("credit protocol: {e}"),
        }
    }

    fn grant(&mut self, gate: usize, grant: Option<Grant>) {
        let Some(g) = grant else { return };
        let Some(ch) = self
            .channels
            .iter()
            .find(|c| c.gate == gate && c.gate_channel == g.channel)
        else {
            return;
        };
        match &ch.producer {
            Some(ProducerHandle::Local {
                producer,
                writer,
                subpartition,
            }) => producer.do_send(AddCredit {
                writer: *writer,
                subpartition: *subpartition,
                credits: g.credits,
            }),
            Some(ProducerHandle::Remote(cell)) => cell.add(g.credits),
            None => {}
        }
    }

    fn send_ready(&mut self) -> Result<(), OperatorError> {
        if let Some(chain) = self.chain.as_mut() {
            let (mut records, mut bytes) = (0, 0);
            for w in chain.writers() {
                w.send_ready()?;
                records += w.records_out();
                bytes += w.bytes_out();
            }
            self.metrics.set_out(records, bytes);
        }
        Ok(())
    }

    fn output_blocked(&mut self) -> bool {
        let cap = self.config.outbox_capacity;
        self.chain
            .as_mut()
            .is_some_and(|c| c.writers().iter().any(|w| w.max_queued() >= cap))
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        let closed = self.chain.as_mut().map_or(Ok(()), |c| c.close());
        if let Err(e) = closed {
            self.fail(e, ctx);
            return;
        }
        self.phase = Phase::Done;
        self.release();
        self.set_state(ExecutionState::Finished, None);
        self.stop(ctx);
    }

    /// Drops the operators (and with them their state backends: RocksDB instances close and
    /// their directories go) before the final state is reported, so nothing of the task
    /// outlives its end as the JobManager sees it.
    fn release(&mut self) {
        self.chain = None;
        self.source = None;
    }

    fn fail(&mut self, e: OperatorError, ctx: &mut Context<Self>) {
        if self.phase == Phase::Done {
            return;
        }
        tracing::warn!(task = %self.tdd.task_name(), error = %e, "subtask failed");
        self.phase = Phase::Done;
        self.close_quietly();
        self.release();
        self.set_state(ExecutionState::Failed, Some(e.to_string()));
        self.stop(ctx);
    }

    fn close_quietly(&mut self) {
        if let Some(s) = self.source.as_mut() {
            s.cancel();
            let _ = catch_unwind(AssertUnwindSafe(|| s.close()));
        }
        if let Some(c) = self.chain.as_mut() {
            let _ = catch_unwind(AssertUnwindSafe(|| c.close()));
        }
    }

    fn stop(&mut self, ctx: &mut Context<Self>) {
        for out in &self.tdd.outputs {
            self.network.local.unregister_producer(&out.partition);
        }
        ctx.stop();
    }
}

impl Actor for Subtask {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox_capacity);
        self.started.do_send(TaskStarted {
            attempt: self.tdd.attempt,
            job_id: self.tdd.job_id,
            address: ctx.address(),
            metrics: self.metrics.clone(),
        });
        match catch_unwind(AssertUnwindSafe(|| self.start(ctx))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(e, ctx),
            Err(p) => {
                let e = OperatorError::Panicked {
                    operator: self.tdd.vertex_name.clone(),
                    message: panic_message(&*p),
                };
                self.fail(e, ctx);
            }
        }
    }
}

impl Handler<DeliverElement> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: DeliverElement, ctx: &mut Self::Context) {
        if self.phase == Phase::Done {
            return;
        }
        let Some(ch) = self.channels.get_mut(msg.channel.get()) else {
            return;
        };
        let (gate, gc) = (ch.gate, ch.gate_channel);
        ch.queue.push_back(msg.element);
        self.metrics.add_bytes_in(u64::from(msg.wire_bytes));
        match self.gates[gate].on_element(gc, msg.backlog) {
            Ok(grant) => self.grant(gate, grant),
            Err(e) => {
                let e = self.protocol(e);
                self.fail(e, ctx);
                return;
            }
        }
        self.pump(ctx);
    }
}

impl Handler<AddCredit> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: AddCredit, ctx: &mut Self::Context) {
        if let Some(w) = self
            .chain
            .as_mut()
            .and_then(|c| c.writers().get_mut(msg.writer))
        {
            w.add_credit(msg.subpartition, msg.credits);
        }
        self.pump(ctx);
    }
}

impl Handler<ConnectConsumer> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: ConnectConsumer, ctx: &mut Self::Context) {
        let link = match &msg.consumer {
            ConsumerEnd::Local(consumer) => ChannelLink::new(consumer.clone(), msg.channel),
            ConsumerEnd::Remote { output, .. } => ChannelLink::Remote(output.clone()),
        };
        let connected = self
            .chain
            .as_mut()
            .and_then(|c| c.writers().get_mut(msg.writer))
            .is_some_and(|w| w.connect(msg.subpartition, link, msg.credit));
        if connected {
            match &msg.consumer {
                ConsumerEnd::Local(consumer) => consumer.do_send(ProducerConnected {
                    channel: msg.channel,
                    producer: ctx.address(),
                    writer: msg.writer,
                    subpartition: msg.subpartition,
                }),
                ConsumerEnd::Remote { connected, .. } => {
                    let tx = connected.lock().ok().and_then(|mut t| t.take());
                    if let Some(tx) = tx {
                        let _ = tx.send((ctx.address(), msg.writer));
                    }
                }
            }
        }
        self.pump(ctx);
    }
}

impl Handler<ProducerConnected> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: ProducerConnected, _ctx: &mut Self::Context) {
        if let Some(ch) = self.channels.get_mut(msg.channel.get()) {
            ch.producer = Some(ProducerHandle::Local {
                producer: msg.producer,
                writer: msg.writer,
                subpartition: msg.subpartition,
            });
        }
    }
}

impl Handler<ChannelFailed> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: ChannelFailed, ctx: &mut Self::Context) {
        let ended = self.channels.get(msg.channel.get()).is_none_or(|c| c.ended);
        if self.phase == Phase::Done || ended {
            return;
        }
        let e = OperatorError::Failed {
            operator: self.tdd.task_name(),
            message: msg.cause,
        };
        self.fail(e, ctx);
    }
}

impl Handler<TriggerCheckpoint> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: TriggerCheckpoint, ctx: &mut Self::Context) {
        let id = msg.barrier.id;
        if self.phase != Phase::Running || self.source.is_none() {
            // Its input has ended (or it is no source): not a failure of the checkpoint.
            self.checkpoints.do_send(CheckpointResponse {
                job_id: self.tdd.job_id,
                attempt: self.tdd.attempt,
                checkpoint_id: id,
                result: Err(format!("{} has finished its input", self.tdd.task_name())),
                not_running: true,
            });
            return;
        }
        self.guarded(ctx, |act, _| act.checkpoint(msg.barrier));
        self.pump(ctx);
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
        self.pump(ctx);
    }
}

impl Handler<Pump> for Subtask {
    type Result = ();

    fn handle(&mut self, _: Pump, ctx: &mut Self::Context) {
        self.pump_scheduled = false;
        self.pump(ctx);
    }
}

impl Handler<CancelTask> for Subtask {
    type Result = ();

    fn handle(&mut self, _: CancelTask, ctx: &mut Self::Context) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        self.close_quietly();
        self.release();
        self.set_state(ExecutionState::Canceled, None);
        self.stop(ctx);
    }
}
