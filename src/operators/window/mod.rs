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

mod state;

use std::collections::BTreeMap;
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
use crate::windowing::triggers::{TimeDomain, Trigger, TriggerContext, TriggerResult};
use crate::windowing::Window;

use state::{Group, KeySource, Slot, WindowState};

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

/// A queued timer of one key and window (its time is the queue's key).
struct Queued<K, W> {
    hash: u64,
    key: K,
    window: W,
}

type TimerQueue<K, W> = BTreeMap<Timestamp, Vec<Queued<K, W>>>;

/// The event-time and processing-time timer queues, and the timers a trigger call set. Timers
/// of one time fire in the order they were set.
struct TimerQueues<K, W> {
    event: TimerQueue<K, W>,
    processing: TimerQueue<K, W>,
    registered: Vec<(Timestamp, TimeDomain)>,
}

impl<K: Clone, W: Clone> TimerQueues<K, W> {
    fn new() -> Self {
        Self {
            event: BTreeMap::new(),
            processing: BTreeMap::new(),
            registered: Vec::new(),
        }
    }

    /// Queues the timers registered during the last trigger call for `key`'s `window`.
    fn queue_registered(&mut self, hash: u64, key: &K, window: &W) {
        for (time, domain) in self.registered.drain(..) {
            let queue = match domain {
                TimeDomain::EventTime => &mut self.event,
                TimeDomain::ProcessingTime => &mut self.processing,
            };
            queue.entry(time).or_default().push(Queued {
                hash,
                key: key.clone(),
                window: window.clone(),
            });
        }
    }

    /// Takes the timers of the earliest time if it is at most `time`.
    fn pop_due(
        &mut self,
        domain: TimeDomain,
        time: Timestamp,
    ) -> Option<(Timestamp, Vec<Queued<K, W>>)> {
        let queue = match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        };
        let first = queue.first_entry()?;
        if *first.key() > time {
            return None;
        }
        Some(first.remove_entry())
    }
}

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

