//! The network layer: what travels on data channels, how records are routed to channels, credit
//! accounting, and the transports. In one process a channel is an actor message carrying a typed
//! buffer; between processes it will be a QUIC stream of rmp-serde frames, behind the same types.

pub mod credit;
pub mod element;
pub mod local;
pub mod router;
pub mod writer;

pub use element::StreamElement;
pub use local::{ChannelLink, LocalTransport};
pub use writer::RecordWriter;
