//! An input channel's queue: the consumer's mailbox for data. Every element a subtask receives
//! waits here, whether a producer in this process handed it over or a producer in another
//! process sent its frame; the subtask's actor mailbox carries only control messages and at
//! most one wake-up per channel.
//!
//! ## Bounds: the credits are the mailbox
//! A producer puts an element on the queue only against a credit the consumer announced (an
//! unaligned barrier, which carries no data, needs none), and the consumer announces a credit
//! per free buffer of the channel: exclusive ones and the floating ones its gate lent it
//! ([`crate::net::credit`]). So the queue holds at most `exclusive + floating` elements plus
//! [`PRIORITY_ELEMENTS`] barriers, and that is its capacity: a frame from another process
//! beyond it means the producer broke the protocol, and the channel fails rather than grows.
//! Credit and the mailbox bound are one mechanism.
//!
//! ## Wake-ups
//! - The consumer is woken (its `wake` runs, which sends one actor message) when the queue
//!   turns non-empty, and not again until it has taken what is queued: many buffers cost one
//!   message when the consumer is busy, never one per buffer.
//! - A producer takes its credit from a [`SharedCredit`]: the queue's own for a consumer in
//!   this process, or the one the network task fills from the consumer's credit frames for a
//!   consumer in another ([`crate::net::remote`]). When it finds none with elements still to
//!   send, it marks itself waiting; the next grant wakes it (once). Credit is a counter, never
//!   a message per buffer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::data::{FailureCause, StreamElement};

/// Room on a queue for unaligned barriers beyond the credited elements.
pub const PRIORITY_ELEMENTS: usize = 8;

/// Runs on the other side of a channel to wake its actor (one actor message).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// What arrived on a channel.
pub enum Arrival {
    /// An element from a producer in this process, and what that producer still holds for
    /// the channel (its backlog).
    Element(StreamElement, u32),
    /// A data frame from a producer in another process, decoded by the consumer on its own
    /// thread.
    Frame(Vec<u8>),
    /// The channel broke (its connection or stream failed, or its producer did).
    Failed(FailureCause),
}

/// Why a queue did not take an arrival.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The consumer has ended: nothing more is delivered.
    #[error("the consumer has ended")]
    Closed,
    /// More arrived than the consumer granted credit for.
    #[error(
        "the producer sent beyond its credit: the channel's queue holds {0} elements, its capacity"
    )]
    Overrun(usize),
}

struct CreditState {
    credits: u32,
    /// The producer found no credit with elements to send: the next grant wakes it.
    waiting: bool,
    wake: Option<Wake>,
}

/// Credit a consumer announced and its producer has not spent yet, shared by the side that
/// grants it and the producer.
pub struct SharedCredit {
    state: Mutex<CreditState>,
}

