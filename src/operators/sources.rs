//! Source drivers and the built-in sources: elements, number sequences, text files split across
//! subtasks ([`crate::operators::text_file_source`]) and sockets
//! ([`crate::operators::socket_source`]), re-exported here.
//!
//! ## Poll size
//! A source subtask polls at most a buffer's record count and about [`POLL_BYTES`] of what its
//! chain writes ([`PollSize`]), so a source of large records never holds a buffer's record
//! count of them, and one of small records is not polled a network buffer at a time.

use std::sync::Arc;

use crate::api::functions::{user_error, user_snapshot};
use crate::api::{Collector, Data, SourceFunction, SourcePoll};
use crate::data::batch::BufferBound;
pub use crate::operators::socket_source::{SocketOptions, SocketTextSource};
pub use crate::operators::text_file_source::{DecodePolicy, LineParser, TextFileSource};
use crate::operators::{Batch, OperatorError, RuntimeContext, UserError};
use crate::state::{OperatorSnapshot, RestoredState};

/// A type-erased, polled source: the head of a source subtask's chain.
pub trait SourceDriver: Send {
    /// Opens the source.
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError>;
    /// Polls up to `max` records.
    fn poll(&mut self, max: usize) -> Result<(Option<Batch>, SourcePoll), OperatorError>;
    /// Asks an unbounded source to stop.
    fn cancel(&mut self);
    /// Closes the source.
    fn close(&mut self) -> Result<(), OperatorError>;
    /// Restores the source's position (before `open`).
    fn initialize_state(&mut self, _restored: &RestoredState) -> Result<(), OperatorError> {
        Ok(())
    }
    /// Writes the source's position for a checkpoint.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        Ok(OperatorSnapshot::default())
    }
    /// A checkpoint completed.
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<(), OperatorError> {
        Ok(())
    }
}

/// How many records a source subtask polls its source for at once: as many as fill one
/// buffer ([`BufferBound`]) by the larger of the polled records' size and what its chain
/// wrote to its network outputs per record polled, both estimated on the poll before. The
/// first poll takes one record, so a source of large records (or one whose chain makes large
/// records of small ones) never holds a buffer's count of them.
#[derive(Clone, Debug)]
pub struct PollSize {
    bound: BufferBound,
    next: usize,
}

/// About the most bytes one source poll builds (what its chain writes, by estimate): a poll
/// bounds memory, not a network frame, so it may span several buffers, which the writer cuts.
pub const POLL_BYTES: usize = 1 << 20;

impl PollSize {
    /// Starts at one record; polls at most `bound.records` records and about [`POLL_BYTES`]
    /// (or the bound's bytes, if more).
    pub fn new(bound: BufferBound) -> Self {
        let bound = BufferBound::new(bound.records, bound.bytes.max(POLL_BYTES));
        Self { bound, next: 1 }
    }

    /// The records to poll for next.
    pub fn next(&self) -> usize {
        self.next
    }

    /// Learns from a poll of `records` records of about `record_bytes` serialized bytes each,
    /// after which the chain wrote about `written_bytes` to its outputs.
    pub fn observe(&mut self, records: usize, record_bytes: usize, written_bytes: u64) {
        let Some(per_record) = written_bytes.checked_div(records as u64) else {
            return;
        };
        let written = usize::try_from(per_record).unwrap_or(usize::MAX);
        self.next = self.bound.records_for(record_bytes.max(written));
    }
}

/// Makes one source driver per subtask.
pub type SourceFactory = Arc<dyn Fn(&RuntimeContext) -> Box<dyn SourceDriver> + Send + Sync>;

