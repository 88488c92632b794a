//! State: key groups now; keyed and operator state backends (heap, RocksDB) and snapshots
//! come with checkpointing.

pub mod key_group;

pub use key_group::{KeyGroupRange, DEFAULT_MAX_PARALLELISM};
