//! The Subtask actor: one operator chain instance, its input channels and its network outputs.
//! It runs on its slot's thread and shares it cooperatively with the slot's other subtasks.
//!
//! ## Rules
//! - Input arrives on each channel's queue ([`crate::net::channel`]), one buffer or event per
//!   element, only against credit; a [`ChannelReady`] message wakes the subtask when a queue
//!   turns non-empty, and it takes everything queued. Elements of one channel are processed in
//!   order. The queues are the subtask's mailbox for data: their capacity is the credit it
//!   grants (exclusive and floating buffers), so credit and the mailbox bound are one
//!   mechanism; its actor mailbox carries control messages and at most one wake-up per
//!   channel.
//! - A buffer's credit goes back to its producer once the buffer is processed: onto the
//!   channel's queue for a producer in this process (which it wakes only if it waited for
//!   credit), in a credit frame for one in another.
//! - A subtask that fails fails its consumers' channels with its cause (Flink's
//!   `ProducerFailedException`).
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
//! - Unaligned checkpoints ([`crate::checkpoint::channel_state`]): an unaligned barrier is
//!   handled when it is delivered, ahead of what its channel has queued; an aligned barrier
//!   with an alignment timeout goes unaligned when it is delivered after its deadline, or when
//!   the deadline passes before the alignment completed. The snapshot is taken at once, the
//!   barrier overtakes the output queues, and the file is written once every input's barrier
//!   came (with the in-flight records captured meanwhile).
//! - A turn ends after `buffers_per_turn` buffers or [`TURN_BUDGET`], whichever comes first, so
//!   that barriers, credit and cancellation waiting in the mailbox are served between buffers.
//! - A restored subtask first queues the output records its checkpoint persisted, and processes
//!   the persisted input records before any channel's.
//! - The end of the input (Flink's final checkpoint, FLIP-147): when the job checkpoints
//!   periodically, a subtask whose input ended and whose outputs drained does not finish; it
//!   stays RUNNING, tells the JobMaster, and takes every checkpoint triggered from then on
//!   directly (its inputs and outputs have ended, so no barrier passes), with its source's
//!   position at the end. The JobMaster triggers every subtask, not only sources: a subtask
//!   with input left remembers the trigger and takes it at its end if no input brought the
//!   barrier. A checkpoint triggered once every subtask had ended is *final*; a subtask
//!   finishes when one it took completed, after its operators were told (a two-phase-commit
//!   sink commits its last records then). So every record a sink received is committed by a
//!   completed checkpoint, or replayed from one after a failure.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::actors::task_manager::{CheckpointResponse, TaskStarted, UpdateTaskExecutionState};
use crate::actors::task_plan::{build_task, ResolvedPlan};
use crate::api::SourcePoll;
use crate::checkpoint::barrier::Alignment;
use crate::checkpoint::channel_state::{ChannelState, InFlightCapture};
use crate::checkpoint::restore::Restorer;
use crate::checkpoint::storage::{write_subtask_state, SubtaskSnapshot};
use crate::checkpoint::{BarrierAligner, BarrierAlignment, CheckpointBarrier};
use crate::config::RuntimeConfig;
use crate::eventtime::valve::{ValveOutput, WatermarkValve};
use crate::eventtime::{processing_time_now, Timestamp, WatermarkStatus, MAX_WATERMARK};
use crate::graph::partitioner::PartitionerKind;
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::ids::{ChannelIndex, ResultPartitionId};
use crate::metrics::IoMetrics;
use crate::net::channel::{Arrival, InputQueue, Wake};
use crate::net::credit::{Grant, InputGateCredits};
use crate::net::remote::{CreditCell, RemoteOutput};
use crate::net::rpc::PartitionRequest;
use crate::net::{ChannelLink, NetworkEnvironment, StreamElement};
use crate::operators::sources::{PollSize, SourceDriver};
use crate::operators::{Batch, Chain, OperatorError, RuntimeContext};
use crate::state::StateSnapshot;
use crate::util::panic_message;

mod checkpoints;
pub mod figures;

use figures::SubtaskFigures;

/// The longest a subtask processes buffers before it serves its mailbox.
pub const TURN_BUDGET: Duration = Duration::from_millis(2);

/// A turn this long (one slow buffer) yields behind the tasks other threads woke.
const SLOW_TURN: Duration = Duration::from_millis(20);

/// Operator state taken for a checkpoint, or why it could not be.
type TakenState = Result<Vec<(String, StateSnapshot)>, String>;

/// An unaligned checkpoint whose operator state is taken and whose in-flight input is still
/// being captured.
struct PendingUnaligned {
    capture: InFlightCapture,
    operators: TakenState,
    /// An aligned barrier with an alignment timeout still waits in an output queue: the
    /// checkpoint is written once it has left every queue, or, at its deadline, it overtakes
    /// what is ahead of it (which the checkpoint then holds).
    outputs_pending: bool,
}

/// Wakes a consumer: elements wait on the input queue of `channel` (sent when the queue turns
/// non-empty, so at most one is on its way per channel).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChannelReady {
    /// The consumer's channel.
    pub channel: ChannelIndex,
}

