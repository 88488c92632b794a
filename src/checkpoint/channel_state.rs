//! Unaligned checkpoints: the in-flight data a barrier overtook, captured while a checkpoint is
//! taken and persisted with the subtask's operator state (Flink's channel state).
//!
//! ## Rules (Flink's unaligned checkpoints)
//! - A subtask takes an unaligned checkpoint when the first barrier of it arrives on any input
//!   (barriers are handled when they arrive, ahead of the data queued before them), or when an
//!   aligned checkpoint has not aligned by its alignment deadline. It snapshots its operators at
//!   once and sends the barrier on at the head of every output queue.
//! - Output: the records queued for a consumer when the barrier overtakes them were produced
//!   before the snapshot and will reach the consumer after the barrier, so they are persisted
//!   by the producer and queued again, first, on restore.
//! - Input: the records a channel delivered before its barrier that the operators had not
//!   processed at the snapshot are persisted: those queued at the snapshot, and those arriving
//!   afterwards until the channel's barrier (or its end). They are processed as usual, and on
//!   restore they are processed again, first, since the restored state has not seen them.
//! - A subtask's checkpoint is written once every input has delivered its barrier or ended.
//! - Savepoints, at-least-once checkpoints and jobs without unaligned checkpoints stay aligned.
//! - A checkpoint holding in-flight data restores only at the parallelism it was taken at (its
//!   input records belong to the subtask's key groups); rescale from a savepoint instead.
//!   Output records for consumers whose number changed are routed again by the partitioner,
//!   except on broadcast edges, where that would duplicate them (the restore fails).

use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointBarrier;
use crate::data::StreamElement;
use crate::data::{Batch, OperatorError};
use crate::graph::partitioner::BatchDecoder;

/// A subtask's persisted in-flight data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Input records not processed at the snapshot, per channel, in arrival order.
    pub inputs: Vec<InputChannelState>,
    /// Output records overtaken by the barrier, per subpartition, in sending order.
    pub outputs: Vec<OutputChannelState>,
}

/// Records of one input channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputChannelState {
    /// The head operator's input they go to.
    pub input: usize,
    /// The channel (for diagnostics; replay needs only the input).
    pub channel: usize,
    /// The buffers.
    pub buffers: Vec<PersistedBuffer>,
}

/// Records of one output subpartition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChannelState {
    /// The subtask's record writer (output edge).
    pub writer: usize,
    /// The subpartition (consumer channel).
    pub subpartition: usize,
    /// How many subpartitions the writer had.
    pub subpartitions: usize,
    /// The buffers.
    pub buffers: Vec<PersistedBuffer>,
}

/// One buffer of records, serialized as on a channel between processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedBuffer {
    /// The records' timestamps, when they carry any.
    pub timestamps: Option<Vec<i64>>,
    /// The records (rmp-serde, as [`Batch::encode_into`] writes them).
    #[serde(with = "serde_bytes")]
    pub records: Vec<u8>,
}

impl PersistedBuffer {
    fn encode(batch: &Batch) -> Result<Self, OperatorError> {
        let mut records = Vec::new();
        batch.encode_into(&mut records)?;
        Ok(Self {
            timestamps: batch.timestamps().map(<[i64]>::to_vec),
            records,
        })
    }

    /// The buffer as records again.
    pub fn decode(&self, decode: BatchDecoder) -> Result<Batch, OperatorError> {
        let mut batch = decode(&self.records)?;
        batch.set_timestamps(self.timestamps.clone());
        Ok(batch)
    }
}

impl ChannelState {
    /// Whether there is no in-flight data.
    pub fn is_empty(&self) -> bool {
        self.inputs.iter().all(|c| c.buffers.is_empty())
            && self.outputs.iter().all(|c| c.buffers.is_empty())
    }

    /// The serialized records' size in bytes (Flink's `persisted_data`).
    pub fn persisted_bytes(&self) -> u64 {
        let input = self.inputs.iter().flat_map(|c| &c.buffers);
        let output = self.outputs.iter().flat_map(|c| &c.buffers);
        input.chain(output).map(|b| b.records.len() as u64).sum()
    }
}

/// Output records one subpartition held when a barrier overtook them.
#[derive(Debug, Clone)]
pub struct OvertakenOutput {
    /// The writer.
    pub writer: usize,
    /// The subpartition.
    pub subpartition: usize,
    /// The writer's subpartitions.
    pub subpartitions: usize,
    /// The records, in sending order.
    pub buffers: Vec<Batch>,
}

/// An unaligned checkpoint being taken at a subtask: the in-flight data captured so far.
#[derive(Debug)]
pub struct InFlightCapture {
    barrier: CheckpointBarrier,
    /// Per channel: its input, whether it still captures, and what it captured.
    channels: Vec<(usize, bool, Vec<Batch>)>,
    open: usize,
    /// Restored input the operators had not processed yet (replayed before any channel's).
    restored: Vec<(usize, Batch)>,
    outputs: Vec<OvertakenOutput>,
}

