//! Channel selection: which output channel each record of a buffer goes to, by partitioner,
//! gathering records into per-channel buffers bounded by a [`BufferBound`]: a buffer is cut at
//! the record count the bound allows for the routed buffer's estimated record size
//! ([`Batch::estimate_record_bytes`], taken once per routed buffer by the caller), never by
//! measuring records one by one.
//!
//! ## Rules (Flink's `ChannelSelector`s)
//! - forward, global: channel 0 (forward has one channel per producer; global's channel 0 is
//!   consumer subtask 0);
//! - rebalance: round robin over all channels, from a start chosen per producer;
//! - rescale: round robin over the producer's own subset of consumers, from the subset's first;
//! - shuffle: uniformly random;
//! - broadcast: every record to every channel;
//! - hash: the key's key group, then the consumer subtask owning that group;
//! - custom: the user's function of the key and the channel count (out of range fails the job).
//!
//! Timestamps travel with their records: a channel's buffer has a timestamp column as soon as
//! one of its records has a timestamp (the others get [`NO_TIMESTAMP`]).

use std::marker::PhantomData;

use crate::data::batch::{BatchBuilder, BufferBound};
use crate::data::Data;
use crate::data::{Batch, OperatorError};
use crate::util::FastRng;

/// Splits buffers into per-channel buffers. One per output edge of a subtask.
pub trait ChannelRouter: Send {
    /// Routes a buffer whose records take about `record_bytes` serialized bytes each; calls
    /// `emit(channel, buffer)` for each buffer that is full.
    fn route(
        &mut self,
        batch: Batch,
        record_bytes: usize,
        emit: &mut dyn FnMut(usize, Batch),
    ) -> Result<(), OperatorError>;
    /// Emits every partly filled buffer.
    fn flush(&mut self, emit: &mut dyn FnMut(usize, Batch));
    /// Records gathered but not yet emitted.
    fn pending_records(&self) -> usize;
}

/// What a router needs to know of its edge and subtask.
#[derive(Clone, Copy, Debug)]
pub struct RouterContext {
    /// Number of output channels (consumers this producer is connected to).
    pub num_channels: usize,
    /// The producing subtask's index.
    pub producer_subtask: usize,
    /// Max parallelism of the consumer (number of key groups).
    pub max_parallelism: usize,
    /// How large a buffer may grow.
    pub buffer: BufferBound,
    /// Seed for the shuffle partitioner and rebalance's start.
    pub seed: u64,
}

/// Picks the channel of one record.
pub trait Selector<T>: Send {
    /// The channel for `record`.
    fn select(&mut self, record: &T) -> usize;
}

/// Round robin, as rebalance and rescale do.
#[derive(Clone, Debug)]
pub struct RoundRobin {
    next: usize,
    n: usize,
}

impl RoundRobin {
    /// Starts at channel `start % n`.
    pub fn new(start: usize, n: usize) -> Self {
        Self {
            next: start % n.max(1),
            n: n.max(1),
        }
    }
}

impl<T> Selector<T> for RoundRobin {
    #[inline]
    fn select(&mut self, _: &T) -> usize {
        let c = self.next;
        self.next += 1;
        if self.next == self.n {
            self.next = 0;
        }
        c
    }
}

/// Uniformly random channel.
#[derive(Clone, Debug)]
pub struct Shuffle {
    rng: FastRng,
    n: usize,
}

impl Shuffle {
    /// A shuffle over `n` channels.
    pub fn new(seed: u64, n: usize) -> Self {
        Self {
            rng: FastRng::new(seed),
            n: n.max(1),
        }
    }
}

impl<T> Selector<T> for Shuffle {
    #[inline]
    fn select(&mut self, _: &T) -> usize {
        self.rng.below(self.n)
    }
}

/// Any closure from a record to a channel (hash and custom partitioners are built from this).
pub struct FnSelector<F>(pub F);

