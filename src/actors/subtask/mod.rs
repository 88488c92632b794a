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
//!   subtask acknowledges with the file (or declines) once it is written, and with what it
//!   measured of the checkpoint (start delay, alignment, sync and async parts, in-flight bytes;
//!   [`crate::checkpoint::figures`]), a few clock readings per checkpoint.
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
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::task_manager::{CheckpointResponse, TaskStarted, UpdateTaskExecutionState};
use crate::actors::task_plan::{build_task, ResolvedPlan};
use crate::api::SourcePoll;
use crate::checkpoint::barrier::Alignment;
use crate::checkpoint::channel_state::{ChannelState, InFlightCapture};
use crate::checkpoint::figures::CheckpointClock;
use crate::checkpoint::restore::Restorer;
use crate::checkpoint::storage::{write_subtask_state, SubtaskSnapshot};
use crate::checkpoint::{BarrierAligner, BarrierAlignment, CheckpointBarrier};
use crate::config::RuntimeConfig;
use crate::eventtime::valve::{ValveOutput, WatermarkValve};
use crate::eventtime::{processing_time_now, Timestamp, WatermarkStatus, MAX_WATERMARK};
use crate::graph::partitioner::PartitionerKind;
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::ids::ChannelIndex;
use crate::metrics::{IoMetrics, Spent};
use crate::net::channel::{Arrival, InputQueue, Wake};
use crate::net::credit::{Grant, InputGateCredits};
use crate::net::local::{ConnectConsumer, ConsumerEnd};
use crate::net::remote::CreditCell;
use crate::net::rpc::PartitionRequest;
use crate::net::{ChannelLink, NetworkEnvironment, StreamElement};
use crate::operators::sources::{PollSize, SourceDriver};
use crate::operators::{Batch, Chain, OperatorError, RuntimeContext};
use crate::state::StateSnapshot;
use crate::util::panic_message;

mod alignment;
mod checkpoints;
pub mod figures;
mod inputs;
mod run;
mod snapshot;

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
    taken: snapshot::Taken,
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
    /// The producing subtask's attempt.
    producer_attempt: crate::ids::ExecutionAttemptId,
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
    /// What it measures of the checkpoint it aligns.
    clock: CheckpointClock,
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
    /// The scheduled pump waits (a source's idle backoff): the subtask is idle meanwhile.
    pump_later: bool,
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
    /// Where an aligned source reports its watermark, and its alignment.
    watermark_reports: Option<Recipient<crate::actors::task_manager::ReportWatermark>>,
    alignment: Option<crate::eventtime::alignment::SourceAlignment>,
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
        let identity = figures::SubtaskIdentity::of(&tdd);
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
            clock: CheckpointClock::default(),
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
            pump_later: false,
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
            figures: Arc::new(SubtaskFigures::new(identity)),
            registered: None,
            watermark_reports: None,
            alignment: None,
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

    fn set_state(&mut self, to: ExecutionState, failure: Option<crate::data::FailureCause>) {
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
                .register_producer(out.partition, me.clone().recipient(), w);
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
                    producer_attempt: ch.partition.attempt,
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
        self.figures.set_inputs(
            self.channels
                .iter()
                .map(|c| (c.inbox.clone(), c.producer_attempt.to_string()))
                .collect(),
        );
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
        self.start_alignment(ctx);

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
            let cause = e.cause().within(format!("{} failed", self.tdd.task_name()));
            chain
                .writers()
                .iter_mut()
                .for_each(|w| w.producer_failed(&cause));
        }
        self.close_quietly();
        self.release();
        self.set_state(ExecutionState::Failed, Some(e.cause()));
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
        // No capacity is set: data never comes through this mailbox (it waits on the input
        // queues, bounded by credit), and what does is bounded at its source: one wake-up
        // per input channel and per output channel at most, and the TaskManager's control
        // messages, which the JobMaster paces.
        self.started.do_send(TaskStarted {
            attempt: self.tdd.attempt,
            job_id: self.tdd.job_id,
            address: ctx.address(),
            metrics: self.metrics.clone(),
            identity: self.figures.identity().clone(),
        });
        self.guarded(ctx, |act, ctx| act.start(ctx));
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