/// Wakes a producer that waited for credit from a consumer in this process: its queue holds
/// some now (sent once per wait).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CreditAvailable;

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
    /// The consumer (with the credit it grants).
    pub consumer: ConsumerEnd,
}

/// Where a partition request came from.
#[derive(Clone)]
pub enum ConsumerEnd {
    /// A subtask in this process, through the channel's queue.
    Local(Arc<InputQueue>),
    /// A subtask in another process, behind a QUIC stream.
    Remote(RemoteOutput),
}

/// How a consumer returns credit to the producer of one channel.
enum ProducerHandle {
    /// In this process: the credit goes on the channel's queue, where the producer takes it.
    Local(Arc<InputQueue>),
    /// In another process.
    Remote(Arc<CreditCell>),
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
    producer: ProducerHandle,
    /// What arrives from the producer, waiting to be delivered.
    inbox: Arc<InputQueue>,
    /// Decodes the frames of a producer in another process.
    decode: Option<crate::graph::partitioner::BatchDecoder>,
    /// Delivered elements, waiting to be processed (alignment can hold them).
    queue: VecDeque<StreamElement>,
    ended: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    /// All input processed; waiting for outputs to drain.
    Ended,
    /// Input ended and outputs drained; waiting for the final checkpoint to complete (only
    /// when the job checkpoints periodically).
    Finishing,
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
    /// The unaligned checkpoint capturing in-flight input.
    unaligned: Option<PendingUnaligned>,
    /// The newest checkpoint an alignment deadline is set for.
    deadline_set_for: u64,
    /// Restored in-flight input, processed before any channel's: `(input, records)`.
    restored_input: VecDeque<(usize, Batch)>,
    /// The newest checkpoint whose state this subtask took.
    taken: u64,
    /// The newest checkpoint the JobMaster triggered here directly while the subtask still
    /// had input: its barrier comes through the inputs, unless they all end first (then it is
    /// taken at the end).
    triggered: Option<CheckpointBarrier>,
    /// The source's position at the end of its input (its state in checkpoints taken after).
    source_at_end: Option<crate::state::OperatorSnapshot>,
    /// The final checkpoint this subtask took: it finishes once one completed.
    final_taken: Option<u64>,
    state: ExecutionState,
    metrics: Arc<IoMetrics>,
    /// How many records the source is polled for at once.
    poll_size: PollSize,
    /// What the actor registry shows of it.
    figures: Arc<SubtaskFigures>,
    /// Its registry and its path there, left when it stops.
    registered: Option<(crate::actors::remote::ActorRegistry, String)>,
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
            poll_size: PollSize::new(config.buffer_bound()),
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
            unaligned: None,
            deadline_set_for: 0,
            restored_input: VecDeque::new(),
            taken: 0,
            triggered: None,
            source_at_end: None,
            final_taken: None,
            state: ExecutionState::Deploying,
            metrics: Arc::default(),
            figures: Arc::default(),
            registered: None,
        }
    }

    /// What the actor registry shows of it.
    pub fn figures(&self) -> Arc<SubtaskFigures> {
        self.figures.clone()
    }

    /// It is registered at `path` in `registry`, which it leaves when it stops.
    pub fn registered_at(
        mut self,
        registry: crate::actors::remote::ActorRegistry,
        path: String,
    ) -> Self {
        self.registered = Some((registry, path));
        self
    }

    fn set_state(&mut self, to: ExecutionState, failure: Option<String>) {
        match self.state.transition(to) {
            Ok(s) => {
                self.state = s;
                self.figures.set_status(s);
            }
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
            input_ended: false,
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
        let mut in_flight = ChannelState::default();
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
            in_flight = restorer.channel_state(&built.head_ctx)?;
        }
        if let Some(s) = self.source.as_mut() {
            s.open(&built.head_ctx)?;
        }
        chain.open()?;
        self.restore_in_flight(&mut chain, in_flight)?;
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
            // What one channel may hold at once: its exclusive buffers and every floating one.
            let holds = (self.config.exclusive_credits + self.config.floating_credits) as usize;
            for (gc, ch) in gate.channels.iter().enumerate() {
                let channel = ChannelIndex(index);
                let wake: Wake = {
                    let me = me.clone();
                    Arc::new(move || me.do_send(ChannelReady { channel }))
                };
                let inbox = InputQueue::new(holds, credits.initial_credit(), wake);
                let (producer, decode) = match (ch.producer_address, &self.network.remote) {
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
                            inbox.clone(),
                        );
                        (ProducerHandle::Remote(cell), Some(decode))
                    }
                    _ => {
                        self.network.local.request_partition(ConnectConsumer {
                            partition: ch.partition,
                            writer: 0,
                            subpartition: ch.subpartition as usize,
                            consumer: ConsumerEnd::Local(inbox.clone()),
                        });
                        (ProducerHandle::Local(inbox.clone()), None)
                    }
                };
                self.channels.push(InputChannel {
                    input: gate.input,
                    gate: g,
                    gate_channel: gc,
                    producer,
                    inbox,
                    decode,
                    queue: VecDeque::new(),
                    ended: false,
                });
                index += 1;
            }
            self.gates.push(credits);
        }
        self.figures
            .set_inputs(self.channels.iter().map(|c| c.inbox.clone()).collect());
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
                // A scheduled turn comes anyway; until then only what the flush queued goes.
                if act.pump_scheduled {
                    act.guarded(ctx, |act, _| act.send_ready());
                } else {
                    act.pump(ctx);
                }
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
        let waiting = self.unaligned.as_ref().filter(|p| p.outputs_pending);
        if let Some(barrier) = waiting.map(|p| p.capture.barrier().clone()) {
            self.set_alignment_deadline(&barrier, ctx);
        }
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
    fn schedule_pump_behind_others(&mut self, ctx: &mut Context<Self>) {
        if self.pump_scheduled {
            return;
        }
        self.pump_scheduled = true;
        let woken_elsewhere = tokio::time::sleep(Duration::from_millis(1));
        ctx.spawn(woken_elsewhere.into_actor(self).map(|_, act, ctx| {
            act.pump_scheduled = false;
            act.pump(ctx);
        }));
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
                // Checkpoints taken from now on hold the source at its end.
                self.source_at_end = Some(s.snapshot_state(self.taken)?);
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

    /// Queues the output records a restored unaligned checkpoint persisted (ahead of anything
    /// new) and keeps its input records to process first.
    fn restore_in_flight(
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
            ProducerHandle::Local(queue) => queue.credit().grant(g.credits),
            ProducerHandle::Remote(cell) => cell.add(g.credits),
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
        if self.unaligned.is_some() {
            self.on_outputs_sent();
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
        // Its consumers fail with its cause (rather than with a channel that just closed), so
        // the JobMaster meets the cause whichever failure it hears of first.
        if let Some(chain) = self.chain.as_mut() {
            let cause = format!("{} failed: {e}", self.tdd.task_name());
            chain
                .writers()
                .iter_mut()
                .for_each(|w| w.producer_failed(&cause));
        }
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
        // Producers hand nothing more over; what waits is dropped.
        for ch in &self.channels {
            ch.inbox.close();
        }
        if let Some((registry, path)) = self.registered.take() {
            registry.unregister_subtask(&path, &self.figures);
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
        self.guarded(ctx, |act, ctx| act.start(ctx));
    }
}

impl Subtask {
    /// One element arrived on channel `index` (the producer still holds `backlog`): it takes
    /// its credit and waits in the channel's queue to be processed, or, an unaligned barrier,
    /// is handled at once.
    fn deliver(
        &mut self,
        index: usize,
        element: StreamElement,
        backlog: u32,
        ctx: &mut Context<Self>,
    ) {
        let Some(ch) = self.channels.get(index) else {
            return;
        };
        let (gate, gc) = (ch.gate, ch.gate_channel);
        // An unaligned barrier came without credit and takes no buffer.
        let credited = !element.travels_without_credit();
        if credited {
            match self.gates[gate].on_element(gc, backlog) {
                Ok(grant) => self.grant(gate, grant),
                Err(e) => {
                    let e = self.protocol(e);
                    self.fail(e, ctx);
                    return;
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
                return;
            }
            self.set_alignment_deadline(b, ctx);
        }
        if let Some(p) = self.unaligned.as_mut() {
            p.capture.record(index, &element);
            self.persist_unaligned_if_complete();
        }
        if let Some(ch) = self.channels.get_mut(index) {
            ch.queue.push_back(element);
        }
    }

    /// A frame from a producer in another process: decoded here, on the slot's thread.
    fn deliver_frame(&mut self, index: usize, frame: &[u8], ctx: &mut Context<Self>) {
        let Some(decode) = self.channels.get(index).and_then(|c| c.decode) else {
            return;
        };
        self.metrics.add_bytes_in(frame.len() as u64);
        match crate::net::remote::decode_frame(frame, decode) {
            Ok((element, backlog)) => self.deliver(index, element, backlog, ctx),
            Err(cause) => self.channel_failed(
                index,
                format!("a remote channel sent a frame that does not decode: {cause}"),
                ctx,
            ),
        }
    }

    /// The channel broke: unless it had ended anyway, the subtask fails.
    fn channel_failed(&mut self, index: usize, cause: String, ctx: &mut Context<Self>) {
        let ended = self.channels.get(index).is_none_or(|c| c.ended);
        if self.phase == Phase::Done || ended {
            return;
        }
        let e = OperatorError::Failed {
            operator: self.tdd.task_name(),
            message: cause,
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
        let queued = |act: &Self| act.channels.get(index).map_or(0, |c| c.queue.len());
        for arrival in arrivals {
            let before = queued(self);
            if self.phase != Phase::Done {
                match arrival {
                    Arrival::Element(element, backlog) => {
                        self.deliver(index, element, backlog, ctx)
                    }
                    Arrival::Frame(frame) => self.deliver_frame(index, &frame, ctx),
                    Arrival::Failed(cause) => self.channel_failed(index, cause, ctx),
                }
            }
            // What was not queued to be processed (a barrier handled at once, a failure, or
            // anything after the end) holds no buffer any more.
            if queued(self) <= before {
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
