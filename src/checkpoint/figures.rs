//! What a subtask measures of each checkpoint it takes (Flink's `CheckpointMetrics`): the
//! start delay, the alignment, the synchronous and asynchronous parts, and the in-flight data.
//! They travel with its acknowledgement to the coordinator, which keeps them per checkpoint,
//! vertex and subtask for `GET /jobs/{id}/checkpoints/details/…`.
//!
//! ## Rules
//! - Measured per checkpoint, never per record: the clock is read when a checkpoint's first
//!   barrier is seen, when its snapshot starts and ends, and when its state is written.
//! - **Start delay**: from the coordinator's trigger timestamp to the first barrier seen here
//!   (at a source, or a subtask whose input ended: the trigger's arrival), on the wall clock.
//! - **Alignment**: from the first barrier to the snapshot: the wait for the other inputs'
//!   barriers. 0 at a source and where the barrier went unaligned at once.
//! - **Sync**: taking the operators' state on the subtask's thread. **Async**: from then until
//!   the state file is written (for an unaligned checkpoint this includes capturing the
//!   in-flight input behind its barriers).
//! - **Processed**: bytes that came from other processes and were processed between the first
//!   barrier and the snapshot (buffers handed over within a process have no size, so 0 there).
//!   **Persisted**: bytes of in-flight records written with an unaligned checkpoint.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::checkpoint::barrier::CheckpointBarrier;

/// What one subtask measured of one checkpoint; travels with its acknowledgement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskCheckpointFigures {
    /// Trigger to first barrier (ms).
    #[serde(default)]
    pub start_delay_ms: u64,
    /// First barrier to snapshot (ms).
    #[serde(default)]
    pub alignment_ms: u64,
    /// The synchronous part (ms).
    #[serde(default)]
    pub sync_ms: u64,
    /// The asynchronous part (ms).
    #[serde(default)]
    pub async_ms: u64,
    /// Bytes processed during the alignment.
    #[serde(default)]
    pub processed_bytes: u64,
    /// Bytes of in-flight data persisted.
    #[serde(default)]
    pub persisted_bytes: u64,
    /// Whether it was taken unaligned here.
    #[serde(default)]
    pub unaligned: bool,
}

/// One reading of a subtask's clocks and input counter.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    /// The wall clock (ms since the epoch), to compare with the trigger timestamp.
    pub wall_ms: i64,
    /// The monotonic clock, for durations.
    pub mono: Instant,
    /// Bytes taken from other processes so far.
    pub bytes_in: u64,
}

/// The first barrier of the checkpoint being aligned.
#[derive(Debug, Clone, Copy)]
struct FirstBarrier {
    id: u64,
    start_delay_ms: u64,
    at: Moment,
}

/// A subtask's record of the checkpoint it aligns: when its first barrier came.
#[derive(Debug, Default)]
pub struct CheckpointClock {
    first: Option<FirstBarrier>,
}

/// A snapshot under way: what was measured up to its synchronous part.
#[derive(Debug, Clone, Copy)]
pub struct Measuring {
    figures: SubtaskCheckpointFigures,
    sync_started: Instant,
    sync_done: Option<Instant>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn start_delay(barrier: &CheckpointBarrier, at: &Moment) -> u64 {
    u64::try_from(at.wall_ms.saturating_sub(barrier.timestamp)).unwrap_or(0)
}

impl CheckpointClock {
    /// A barrier of `barrier`'s checkpoint was seen at `at`: the first one of a checkpoint
    /// newer than the one measured starts its measurement.
    pub fn barrier_seen(&mut self, barrier: &CheckpointBarrier, at: Moment) {
        if self.first.is_some_and(|f| f.id >= barrier.id) {
            return;
        }
        self.first = Some(FirstBarrier {
            id: barrier.id,
            start_delay_ms: start_delay(barrier, &at),
            at,
        });
    }

