//! The user-function traits: sources, sinks, process functions, and the collector and side
//! output tags they emit through.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::data::batch::BatchBuilder;
use crate::data::Data;
use crate::operators::{Batch, OperatorError, Output, RuntimeContext, UserError};

/// Emits records from a user function.
pub struct Collector<'a, T> {
    buf: &'a mut Vec<T>,
}

impl<'a, T> Collector<'a, T> {
    /// A collector appending to `buf`.
    pub fn new(buf: &'a mut Vec<T>) -> Self {
        Self { buf }
    }

    /// Emits one record.
    #[inline]
    pub fn collect(&mut self, value: T) {
        self.buf.push(value);
    }

    /// Emits every record of `values` (one reservation for an iterator of known length).
    #[inline]
    pub fn collect_all(&mut self, values: impl IntoIterator<Item = T>) {
        self.buf.extend(values);
    }

    /// Records collected so far in this call.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been collected.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Names a side output of type `T`.
pub struct OutputTag<T> {
    id: Arc<str>,
    _t: PhantomData<fn() -> T>,
}

impl<T> OutputTag<T> {
    /// A tag; tags with the same id name the same side output.
    pub fn new(id: &str) -> Self {
        Self {
            id: Arc::from(id),
            _t: PhantomData,
        }
    }

    /// The tag's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn shared_id(&self) -> Arc<str> {
        self.id.clone()
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            _t: PhantomData,
        }
    }
}

trait SideBuffer: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn take_batch(&mut self) -> Option<Batch>;
}

impl<T: Data> SideBuffer for BatchBuilder<T> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn take_batch(&mut self) -> Option<Batch> {
        if self.is_empty() {
            None
        } else {
            Some(self.take(0))
        }
    }
}

/// Records emitted to side outputs during one buffer, by tag.
#[derive(Default)]
pub struct SideOutputs {
    buffers: Vec<(Arc<str>, Box<dyn SideBuffer>)>,
}

impl SideOutputs {
    /// Adds `value`, with its timestamp if it has one, to the side output `tag`.
    pub(crate) fn push<T: Data>(&mut self, tag: &OutputTag<T>, value: T, timestamp: Option<i64>) {
        let pos = match self.buffers.iter().position(|(id, _)| **id == *tag.id) {
            Some(p) => p,
            None => {
                self.buffers
                    .push((tag.shared_id(), Box::new(BatchBuilder::<T>::new())));
                self.buffers.len() - 1
            }
        };
        if let Some(v) = self.buffers[pos]
            .1
            .as_any_mut()
            .downcast_mut::<BatchBuilder<T>>()
        {
            v.push(value, timestamp);
        }
    }

    /// Emits what was gathered, per tag.
    pub fn flush(&mut self, out: &mut Output<'_>) -> Result<(), OperatorError> {
        for (id, buf) in &mut self.buffers {
            if let Some(b) = buf.take_batch() {
                out.emit_side(id, b)?;
            }
        }
        Ok(())
    }
}

/// What a process function may ask and do besides emitting on its main output.
pub struct ProcessContext<'a> {
    runtime: &'a RuntimeContext,
    side: &'a mut SideOutputs,
    pub(crate) timestamp: Option<i64>,
    watermark: i64,
}

impl<'a> ProcessContext<'a> {
    pub(crate) fn new(
        runtime: &'a RuntimeContext,
        side: &'a mut SideOutputs,
        watermark: i64,
    ) -> Self {
        Self {
            runtime,
            side,
            timestamp: None,
            watermark,
        }
    }

    /// Emits `value` to the side output `tag`, with the current record's timestamp.
    pub fn output<X: Data>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.push(tag, value, self.timestamp);
    }

    /// The current record's event-time timestamp, if it has one.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The operator's current event-time watermark.
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }

    /// The current processing time, in milliseconds since the epoch.
    pub fn current_processing_time(&self) -> i64 {
        self.runtime.clock.now()
    }

    /// Where this instance runs.
    pub fn runtime(&self) -> &RuntimeContext {
        self.runtime
    }
}

