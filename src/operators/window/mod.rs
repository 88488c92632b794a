//! The window operator (Flink's `WindowOperator` and `EvictingWindowOperator`): puts each
//! element of a keyed stream into its windows, asks the trigger when to emit, and emits what
//! the window function makes of a window's contents.
//!
//! ## Rules (Flink's)
//! - An element needs a timestamp in event time (a missing one fails the job).
//! - A window is *late* once the watermark passed its end plus the allowed lateness (its
//!   cleanup time); an element whose every window is late is dropped, counted in
//!   `numLateRecordsDropped`, or sent to the late-data side output.
//! - Within the allowed lateness a late element is added to its window, and the event-time
//!   trigger fires the window again at once: the result is updated.
//! - At its cleanup time a window's contents, trigger state and timers are removed.
//! - Results carry the window's last timestamp (`end - 1`).
//! - Sessions merge: an element's window merges with every window of its key it intersects
//!   (touching counts); contents are merged by the window function's merge, and the trigger
//!   sets the merged window's timers.
//!
//! ## State and timers
//! A key's window (its contents, trigger state and timers) is one slot in its window's table of
//! keys ([`state`]): an element costs one probe of a small table, and the key is moved in, never
//! cloned, when its window is new. Timers are deduplicated per key, window and time in the
//! slot; the queues ordered by time hold each registration once (with the key's hash) and are
//! checked against the slot when they fire, so a deleted timer is simply skipped.

mod elements;
mod sessions;
mod state;
mod timers;

use std::sync::Arc;

use crate::api::functions::{user_error, SideOutputs};
use crate::api::{Data, Key, OutputTag};
use crate::data::batch::NO_TIMESTAMP;
use crate::eventtime::{ProcessingClock, Timestamp, MIN_WATERMARK};
use crate::metrics::IoMetrics;
use crate::operators::keyed::{KeyFn, KeyRefFn};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};
use crate::state::{RestoredState, StateSnapshot};
use crate::util::FastMap;
use crate::windowing::assigners::Assigner;
use crate::windowing::functions::{WindowContents, WindowContext};
use crate::windowing::triggers::{TimeDomain, Trigger, TriggerResult};
use crate::windowing::Window;

use state::{Slot, WindowState};
use timers::TimerQueues;

/// A key's window as a checkpoint holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedWindow<W, A> {
    window: W,
    contents: Option<A>,
    /// `(time, event time?)`.
    timers: Vec<(Timestamp, bool)>,
    trigger: Option<serde_bytes::ByteBuf>,
}

/// The name of the window operator's state in checkpoints.
const WINDOWS: &str = "windows";

/// How a window operator is set up (what the API collects before the job runs).
pub struct WindowSpec<K, T, W> {
    /// The key of an element.
    pub key: KeyFn<K, T>,
    /// The key inside an element, when the stream was keyed by a field.
    pub key_ref: Option<KeyRefFn<K, T>>,
    /// The window assigner.
    pub assigner: Arc<dyn Assigner<T, W>>,
    /// The trigger (the assigner's default unless set).
    pub trigger: Arc<dyn Trigger<T, W>>,
    /// Allowed lateness in ms (event time only).
    pub allowed_lateness: i64,
    /// Where late elements go instead of being dropped.
    pub late_tag: Option<OutputTag<T>>,
}

impl<K, T, W> Clone for WindowSpec<K, T, W> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            key_ref: self.key_ref.clone(),
            assigner: self.assigner.clone(),
            trigger: self.trigger.clone(),
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag.clone(),
        }
    }
}

/// What emitting a window needs besides the slot.
struct Emitter<'a, O> {
    name: &'a str,
    watermark: Timestamp,
    now: Timestamp,
    side: &'a mut SideOutputs,
    results: &'a mut Vec<O>,
    result_ts: &'a mut Vec<Timestamp>,
}

