//! The built-in triggers (Flink's): event time, processing time, count, continuous event and
//! processing time, never, and purging.

use std::sync::Arc;

use crate::eventtime::Timestamp;
use crate::windowing::Window;

use super::{Trigger, TriggerContext, TriggerResult};

/// Fires once the watermark passes the window's end (the default of event-time windows).
/// An element added to a window the watermark has already passed (allowed lateness) fires it
/// again at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTimeTrigger;

impl<T, W: Window> Trigger<T, W> for EventTimeTrigger {
    fn on_element(
        &self,
        _element: &T,
        _timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            TriggerResult::Fire
        } else {
            ctx.register_event_time_timer(window.max_timestamp());
            TriggerResult::Continue
        }
    }

    fn repeats_before_end(&self) -> bool {
        true
    }

    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        _: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_>) {
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
    }
}

/// Fires when the wall clock passes the window's end (the default of processing-time
/// windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessingTimeTrigger;

impl<T, W: Window> Trigger<T, W> for ProcessingTimeTrigger {
    fn on_element(
        &self,
        _element: &T,
        _timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }

    fn on_processing_time(&self, _: Timestamp, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Fire
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_>) {
        if window.max_timestamp() > ctx.current_processing_time() {
            ctx.register_processing_time_timer(window.max_timestamp());
        }
    }
}

/// Fires every `count` elements of a window (and starts counting again).
#[derive(Debug, Clone, Copy)]
pub struct CountTrigger {
    count: u64,
}

impl CountTrigger {
    /// Fires every `count` elements (at least 1).
    pub fn of(count: u64) -> Self {
        Self {
            count: count.max(1),
        }
    }
}

impl<T, W: Window> Trigger<T, W> for CountTrigger {
    fn on_element(
        &self,
        _element: &T,
        _timestamp: Timestamp,
        _window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        let fire = ctx.with_state(|seen: &mut u64| {
            *seen += 1;
            let full = *seen >= self.count;
            if full {
                *seen = 0;
            }
            full
        });
        if fire {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&self, _window: &W, ctx: &mut TriggerContext<'_>) {
        let merged: u64 = ctx.take_merged_states::<u64>().into_iter().sum();
        ctx.with_state(|seen: &mut u64| *seen += merged);
    }
}

/// Fires every `interval` of event time within a window, and at its end.
#[derive(Debug, Clone, Copy)]
pub struct ContinuousEventTimeTrigger {
    interval: i64,
}

impl ContinuousEventTimeTrigger {
    /// Fires every `interval` ms of event time (at least 1).
    pub fn of(interval: std::time::Duration) -> Self {
        Self {
            interval: (interval.as_millis() as i64).max(1),
        }
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousEventTimeTrigger {
    fn on_element(
        &self,
        _element: &T,
        timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.current_watermark() {
            return TriggerResult::Fire;
        }
        ctx.register_event_time_timer(window.max_timestamp());
        if ctx.state::<Option<Timestamp>>().is_none() {
            let start = timestamp - timestamp.rem_euclid(self.interval);
            let next = start
                .saturating_add(self.interval)
                .min(window.max_timestamp());
            ctx.set_state(Some(next));
            ctx.register_event_time_timer(next);
        }
        TriggerResult::Continue
    }

    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            return TriggerResult::Fire;
        }
        if ctx.state::<Option<Timestamp>>() == Some(time) {
            let next = time
                .saturating_add(self.interval)
                .min(window.max_timestamp());
            ctx.set_state(Some(next));
            ctx.register_event_time_timer(next);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_>) {
        let earliest = ctx
            .take_merged_states::<Option<Timestamp>>()
            .into_iter()
            .flatten()
            .chain(ctx.state::<Option<Timestamp>>())
            .min();
        if let Some(next) = earliest {
            ctx.set_state(Some(next));
            ctx.register_event_time_timer(next);
        }
        if window.max_timestamp() > ctx.current_watermark() {
            ctx.register_event_time_timer(window.max_timestamp());
        }
    }
}

/// Fires every `interval` of processing time while a window has elements.
#[derive(Debug, Clone, Copy)]
pub struct ContinuousProcessingTimeTrigger {
    interval: i64,
}

impl ContinuousProcessingTimeTrigger {
    /// Fires every `interval` ms of processing time (at least 1).
    pub fn of(interval: std::time::Duration) -> Self {
        Self {
            interval: (interval.as_millis() as i64).max(1),
        }
    }
}

impl<T, W: Window> Trigger<T, W> for ContinuousProcessingTimeTrigger {
    fn on_element(
        &self,
        _element: &T,
        _timestamp: Timestamp,
        _window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if ctx.state::<Option<Timestamp>>().is_none() {
            let now = ctx.current_processing_time();
            let next = (now - now.rem_euclid(self.interval)).saturating_add(self.interval);
            ctx.set_state(Some(next));
            ctx.register_processing_time_timer(next);
        }
        TriggerResult::Continue
    }

    fn on_processing_time(
        &self,
        time: Timestamp,
        _: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if ctx.state::<Option<Timestamp>>() == Some(time) {
            let next = time.saturating_add(self.interval);
            ctx.set_state(Some(next));
            ctx.register_processing_time_timer(next);
            return TriggerResult::Fire;
        }
        TriggerResult::Continue
    }
}

/// Never fires (the default of global windows, which need a trigger of their own).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverTrigger;

impl<T, W: Window> Trigger<T, W> for NeverTrigger {
    fn on_element(&self, _: &T, _: Timestamp, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }
    fn can_merge(&self) -> bool {
        true
    }
}

/// Turns every FIRE of another trigger into FIRE_AND_PURGE.
pub struct PurgingTrigger<T, W> {
    inner: Arc<dyn Trigger<T, W>>,
}

impl<T, W> Clone for PurgingTrigger<T, W> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static, W: Window> PurgingTrigger<T, W> {
    /// Purges whenever `inner` fires.
    pub fn of(inner: impl Trigger<T, W>) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    fn purging(r: TriggerResult) -> TriggerResult {
        if r == TriggerResult::Fire {
            TriggerResult::FireAndPurge
        } else {
            r
        }
    }
}

impl<T: Send + Sync + 'static, W: Window> Trigger<T, W> for PurgingTrigger<T, W> {
    fn on_element(
        &self,
        element: &T,
        timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        Self::purging(self.inner.on_element(element, timestamp, window, ctx))
    }
    fn on_event_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        Self::purging(self.inner.on_event_time(time, window, ctx))
    }
    fn on_processing_time(
        &self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        Self::purging(self.inner.on_processing_time(time, window, ctx))
    }
    fn can_merge(&self) -> bool {
        self.inner.can_merge()
    }
    fn on_merge(&self, window: &W, ctx: &mut TriggerContext<'_>) {
        self.inner.on_merge(window, ctx)
    }
    fn clear(&self, window: &W, ctx: &mut TriggerContext<'_>) {
        self.inner.clear(window, ctx)
    }
}
