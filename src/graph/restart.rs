//! Restart strategies (Flink's names, parameters and defaults): whether a failed job is
//! restarted, and after how long.
//!
//! [`RestartStrategy`] is the configuration a job carries; [`RestartBackoff`] is the
//! JobMaster's running account of one job's failures, asked at each failure whether (and
//! when) to restart. Time comes in as arguments, so the decisions are tested without waiting.
//!
//! ## Non-recoverable failures
//! A failure whose [`FailureCause`](crate::data::FailureCause) is not recoverable is one no
//! restart can cure (a record larger than a network frame may be): every strategy gives up at
//! once, as Flink does for a `SuppressRestartsException`, instead of restarting into the same
//! failure.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How a job reacts to failures.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RestartStrategy {
    /// Fail at the first failure.
    None,
    /// Restart up to `attempts` times, waiting `delay_ms` before each restart.
    FixedDelay {
        /// Restarts before the job fails.
        attempts: u32,
        /// Wait before each restart.
        delay_ms: u64,
    },
    /// Restart while at most `max_failures` failures fell within the last `interval_ms`,
    /// waiting `delay_ms` before each restart.
    FailureRate {
        /// Failures tolerated within one interval.
        max_failures: u32,
        /// The interval's length.
        interval_ms: u64,
        /// Wait before each restart.
        delay_ms: u64,
    },
    /// Restart forever, waiting `initial_ms` before the first restart and `multiplier`
    /// times longer before each next one, up to `max_ms`; after `reset_after_ms` without a
    /// failure the wait starts over at `initial_ms`. Each wait is moved by up to `jitter`
    /// (a fraction) of itself, at random, so that many jobs do not restart in lockstep.
    ExponentialDelay {
        /// The first wait.
        initial_ms: u64,
        /// The longest wait.
        max_ms: u64,
        /// Growth of the wait per failure (at least 1).
        multiplier: f64,
        /// Time without failure after which the wait starts over.
        reset_after_ms: u64,
        /// Random spread of each wait, as a fraction of it (0 to 1).
        jitter: f64,
    },
}

// Equality is reflexive: the two floats are checked finite by `validate`, and JSON, TOML and
// the CLI cannot spell NaN.
impl Eq for RestartStrategy {}

impl RestartStrategy {
    /// Flink's `fixed-delay` defaults: 1 attempt, 1 s.
    pub fn fixed_delay(attempts: u32, delay: Duration) -> Self {
        Self::FixedDelay {
            attempts,
            delay_ms: millis(delay),
        }
    }

    /// `failure-rate`.
    pub fn failure_rate(max_failures: u32, interval: Duration, delay: Duration) -> Self {
        Self::FailureRate {
            max_failures,
            interval_ms: millis(interval),
            delay_ms: millis(delay),
        }
    }

    /// `exponential-delay` with Flink's defaults: 1 s initial, 1 min max, ×1.5, reset after
    /// 1 h without failure, jitter 0.1.
    pub fn exponential_delay() -> Self {
        Self::ExponentialDelay {
            initial_ms: 1_000,
            max_ms: 60_000,
            multiplier: 1.5,
            reset_after_ms: 3_600_000,
            jitter: 0.1,
        }
    }

    /// The default of a job that names none, as in Flink: exponential delay when it
    /// checkpoints, else none.
    pub fn default_for(checkpointing: bool) -> Self {
        if checkpointing {
            Self::exponential_delay()
        } else {
            Self::None
        }
    }

