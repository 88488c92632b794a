//! The DataStream API: what a job's code is written against. Calls record transformations in a
//! StreamGraph; nothing runs until the graph is submitted.

pub mod broadcast;
pub mod connected;
pub mod env;
pub mod functions;
pub mod joins;
pub mod keyed;
pub mod keyed_process;
pub mod stream;
pub mod windowed;

pub use crate::data::{Data, Key};
pub use broadcast::{
    BroadcastConnectedStreams, BroadcastContext, BroadcastProcessFunction, BroadcastStream,
    ReadOnlyBroadcastContext,
};
pub use connected::ConnectedStreams;
pub use env::{RuntimeMode, StreamEnv};
pub use functions::{
    Collector, OutputTag, ProcessContext, ProcessFunction, SinkFunction, SourceFunction, SourcePoll,
};
pub use joins::JoinSide;
pub use keyed::KeyedStream;
pub use keyed_process::{KeyedContext, KeyedProcessFunction};
pub use stream::DataStream;
pub use windowed::WindowedStream;
