//! What a trigger may read and do for the window it is asked about: the clocks, the timers
//! and the trigger's own state, kept per key and window by the operator.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::eventtime::Timestamp;

use super::TimeDomain;

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
