//! What a JobManager in an HA cluster keeps in etcd, and what its parts ask of it: whether
//! this process leads right now ([`HaServices::leading`]), the job store (every submitted,
//! not yet ended job, as submitted) and each job's latest completed checkpoint. Every write
//! is fenced on the leader's term, so a JobManager that lost its lease writes nothing that
//! sticks.
//!
//! Keys, under `/rill/<cluster-id>/`: `leader` (the elected JobManager's [`LeaderInfo`]),
//! `jobs/<job id>` (a [`StoredJob`]), `checkpoints/<job id>` (a [`CheckpointPointer`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::etcd::{Etcd, EtcdError};
use crate::ids::JobId;
use crate::rest::model::SubmitJobRequest;

/// The lease TTL when none is configured: a dead leader is replaced about this long after
/// its last renewal.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(2);
/// How long one etcd request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Bad HA settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaConfigError {
    /// `--ha` is neither `none` nor `etcd://…`.
    #[error("--ha {0}: expected `none` or `etcd://HOST:PORT[,HOST:PORT…]`")]
    Mode(String),
    /// `etcd://` with no endpoint.
    #[error("--ha {0}: no etcd endpoint given")]
    NoEndpoint(String),
    /// HA without a cluster id.
    #[error("--ha etcd://… needs --cluster-id NAME (the same on every JobManager and TaskManager of the cluster)")]
    NoClusterId,
    /// A cluster id that cannot be part of a key.
    #[error("--cluster-id {0:?}: use letters, digits, '-', '_' and '.' only")]
    ClusterId(String),
}

/// Why an HA operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    /// etcd could not be used.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// This JobManager does not lead (any more): the write was refused by its fence.
    #[error("this JobManager is not the leader of cluster {cluster} (any more)")]
    NotLeader {
        /// The cluster id.
        cluster: String,
    },
    /// A stored value is not what Rill writes there.
    #[error("{key} in etcd: {message}")]
    Damaged {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Where a cluster keeps its HA state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaSettings {
    /// etcd's client endpoints, `host:port`.
    pub endpoints: Vec<String>,
    /// The cluster's name: its keys' prefix.
    pub cluster_id: String,
    /// The leader's lease.
    pub lease_ttl: Duration,
}

impl HaSettings {
    /// Parses `--ha` (`none` → `None`, `etcd://h:p[,h:p…]`) with `--cluster-id`.
    pub fn parse(mode: &str, cluster_id: Option<&str>) -> Result<Option<Self>, HaConfigError> {
        if mode == "none" {
            return Ok(None);
        }
        let Some(rest) = mode.strip_prefix("etcd://") else {
            return Err(HaConfigError::Mode(mode.to_string()));
        };
        let endpoints: Vec<String> = rest
            .trim_end_matches('/')
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect();
        if endpoints.is_empty() {
            return Err(HaConfigError::NoEndpoint(mode.to_string()));
        }
        let cluster_id = cluster_id.ok_or(HaConfigError::NoClusterId)?;
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if cluster_id.is_empty() || !cluster_id.chars().all(valid) {
            return Err(HaConfigError::ClusterId(cluster_id.to_string()));
        }
        Ok(Some(Self {
            endpoints,
            cluster_id: cluster_id.to_string(),
            lease_ttl: DEFAULT_LEASE_TTL,
        }))
    }

    /// Connects to etcd (one endpoint must answer; the error names them all).
    pub fn connect(&self) -> Result<Etcd, EtcdError> {
        Etcd::connect(&self.endpoints, REQUEST_TIMEOUT)
    }

    fn prefix(&self) -> String {
        format!("/rill/{}/", self.cluster_id)
    }
}

/// What the leader key holds: how to reach the elected JobManager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// Its node id.
    pub id: String,
    /// Its RPC (QUIC) address.
    pub rpc: std::net::SocketAddr,
    /// Its REST API, `http://host:port`.
    pub rest: String,
}

/// A job in the job store: its id and the submission it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredJob {
    /// The job's id, kept across takeovers.
    pub job_id: JobId,
    /// The submission.
    pub request: SubmitJobRequest,
}

/// A job's latest completed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPointer {
    /// Its id.
    pub checkpoint_id: u64,
    /// Its directory (a path or `s3://…`).
    pub path: PathBuf,
}

/// Whether this process leads, and since when its lease is known to be alive.
#[derive(Debug, Default)]
struct Leadership {
    /// The fencing token (the leader key's create revision); 0: not leading.
    token: AtomicI64,
    /// When the last successful renewal was sent.
    renewed: Mutex<Option<Instant>>,
    /// The leader's lease (0: none).
    lease: AtomicI64,
    /// It gave the lead up on purpose (shutting down).
    resigned: std::sync::atomic::AtomicBool,
}

