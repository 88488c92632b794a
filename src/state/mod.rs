//! State: key groups, and the form operator state takes in checkpoints. Keyed state backends
//! (heap, RocksDB) build on these.

pub mod backend;
pub mod broadcast;
pub mod context;
pub mod key_group;
pub mod keyed;
mod rocks_cache;
pub mod rocksdb;
pub mod snapshot;

pub use backend::{KeyedStateBackend, StateBackendKind};
pub use key_group::{KeyGroupRange, DEFAULT_MAX_PARALLELISM};
pub use keyed::{
    AggregatingStateDescriptor, HeapKeyedStateBackend, ListStateDescriptor, MapStateDescriptor,
    ReducingStateDescriptor, StateTtlConfig, TtlUpdateType, ValueStateDescriptor,
};
pub use snapshot::{
    ListMode, OperatorSnapshot, RestoredState, SnapshotTarget, StateError, StateSnapshot,
};
