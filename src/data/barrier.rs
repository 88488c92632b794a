//! The checkpoint barrier as it travels on channels: which checkpoint it cuts, and how it
//! passes the data ahead of it. Aligning barriers is [`crate::checkpoint::barrier`]'s.

use serde::{Deserialize, Serialize};

/// A checkpoint or a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotKind {
    /// Periodic, owned by the job (retained as configured).
    Checkpoint,
    /// Triggered by the user, owned by the user, self-contained.
    Savepoint,
}

/// The in-band marker that cuts a stream into what is before and after a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBarrier {
    /// The checkpoint's id (increasing per job, from 1).
    pub id: u64,
    /// When the coordinator triggered it (ms since the epoch).
    pub timestamp: i64,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// The directory the subtasks write their state files into.
    pub dir: String,
    /// Whether it waits for alignment or overtakes in-flight data.
    #[serde(default)]
    pub alignment: BarrierAlignment,
    /// The final checkpoint: triggered once every subtask had ended its input, so each takes
    /// it at its end, and finishes once it completed (its two-phase commits done).
    #[serde(default)]
    pub is_final: bool,
}

/// How a barrier passes the data ahead of it (Flink's aligned and unaligned checkpoints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BarrierAlignment {
    /// It waits in line behind the data before it, and subtasks align it over their inputs.
    #[default]
    Aligned,
    /// It overtakes the data queued before it in output and input queues; that data becomes
    /// part of the snapshot (the subtasks' channel state).
    Unaligned,
    /// Aligned, but a subtask that has not completed its alignment `after_ms` after the
    /// checkpoint was triggered goes on unaligned (and the barrier it sends on is unaligned).
    AlignedWithTimeout {
        /// Milliseconds after the trigger timestamp.
        after_ms: u64,
    },
}

impl BarrierAlignment {
    /// The wall-clock time (ms since the epoch) a barrier triggered at `timestamp` goes
    /// unaligned at, if it ever does.
    pub fn unaligned_from(self, timestamp: i64) -> Option<i64> {
        match self {
            Self::Aligned => None,
            Self::Unaligned => Some(i64::MIN),
            Self::AlignedWithTimeout { after_ms } => {
                Some(timestamp.saturating_add(i64::try_from(after_ms).unwrap_or(i64::MAX)))
            }
        }
    }
}

impl CheckpointBarrier {
    /// Whether the barrier overtakes in-flight data when it arrives at wall-clock time `now_ms`.
    pub fn is_unaligned_at(&self, now_ms: i64) -> bool {
        self.alignment
            .unaligned_from(self.timestamp)
            .is_some_and(|t| now_ms >= t)
    }
}