/// A JobManager's view of its cluster's HA state.
#[derive(Debug)]
pub struct HaServices {
    etcd: Etcd,
    settings: HaSettings,
    leadership: Leadership,
    /// The leader as last seen by a standby (for its REST API).
    known_leader: Mutex<Option<LeaderInfo>>,
}

impl HaServices {
    /// Services on `etcd` for `settings`.
    pub fn new(etcd: Etcd, settings: HaSettings) -> Self {
        Self {
            etcd,
            settings,
            leadership: Leadership::default(),
            known_leader: Mutex::new(None),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &HaSettings {
        &self.settings
    }

    /// The etcd connection.
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    /// The leader key.
    pub fn leader_key(&self) -> String {
        super::election::leader_key(&self.settings.cluster_id)
    }

    fn job_key(&self, job: JobId) -> String {
        format!("{}jobs/{job}", self.settings.prefix())
    }

    fn pointer_key(&self, job: JobId) -> String {
        format!("{}checkpoints/{job}", self.settings.prefix())
    }

    /// This process leads, with `token`, its lease renewed by a request sent at `sent`.
    pub fn renewed(&self, token: i64, sent: Instant) {
        if let Ok(mut r) = self.leadership.renewed.lock() {
            *r = Some(sent);
        }
        self.leadership.token.store(token, Ordering::SeqCst);
    }

    /// This process does not lead (any more).
    pub fn lost(&self) {
        self.leadership.token.store(0, Ordering::SeqCst);
    }

    /// Whether it gave the lead up on purpose ([`Self::resign`]).
    pub fn resigned(&self) -> bool {
        self.leadership.resigned.load(Ordering::SeqCst)
    }

    /// Notes the lease a leader holds (for [`Self::resign`]).
    pub fn leads_with_lease(&self, lease: i64) {
        self.leadership.lease.store(lease, Ordering::SeqCst);
    }

    /// Gives the lead up at once (a JobManager shutting down): it stops writing, and its
    /// lease is revoked, which deletes the leader key, so a standby takes over without
    /// waiting for the lease to expire. Its jobs stay in the job store for the next leader.
    pub fn resign(&self) -> Result<(), HaError> {
        self.leadership.resigned.store(true, Ordering::SeqCst);
        self.lost();
        match self.leadership.lease.swap(0, Ordering::SeqCst) {
            0 => Ok(()),
            lease => Ok(self.etcd.revoke(lease)?),
        }
    }

    /// The fencing token while this process leads: its token, if its lease was renewed
    /// within the TTL (a process that was paused longer than that knows at once that it may
    /// have been replaced, before it reaches etcd).
    pub fn token(&self) -> Option<i64> {
        let token = self.leadership.token.load(Ordering::SeqCst);
        let fresh = self
            .leadership
            .renewed
            .lock()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|at| at.elapsed() < self.settings.lease_ttl);
        (token != 0 && fresh).then_some(token)
    }

    /// Whether this process leads (see [`Self::token`]).
    pub fn leading(&self) -> bool {
        self.token().is_some()
    }

    fn not_leader(&self) -> HaError {
        HaError::NotLeader {
            cluster: self.settings.cluster_id.clone(),
        }
    }

    /// Asks etcd whether this process still leads: the leader key must be its term's.
    pub fn confirm_leading(&self) -> Result<i64, HaError> {
        let token = self.token().ok_or_else(|| self.not_leader())?;
        match self.etcd.get(&self.leader_key())? {
            Some(kv) if kv.create_revision == token => Ok(token),
            _ => Err(self.not_leader()),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), HaError> {
        let token = self.token().ok_or_else(|| self.not_leader())?;
        if self
            .etcd
            .put_fenced(&self.leader_key(), token, key, value)?
        {
            Ok(())
        } else {
            Err(self.not_leader())
        }
    }

    fn delete(&self, key: &str) -> Result<(), HaError> {
        let token = self.token().ok_or_else(|| self.not_leader())?;
        if self.etcd.delete_fenced(&self.leader_key(), token, key)? {
            Ok(())
        } else {
            Err(self.not_leader())
        }
    }

    /// Stores a submitted job (before the submission is acknowledged).
    pub fn store_job(&self, job: &StoredJob) -> Result<(), HaError> {
        let value = serde_json::to_vec(job).map_err(|e| HaError::Damaged {
            key: self.job_key(job.job_id),
            message: e.to_string(),
        })?;
        self.put(&self.job_key(job.job_id), &value)
    }

    /// Removes an ended job, then its checkpoint pointer (the other order could leave a job
    /// that a successor would run again from the start).
    pub fn remove_job(&self, job: JobId) -> Result<(), HaError> {
        self.delete(&self.job_key(job))?;
        self.delete(&self.pointer_key(job))
    }

    /// Every stored job.
    pub fn jobs(&self) -> Result<Vec<StoredJob>, HaError> {
        let prefix = format!("{}jobs/", self.settings.prefix());
        self.etcd
            .list(&prefix)?
            .into_iter()
            .map(|kv| {
                serde_json::from_slice(&kv.value).map_err(|e| HaError::Damaged {
                    key: kv.key.clone(),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// Records `dir` as `job`'s latest completed checkpoint `id`.
    pub fn checkpoint_completed(&self, job: JobId, id: u64, dir: &Path) -> Result<(), HaError> {
        let pointer = CheckpointPointer {
            checkpoint_id: id,
            path: dir.to_path_buf(),
        };
        let value = serde_json::to_vec(&pointer).map_err(|e| HaError::Damaged {
            key: self.pointer_key(job),
            message: e.to_string(),
        })?;
        self.put(&self.pointer_key(job), &value)
    }

    /// `job`'s latest completed checkpoint, if it has one.
    pub fn checkpoint_pointer(&self, job: JobId) -> Result<Option<CheckpointPointer>, HaError> {
        let key = self.pointer_key(job);
        match self.etcd.get(&key)? {
            None => Ok(None),
            Some(kv) => serde_json::from_slice(&kv.value)
                .map(Some)
                .map_err(|e| HaError::Damaged {
                    key,
                    message: e.to_string(),
                }),
        }
    }

    /// The leader as a standby last saw it.
    pub fn known_leader(&self) -> Option<LeaderInfo> {
        self.known_leader.lock().ok().and_then(|l| l.clone())
    }

    /// Notes the leader a standby saw.
    pub fn saw_leader(&self, leader: Option<LeaderInfo>) {
        if let Ok(mut l) = self.known_leader.lock() {
            *l = leader;
        }
    }
}

/// Reads the leader of a cluster from etcd (for TaskManagers): its address and term.
#[derive(Debug, Clone)]
pub struct LeaderRetrieval {
    etcd: Etcd,
    key: String,
}

impl LeaderRetrieval {
    /// Retrieval of `settings`' leader through `etcd`.
    pub fn new(etcd: Etcd, settings: &HaSettings) -> Self {
        Self {
            etcd,
            key: super::election::leader_key(&settings.cluster_id),
        }
    }

    /// The leader and its term's token, if one is elected.
    pub fn leader(&self) -> Result<Option<(LeaderInfo, i64)>, HaError> {
        match self.etcd.get(&self.key)? {
            None => Ok(None),
            Some(kv) => serde_json::from_slice(&kv.value)
                .map(|info| Some((info, kv.create_revision)))
                .map_err(|e| HaError::Damaged {
                    key: self.key.clone(),
                    message: e.to_string(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha_modes_parse_with_their_errors() {
        assert_eq!(HaSettings::parse("none", None), Ok(None));
        let s = HaSettings::parse("etcd://127.0.0.1:2379,127.0.0.2:2379/", Some("prod-1"))
            .expect("valid")
            .expect("etcd");
        assert_eq!(s.endpoints, ["127.0.0.1:2379", "127.0.0.2:2379"]);
        assert_eq!(s.cluster_id, "prod-1");
        assert_eq!(s.lease_ttl, DEFAULT_LEASE_TTL);
        assert_eq!(
            HaSettings::parse("zookeeper://x:2181", Some("c")),
            Err(HaConfigError::Mode("zookeeper://x:2181".into()))
        );
        assert_eq!(
            HaSettings::parse("etcd://", Some("c")),
            Err(HaConfigError::NoEndpoint("etcd://".into()))
        );
        assert_eq!(
            HaSettings::parse("etcd://h:1", None),
            Err(HaConfigError::NoClusterId)
        );
        assert_eq!(
            HaSettings::parse("etcd://h:1", Some("a/b")),
            Err(HaConfigError::ClusterId("a/b".into()))
        );
    }

    #[test]
    fn a_leader_whose_renewal_is_older_than_the_ttl_does_not_lead() {
        let etcd = Etcd::unchecked(&["127.0.0.1:1".to_string()], REQUEST_TIMEOUT);
        let mut settings = HaSettings::parse("etcd://127.0.0.1:1", Some("c"))
            .expect("valid")
            .expect("etcd");
        settings.lease_ttl = Duration::from_millis(50);
        let ha = HaServices::new(etcd, settings);
        assert_eq!(ha.token(), None);
        ha.renewed(7, Instant::now());
        assert_eq!(ha.token(), Some(7));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            ha.token(),
            None,
            "paused past its TTL: it may have been replaced"
        );
        ha.renewed(7, Instant::now());
        ha.lost();
        assert!(!ha.leading());
    }
}
