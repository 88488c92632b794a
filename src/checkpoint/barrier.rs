//! Checkpoint barriers and their alignment at a subtask's inputs (exactly-once mode).
//!
//! ## Rules (Flink's aligned checkpoints)
//! - A barrier on a channel blocks that channel: nothing behind it is processed until every
//!   open channel has delivered the same barrier. Then the subtask snapshots its state, sends
//!   the barrier on, and unblocks every channel.
//! - A channel that ends (end of partition) while the others align counts as aligned.
//! - A barrier of a newer checkpoint while an older one aligns aborts the older one (it is
//!   declined) and starts aligning the newer one.
//! - A barrier of a checkpoint that already completed or was aborted here is ignored.
//! - In at-least-once mode nothing is blocked: the snapshot is taken once the last channel's
//!   barrier arrives, and records after an early barrier are processed meanwhile (they may be
//!   processed again after a restore).
//! - Unaligned checkpoints (see [`crate::checkpoint::channel_state`]) take a checkpoint over
//!   from the aligner ([`BarrierAligner::hand_over`]): it counts as done here, every channel is
//!   unblocked, and its later barriers are ignored.

pub use crate::data::barrier::{BarrierAlignment, CheckpointBarrier, SnapshotKind};

/// What the aligner knew of a checkpoint it handed over to unaligned processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOver {
    /// Per channel: whether the checkpoint's barrier had arrived on it (and was processed).
    pub arrived: Vec<bool>,
    /// An older checkpoint that was aligning and is given up (to decline).
    pub aborted: Option<u64>,
}

/// What an input event did to the alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alignment {
    /// Nothing to do yet.
    Pending,
    /// Every open channel delivered the barrier: snapshot now (channels are unblocked).
    Complete(CheckpointBarrier),
    /// The checkpoint being aligned was given up for a newer one (decline it); the newer one
    /// is aligning now.
    Aborted {
        /// The abandoned checkpoint.
        id: u64,
        /// Why.
        reason: String,
        /// Whether the newer barrier completed at once (a subtask with one open channel).
        then: Option<CheckpointBarrier>,
    },
}

/// Barrier alignment over a subtask's input channels.
#[derive(Debug)]
pub struct BarrierAligner {
    blocking: bool,
    blocked: Vec<bool>,
    ended: Vec<bool>,
    current: Option<CheckpointBarrier>,
    arrived: usize,
    /// The newest checkpoint that completed or was aborted here.
    last_done: u64,
}

impl BarrierAligner {
    /// An aligner for `channels` input channels (exactly-once: channels block).
    pub fn new(channels: usize) -> Self {
        Self::with_blocking(channels, true)
    }

    /// An aligner whose channels block (exactly-once) or not (at-least-once).
    pub fn with_blocking(channels: usize, blocking: bool) -> Self {
        Self {
            blocking,
            blocked: vec![false; channels],
            ended: vec![false; channels],
            current: None,
            arrived: 0,
            last_done: 0,
        }
    }

    /// Whether channel `ch` is blocked (its barrier arrived, others' not yet).
    #[inline]
    pub fn is_blocked(&self, ch: usize) -> bool {
        self.blocking && self.blocked.get(ch).copied().unwrap_or(false)
    }

    /// Whether a checkpoint is being aligned.
    pub fn is_aligning(&self) -> bool {
        self.current.is_some()
    }

    fn open_channels(&self) -> usize {
        self.ended.iter().filter(|e| !**e).count()
    }

