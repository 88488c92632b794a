//! Checkpointing: barriers and their alignment, what subtasks measure of each checkpoint, the
//! coordinator's bookkeeping, and the storage of checkpoints and savepoints.

pub mod barrier;
pub mod channel_state;
pub mod coordinator;
pub mod figures;
pub mod restore;
pub mod storage;
pub mod store;

pub use barrier::{BarrierAligner, BarrierAlignment, CheckpointBarrier, SnapshotKind};
pub use coordinator::{CheckpointCoordinator, CheckpointSettings, CheckpointingMode};