/// Drives a typed [`SourceFunction`].
pub struct Driver<T, S> {
    source: S,
    name: String,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, S> Driver<T, S> {
    /// Drives `source`.
    pub fn new(name: &str, source: S) -> Self {
        Self {
            source,
            name: name.to_string(),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Data, S: SourceFunction<T>> SourceDriver for Driver<T, S> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.source.open(ctx).map_err(|e| user_error(&self.name, e))
    }

    fn poll(&mut self, max: usize) -> Result<(Option<Batch>, SourcePoll), OperatorError> {
        let mut buf = Vec::with_capacity(max);
        let status = self
            .source
            .poll_next(&mut Collector::new(&mut buf), max)
            .map_err(|e| user_error(&self.name, e))?;
        let batch = if buf.is_empty() {
            None
        } else {
            Some(Batch::new(buf))
        };
        Ok((batch, status))
    }

    fn cancel(&mut self) {
        self.source.cancel();
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.source.close().map_err(|e| user_error(&self.name, e))
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        self.source
            .initialize_state(restored)
            .map_err(|e| user_error(&self.name, e))
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let source = &mut self.source;
        user_snapshot(&self.name, |s| source.snapshot_state(s))
    }
}

/// Caps a source subtask at a number of records a second (Flink's `RateLimiterStrategy`
/// for sources): a poll takes at most the records the time since the first poll allows, and
/// reports [`SourcePoll::Idle`] while the source is ahead, so the subtask pauses for its idle
/// backoff. A source that fell behind (backpressure, a pause) catches up by at most one
/// buffer at a time, never in one burst. A restored subtask starts its budget afresh.
pub struct RateLimited {
    inner: Box<dyn SourceDriver>,
    per_second: f64,
    started: Option<std::time::Instant>,
    emitted: u64,
}

impl RateLimited {
    /// Drives `inner` at no more than `per_second` records a second.
    pub fn new(inner: Box<dyn SourceDriver>, per_second: f64) -> Self {
        Self {
            inner,
            per_second,
            started: None,
            emitted: 0,
        }
    }

    /// How many records a poll at `now` may take, up to `max`.
    fn room(&mut self, now: std::time::Instant, max: usize) -> usize {
        let started = *self.started.get_or_insert(now);
        let secs = now.saturating_duration_since(started).as_secs_f64();
        // Saturating float-to-int conversion: an absurd rate only means "no limit".
        let allowed = (secs * self.per_second) as u64 + 1;
        let max = max as u64;
        if allowed.saturating_sub(self.emitted) > max {
            // Behind by more than a buffer: forget the debt beyond one buffer.
            self.emitted = allowed - max;
        }
        usize::try_from(allowed.saturating_sub(self.emitted)).unwrap_or(usize::MAX)
    }
}

impl SourceDriver for RateLimited {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.inner.open(ctx)
    }

    fn poll(&mut self, max: usize) -> Result<(Option<Batch>, SourcePoll), OperatorError> {
        let room = self.room(std::time::Instant::now(), max);
        if room == 0 {
            return Ok((None, SourcePoll::Idle));
        }
        let (batch, status) = self.inner.poll(room)?;
        self.emitted += batch.as_ref().map_or(0, |b| b.len() as u64);
        Ok((batch, status))
    }

    fn cancel(&mut self) {
        self.inner.cancel();
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.inner.close()
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        self.inner.initialize_state(restored)
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        self.inner.snapshot_state(checkpoint_id)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        self.inner.notify_checkpoint_complete(checkpoint_id)
    }
}

/// The state name under which splittable sources keep their unread ranges.
const SPLITS: &str = "splits";

/// A source's unread ranges of positions `[start, end)`: the one being read and the ones
/// after it. A source restored at another parallelism may own several, or none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ranges {
    pub(crate) next: u64,
    pub(crate) end: u64,
    rest: Vec<(u64, u64)>,
    /// Ranges restored from a checkpoint, used instead of the initial split.
    pub(crate) restored: Option<Vec<(u64, u64)>>,
}

impl Ranges {
    /// Starts at the `initial` ranges (in reading order) unless ranges were restored. Ranges
    /// are read in order of position: restored ones are dealt round-robin over the subtasks,
    /// and a subtask that read a later range first would find the earlier one's records late
    /// behind its own watermark.
    pub(crate) fn start(&mut self, initial: Vec<(u64, u64)>) {
        let mut ranges = self.restored.take().unwrap_or(initial);
        ranges.retain(|(s, e)| s < e);
        ranges.sort_unstable();
        ranges.reverse();
        let (next, end) = ranges.pop().unwrap_or((0, 0));
        self.next = next;
        self.end = end;
        self.rest = ranges;
    }