impl SharedCredit {
    /// Starts with `initial` credits.
    pub fn new(initial: u32) -> Self {
        Self {
            state: Mutex::new(CreditState {
                credits: initial,
                waiting: false,
                wake: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, CreditState> {
        // Each update is a step that cannot panic: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The producer connects: `wake` wakes it when credit comes after it waited for some.
    pub fn connect_producer(&self, wake: Wake) {
        self.state().wake = Some(wake);
    }

    /// The producer is gone: grants wake nobody.
    pub fn disconnect_producer(&self) {
        self.state().wake = None;
    }

    /// Spends one credit, if there is one; otherwise the producer waits for the next grant.
    pub fn try_take(&self) -> bool {
        let mut s = self.state();
        if s.credits == 0 {
            s.waiting = true;
            return false;
        }
        s.credits -= 1;
        true
    }

    /// Gives back a credit taken for an element that was not sent.
    pub fn give_back(&self) {
        let mut s = self.state();
        s.credits = s.credits.saturating_add(1);
    }

    /// Announces `credits` more, waking the producer if it waited.
    pub fn grant(&self, credits: u32) {
        let wake = {
            let mut s = self.state();
            s.credits = s.credits.saturating_add(credits);
            if std::mem::take(&mut s.waiting) {
                s.wake.clone()
            } else {
                None
            }
        };
        if let Some(wake) = wake {
            wake();
        }
    }

    /// Credit not spent yet.
    pub fn available(&self) -> u32 {
        self.state().credits
    }
}

struct Shared {
    arrivals: VecDeque<Arrival>,
    /// A wake-up is on its way to the consumer (or it is taking the queue).
    notified: bool,
    closed: bool,
}

/// What arrived on a channel, by kind, and the credit its consumer returned: counted per
/// element (a buffer of records is one element), read by the actor registry. Only the
/// consumer writes them; they sit on a cache line of their own so that its counting never
/// contends with the producer's side of the queue.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct ChannelCounts {
    records: AtomicU64,
    buffers: AtomicU64,
    watermarks: AtomicU64,
    barriers: AtomicU64,
    credits: AtomicU64,
}

/// [`ChannelCounts`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelTotals {
    /// Records, in all buffers.
    pub records: u64,
    /// Buffers of records.
    pub buffers: u64,
    /// Watermarks and watermark statuses.
    pub watermarks: u64,
    /// Checkpoint barriers.
    pub barriers: u64,
    /// Credit granted back to the producer, in buffers.
    pub credits: u64,
}

impl ChannelCounts {
    /// `element` arrived.
    pub fn arrived(&self, element: &StreamElement) {
        let counter = match element {
            StreamElement::Records(batch) => {
                self.records
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                &self.buffers
            }
            StreamElement::Watermark(_) | StreamElement::Status(_) => &self.watermarks,
            StreamElement::Barrier(_) => &self.barriers,
            StreamElement::EndOfPartition => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The consumer granted `credits` to the producer.
    pub fn granted(&self, credits: u32) {
        self.credits
            .fetch_add(u64::from(credits), Ordering::Relaxed);
    }

    /// The counts now.
    pub fn totals(&self) -> ChannelTotals {
        ChannelTotals {
            records: self.records.load(Ordering::Relaxed),
            buffers: self.buffers.load(Ordering::Relaxed),
            watermarks: self.watermarks.load(Ordering::Relaxed),
            barriers: self.barriers.load(Ordering::Relaxed),
            credits: self.credits.load(Ordering::Relaxed),
        }
    }
}

/// The queue of one input channel, shared by its consumer and its producer (or the network
/// task that receives the producer's frames).
pub struct InputQueue {
    shared: Mutex<Shared>,
    wake_consumer: Wake,
    capacity: usize,
    /// The credit of a producer in this process.
    credit: SharedCredit,
    /// Elements the consumer took and has not processed yet (they still hold their buffer).
    taken: AtomicUsize,
    counts: ChannelCounts,
}

impl InputQueue {
    /// A queue for a channel that may hold `credits` credited elements at once (exclusive and
    /// floating buffers), starting with `initial_credit` announced; `wake` wakes its consumer.
    pub fn new(credits: usize, initial_credit: u32, wake: Wake) -> Arc<Self> {
        Arc::new(Self {
            shared: Mutex::new(Shared {
                arrivals: VecDeque::new(),
                notified: false,
                closed: false,
            }),
            wake_consumer: wake,
            capacity: credits + PRIORITY_ELEMENTS,
            credit: SharedCredit::new(initial_credit),
            taken: AtomicUsize::new(0),
            counts: ChannelCounts::default(),
        })
    }

    /// What arrived on the channel, by kind, and the credit returned.
    pub fn counts(&self) -> &ChannelCounts {
        &self.counts
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // Every update leaves the queue consistent (no panics between its steps), so a
        // poisoned lock is still usable.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most elements the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Elements waiting for the consumer.
    pub fn len(&self) -> usize {
        self.shared().arrivals.len()
    }

    /// Elements the channel holds: waiting, or taken by the consumer and not yet processed.
    /// At most the capacity, when producers keep to their credit.
    pub fn held(&self) -> usize {
        self.len() + self.taken.load(Ordering::Relaxed)
    }

    /// Whether nothing waits for the consumer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, arrival: Arrival) -> Result<(), QueueError> {
        let wake = {
            let mut s = self.shared();
            if s.closed {
                return Err(QueueError::Closed);
            }
            if s.arrivals.len() >= self.capacity {
                return Err(QueueError::Overrun(s.arrivals.len()));
            }
            s.arrivals.push_back(arrival);
            !std::mem::replace(&mut s.notified, true)
        };
        if wake {
            (self.wake_consumer)();
        }
        Ok(())
    }

    /// The credit a producer in this process spends, and the consumer grants.
    pub fn credit(&self) -> &SharedCredit {
        &self.credit
    }

    /// Hands over an element (a credit was taken for it, unless it travels without one). An
    /// element that does not fit (only an unaligned barrier can: it takes no credit) is
    /// refused; so is one for a consumer that has ended.
    pub fn offer(&self, element: StreamElement, backlog: u32) -> Result<(), QueueError> {
        self.push(Arrival::Element(element, backlog))
    }

    // ---- the network's side, for a producer in another process

    /// Queues a data frame the producer sent against credit; a frame beyond the queue's
    /// capacity breaks the protocol.
    pub fn push_frame(&self, frame: Vec<u8>) -> Result<(), QueueError> {
        self.push(Arrival::Frame(frame))
    }

    /// The channel broke: the consumer learns it after what arrived before.
    pub fn fail(&self, cause: FailureCause) {
        let wake = {
            let mut s = self.shared();
            if s.closed {
                return;
            }
            s.arrivals.push_back(Arrival::Failed(cause));
            !std::mem::replace(&mut s.notified, true)
        };
        if wake {
            (self.wake_consumer)();
        }
    }

    // ---- the consumer's side

    /// Takes everything queued, in order, into `into`; the next arrival wakes the consumer
    /// again.
    pub fn take_all(&self, into: &mut VecDeque<Arrival>) {
        let mut s = self.shared();
        s.notified = false;
        self.taken.fetch_add(s.arrivals.len(), Ordering::Relaxed);
        into.append(&mut s.arrivals);
    }

    /// The consumer processed (or dropped) one element it took.
    pub fn processed(&self) {
        let _ = self
            .taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The consumer has ended: later arrivals are refused, and what is queued is dropped.
    pub fn close(&self) {
        let mut s = self.shared();
        s.closed = true;
        s.arrivals.clear();
        drop(s);
        self.credit.disconnect_producer();
    }

    /// Whether the consumer has ended.
    pub fn is_closed(&self) -> bool {
        self.shared().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter() -> (Arc<AtomicUsize>, Wake) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (
            n,
            Arc::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    fn watermark(w: i64) -> StreamElement {
        StreamElement::Watermark(w)
    }

    #[test]
    fn the_consumer_is_woken_once_per_turn_not_per_element() {
        let (woken, wake) = counter();
        let q = InputQueue::new(10, 10, wake);
        for i in 0..5 {
            assert!(q.credit().try_take());
            q.offer(watermark(i), 0).expect("room");
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        let mut got = VecDeque::new();
        q.take_all(&mut got);
        assert_eq!(got.len(), 5);
        q.offer(watermark(9), 0).expect("room");
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_producer_without_credit_waits_and_the_next_grant_wakes_it_once() {
        let (_, wake) = counter();
        let (producer, wake_producer) = counter();
        let q = InputQueue::new(2, 1, wake);
        let credit = q.credit();
        credit.connect_producer(wake_producer);
        assert!(credit.try_take());
        assert!(!credit.try_take());
        credit.grant(1);
        credit.grant(1);
        assert_eq!(producer.load(Ordering::SeqCst), 1);
        assert!(credit.try_take());
        assert!(credit.try_take());
        assert!(!credit.try_take());
        assert_eq!(credit.available(), 0);
    }

    #[test]
    fn frames_beyond_the_capacity_are_refused_and_a_closed_queue_takes_nothing() {
        let (_, wake) = counter();
        let q = InputQueue::new(2, 2, wake);
        for _ in 0..q.capacity() {
            q.push_frame(vec![0]).expect("within the capacity");
        }
        assert_eq!(
            q.push_frame(vec![0]),
            Err(QueueError::Overrun(2 + PRIORITY_ELEMENTS))
        );
        q.close();
        assert_eq!(q.len(), 0);
        assert_eq!(q.push_frame(vec![0]), Err(QueueError::Closed));
        assert_eq!(q.offer(watermark(1), 0), Err(QueueError::Closed));
    }
}