    /// The snapshot of `barrier`'s checkpoint starts at `at`: its alignment (if its first
    /// barrier was seen) ends here.
    pub fn snapshot_starts(&mut self, barrier: &CheckpointBarrier, at: Moment) -> Measuring {
        let first = self.first.filter(|f| f.id == barrier.id);
        if first.is_some() || self.first.is_some_and(|f| f.id < barrier.id) {
            self.first = None;
        }
        let figures = match first {
            Some(f) => SubtaskCheckpointFigures {
                start_delay_ms: f.start_delay_ms,
                alignment_ms: millis(at.mono.saturating_duration_since(f.at.mono)),
                processed_bytes: at.bytes_in.saturating_sub(f.at.bytes_in),
                ..SubtaskCheckpointFigures::default()
            },
            None => SubtaskCheckpointFigures {
                start_delay_ms: start_delay(barrier, &at),
                ..SubtaskCheckpointFigures::default()
            },
        };
        Measuring {
            figures,
            sync_started: at.mono,
            sync_done: None,
        }
    }
}

impl Measuring {
    /// The synchronous part ended at `now`.
    pub fn sync_done(&mut self, now: Instant) {
        self.figures.sync_ms = millis(now.saturating_duration_since(self.sync_started));
        self.sync_done = Some(now);
    }

    /// The state is written at `now` (`persisted` bytes of in-flight data with it): the
    /// figures to acknowledge with.
    pub fn written(
        self,
        now: Instant,
        persisted: u64,
        unaligned: bool,
    ) -> SubtaskCheckpointFigures {
        let from = self.sync_done.unwrap_or(self.sync_started);
        SubtaskCheckpointFigures {
            async_ms: millis(now.saturating_duration_since(from)),
            persisted_bytes: persisted,
            unaligned,
            ..self.figures
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::barrier::{BarrierAlignment, SnapshotKind};

    fn barrier(id: u64, timestamp: i64) -> CheckpointBarrier {
        CheckpointBarrier {
            id,
            timestamp,
            kind: SnapshotKind::Checkpoint,
            dir: String::new(),
            alignment: BarrierAlignment::Aligned,
            is_final: false,
        }
    }

    fn at(base: Instant, ms: u64, bytes_in: u64) -> Moment {
        Moment {
            wall_ms: 1_000 + ms as i64,
            mono: base + Duration::from_millis(ms),
            bytes_in,
        }
    }

    #[test]
    fn measures_delay_alignment_sync_and_async_from_the_first_barrier() {
        let t = Instant::now();
        let mut c = CheckpointClock::default();
        // Triggered at wall 1000; first barrier at 1007, the second (same checkpoint) later.
        c.barrier_seen(&barrier(1, 1_000), at(t, 7, 100));
        c.barrier_seen(&barrier(1, 1_000), at(t, 12, 150));
        let mut m = c.snapshot_starts(&barrier(1, 1_000), at(t, 20, 400));
        m.sync_done(t + Duration::from_millis(23));
        let f = m.written(t + Duration::from_millis(50), 0, false);
        assert_eq!(
            f,
            SubtaskCheckpointFigures {
                start_delay_ms: 7,
                alignment_ms: 13,
                sync_ms: 3,
                async_ms: 27,
                processed_bytes: 300,
                persisted_bytes: 0,
                unaligned: false,
            }
        );
    }

    #[test]
    fn a_source_or_unseen_barrier_has_no_alignment_and_a_newer_one_replaces_the_older() {
        let t = Instant::now();
        let mut c = CheckpointClock::default();
        // A source: the snapshot starts where the trigger arrived.
        let m = c.snapshot_starts(&barrier(1, 995), at(t, 0, 0));
        let f = m.written(t + Duration::from_millis(4), 64, true);
        assert_eq!(
            (f.start_delay_ms, f.alignment_ms, f.sync_ms, f.async_ms),
            (5, 0, 0, 4)
        );
        assert_eq!((f.persisted_bytes, f.unaligned), (64, true));
        // Checkpoint 2's first barrier, then 3's: 2 is given up, 3 measured from its own.
        c.barrier_seen(&barrier(2, 1_000), at(t, 1, 0));
        c.barrier_seen(&barrier(3, 1_000), at(t, 5, 0));
        c.barrier_seen(&barrier(2, 1_000), at(t, 6, 0));
        let f = c.snapshot_starts(&barrier(3, 1_000), at(t, 9, 0)).written(
            t + Duration::from_millis(9),
            0,
            false,
        );
        assert_eq!((f.start_delay_ms, f.alignment_ms), (5, 4));
        // Nothing left over for a later checkpoint.
        let f = c.snapshot_starts(&barrier(4, 1_000), at(t, 30, 0)).written(
            t + Duration::from_millis(30),
            0,
            false,
        );
        assert_eq!((f.start_delay_ms, f.alignment_ms), (30, 0));
        // A wall clock behind the trigger gives no negative delay.
        let f = c
            .snapshot_starts(&barrier(5, 5_000), at(t, 0, 0))
            .written(t, 0, false);
        assert_eq!(f.start_delay_ms, 0);
    }
}
