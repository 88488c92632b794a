//! The operator's timer queues, and what happens when a queued timer is due: the trigger is
//! asked, and at a window's cleanup time the window is removed.

use std::collections::BTreeMap;

use crate::api::{Data, Key};
use crate::eventtime::Timestamp;
use crate::operators::OperatorError;
use crate::windowing::functions::WindowContents;
use crate::windowing::triggers::{TimeDomain, TriggerContext};
use crate::windowing::Window;

use super::state::Group;
use super::{apply, Emitter, WindowOperator};

/// A queued timer of one key and window (its time is the queue's key).
pub(super) struct Queued<K, W> {
    hash: u64,
    key: K,
    window: W,
}

pub(super) type TimerQueue<K, W> = BTreeMap<Timestamp, Vec<Queued<K, W>>>;

/// The event-time and processing-time timer queues, and the timers a trigger call set. Timers
/// of one time fire in the order they were set.
pub(super) struct TimerQueues<K, W> {
    event: TimerQueue<K, W>,
    pub(super) processing: TimerQueue<K, W>,
    pub(super) registered: Vec<(Timestamp, TimeDomain)>,
}

impl<K: Clone, W: Clone> TimerQueues<K, W> {
    pub(super) fn new() -> Self {
        Self {
            event: BTreeMap::new(),
            processing: BTreeMap::new(),
            registered: Vec::new(),
        }
    }

    /// Queues the timers registered during the last trigger call for `key`'s `window`.
    pub(super) fn queue_registered(&mut self, hash: u64, key: &K, window: &W) {
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

impl<K, T, W, C> WindowOperator<K, T, W, C>
where
    K: Key,
    T: Data,
    W: Window,
    C: WindowContents<K, T, W>,
{
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
                    if let Ok(i) = ws.binary_search(&q.window) {
                        ws.remove(i);
                    }
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
    pub(super) fn fire_timers(
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
}