/// The operator's parts an element's slot update uses (borrowed beside the slot).
struct Shared<'a, K, T, W, C: WindowContents<K, T, W>> {
    name: &'a str,
    spec: &'a WindowSpec<K, T, W>,
    contents: &'a mut C,
    timers: &'a mut TimerQueues<K, W>,
    side: &'a mut SideOutputs,
    results: &'a mut Vec<C::Out>,
    result_ts: &'a mut Vec<Timestamp>,
    watermark: Timestamp,
    event_time: bool,
    repeating_trigger: bool,
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
    /// Merging assigners: each key's current windows.
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

    /// Adds one element to each of its windows.
    fn process_element(
        &mut self,
        value: T,
        ts: Timestamp,
        now: Timestamp,
        key_ref: Option<&KeyRefFn<K, T>>,
    ) -> Result<(), OperatorError> {
        if self.is_event_time() && ts == NO_TIMESTAMP {
            return Err(self.failed(
                "a record has no timestamp: event-time windows need assign_timestamps_and_watermarks() (or a source that sets timestamps) before them".into(),
            ));
        }
        let mut assigned = std::mem::take(&mut self.assigned);
        assigned.clear();
        self.spec
            .assigner
            .assign(&value, ts, now, &mut assigned)
            .map_err(|e| self.failed(e.to_string()))?;
        if let (Some(key_ref), false) = (key_ref, self.merging) {
            let mut skipped = true;
            for w in assigned.drain(..) {
                if !self.is_window_late(&w) {
                    skipped = false;
                    self.add_to_window(KeySource::Ref(key_ref(&value)), w, &value, ts, now)?;
                }
            }
            self.assigned = assigned;
            return self.after_assign(skipped, value, ts);
        }
        let mut key = Some((self.spec.key)(&value));
        let merging = self.merging;
        let mut skipped = true;
        let n = assigned.len();
        for (i, w) in assigned.drain(..).enumerate() {
            let Some(k) = (if i + 1 == n { key.take() } else { key.clone() }) else {
                break;
            };
            let w = if merging {
                match self.merge_into_session(&k, w, now)? {
                    Some(actual) => actual,
                    None => continue,
                }
            } else if self.is_window_late(&w) {
                continue;
            } else {
                w
            };
            skipped = false;
            self.add_to_window(KeySource::Owned(k), w, &value, ts, now)?;
        }
        self.assigned = assigned;
        self.after_assign(skipped, value, ts)
    }

    /// An element none of whose windows took it: late data goes to the side output or is
    /// counted as dropped.
    fn after_assign(
        &mut self,
        skipped: bool,
        value: T,
        ts: Timestamp,
    ) -> Result<(), OperatorError> {
        if skipped
            && self.is_event_time()
            && ts.saturating_add(self.spec.allowed_lateness) <= self.watermark
        {
            match &self.spec.late_tag {
                Some(tag) => self.side.push(tag, value, Some(ts)),
                None => {
                    if let Some(m) = &self.metrics {
                        m.add_late_records_dropped(1);
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds an element to `key`'s window `w`; a key held by reference is cloned only when
    /// the window is new.
    fn add_to_window(
        &mut self,
        key: KeySource<'_, K>,
        w: W,
        value: &T,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        let hash = self.state.key_hash(key.get());
        let (window, slot) = self.state.slot_or_insert(&w, hash, key);
        Self::add_to_slot(
            window,
            slot,
            hash,
            Shared {
                name: &self.name,
                spec: &self.spec,
                contents: &mut self.contents,
                timers: &mut self.timers,
                side: &mut self.side,
                results: &mut self.results,
                result_ts: &mut self.result_ts,
                watermark: self.watermark,
                event_time: self.event_time,
                repeating_trigger: self.repeating_trigger,
            },
            value,
            ts,
            now,
        )
    }

    /// Adds an element to a window's slot and asks the trigger.
    fn add_to_slot(
        window: &W,
        slot: &mut Slot<K, C::Acc>,
        hash: u64,
        op: Shared<'_, K, T, W, C>,
        value: &T,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        if op.repeating_trigger && op.watermark < window.max_timestamp() {
            if let Some(acc) = slot.contents.as_mut() {
                // The window's cleanup and trigger timers were set with its first element.
                op.contents.add(acc, value, ts);
                return Ok(());
            }
        }
        let cleanup = if op.event_time {
            window
                .max_timestamp()
                .saturating_add(op.spec.allowed_lateness)
        } else {
            window.max_timestamp()
        };
        let acc = slot.contents.get_or_insert_with(|| op.contents.create());
        op.contents.add(acc, value, ts);
        let mut ctx = TriggerContext::new(
            op.watermark,
            now,
            &mut slot.timers,
            &mut slot.trigger_state,
            &mut op.timers.registered,
        );
        // The cleanup timer is one of the window's timers, registered once like any other.
        if cleanup != Timestamp::MAX {
            if op.event_time {
                ctx.register_event_time_timer(cleanup);
            } else {
                ctx.register_processing_time_timer(cleanup);
            }
        }
        let result = op.spec.trigger.on_element(value, ts, window, &mut ctx);
        if result != TriggerResult::Continue {
            apply(
                result,
                op.contents,
                window,
                slot,
                Emitter {
                    name: op.name,
                    watermark: op.watermark,
                    now,
                    side: op.side,
                    results: op.results,
                    result_ts: op.result_ts,
                },
            )?;
        }
        if !op.timers.registered.is_empty() {
            op.timers.queue_registered(hash, &slot.key, window);
        }
        Ok(())
    }

    /// Merges the new window `w` of `key` with the key's windows it intersects. Returns the
    /// window the element goes to, or `None` if that window is late.
    fn merge_into_session(
        &mut self,
        key: &K,
        w: W,
        now: Timestamp,
    ) -> Result<Option<W>, OperatorError> {
        let mut cover = w;
        let mut absorbed = std::mem::take(&mut self.absorbed);
        absorbed.clear();
        if let Some(current) = self.sessions.get(key) {
            // A key's windows never intersect each other, but the cover grows as it absorbs.
            loop {
                let before = absorbed.len();
                for c in current {
                    if !absorbed.contains(c) && c.intersects(&cover) {
                        cover = cover.cover(c);
                        absorbed.push(c.clone());
                    }
                }
                if absorbed.len() == before {
                    break;
                }
            }
        }
        let result = self.merge_absorbed(key, &cover, &absorbed, now);
        self.absorbed = absorbed;
        result.map(|late| (!late).then_some(cover))
    }

    /// Replaces the `absorbed` windows of `key` by `cover`, merging their contents and trigger
    /// state. Returns whether `cover` is late (then nothing changes).
    fn merge_absorbed(
        &mut self,
        key: &K,
        cover: &W,
        absorbed: &[W],
        now: Timestamp,
    ) -> Result<bool, OperatorError> {
        if self.is_window_late(cover) {
            return Ok(true);
        }
        match absorbed {
            // A new session.
            [] => {
                self.sessions
                    .entry(key.clone())
                    .or_default()
                    .push(cover.clone());
                return Ok(false);
            }
            // Inside a session that does not grow.
            [only] if only == cover => return Ok(false),
            _ => {}
        }
        if !self.spec.trigger.can_merge() {
            return Err(self
                .failed("the trigger cannot merge windows, but the assigner merges them".into()));
        }
        // The first absorbed window's slot becomes the cover's; its timers were for the old
        // window and go (the trigger sets the cover's).
        let mut target = self
            .state
            .take(key, &absorbed[0])
            .unwrap_or_else(|| Slot::new(key.clone()));
        target.timers.clear();
        let mut merged_states = Vec::new();
        for p in &absorbed[1..] {
            if let Some(old) = self.state.take(key, p) {
                if let Some(acc) = old.contents {
                    match target.contents.as_mut() {
                        Some(t) => self.contents.merge(t, acc),
                        None => target.contents = Some(acc),
                    }
                }
                merged_states.push(old.trigger_state);
            }
        }
        let mut ctx = TriggerContext {
            watermark: self.watermark,
            processing_time: now,
            timers: &mut target.timers,
            registered: &mut self.timers.registered,
            state: &mut target.trigger_state,
            merged: merged_states,
        };
        self.spec.trigger.on_merge(cover, &mut ctx);
        let hash = self.state.key_hash(key);
        self.timers.queue_registered(hash, key, cover);
        self.state.put(cover, target);
        if let Some(current) = self.sessions.get_mut(key) {
            current.retain(|c| !absorbed.contains(c));
            current.push(cover.clone());
        }
        Ok(false)
    }

    /// A queued timer is due.
    fn on_timer(
        &mut self,
        time: Timestamp,
        q: Queued<K, W>,
        domain: TimeDomain,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        let cleanup = domain == self.cleanup_domain() && time == self.cleanup_time(&q.window);
        let Some(g) = self.state.find_group(&q.window) else {
            return Ok(());
        };
        let Group { window, slots } = self.state.group_mut(g);
        let Ok(mut found) = slots.find_entry(q.hash, |s| s.key == q.key) else {
            return Ok(());
        };
        let slot = found.get_mut();
        // A timer deleted since it was queued, or queued twice, is skipped.
        if !slot.timers.remove(&(time, domain)) {
            return Ok(());
        }
        let mut ctx = TriggerContext::new(
            self.watermark,
            now,
            &mut slot.timers,
            &mut slot.trigger_state,
            &mut self.timers.registered,
        );
        let result = match domain {
            TimeDomain::EventTime => self.spec.trigger.on_event_time(time, window, &mut ctx),
            TimeDomain::ProcessingTime => {
                self.spec.trigger.on_processing_time(time, window, &mut ctx)
            }
        };
        apply(
            result,
            &mut self.contents,
            window,
            slot,
            Emitter {
                name: &self.name,
                watermark: self.watermark,
                now,
                side: &mut self.side,
                results: &mut self.results,
                result_ts: &mut self.result_ts,
            },
        )?;
        if cleanup {
            // The window is removed: contents, trigger state and timers.
            let mut ctx = TriggerContext::new(
                self.watermark,
                now,
                &mut slot.timers,
                &mut slot.trigger_state,
                &mut self.timers.registered,
            );
            self.spec.trigger.clear(window, &mut ctx);
            self.timers.registered.clear();
            found.remove();
            self.state.release_if_empty(g);
            if self.merging {
                if let Some(ws) = self.sessions.get_mut(&q.key) {
                    ws.retain(|x| *x != q.window);
                    if ws.is_empty() {
                        self.sessions.remove(&q.key);
                    }
                }
            }
        } else if !self.timers.registered.is_empty() {
            self.timers.queue_registered(q.hash, &q.key, &q.window);
        }
        Ok(())
    }

    /// Fires every timer of `domain` due at `time`, earliest first.
    fn fire_timers(
        &mut self,
        domain: TimeDomain,
        time: Timestamp,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        while let Some((t, due)) = self.timers.pop_due(domain, time) {
            for q in due {
                self.on_timer(t, q, domain, now)?;
            }
        }
        Ok(())
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
