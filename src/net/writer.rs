//! A subtask's network output for one JobGraph edge: routes records to subpartitions (one per
//! consumer channel), where they wait for credit.
//!
//! ## Bounds
//! A subpartition's queue holds what the router emitted and the consumer has no credit for.
//! The subtask stops taking input while any queue is at `queue_capacity`; one input buffer adds
//! at most one buffer per subpartition (input buffers are never larger than `buffer_size`), so no
//! queue exceeds the capacity, and records held per subpartition stay below
//! `(queue_capacity + 1) * buffer_size` (queued buffers plus the router's partial one).

use std::collections::VecDeque;

use crate::eventtime::{Timestamp, WatermarkStatus};
use crate::net::credit::OutputCredit;
use crate::net::local::ChannelLink;
use crate::net::router::ChannelRouter;
use crate::net::StreamElement;
use crate::operators::{Batch, OperatorError};

/// One consumer channel's share of a result partition.
#[derive(Default)]
pub struct Subpartition {
    queue: VecDeque<StreamElement>,
    credit: OutputCredit,
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
    records_out: u64,
    bytes_out: u64,
}

impl RecordWriter {
    /// A writer with one subpartition per channel of `router`.
    pub fn new(router: Box<dyn ChannelRouter>, channels: usize) -> Self {
        Self {
            router,
            subpartitions: (0..channels).map(|_| Subpartition::default()).collect(),
            records_out: 0,
            bytes_out: 0,
        }
    }

    /// Routes a buffer of records.
    pub fn write(&mut self, batch: Batch) -> Result<(), OperatorError> {
        self.records_out += batch.len() as u64;
        let subs = &mut self.subpartitions;
        self.router.route(batch, &mut |ch, b| {
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
        self.broadcast_event(StreamElement::Watermark(watermark));
    }

    /// Flushes, then queues a watermark status on every subpartition that has not ended.
    pub fn broadcast_status(&mut self, status: WatermarkStatus) {
        self.broadcast_event(StreamElement::Status(status));
    }

    /// Flushes, then queues a checkpoint barrier on every subpartition that has not ended.
    pub fn broadcast_barrier(&mut self, barrier: &crate::checkpoint::CheckpointBarrier) {
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

    /// Connects subpartition `sub` to its consumer, with the consumer's initial credit.
    pub fn connect(&mut self, sub: usize, link: ChannelLink, credit: u32) -> bool {
        match self.subpartitions.get_mut(sub) {
            Some(s) => {
                s.link = Some(link);
                s.credit.add(credit);
                true
            }
            None => false,
        }
    }

    /// Adds credit announced by the consumer of `sub`.
    pub fn add_credit(&mut self, sub: usize, credit: u32) {
        if let Some(s) = self.subpartitions.get_mut(sub) {
            s.credit.add(credit);
        }
    }

    /// Sends every queued element that has credit; returns how many were sent.
    pub fn send_ready(&mut self) -> Result<usize, OperatorError> {
        let mut sent = 0;
        for s in &mut self.subpartitions {
            let Some(link) = &s.link else { continue };
            while !s.queue.is_empty() && s.credit.try_take() {
                if let Some(el) = s.queue.pop_front() {
                    self.bytes_out += link.send(el, s.queue.len() as u32)? as u64;
                    sent += 1;
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

    /// Whether every subpartition has sent its end of partition.
    pub fn is_drained(&self) -> bool {
        self.subpartitions.iter().all(Subpartition::is_drained)
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
