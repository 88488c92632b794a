//! Timers per key, in event time and processing time (Flink's `InternalTimerService`).
//!
//! ## Rules
//! - A timer is a `(timestamp, key)` pair: registering the same pair twice keeps one timer, so
//!   it fires once; deleting it before it fires means it never fires.
//! - Event-time timers fire when the watermark reaches their timestamp (`timestamp <=
//!   watermark`), processing-time timers when the clock does; both in timestamp order (then key
//!   order, so that firing is deterministic).
//! - Timers are state: the queues serialize, for checkpoints.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::eventtime::{Timestamp, MIN_WATERMARK};

/// Timers of one time domain, ordered by timestamp then key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerQueue<K: Ord> {
    timers: BTreeSet<(Timestamp, K)>,
}

impl<K: Ord + Clone> TimerQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            timers: BTreeSet::new(),
        }
    }

    /// Registers a timer; false if the same one was already registered.
    pub fn register(&mut self, timestamp: Timestamp, key: K) -> bool {
        self.timers.insert((timestamp, key))
    }

    /// Deletes a timer; false if there was none.
    pub fn delete(&mut self, timestamp: Timestamp, key: &K) -> bool {
        self.timers.remove(&(timestamp, key.clone()))
    }

    /// The earliest timer's timestamp.
    pub fn next(&self) -> Option<Timestamp> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Removes and returns, in order, every timer due at `time` (timestamp `<= time`).
    pub fn pop_due(&mut self, time: Timestamp) -> Vec<(Timestamp, K)> {
        let mut due = Vec::new();
        while let Some((t, _)) = self.timers.first() {
            if *t > time {
                break;
            }
            if let Some(timer) = self.timers.pop_first() {
                due.push(timer);
            }
        }
        due
    }

    /// Timers registered.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}

/// One operator instance's timers in both domains, with its current watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerService<K: Ord> {
    event_time: TimerQueue<K>,
    processing_time: TimerQueue<K>,
    watermark: Timestamp,
}

impl<K: Ord + Clone> Default for TimerService<K> {
    fn default() -> Self {
        Self {
            event_time: TimerQueue::new(),
            processing_time: TimerQueue::new(),
            watermark: MIN_WATERMARK,
        }
    }
}

impl<K: Ord + Clone> TimerService<K> {
    /// The current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Registers an event-time timer for `key`.
    pub fn register_event_time_timer(&mut self, key: K, timestamp: Timestamp) -> bool {
        self.event_time.register(timestamp, key)
    }

    /// Deletes an event-time timer of `key`.
    pub fn delete_event_time_timer(&mut self, key: &K, timestamp: Timestamp) -> bool {
        self.event_time.delete(timestamp, key)
    }

    /// Registers a processing-time timer for `key`.
    pub fn register_processing_time_timer(&mut self, key: K, timestamp: Timestamp) -> bool {
        self.processing_time.register(timestamp, key)
    }

    /// Deletes a processing-time timer of `key`.
    pub fn delete_processing_time_timer(&mut self, key: &K, timestamp: Timestamp) -> bool {
        self.processing_time.delete(timestamp, key)
    }

    /// The watermark advanced: returns the event-time timers that fire, in order. A watermark
    /// that does not advance fires nothing.
    pub fn advance_watermark(&mut self, watermark: Timestamp) -> Vec<(Timestamp, K)> {
        if watermark <= self.watermark {
            return Vec::new();
        }
        self.watermark = watermark;
        self.event_time.pop_due(watermark)
    }

    /// The event-time timers due at the current watermark (those set while others fired).
    pub fn pop_event_due(&mut self) -> Vec<(Timestamp, K)> {
        self.event_time.pop_due(self.watermark)
    }

    /// The processing-time clock reached `now`: returns the timers that fire, in order.
    pub fn advance_processing_time(&mut self, now: Timestamp) -> Vec<(Timestamp, K)> {
        self.processing_time.pop_due(now)
    }

    /// When the next processing-time timer is due (for scheduling a wake-up).
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.processing_time.next()
    }

    /// Event-time timers waiting.
    pub fn event_timers(&self) -> usize {
        self.event_time.len()
    }

    /// Every timer as `(key, [(is event time, timestamp)])`, for checkpoints (keyed by key so
    /// that timers move with their key's key group).
    pub fn by_key(&self) -> Vec<(K, Vec<(bool, Timestamp)>)>
    where
        K: std::hash::Hash + Eq,
    {
        let mut by_key: std::collections::HashMap<&K, Vec<(bool, Timestamp)>> =
            std::collections::HashMap::new();
        for (t, k) in &self.event_time.timers {
            by_key.entry(k).or_default().push((true, *t));
        }
        for (t, k) in &self.processing_time.timers {
            by_key.entry(k).or_default().push((false, *t));
        }
        by_key.into_iter().map(|(k, v)| (k.clone(), v)).collect()
    }

    /// Registers restored timers (see [`TimerService::by_key`]).
    pub fn restore(&mut self, timers: Vec<(K, Vec<(bool, Timestamp)>)>) {
        for (k, ts) in timers {
            for (event, t) in ts {
                if event {
                    self.event_time.register(t, k.clone());
                } else {
                    self.processing_time.register(t, k.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_timer_twice_fires_once_and_a_deleted_one_never() {
        let mut s = TimerService::<String>::default();
        assert!(s.register_event_time_timer("a".into(), 100));
        assert!(
            !s.register_event_time_timer("a".into(), 100),
            "deduplicated"
        );
        assert!(
            s.register_event_time_timer("b".into(), 100),
            "other key, own timer"
        );
        assert!(s.register_event_time_timer("a".into(), 50));
        assert!(s.register_event_time_timer("c".into(), 70));
        assert!(s.delete_event_time_timer(&"c".into(), 70));
        assert!(!s.delete_event_time_timer(&"c".into(), 70));
        assert_eq!(s.advance_watermark(49), []);
        assert_eq!(
            s.advance_watermark(100),
            [
                (50, "a".to_string()),
                (100, "a".to_string()),
                (100, "b".to_string())
            ]
        );
        assert_eq!(s.advance_watermark(100), [], "nothing fires twice");
        assert_eq!(s.advance_watermark(90), [], "a watermark never goes back");
        assert_eq!(s.current_watermark(), 100);
        assert_eq!(s.event_timers(), 0);
    }

    #[test]
    fn processing_time_timers_fire_in_order_when_the_clock_reaches_them() {
        let mut s = TimerService::<u32>::default();
        s.register_processing_time_timer(1, 2_000);
        s.register_processing_time_timer(2, 1_000);
        s.register_processing_time_timer(2, 1_000);
        assert_eq!(s.next_processing_time(), Some(1_000));
        assert_eq!(s.advance_processing_time(999), []);
        assert_eq!(s.advance_processing_time(1_500), [(1_000, 2)]);
        s.delete_processing_time_timer(&1, 2_000);
        assert_eq!(s.advance_processing_time(5_000), []);
        assert_eq!(s.next_processing_time(), None);
    }

    #[test]
    fn timers_survive_a_round_trip_through_serialization() {
        let mut s = TimerService::<String>::default();
        s.register_event_time_timer("k".into(), 10);
        s.register_processing_time_timer("p".into(), 20);
        s.advance_watermark(5);
        let bytes = rmp_serde::to_vec(&s).expect("encode");
        let back: TimerService<String> = rmp_serde::from_slice(&bytes).expect("decode");
        assert_eq!(back, s);
    }
}