    /// The strategy's name, as Flink's `restart-strategy.type` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::FixedDelay { .. } => "fixed-delay",
            Self::FailureRate { .. } => "failure-rate",
            Self::ExponentialDelay { .. } => "exponential-delay",
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::ExponentialDelay {
                initial_ms,
                max_ms,
                multiplier,
                jitter,
                ..
            } => {
                if !(multiplier >= 1.0 && multiplier.is_finite()) {
                    return Err(format!(
                        "exponential-delay: the multiplier must be at least 1, not {multiplier}"
                    ));
                }
                if !(0.0..=1.0).contains(&jitter) {
                    return Err(format!(
                        "exponential-delay: the jitter must be between 0 and 1, not {jitter}"
                    ));
                }
                if initial_ms == 0 || max_ms < initial_ms {
                    return Err(format!(
                        "exponential-delay: need 0 < initial ({initial_ms} ms) <= max ({max_ms} ms)"
                    ));
                }
                Ok(())
            }
            Self::FailureRate { interval_ms: 0, .. } => {
                Err("failure-rate: the interval must be longer than 0 ms".into())
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for RestartStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::None => write!(f, "none"),
            Self::FixedDelay { attempts, delay_ms } => {
                write!(f, "fixed-delay (attempts {attempts}, delay {delay_ms} ms)")
            }
            Self::FailureRate {
                max_failures,
                interval_ms,
                delay_ms,
            } => write!(
                f,
                "failure-rate (at most {max_failures} failures per {interval_ms} ms, delay {delay_ms} ms)"
            ),
            Self::ExponentialDelay {
                initial_ms,
                max_ms,
                multiplier,
                reset_after_ms,
                jitter,
            } => write!(
                f,
                "exponential-delay (initial {initial_ms} ms, max {max_ms} ms, multiplier {multiplier}, reset after {reset_after_ms} ms, jitter {jitter})"
            ),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartDecision {
    /// Restart after this delay.
    Restart(Duration),
    /// Fail the job: the strategy gives up (why, for the failure cause).
    GiveUp(String),
}

/// A restart strategy's budget at one moment: what the dashboard's exceptions view shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartBudget {
    /// The strategy, as its settings read (`fixed-delay (attempts 3, delay 1000 ms)`).
    pub strategy: String,
    /// Restarts it granted so far.
    pub restarts: u32,
    /// Restarts it would still grant now: none for `none` or a spent budget, `None` where it
    /// never gives up (`exponential-delay`); for `failure-rate`, failures the current interval
    /// still tolerates.
    pub remaining: Option<u32>,
}

/// One job's failures, as its restart strategy counts them.
#[derive(Debug)]
pub struct RestartBackoff {
    strategy: RestartStrategy,
    /// Restarts granted so far.
    restarts: u32,
    /// `failure-rate`: failure times within the interval.
    failures: VecDeque<Instant>,
    /// `exponential-delay`: the next wait (before jitter) and the last failure's time.
    next_ms: f64,
    last_failure: Option<Instant>,
}

impl RestartBackoff {
    /// Starts counting for `strategy`.
    pub fn new(strategy: RestartStrategy) -> Self {
        let next_ms = match strategy {
            RestartStrategy::ExponentialDelay { initial_ms, .. } => initial_ms as f64,
            _ => 0.0,
        };
        Self {
            strategy,
            restarts: 0,
            failures: VecDeque::new(),
            next_ms,
            last_failure: None,
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> &RestartStrategy {
        &self.strategy
    }

    /// Restarts granted so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// What the strategy would still allow at `now`.
    pub fn budget(&self, now: Instant) -> RestartBudget {
        let remaining = match self.strategy {
            RestartStrategy::None => Some(0),
            RestartStrategy::FixedDelay { attempts, .. } => {
                Some(attempts.saturating_sub(self.restarts))
            }
            RestartStrategy::FailureRate {
                max_failures,
                interval_ms,
                ..
            } => {
                let interval = Duration::from_millis(interval_ms);
                let recent = self
                    .failures
                    .iter()
                    .filter(|t| now.saturating_duration_since(**t) < interval)
                    .count();
                Some(max_failures.saturating_sub(u32::try_from(recent).unwrap_or(u32::MAX)))
            }
            RestartStrategy::ExponentialDelay { .. } => None,
        };
        RestartBudget {
            strategy: self.strategy.to_string(),
            restarts: self.restarts,
            remaining,
        }
    }

    /// Counts a failure at `now`: as [`RestartBackoff::handle_failure`], except that one no
    /// restart can cure (not `recoverable`) gives up at once.
    pub fn handle_failure_of(
        &mut self,
        recoverable: bool,
        now: Instant,
        random: f64,
    ) -> RestartDecision {
        if !recoverable {
            self.last_failure = Some(now);
            return RestartDecision::GiveUp(
                "restarts are suppressed for a non-recoverable failure".to_string(),
            );
        }
        self.handle_failure(now, random)
    }

    /// Counts a failure at `now`; `random` in [0, 1) spreads exponential delays.
    pub fn handle_failure(&mut self, now: Instant, random: f64) -> RestartDecision {
        let decision = match self.strategy {
            RestartStrategy::None => {
                RestartDecision::GiveUp("the restart strategy is none".to_string())
            }
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                if self.restarts < attempts {
                    RestartDecision::Restart(Duration::from_millis(delay_ms))
                } else {
                    RestartDecision::GiveUp(format!(
                        "the restart strategy gave up: {} ({attempts} restarts used)",
                        self.strategy
                    ))
                }
            }
            RestartStrategy::FailureRate {
                max_failures,
                interval_ms,
                delay_ms,
            } => {
                let interval = Duration::from_millis(interval_ms);
                while self
                    .failures
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= interval)
                {
                    self.failures.pop_front();
                }
                self.failures.push_back(now);
                // Only the last `max_failures + 1` can matter.
                while self.failures.len() > max_failures as usize + 1 {
                    self.failures.pop_front();
                }
                if self.failures.len() <= max_failures as usize {
                    RestartDecision::Restart(Duration::from_millis(delay_ms))
                } else {
                    RestartDecision::GiveUp(format!(
                        "the restart strategy gave up: {} ({} failures within the interval)",
                        self.strategy,
                        self.failures.len()
                    ))
                }
            }
            RestartStrategy::ExponentialDelay {
                initial_ms,
                max_ms,
                multiplier,
                reset_after_ms,
                jitter,
            } => {
                let quiet = self.last_failure.is_some_and(|t| {
                    now.saturating_duration_since(t).as_millis() as u64 >= reset_after_ms
                });
                if quiet {
                    self.next_ms = initial_ms as f64;
                }
                let base = self.next_ms;
                let spread = base * jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
                let wait = (base + spread).clamp(0.0, max_ms as f64);
                self.next_ms = (base * multiplier).min(max_ms as f64);
                RestartDecision::Restart(Duration::from_millis(wait.round() as u64))
            }
        };
        self.last_failure = Some(now);
        if matches!(decision, RestartDecision::Restart(_)) {
            self.restarts += 1;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delays(b: &mut RestartBackoff, at: &[u64], random: f64) -> Vec<Option<u64>> {
        let t0 = Instant::now();
        at.iter()
            .map(|t| match b.handle_failure(t0 + ms(*t), random) {
                RestartDecision::Restart(d) => Some(d.as_millis() as u64),
                RestartDecision::GiveUp(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_budget_shrinks_with_each_restart_and_refills_with_the_interval() {
        let t0 = Instant::now();
        let mut fixed = RestartBackoff::new(RestartStrategy::fixed_delay(3, ms(250)));
        assert_eq!(fixed.budget(t0).remaining, Some(3));
        delays(&mut fixed, &[0, 10], 0.5);
        let b = fixed.budget(t0);
        assert_eq!((b.restarts, b.remaining), (2, Some(1)));
        assert!(
            b.strategy.starts_with("fixed-delay (attempts 3"),
            "{}",
            b.strategy
        );

        let mut rate = RestartBackoff::new(RestartStrategy::failure_rate(2, ms(1_000), ms(50)));
        assert_eq!(
            rate.handle_failure(t0, 0.5),
            RestartDecision::Restart(ms(50))
        );
        assert_eq!(rate.budget(t0 + ms(10)).remaining, Some(1));
        assert_eq!(rate.budget(t0 + ms(1_000)).remaining, Some(2));

        assert_eq!(
            RestartBackoff::new(RestartStrategy::None)
                .budget(t0)
                .remaining,
            Some(0)
        );
        let exp = RestartBackoff::new(RestartStrategy::ExponentialDelay {
            initial_ms: 10,
            max_ms: 100,
            multiplier: 2.0,
            reset_after_ms: 1_000,
            jitter: 0.0,
        });
        assert_eq!(exp.budget(t0).remaining, None);
    }

    #[test]
    fn none_gives_up_at_once() {
        let mut b = RestartBackoff::new(RestartStrategy::None);
        assert_eq!(delays(&mut b, &[0], 0.5), vec![None]);
        assert_eq!(b.restarts(), 0);
    }

    #[test]
    fn fixed_delay_restarts_attempts_times() {
        let mut b = RestartBackoff::new(RestartStrategy::fixed_delay(3, ms(250)));
        assert_eq!(
            delays(&mut b, &[0, 10, 20, 30, 40], 0.5),
            vec![Some(250), Some(250), Some(250), None, None]
        );
        assert_eq!(b.restarts(), 3);
    }

    #[test]
    fn failure_rate_counts_only_failures_within_the_interval() {
        let mut b = RestartBackoff::new(RestartStrategy::failure_rate(2, ms(1_000), ms(50)));
        // Two failures in a second are tolerated; a third within one second is not.
        assert_eq!(
            delays(&mut b, &[0, 600, 1_500, 1_900, 2_000], 0.5),
            vec![Some(50), Some(50), Some(50), Some(50), None]
        );
        let mut b = RestartBackoff::new(RestartStrategy::failure_rate(2, ms(1_000), ms(50)));
        // Spread out, failures never give up.
        assert_eq!(
            delays(&mut b, &[0, 600, 1_700, 2_300, 3_400], 0.5),
            vec![Some(50); 5]
        );
    }

    #[test]
    fn exponential_delay_grows_to_its_cap_and_starts_over_after_a_quiet_period() {
        let s = RestartStrategy::ExponentialDelay {
            initial_ms: 100,
            max_ms: 1_000,
            multiplier: 2.0,
            reset_after_ms: 10_000,
            jitter: 0.0,
        };
        let mut b = RestartBackoff::new(s);
        assert_eq!(
            delays(&mut b, &[0, 1, 2, 3, 4, 5, 20_000], 0.9),
            vec![
                Some(100),
                Some(200),
                Some(400),
                Some(800),
                Some(1_000),
                Some(1_000),
                Some(100)
            ]
        );
    }

    #[test]
    fn exponential_jitter_stays_within_its_fraction() {
        let s = RestartStrategy::ExponentialDelay {
            initial_ms: 1_000,
            max_ms: 60_000,
            multiplier: 1.0,
            reset_after_ms: 3_600_000,
            jitter: 0.1,
        };
        let mut b = RestartBackoff::new(s);
        assert_eq!(delays(&mut b, &[0], 0.0), vec![Some(900)]);
        assert_eq!(delays(&mut b, &[0], 1.0), vec![Some(1_100)]);
        assert_eq!(delays(&mut b, &[0], 0.5), vec![Some(1_000)]);
    }

    #[test]
    fn a_non_recoverable_failure_gives_up_whatever_the_strategy() {
        let t0 = Instant::now();
        for s in [
            RestartStrategy::fixed_delay(3, ms(10)),
            RestartStrategy::failure_rate(5, ms(1_000), ms(10)),
            RestartStrategy::exponential_delay(),
        ] {
            let mut b = RestartBackoff::new(s);
            assert!(matches!(
                b.handle_failure_of(false, t0, 0.5),
                RestartDecision::GiveUp(_)
            ));
            assert_eq!(b.restarts(), 0);
            // Other failures still restart.
            assert!(matches!(
                b.handle_failure_of(true, t0, 0.5),
                RestartDecision::Restart(_)
            ));
        }
    }

    #[test]
    fn defaults_follow_flink() {
        assert_eq!(RestartStrategy::default_for(false), RestartStrategy::None);
        assert_eq!(
            RestartStrategy::default_for(true).name(),
            "exponential-delay"
        );
        assert!(RestartStrategy::exponential_delay().validate().is_ok());
        let bad = RestartStrategy::ExponentialDelay {
            initial_ms: 10,
            max_ms: 5,
            multiplier: 0.5,
            reset_after_ms: 0,
            jitter: 2.0,
        };
        assert!(bad.validate().is_err());
    }
}
