//! Windows and window assigners with Flink's alignment (Flink's `TimeWindow` and the
//! tumbling, sliding and session assigners).
//!
//! ## Flink's conventions, kept here
//! - A time window is `[start, end)`; its last timestamp (`max_timestamp`) is `end - 1`, and an
//!   event-time trigger fires it once the watermark reaches that.
//! - Windows are aligned to the epoch plus an optional offset: a tumbling window of size `s`
//!   starts at `ts - (ts - offset) mod s` (mod rounding towards negative infinity).
//! - A sliding window of size `s` every `d` puts a record in each window whose start is
//!   aligned to `d` and covers it: `s / d` windows when `d` divides `s`.
//! - A session assigner gives each record `[ts, ts + gap)`; windows that intersect (touching
//!   counts: `[0, 200)` and `[200, 400)` merge) merge into their cover.

pub mod assigners;
pub mod evictors;
pub mod functions;
pub mod triggers;

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::eventtime::Timestamp;

/// A window: what a window operator keys its state and timers by, besides the key.
pub trait Window:
    Clone + Debug + Hash + Eq + Ord + Send + Sync + Serialize + serde::de::DeserializeOwned + 'static
{
    /// The last timestamp in the window: event-time triggers fire it once the watermark
    /// reaches this, and results get it as their timestamp.
    fn max_timestamp(&self) -> Timestamp;

    /// Whether the two would merge under a merging assigner (never, by default). A merging
    /// assigner's windows must order (`Ord`) by time: of windows that do not intersect, the
    /// earlier sorts first.
    fn intersects(&self, _other: &Self) -> bool {
        false
    }

    /// The window covering both (for merging assigners).
    fn cover(&self, _other: &Self) -> Self {
        self.clone()
    }
}

/// The one window of everything (Flink's `GlobalWindow`): it never ends by time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct GlobalWindow;

impl Window for GlobalWindow {
    fn max_timestamp(&self) -> Timestamp {
        Timestamp::MAX
    }
}

impl Window for TimeWindow {
    fn max_timestamp(&self) -> Timestamp {
        TimeWindow::max_timestamp(self)
    }

    fn intersects(&self, other: &Self) -> bool {
        TimeWindow::intersects(self, other)
    }

    fn cover(&self, other: &Self) -> Self {
        TimeWindow::cover(self, other)
    }
}

/// A window `[start, end)` of event (or processing) time, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeWindow {
    /// First timestamp in the window.
    pub start: Timestamp,
    /// First timestamp after it.
    pub end: Timestamp,
}

impl TimeWindow {
    /// `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        Self { start, end }
    }

    /// The last timestamp in the window.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end.saturating_sub(1)
    }

    /// Whether the windows overlap or touch (Flink's rule for merging sessions).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// The start of the window of `size` (aligned to the epoch plus `offset`) holding `timestamp`.
/// Timestamps near the ends of `i64` (any value a record may carry) clamp instead of
/// overflowing.
pub fn window_start(timestamp: Timestamp, offset: i64, size: i64) -> Timestamp {
    let size = size.max(1);
    let remainder = timestamp.wrapping_sub(offset).rem_euclid(size);
    timestamp.saturating_sub(remainder)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why a window assigner's parameters are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Size, slide or gap not positive, or the offset not smaller than the slide.
    #[error("invalid window parameters: {0}")]
    Invalid(String),
}

/// Which windows a record belongs to, by its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Non-overlapping windows of `size`.
    Tumbling {
        /// Window length (ms).
        size: i64,
        /// Alignment offset (ms).
        offset: i64,
    },
    /// Windows of `size` starting every `slide`.
    Sliding {
        /// Window length (ms).
        size: i64,
        /// Distance between window starts (ms).
        slide: i64,
        /// Alignment offset (ms).
        offset: i64,
    },
    /// `[ts, ts + gap)` per record, merged when they intersect.
    Session {
        /// Inactivity gap (ms).
        gap: i64,
    },
}

impl WindowAssigner {
    /// Tumbling windows of `size`, aligned to the epoch.
    pub fn tumbling(size: Duration) -> Result<Self, WindowError> {
        Self::tumbling_with_offset(size, Duration::ZERO)
    }

