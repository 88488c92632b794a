//! Event time: timestamps, watermarks, the generators that make them and the strategies that
//! bundle a timestamp assigner with a generator (Flink's `eventtime` package).
//!
//! ## Flink's conventions, kept here
//! - A watermark `w` says no record with a timestamp `<= w` is expected any more.
//! - Bounded out-of-orderness `d` emits `max_timestamp - d - 1` (so a record exactly `d`
//!   behind the maximum is still on time); monotonous timestamps are the case `d = 0`.
//! - Generators emit periodically (every `auto_watermark_interval`, 200 ms by default) or per
//!   event (punctuated); an emitted watermark never goes backwards.
//! - With idleness, an input that saw no record for the timeout is marked idle and stops holding
//!   back the minimum over inputs (see [`valve`]); its next record makes it active again.
//!
//! This module holds the logic; the runtime drives it (records' timestamps, in-band
//! watermarks and the periodic timer come with the operators that use them).

pub mod alignment;
pub mod timers;
pub mod valve;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::data::time::{Timestamp, WatermarkStatus, MAX_WATERMARK, MIN_WATERMARK};

/// The current processing time: milliseconds since the Unix epoch by the system clock.
pub fn processing_time_now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where an operator reads processing time: the system clock at run time, a clock a test
/// sets by hand in the operator harness (Flink's `ProcessingTimeService`).
#[derive(Clone)]
pub struct ProcessingClock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl ProcessingClock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(processing_time_now))
    }

    /// A clock that reads `time` (set it to move the clock).
    pub fn manual(time: Arc<std::sync::atomic::AtomicI64>) -> Self {
        Self(Arc::new(move || {
            time.load(std::sync::atomic::Ordering::SeqCst)
        }))
    }

    /// The current processing time.
    #[inline]
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for ProcessingClock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for ProcessingClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessingClock")
    }
}

/// Where a generator emits.
pub trait WatermarkOutput {
    /// A new watermark (the caller drops it unless it is larger than the last one).
    fn emit_watermark(&mut self, watermark: Timestamp);
    /// The input has become idle.
    fn mark_idle(&mut self);
    /// The input is active again.
    fn mark_active(&mut self);
}

/// Makes watermarks from the events it sees (Flink's `WatermarkGenerator`).
pub trait WatermarkGenerator<T>: Send {
    /// Called for every record with its timestamp; a punctuated generator emits here.
    fn on_event(&mut self, event: &T, timestamp: Timestamp, out: &mut dyn WatermarkOutput);
    /// Called every emission interval; a periodic generator emits here.
    fn on_periodic_emit(&mut self, out: &mut dyn WatermarkOutput);
}

/// Emits `max_timestamp - out_of_orderness - 1` periodically.
#[derive(Debug, Clone)]
pub struct BoundedOutOfOrderness {
    max_timestamp: Timestamp,
    out_of_orderness: i64,
}

impl BoundedOutOfOrderness {
    /// A generator that tolerates records up to `out_of_orderness` behind the largest
    /// timestamp seen.
    pub fn new(out_of_orderness: Duration) -> Self {
        let d = i64::try_from(out_of_orderness.as_millis()).unwrap_or(i64::MAX / 2);
        Self {
            // Chosen so that the first watermark is MIN_WATERMARK, without overflow.
            max_timestamp: MIN_WATERMARK.saturating_add(d).saturating_add(1),
            out_of_orderness: d,
        }
    }

    /// The watermark it would emit now.
    pub fn current(&self) -> Timestamp {
        self.max_timestamp
            .saturating_sub(self.out_of_orderness)
            .saturating_sub(1)
    }
}

impl<T> WatermarkGenerator<T> for BoundedOutOfOrderness {
    fn on_event(&mut self, _event: &T, timestamp: Timestamp, _out: &mut dyn WatermarkOutput) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    fn on_periodic_emit(&mut self, out: &mut dyn WatermarkOutput) {
        out.emit_watermark(self.current());
    }
}

type PunctuateFn<T> = Arc<dyn Fn(&T, Timestamp) -> Option<Timestamp> + Send + Sync>;

/// Emits the watermark a function derives from each event, if any (punctuated watermarks).
pub struct Punctuated<T> {
    check: PunctuateFn<T>,
}

impl<T> WatermarkGenerator<T> for Punctuated<T> {
    fn on_event(&mut self, event: &T, timestamp: Timestamp, out: &mut dyn WatermarkOutput) {
        if let Some(w) = (self.check)(event, timestamp) {
            out.emit_watermark(w);
        }
    }

    fn on_periodic_emit(&mut self, _out: &mut dyn WatermarkOutput) {}
}

/// Never emits (a stream without event time).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWatermarks;

impl<T> WatermarkGenerator<T> for NoWatermarks {
    fn on_event(&mut self, _: &T, _: Timestamp, _: &mut dyn WatermarkOutput) {}
    fn on_periodic_emit(&mut self, _: &mut dyn WatermarkOutput) {}
}

