//! Triggers: when a window's contents are emitted (Flink's `Trigger` and its built-ins).
//!
//! A trigger is asked on every element added to a window and on every timer it set for that
//! window; it answers CONTINUE, FIRE (emit the window's result), PURGE (drop its contents) or
//! FIRE_AND_PURGE. Its timers and its own state are kept per key and window by the operator;
//! the trigger itself is shared by all of them and holds no state of its own.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

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

/// The timers of one key and window: usually one (the trigger's and the cleanup timer share
/// a time), kept inline; more spill to a vector.
#[derive(Debug, Default)]
pub struct TimerSlots {
    first: Option<(Timestamp, TimeDomain)>,
    rest: Vec<(Timestamp, TimeDomain)>,
}

impl TimerSlots {
    /// Whether the timer is set.
    #[inline]
    pub fn contains(&self, t: &(Timestamp, TimeDomain)) -> bool {
        self.first.as_ref() == Some(t) || self.rest.contains(t)
    }

    /// Sets a timer (the caller checks it is not set yet).
    #[inline]
    pub fn push(&mut self, t: (Timestamp, TimeDomain)) {
        if self.first.is_none() {
            self.first = Some(t);
        } else {
            self.rest.push(t);
        }
    }

    /// Removes a timer; returns whether it was set.
    #[inline]
    pub fn remove(&mut self, t: &(Timestamp, TimeDomain)) -> bool {
        if self.first.as_ref() == Some(t) {
            self.first = self.rest.pop();
            return true;
        }
        match self.rest.iter().position(|x| x == t) {
            Some(i) => {
                self.rest.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes every timer.
    pub fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }

    /// Whether no timer is set.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Every timer set.
    pub fn iter(&self) -> impl Iterator<Item = &(Timestamp, TimeDomain)> {
        self.first.iter().chain(self.rest.iter())
    }
}

/// A trigger's own state for one key and window: the live value, or its bytes as restored
/// from a checkpoint until the trigger first reads it.
pub type TriggerState = Option<StoredState>;

/// A trigger state value, with how to write it into a checkpoint.
pub enum StoredState {
    /// In use.
    Live {
        /// The value.
        value: Box<dyn Any + Send>,
        /// Serializes it (it knows the value's type).
        encode: fn(&(dyn Any + Send)) -> Result<Vec<u8>, String>,
    },
    /// Restored, not read yet.
    Bytes(Vec<u8>),
}

fn encode_as<S: Serialize + 'static>(v: &(dyn Any + Send)) -> Result<Vec<u8>, String> {
    let v = v
        .downcast_ref::<S>()
        .ok_or_else(|| "trigger state of an unexpected type".to_string())?;
    rmp_serde::to_vec(v).map_err(|e| e.to_string())
}

impl StoredState {
    fn live<S: Serialize + Send + 'static>(value: S) -> Self {
        Self::Live {
            value: Box::new(value),
            encode: encode_as::<S>,
        }
    }

    /// The value as an `S` (a default one if it is of another type or does not decode).
    fn into_value<S: Default + DeserializeOwned + Send + 'static>(self) -> S {
        match self {
            Self::Live { value, .. } => value.downcast::<S>().map(|b| *b).unwrap_or_default(),
            Self::Bytes(b) => rmp_serde::from_slice(&b).unwrap_or_default(),
        }
    }

    /// The bytes a checkpoint holds.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Self::Live { value, encode } => encode(value.as_ref()),
            Self::Bytes(b) => Ok(b.clone()),
        }
    }
}

/// What a trigger may read and do for the window it is asked about.
pub struct TriggerContext<'a> {
    pub(crate) watermark: Timestamp,
    pub(crate) processing_time: Timestamp,
    /// Timers set for this key and window.
    pub(crate) timers: &'a mut TimerSlots,
    /// Timers newly set during this call, for the operator's queues.
    pub(crate) registered: &'a mut Vec<(Timestamp, TimeDomain)>,
    pub(crate) state: &'a mut TriggerState,
    /// During `on_merge`: the states of the windows merged into this one.
    pub(crate) merged: Vec<TriggerState>,
}

impl<'a> TriggerContext<'a> {
    /// A context for one key's window: its timers and state, and where new timers are noted.
    pub(crate) fn new(
        watermark: Timestamp,
        processing_time: Timestamp,
        timers: &'a mut TimerSlots,
        state: &'a mut TriggerState,
        registered: &'a mut Vec<(Timestamp, TimeDomain)>,
    ) -> Self {
        Self {
            watermark,
            processing_time,
            timers,
            registered,
            state,
            merged: Vec::new(),
        }
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time (ms since the epoch).
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    fn register(&mut self, time: Timestamp, domain: TimeDomain) {
        if !self.timers.contains(&(time, domain)) {
            self.timers.push((time, domain));
            self.registered.push((time, domain));
        }
    }

    fn delete(&mut self, time: Timestamp, domain: TimeDomain) {
        self.timers.remove(&(time, domain));
    }

    /// Calls `on_event_time` once the watermark reaches `time` (once per time, however often
    /// it is registered).
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.register(time, TimeDomain::EventTime);
    }

    /// Removes an event-time timer of this window.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.delete(time, TimeDomain::EventTime);
    }

    /// Calls `on_processing_time` once the wall clock reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        self.register(time, TimeDomain::ProcessingTime);
    }

    /// Removes a processing-time timer of this window.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.delete(time, TimeDomain::ProcessingTime);
    }

    /// Calls `f` with the trigger's state for this key and window, created with `Default` on
    /// first use (a state of another type than `S` is replaced by a default one). The state
    /// is checkpointed with the window, so it must serialize.
    pub fn with_state<S, R>(&mut self, f: impl FnOnce(&mut S) -> R) -> R
    where
        S: Default + Serialize + DeserializeOwned + Send + 'static,
    {
        let mut state: S = self
            .state
            .take()
            .map(StoredState::into_value)
            .unwrap_or_default();
        let r = f(&mut state);
        *self.state = Some(StoredState::live(state));
        r
    }

    /// The trigger's state for this key and window (a default one if it has none).
    pub fn state<S>(&mut self) -> S
    where
        S: Default + Clone + Serialize + DeserializeOwned + Send + 'static,
    {
        self.with_state(|s: &mut S| s.clone())
    }

    /// Sets the trigger's state for this key and window.
    pub fn set_state<S: Serialize + Send + 'static>(&mut self, value: S) {
        *self.state = Some(StoredState::live(value));
    }

    /// Drops the trigger's state for this key and window.
    pub fn clear_state(&mut self) {
        *self.state = None;
    }

    /// During `on_merge`: takes the states of the windows merged into this one.
    pub fn take_merged_states<S>(&mut self) -> Vec<S>
    where
        S: Default + DeserializeOwned + Send + 'static,
    {
        std::mem::take(&mut self.merged)
            .into_iter()
            .flatten()
            .map(StoredState::into_value)
            .collect()
    }
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
