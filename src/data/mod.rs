//! The types every layer shares, at the bottom of the crate: record buffers ([`Batch`]) and the
//! bounds they are cut at, the elements that travel on channels ([`StreamElement`]), the
//! checkpoint barrier, timestamps and watermark status, the bounds a record type meets
//! ([`Data`], [`Key`]) and the errors of running records ([`OperatorError`]). Nothing here
//! imports from the layers above (`net`, `state`, `checkpoint`, `operators`, `actors`), so
//! they depend on this module and not on each other for these types.

pub mod barrier;
pub mod batch;
pub mod element;
pub mod error;
pub mod record;
pub mod time;

pub use barrier::{BarrierAlignment, CheckpointBarrier, SnapshotKind};
pub use batch::{Batch, BatchBuilder, BufferBound, NO_TIMESTAMP};
pub use element::StreamElement;
pub use error::{FailureCause, OperatorError, UserError};
pub use record::{Data, Key};
pub use time::{Timestamp, WatermarkStatus, MAX_WATERMARK, MIN_WATERMARK};