/// Does what a trigger answered for a slot: emits its window, drops its contents.
fn apply<K, T, W: Window, C: WindowContents<K, T, W>>(
    result: TriggerResult,
    contents: &mut C,
    window: &W,
    slot: &mut Slot<K, C::Acc>,
    e: Emitter<'_, C::Out>,
) -> Result<(), OperatorError> {
    if result.is_fire() {
        if let Some(acc) = slot.contents.as_mut() {
            let before = e.results.len();
            let mut ctx = WindowContext {
                window,
                watermark: e.watermark,
                processing_time: e.now,
                side: e.side,
            };
            contents
                .fire(&slot.key, acc, &mut ctx, e.results)
                .map_err(|err| user_error(e.name, err))?;
            if e.results.len() > before {
                e.result_ts.resize(e.results.len(), window.max_timestamp());
            }
        }
    }
    if result.is_purge() {
        slot.contents = None;
    }
    Ok(())
}

/// The window operator.
pub struct WindowOperator<K, T, W, C: WindowContents<K, T, W>> {
    name: String,
    spec: WindowSpec<K, T, W>,
    contents: C,
    state: WindowState<K, W, C::Acc>,
    /// Merging assigners: each key's current windows, sorted (they never intersect).
    sessions: FastMap<K, Vec<W>>,
    timers: TimerQueues<K, W>,
    watermark: Timestamp,
    results: Vec<C::Out>,
    result_ts: Vec<Timestamp>,
    side: SideOutputs,
    assigned: Vec<W>,
    absorbed: Vec<W>,
    metrics: Option<Arc<IoMetrics>>,
    event_time: bool,
    merging: bool,
    max_parallelism: usize,
    /// The trigger's `on_element` need not be called for a window that holds elements and
    /// whose end the watermark has not reached (its timers are set), and windows do not merge.
    repeating_trigger: bool,
    clock: ProcessingClock,
}

impl<K, T, W, C> WindowOperator<K, T, W, C>
where
    K: Key,
    T: Data,
    W: Window,
    C: WindowContents<K, T, W>,
{
    /// A window operator named `name`.
    pub fn new(name: &str, spec: WindowSpec<K, T, W>, contents: C) -> Self {
        Self {
            name: name.to_string(),
            contents,
            state: WindowState::new(),
            sessions: FastMap::default(),
            timers: TimerQueues::new(),
            watermark: MIN_WATERMARK,
            results: Vec::new(),
            result_ts: Vec::new(),
            side: SideOutputs::default(),
            assigned: Vec::new(),
            absorbed: Vec::new(),
            metrics: None,
            event_time: spec.assigner.is_event_time(),
            merging: spec.assigner.is_merging(),
            max_parallelism: crate::state::DEFAULT_MAX_PARALLELISM,
            repeating_trigger: spec.trigger.repeats_before_end() && !spec.assigner.is_merging(),
            clock: ProcessingClock::system(),
            spec,
        }
    }

    fn is_event_time(&self) -> bool {
        self.event_time
    }

    /// When a window's state is removed: its end plus the allowed lateness in event time,
    /// its end in processing time.
    fn cleanup_time(&self, w: &W) -> Timestamp {
        if self.is_event_time() {
            w.max_timestamp().saturating_add(self.spec.allowed_lateness)
        } else {
            w.max_timestamp()
        }
    }

    fn cleanup_domain(&self) -> TimeDomain {
        if self.is_event_time() {
            TimeDomain::EventTime
        } else {
            TimeDomain::ProcessingTime
        }
    }

    fn is_window_late(&self, w: &W) -> bool {
        self.is_event_time() && self.cleanup_time(w) <= self.watermark
    }

    fn failed(&self, message: String) -> OperatorError {
        OperatorError::Failed {
            operator: self.name.clone(),
            message,
        }
    }

    /// Emits the results and side outputs gathered so far.
    fn flush(&mut self, out: &mut Output<'_>) -> Result<(), OperatorError> {
        if !self.results.is_empty() {
            let results = std::mem::take(&mut self.results);
            let ts = std::mem::take(&mut self.result_ts);
            out.emit(Batch::timed(results, ts))?;
        }
        self.side.flush(out)
    }
}