/// The time source of idleness detection: the runtime passes the real clock, tests a manual one.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Wraps a generator: an input without records for `timeout` is marked idle at the next
/// periodic emission, and marked active again by its next record (Flink's
/// `WatermarksWithIdleness`).
pub struct WithIdleness<T> {
    inner: Box<dyn WatermarkGenerator<T>>,
    timeout: Duration,
    clock: Clock,
    /// Records seen, and the count at the last periodic check with the time it last changed:
    /// the clock is read once per emission interval, never per record.
    events: u64,
    checked: Option<(u64, Instant)>,
    idle: bool,
}

impl<T> WithIdleness<T> {
    /// Wraps `inner` with an idleness `timeout` measured by `clock`.
    pub fn new(inner: Box<dyn WatermarkGenerator<T>>, timeout: Duration, clock: Clock) -> Self {
        Self {
            inner,
            timeout,
            clock,
            events: 0,
            checked: None,
            idle: false,
        }
    }
}

impl<T: 'static> WatermarkGenerator<T> for WithIdleness<T> {
    fn on_event(&mut self, event: &T, timestamp: Timestamp, out: &mut dyn WatermarkOutput) {
        self.events += 1;
        if self.idle {
            self.idle = false;
            out.mark_active();
        }
        self.inner.on_event(event, timestamp, out);
    }

    fn on_periodic_emit(&mut self, out: &mut dyn WatermarkOutput) {
        let now = (self.clock)();
        let (count, since) = match self.checked {
            Some((count, since)) if count == self.events => (count, since),
            _ => (self.events, now),
        };
        self.checked = Some((count, since));
        if now.duration_since(since) >= self.timeout {
            if !self.idle {
                self.idle = true;
                out.mark_idle();
            }
        } else {
            self.inner.on_periodic_emit(out);
        }
    }
}

type TimestampFn<T> = Arc<dyn Fn(&T, Timestamp) -> Timestamp + Send + Sync>;
type GeneratorFn<T> = Arc<dyn Fn() -> Box<dyn WatermarkGenerator<T>> + Send + Sync>;

/// How a stream gets its timestamps and watermarks (Flink's `WatermarkStrategy`): a
/// timestamp assigner, a generator factory (one generator per source subtask), an optional
/// idleness timeout and an optional watermark alignment ([`alignment`]).
pub struct WatermarkStrategy<T> {
    timestamps: Option<TimestampFn<T>>,
    generator: GeneratorFn<T>,
    idleness: Option<Duration>,
    alignment: Option<alignment::WatermarkAlignment>,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        Self {
            timestamps: self.timestamps.clone(),
            generator: self.generator.clone(),
            idleness: self.idleness,
            alignment: self.alignment.clone(),
        }
    }
}