impl<T, F: FnMut(&T) -> usize + Send> Selector<T> for FnSelector<F> {
    #[inline]
    fn select(&mut self, record: &T) -> usize {
        (self.0)(record)
    }
}

/// Gathers records per channel by a selector.
pub struct SelectingRouter<T, S> {
    selector: S,
    pending: Vec<BatchBuilder<T>>,
    bound: BufferBound,
    /// Records per buffer for the buffer being routed.
    limit: usize,
    name: &'static str,
}

impl<T: Data, S: Selector<T>> SelectingRouter<T, S> {
    /// A router over `n` channels.
    pub fn new(name: &'static str, selector: S, n: usize, bound: BufferBound) -> Self {
        Self {
            selector,
            pending: (0..n.max(1)).map(|_| BatchBuilder::new()).collect(),
            bound,
            limit: bound.records,
            name,
        }
    }

    #[inline]
    fn push(
        &mut self,
        record: T,
        timestamp: Option<i64>,
        emit: &mut dyn FnMut(usize, Batch),
    ) -> Result<(), OperatorError> {
        let ch = self.selector.select(&record);
        let n = self.pending.len();
        let Some(buf) = self.pending.get_mut(ch) else {
            return Err(OperatorError::Failed {
                operator: format!("{} partitioner", self.name),
                message: format!("selected channel {ch}, but there are only {n}"),
            });
        };
        if buf.capacity() == 0 {
            buf.reserve_exact(self.limit);
        }
        buf.push(record, timestamp);
        if buf.len() >= self.limit {
            emit(ch, buf.take(self.limit));
        }
        Ok(())
    }
}

