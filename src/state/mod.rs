//! State: key groups, and the form operator state takes in checkpoints. Keyed state backends
//! (heap, RocksDB) build on these.

pub mod key_group;
pub mod keyed;
pub mod snapshot;

pub use key_group::{KeyGroupRange, DEFAULT_MAX_PARALLELISM};
pub use keyed::{
    AggregatingStateDescriptor, HeapKeyedStateBackend, ListStateDescriptor, MapStateDescriptor,
    ReducingStateDescriptor, StateTtlConfig, TtlUpdateType, ValueStateDescriptor,
};
pub use snapshot::{ListMode, OperatorSnapshot, RestoredState, StateError, StateSnapshot};
