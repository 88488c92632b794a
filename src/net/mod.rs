//! The network layer: what travels on data channels, how records are routed to channels, credit
//! accounting, and the transports. In one process a channel is an actor message carrying a typed
//! buffer; between processes it is a QUIC stream of length-prefixed rmp-serde frames
//! ([`quic`], [`frame`], [`remote`]), behind the same types. Control messages between the
//! JobManager and TaskManagers travel over the same endpoint ([`rpc`]).

pub mod credit;
pub mod element;
pub mod frame;
pub mod local;
pub mod quic;
pub mod remote;
pub mod router;
pub mod rpc;
pub mod writer;

pub use element::StreamElement;
pub use local::{ChannelLink, LocalTransport};
pub use remote::NetworkEnvironment;
pub use writer::RecordWriter;