    /// Tumbling windows of `size`, aligned to the epoch plus `offset` (`offset < size`).
    pub fn tumbling_with_offset(size: Duration, offset: Duration) -> Result<Self, WindowError> {
        let (size, offset) = (millis(size), millis(offset));
        if size <= 0 || offset >= size {
            return Err(WindowError::Invalid(format!(
                "tumbling windows need 0 <= offset < size, got size {size} ms, offset {offset} ms"
            )));
        }
        Ok(Self::Tumbling { size, offset })
    }

    /// Sliding windows of `size` every `slide`, aligned to the epoch.
    pub fn sliding(size: Duration, slide: Duration) -> Result<Self, WindowError> {
        Self::sliding_with_offset(size, slide, Duration::ZERO)
    }

    /// Sliding windows aligned to the epoch plus `offset` (`offset < slide`).
    pub fn sliding_with_offset(
        size: Duration,
        slide: Duration,
        offset: Duration,
    ) -> Result<Self, WindowError> {
        let (size, slide, offset) = (millis(size), millis(slide), millis(offset));
        if size <= 0 || slide <= 0 || offset >= slide {
            return Err(WindowError::Invalid(format!(
                "sliding windows need positive size and slide and offset < slide, got size {size} ms, slide {slide} ms, offset {offset} ms"
            )));
        }
        Ok(Self::Sliding {
            size,
            slide,
            offset,
        })
    }

    /// Session windows with a static `gap`.
    pub fn session(gap: Duration) -> Result<Self, WindowError> {
        let gap = millis(gap);
        if gap <= 0 {
            return Err(WindowError::Invalid(format!(
                "session windows need a positive gap, got {gap} ms"
            )));
        }
        Ok(Self::Session { gap })
    }

    /// Whether windows of this assigner merge.
    pub fn is_merging(&self) -> bool {
        matches!(self, Self::Session { .. })
    }

    /// The windows `timestamp` belongs to, latest start first for sliding windows.
    pub fn assign(&self, timestamp: Timestamp) -> Vec<TimeWindow> {
        let mut out = Vec::new();
        self.assign_into(timestamp, &mut out);
        out
    }

    /// Appends the windows `timestamp` belongs to to `out` (no allocation per record when
    /// `out` is reused).
    #[inline]
    pub fn assign_into(&self, timestamp: Timestamp, out: &mut Vec<TimeWindow>) {
        match *self {
            Self::Tumbling { size, offset } => {
                let start = window_start(timestamp, offset, size);
                out.push(TimeWindow::new(start, start.saturating_add(size)));
            }
            Self::Sliding {
                size,
                slide,
                offset,
            } => {
                let mut start = window_start(timestamp, offset, slide);
                while start > timestamp.saturating_sub(size) {
                    out.push(TimeWindow::new(start, start.saturating_add(size)));
                    match start.checked_sub(slide) {
                        Some(s) => start = s,
                        None => break,
                    }
                }
            }
            Self::Session { gap } => {
                out.push(TimeWindow::new(timestamp, timestamp.saturating_add(gap)))
            }
        }
    }
}

