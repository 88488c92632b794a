//! State: key groups, and the form operator state takes in checkpoints. Keyed state backends
//! (heap, RocksDB) build on these.

pub mod key_group;
pub mod snapshot;

pub use key_group::{KeyGroupRange, DEFAULT_MAX_PARALLELISM};
pub use snapshot::{ListMode, OperatorSnapshot, RestoredState, StateError};
