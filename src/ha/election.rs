//! Leader election on etcd: the contenders of a cluster (`cluster_id`) race to create one key,
//! `/rill/<cluster_id>/leader`, bound to a lease of their own. Whoever created it leads while
//! the key lives: its **fencing token** is the key's create revision, unique to that term.
//! Every write the leader makes is fenced on it ([`Etcd::put_fenced`]), so a leader that lost
//! its lease (paused, partitioned) makes no write that sticks, even before it knows.
//!
//! The leader renews its lease (every third of the TTL); a renewal that fails or finds the
//! lease expired or the key not its own any more ends its term ([`Term::Lost`]), and it must
//! stop acting at once. A standby campaigns again when the key is gone, which happens at the
//! latest one TTL after the leader stopped renewing.

use std::time::Duration;

use super::etcd::{Etcd, EtcdError};

/// Where one contender stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// It leads, with this fencing token.
    Leader {
        /// The leader key's create revision.
        token: i64,
    },
    /// Another leads (its id), or nobody does right now (`None`).
    Standby {
        /// The leader's id.
        leader: Option<String>,
    },
    /// It led and does not any more: its lease expired or etcd was unreachable too long.
    Lost,
}

/// One contender's election.
#[derive(Debug)]
pub struct LeaderElection {
    etcd: Etcd,
    key: String,
    id: String,
    ttl: Duration,
    lease: Option<i64>,
    token: Option<i64>,
}

/// The key of the leader of `cluster_id`.
pub fn leader_key(cluster_id: &str) -> String {
    format!("/rill/{cluster_id}/leader")
}

impl LeaderElection {
    /// A contender named `id` (what the others see of the leader: its address) in
    /// `cluster_id`, with a lease of `ttl` (whole seconds, at least 1).
    pub fn new(etcd: Etcd, cluster_id: &str, id: &str, ttl: Duration) -> Self {
        Self {
            etcd,
            key: leader_key(cluster_id),
            id: id.to_string(),
            ttl: ttl.max(Duration::from_secs(1)),
            lease: None,
            token: None,
        }
    }

    /// The leader key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lease it holds, if any.
    pub fn lease(&self) -> Option<i64> {
        self.lease
    }

    /// How often a leader renews its lease: a third of the TTL.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Tries to become leader (or confirms that it is).
    pub fn campaign(&mut self) -> Result<Term, EtcdError> {
        if let Some(token) = self.token {
            return self.renew().map(|t| match t {
                Term::Lost => Term::Lost,
                _ => Term::Leader { token },
            });
        }
        let lease = match self.lease {
            Some(l) if self.etcd.keep_alive(l)? > 0 => l,
            _ => {
                let l = self.etcd.grant(self.ttl.as_secs() as i64)?;
                self.lease = Some(l);
                l
            }
        };
        match self.etcd.create(&self.key, self.id.as_bytes(), lease)? {
            Ok(token) => {
                self.token = Some(token);
                Ok(Term::Leader { token })
            }
            Err(other) => Ok(Term::Standby {
                leader: String::from_utf8(other.value).ok(),
            }),
        }
    }

    /// Renews a leader's lease: still [`Term::Leader`], or [`Term::Lost`] when the lease
    /// expired or the key is no longer this term's. (An error reaching etcd is returned: the
    /// caller steps down when renewals fail for longer than the TTL.)
    pub fn renew(&mut self) -> Result<Term, EtcdError> {
        let (Some(lease), Some(token)) = (self.lease, self.token) else {
            return Ok(Term::Standby { leader: None });
        };
        let left = self.etcd.keep_alive(lease)?;
        let ours = self
            .etcd
            .get(&self.key)?
            .is_some_and(|kv| kv.create_revision == token);
        if left > 0 && ours {
            Ok(Term::Leader { token })
        } else {
            self.lose();
            Ok(Term::Lost)
        }
    }

    /// Forgets the term (its lease may still be alive in etcd until it expires).
    pub fn lose(&mut self) {
        self.token = None;
        self.lease = None;
    }

    /// Gives up leadership at once: the lease is revoked, the key deleted with it.
    pub fn resign(&mut self) -> Result<(), EtcdError> {
        let lease = self.lease.take();
        self.token = None;
        match lease {
            Some(l) => self.etcd.revoke(l),
            None => Ok(()),
        }
    }

    /// The current leader's id, if any.
    pub fn leader(&self) -> Result<Option<String>, EtcdError> {
        Ok(self
            .etcd
            .get(&self.key)?
            .and_then(|kv| String::from_utf8(kv.value).ok()))
    }

    /// Writes `value` at `key` only while this contender leads.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<bool, EtcdError> {
        match self.token {
            Some(token) => self.etcd.put_fenced(&self.key, token, key, value),
            None => Ok(false),
        }
    }
}
