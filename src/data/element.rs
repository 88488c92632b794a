//! What travels on a channel, in order: record buffers and in-band events.

use crate::data::Batch;
use crate::data::{BarrierAlignment, CheckpointBarrier};
use crate::data::{Timestamp, WatermarkStatus};

/// One element on a data channel. Elements of one channel are delivered in the order sent.
#[derive(Debug, Clone)]
pub enum StreamElement {
    /// A buffer of records.
    Records(Batch),
    /// Event time has reached this timestamp on the channel (in-band, after every record the
    /// producer emitted before it).
    Watermark(Timestamp),
    /// The producer's output became idle or active again (in-band, like a watermark).
    Status(WatermarkStatus),
    /// The producer has sent everything; no element follows on this channel.
    EndOfPartition,
    /// A checkpoint barrier: everything before it on the channel belongs to the checkpoint,
    /// everything after it to the next.
    Barrier(CheckpointBarrier),
}

impl StreamElement {
    /// Whether the element is sent without credit: an unaligned barrier, which must overtake
    /// a channel whose consumer has no buffer free (Flink's priority events). Its consumer
    /// handles it on arrival, so it never occupies a buffer.
    pub fn travels_without_credit(&self) -> bool {
        matches!(self, Self::Barrier(b) if b.alignment == BarrierAlignment::Unaligned)
    }

    /// How many records the element carries.
    pub fn record_count(&self) -> usize {
        match self {
            Self::Records(b) => b.len(),
            Self::Watermark(_) | Self::Status(_) | Self::EndOfPartition | Self::Barrier(_) => 0,
        }
    }
}
