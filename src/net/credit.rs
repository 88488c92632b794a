//! Credit-based flow control, as plain state machines (no actors, no clocks).
//!
//! ## Protocol (Flink's)
//! - Each input channel owns `exclusive` buffers; each input gate shares a pool of `floating`
//!   buffers among its channels.
//! - A consumer announces one credit per free buffer it holds for a channel. A producer sends a
//!   buffer (or event) on a channel only while it holds credit for it, and tells the consumer its
//!   backlog (elements still queued) with every send.
//! - A channel whose backlog exceeds its credit is granted floating buffers while the pool has
//!   any; a floating buffer whose channel no longer needs it goes back to the pool, and from
//!   there to a channel that does.
//!
//! ## Invariant
//! For every channel, `announced + queued == exclusive + floating_held`: every buffer the channel
//! holds is either free (announced to the producer as credit) or holds a received element. So the
//! elements in flight to a consumer never exceed `channels * exclusive + floating`.

use thiserror::Error;

/// A breach of the credit protocol by the other side.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CreditError {
    /// A buffer arrived on a channel that had no credit.
    #[error("channel {0} received a buffer without credit")]
    NoCredit(usize),
    /// A channel was asked to release a buffer it did not hold.
    #[error("channel {0} released a buffer it did not hold")]
    NothingQueued(usize),
    /// The channel index is not part of this gate.
    #[error("channel {0} is not part of this input gate")]
    UnknownChannel(usize),
}

/// Credit to announce to a channel's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The channel.
    pub channel: usize,
    /// How many credits to add.
    pub credits: u32,
}

#[derive(Debug, Clone, Default)]
struct ChannelCredit {
    announced: u32,
    queued: u32,
    floating_held: u32,
    backlog: u32,
    ended: bool,
}

/// The consumer side: buffers of one input gate.
#[derive(Debug, Clone)]
pub struct InputGateCredits {
    exclusive: u32,
    floating_total: u32,
    floating_free: u32,
    channels: Vec<ChannelCredit>,
}

impl InputGateCredits {
    /// A gate of `channels` channels; each starts with `exclusive` credits announced.
    pub fn new(channels: usize, exclusive: u32, floating: u32) -> Self {
        Self {
            exclusive,
            floating_total: floating,
            floating_free: floating,
            channels: vec![
                ChannelCredit {
                    announced: exclusive,
                    ..ChannelCredit::default()
                };
                channels
            ],
        }
    }

    /// The credit each channel starts with (sent with the partition request).
    pub fn initial_credit(&self) -> u32 {
        self.exclusive
    }

    fn channel(&mut self, ch: usize) -> Result<&mut ChannelCredit, CreditError> {
        self.channels
            .get_mut(ch)
            .ok_or(CreditError::UnknownChannel(ch))
    }

    /// An element arrived on `ch`; the producer still has `backlog` queued. Returns floating
    /// credit to grant, if the backlog calls for it and the pool has some.
    pub fn on_element(&mut self, ch: usize, backlog: u32) -> Result<Option<Grant>, CreditError> {
        let c = self.channel(ch)?;
        if c.announced == 0 {
            return Err(CreditError::NoCredit(ch));
        }
        c.announced -= 1;
        c.queued += 1;
        c.backlog = backlog;
        if c.ended {
            return Ok(None);
        }
        let want = backlog.saturating_sub(c.announced);
        let g = want.min(self.floating_free);
        if g == 0 {
            return Ok(None);
        }
        self.floating_free -= g;
        let c = self.channel(ch)?;
        c.floating_held += g;
        c.announced += g;
        Ok(Some(Grant {
            channel: ch,
            credits: g,
        }))
    }

    /// An element of `ch` was processed and its buffer is free again. Returns the credit to
    /// announce: to `ch` itself, or, if `ch` held a floating buffer it no longer needs, to
    /// another channel waiting for one.
    pub fn on_consumed(&mut self, ch: usize) -> Result<Option<Grant>, CreditError> {
        let c = self.channel(ch)?;
        if c.queued == 0 {
            return Err(CreditError::NothingQueued(ch));
        }
        c.queued -= 1;
        let surplus = c.floating_held > 0 && (c.ended || c.backlog <= c.announced);
        if !surplus {
            if c.ended {
                return Ok(None);
            }
            c.announced += 1;
            return Ok(Some(Grant {
                channel: ch,
                credits: 1,
            }));
        }
        c.floating_held -= 1;
        self.floating_free += 1;
        Ok(self.grant_floating())
    }

    /// The channel received its end of partition: it needs no more buffers.
    pub fn on_ended(&mut self, ch: usize) -> Result<(), CreditError> {
        let c = self.channel(ch)?;
        c.ended = true;
        Ok(())
    }

