//! Operators: what a subtask runs. Each API transformation becomes a boxed [`Operator`] made by
//! a factory when its subtask is deployed; operators of one chain call each other directly
//! through [`Output`], one call per buffer, never per record.
//!
//! ## Contract
//! - `open` once before any input; `process_batch` for each buffer of an input;
//!   `end_input(i)` once input `i` has ended (all its channels reached end of partition);
//!   `close` once at the end, also after cancellation.
//! - An operator may emit from any of these calls; what it emits reaches its chained
//!   successors before the call returns.
//! - Event time arrives in band: `process_watermark` when the input watermark advances,
//!   `process_watermark_status` when the inputs go idle or active. Processing time arrives by
//!   `on_processing_time`, called by the subtask once the time the operator asked for through
//!   `next_processing_time` has come.
//! - Checkpoints: `initialize_state` once before `open` when the job restores;
//!   `snapshot_state` when a checkpoint barrier has passed every input (all input before it is
//!   processed, none after it); `notify_checkpoint_complete` once the whole checkpoint
//!   completed.
//! - Errors end the subtask FAILED; panics are caught by the subtask and treated the same.

pub mod broadcast_process;
pub mod chain;
pub mod co;
pub mod interval_join;
pub mod keyed;
pub mod keyed_process;
pub mod process;
pub mod sinks;
pub mod socket_source;
pub mod sources;
pub mod text_file_source;
pub mod timestamps;
pub mod transforms;
pub mod two_phase;
pub mod window;

use std::sync::Arc;

pub use crate::data::Batch;
pub use crate::data::{OperatorError, UserError};
pub use crate::state::context::RuntimeContext;
pub use chain::{Chain, Output};

use crate::state::{RestoredState, StateSnapshot};

/// One operator instance.
pub trait Operator: Send {
    /// Prepares the operator before the first input.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Processes one buffer of input `input` (0 for one-input operators, 0 or 1 for two).
    fn process_batch(
        &mut self,
        input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError>;

    /// Input `input` has ended: no more buffers will arrive on it.
    fn end_input(&mut self, _input: usize, _out: &mut Output<'_>) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The operator's input watermark advanced (for a two-input operator: the minimum over
    /// both inputs). By default it is passed on to every output.
    fn process_watermark(
        &mut self,
        watermark: crate::eventtime::Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        out.emit_watermark(watermark)
    }

    /// The operator's inputs all became idle, or one became active again. By default it is
    /// passed on to every output.
    fn process_watermark_status(
        &mut self,
        status: crate::eventtime::WatermarkStatus,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        out.emit_watermark_status(status)
    }

    /// The earliest processing time (ms since the epoch) at which the operator wants
    /// [`Operator::on_processing_time`] called: its next processing-time timer or periodic
    /// duty. `None` (the default) asks for nothing.
    fn next_processing_time(&self) -> Option<crate::eventtime::Timestamp> {
        None
    }

    /// Processing time reached `now`, at or after what [`Operator::next_processing_time`]
    /// asked for.
    fn on_processing_time(
        &mut self,
        _now: crate::eventtime::Timestamp,
        _out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Restores the operator's state from a checkpoint or savepoint (before `open`).
    fn initialize_state(&mut self, _restored: &RestoredState) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Takes the operator's state for checkpoint `checkpoint_id`: small state written at once,
    /// large state copied and written later off the task's thread. By default: no state.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<StateSnapshot, OperatorError> {
        Ok(StateSnapshot::default())
    }

    /// Checkpoint `checkpoint_id` completed on every subtask (a two-phase-commit sink commits
    /// what it prepared for it).
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Releases resources; called once, last.
    fn close(&mut self) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The watermark alignment of the strategy this operator applies, and its watermark now
    /// (only the timestamps-and-watermarks operator has one).
    fn watermark_alignment(
        &self,
    ) -> Option<(
        &crate::eventtime::alignment::WatermarkAlignment,
        crate::eventtime::alignment::ReportedWatermark,
    )> {
        None
    }
}

/// Makes one operator instance per subtask.
pub type OperatorFactory = Arc<dyn Fn(&RuntimeContext) -> Box<dyn Operator> + Send + Sync>;

/// Forwards buffers unchanged: stands for a source in its chain, whose driver feeds it.
pub struct PassThrough;

impl Operator for PassThrough {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        out.emit(batch)
    }
}
