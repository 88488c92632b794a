//! A subtask's network output for one JobGraph edge: routes records to subpartitions (one per
//! consumer channel), where they wait for credit.
//!
//! ## Bounds
//! A subpartition's queue holds what the router emitted and the consumer has no credit for.
//! The subtask stops taking input while any queue is at `queue_capacity`. The router cuts
//! buffers at `buffer_size` records or about `buffer_bytes` bytes (see
//! [`crate::data::batch`]); an input buffer of at most `buffer_size` records adds at most
//! one record-count-cut buffer per subpartition, plus as many byte-cut ones as its bytes fill,
//! so what a queue holds stays below `queue_capacity + 1` buffers plus one input buffer's
//! records and bytes.
//!
//! ## Frames
//! A buffer whose frame to a consumer in another process would exceed the data frame limit
//! comes back from the channel unsent: it is split into parts expected to take half the limit
//! each, which go back to the head of the queue (the credit taken for it is returned), so a
//! buffer is never failed for its size. A single record over the limit fails the subtask with
//! [`OperatorError::RecordTooLarge`], which the JobMaster does not restart.

use std::collections::VecDeque;

use crate::checkpoint::channel_state::OvertakenOutput;
use crate::data::StreamElement;
use crate::data::{BarrierAlignment, CheckpointBarrier};
use crate::data::{Batch, FailureCause, OperatorError};
use crate::data::{Timestamp, WatermarkStatus};
use crate::net::local::{ChannelLink, LinkError};
use crate::net::router::ChannelRouter;

fn is_barrier(e: &StreamElement, id: u64) -> bool {
    matches!(e, StreamElement::Barrier(b) if b.id == id)
}

/// One consumer channel's share of a result partition.
#[derive(Default)]
pub struct Subpartition {
    queue: VecDeque<StreamElement>,
    link: Option<ChannelLink>,
    ended: bool,
}

impl Subpartition {
    /// Elements waiting for credit.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether end of partition has been sent.
    pub fn is_drained(&self) -> bool {
        self.ended && self.queue.is_empty()
    }
}

/// Routes a subtask's output records for one edge and holds them until credit allows sending.
pub struct RecordWriter {
    router: Box<dyn ChannelRouter>,
    subpartitions: Vec<Subpartition>,
    /// The operator writing (with its subtask), named in errors.
    producer: String,
    records_out: u64,
    bytes_out: u64,
    /// Serialized bytes of the records written, as estimated per buffer.
    estimated_bytes: u64,
    /// The watermark broadcast last.
    last_watermark: Option<Timestamp>,
}

impl RecordWriter {
    /// A writer with one subpartition per channel of `router`, for the operator `producer`.
    pub fn new(router: Box<dyn ChannelRouter>, channels: usize, producer: String) -> Self {
        Self {
            router,
            subpartitions: (0..channels).map(|_| Subpartition::default()).collect(),
            producer,
            records_out: 0,
            bytes_out: 0,
            estimated_bytes: 0,
            last_watermark: None,
        }
    }

    /// The watermark broadcast last, if any.
    pub fn last_watermark(&self) -> Option<Timestamp> {
        self.last_watermark
    }

    /// Routes a buffer of records.
    pub fn write(&mut self, batch: Batch) -> Result<(), OperatorError> {
        self.records_out += batch.len() as u64;
        let record_bytes = batch.estimate_record_bytes();
        self.estimated_bytes += (record_bytes * batch.len()) as u64;
        let subs = &mut self.subpartitions;
        self.router.route(batch, record_bytes, &mut |ch, b| {
            if let Some(s) = subs.get_mut(ch) {
                s.queue.push_back(StreamElement::Records(b));
            }
        })
    }

    /// Moves partly filled buffers into the queues (buffer timeout, end of input).
    pub fn flush(&mut self) {
        let subs = &mut self.subpartitions;
        self.router.flush(&mut |ch, b| {
            if let Some(s) = subs.get_mut(ch) {
                s.queue.push_back(StreamElement::Records(b));
            }
        });
    }

