//! The broadcast state pattern (Flink's `BroadcastStream` and `BroadcastProcessFunction`): a
//! low-volume stream (rules, configuration) goes to every instance of an operator, which
//! keeps it in broadcast state and applies it to the records of another stream.
//!
//! ```ignore
//! let rules = MapStateDescriptor::<String, u64>::new("thresholds");
//! events
//!     .connect_broadcast(&rule_stream.broadcast_stream())
//!     .process(Alerts { rules });
//! ```
//! `process_broadcast_element` may change broadcast state; `process_element` only reads it,
//! so every instance keeps the same state. Broadcast state is checkpointed and restored at
//! any parallelism (see [`crate::state::broadcast`]).

use crate::api::functions::SideOutputs;
use crate::api::{Collector, Data, DataStream, Key, OutputTag};
use crate::data::UserError;
use crate::graph::partitioner::RecordType;
use crate::operators::RuntimeContext;
use crate::state::broadcast::{BroadcastState, BroadcastStates, ReadOnlyBroadcastState};
use crate::state::{MapStateDescriptor, StateError};

/// A stream whose every record goes to every instance of the operator it is connected to.
pub struct BroadcastStream<B> {
    pub(crate) stream: DataStream<B>,
}

impl<T: Data> DataStream<T> {
    /// This stream as a broadcast stream, to connect to another with
    /// [`DataStream::connect_broadcast`] (Flink's `broadcast(descriptors…)`; the state
    /// descriptors are named where they are used).
    pub fn broadcast_stream(&self) -> BroadcastStream<T> {
        BroadcastStream {
            stream: self.broadcast(),
        }
    }

    /// Connects this stream to a broadcast stream (Flink's `connect(broadcastStream)`).
    pub fn connect_broadcast<B: Data>(
        &self,
        broadcast: &BroadcastStream<B>,
    ) -> BroadcastConnectedStreams<T, B> {
        BroadcastConnectedStreams {
            first: self.clone(),
            broadcast: broadcast.stream.clone(),
        }
    }
}

/// A stream connected to a broadcast stream.
pub struct BroadcastConnectedStreams<A, B> {
    first: DataStream<A>,
    broadcast: DataStream<B>,
}

impl<A: Data, B: Data> BroadcastConnectedStreams<A, B> {
    /// Runs `f` over both: the first stream's records with read-only broadcast state, the
    /// broadcast stream's with writable broadcast state.
    pub fn process<O: Data, F>(&self, f: F) -> DataStream<O>
    where
        F: BroadcastProcessFunction<A, B, O> + Clone + Sync,
    {
        let env = self.first.env.clone();
        let id = env.add_operator(
            "Broadcast Process",
            &[(&self.first.inputs, 0), (&self.broadcast.inputs, 1)],
            move |ctx| {
                Box::new(
                    crate::operators::broadcast_process::BroadcastProcessOperator::new(
                        &ctx.operator_name,
                        f.clone(),
                    ),
                )
            },
        );
        DataStream::from_node(env, id, RecordType::of::<O>())
    }
}

/// What `process_element` may do besides emitting: read broadcast state.
pub struct ReadOnlyBroadcastContext<'a> {
    pub(crate) states: &'a mut BroadcastStates,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) runtime: &'a RuntimeContext,
    pub(crate) timestamp: Option<i64>,
    pub(crate) watermark: i64,
}

/// What `process_broadcast_element` may do besides emitting: read and write broadcast state.
pub struct BroadcastContext<'a> {
    pub(crate) states: &'a mut BroadcastStates,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) runtime: &'a RuntimeContext,
    pub(crate) timestamp: Option<i64>,
    pub(crate) watermark: i64,
}

macro_rules! context_common {
    ($t:ident) => {
        impl $t<'_> {
            /// Emits `value` to the side output `tag`, with the current record's timestamp.
            pub fn output<X: Data>(&mut self, tag: &OutputTag<X>, value: X) {
                self.side.push(tag, value, self.timestamp);
            }

            /// The current record's timestamp, if it has one.
            pub fn timestamp(&self) -> Option<i64> {
                self.timestamp
            }

            /// The operator's current watermark.
            pub fn current_watermark(&self) -> i64 {
                self.watermark
            }

            /// Where this instance runs.
            pub fn runtime(&self) -> &RuntimeContext {
                self.runtime
            }
        }
    };
}

context_common!(ReadOnlyBroadcastContext);
context_common!(BroadcastContext);

impl ReadOnlyBroadcastContext<'_> {
    /// The broadcast map described by `d`, read-only.
    pub fn broadcast_state<K: Key, V: Data>(
        &mut self,
        d: &MapStateDescriptor<K, V>,
    ) -> Result<ReadOnlyBroadcastState<'_, K, V>, StateError> {
        self.states.get(d)
    }
}

impl BroadcastContext<'_> {
    /// The broadcast map described by `d`.
    pub fn broadcast_state<K: Key, V: Data>(
        &mut self,
        d: &MapStateDescriptor<K, V>,
    ) -> Result<BroadcastState<'_, K, V>, StateError> {
        self.states.get_mut(d)
    }
}

/// A function of a stream connected to a broadcast stream.
pub trait BroadcastProcessFunction<A, B, O>: Send + 'static {
    /// Called once before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    /// Called for each record of the (non-broadcast) first stream.
    fn process_element(
        &mut self,
        value: A,
        ctx: &mut ReadOnlyBroadcastContext<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), UserError>;

    /// Called for each record of the broadcast stream, in every instance.
    fn process_broadcast_element(
        &mut self,
        value: B,
        ctx: &mut BroadcastContext<'_>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), UserError>;

    /// Called once after the last record.
    fn close(&mut self) -> Result<(), UserError> {
        Ok(())
    }
}
