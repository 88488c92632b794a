//! `KeyedProcessFunction`: a process function on a keyed stream, with the current key, the
//! record's timestamp, and timers per key in event time and processing time (Flink's
//! `KeyedProcessFunction`).

use crate::api::functions::SideOutputs;
use crate::api::{Collector, Data, Key, OutputTag};
use crate::data::UserError;
use crate::eventtime::timers::TimerService;
use crate::eventtime::Timestamp;
use crate::operators::RuntimeContext;
use crate::state::keyed::{AggregatingState, ListState, MapState, ReducingState, ValueState};
use crate::state::{
    AggregatingStateDescriptor, KeyedStateBackend, ListStateDescriptor, MapStateDescriptor,
    ReducingStateDescriptor, StateError, ValueStateDescriptor,
};
use crate::windowing::functions::AggregateFunction;
use crate::windowing::triggers::TimeDomain;

/// What a keyed process function may read and do besides emitting on its main output.
pub struct KeyedContext<'a, K: Ord> {
    pub(crate) key: &'a K,
    pub(crate) timestamp: Option<Timestamp>,
    pub(crate) time_domain: Option<TimeDomain>,
    pub(crate) timers: &'a mut TimerService<K>,
    pub(crate) processing_time: Timestamp,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) runtime: &'a RuntimeContext,
    pub(crate) state: &'a mut KeyedStateBackend<K>,
}

impl<K: Ord + Clone> KeyedContext<'_, K> {
    /// The key of the record (or timer) being processed.
    pub fn current_key(&self) -> &K {
        self.key
    }

    /// The record's timestamp, or the timer's in `on_timer` (event time).
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// In `on_timer`: the domain of the timer that fired.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.time_domain
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.timers.current_watermark()
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Calls `on_timer` for the current key once the watermark reaches `time`. Registering the
    /// same time twice for a key sets one timer.
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.timers
            .register_event_time_timer(self.key.clone(), time);
    }

    /// Deletes the current key's event-time timer at `time`, if set.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.timers.delete_event_time_timer(self.key, time);
    }

    /// Calls `on_timer` for the current key once processing time reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        self.timers
            .register_processing_time_timer(self.key.clone(), time);
    }

    /// Deletes the current key's processing-time timer at `time`, if set.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.timers.delete_processing_time_timer(self.key, time);
    }

    /// Emits `value` to the side output `tag`, with the current timestamp.
    pub fn output<X: Data>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.push(tag, value, self.timestamp);
    }

    /// Where this instance runs.
    pub fn runtime(&self) -> &RuntimeContext {
        self.runtime
    }
}

impl<K: Key + Ord> KeyedContext<'_, K> {
    /// The current key's value state described by `d`.
    pub fn value_state<T: Data>(
        &mut self,
        d: &ValueStateDescriptor<T>,
    ) -> Result<ValueState<'_, K, T>, StateError> {
        self.state.value_state(d, self.key)
    }

    /// The current key's list state described by `d`.
    pub fn list_state<T: Data>(
        &mut self,
        d: &ListStateDescriptor<T>,
    ) -> Result<ListState<'_, K, T>, StateError> {
        self.state.list_state(d, self.key)
    }

    /// The current key's map state described by `d`.
    pub fn map_state<UK: Key, UV: Data>(
        &mut self,
        d: &MapStateDescriptor<UK, UV>,
    ) -> Result<MapState<'_, K, UK, UV>, StateError> {
        self.state.map_state(d, self.key)
    }

    /// The current key's reducing state described by `d`.
    pub fn reducing_state<T: Data>(
        &mut self,
        d: &ReducingStateDescriptor<T>,
    ) -> Result<ReducingState<'_, K, T>, StateError> {
        self.state.reducing_state(d, self.key)
    }

    /// The current key's aggregating state described by `d`.
    pub fn aggregating_state<IN, A>(
        &mut self,
        d: &AggregatingStateDescriptor<IN, A>,
    ) -> Result<AggregatingState<'_, K, IN, A>, StateError>
    where
        A: AggregateFunction<IN>,
        A::Acc: Data,
    {
        self.state.aggregating_state(d, self.key)
    }
}

/// A function of each record of a keyed stream and of its key's timers.
pub trait KeyedProcessFunction<K: Ord, I, O>: Send + 'static {
    /// Called once before the first record.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    /// Processes one record.
    fn process_element(
        &mut self,
        value: I,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, O>,
    ) -> Result<(), UserError>;

    /// A timer of `ctx.current_key()` fired at `timestamp`.
    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        _ctx: &mut KeyedContext<'_, K>,
        _out: &mut Collector<'_, O>,
    ) -> Result<(), UserError> {
        Ok(())
    }

    /// Called once at the end.
    fn close(&mut self) -> Result<(), UserError> {
        Ok(())
    }
}
