//! Watermark alignment (Flink's `WatermarkStrategy.withWatermarkAlignment`, FLIP-182): the
//! sources of one *alignment group* keep their watermarks within a maximum drift of each
//! other. A source subtask whose watermark runs more than the drift ahead of the group's
//! slowest stops being polled until the slowest catches up, so that what downstream
//! operators hold for the slow input (windows, join state) does not grow with the gap.
//!
//! ## Rules (Flink's)
//! - Each source subtask of a group reports its current watermark every update interval to
//!   the job's coordinator (the JobMaster).
//! - The coordinator announces `max allowed = the group's minimum + max drift` to the group's
//!   subtasks whenever it changes.
//! - A subtask whose watermark is above the announced maximum is not polled; it goes on once
//!   an announcement allows its watermark. Until the first announcement it runs freely.
//! - A subtask with no watermark yet, an idle one and a finished one hold nobody back (they
//!   are left out of the minimum); a group with no watermark at all allows everything.
//!
//! Alignment applies where the strategy is applied in a source's chain (in Flink, the
//! strategy given to `fromSource`); elsewhere there is no source to pause.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Timestamp, MAX_WATERMARK};

/// How a strategy aligns its sources: the group, the drift allowed and how often each
/// subtask reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkAlignment {
    /// The alignment group: sources with the same group name align with each other.
    pub group: String,
    /// How far a source's watermark may run ahead of the group's minimum.
    pub max_drift: Duration,
    /// How often a source reports its watermark (Flink's default: 1 s).
    pub update_interval: Duration,
}

impl WatermarkAlignment {
    /// Flink's default update interval.
    pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(1);
}

/// What a source subtask reports of its watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportedWatermark {
    /// Its current watermark.
    At(Timestamp),
    /// None yet, idle, or finished: it holds nobody back.
    Absent,
}

/// One group's members and what it last announced.
#[derive(Debug, Default)]
struct Group {
    members: HashMap<String, Timestamp>,
    max_drift_ms: i64,
    announced: Option<Timestamp>,
}

impl Group {
    fn max_allowed(&self) -> Timestamp {
        match self.members.values().min() {
            Some(min) => min.saturating_add(self.max_drift_ms),
            None => MAX_WATERMARK,
        }
    }
}

/// The coordinator's side: every group's members' watermarks (Flink's `SourceCoordinator`
/// watermark aggregation).
#[derive(Debug, Default)]
pub struct AlignmentGroups {
    groups: HashMap<String, Group>,
}

impl AlignmentGroups {
    /// Takes `member`'s report for `group`; returns the group's new maximum allowed watermark
    /// when it changed (to announce it).
    pub fn report(
        &mut self,
        group: &str,
        member: &str,
        max_drift_ms: i64,
        watermark: ReportedWatermark,
    ) -> Option<Timestamp> {
        let g = self.groups.entry(group.to_string()).or_default();
        g.max_drift_ms = max_drift_ms.max(0);
        match watermark {
            ReportedWatermark::At(w) => {
                g.members.insert(member.to_string(), w);
            }
            ReportedWatermark::Absent => {
                g.members.remove(member);
            }
        }
        let max = g.max_allowed();
        (g.announced != Some(max)).then(|| {
            g.announced = Some(max);
            max
        })
    }

    /// Forgets every report (the job restarts: its subtasks report anew).
    pub fn clear(&mut self) {
        self.groups.clear();
    }
}

/// A source subtask's side: what it was last allowed, and whether it must pause.
#[derive(Debug, Clone)]
pub struct SourceAlignment {
    /// The strategy's alignment.
    pub spec: WatermarkAlignment,
    /// The last maximum the coordinator announced for the group.
    pub max_allowed: Option<Timestamp>,
}

impl SourceAlignment {
    /// Alignment by `spec`, nothing announced yet.
    pub fn new(spec: WatermarkAlignment) -> Self {
        Self {
            spec,
            max_allowed: None,
        }
    }

    /// Whether a source at `watermark` must not be polled now.
    pub fn holds_back(&self, watermark: ReportedWatermark) -> bool {
        match (watermark, self.max_allowed) {
            (ReportedWatermark::At(w), Some(max)) => w > max,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ReportedWatermark::{Absent, At};

    #[test]
    fn the_group_allows_its_minimum_plus_the_drift_and_announces_changes_only() {
        let mut g = AlignmentGroups::default();
        assert_eq!(g.report("g", "a", 100, At(1_000)), Some(1_100));
        assert_eq!(
            g.report("g", "b", 100, At(5_000)),
            None,
            "a is still the minimum"
        );
        assert_eq!(g.report("g", "a", 100, At(1_050)), Some(1_150));
        // Another group is aligned on its own.
        assert_eq!(g.report("h", "c", 10, At(0)), Some(10));
        assert_eq!(g.report("g", "a", 100, At(6_000)), Some(5_100));
        // A member that finished or idles holds nobody back; with none left, all is allowed.
        assert_eq!(g.report("g", "b", 100, Absent), Some(6_100));
        assert_eq!(g.report("g", "a", 100, Absent), Some(MAX_WATERMARK));
        g.clear();
        assert_eq!(g.report("g", "a", 100, At(7)), Some(107));
    }

    #[test]
    fn a_source_pauses_only_above_an_announced_maximum() {
        let spec = WatermarkAlignment {
            group: "g".into(),
            max_drift: Duration::from_millis(100),
            update_interval: WatermarkAlignment::DEFAULT_UPDATE_INTERVAL,
        };
        let mut s = SourceAlignment::new(spec);
        assert!(!s.holds_back(At(i64::MAX - 1)), "nothing announced yet");
        s.max_allowed = Some(1_000);
        assert!(!s.holds_back(At(1_000)));
        assert!(s.holds_back(At(1_001)));
        assert!(!s.holds_back(Absent));
    }
}
