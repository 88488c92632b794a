//! Adding an element to its windows: assigning them, dropping or side-outputting late data,
//! and asking the trigger about each window the element went to.

use crate::api::functions::SideOutputs;
use crate::api::{Data, Key};
use crate::data::batch::NO_TIMESTAMP;
use crate::eventtime::Timestamp;
use crate::operators::keyed::KeyRefFn;
use crate::operators::OperatorError;
use crate::windowing::functions::WindowContents;
use crate::windowing::triggers::{TriggerContext, TriggerResult};
use crate::windowing::Window;

use super::state::{KeySource, Slot};
use super::timers::TimerQueues;
use super::{apply, Emitter, WindowOperator, WindowSpec};

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

impl<K, T, W, C> WindowOperator<K, T, W, C>
where
    K: Key,
    T: Data,
    W: Window,
    C: WindowContents<K, T, W>,
{
    /// Adds one element to each of its windows.
    pub(super) fn process_element(
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
}