    /// Flushes, then queues a watermark on every subpartition that has not ended, so that it
    /// follows every record written before it.
    pub fn broadcast_watermark(&mut self, watermark: Timestamp) {
        self.last_watermark = Some(watermark);
        self.broadcast_event(StreamElement::Watermark(watermark));
    }

    /// Flushes, then queues a watermark status on every subpartition that has not ended.
    pub fn broadcast_status(&mut self, status: WatermarkStatus) {
        self.broadcast_event(StreamElement::Status(status));
    }

    /// Flushes, then queues a checkpoint barrier on every subpartition that has not ended.
    pub fn broadcast_barrier(&mut self, barrier: &CheckpointBarrier) {
        self.broadcast_event(StreamElement::Barrier(barrier.clone()));
    }

    fn broadcast_event(&mut self, event: StreamElement) {
        self.flush();
        for s in &mut self.subpartitions {
            if !s.ended {
                s.queue.push_back(event.clone());
            }
        }
    }

    /// Flushes and queues end of partition on every subpartition.
    pub fn finish(&mut self) {
        self.flush();
        for s in &mut self.subpartitions {
            if !s.ended {
                s.ended = true;
                s.queue.push_back(StreamElement::EndOfPartition);
            }
        }
    }

    /// An unaligned barrier overtakes everything queued: partly filled buffers are flushed,
    /// the barrier goes to the head of every subpartition that has not ended, and the records
    /// it overtook are returned (copies; they are still sent after it).
    pub fn overtake_with_barrier(
        &mut self,
        writer: usize,
        barrier: &CheckpointBarrier,
    ) -> Vec<OvertakenOutput> {
        self.flush();
        self.overtake(writer, |s| {
            if s.ended {
                // Its consumer captures what is still queued, up to the end of partition.
                return None;
            }
            s.queue.push_front(StreamElement::Barrier(barrier.clone()));
            Some(s.queue.len() - 1)
        })
    }

    /// Aligned barrier `id`, still queued where its alignment timed out, goes unaligned: it
    /// moves to the head of its subpartitions, and the records it overtook are returned.
    pub fn overtake_queued_barrier(&mut self, writer: usize, id: u64) -> Vec<OvertakenOutput> {
        self.overtake(writer, |s| {
            let pos = s.queue.iter().position(|e| is_barrier(e, id))?;
            let mut barrier = s.queue.remove(pos)?;
            if let StreamElement::Barrier(b) = &mut barrier {
                b.alignment = BarrierAlignment::Unaligned;
            }
            s.queue.push_front(barrier);
            Some(pos)
        })
    }

    /// Moves a barrier to the head of each subpartition (`place` does, returning how many
    /// elements it overtook) and copies the records it overtook.
    fn overtake(
        &mut self,
        writer: usize,
        mut place: impl FnMut(&mut Subpartition) -> Option<usize>,
    ) -> Vec<OvertakenOutput> {
        let subpartitions = self.subpartitions.len();
        let mut overtaken = Vec::new();
        for (i, s) in self.subpartitions.iter_mut().enumerate() {
            let Some(n) = place(s) else { continue };
            let buffers: Vec<Batch> = s
                .queue
                .iter()
                .skip(1)
                .take(n)
                .filter_map(|e| match e {
                    StreamElement::Records(b) => Some(b.clone()),
                    _ => None,
                })
                .collect();
            if !buffers.is_empty() {
                overtaken.push(OvertakenOutput {
                    writer,
                    subpartition: i,
                    subpartitions,
                    buffers,
                });
            }
        }
        overtaken
    }

    /// Whether barrier `id` still waits in a subpartition's queue.
    pub fn holds_barrier(&self, id: u64) -> bool {
        self.subpartitions
            .iter()
            .any(|s| s.queue.iter().any(|e| is_barrier(e, id)))
    }

    /// Queues restored in-flight records for subpartition `sub`, ahead of anything new.
    pub fn requeue(&mut self, sub: usize, batch: Batch) -> bool {
        match self.subpartitions.get_mut(sub) {
            Some(s) => {
                s.queue.push_back(StreamElement::Records(batch));
                true
            }
            None => false,
        }
    }

