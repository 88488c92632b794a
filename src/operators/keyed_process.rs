//! Runs a [`KeyedProcessFunction`]: records with their key, and the timers of each key.
//!
//! Outputs of `process_element` carry the record's timestamp; outputs of an event-time timer
//! carry the timer's time, those of a processing-time timer none (as in Flink). Timers set
//! while others fire, at or before the watermark, fire in the same advance.

use std::marker::PhantomData;

use crate::api::functions::{user_error, SideOutputs};
use crate::api::keyed_process::{KeyedContext, KeyedProcessFunction};
use crate::api::{Collector, Data, Key};
use crate::data::batch::{BatchBuilder, NO_TIMESTAMP};
use crate::eventtime::timers::TimerService;
use crate::eventtime::{ProcessingClock, Timestamp};
use crate::operators::keyed::KeyFn;
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};
use crate::state::{KeyedStateBackend, RestoredState, StateSnapshot};
use crate::windowing::triggers::TimeDomain;

/// Runs a keyed process function.
pub struct KeyedProcessOperator<K: Ord, I, O, P> {
    name: String,
    key: KeyFn<K, I>,
    f: P,
    timers: TimerService<K>,
    side: SideOutputs,
    runtime: RuntimeContext,
    clock: ProcessingClock,
    state: KeyedStateBackend<K>,
    /// State to restore once the backend is opened.
    restored: Option<RestoredState>,
    _t: PhantomData<fn(I) -> O>,
}

/// The name of a keyed process operator's timers in checkpoints.
const TIMERS: &str = "_timers";

impl<K: Key + Ord, I: Data, O: Data, P: KeyedProcessFunction<K, I, O>>
    KeyedProcessOperator<K, I, O, P>
{
    /// An operator running `f` over records keyed by `key`.
    pub fn new(name: &str, key: KeyFn<K, I>, f: P) -> Self {
        Self {
            name: name.to_string(),
            key,
            f,
            timers: TimerService::default(),
            side: SideOutputs::default(),
            runtime: RuntimeContext::standalone(name),
            clock: ProcessingClock::system(),
            state: KeyedStateBackend::heap(crate::state::DEFAULT_MAX_PARALLELISM),
            restored: None,
            _t: PhantomData,
        }
    }

    /// Fires `due` timers of `domain`; event-time outputs get the timer's time.
    fn fire(
        &mut self,
        domain: TimeDomain,
        due: Vec<(Timestamp, K)>,
        out: &mut BatchBuilder<O>,
    ) -> Result<(), OperatorError> {
        let now = self.clock.now();
        let mut buf = Vec::new();
        for (t, key) in due {
            let ts = (domain == TimeDomain::EventTime).then_some(t);
            let mut ctx = KeyedContext {
                key: &key,
                timestamp: ts,
                time_domain: Some(domain),
                timers: &mut self.timers,
                processing_time: now,
                side: &mut self.side,
                runtime: &self.runtime,
                state: &mut self.state,
            };
            self.f
                .on_timer(t, &mut ctx, &mut Collector::new(&mut buf))
                .map_err(|e| user_error(&self.name, e))?;
            for o in buf.drain(..) {
                out.push(o, ts);
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        mut built: BatchBuilder<O>,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if !built.is_empty() {
            out.emit(built.take(0))?;
        }
        self.side.flush(out)
    }
}

impl<K, I, O, P> Operator for KeyedProcessOperator<K, I, O, P>
where
    K: Key + Ord,
    I: Data,
    O: Data,
    P: KeyedProcessFunction<K, I, O>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.runtime = ctx.clone();
        self.clock = ctx.clock.clone();
        let state_error = |e| OperatorError::state(&ctx.operator_name, e);
        self.state = KeyedStateBackend::for_context(ctx).map_err(state_error)?;
        if let Some(r) = self.restored.take() {
            self.state.restore(r, &[TIMERS]).map_err(state_error)?;
        }
        self.f.open(ctx).map_err(|e| user_error(&self.name, e))
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        let timers = restored
            .keyed::<K, Vec<(bool, Timestamp)>>(TIMERS)
            .map_err(|e| OperatorError::state(&self.name, e))?;
        self.timers.restore(timers);
        self.restored = Some(restored.clone());
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<StateSnapshot, OperatorError> {
        let mut snapshot = StateSnapshot::default();
        let timers = self.timers.by_key();
        if !timers.is_empty() {
            let maxp = self.runtime.max_parallelism;
            snapshot
                .defer(move |out| out.add_keyed(TIMERS, maxp, timers.iter().map(|(k, t)| (k, t))));
        }
        self.state
            .snapshot(&mut snapshot)
            .map_err(|e| OperatorError::state(&self.name, e))?;
        Ok(snapshot)
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let (records, ts) = batch.into_parts::<I>()?;
        let now = self.clock.now();
        let mut built = BatchBuilder::<O>::new();
        let mut buf = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            let t = ts
                .as_ref()
                .and_then(|t| t.get(i).copied())
                .filter(|t| *t != NO_TIMESTAMP);
            let key = (self.key)(&r);
            let mut ctx = KeyedContext {
                key: &key,
                timestamp: t,
                time_domain: None,
                timers: &mut self.timers,
                processing_time: now,
                side: &mut self.side,
                runtime: &self.runtime,
                state: &mut self.state,
            };
            self.f
                .process_element(r, &mut ctx, &mut Collector::new(&mut buf))
                .map_err(|e| user_error(&self.name, e))?;
            for o in buf.drain(..) {
                built.push(o, t);
            }
        }
        self.emit(built, out)
    }

    fn process_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let mut built = BatchBuilder::<O>::new();
        let mut due = self.timers.advance_watermark(watermark);
        while !due.is_empty() {
            self.fire(TimeDomain::EventTime, due, &mut built)?;
            due = self.timers.pop_event_due();
        }
        self.emit(built, out)?;
        out.emit_watermark(watermark)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.timers.next_processing_time()
    }

    fn on_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let mut built = BatchBuilder::<O>::new();
        let due = self.timers.advance_processing_time(now);
        self.fire(TimeDomain::ProcessingTime, due, &mut built)?;
        self.emit(built, out)
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.f.close().map_err(|e| user_error(&self.name, e))
    }
}
