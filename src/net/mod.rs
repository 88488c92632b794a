//! The network layer: what travels on data channels, how records are routed to channels, credit
//! accounting, and the transports. Every input channel has a queue ([`channel`]), its consumer's
//! mailbox for data, bounded by the credits it grants: in one process the producer hands typed
//! buffers over onto it; from another process the frames of a QUIC stream arrive on it
//! ([`quic`], [`frame`], [`remote`]), decoded by the consumer. Control messages between the
//! JobManager and TaskManagers travel over the same endpoint ([`rpc`]).

pub mod channel;
pub mod credit;
pub mod data_frame;
pub mod frame;
pub mod local;
pub mod quic;
pub mod remote;
pub mod router;
pub mod rpc;
pub mod writer;

pub use crate::data::StreamElement;
pub use local::{ChannelLink, LocalTransport};
pub use remote::NetworkEnvironment;
pub use writer::RecordWriter;