    /// Channel `ch` delivered `barrier`.
    pub fn on_barrier(&mut self, ch: usize, barrier: CheckpointBarrier) -> Alignment {
        if barrier.id <= self.last_done || ch >= self.blocked.len() {
            return Alignment::Pending;
        }
        let mut aborted = None;
        match &self.current {
            Some(c) if c.id == barrier.id => {}
            Some(c) if c.id > barrier.id => return Alignment::Pending,
            Some(c) => {
                aborted = Some((
                    c.id,
                    format!(
                        "checkpoint {} was still aligning when barrier {} arrived",
                        c.id, barrier.id
                    ),
                ));
                let id = c.id;
                self.reset(id);
                self.current = Some(barrier);
            }
            None => self.current = Some(barrier),
        }
        if !self.blocked[ch] {
            self.blocked[ch] = true;
            self.arrived += 1;
        }
        let done = self.check_complete();
        match aborted {
            Some((id, reason)) => Alignment::Aborted {
                id,
                reason,
                then: match done {
                    Alignment::Complete(b) => Some(b),
                    _ => None,
                },
            },
            None => done,
        }
    }

    /// Channel `ch` ended: it no longer holds an alignment back.
    pub fn on_end_of_partition(&mut self, ch: usize) -> Alignment {
        if ch >= self.ended.len() || self.ended[ch] {
            return Alignment::Pending;
        }
        self.ended[ch] = true;
        if self.blocked[ch] {
            // Its barrier arrived before its end: it no longer counts among the open ones.
            self.blocked[ch] = false;
            self.arrived -= 1;
        }
        self.check_complete()
    }

    /// Whether checkpoint `id` completed or was given up here.
    pub fn is_done(&self, id: u64) -> bool {
        id <= self.last_done
    }

    /// The barrier being aligned, if any.
    pub fn current(&self) -> Option<&CheckpointBarrier> {
        self.current.as_ref()
    }

    /// Checkpoint `id` goes on unaligned: it (and anything older) counts as done here, and
    /// every channel is unblocked. `None` when it is done already.
    pub fn hand_over(&mut self, id: u64) -> Option<HandOver> {
        if self.is_done(id) {
            return None;
        }
        let mut arrived = vec![false; self.blocked.len()];
        let mut aborted = None;
        match &self.current {
            Some(c) if c.id == id => arrived.clone_from(&self.blocked),
            Some(c) if c.id < id => aborted = Some(c.id),
            _ => {}
        }
        self.reset(id);
        Some(HandOver { arrived, aborted })
    }

    /// Gives up the checkpoint being aligned (the subtask declines it); returns its id.
    pub fn abort_current(&mut self) -> Option<u64> {
        let id = self.current.as_ref()?.id;
        self.reset(id);
        Some(id)
    }

    fn check_complete(&mut self) -> Alignment {
        if self.current.is_none() || self.arrived < self.open_channels() {
            return Alignment::Pending;
        }
        match self.current.take() {
            Some(c) => {
                self.reset(c.id);
                Alignment::Complete(c)
            }
            None => Alignment::Pending,
        }
    }