impl<T: Data, S: Selector<T>> ChannelRouter for SelectingRouter<T, S> {
    fn route(
        &mut self,
        batch: Batch,
        record_bytes: usize,
        emit: &mut dyn FnMut(usize, Batch),
    ) -> Result<(), OperatorError> {
        self.limit = self.bound.records_for(record_bytes);
        match batch.into_parts::<T>()? {
            (records, None) => {
                for record in records {
                    self.push(record, None, emit)?;
                }
            }
            (records, Some(ts)) => {
                for (record, t) in records.into_iter().zip(ts) {
                    self.push(record, Some(t), emit)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self, emit: &mut dyn FnMut(usize, Batch)) {
        for (ch, buf) in self.pending.iter_mut().enumerate() {
            if !buf.is_empty() {
                emit(ch, buf.take(0));
            }
        }
    }

    fn pending_records(&self) -> usize {
        self.pending.iter().map(|p| p.len()).sum()
    }
}

/// One channel (forward, global with one consumer): buffers pass through whole when at least
/// half full, cut when over the bound; small ones are gathered.
pub struct SingleChannelRouter<T> {
    channel: usize,
    pending: BatchBuilder<T>,
    bound: BufferBound,
}

impl<T: Data> SingleChannelRouter<T> {
    /// Sends everything to `channel`.
    pub fn new(channel: usize, bound: BufferBound) -> Self {
        Self {
            channel,
            pending: BatchBuilder::new(),
            bound,
        }
    }
}

impl<T: Data> ChannelRouter for SingleChannelRouter<T> {
    fn route(
        &mut self,
        batch: Batch,
        record_bytes: usize,
        emit: &mut dyn FnMut(usize, Batch),
    ) -> Result<(), OperatorError> {
        let limit = self.bound.records_for(record_bytes);
        if self.pending.is_empty() && batch.len() * 2 >= limit {
            if batch.len() <= limit {
                emit(self.channel, batch);
            } else {
                for part in batch.split_into(limit) {
                    emit(self.channel, part);
                }
            }
            return Ok(());
        }
        let (records, ts) = batch.into_parts::<T>()?;
        self.pending.extend(records, ts);
        if self.pending.len() >= limit {
            emit(self.channel, self.pending.take(0));
        }
        Ok(())
    }

    fn flush(&mut self, emit: &mut dyn FnMut(usize, Batch)) {
        if !self.pending.is_empty() {
            emit(self.channel, self.pending.take(0));
        }
    }

    fn pending_records(&self) -> usize {
        self.pending.len()
    }
}

/// Every record to every channel.
pub struct BroadcastRouter<T> {
    n: usize,
    inner: SingleChannelRouter<T>,
    _t: PhantomData<T>,
}

impl<T: Data> BroadcastRouter<T> {
    /// Broadcast over `n` channels.
    pub fn new(n: usize, bound: BufferBound) -> Self {
        Self {
            n: n.max(1),
            inner: SingleChannelRouter::new(0, bound),
            _t: PhantomData,
        }
    }

    fn fan_out(n: usize, emit: &mut dyn FnMut(usize, Batch)) -> impl FnMut(usize, Batch) + '_ {
        move |_, b: Batch| {
            for ch in 1..n {
                emit(ch, b.clone());
            }
            emit(0, b);
        }
    }
}

impl<T: Data> ChannelRouter for BroadcastRouter<T> {
    fn route(
        &mut self,
        batch: Batch,
        record_bytes: usize,
        emit: &mut dyn FnMut(usize, Batch),
    ) -> Result<(), OperatorError> {
        let mut fan = Self::fan_out(self.n, emit);
        self.inner.route(batch, record_bytes, &mut fan)
    }

    fn flush(&mut self, emit: &mut dyn FnMut(usize, Batch)) {
        let mut fan = Self::fan_out(self.n, emit);
        self.inner.flush(&mut fan);
    }

    fn pending_records(&self) -> usize {
        self.inner.pending_records() * self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batch::NO_TIMESTAMP;

    /// A bound of `n` records only.
    fn records(n: usize) -> BufferBound {
        BufferBound::new(n, usize::MAX)
    }

    fn route<R: ChannelRouter>(
        r: &mut R,
        b: Batch,
        emit: &mut dyn FnMut(usize, Batch),
    ) -> Result<(), OperatorError> {
        let bytes = b.estimate_record_bytes();
        r.route(b, bytes, emit)
    }

    fn route_all<R: ChannelRouter>(mut r: R, records: Vec<u64>, n: usize) -> Vec<Vec<u64>> {
        let mut out = vec![Vec::new(); n];
        let mut emit = |ch: usize, b: Batch| out[ch].extend(b.downcast::<u64>().expect("u64"));
        route(&mut r, Batch::new(records), &mut emit).expect("route");
        r.flush(&mut emit);
        out
    }

    #[test]
    fn round_robin_from_start() {
        let out = route_all(
            SelectingRouter::<u64, _>::new("rebalance", RoundRobin::new(2, 3), 3, records(4)),
            (0..7).collect(),
            3,
        );
        assert_eq!(out, vec![vec![1, 4], vec![2, 5], vec![0, 3, 6]]);
    }

    #[test]
    fn full_buffers_are_emitted_early() {
        let mut r =
            SelectingRouter::<u64, _>::new("rebalance", RoundRobin::new(0, 2), 2, records(2));
        let mut seen = Vec::new();
        route(&mut r, Batch::new((0..5u64).collect()), &mut |ch, b| {
            seen.push((ch, b.len()))
        })
        .expect("route");
        assert_eq!(seen, vec![(0, 2), (1, 2)]);
        assert_eq!(r.pending_records(), 1);
    }

    #[test]
    fn timestamps_follow_their_records_and_untimed_ones_get_the_marker() {
        let mut r = SelectingRouter::<u64, _>::new(
            "hash",
            FnSelector(|v: &u64| (*v % 2) as usize),
            2,
            records(8),
        );
        let mut out: Vec<Vec<(u64, i64)>> = vec![Vec::new(); 2];
        let mut emit = |ch: usize, b: Batch| {
            let (records, ts) = b.into_parts::<u64>().expect("u64");
            let ts = ts.expect("a timed buffer");
            out[ch].extend(records.into_iter().zip(ts));
        };
        route(&mut r, Batch::new(vec![0u64, 1]), &mut emit).expect("route");
        route(
            &mut r,
            Batch::timed(vec![2u64, 3, 4], vec![20, 30, 40]),
            &mut emit,
        )
        .expect("route");
        route(&mut r, Batch::new(vec![5u64]), &mut emit).expect("route");
        r.flush(&mut emit);
        assert_eq!(out[0], [(0, NO_TIMESTAMP), (2, 20), (4, 40)]);
        assert_eq!(out[1], [(1, NO_TIMESTAMP), (3, 30), (5, NO_TIMESTAMP)]);

        let mut single = SingleChannelRouter::<u64>::new(0, records(8));
        let mut got = Vec::new();
        route(
            &mut single,
            Batch::timed(vec![1u64], vec![7]),
            &mut |_, b| got.push(b),
        )
        .expect("route");
        route(&mut single, Batch::new(vec![2u64]), &mut |_, b| got.push(b)).expect("route");
        single.flush(&mut |_, b| got.push(b));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamps(), Some(&[7, NO_TIMESTAMP][..]));
    }

    #[test]
    fn buffers_are_cut_by_the_estimated_bytes_before_the_record_count() {
        // 1,000-byte strings (1,003 serialized) under a 4,000-byte bound: 3 per buffer.
        let big = |n: usize| -> Vec<String> { (0..n).map(|i| format!("{i:0>1000}")).collect() };
        let bound = BufferBound::new(4096, 4000);
        let mut r = SelectingRouter::<String, _>::new("rebalance", RoundRobin::new(0, 2), 2, bound);
        let mut seen = Vec::new();
        route(&mut r, Batch::new(big(14)), &mut |ch, b| {
            seen.push((ch, b.len()))
        })
        .expect("route");
        assert_eq!(seen, [(0, 3), (1, 3), (0, 3), (1, 3)]);
        assert_eq!(r.pending_records(), 2);

        // One channel: a buffer over the bound is cut in order, a smaller one passes whole.
        let mut single = SingleChannelRouter::<String>::new(0, bound);
        let mut got = Vec::new();
        route(&mut single, Batch::new(big(7)), &mut |_, b| got.push(b)).expect("route");
        route(&mut single, Batch::new(big(2)), &mut |_, b| got.push(b)).expect("route");
        let lens: Vec<usize> = got.iter().map(Batch::len).collect();
        assert_eq!(lens, [3, 3, 1, 2]);
        let order: Vec<String> = got
            .into_iter()
            .flat_map(|b| b.downcast::<String>().expect("strings"))
            .collect();
        let mut expected = big(7);
        expected.extend(big(2));
        assert_eq!(order, expected);

        // Small records are still cut at the record count.
        let mut small = SingleChannelRouter::<u64>::new(0, BufferBound::new(4, 1 << 20));
        let mut lens = Vec::new();
        route(&mut small, Batch::new((0..10u64).collect()), &mut |_, b| {
            lens.push(b.len())
        })
        .expect("route");
        assert_eq!(lens, [4, 4, 2]);
    }

    #[test]
    fn broadcast_reaches_every_channel() {
        let out = route_all(BroadcastRouter::<u64>::new(3, records(8)), vec![1, 2], 3);
        assert_eq!(out, vec![vec![1, 2]; 3]);
    }

    #[test]
    fn out_of_range_custom_channel_is_an_error() {
        let mut r =
            SelectingRouter::<u64, _>::new("custom", FnSelector(|_: &u64| 5), 2, records(4));
        let err = route(&mut r, Batch::new(vec![1u64]), &mut |_, _| {}).expect_err("must fail");
        assert!(err.to_string().contains("only 2"), "{err}");
    }

    #[test]
    fn shuffle_uses_all_channels_and_only_those() {
        let mut s = Shuffle::new(1, 4);
        let mut hits = [0usize; 4];
        for _ in 0..4000 {
            hits[Selector::<u64>::select(&mut s, &0)] += 1;
        }
        assert!(hits.iter().all(|&h| h > 800), "{hits:?}");
    }
}