impl<T: 'static> WatermarkStrategy<T> {
    /// Records up to `out_of_orderness` behind the largest timestamp are on time.
    pub fn for_bounded_out_of_orderness(out_of_orderness: Duration) -> Self {
        Self::for_generator(move || Box::new(BoundedOutOfOrderness::new(out_of_orderness)))
    }

    /// Timestamps never decrease.
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(Duration::ZERO)
    }

    /// A watermark derived from each record, when `check` returns one.
    pub fn for_punctuated<F>(check: F) -> Self
    where
        F: Fn(&T, Timestamp) -> Option<Timestamp> + Send + Sync + 'static,
    {
        let check: PunctuateFn<T> = Arc::new(check);
        Self::for_generator(move || {
            Box::new(Punctuated {
                check: check.clone(),
            })
        })
    }

    /// Generators made by `make`.
    pub fn for_generator<F>(make: F) -> Self
    where
        F: Fn() -> Box<dyn WatermarkGenerator<T>> + Send + Sync + 'static,
    {
        Self {
            timestamps: None,
            generator: Arc::new(make),
            idleness: None,
            alignment: None,
        }
    }

    /// Ingestion time: each record's timestamp is the processing time at which this operator
    /// sees it, and watermarks follow it (Flink's ingestion time).
    pub fn for_ingestion_time() -> Self {
        Self::for_monotonous_timestamps().with_timestamp_assigner(|_, _| processing_time_now())
    }

    /// No watermarks at all.
    pub fn no_watermarks() -> Self {
        Self::for_generator(|| Box::new(NoWatermarks))
    }

    /// Takes each record's timestamp from `f(record, previous_timestamp)`.
    pub fn with_timestamp_assigner<F>(mut self, f: F) -> Self
    where
        F: Fn(&T, Timestamp) -> Timestamp + Send + Sync + 'static,
    {
        self.timestamps = Some(Arc::new(f));
        self
    }

    /// Marks an input idle after `timeout` without records.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }

    /// Aligns the watermarks of the sources in `group`: a source subtask whose watermark is
    /// more than `max_drift` ahead of the group's slowest is paused until that one catches up
    /// (Flink's `withWatermarkAlignment`; see [`alignment`]). The sources report every second.
    pub fn with_watermark_alignment(self, group: &str, max_drift: Duration) -> Self {
        self.with_watermark_alignment_every(
            group,
            max_drift,
            alignment::WatermarkAlignment::DEFAULT_UPDATE_INTERVAL,
        )
    }

    /// The same, the sources reporting every `update_interval`.
    pub fn with_watermark_alignment_every(
        mut self,
        group: &str,
        max_drift: Duration,
        update_interval: Duration,
    ) -> Self {
        self.alignment = Some(alignment::WatermarkAlignment {
            group: group.to_string(),
            max_drift,
            update_interval: update_interval.max(Duration::from_millis(1)),
        });
        self
    }

    /// The strategy's watermark alignment, if it has one.
    pub fn alignment(&self) -> Option<&alignment::WatermarkAlignment> {
        self.alignment.as_ref()
    }

    /// The record's timestamp: the assigner's, else the one it already carries.
    pub fn timestamp(&self, record: &T, previous: Timestamp) -> Timestamp {
        match &self.timestamps {
            Some(f) => f(record, previous),
            None => previous,
        }
    }

    /// A generator for one subtask, idleness included, timed by `clock`.
    pub fn create_generator(&self, clock: Clock) -> Box<dyn WatermarkGenerator<T>> {
        let inner = (self.generator)();
        match self.idleness {
            Some(timeout) => Box::new(WithIdleness::new(inner, timeout, clock)),
            None => inner,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Seen {
        watermarks: Vec<Timestamp>,
        idle: usize,
        active: usize,
    }

    impl WatermarkOutput for Seen {
        fn emit_watermark(&mut self, w: Timestamp) {
            self.watermarks.push(w);
        }
        fn mark_idle(&mut self) {
            self.idle += 1;
        }
        fn mark_active(&mut self) {
            self.active += 1;
        }
    }

    #[test]
    fn bounded_out_of_orderness_trails_the_maximum_by_the_bound_plus_one() {
        let mut g = BoundedOutOfOrderness::new(Duration::from_millis(1000));
        let mut out = Seen::default();
        WatermarkGenerator::<()>::on_periodic_emit(&mut g, &mut out);
        for ts in [5000, 8000, 6000] {
            g.on_event(&(), ts, &mut out);
        }
        WatermarkGenerator::<()>::on_periodic_emit(&mut g, &mut out);
        assert_eq!(out.watermarks, [MIN_WATERMARK, 6999]);
        let mono = BoundedOutOfOrderness::new(Duration::ZERO);
        assert_eq!(mono.current(), MIN_WATERMARK);
    }

    #[test]
    fn strategies_assign_timestamps_and_punctuate() {
        let s = WatermarkStrategy::<(i64, bool)>::for_punctuated(|e, ts| e.1.then_some(ts))
            .with_timestamp_assigner(|e, _| e.0);
        let clock: Clock = Arc::new(Instant::now);
        let mut g = s.create_generator(clock);
        let mut out = Seen::default();
        for e in [(10, false), (20, true), (15, false), (30, true)] {
            g.on_event(&e, s.timestamp(&e, MIN_WATERMARK), &mut out);
        }
        g.on_periodic_emit(&mut out);
        assert_eq!(out.watermarks, [20, 30]);
        let plain = WatermarkStrategy::<u8>::no_watermarks();
        assert_eq!(
            plain.timestamp(&1, 77),
            77,
            "no assigner keeps the timestamp"
        );
    }

    #[test]
    fn ingestion_time_stamps_records_with_the_clock() {
        let s = WatermarkStrategy::<u8>::for_ingestion_time();
        let before = processing_time_now();
        let t = s.timestamp(&1, 5);
        assert!(before <= t && t <= processing_time_now(), "{before} {t}");
    }

    #[test]
    fn an_input_without_records_goes_idle_and_comes_back_with_the_next_one() {
        let now = Arc::new(Mutex::new(Instant::now()));
        let t = now.clone();
        let clock: Clock = Arc::new(move || *t.lock().expect("clock"));
        let advance = |ms| {
            let mut n = now.lock().expect("clock");
            *n += Duration::from_millis(ms);
        };
        let s = WatermarkStrategy::<i64>::for_monotonous_timestamps()
            .with_timestamp_assigner(|e, _| *e)
            .with_idleness(Duration::from_millis(500));
        let mut g = s.create_generator(clock);
        let mut out = Seen::default();
        g.on_event(&100, 100, &mut out);
        advance(200);
        g.on_periodic_emit(&mut out);
        assert_eq!((out.watermarks.as_slice(), out.idle), (&[99][..], 0));
        advance(400);
        g.on_periodic_emit(&mut out);
        assert_eq!(out.idle, 0, "400 ms since the check that saw the record");
        advance(100);
        g.on_periodic_emit(&mut out);
        g.on_periodic_emit(&mut out);
        assert_eq!(
            out.idle, 1,
            "idle once, 500 ms after the check that saw the last record"
        );
        // The check at 600 ms still emitted (the operator drops a watermark that does not
        // advance); none came while idle.
        assert_eq!(out.watermarks, [99, 99], "no watermark while idle");
        g.on_event(&300, 300, &mut out);
        assert_eq!(out.active, 1);
        g.on_periodic_emit(&mut out);
        assert_eq!(out.watermarks, [99, 99, 299]);
    }
}