    fn reset(&mut self, done: u64) {
        self.blocked.iter_mut().for_each(|b| *b = false);
        self.arrived = 0;
        self.current = None;
        self.last_done = self.last_done.max(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn barrier(id: u64) -> CheckpointBarrier {
        CheckpointBarrier {
            id,
            timestamp: 0,
            kind: SnapshotKind::Checkpoint,
            dir: format!("/ck/chk-{id}"),
            alignment: BarrierAlignment::Aligned,
            is_final: false,
        }
    }

    #[test]
    fn a_hand_over_reports_the_arrived_channels_and_ends_the_alignment() {
        let mut a = BarrierAligner::new(3);
        a.on_barrier(1, barrier(1));
        let h = a.hand_over(1).expect("not done");
        assert_eq!(h.arrived, vec![false, true, false]);
        assert_eq!(h.aborted, None);
        assert!(!a.is_blocked(1) && a.is_done(1));
        // Its stragglers are ignored, and it cannot be handed over twice.
        assert_eq!(a.on_barrier(0, barrier(1)), Alignment::Pending);
        assert_eq!(a.hand_over(1), None);
        // A newer checkpoint handed over gives up the older one aligning.
        a.on_barrier(0, barrier(2));
        let h = a.hand_over(3).expect("not done");
        assert_eq!(h.aborted, Some(2));
        assert_eq!(h.arrived, vec![false; 3]);
        assert!(a.is_done(2) && a.current().is_none());
    }

    #[test]
    fn a_timed_barrier_turns_unaligned_at_its_deadline() {
        let mut b = barrier(1);
        b.timestamp = 1_000;
        assert!(!b.is_unaligned_at(i64::MAX));
        b.alignment = BarrierAlignment::AlignedWithTimeout { after_ms: 500 };
        assert!(!b.is_unaligned_at(1_499));
        assert!(b.is_unaligned_at(1_500));
        b.alignment = BarrierAlignment::Unaligned;
        assert!(b.is_unaligned_at(0));
    }

    #[test]
    fn completes_once_every_channel_delivered_and_blocks_until_then() {
        let mut a = BarrierAligner::new(3);
        assert_eq!(a.on_barrier(1, barrier(1)), Alignment::Pending);
        assert!(a.is_blocked(1) && !a.is_blocked(0));
        assert_eq!(a.on_barrier(1, barrier(1)), Alignment::Pending);
        assert_eq!(a.on_barrier(0, barrier(1)), Alignment::Pending);
        assert_eq!(a.on_barrier(2, barrier(1)), Alignment::Complete(barrier(1)));
        assert!(!a.is_blocked(0) && !a.is_blocked(1) && !a.is_blocked(2));
        // A late duplicate of a completed checkpoint is ignored.
        assert_eq!(a.on_barrier(0, barrier(1)), Alignment::Pending);
        assert!(!a.is_blocked(0));
    }

    #[test]
    fn at_least_once_counts_barriers_without_blocking() {
        let mut a = BarrierAligner::with_blocking(2, false);
        assert_eq!(a.on_barrier(0, barrier(1)), Alignment::Pending);
        assert!(!a.is_blocked(0));
        assert_eq!(a.on_barrier(1, barrier(1)), Alignment::Complete(barrier(1)));
    }

    #[test]
    fn one_channel_completes_at_once() {
        let mut a = BarrierAligner::new(1);
        assert_eq!(a.on_barrier(0, barrier(4)), Alignment::Complete(barrier(4)));
    }

    #[test]
    fn an_ended_channel_counts_as_aligned() {
        let mut a = BarrierAligner::new(2);
        assert_eq!(a.on_barrier(0, barrier(1)), Alignment::Pending);
        assert_eq!(a.on_end_of_partition(1), Alignment::Complete(barrier(1)));
        // With channel 1 gone, channel 0 alone completes the next one.
        assert_eq!(a.on_barrier(0, barrier(2)), Alignment::Complete(barrier(2)));
        // A channel whose barrier came before its end stops counting.
        let mut a = BarrierAligner::new(3);
        a.on_barrier(0, barrier(1));
        a.on_end_of_partition(0);
        assert_eq!(a.on_barrier(1, barrier(1)), Alignment::Pending);
        assert_eq!(a.on_barrier(2, barrier(1)), Alignment::Complete(barrier(1)));
    }

    #[test]
    fn a_newer_barrier_aborts_the_older_alignment() {
        let mut a = BarrierAligner::new(2);
        a.on_barrier(0, barrier(1));
        match a.on_barrier(1, barrier(2)) {
            Alignment::Aborted {
                id: 1, then: None, ..
            } => {}
            other => panic!("expected checkpoint 1 aborted, got {other:?}"),
        }
        assert!(a.is_blocked(1) && !a.is_blocked(0));
        // The older barrier's stragglers are ignored now.
        assert_eq!(a.on_barrier(1, barrier(1)), Alignment::Pending);
        assert_eq!(a.on_barrier(0, barrier(2)), Alignment::Complete(barrier(2)));
        assert_eq!(a.abort_current(), None);
    }
}
