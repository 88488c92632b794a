//! A job's checkpoint settings (Flink's `CheckpointConfig`) and how they make a barrier pass
//! in-flight data.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checkpoint::barrier::{BarrierAlignment, SnapshotKind};

/// Exactly-once (aligned barriers) or at-least-once (barriers not aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CheckpointingMode {
    /// Barriers are aligned: each checkpoint holds exactly the records before it.
    #[default]
    ExactlyOnce,
    /// Barriers are not aligned: after a restore some records may be processed again.
    AtLeastOnce,
}

/// A job's checkpoint settings (Flink's `CheckpointConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSettings {
    /// How often to checkpoint; `None`: never (savepoints can still be taken).
    pub interval: Option<Duration>,
    /// A checkpoint not completed in this time fails.
    pub timeout: Duration,
    /// The least time between a checkpoint's completion and the next trigger.
    pub min_pause: Duration,
    /// How many checkpoints may be pending at once.
    pub max_concurrent: usize,
    /// Failed checkpoints in a row the job survives.
    pub tolerable_failures: u32,
    /// How many completed checkpoints to keep.
    pub retained: usize,
    /// Where the job's `chk-N` directories go (`<dir>/<job id>/chk-N`); `None`: the cluster's.
    pub dir: Option<PathBuf>,
    /// Exactly-once or at-least-once.
    pub mode: CheckpointingMode,
    /// Keep the retained checkpoints when the job is cancelled.
    pub retain_on_cancellation: bool,
    /// Unaligned checkpoints (exactly-once mode only; savepoints stay aligned): barriers
    /// overtake in-flight data, which becomes part of the checkpoint.
    #[serde(default)]
    pub unaligned: bool,
    /// With `unaligned`: checkpoints start aligned and a subtask goes unaligned once this much
    /// time has passed since the trigger without its alignment completing (Flink's
    /// `aligned-checkpoint-timeout`); zero: unaligned from the start.
    #[serde(default)]
    pub aligned_timeout: Duration,
}

impl CheckpointSettings {
    /// How the barriers of a checkpoint (or savepoint) of `kind` pass in-flight data.
    pub fn alignment(&self, kind: SnapshotKind) -> BarrierAlignment {
        let unaligned = self.unaligned
            && kind == SnapshotKind::Checkpoint
            && self.mode == CheckpointingMode::ExactlyOnce;
        match (unaligned, self.aligned_timeout.as_millis()) {
            (false, _) => BarrierAlignment::Aligned,
            (true, 0) => BarrierAlignment::Unaligned,
            (true, ms) => BarrierAlignment::AlignedWithTimeout {
                after_ms: u64::try_from(ms).unwrap_or(u64::MAX),
            },
        }
    }
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            interval: None,
            timeout: Duration::from_secs(600),
            min_pause: Duration::ZERO,
            max_concurrent: 1,
            tolerable_failures: 0,
            retained: 1,
            dir: None,
            mode: CheckpointingMode::ExactlyOnce,
            retain_on_cancellation: false,
            unaligned: false,
            aligned_timeout: Duration::ZERO,
        }
    }
}
