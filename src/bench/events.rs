//! The deterministic `(ts, key, value)` events of the window oracles and benchmark: the same
//! events, byte for byte, as the oracle's generator (`gen_events.py`).
//!
//! For `i` in `0..n` and `j = i + seed`: key `k{(j * 7919) % keys}`, value `j % 100`, and
//! timestamp `base + i + (i / gap_every) * gap_ms - (i * 31) % disorder` (no gaps when
//! `gap_every` is 0).

use std::io::Write;
use std::path::Path;

/// How events are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec {
    /// Distinct keys.
    pub keys: u64,
    /// Offset of the event index in keys and values.
    pub seed: u64,
    /// Timestamp of the first event (ms).
    pub base: i64,
    /// Events are out of order by less than this (ms, at least 1).
    pub disorder: i64,
    /// A silent gap every this many events (0: none).
    pub gap_every: i64,
    /// The gap's length (ms).
    pub gap_ms: i64,
}

impl EventSpec {
    /// The oracle's `events` inputs: 101 keys, disorder 500 ms, no gaps.
    pub const EVENTS: EventSpec = EventSpec {
        keys: 101,
        seed: 0,
        base: 1_700_000_000_000,
        disorder: 500,
        gap_every: 0,
        gap_ms: 0,
    };

    /// The oracle's `sessions` inputs: disorder 50 ms, a 500 ms gap every 2000 events.
    pub const SESSIONS: EventSpec = EventSpec {
        disorder: 50,
        gap_every: 2000,
        gap_ms: 500,
        ..EventSpec::EVENTS
    };

    /// Event `i`: timestamp, key index, value.
    #[inline]
    pub fn event(&self, i: u64) -> (i64, u64, i64) {
        let j = i + self.seed;
        let ii = i as i64;
        let gaps = if self.gap_every > 0 {
            (ii / self.gap_every) * self.gap_ms
        } else {
            0
        };
        let ts = self.base + ii + gaps - (ii * 31) % self.disorder.max(1);
        (ts, (j * 7919) % self.keys.max(1), (j % 100) as i64)
    }

    /// Writes events `0..n` as CSV lines `ts,key,value` to `path`.
    pub fn write_csv(&self, path: &Path, n: u64) -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        for i in 0..n {
            let (ts, key, value) = self.event(i);
            writeln!(w, "{ts},k{key},{value}")?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_events_are_the_oracles() {
        // The first lines of the oracle inputs, as gen_events.py writes them.
        let e = EventSpec::EVENTS;
        assert_eq!(e.event(0), (1_700_000_000_000, 0, 0));
        assert_eq!(e.event(1), (1_700_000_000_000 + 1 - 31, 7919 % 101, 1));
        let s = EventSpec::SESSIONS;
        // 2000 * 31 is a multiple of 50: no disorder on the first event after the gap.
        assert_eq!(s.event(2000).0, 1_700_000_000_000 + 2000 + 500);
        assert_eq!(s.event(2001).0, 1_700_000_000_000 + 2001 + 500 - 31);
    }
}
