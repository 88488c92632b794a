//! What travels on a channel, in order: record buffers and in-band events.

use crate::operators::Batch;

/// One element on a data channel. Elements of one channel are delivered in the order sent.
#[derive(Debug, Clone)]
pub enum StreamElement {
    /// A buffer of records.
    Records(Batch),
    /// The producer has sent everything; no element follows on this channel.
    EndOfPartition,
}

impl StreamElement {
    /// How many records the element carries.
    pub fn record_count(&self) -> usize {
        match self {
            Self::Records(b) => b.len(),
            Self::EndOfPartition => 0,
        }
    }
}