    /// Moves to the next range once the current one is read; returns whether there is one.
    pub(crate) fn advance(&mut self) -> bool {
        match self.rest.pop() {
            Some((s, e)) => {
                self.next = s;
                self.end = e;
                true
            }
            None => false,
        }
    }

    pub(crate) fn restore(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        self.restored = Some(restored.list(SPLITS)?);
        Ok(())
    }

    pub(crate) fn snapshot(&self, snapshot: &mut OperatorSnapshot) -> Result<(), UserError> {
        let unread: Vec<(u64, u64)> = std::iter::once((self.next, self.end))
            .chain(self.rest.iter().rev().copied())
            .filter(|(s, e)| s < e)
            .collect();
        snapshot.add_list(SPLITS, crate::state::ListMode::Split, &unread)?;
        Ok(())
    }
}

/// Positions `0..len` cut into ranges of `chunk` and dealt to `parallelism` subtasks in
/// turn: the ranges `index`, `index + parallelism`, … in order. Subtasks reading their ranges
/// at the same pace stay a range apart, where equal contiguous parts would put each subtask
/// in a different part of the input (of its time, where the input is in time order).
pub(crate) fn dealt_ranges(
    len: u64,
    index: usize,
    parallelism: usize,
    chunk: u64,
) -> Vec<(u64, u64)> {
    let chunk = chunk.max(1);
    let step = parallelism.max(1) as u64;
    let mut ranges = Vec::new();
    let mut c = index as u64;
    while let Some(start) = c.checked_mul(chunk).filter(|s| *s < len) {
        ranges.push((start, start.saturating_add(chunk).min(len)));
        c += step;
    }
    ranges
}

/// The records of a collection, from one subtask.
pub struct FromElements<T> {
    items: Arc<Vec<T>>,
    pos: usize,
}

impl<T> FromElements<T> {
    /// A source of `items`, in order.
    pub fn new(items: Arc<Vec<T>>) -> Self {
        Self { items, pos: 0 }
    }
}

impl<T: Data> SourceFunction<T> for FromElements<T> {
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, T>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        let end = (self.pos + max).min(self.items.len());
        for item in &self.items[self.pos..end] {
            out.collect(item.clone());
        }
        self.pos = end;
        Ok(if self.pos >= self.items.len() {
            SourcePoll::Finished
        } else {
            SourcePoll::Ready
        })
    }
}

/// The most blocks a dealt [`Generated`] sequence is cut into.
pub const MAX_BLOCKS: u64 = 100_000;

