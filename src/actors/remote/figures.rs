//! An actor's live figures (mailbox, messages handled by tag and by sending node, restarts)
//! and what the registry shows of them, with per-second rates from the node's last sample.
//!
//! ## Cost
//! Figures are counted per control message, never per record; a subtask's data figures are
//! counted per buffer by its input channels ([`crate::net::channel::ChannelCounts`]). Rates are
//! computed once per sampling period by [`Rates::sample`], never on the message path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::actors::subtask::figures::SubtaskInfo;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is a single field write or push: a poisoned lock still holds consistent
    // figures.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Figures of one message kind at one actor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageFigures {
    /// The message's tag.
    pub tag: &'static str,
    /// Messages handled.
    pub count: u64,
    /// Time spent in their handlers, in microseconds (the synchronous part).
    pub handler_micros: u64,
}

/// The most (sending node, tag) pairs an actor keeps apart.
pub const MAX_SENDERS: usize = 256;
/// Where messages from senders past [`MAX_SENDERS`] are counted.
pub const OTHER_NODES: &str = "(other nodes)";

/// An actor's live figures, counted per message (control messages only, never per record).
#[derive(Debug, Default)]
pub struct ActorFigures {
    capacity: usize,
    queued: AtomicI64,
    restarts: AtomicU64,
    kinds: Mutex<Vec<MessageFigures>>,
    /// Messages that came from another node, by (node, tag).
    remote: Mutex<Vec<(Arc<str>, &'static str, u64)>>,
    last_failure: Mutex<Option<(SystemTime, String)>>,
}

impl ActorFigures {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    pub(super) fn sent(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn unsent(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// A message sent through a reference left the mailbox.
    pub(super) fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// A message `tag` arrived from the node `node`. Past [`MAX_SENDERS`] (node, tag) pairs
    /// (nodes come and go with restarts), new ones are counted under [`OTHER_NODES`].
    pub(super) fn received_from(&self, node: &str, tag: &'static str) {
        let mut remote = lock(&self.remote);
        let node = if remote.len() >= MAX_SENDERS
            && !remote.iter().any(|(n, t, _)| *t == tag && &**n == node)
        {
            OTHER_NODES
        } else {
            node
        };
        match remote
            .iter_mut()
            .find(|(n, t, _)| *t == tag && &**n == node)
        {
            Some((_, _, count)) => *count += 1,
            None => remote.push((node.into(), tag, 1)),
        }
    }

    /// A handler (or a timer, or a continuation) named `tag` ran for `took`.
    pub(super) fn handled(&self, tag: &'static str, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut kinds = lock(&self.kinds);
        match kinds.iter_mut().find(|k| k.tag == tag) {
            Some(k) => {
                k.count += 1;
                k.handler_micros = k.handler_micros.saturating_add(micros);
            }
            None => kinds.push(MessageFigures {
                tag,
                count: 1,
                handler_micros: micros,
            }),
        }
    }

    pub(super) fn failed(&self, cause: &str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_failure) = Some((SystemTime::now(), cause.to_string()));
    }

    /// Restarts after a handler's panic.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn queued(&self) -> u64 {
        u64::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub(super) fn last_failure(&self) -> Option<(u64, String)> {
        lock(&self.last_failure).as_ref().map(|(at, what)| {
            let ms = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            (ms, what.clone())
        })
    }

    /// Messages handled by tag, each with what came from other nodes.
    pub(super) fn messages(&self, node: &str, rates: &Rates) -> Vec<MessageInfo> {
        let kinds = lock(&self.kinds).clone();
        let remote = lock(&self.remote).clone();
        kinds
            .into_iter()
            .map(|k| {
                let mut from: Vec<SenderFigures> = remote
                    .iter()
                    .filter(|(_, t, _)| *t == k.tag)
                    .map(|(n, _, count)| SenderFigures {
                        node: n.to_string(),
                        count: *count,
                        per_second: rates.get(&remote_key(n, k.tag)),
                    })
                    .collect();
                let remote_count: u64 = from.iter().map(|s| s.count).sum();
                let remote_rate: f64 = from.iter().map(|s| s.per_second).sum();
                let per_second = rates.get(k.tag);
                // What did not come over the network came from this node (a timer, a
                // continuation or a local sender).
                if k.count > remote_count {
                    from.push(SenderFigures {
                        node: node.to_string(),
                        count: k.count - remote_count,
                        per_second: (per_second - remote_rate).max(0.0),
                    });
                }
                MessageInfo {
                    tag: k.tag.to_string(),
                    count: k.count,
                    handler_micros: k.handler_micros,
                    per_second,
                    from,
                }
            })
            .collect()
    }

    /// The counters rates are taken of: by tag, and by (node, tag).
    pub(super) fn counters(&self, into: &mut Vec<(String, u64)>) {
        let kinds = lock(&self.kinds);
        into.extend(kinds.iter().map(|k| (k.tag.to_string(), k.count)));
        let micros = kinds.iter().map(|k| k.handler_micros).sum();
        drop(kinds);
        into.push((super::registry::HANDLER_MICROS.to_string(), micros));
        into.extend(
            lock(&self.remote)
                .iter()
                .map(|(n, t, c)| (remote_key(n, t), *c)),
        );
    }
}

fn remote_key(node: &str, tag: &str) -> String {
    format!("{node}\u{0}{tag}")
}

/// Per-second rates of an actor's counters, from the last two samples.
#[derive(Debug, Default)]
pub struct Rates {
    last: Option<(Instant, HashMap<String, u64>)>,
    per_second: HashMap<String, f64>,
}

impl Rates {
    /// Takes a sample of `counters` at `now`: each rate is its counter's growth since the last
    /// sample over the time between them (a counter new since then counts from zero).
    pub fn sample(&mut self, now: Instant, counters: Vec<(String, u64)>) {
        let counters: HashMap<String, u64> = counters.into_iter().collect();
        if let Some((then, before)) = &self.last {
            let seconds = now.saturating_duration_since(*then).as_secs_f64();
            if seconds > 0.0 {
                self.per_second = counters
                    .iter()
                    .map(|(k, v)| {
                        let was = before.get(k).copied().unwrap_or(0);
                        (k.clone(), v.saturating_sub(was) as f64 / seconds)
                    })
                    .collect();
            }
        }
        self.last = Some((now, counters));
    }

