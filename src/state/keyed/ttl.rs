//! Time to live (the module's TTL section): a state's TTL settings, the expiry time each
//! value carries, and the rules that stamp, refresh and expire values.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::eventtime::{ProcessingClock, Timestamp};

/// When a value's time to live starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlUpdateType {
    /// When it is created or written.
    OnCreateAndWrite,
    /// Also when it is read.
    OnReadAndWrite,
}

/// A state's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtlConfig {
    /// How long a value lives after its last update.
    pub ttl: Duration,
    /// What counts as an update.
    pub update_type: TtlUpdateType,
}

impl StateTtlConfig {
    /// Values expire `ttl` after they were created or written.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            update_type: TtlUpdateType::OnCreateAndWrite,
        }
    }

    /// Reads refresh the time to live too.
    pub fn on_read_and_write(mut self) -> Self {
        self.update_type = TtlUpdateType::OnReadAndWrite;
        self
    }
}

/// A value with its expiry time (`i64::MAX`: never).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Stamped<T> {
    pub(crate) v: T,
    pub(crate) exp: Timestamp,
}

impl<T> Stamped<T> {
    /// A value that never expires.
    pub(crate) fn forever(v: T) -> Self {
        Self {
            v,
            exp: Timestamp::MAX,
        }
    }
}

/// The TTL rules of one state, at one moment.
#[derive(Clone, Copy)]
pub(crate) struct Ttl {
    pub(super) config: Option<StateTtlConfig>,
    now: Timestamp,
}

impl Ttl {
    /// The rules of `config`, at the time `clock` tells (read only when there is a TTL).
    pub(crate) fn at(clock: &ProcessingClock, config: Option<StateTtlConfig>) -> Self {
        Self {
            config,
            now: if config.is_some() { clock.now() } else { 0 },
        }
    }

    /// Whether reads refresh expiry times.
    #[inline]
    pub(super) fn refreshes_on_read(&self) -> bool {
        self.config
            .is_some_and(|c| c.update_type == TtlUpdateType::OnReadAndWrite)
    }

    #[inline]
    fn expiry(&self) -> Timestamp {
        match self.config {
            Some(c) => self
                .now
                .saturating_add(i64::try_from(c.ttl.as_millis()).unwrap_or(i64::MAX)),
            None => Timestamp::MAX,
        }
    }

    #[inline]
    pub(super) fn expired<T>(&self, s: &Stamped<T>) -> bool {
        s.exp <= self.now
    }

    #[inline]
    pub(super) fn stamp<T>(&self, v: T) -> Stamped<T> {
        Stamped {
            v,
            exp: self.expiry(),
        }
    }

    /// A read: refreshes the expiry under `OnReadAndWrite`.
    #[inline]
    pub(super) fn touch<T>(&self, s: &mut Stamped<T>) {
        if self.refreshes_on_read() {
            s.exp = self.expiry();
        }
    }
}