impl<K, T, W, C> Operator for WindowOperator<K, T, W, C>
where
    K: Key,
    T: Data,
    W: Window,
    C: WindowContents<K, T, W>,
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.metrics = ctx.metrics.clone();
        self.clock = ctx.clock.clone();
        self.max_parallelism = ctx.max_parallelism;
        self.contents
            .open(ctx)
            .map_err(|e| user_error(&self.name, e))
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let (records, ts) = batch.into_parts::<T>()?;
        let now = self.clock.now();
        let key_ref = self.spec.key_ref.clone();
        match ts {
            Some(ts) => {
                for (r, t) in records.into_iter().zip(ts) {
                    self.process_element(r, t, now, key_ref.as_ref())?;
                }
            }
            None => {
                for r in records {
                    self.process_element(r, NO_TIMESTAMP, now, key_ref.as_ref())?;
                }
            }
        }
        self.flush(out)
    }

    fn process_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if watermark > self.watermark {
            self.watermark = watermark;
            let now = self.clock.now();
            self.fire_timers(TimeDomain::EventTime, watermark, now)?;
            self.flush(out)?;
        }
        out.emit_watermark(watermark)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.timers.processing.keys().next().copied()
    }

    /// Every key's windows: contents, timers and trigger state, copied at the barrier.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<StateSnapshot, OperatorError> {
        let mut copy: Vec<(K, SavedWindow<W, C::Acc>)> = Vec::new();
        for (w, slot) in self.state.iter() {
            let trigger = match &slot.trigger_state {
                Some(t) => Some(serde_bytes::ByteBuf::from(
                    t.to_bytes()
                        .map_err(|e| self.failed(format!("trigger state: {e}")))?,
                )),
                None => None,
            };
            copy.push((
                slot.key.clone(),
                SavedWindow {
                    window: w.clone(),
                    contents: slot.contents.clone(),
                    timers: slot
                        .timers
                        .iter()
                        .map(|(t, d)| (*t, *d == TimeDomain::EventTime))
                        .collect(),
                    trigger,
                },
            ));
        }
        let mut snapshot = StateSnapshot::default();
        if !copy.is_empty() {
            let maxp = self.max_parallelism;
            snapshot.defer(move |out| {
                let mut by_key: FastMap<&K, Vec<&SavedWindow<W, C::Acc>>> = FastMap::default();
                for (k, w) in &copy {
                    by_key.entry(k).or_default().push(w);
                }
                out.add_keyed(WINDOWS, maxp, by_key.iter().map(|(k, v)| (*k, v)))
            });
        }
        Ok(snapshot)
    }

    /// Puts back every window of the keys this subtask owns, with its timers.
    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        let entries = restored
            .keyed::<K, Vec<SavedWindow<W, C::Acc>>>(WINDOWS)
            .map_err(|e| OperatorError::state(&self.name, e))?;
        for (key, windows) in entries {
            let hash = self.state.key_hash(&key);
            for saved in windows {
                let mut slot = Slot::new(key.clone());
                slot.contents = saved.contents;
                slot.trigger_state = saved
                    .trigger
                    .map(|b| crate::windowing::triggers::StoredState::Bytes(b.into_vec()));
                for (t, event) in saved.timers {
                    let domain = if event {
                        TimeDomain::EventTime
                    } else {
                        TimeDomain::ProcessingTime
                    };
                    slot.timers.push((t, domain));
                    self.timers.registered.push((t, domain));
                }
                self.timers.queue_registered(hash, &key, &saved.window);
                if self.merging {
                    self.sessions
                        .entry(key.clone())
                        .or_default()
                        .push(saved.window.clone());
                }
                self.state.put(&saved.window, slot);
            }
        }
        for windows in self.sessions.values_mut() {
            windows.sort();
        }
        Ok(())
    }

    fn on_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        self.fire_timers(TimeDomain::ProcessingTime, now, now)?;
        self.flush(out)
    }
}
