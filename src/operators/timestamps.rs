//! `assign_timestamps_and_watermarks`: gives records their event-time timestamps and emits the
//! watermarks of a [`WatermarkStrategy`] (Flink's `TimestampsAndWatermarksOperator`).
//!
//! ## Rules
//! - Each record's timestamp is the strategy's assigner applied to it (and to the timestamp it
//!   already carried, if any).
//! - The generator sees every record; a punctuated generator's watermark goes out right after
//!   the record that produced it. Periodic generators are asked every emission interval
//!   (processing time). A watermark that does not advance is dropped.
//! - Upstream watermarks are dropped, except the end-of-input maximum, which passes through so
//!   that every window downstream fires.
//! - With idleness, the operator's output goes idle when the generator says so, and active
//!   again before the next record.

use std::sync::Arc;
use std::time::Instant;

use crate::data::batch::NO_TIMESTAMP;
use crate::data::Data;
use crate::eventtime::alignment::{ReportedWatermark, WatermarkAlignment};
use crate::eventtime::{
    Clock, Timestamp, WatermarkGenerator, WatermarkOutput, WatermarkStatus, WatermarkStrategy,
    MAX_WATERMARK, MIN_WATERMARK,
};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};

/// What a generator emitted during one call.
#[derive(Default)]
struct Signals {
    watermark: Option<Timestamp>,
    status: Option<WatermarkStatus>,
}

impl WatermarkOutput for Signals {
    fn emit_watermark(&mut self, watermark: Timestamp) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
    }
    fn mark_idle(&mut self) {
        self.status = Some(WatermarkStatus::Idle);
    }
    fn mark_active(&mut self) {
        self.status = Some(WatermarkStatus::Active);
    }
}

/// Assigns timestamps and generates watermarks.
pub struct TimestampsAndWatermarks<T> {
    strategy: WatermarkStrategy<T>,
    generator: Box<dyn WatermarkGenerator<T>>,
    /// Periodic emission interval in ms; 0 turns periodic emission off.
    interval: i64,
    next_emit: Timestamp,
    current: Timestamp,
    idle: bool,
}

impl<T: Data> TimestampsAndWatermarks<T> {
    /// An operator for `strategy`, emitting periodically every `interval_ms` (0: never).
    pub fn new(strategy: WatermarkStrategy<T>, interval_ms: i64) -> Self {
        Self::with_clock(strategy, interval_ms, Arc::new(Instant::now))
    }

    /// The same with the clock idleness is measured by.
    pub fn with_clock(strategy: WatermarkStrategy<T>, interval_ms: i64, clock: Clock) -> Self {
        Self {
            generator: strategy.create_generator(clock),
            strategy,
            interval: interval_ms.max(0),
            next_emit: MIN_WATERMARK,
            current: MIN_WATERMARK,
            idle: false,
        }
    }

    /// Passes on what a generator emitted: activity first, then the watermark, then idleness.
    fn signal(&mut self, s: Signals, out: &mut Output<'_>) -> Result<(), OperatorError> {
        if s.status == Some(WatermarkStatus::Active) && self.idle {
            self.idle = false;
            out.emit_watermark_status(WatermarkStatus::Active)?;
        }
        if let Some(w) = s.watermark.filter(|w| *w > self.current) {
            if self.idle {
                self.idle = false;
                out.emit_watermark_status(WatermarkStatus::Active)?;
            }
            self.current = w;
            out.emit_watermark(w)?;
        }
        if s.status == Some(WatermarkStatus::Idle) && !self.idle {
            self.idle = true;
            out.emit_watermark_status(WatermarkStatus::Idle)?;
        }
        Ok(())
    }
}

impl<T: Data> Operator for TimestampsAndWatermarks<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        if self.interval > 0 {
            self.next_emit = ctx.clock.now().saturating_add(self.interval);
        }
        Ok(())
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let (records, previous) = batch.into_parts::<T>()?;
        let mut ts = Vec::with_capacity(records.len());
        // Where a generator emitted mid-buffer: (cut before index, what it emitted).
        let mut cuts: Vec<(usize, Signals)> = Vec::new();
        {
            let (strategy, generator) = (&self.strategy, &mut self.generator);
            for (i, r) in records.iter().enumerate() {
                let before = previous
                    .as_ref()
                    .and_then(|p| p.get(i).copied())
                    .unwrap_or(NO_TIMESTAMP);
                let t = strategy.timestamp(r, before);
                ts.push(t);
                let mut s = Signals::default();
                generator.on_event(r, t, &mut s);
                if s.status == Some(WatermarkStatus::Active) {
                    cuts.push((
                        i,
                        Signals {
                            watermark: None,
                            status: s.status.take(),
                        },
                    ));
                }
                if s.watermark.is_some() || s.status.is_some() {
                    cuts.push((i + 1, s));
                }
            }
        }
        if cuts.is_empty() {
            return out.emit(Batch::timed(records, ts));
        }
        // Each segment is moved out once, in order: linear however many cuts there are.
        let (mut records, mut ts) = (records.into_iter(), ts.into_iter());
        let mut done = 0;
        for (cut, s) in cuts {
            if cut > done {
                let head: Vec<T> = records.by_ref().take(cut - done).collect();
                let head_ts: Vec<Timestamp> = ts.by_ref().take(cut - done).collect();
                out.emit(Batch::timed(head, head_ts))?;
                done = cut;
            }
            self.signal(s, out)?;
        }
        out.emit(Batch::timed(records.collect::<Vec<T>>(), ts.collect()))
    }

    fn process_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if watermark == MAX_WATERMARK && self.current < MAX_WATERMARK {
            self.current = MAX_WATERMARK;
            out.emit_watermark(MAX_WATERMARK)?;
        }
        Ok(())
    }

    /// Upstream idleness is the generator's business here, not the input's.
    fn process_watermark_status(
        &mut self,
        _status: WatermarkStatus,
        _out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        (self.interval > 0 && self.current < MAX_WATERMARK).then_some(self.next_emit)
    }

    fn on_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let mut s = Signals::default();
        self.generator.on_periodic_emit(&mut s);
        self.next_emit = now.saturating_add(self.interval);
        self.signal(s, out)
    }

    fn end_input(&mut self, _input: usize, out: &mut Output<'_>) -> Result<(), OperatorError> {
        self.process_watermark(MAX_WATERMARK, out)
    }

    /// Idle, finished or without a watermark yet, it holds no aligned source back.
    fn watermark_alignment(&self) -> Option<(&WatermarkAlignment, ReportedWatermark)> {
        let spec = self.strategy.alignment()?;
        let at = if self.idle || self.current == MIN_WATERMARK || self.current == MAX_WATERMARK {
            ReportedWatermark::Absent
        } else {
            ReportedWatermark::At(self.current)
        };
        Some((spec, at))
    }
}