    /// How many subpartitions (consumer channels) the writer has.
    pub fn subpartition_count(&self) -> usize {
        self.subpartitions.len()
    }

    /// Connects subpartition `sub` to its consumer (whose credit the link carries).
    pub fn connect(&mut self, sub: usize, link: ChannelLink) -> bool {
        match self.subpartitions.get_mut(sub) {
            Some(s) => {
                s.link = Some(link);
                true
            }
            None => false,
        }
    }

    /// Sends every queued element that has credit (unaligned barriers need none); returns how
    /// many were sent. A buffer too large for one frame is split (see the module's rules).
    pub fn send_ready(&mut self) -> Result<usize, OperatorError> {
        let mut sent = 0;
        for s in &mut self.subpartitions {
            let Some(link) = &s.link else { continue };
            while let Some(front) = s.queue.front() {
                let with_credit = !front.travels_without_credit();
                if with_credit && !link.credit().try_take() {
                    break;
                }
                let Some(el) = s.queue.pop_front() else { break };
                match link.send(el, s.queue.len() as u32) {
                    Ok(bytes) => {
                        self.bytes_out += bytes as u64;
                        sent += 1;
                    }
                    Err(LinkError::FrameTooLarge {
                        element,
                        bytes,
                        limit,
                    }) => {
                        if with_credit {
                            link.credit().give_back();
                        }
                        for part in split_for_frames(element, bytes, limit, &self.producer)?
                            .into_iter()
                            .rev()
                        {
                            s.queue.push_front(StreamElement::Records(part));
                        }
                    }
                    Err(LinkError::Oversize { element, parts }) => {
                        if with_credit {
                            link.credit().give_back();
                        }
                        let StreamElement::Records(batch) = element else {
                            continue;
                        };
                        let per_part = batch.len().div_ceil(parts.max(1));
                        for part in batch.split_into(per_part).into_iter().rev() {
                            s.queue.push_front(StreamElement::Records(part));
                        }
                    }
                    Err(LinkError::Failed(e)) => return Err(e),
                }
            }
        }
        Ok(sent)
    }

    /// The longest subpartition queue.
    pub fn max_queued(&self) -> usize {
        self.subpartitions
            .iter()
            .map(Subpartition::queued)
            .max()
            .unwrap_or(0)
    }

    /// The producing subtask failed with `cause`: every consumer's channel fails with it.
    pub fn producer_failed(&mut self, cause: &FailureCause) {
        for s in &mut self.subpartitions {
            s.queue.clear();
            if let Some(link) = &s.link {
                link.producer_failed(cause);
            }
        }
    }

    /// Whether every subpartition has sent its end of partition.
    pub fn is_drained(&self) -> bool {
        self.subpartitions.iter().all(Subpartition::is_drained)
    }

    /// Serialized bytes of the records written so far, as estimated per buffer (whether or not
    /// they cross processes).
    pub fn estimated_bytes_out(&self) -> u64 {
        self.estimated_bytes
    }

    /// Records written so far.
    pub fn records_out(&self) -> u64 {
        self.records_out
    }

    /// Serialized bytes sent to consumers in other processes so far.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }

    /// Records held: queued in subpartitions plus gathered by the router.
    pub fn records_held(&self) -> usize {
        self.router.pending_records()
            + self
                .subpartitions
                .iter()
                .flat_map(|s| s.queue.iter())
                .map(StreamElement::record_count)
                .sum::<usize>()
    }
}

