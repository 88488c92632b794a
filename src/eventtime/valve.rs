//! Combines the watermarks and idleness of a task's input channels into the task's own
//! (Flink's `StatusWatermarkValve`).
//!
//! ## Rules
//! - The output watermark is the minimum over channels that are active and *aligned*, and it
//!   only ever advances.
//! - A channel is aligned while its watermark is at or above the last output; an idle channel
//!   is not aligned. A channel that becomes active again with a watermark behind the output
//!   does not pull the output back: it counts again once it has caught up.
//! - When every channel is idle the output becomes idle; before that, the largest watermark
//!   over all channels is emitted if it advances the output (everything before it was seen).
//!   The first channel to become active again makes the output active.

use crate::eventtime::{Timestamp, MIN_WATERMARK};

/// What the valve passes downstream after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValveOutput {
    /// A new watermark.
    Watermark(Timestamp),
    /// The task's output becomes idle.
    Idle,
    /// The task's output becomes active.
    Active,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    watermark: Timestamp,
    active: bool,
    aligned: bool,
}

/// The valve of one task's input channels.
#[derive(Debug, Clone)]
pub struct WatermarkValve {
    channels: Vec<Channel>,
    last_output: Timestamp,
    output_idle: bool,
}

impl WatermarkValve {
    /// A valve over `channels` channels, all active and at the minimum watermark.
    pub fn new(channels: usize) -> Self {
        Self {
            channels: vec![
                Channel {
                    watermark: MIN_WATERMARK,
                    active: true,
                    aligned: true,
                };
                channels
            ],
            last_output: MIN_WATERMARK,
            output_idle: false,
        }
    }

    /// The last watermark output.
    pub fn current(&self) -> Timestamp {
        self.last_output
    }

    /// Whether the output is idle.
    pub fn is_idle(&self) -> bool {
        self.output_idle
    }

    /// A watermark arrived on `channel`; returns the new output watermark, if it advanced.
    /// An unknown channel, or a watermark on an idle channel, changes nothing.
    pub fn input_watermark(&mut self, channel: usize, watermark: Timestamp) -> Option<Timestamp> {
        let last = self.last_output;
        let ch = self.channels.get_mut(channel)?;
        if !ch.active || watermark <= ch.watermark {
            return None;
        }
        ch.watermark = watermark;
        if !ch.aligned && watermark >= last {
            ch.aligned = true;
        }
        self.advance_to_min_of_aligned()
    }

    /// `channel` became idle (`true`) or active (`false`); returns what to pass downstream.
    pub fn input_idle(&mut self, channel: usize, idle: bool) -> Vec<ValveOutput> {
        let mut out = Vec::new();
        let last = self.last_output;
        let Some(ch) = self.channels.get_mut(channel) else {
            return out;
        };
        if idle && ch.active {
            ch.active = false;
            ch.aligned = false;
            if self.channels.iter().all(|c| !c.active) {
                let max = self.channels.iter().map(|c| c.watermark).max();
                if let Some(m) = max.filter(|m| *m > self.last_output) {
                    self.last_output = m;
                    out.push(ValveOutput::Watermark(m));
                }
                self.output_idle = true;
                out.push(ValveOutput::Idle);
            } else if let Some(w) = self.advance_to_min_of_aligned() {
                out.push(ValveOutput::Watermark(w));
            }
        } else if !idle && !ch.active {
            ch.active = true;
            ch.aligned = ch.watermark >= last;
            if self.output_idle {
                self.output_idle = false;
                out.push(ValveOutput::Active);
            }
        }
        out
    }

    fn advance_to_min_of_aligned(&mut self) -> Option<Timestamp> {
        let min = self
            .channels
            .iter()
            .filter(|c| c.active && c.aligned)
            .map(|c| c.watermark)
            .min()?;
        if min > self.last_output {
            self.last_output = min;
            Some(min)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ValveOutput::*;

    #[test]
    fn the_output_is_the_minimum_over_channels_and_never_goes_back() {
        let mut v = WatermarkValve::new(2);
        assert_eq!(v.input_watermark(0, 5), None, "channel 1 holds it back");
        assert_eq!(v.input_watermark(1, 3), Some(3));
        assert_eq!(v.input_watermark(1, 10), Some(5));
        assert_eq!(
            v.input_watermark(1, 8),
            None,
            "a channel's watermark never decreases"
        );
        assert_eq!(v.input_watermark(0, 7), Some(7));
        assert_eq!(v.input_watermark(5, 100), None, "unknown channel");
        assert_eq!(v.current(), 7);
    }

    #[test]
    fn an_idle_channel_stops_holding_back_and_rejoins_once_caught_up() {
        let mut v = WatermarkValve::new(2);
        v.input_watermark(0, 5);
        v.input_watermark(1, 10);
        assert_eq!(v.current(), 5);
        assert_eq!(v.input_idle(0, true), [Watermark(10)]);
        assert_eq!(v.input_watermark(0, 50), None, "ignored while idle");
        assert_eq!(v.input_idle(0, false), [], "still behind: not aligned");
        assert_eq!(v.input_watermark(1, 20), Some(20), "only channel 1 counts");
        assert_eq!(v.input_watermark(0, 15), None, "behind the output");
        assert_eq!(
            v.input_watermark(0, 25),
            None,
            "aligned again, channel 1 at 20 is the min"
        );
        assert_eq!(v.input_watermark(1, 30), Some(25));
    }

    #[test]
    fn all_channels_idle_make_the_output_idle_after_the_largest_watermark() {
        let mut v = WatermarkValve::new(2);
        v.input_watermark(0, 5);
        v.input_watermark(1, 9);
        assert_eq!(v.input_idle(1, true), []);
        assert_eq!(
            v.input_idle(0, true),
            [Watermark(9), Idle],
            "the largest, then idle"
        );
        assert!(v.is_idle());
        assert_eq!(v.input_idle(1, false), [Active]);
        assert_eq!(v.input_idle(1, false), [], "already active");
        assert_eq!(v.input_watermark(1, 12), Some(12));

        let mut w = WatermarkValve::new(2);
        w.input_watermark(0, 5);
        w.input_watermark(1, 9);
        assert_eq!(w.input_idle(0, true), [Watermark(9)]);
        w.input_watermark(1, 11);
        assert_eq!(w.input_idle(1, true), [Idle], "11 already out");
        assert_eq!(w.current(), 11);
    }
}
