//! A subtask's I/O counters (Flink's `numRecordsIn`, `numRecordsOut`, `numBytesIn`,
//! `numBytesOut`), its time (busy, backpressured, idle) and its watermarks, shown per vertex
//! and per subtask by the REST API and Prometheus; [`rates`] turns two snapshots into the
//! per-second figures Flink shows.
//!
//! ## Where they are counted
//! - records in: records the subtask took from its network inputs (a source reads none);
//! - records out: records its chain handed to its record writers;
//! - bytes in / out: serialized bytes of the buffers that crossed a process boundary (frames
//!   on QUIC streams). Buffers between subtasks of one process are handed over without being
//!   serialized, so they add no bytes: a job that runs in one process shows 0.
//!
//! ## Time
//! A subtask is **busy** while it runs a turn (and while it waits for its thread with work to
//! do), **backpressured** while an output has no credit or room, and **idle** while it waits
//! for input (Flink's `busyTimeMsPerSecond`, `backPressuredTimeMsPerSecond`,
//! `idleTimeMsPerSecond`). The subtask reads the clock twice per turn
//! ([`IoMetrics::turn_starts`], [`IoMetrics::turn_ends`]); a snapshot also counts the stretch
//! under way, so a subtask that waits long shows it at once.
//!
//! The subtask updates the atomics once per buffer or per turn, never per record; its
//! TaskManager reads them when the JobMaster asks, and the subtask's final counts travel with
//! its terminal state.

pub mod process;
pub mod prometheus;
pub mod rates;

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use rates::TaskRates;

/// A snapshot of a subtask's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCounters {
    /// Records read from network inputs.
    pub records_in: u64,
    /// Records written to network outputs.
    pub records_out: u64,
    /// Serialized bytes received from other processes.
    pub bytes_in: u64,
    /// Serialized bytes sent to other processes.
    pub bytes_out: u64,
    /// Records a window operator dropped as late (Flink's `numLateRecordsDropped`).
    #[serde(default)]
    pub late_records_dropped: u64,
    /// Milliseconds spent busy.
    #[serde(default)]
    pub busy_ms: u64,
    /// Milliseconds spent backpressured.
    #[serde(default)]
    pub backpressured_ms: u64,
    /// Milliseconds spent idle.
    #[serde(default)]
    pub idle_ms: u64,
    /// The watermark its inputs last advanced to (none for a source, or before the first).
    #[serde(default)]
    pub input_watermark: Option<i64>,
    /// The watermark it last emitted (for a subtask without network outputs, the one it last
    /// processed).
    #[serde(default)]
    pub output_watermark: Option<i64>,
}

impl IoCounters {
    /// Field-wise sum, for a vertex's total over its subtasks.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a IoCounters>) -> IoCounters {
        all.into_iter()
            .fold(IoCounters::default(), |a, c| IoCounters {
                records_in: a.records_in + c.records_in,
                records_out: a.records_out + c.records_out,
                bytes_in: a.bytes_in + c.bytes_in,
                bytes_out: a.bytes_out + c.bytes_out,
                late_records_dropped: a.late_records_dropped + c.late_records_dropped,
                busy_ms: a.busy_ms + c.busy_ms,
                backpressured_ms: a.backpressured_ms + c.backpressured_ms,
                idle_ms: a.idle_ms + c.idle_ms,
                input_watermark: min_watermark(a.input_watermark, c.input_watermark),
                output_watermark: min_watermark(a.output_watermark, c.output_watermark),
            })
    }

    /// Field-wise maximum: counters and watermarks only grow, so of two snapshots of one
    /// attempt (one pulled, one reported with a state change) the larger value is the newer.
    pub fn max(self, other: IoCounters) -> IoCounters {
        IoCounters {
            records_in: self.records_in.max(other.records_in),
            records_out: self.records_out.max(other.records_out),
            bytes_in: self.bytes_in.max(other.bytes_in),
            bytes_out: self.bytes_out.max(other.bytes_out),
            late_records_dropped: self.late_records_dropped.max(other.late_records_dropped),
            busy_ms: self.busy_ms.max(other.busy_ms),
            backpressured_ms: self.backpressured_ms.max(other.backpressured_ms),
            idle_ms: self.idle_ms.max(other.idle_ms),
            input_watermark: self.input_watermark.max(other.input_watermark),
            output_watermark: self.output_watermark.max(other.output_watermark),
        }
    }
}

/// The lower of two watermarks, a missing one holding the other back (a vertex's watermark is
/// its slowest subtask's).
fn min_watermark(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    }
}

/// No watermark yet, in the atomics.
const NO_WATERMARK: i64 = i64::MIN;

/// A running subtask's counters, shared with its TaskManager.
#[derive(Debug)]
pub struct IoMetrics {
    records_in: AtomicU64,
    records_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    late_records_dropped: AtomicU64,
    busy_ns: AtomicU64,
    backpressured_ns: AtomicU64,
    idle_ns: AtomicU64,
    input_watermark: AtomicI64,
    output_watermark: AtomicI64,
    /// The clock's origin; the stretch under way started `open_since` nanoseconds after it,
    /// and is spent as `open_state` says.
    base: Instant,
    open_since: AtomicU64,
    open_state: AtomicU8,
}

impl Default for IoMetrics {
    fn default() -> Self {
        Self {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            late_records_dropped: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            input_watermark: AtomicI64::new(NO_WATERMARK),
            output_watermark: AtomicI64::new(NO_WATERMARK),
            base: Instant::now(),
            open_since: AtomicU64::new(0),
            open_state: AtomicU8::new(Spent::Idle as u8),
        }
    }
}

