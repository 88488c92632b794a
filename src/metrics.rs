//! A subtask's I/O counters (Flink's `numRecordsIn`, `numRecordsOut`, `numBytesIn`,
//! `numBytesOut`), shown per vertex and per subtask by the REST API.
//!
//! ## Where they are counted
//! - records in: records the subtask took from its network inputs (a source reads none);
//! - records out: records its chain handed to its record writers;
//! - bytes in / out: serialized bytes of the buffers that crossed a process boundary (frames
//!   on QUIC streams). Buffers between subtasks of one process are handed over without being
//!   serialized, so they add no bytes: a job that runs in one process shows 0.
//!
//! The subtask updates the atomics once per buffer, never per record; its TaskManager reads
//! them when the JobMaster asks, and the subtask's final counts travel with its terminal state.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

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
            })
    }

    /// Field-wise maximum: counters only grow, so of two snapshots of one attempt (one pulled,
    /// one reported with a state change) the larger value is the newer.
    pub fn max(self, other: IoCounters) -> IoCounters {
        IoCounters {
            records_in: self.records_in.max(other.records_in),
            records_out: self.records_out.max(other.records_out),
            bytes_in: self.bytes_in.max(other.bytes_in),
            bytes_out: self.bytes_out.max(other.bytes_out),
            late_records_dropped: self.late_records_dropped.max(other.late_records_dropped),
        }
    }
}

/// A running subtask's counters, shared with its TaskManager.
#[derive(Debug, Default)]
pub struct IoMetrics {
    records_in: AtomicU64,
    records_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    late_records_dropped: AtomicU64,
}

impl IoMetrics {
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

    /// The counters now.
    pub fn snapshot(&self) -> IoCounters {
        IoCounters {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            late_records_dropped: self.late_records_dropped.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            }
        );
        let b = IoCounters {
            records_in: 1,
            records_out: 20,
            bytes_in: 0,
            bytes_out: 60,
            late_records_dropped: 1,
        };
        assert_eq!(
            IoCounters::sum([&a, &b]),
            IoCounters {
                records_in: 8,
                records_out: 29,
                bytes_in: 100,
                bytes_out: 110,
                late_records_dropped: 3,
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
            }
        );
    }
}