    fn grant_floating(&mut self) -> Option<Grant> {
        if self.floating_free == 0 {
            return None;
        }
        let (ch, c) = self
            .channels
            .iter_mut()
            .enumerate()
            .find(|(_, c)| !c.ended && c.backlog > c.announced)?;
        self.floating_free -= 1;
        c.floating_held += 1;
        c.announced += 1;
        Some(Grant {
            channel: ch,
            credits: 1,
        })
    }

    /// Elements received and not yet consumed, over all channels.
    pub fn queued(&self) -> u32 {
        self.channels.iter().map(|c| c.queued).sum()
    }

    /// The most elements that can be in flight to this gate (queued or announced).
    pub fn capacity(&self) -> u32 {
        self.exclusive * self.channels.len() as u32 + self.floating_total
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        let held: u32 = self.channels.iter().map(|c| c.floating_held).sum();
        assert_eq!(held + self.floating_free, self.floating_total);
        for c in &self.channels {
            assert_eq!(c.announced + c.queued, self.exclusive + c.floating_held);
        }
    }
}

/// The producer side of one channel: credit held, to spend one per element sent.
#[derive(Debug, Clone, Default)]
pub struct OutputCredit {
    credits: u32,
}

impl OutputCredit {
    /// Adds announced credit.
    pub fn add(&mut self, n: u32) {
        self.credits = self.credits.saturating_add(n);
    }

    /// Spends one credit, if there is one.
    pub fn try_take(&mut self) -> bool {
        if self.credits == 0 {
            return false;
        }
        self.credits -= 1;
        true
    }

    /// Credit currently held.
    pub fn available(&self) -> u32 {
        self.credits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exclusive_credit_comes_back_after_consumption() {
        let mut g = InputGateCredits::new(2, 2, 0);
        assert_eq!(g.on_element(0, 0), Ok(None));
        assert_eq!(g.on_element(0, 0), Ok(None));
        assert_eq!(g.on_element(0, 0), Err(CreditError::NoCredit(0)));
        assert_eq!(
            g.on_consumed(0),
            Ok(Some(Grant {
                channel: 0,
                credits: 1
            }))
        );
        g.check_invariants();
    }

    #[test]
    fn backlog_draws_floating_buffers_and_returns_them() {
        let mut g = InputGateCredits::new(2, 1, 3);
        // channel 0 has 5 more queued at the producer: all three floating buffers go to it
        assert_eq!(
            g.on_element(0, 5),
            Ok(Some(Grant {
                channel: 0,
                credits: 3
            }))
        );
        g.check_invariants();
        // channel 1 wants some too but the pool is empty
        assert_eq!(g.on_element(1, 2), Ok(None));
        // channel 0's producer then drains: backlog 0; consuming frees a floating buffer,
        // which goes to channel 1
        assert_eq!(g.on_element(0, 0), Ok(None));
        assert_eq!(
            g.on_consumed(0),
            Ok(Some(Grant {
                channel: 1,
                credits: 1
            }))
        );
        g.check_invariants();
    }

    #[derive(Debug, Clone)]
    enum Step {
        Send(usize, u32),
        Consume(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0usize..4, 0u32..6).prop_map(|(c, b)| Step::Send(c, b)),
            (0usize..4).prop_map(Step::Consume)
        ]
    }

    proptest! {
        /// Producers that send only with credit never overrun the gate, and the consumer's
        /// accounting agrees with the producers' at every step.
        #[test]
        fn credits_never_overrun(steps in proptest::collection::vec(step(), 1..300), exclusive in 1u32..3, floating in 0u32..5) {
            let mut gate = InputGateCredits::new(4, exclusive, floating);
            let mut producer: Vec<OutputCredit> = (0..4).map(|_| { let mut c = OutputCredit::default(); c.add(exclusive); c }).collect();
            let mut queue = [0u32; 4];
            for s in steps {
                match s {
                    Step::Send(ch, backlog) => {
                        if producer[ch].try_take() {
                            if let Some(g) = gate.on_element(ch, backlog).expect("sent with credit") {
                                producer[g.channel].add(g.credits);
                            }
                            queue[ch] += 1;
                        }
                    }
                    Step::Consume(ch) => {
                        if queue[ch] > 0 {
                            queue[ch] -= 1;
                            if let Some(g) = gate.on_consumed(ch).expect("queued") {
                                producer[g.channel].add(g.credits);
                            }
                        } else {
                            prop_assert_eq!(gate.on_consumed(ch), Err(CreditError::NothingQueued(ch)));
                        }
                    }
                }
                gate.check_invariants();
                prop_assert!(gate.queued() <= gate.capacity());
                let held: u32 = producer.iter().map(OutputCredit::available).sum();
                prop_assert!(held + gate.queued() <= gate.capacity());
            }
        }
    }
}
