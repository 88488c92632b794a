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
//! Contents, trigger state and timers are kept per key and window in one hash map. Timers are
//! deduplicated per key, window and time in that entry; the queues ordered by time hold each
//! registration once and are checked against the entry when they fire, so a deleted timer is
//! simply skipped.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::api::functions::{user_error, SideOutputs};
use crate::api::{Data, Key, OutputTag};
use crate::eventtime::{processing_time_now, Timestamp, MIN_WATERMARK};
use crate::metrics::IoMetrics;
use crate::operators::batch::NO_TIMESTAMP;
use crate::operators::keyed::KeyFn;
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};
use crate::util::FastMap;
use crate::windowing::assigners::Assigner;
use crate::windowing::functions::{WindowContents, WindowContext};
use crate::windowing::triggers::{
    TimeDomain, Trigger, TriggerContext, TriggerResult, TriggerState,
};
use crate::windowing::Window;

/// One key's window: its contents, trigger state and timers.
struct Entry<A> {
    contents: Option<A>,
    timers: Vec<(Timestamp, TimeDomain)>,
    trigger_state: TriggerState,
}

impl<A> Entry<A> {
    fn new() -> Self {
        Self {
            contents: None,
            timers: Vec::new(),
            trigger_state: None,
        }
    }
}

/// A queued timer; the heap pops the earliest time first, and of one time the first set.
struct Queued<K, W> {
    time: Timestamp,
    seq: u64,
    key: K,
    window: W,
}

impl<K, W> PartialEq for Queued<K, W> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl<K, W> Eq for Queued<K, W> {}

impl<K, W> PartialOrd for Queued<K, W> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K, W> Ord for Queued<K, W> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// How a window operator is set up (what the API collects before the job runs).
pub struct WindowSpec<K, T, W> {
    /// The key of an element.
    pub key: KeyFn<K, T>,
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
            assigner: self.assigner.clone(),
            trigger: self.trigger.clone(),
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag.clone(),
        }
    }
}