impl IoMetrics {
    /// Serialized bytes received from other processes so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Counts records taken from an input.
    pub fn add_records_in(&self, n: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts records dropped as late.
    pub fn add_late_records_dropped(&self, n: u64) {
        self.late_records_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts serialized bytes received.
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the output totals (the record writers keep the running sums).
    pub fn set_out(&self, records: u64, bytes: u64) {
        self.records_out.store(records, Ordering::Relaxed);
        self.bytes_out.store(bytes, Ordering::Relaxed);
    }

    /// Sets the watermark the inputs advanced to.
    pub fn set_input_watermark(&self, w: i64) {
        self.input_watermark.store(w, Ordering::Relaxed);
    }

    /// Sets the watermark last emitted.
    pub fn set_output_watermark(&self, w: i64) {
        self.output_watermark.store(w, Ordering::Relaxed);
    }

    fn counter(&self, spent: Spent) -> &AtomicU64 {
        match spent {
            Spent::Busy => &self.busy_ns,
            Spent::BackPressured => &self.backpressured_ns,
            Spent::Idle => &self.idle_ns,
        }
    }

    fn nanos_since_base(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Closes the stretch under way at `now` and opens one spent as `next`. Called by the
    /// subtask's thread only.
    fn switch(&self, now: Instant, next: Spent) {
        let now = self.nanos_since_base(now);
        let since = self.open_since.swap(now, Ordering::Relaxed);
        let spent = Spent::from_u8(self.open_state.swap(next as u8, Ordering::Relaxed));
        self.counter(spent)
            .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
    }

    /// A turn starts: the wait before it is booked as what the last turn ended in.
    pub fn turn_starts(&self, now: Instant) {
        self.switch(now, Spent::Busy);
    }

    /// A turn ends; the subtask now waits as `waiting` says.
    pub fn turn_ends(&self, now: Instant, waiting: Spent) {
        self.switch(now, waiting);
    }

    /// The counters now.
    pub fn snapshot(&self) -> IoCounters {
        self.snapshot_at(Instant::now())
    }

    /// The counters at `now`, the stretch under way included.
    pub fn snapshot_at(&self, now: Instant) -> IoCounters {
        let watermark =
            |a: &AtomicI64| Some(a.load(Ordering::Relaxed)).filter(|w| *w != NO_WATERMARK);
        let open = Spent::from_u8(self.open_state.load(Ordering::Relaxed));
        let under_way = self
            .nanos_since_base(now)
            .saturating_sub(self.open_since.load(Ordering::Relaxed));
        let ms = |spent: Spent| {
            let booked = self.counter(spent).load(Ordering::Relaxed);
            let extra = if spent == open { under_way } else { 0 };
            booked.saturating_add(extra) / 1_000_000
        };
        IoCounters {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            late_records_dropped: self.late_records_dropped.load(Ordering::Relaxed),
            busy_ms: ms(Spent::Busy),
            backpressured_ms: ms(Spent::BackPressured),
            idle_ms: ms(Spent::Idle),
            input_watermark: watermark(&self.input_watermark),
            output_watermark: watermark(&self.output_watermark),
        }
    }
}

/// How a subtask spends a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Spent {
    /// Running a turn, or runnable and waiting for its thread.
    Busy = 0,
    /// Waiting for credit or room on an output.
    BackPressured = 1,
    /// Waiting for input.
    Idle = 2,
}

impl Spent {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Busy,
            1 => Self::BackPressured,
            _ => Self::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_is_booked_per_turn_and_the_stretch_under_way_counts() {
        let m = IoMetrics::default();
        let t0 = m.base;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Idle until 100, busy until 130, backpressured until 200, busy until 210, then idle.
        m.turn_starts(at(100));
        m.turn_ends(at(130), Spent::BackPressured);
        m.turn_starts(at(200));
        m.turn_ends(at(210), Spent::Idle);
        let c = m.snapshot_at(at(250));
        assert_eq!((c.busy_ms, c.backpressured_ms, c.idle_ms), (40, 70, 140));
        assert_eq!(c.busy_ms + c.backpressured_ms + c.idle_ms, 250);
        assert_eq!((c.input_watermark, c.output_watermark), (None, None));
        m.set_input_watermark(5);
        m.set_output_watermark(4);
        let c = m.snapshot_at(at(250));
        assert_eq!((c.input_watermark, c.output_watermark), (Some(5), Some(4)));
    }

    #[test]
    fn counters_sum_and_merge_field_by_field() {
        let m = IoMetrics::default();
        m.add_records_in(3);
        m.add_records_in(4);
        m.add_bytes_in(100);
        m.set_out(9, 50);
        m.add_late_records_dropped(2);
        let a = m.snapshot();
        assert_eq!(
            a,
            IoCounters {
                records_in: 7,
                records_out: 9,
                bytes_in: 100,
                bytes_out: 50,
                late_records_dropped: 2,
                ..IoCounters::default()
            }
        );
        let b = IoCounters {
            records_in: 1,
            records_out: 20,
            bytes_in: 0,
            bytes_out: 60,
            late_records_dropped: 1,
            ..IoCounters::default()
        };
        assert_eq!(
            IoCounters::sum([&a, &b]),
            IoCounters {
                records_in: 8,
                records_out: 29,
                bytes_in: 100,
                bytes_out: 110,
                late_records_dropped: 3,
                ..IoCounters::default()
            }
        );
        assert_eq!(
            a.max(b),
            IoCounters {
                records_in: 7,
                records_out: 20,
                bytes_in: 100,
                bytes_out: 60,
                late_records_dropped: 2,
                ..IoCounters::default()
            }
        );
    }
}
