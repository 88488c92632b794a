//! Per-second figures of a subtask (Flink's `numRecordsInPerSecond`, `busyTimeMsPerSecond`,
//! …), from two snapshots of its counters, and Flink's backpressure levels.
//!
//! Each TaskManager samples its subtasks' counters once a second and keeps the rates over the
//! last period; the REST API and Prometheus show those, so a reader never waits for a sample.

use serde::{Deserialize, Serialize};

use super::IoCounters;

/// A subtask's rates over its last sampling period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRates {
    /// Records read from network inputs per second.
    pub records_in_per_second: f64,
    /// Records written to network outputs per second.
    pub records_out_per_second: f64,
    /// Serialized bytes received per second.
    pub bytes_in_per_second: f64,
    /// Serialized bytes sent per second.
    pub bytes_out_per_second: f64,
    /// Milliseconds busy per second.
    pub busy_ms_per_second: f64,
    /// Milliseconds backpressured per second.
    pub backpressured_ms_per_second: f64,
    /// Milliseconds idle per second.
    pub idle_ms_per_second: f64,
}

impl TaskRates {
    /// The rates between two snapshots of one subtask taken `seconds` apart (none for a
    /// period too short to tell).
    pub fn between(earlier: &IoCounters, later: &IoCounters, seconds: f64) -> Option<Self> {
        if seconds < 0.001 {
            return None;
        }
        let per_second = |a: u64, b: u64| b.saturating_sub(a) as f64 / seconds;
        // Time is booked at turn boundaries: clamped, so one period never shows more than a
        // second per second.
        let time = |a: u64, b: u64| per_second(a, b).min(1000.0);
        Some(Self {
            records_in_per_second: per_second(earlier.records_in, later.records_in),
            records_out_per_second: per_second(earlier.records_out, later.records_out),
            bytes_in_per_second: per_second(earlier.bytes_in, later.bytes_in),
            bytes_out_per_second: per_second(earlier.bytes_out, later.bytes_out),
            busy_ms_per_second: time(earlier.busy_ms, later.busy_ms),
            backpressured_ms_per_second: time(earlier.backpressured_ms, later.backpressured_ms),
            idle_ms_per_second: time(earlier.idle_ms, later.idle_ms),
        })
    }

    /// The share of time backpressured, 0 to 1 (Flink's backpressure `ratio`).
    pub fn backpressure_ratio(&self) -> f64 {
        (self.backpressured_ms_per_second / 1000.0).clamp(0.0, 1.0)
    }

    /// The share of time busy, 0 to 1.
    pub fn busy_ratio(&self) -> f64 {
        (self.busy_ms_per_second / 1000.0).clamp(0.0, 1.0)
    }

    /// The share of time idle, 0 to 1.
    pub fn idle_ratio(&self) -> f64 {
        (self.idle_ms_per_second / 1000.0).clamp(0.0, 1.0)
    }
}

/// Flink's backpressure level: `ok` up to a ratio of 0.1, `low` up to 0.5, `high` above.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BackPressureLevel {
    /// At most 10 % of the time backpressured.
    Ok,
    /// At most half the time.
    Low,
    /// More than half the time.
    High,
}

impl BackPressureLevel {
    /// The level of a backpressure ratio.
    pub fn of(ratio: f64) -> Self {
        if ratio <= 0.1 {
            Self::Ok
        } else if ratio <= 0.5 {
            Self::Low
        } else {
            Self::High
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_two_snapshots_and_levels_follow_flink() {
        let a = IoCounters {
            records_in: 100,
            records_out: 50,
            busy_ms: 1_000,
            backpressured_ms: 0,
            idle_ms: 1_000,
            ..IoCounters::default()
        };
        let b = IoCounters {
            records_in: 2_100,
            records_out: 1_050,
            busy_ms: 1_400,
            backpressured_ms: 1_400,
            idle_ms: 1_200,
            ..IoCounters::default()
        };
        let r = TaskRates::between(&a, &b, 2.0).expect("a period");
        assert_eq!(r.records_in_per_second, 1_000.0);
        assert_eq!(r.records_out_per_second, 500.0);
        assert_eq!(
            (
                r.busy_ms_per_second,
                r.backpressured_ms_per_second,
                r.idle_ms_per_second
            ),
            (200.0, 700.0, 100.0)
        );
        assert_eq!(
            BackPressureLevel::of(r.backpressure_ratio()),
            BackPressureLevel::High
        );
        assert_eq!(BackPressureLevel::of(0.1), BackPressureLevel::Ok);
        assert_eq!(BackPressureLevel::of(0.3), BackPressureLevel::Low);
        assert!(TaskRates::between(&a, &b, 0.0).is_none());
        assert_eq!(
            serde_json::to_string(&BackPressureLevel::High).expect("json"),
            "\"high\""
        );
    }
}