/// Records made from their index: `make(i)` for `i` in `0..n`, split into contiguous ranges,
/// one per subtask, or dealt to the subtasks in blocks ([`Generated::dealt`]).
pub struct Generated<T, F> {
    make: F,
    n: u64,
    /// Dealt in blocks of this many instead of split into contiguous ranges.
    block: Option<u64>,
    ranges: Ranges,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F: Clone> Clone for Generated<T, F> {
    fn clone(&self) -> Self {
        Self {
            make: self.make.clone(),
            n: self.n,
            block: self.block,
            ranges: self.ranges.clone(),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T, F> Generated<T, F> {
    /// `n` records over all subtasks, record `i` being `make(i)`.
    pub fn new(n: u64, make: F) -> Self {
        Self {
            make,
            n,
            block: None,
            ranges: Ranges::default(),
            _t: std::marker::PhantomData,
        }
    }

    /// The same, the indexes dealt to the subtasks in turn in blocks of `block`: where the
    /// index is time (as Nexmark's event number), the subtasks stay a block apart in time, and
    /// so do their watermarks. Blocks grow so that there are at most [`MAX_BLOCKS`] (a
    /// subtask's position in a checkpoint is its list of blocks), and an unbounded sequence
    /// (`n` = `u64::MAX`) is split into contiguous ranges after all.
    pub fn dealt(n: u64, block: u64, make: F) -> Self {
        Self {
            block: Some(block),
            ..Self::new(n, make)
        }
    }
}

/// How a [`Generated`] source makes its records from their indexes: a function of the index
/// (every index a record), or [`Sparse`] (an index may make none).
pub trait Make<T> {
    /// The records of the indexes `range`, in order, into `out`.
    fn make(&self, range: std::ops::Range<u64>, out: &mut Collector<'_, T>);
}

impl<T, F: Fn(u64) -> T> Make<T> for F {
    fn make(&self, range: std::ops::Range<u64>, out: &mut Collector<'_, T>) {
        out.collect_all(range.map(self));
    }
}

/// A function of the index that makes no record for some indexes (a source that skips what
/// a filter pushed into it would drop); they count as made for the source's position.
#[derive(Clone)]
pub struct Sparse<F>(pub F);

impl<T, F: Fn(u64) -> Option<T>> Make<T> for Sparse<F> {
    fn make(&self, range: std::ops::Range<u64>, out: &mut Collector<'_, T>) {
        out.collect_all(range.filter_map(&self.0));
    }
}

impl<T: Data, F: Make<T> + Send + 'static> SourceFunction<T> for Generated<T, F> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        let (i, p) = (ctx.subtask_index, ctx.parallelism);
        self.ranges.start(match self.block {
            Some(block) if self.n < u64::MAX => {
                dealt_ranges(self.n, i, p, block.max(self.n / MAX_BLOCKS))
            }
            _ => vec![Sequence::split(self.n, i, p)],
        });
        Ok(())
    }

    fn poll_next(
        &mut self,
        out: &mut Collector<'_, T>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        let r = &mut self.ranges;
        if r.next >= r.end && !r.advance() {
            return Ok(SourcePoll::Finished);
        }
        let stop = r.end.min(r.next.saturating_add(max as u64));
        self.make.make(r.next..stop, out);
        r.next = stop;
        Ok(if stop >= r.end && r.rest.is_empty() {
            SourcePoll::Finished
        } else {
            SourcePoll::Ready
        })
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        self.ranges.restore(restored)
    }

    fn snapshot_state(&mut self, snapshot: &mut OperatorSnapshot) -> Result<(), UserError> {
        self.ranges.snapshot(snapshot)
    }
}

/// The numbers `from..=to`, split into contiguous ranges, one per subtask.
pub struct Sequence;

impl Sequence {
    /// The sequence `from..=to` (empty when `from > to`; the full `u64` range stops one short).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(from: u64, to: u64) -> Generated<u64, impl Fn(u64) -> u64 + Clone + Send + Sync> {
        let count = if from > to {
            0
        } else {
            (to - from).saturating_add(1)
        };
        Generated::new(count, move |i| from + i)
    }

    /// The part of `0..count` that subtask `index` of `parallelism` produces, as `[start, end)`.
    pub fn split(count: u64, index: usize, parallelism: usize) -> (u64, u64) {
        let p = parallelism.max(1) as u128;
        let i = index as u128;
        let c = u128::from(count);
        ((c * i / p) as u64, (c * (i + 1) / p) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_ranges_are_read_in_order_of_position() {
        let mut r = Ranges {
            restored: Some(vec![(40, 50), (0, 10), (30, 30), (20, 30)]),
            ..Ranges::default()
        };
        r.start(vec![(0, 100)]);
        let mut read = vec![(r.next, r.end)];
        while r.advance() {
            read.push((r.next, r.end));
        }
        assert_eq!(read, [(0, 10), (20, 30), (40, 50)]);
    }

    #[test]
    fn a_dealt_sequence_gives_every_index_once_each_subtask_in_order() {
        for (n, block) in [(0, 4), (1, 4), (10, 3), (1000, 64), (999, 1)] {
            for p in 1..=7 {
                let mut all = Vec::new();
                for i in 0..p {
                    let mut g = Generated::dealt(n, block, |x: u64| x);
                    let mut ctx = RuntimeContext::standalone("generated");
                    ctx.subtask_index = i;
                    ctx.parallelism = p;
                    g.open(&ctx).expect("opens");
                    let mut out = Vec::new();
                    while g
                        .poll_next(&mut Collector::new(&mut out), 5)
                        .expect("polls")
                        != SourcePoll::Finished
                    {}
                    assert!(out.windows(2).all(|w| w[0] < w[1]), "{out:?}");
                    if block < n {
                        // The first block of each subtask is its turn's.
                        assert_eq!(
                            out.first().copied(),
                            (i as u64 * block < n).then_some(i as u64 * block)
                        );
                    }
                    all.extend(out);
                }
                all.sort_unstable();
                assert_eq!(
                    all,
                    (0..n).collect::<Vec<_>>(),
                    "n {n}, block {block}, p {p}"
                );
            }
        }
    }

    #[test]
    fn polls_hold_about_a_mebibyte_by_the_larger_of_what_is_polled_and_what_is_written() {
        let mut p = PollSize::new(BufferBound::new(4096, 32 * 1024));
        assert_eq!(p.next(), 1);
        // Small records, written as they came: the record count bounds the poll.
        p.observe(1, 10, 10);
        assert_eq!(p.next(), 4096);
        // A chain that makes 100 KiB records of them: ten make a mebibyte.
        p.observe(4096, 10, 4096 * 100 * 1024);
        assert_eq!(p.next(), 10);
        // 10 MiB records: one at a time.
        p.observe(10, 10, 10 * 10 * 1024 * 1024);
        assert_eq!(p.next(), 1);
        // A chain that writes nothing (a sink in it): the polled size alone.
        p.observe(1, 4, 0);
        assert_eq!(p.next(), 4096);
        // An empty poll teaches nothing.
        p.observe(0, 0, 0);
        assert_eq!(p.next(), 4096);
    }

    #[test]
    fn sequence_splits_cover_the_range() {
        let mut all = Vec::new();
        for i in 0..3 {
            let mut s = Sequence::new(5, 14);
            let mut ctx = RuntimeContext::standalone("seq");
            ctx.subtask_index = i;
            ctx.parallelism = 3;
            s.open(&ctx).expect("open");
            let mut out = Vec::new();
            while s.poll_next(&mut Collector::new(&mut out), 2).expect("poll")
                != SourcePoll::Finished
            {}
            all.extend(out);
        }
        assert_eq!(all, (5..=14).collect::<Vec<u64>>());
    }

    #[test]
    fn a_rate_limited_source_takes_what_the_elapsed_time_allows() {
        let inner = Driver::new("seq", Sequence::new(0, 99_999));
        let mut src = RateLimited::new(Box::new(inner), 1000.0);
        src.open(&RuntimeContext::standalone("seq")).expect("open");
        let t0 = std::time::Instant::now();
        let ms = |n: u64| t0 + std::time::Duration::from_millis(n);
        // One record at once, then nothing more until time passes.
        assert_eq!(src.room(t0, 64), 1);
        src.emitted = 1;
        assert_eq!(src.room(t0, 64), 0);
        // 1000 records a second: 10 more after 10 ms.
        assert_eq!(src.room(ms(10), 64), 10);
        src.emitted = 11;
        assert_eq!(src.room(ms(10), 64), 0);
        // Far behind (a long pause): at most one buffer, and the debt is forgotten.
        assert_eq!(src.room(ms(5_000), 64), 64);
        src.emitted += 64;
        assert_eq!(src.room(ms(5_000), 64), 0);
        assert_eq!(src.room(ms(5_005), 64), 5);

        // Through `poll`: ahead of the rate it reports Idle with nothing.
        let inner = Driver::new("seq", Sequence::new(0, 99_999));
        let mut src = RateLimited::new(Box::new(inner), 1.0);
        src.open(&RuntimeContext::standalone("seq")).expect("open");
        let (batch, status) = src.poll(64).expect("poll");
        assert_eq!(
            (batch.map(|b| b.len()), status),
            (Some(1), SourcePoll::Ready)
        );
        let (batch, status) = src.poll(64).expect("poll");
        assert!(batch.is_none());
        assert_eq!(status, SourcePoll::Idle);
    }
}