/// The window operator.
pub struct WindowOperator<K, T, W, C: WindowContents<K, T, W>> {
    name: String,
    spec: WindowSpec<K, T, W>,
    contents: C,
    windows: FastMap<(K, W), Entry<C::Acc>>,
    /// Merging assigners: each key's current windows.
    sessions: FastMap<K, Vec<W>>,
    event_timers: BinaryHeap<Queued<K, W>>,
    processing_timers: BinaryHeap<Queued<K, W>>,
    /// Registration order, to fire timers of one time in the order they were set.
    timer_seq: u64,
    absorbed: Vec<W>,
    watermark: Timestamp,
    results: Vec<C::Out>,
    result_ts: Vec<Timestamp>,
    side: SideOutputs,
    registered: Vec<(Timestamp, TimeDomain)>,
    assigned: Vec<W>,
    metrics: Option<Arc<IoMetrics>>,
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
            spec,
            contents,
            windows: FastMap::default(),
            sessions: FastMap::default(),
            event_timers: BinaryHeap::new(),
            processing_timers: BinaryHeap::new(),
            timer_seq: 0,
            absorbed: Vec::new(),
            watermark: MIN_WATERMARK,
            results: Vec::new(),
            result_ts: Vec::new(),
            side: SideOutputs::default(),
            registered: Vec::new(),
            assigned: Vec::new(),
            metrics: None,
        }
    }

    fn is_event_time(&self) -> bool {
        self.spec.assigner.is_event_time()
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

    fn is_window_late(&self, w: &W) -> bool {
        self.is_event_time() && self.cleanup_time(w) <= self.watermark
    }

    fn failed(&self, message: String) -> OperatorError {
        OperatorError::Failed {
            operator: self.name.clone(),
            message,
        }
    }

    /// Queues the timers registered during the last trigger call for `key`'s `window`.
    fn queue_registered(&mut self, key: &K, window: &W) {
        for (t, domain) in self.registered.drain(..) {
            let queue = match domain {
                TimeDomain::EventTime => &mut self.event_timers,
                TimeDomain::ProcessingTime => &mut self.processing_timers,
            };
            self.timer_seq += 1;
            queue.push(Queued {
                time: t,
                seq: self.timer_seq,
                key: key.clone(),
                window: window.clone(),
            });
        }
    }

    /// Adds one element to each of its windows.
    fn process_element(
        &mut self,
        value: T,
        ts: Timestamp,
        now: Timestamp,
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
        let mut key = Some((self.spec.key)(&value));
        let merging = self.spec.assigner.is_merging();
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
            self.add_to_window(k, w, &value, ts, now)?;
        }
        self.assigned = assigned;
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

    fn add_to_window(
        &mut self,
        key: K,
        w: W,
        value: &T,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        let cleanup = self.cleanup_time(&w);
        let event_time = self.is_event_time();
        let kw = (key, w);
        if !self.windows.contains_key(&kw) {
            self.windows.insert(kw.clone(), Entry::new());
        }
        let Some(entry) = self.windows.get_mut(&kw) else {
            return Ok(());
        };
        let (key, w) = (&kw.0, &kw.1);
        let acc = entry.contents.get_or_insert_with(|| self.contents.create());
        self.contents.add(acc, value, ts);
        let mut ctx = TriggerContext {
            watermark: self.watermark,
            processing_time: now,
            timers: &mut entry.timers,
            registered: &mut self.registered,
            state: &mut entry.trigger_state,
            merged: Vec::new(),
        };
        // The cleanup timer is one of the window's timers, registered once like any other.
        if cleanup != Timestamp::MAX {
            if event_time {
                ctx.register_event_time_timer(cleanup);
            } else {
                ctx.register_processing_time_timer(cleanup);
            }
        }
        let result = self.spec.trigger.on_element(value, ts, w, &mut ctx);
        self.apply(result, key, w, now)?;
        if !self.registered.is_empty() {
            self.queue_registered(&kw.0, &kw.1);
        }
        Ok(())
    }

    /// Does what a trigger answered for `key`'s window `w`.
    fn apply(
        &mut self,
        result: TriggerResult,
        key: &K,
        w: &W,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        if result == TriggerResult::Continue {
            return Ok(());
        }
        let Some(entry) = self.windows.get_mut(&(key.clone(), w.clone())) else {
            return Ok(());
        };
        if result.is_fire() {
            if let Some(acc) = entry.contents.as_mut() {
                let before = self.results.len();
                let mut ctx = WindowContext {
                    window: w,
                    watermark: self.watermark,
                    processing_time: now,
                    side: &mut self.side,
                };
                self.contents
                    .fire(key, acc, &mut ctx, &mut self.results)
                    .map_err(|e| user_error(&self.name, e))?;
                if self.results.len() > before {
                    self.result_ts.resize(self.results.len(), w.max_timestamp());
                }
            }
        }
        if result.is_purge() {
            entry.contents = None;
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
        // The first absorbed window's entry becomes the cover's; its timers were for the old
        // window and go (the trigger sets the cover's).
        let mut target = self
            .windows
            .remove(&(key.clone(), absorbed[0].clone()))
            .unwrap_or_else(Entry::new);
        target.timers.clear();
        let mut merged_states = Vec::new();
        for p in &absorbed[1..] {
            if let Some(old) = self.windows.remove(&(key.clone(), p.clone())) {
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
            registered: &mut self.registered,
            state: &mut target.trigger_state,
            merged: merged_states,
        };
        self.spec.trigger.on_merge(cover, &mut ctx);
        self.windows.insert((key.clone(), cover.clone()), target);
        self.queue_registered(key, cover);
        if let Some(current) = self.sessions.get_mut(key) {
            current.retain(|c| !absorbed.contains(c));
            current.push(cover.clone());
        }
        Ok(false)
    }

    /// A timer of `key`'s window `w` fired at `time`.
    fn on_timer(
        &mut self,
        time: Timestamp,
        domain: TimeDomain,
        key: K,
        w: W,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        let kw = (key, w);
        let Some(entry) = self.windows.get_mut(&kw) else {
            return Ok(());
        };
        // A timer deleted since it was queued, or queued twice, is skipped.
        let Some(pos) = entry.timers.iter().position(|t| *t == (time, domain)) else {
            return Ok(());
        };
        entry.timers.swap_remove(pos);
        let (key, w) = (&kw.0, &kw.1);
        let mut ctx = TriggerContext {
            watermark: self.watermark,
            processing_time: now,
            timers: &mut entry.timers,
            registered: &mut self.registered,
            state: &mut entry.trigger_state,
            merged: Vec::new(),
        };
        let result = match domain {
            TimeDomain::EventTime => self.spec.trigger.on_event_time(time, w, &mut ctx),
            TimeDomain::ProcessingTime => self.spec.trigger.on_processing_time(time, w, &mut ctx),
        };
        self.apply(result, key, w, now)?;
        let cleanup_domain = if self.is_event_time() {
            TimeDomain::EventTime
        } else {
            TimeDomain::ProcessingTime
        };
        if domain == cleanup_domain && time == self.cleanup_time(w) {
            self.clear_window(key, w, now);
        } else if !self.registered.is_empty() {
            self.queue_registered(key, w);
        }
        Ok(())
    }

    /// Removes `key`'s window `w`: contents, trigger state and timers.
    fn clear_window(&mut self, key: &K, w: &W, now: Timestamp) {
        let kw = (key.clone(), w.clone());
        if let Some(mut entry) = self.windows.remove(&kw) {
            let mut ctx = TriggerContext {
                watermark: self.watermark,
                processing_time: now,
                timers: &mut entry.timers,
                registered: &mut self.registered,
                state: &mut entry.trigger_state,
                merged: Vec::new(),
            };
            self.spec.trigger.clear(w, &mut ctx);
            self.registered.clear();
        }
        if self.spec.assigner.is_merging() {
            if let Some(ws) = self.sessions.get_mut(key) {
                ws.retain(|x| x != w);
                if ws.is_empty() {
                    self.sessions.remove(key);
                }
            }
        }
    }

    /// Fires every timer of `domain` due at `time`, earliest first.
    fn fire_timers(
        &mut self,
        domain: TimeDomain,
        time: Timestamp,
        now: Timestamp,
    ) -> Result<(), OperatorError> {
        loop {
            let queue = match domain {
                TimeDomain::EventTime => &mut self.event_timers,
                TimeDomain::ProcessingTime => &mut self.processing_timers,
            };
            if queue.peek().is_none_or(|q| q.time > time) {
                return Ok(());
            }
            if let Some(q) = queue.pop() {
                self.on_timer(q.time, domain, q.key, q.window, now)?;
            }
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
        let now = processing_time_now();
        match ts {
            Some(ts) => {
                for (r, t) in records.into_iter().zip(ts) {
                    self.process_element(r, t, now)?;
                }
            }
            None => {
                for r in records {
                    self.process_element(r, NO_TIMESTAMP, now)?;
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
            self.fire_timers(TimeDomain::EventTime, watermark, processing_time_now())?;
            self.flush(out)?;
        }
        out.emit_watermark(watermark)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.processing_timers.peek().map(|q| q.time)
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