/// A function called for every record, free to emit any number of records and side outputs.
pub trait ProcessFunction<I, O>: Send + 'static {
    /// Called once before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    /// Processes one record.
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), UserError>;

    /// Restores the function's operator state (Flink's `CheckpointedFunction`; called before
    /// `open`): list state read with [`RestoredState::list`](crate::state::RestoredState::list),
    /// dealt out evenly (`ListMode::Split`) or whole to every subtask (`ListMode::Union`).
    fn initialize_state(
        &mut self,
        _restored: &crate::state::RestoredState,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Writes the function's operator state for checkpoint `checkpoint_id` (with
    /// [`OperatorSnapshot::add_list`](crate::state::OperatorSnapshot::add_list)).
    fn snapshot_state(
        &mut self,
        _checkpoint_id: u64,
        _snapshot: &mut crate::state::OperatorSnapshot,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Called once at the end.
    fn close(&mut self) -> Result<(), UserError> {
        Ok(())
    }
}

impl<I, O, F> ProcessFunction<I, O> for F
where
    F: FnMut(I, &mut ProcessContext<'_>, &mut Collector<'_, O>) -> Result<(), UserError>
        + Send
        + 'static,
{
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), UserError> {
        self(value, ctx, out)
    }
}

/// What a source reports after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePoll {
    /// More records may be ready at once: poll again.
    Ready,
    /// Nothing is available now: poll again after a short pause.
    Idle,
    /// The source is exhausted: it will produce nothing more (bounded sources only).
    Finished,
}

/// A source of records. Sources are polled cooperatively (they share their slot's thread with
/// other subtasks), so `poll_next` must not block for long.
pub trait SourceFunction<T>: Send + 'static {
    /// Called once before the first poll.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    /// Emits up to `max` records.
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, T>,
        max: usize,
    ) -> Result<SourcePoll, UserError>;

    /// Stops an unbounded source; the next poll should report `Finished` or nothing at all.
    fn cancel(&mut self) {}

    /// Restores the source's position from a checkpoint (called before `open`).
    fn initialize_state(
        &mut self,
        _restored: &crate::state::RestoredState,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Writes the source's position for a checkpoint: everything emitted so far is before it.
    /// A source without state writes nothing and starts from the beginning on restore.
    fn snapshot_state(
        &mut self,
        _snapshot: &mut crate::state::OperatorSnapshot,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Called once at the end.
    fn close(&mut self) -> Result<(), UserError> {
        Ok(())
    }
}

/// A destination of records.
pub trait SinkFunction<T>: Send + 'static {
    /// Called once before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    /// Writes one record.
    fn invoke(&mut self, value: T) -> Result<(), UserError>;

    /// Writes a buffer of records; by default one `invoke` each.
    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        for v in values {
            self.invoke(v)?;
        }
        Ok(())
    }

    /// The input's watermark advanced (Flink's `writeWatermark`); by default ignored.
    fn write_watermark(
        &mut self,
        _watermark: crate::eventtime::Timestamp,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// The input has ended (bounded streams): flush what is buffered.
    fn finish(&mut self) -> Result<(), UserError> {
        Ok(())
    }

    /// Restores what the sink held at a checkpoint (called before `open`).
    fn initialize_state(
        &mut self,
        _restored: &crate::state::RestoredState,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Writes what the sink holds for checkpoint `checkpoint_id` (records buffered but not
    /// yet written out, transactions prepared). A sink that writes records at once holds
    /// nothing.
    fn snapshot_state(
        &mut self,
        _checkpoint_id: u64,
        _snapshot: &mut crate::state::OperatorSnapshot,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// A checkpoint completed (a two-phase-commit sink commits what it prepared for it).
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<(), UserError> {
        Ok(())
    }

    /// Called once at the end, also after cancellation.
    fn close(&mut self) -> Result<(), UserError> {
        Ok(())
    }
}

/// Converts a user error into an operator error, keeping an `OperatorError` as it is.
/// Runs a user function's `snapshot_state` into a fresh snapshot (the operators that run user
/// functions share this).
pub(crate) fn user_snapshot(
    name: &str,
    f: impl FnOnce(&mut crate::state::OperatorSnapshot) -> Result<(), UserError>,
) -> Result<crate::state::OperatorSnapshot, OperatorError> {
    let mut snapshot = crate::state::OperatorSnapshot::default();
    f(&mut snapshot).map_err(|e| user_error(name, e))?;
    Ok(snapshot)
}

pub(crate) fn user_error(operator: &str, err: UserError) -> OperatorError {
    match err.downcast::<OperatorError>() {
        Ok(e) => *e,
        Err(e) => OperatorError::user(operator, &e),
    }
}