impl InFlightCapture {
    /// A capture for `barrier` over channels feeding the given inputs; every channel captures
    /// until it is closed.
    pub fn new(barrier: CheckpointBarrier, inputs: impl IntoIterator<Item = usize>) -> Self {
        let channels: Vec<_> = inputs.into_iter().map(|i| (i, true, Vec::new())).collect();
        Self {
            barrier,
            open: channels.len(),
            channels,
            restored: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// The checkpoint's barrier.
    pub fn barrier(&self) -> &CheckpointBarrier {
        &self.barrier
    }

    /// Whether channel `ch` still captures what it delivers.
    pub fn is_capturing(&self, ch: usize) -> bool {
        self.channels.get(ch).is_some_and(|c| c.1)
    }

    /// `element` was delivered on `ch` before its barrier: its records are captured; an end of
    /// partition closes the channel (no barrier follows it).
    pub fn record(&mut self, ch: usize, element: &StreamElement) {
        if !self.is_capturing(ch) {
            return;
        }
        match element {
            StreamElement::Records(b) => {
                if let Some(c) = self.channels.get_mut(ch) {
                    c.2.push(b.clone());
                }
            }
            StreamElement::EndOfPartition => self.close(ch),
            StreamElement::Watermark(_) | StreamElement::Status(_) | StreamElement::Barrier(_) => {}
        }
    }

    /// Channel `ch`'s barrier arrived (or it had nothing more to capture).
    pub fn close(&mut self, ch: usize) {
        if let Some(c) = self.channels.get_mut(ch) {
            if c.1 {
                c.1 = false;
                self.open -= 1;
            }
        }
    }

    /// Adds restored input records not processed yet, for `input`.
    pub fn add_restored(&mut self, input: usize, batch: Batch) {
        self.restored.push((input, batch));
    }

    /// Adds output records the barrier overtook.
    pub fn add_outputs(&mut self, outputs: impl IntoIterator<Item = OvertakenOutput>) {
        self.outputs.extend(outputs);
    }

    /// Whether every channel delivered its barrier or ended.
    pub fn is_complete(&self) -> bool {
        self.open == 0
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.restored.is_empty()
            && self.channels.iter().all(|c| c.2.is_empty())
            && self.outputs.iter().all(|o| o.buffers.is_empty())
    }

    /// The captured records, serialized (off the slot's thread: this copies every record).
    pub fn encode(self) -> Result<ChannelState, OperatorError> {
        let encode_all = |buffers: &[Batch]| {
            buffers
                .iter()
                .filter(|b| !b.is_empty())
                .map(PersistedBuffer::encode)
                .collect::<Result<Vec<_>, _>>()
        };
        let mut inputs = Vec::new();
        // Restored records come first: they were ahead of every channel's.
        for (input, batch) in &self.restored {
            inputs.push(InputChannelState {
                input: *input,
                channel: usize::MAX,
                buffers: encode_all(std::slice::from_ref(batch))?,
            });
        }
        for (ch, (input, _, buffers)) in self.channels.iter().enumerate() {
            if !buffers.is_empty() {
                inputs.push(InputChannelState {
                    input: *input,
                    channel: ch,
                    buffers: encode_all(buffers)?,
                });
            }
        }
        let outputs = self
            .outputs
            .iter()
            .filter(|o| !o.buffers.is_empty())
            .map(|o| {
                Ok(OutputChannelState {
                    writer: o.writer,
                    subpartition: o.subpartition,
                    subpartitions: o.subpartitions,
                    buffers: encode_all(&o.buffers)?,
                })
            })
            .collect::<Result<Vec<_>, OperatorError>>()?;
        Ok(ChannelState { inputs, outputs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{BarrierAlignment, SnapshotKind};

    fn barrier() -> CheckpointBarrier {
        CheckpointBarrier {
            id: 1,
            timestamp: 0,
            kind: SnapshotKind::Checkpoint,
            dir: String::new(),
            alignment: BarrierAlignment::Unaligned,
            is_final: false,
        }
    }

    fn records(v: Vec<u64>) -> StreamElement {
        StreamElement::Records(Batch::new(v))
    }

    fn decode_all(bufs: &[PersistedBuffer]) -> Vec<u64> {
        bufs.iter()
            .flat_map(|b| {
                b.decode(Batch::decode::<u64>)
                    .and_then(Batch::downcast::<u64>)
                    .expect("decodes")
            })
            .collect()
    }

    #[test]
    fn captures_each_channel_until_its_barrier_or_end() {
        let mut c = InFlightCapture::new(barrier(), [0, 0, 1]);
        c.close(1);
        c.record(0, &records(vec![1, 2]));
        c.record(1, &records(vec![99])); // after its barrier: not captured
        c.record(2, &StreamElement::Watermark(5));
        c.record(2, &records(vec![3]));
        assert!(!c.is_complete());
        c.record(2, &StreamElement::EndOfPartition);
        c.record(2, &records(vec![98]));
        c.record(0, &records(vec![4]));
        c.close(0);
        c.record(0, &records(vec![97]));
        assert!(c.is_complete());
        c.add_restored(1, Batch::new(vec![0u64]));
        c.add_outputs([OvertakenOutput {
            writer: 0,
            subpartition: 1,
            subpartitions: 2,
            buffers: vec![Batch::new(vec![7u64, 8])],
        }]);
        let s = c.encode().expect("encodes");
        let inputs: Vec<(usize, Vec<u64>)> = s
            .inputs
            .iter()
            .map(|i| (i.input, decode_all(&i.buffers)))
            .collect();
        assert_eq!(inputs, vec![(1, vec![0]), (0, vec![1, 2, 4]), (1, vec![3])]);
        assert_eq!(s.outputs.len(), 1);
        assert_eq!(s.outputs[0].subpartition, 1);
        assert_eq!(decode_all(&s.outputs[0].buffers), vec![7, 8]);
        assert!(s.persisted_bytes() > 0 && !s.is_empty());
    }

    #[test]
    fn timestamps_survive_the_round_trip() {
        let b = Batch::timed(vec![1u64, 2], vec![10, 20]);
        let p = PersistedBuffer::encode(&b).expect("encodes");
        let back = p.decode(Batch::decode::<u64>).expect("decodes");
        assert_eq!(back.timestamps(), Some(&[10i64, 20][..]));
        assert_eq!(back.downcast::<u64>().expect("u64"), vec![1, 2]);
    }
}