    /// The rate of the counter `key` (0 before two samples).
    pub fn get(&self, key: &str) -> f64 {
        self.per_second.get(key).copied().unwrap_or(0.0)
    }
}

/// One message kind at one actor, as the registry shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageInfo {
    /// The message's tag (a local message's type name; a timer's or continuation's name).
    pub tag: String,
    /// Handled in all.
    pub count: u64,
    /// Time spent in their handlers, in microseconds.
    pub handler_micros: u64,
    /// Handled per second over the node's last sampling period.
    pub per_second: f64,
    /// Where they came from, by sending node (this node: local senders and timers).
    pub from: Vec<SenderFigures>,
}

/// Messages of one kind from one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SenderFigures {
    /// The sending node.
    pub node: String,
    /// Received in all.
    pub count: u64,
    /// Received per second over the last sampling period.
    pub per_second: f64,
}

/// One registered actor as the registry shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActorInfo {
    /// Its path.
    pub path: String,
    /// The node it runs on.
    #[serde(default)]
    pub node: String,
    /// Its kind.
    pub kind: String,
    /// Its supervisor's path (none for a node's top-level actors).
    pub parent: Option<String>,
    /// Messages sent to it through references and not yet handled (for a subtask: elements
    /// waiting in its input queues, its mailbox for data).
    pub mailbox_len: u64,
    /// Its mailbox's capacity (for a subtask: what its input queues hold, the credit it
    /// grants).
    pub mailbox_capacity: usize,
    /// Messages handled, by tag.
    pub messages: Vec<MessageInfo>,
    /// Handlers' time per second over the last sampling period, in microseconds (how busy
    /// the actor's thread was with it).
    #[serde(default)]
    pub handler_micros_per_second: f64,
    /// Restarts after a handler panicked.
    pub restarts: u64,
    /// The last failure: when (ms since the epoch) and what.
    pub last_failure: Option<(u64, String)>,
    /// Whether it still runs.
    pub alive: bool,
    /// A subtask's status, channels and credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask: Option<SubtaskInfo>,
}

impl ActorInfo {
    /// An idle actor of `kind` at `node` and `path`, with no figures yet (for tests).
    #[cfg(test)]
    pub(crate) fn idle(node: &str, path: &str, kind: &str) -> Self {
        Self {
            path: path.into(),
            node: node.into(),
            kind: kind.into(),
            parent: None,
            mailbox_len: 0,
            mailbox_capacity: 8,
            messages: Vec::new(),
            handler_micros_per_second: 0.0,
            restarts: 0,
            last_failure: None,
            alive: true,
            subtask: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_growth_over_time_between_samples() {
        let mut r = Rates::default();
        let t0 = Instant::now();
        r.sample(t0, vec![("a".into(), 10)]);
        assert_eq!(r.get("a"), 0.0, "no rate from one sample");
        r.sample(
            t0 + Duration::from_millis(500),
            vec![("a".into(), 20), ("b".into(), 3)],
        );
        assert!((r.get("a") - 20.0).abs() < 1e-9);
        assert!(
            (r.get("b") - 6.0).abs() < 1e-9,
            "a new counter counts from zero"
        );
        assert_eq!(r.get("missing"), 0.0);
    }

    #[test]
    fn senders_are_bounded() {
        let f = ActorFigures::new(8);
        for i in 0..MAX_SENDERS + 10 {
            f.received_from(&format!("tm-{i}"), "rill.x");
        }
        f.received_from("tm-0", "rill.x");
        let remote = lock(&f.remote).clone();
        assert_eq!(remote.len(), MAX_SENDERS + 1);
        let other = remote.iter().find(|(n, _, _)| &**n == OTHER_NODES);
        assert_eq!(other.map(|(_, _, c)| *c), Some(10));
        let first = remote.iter().find(|(n, _, _)| &**n == "tm-0");
        assert_eq!(first.map(|(_, _, c)| *c), Some(2));
    }

    #[test]
    fn messages_split_by_sending_node() {
        let f = ActorFigures::new(8);
        for _ in 0..3 {
            f.received_from("tm-1", "rill.x");
            f.handled("rill.x", Duration::from_micros(5));
        }
        f.handled("rill.x", Duration::from_micros(5));
        f.handled("timer", Duration::from_micros(1));
        let m = f.messages("jm", &Rates::default());
        let x = m.iter().find(|m| m.tag == "rill.x").expect("rill.x");
        assert_eq!(x.count, 4);
        assert_eq!(x.handler_micros, 20);
        let by: Vec<(&str, u64)> = x.from.iter().map(|s| (s.node.as_str(), s.count)).collect();
        assert_eq!(by, vec![("tm-1", 3), ("jm", 1)]);
        let t = m.iter().find(|m| m.tag == "timer").expect("timer");
        assert_eq!(t.from.len(), 1);
        assert_eq!(t.from[0].node, "jm");
    }
}