/// Splits the records of an element whose frame took `bytes`, over `limit`, into parts
/// expected to take half the limit each; a single record cannot be split and fails the
/// subtask, naming `producer` and the record's size.
fn split_for_frames(
    element: StreamElement,
    bytes: usize,
    limit: usize,
    producer: &str,
) -> Result<Vec<Batch>, OperatorError> {
    let batch = match element {
        StreamElement::Records(b) if b.len() > 1 => b,
        StreamElement::Records(b) => {
            return Err(OperatorError::RecordTooLarge {
                operator: producer.to_string(),
                bytes: b.estimate_record_bytes(),
                limit,
            })
        }
        other => {
            return Err(OperatorError::Failed {
                operator: producer.to_string(),
                message: format!(
                    "a {other:?} takes {bytes} bytes, more than the data frame limit of {limit}"
                ),
            })
        }
    };
    let parts = bytes.div_ceil((limit / 2).max(1)).clamp(2, batch.len());
    let per_part = batch.len().div_ceil(parts);
    Ok(batch.split_into(per_part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batch::BufferBound;
    use crate::net::remote::RemoteOutput;
    use crate::net::router::SingleChannelRouter;
    use tokio::sync::mpsc;

    fn grant(w: &RecordWriter, credits: u32) {
        if let Some(link) = &w.subpartitions[0].link {
            link.credit().grant(credits);
        }
    }

    /// A writer of strings to one consumer in "another process" (its output made by
    /// `output`), with `credit` credits.
    fn remote_writer(
        output: impl FnOnce(RemoteOutput) -> RemoteOutput,
        credit: u32,
    ) -> (RecordWriter, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(64);
        let router = SingleChannelRouter::<String>::new(0, BufferBound::new(4096, usize::MAX));
        let mut w = RecordWriter::new(Box::new(router), 1, "Big (1/1)".into());
        let out = output(RemoteOutput::new(tx));
        out.credit().grant(credit);
        assert!(w.connect(0, ChannelLink::Remote(out)));
        (w, rx)
    }

    /// The strings of every frame sent, each frame at most `max` bytes.
    fn received(rx: &mut mpsc::Receiver<Vec<u8>>, max: usize) -> Vec<String> {
        let mut received = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            assert!(frame.len() <= max, "a frame of {} bytes", frame.len());
            let batch = Batch::decode::<String>(&frame[5..]).expect("decodes");
            received.extend(batch.downcast::<String>().expect("strings"));
        }
        received
    }

    #[test]
    fn a_buffer_larger_than_a_network_buffer_crosses_processes_cut_into_network_buffers() {
        let (mut w, mut rx) = remote_writer(|o| o.with_buffer_bytes(1000), 100);
        let records: Vec<String> = (0..100).map(|i| format!("{i:0>100}")).collect();
        w.write(Batch::new(records.clone())).expect("write");
        w.flush();
        // ~10,200 bytes of records: ten buffers of about 1,000 bytes, one credit each.
        assert_eq!(w.send_ready().expect("send"), 10);
        assert_eq!(received(&mut rx, 1500), records);
        assert_eq!(grant_left(&w), 90);
    }

    fn grant_left(w: &RecordWriter) -> u32 {
        w.subpartitions[0]
            .link
            .as_ref()
            .map_or(0, |l| l.credit().available())
    }

    #[test]
    fn a_buffer_over_the_frame_limit_is_split_and_a_record_over_it_fails_the_subtask() {
        let (mut w, mut rx) = remote_writer(|o| o.with_frame_limit(4096), 1);
        let records: Vec<String> = (0..10).map(|i| format!("{i:0>1000}")).collect();
        w.write(Batch::new(records.clone())).expect("write");
        w.flush();
        // The refused frame gives its credit back: the first part goes with it.
        assert_eq!(w.send_ready().expect("send"), 1);
        grant(&w, 100);
        assert!(w.send_ready().expect("send") >= 1);
        assert_eq!(received(&mut rx, 4096), records);
        assert_eq!(w.max_queued(), 0);

        w.write(Batch::new(vec!["x".repeat(5000)])).expect("write");
        w.flush();
        let err = w.send_ready().expect_err("a record over the limit");
        match &err {
            OperatorError::RecordTooLarge {
                operator,
                bytes,
                limit,
            } => assert_eq!(
                (operator.as_str(), *bytes, *limit),
                ("Big (1/1)", 5003, 4096)
            ),
            other => panic!("{other:?}"),
        }
        assert!(!err.is_recoverable(), "{err}");
    }
}
