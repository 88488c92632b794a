//! Watermark alignment at a source subtask ([`crate::eventtime::alignment`]): it reports its
//! watermark every update interval, through its TaskManager to the JobMaster, and is not
//! polled while its group's announced maximum is below its watermark.

use super::*;
use crate::actors::task_manager::{AnnounceMaxWatermark, ReportWatermark};
use crate::eventtime::alignment::{ReportedWatermark, SourceAlignment};

impl Subtask {
    /// Where the subtask reports its watermark when its source is aligned.
    pub fn reporting_watermarks_to(mut self, to: Recipient<ReportWatermark>) -> Self {
        self.watermark_reports = Some(to);
        self
    }

    /// Starts reporting if the chain aligns its source's watermarks (once the chain is built).
    pub(super) fn start_alignment(&mut self, ctx: &mut Context<Self>) {
        if self.source.is_none() || self.watermark_reports.is_none() {
            return;
        }
        let Some((spec, _)) = self.chain.as_ref().and_then(Chain::watermark_alignment) else {
            return;
        };
        let every = spec.update_interval;
        self.alignment = Some(SourceAlignment::new(spec.clone()));
        self.report_watermark();
        ctx.run_interval(every, |act, _| {
            if act.phase != Phase::Done {
                act.report_watermark();
            }
        });
    }

    /// The source's watermark as alignment counts it (absent once the source ended).
    fn aligned_watermark(&self) -> ReportedWatermark {
        if self.source.is_none() {
            return ReportedWatermark::Absent;
        }
        self.chain
            .as_ref()
            .and_then(Chain::watermark_alignment)
            .map_or(ReportedWatermark::Absent, |(_, w)| w)
    }

    /// Tells the JobMaster the source's watermark.
    pub(super) fn report_watermark(&mut self) {
        let watermark = self.aligned_watermark();
        let (Some(a), Some(to)) = (self.alignment.as_ref(), self.watermark_reports.as_ref()) else {
            return;
        };
        // One report per update interval (and one when the source ends): bounded by the timer,
        // not by the TaskManager's mailbox.
        to.do_send(ReportWatermark {
            job_id: self.tdd.job_id,
            source: format!("{}-{}", self.tdd.vertex, self.tdd.subtask),
            group: a.spec.group.clone(),
            max_drift_ms: i64::try_from(a.spec.max_drift.as_millis()).unwrap_or(i64::MAX),
            watermark,
        });
    }

    /// Whether the source must not be polled now: its watermark is above what its group
    /// allows.
    pub(super) fn held_back_by_alignment(&self) -> bool {
        self.alignment
            .as_ref()
            .is_some_and(|a| a.holds_back(self.aligned_watermark()))
    }
}

impl Handler<AnnounceMaxWatermark> for Subtask {
    type Result = ();

    fn handle(&mut self, msg: AnnounceMaxWatermark, ctx: &mut Self::Context) {
        if self
            .alignment
            .as_ref()
            .is_none_or(|a| a.spec.group != msg.group)
        {
            return;
        }
        let was_held = self.held_back_by_alignment();
        if let Some(a) = self.alignment.as_mut() {
            a.max_allowed = Some(msg.max_allowed);
        }
        if was_held && self.phase == Phase::Running && !self.held_back_by_alignment() {
            self.pump(ctx);
        }
    }
}
