//! Triggers: when a window's contents are emitted (Flink's `Trigger` and its built-ins).
//!
//! A trigger is asked on every element added to a window and on every timer it set for that
//! window; it answers CONTINUE, FIRE (emit the window's result), PURGE (drop its contents) or
//! FIRE_AND_PURGE. Its timers and its own state are kept per key and window by the operator;
//! the trigger itself is shared by all of them and holds no state of its own.

mod builtins;
mod context;

pub use builtins::{
    ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger, CountTrigger, EventTimeTrigger,
    NeverTrigger, ProcessingTimeTrigger, PurgingTrigger,
};
pub use context::{StoredState, TimerSlots, TriggerContext, TriggerState};

use crate::eventtime::Timestamp;
use crate::windowing::Window;

/// What a trigger asks the window operator to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    /// Nothing.
    Continue,
    /// Emit the window's result and keep its contents.
    Fire,
    /// Drop the window's contents without emitting.
    Purge,
    /// Emit the window's result, then drop its contents.
    FireAndPurge,
}

impl TriggerResult {
    /// Whether the window is emitted.
    pub fn is_fire(self) -> bool {
        matches!(self, Self::Fire | Self::FireAndPurge)
    }

    /// Whether the window's contents are dropped.
    pub fn is_purge(self) -> bool {
        matches!(self, Self::Purge | Self::FireAndPurge)
    }
}

/// The clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeDomain {
    /// The watermark.
    EventTime,
    /// The wall clock.
    ProcessingTime,
}

/// Decides when windows fire (Flink's `Trigger`).
pub trait Trigger<T, W: Window>: Send + Sync + 'static {
    /// An element was added to `window`.
    fn on_element(
        &self,
        element: &T,
        timestamp: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;

    /// An event-time timer of `window` fired at `time` (by default: nothing).
    fn on_event_time(
        &self,
        _time: Timestamp,
        _window: &W,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    /// A processing-time timer of `window` fired at `time` (by default: nothing).
    fn on_processing_time(
        &self,
        _time: Timestamp,
        _window: &W,
        _ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        TriggerResult::Continue
    }

    /// Whether `on_element`, for a window that already holds elements and whose end the
    /// watermark has not reached, only registers timers it registered before and answers
    /// CONTINUE. The operator then skips the call for such elements (by default: no).
    fn repeats_before_end(&self) -> bool {
        false
    }

    /// Whether the trigger works with merging (session) windows.
    fn can_merge(&self) -> bool {
        false
    }

    /// Windows were merged into `window`: set its timers (the merged windows' are dropped).
    fn on_merge(&self, _window: &W, _ctx: &mut TriggerContext<'_>) {}

    /// The window is being removed: delete its timers and state.
    fn clear(&self, _window: &W, ctx: &mut TriggerContext<'_>) {
        ctx.timers.clear();
        ctx.clear_state();
    }
}
