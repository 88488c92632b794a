//! Keyed state (Flink's `ValueState`, `ListState`, `MapState`, `ReducingState`,
//! `AggregatingState`) on the heap: one table per state, values per key as objects.
//!
//! ## Use
//! A function declares a descriptor (name, type, optional TTL) and reaches the current key's
//! state through its context: `ctx.value_state(&self.count)?.update(n)`. A state is created
//! the first time it is asked for; asking with another type under the same name is an error.
//!
//! ## Checkpoints
//! Every state is written as keyed state under its name, cut by key group. State restored from
//! a checkpoint stays in its serialized form until the function first asks for it; a
//! checkpoint taken before then writes that form back as it is, so no state is lost because a
//! function had not touched it yet.
//!
//! ## TTL (Flink's `StateTtlConfig`)
//! With a TTL, each value (each list element, each map entry) carries its expiry time: set
//! when it is written, and also when it is read under `OnReadAndWrite`. Expired values are
//! never returned and are removed when met (`NeverReturnExpired`). Expiry uses processing time.

mod descriptors;
mod handles;
mod heap;
mod restored;
mod tables;
mod ttl;

pub(crate) use descriptors::declared_otherwise;
pub use descriptors::{
    AggregatingStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
    ValueStateDescriptor,
};
pub use handles::{AggregatingState, ListState, MapState, ReducingState, ValueState};
pub use heap::HeapKeyedStateBackend;
pub(crate) use restored::{carry_untouched, restored_lists, restored_maps, restored_values};
pub(crate) use ttl::{Stamped, Ttl};
pub use ttl::{StateTtlConfig, TtlUpdateType};

#[cfg(test)]
mod tests;