/// Merges intersecting windows into their covers (Flink's `TimeWindow.mergeWindows`): returns
/// each merged window with the windows it replaces, sorted by start. Windows that merge with
/// nothing come back alone.
pub fn merge_windows(windows: &[TimeWindow]) -> Vec<(TimeWindow, Vec<TimeWindow>)> {
    let mut sorted = windows.to_vec();
    sorted.sort();
    let mut merged: Vec<(TimeWindow, Vec<TimeWindow>)> = Vec::new();
    for w in sorted {
        match merged.last_mut() {
            Some((cover, parts)) if cover.intersects(&w) => {
                *cover = cover.cover(&w);
                parts.push(w);
            }
            _ => merged.push((w, vec![w])),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        for ts in [i64::MIN + 1, i64::MIN + 7, -1, 0, i64::MAX - 1, i64::MAX] {
            let a = WindowAssigner::Tumbling {
                size: 1000,
                offset: 999,
            };
            assert_eq!(a.assign(ts).len(), 1, "{ts}");
            let s = WindowAssigner::Sliding {
                size: 10_000,
                slide: 2000,
                offset: 1999,
            };
            // Windows that would start before i64::MIN are left out; the others hold `ts`.
            for w in s.assign(ts) {
                assert!(
                    w.start <= ts && (ts < w.end || w.end == i64::MAX),
                    "{ts} {w:?}"
                );
            }
            assert_eq!(WindowAssigner::Session { gap: 200 }.assign(ts).len(), 1);
        }
    }

    const T: i64 = 1_700_000_000_123;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn tumbling_windows_align_to_the_epoch_and_offset() {
        let a = WindowAssigner::tumbling(ms(1000)).expect("valid");
        assert_eq!(a.assign(T), [TimeWindow::new(T - 123, T - 123 + 1000)]);
        assert_eq!(a.assign(0), [TimeWindow::new(0, 1000)]);
        assert_eq!(a.assign(999), [TimeWindow::new(0, 1000)]);
        assert_eq!(
            a.assign(-1),
            [TimeWindow::new(-1000, 0)],
            "negative timestamps"
        );
        let hour = WindowAssigner::tumbling_with_offset(ms(3_600_000), ms(900_000)).expect("ok");
        // 00:10 belongs to the window that started at 23:15 the day before.
        assert_eq!(
            hour.assign(600_000),
            [TimeWindow::new(900_000 - 3_600_000, 900_000)]
        );
        assert_eq!(TimeWindow::new(0, 1000).max_timestamp(), 999);
        assert!(WindowAssigner::tumbling(ms(0)).is_err());
        assert!(WindowAssigner::tumbling_with_offset(ms(10), ms(10)).is_err());
    }

    #[test]
    fn sliding_windows_cover_each_record_size_over_slide_times() {
        let a = WindowAssigner::sliding(ms(10_000), ms(2_000)).expect("valid");
        let w = a.assign(T);
        // 1_700_000_000_123 aligned to 2 s is 1_700_000_000_000.
        let last_start = T - 123;
        assert_eq!(w.len(), 5);
        for (i, win) in w.iter().enumerate() {
            let start = last_start - 2_000 * i as i64;
            assert_eq!(*win, TimeWindow::new(start, start + 10_000));
            assert!(win.start <= T && T < win.end);
        }
        // A slide that does not divide the size: 3 s windows every 2 s hold a record once or twice.
        let b = WindowAssigner::sliding(ms(3_000), ms(2_000)).expect("valid");
        assert_eq!(
            b.assign(2_500),
            [TimeWindow::new(2_000, 5_000), TimeWindow::new(0, 3_000)]
        );
        assert_eq!(b.assign(3_500), [TimeWindow::new(2_000, 5_000)]);
        assert!(WindowAssigner::sliding(ms(10), ms(0)).is_err());
    }

    #[test]
    fn session_windows_merge_when_they_intersect_or_touch() {
        let a = WindowAssigner::session(ms(200)).expect("valid");
        assert!(a.is_merging());
        assert_eq!(a.assign(1000), [TimeWindow::new(1000, 1200)]);
        let merged = merge_windows(&[
            TimeWindow::new(400, 600),
            TimeWindow::new(150, 350),
            TimeWindow::new(0, 200),
            TimeWindow::new(600, 800),
            TimeWindow::new(1000, 1200),
        ]);
        let covers: Vec<TimeWindow> = merged.iter().map(|(w, _)| *w).collect();
        assert_eq!(
            covers,
            [
                TimeWindow::new(0, 350),
                TimeWindow::new(400, 800),
                TimeWindow::new(1000, 1200)
            ]
        );
        assert_eq!(merged[0].1.len(), 2);
        assert_eq!(
            merged[1].1,
            [TimeWindow::new(400, 600), TimeWindow::new(600, 800)]
        );
        assert_eq!(merged[2].1, [TimeWindow::new(1000, 1200)]);
        assert!(WindowAssigner::session(ms(0)).is_err());
    }
}
