//! The settings file of `rill jobmanager` and `rill taskmanager` (see the module above for
//! its keys).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{StartError, SECRET_ENV};
use crate::config::RuntimeConfig;
use crate::net::quic::QuicSettings;

/// The settings file.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The cluster secret.
    pub secret: Option<String>,
    /// JobManager settings.
    #[serde(default)]
    pub jobmanager: JobManagerSection,
    /// TaskManager settings.
    #[serde(default)]
    pub taskmanager: TaskManagerSection,
    /// Runtime settings.
    #[serde(default)]
    pub runtime: RuntimeSection,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsSection,
    /// Object-store settings for `s3://` checkpoint locations, over the `AWS_*` environment
    /// variables (see [`crate::checkpoint::store::S3Options`]).
    #[serde(default)]
    pub s3: std::collections::BTreeMap<String, toml::Value>,
    /// High-availability settings.
    #[serde(default)]
    pub ha: HaSection,
}

/// `[ha]`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct HaSection {
    /// `none` or `etcd://host:port[,host:port…]`.
    pub mode: Option<String>,
    /// The cluster's name in etcd.
    pub cluster_id: Option<String>,
    /// The leader's lease, whole seconds (default 2).
    pub lease_ttl_s: Option<u64>,
}

/// `[jobmanager]`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct JobManagerSection {
    /// RPC address.
    pub bind: Option<SocketAddr>,
    /// REST address.
    pub rest: Option<SocketAddr>,
    /// How often `/actors/stream` gathers the topology while clients listen.
    pub actors_stream_interval_ms: Option<u64>,
    /// The IP address the other nodes reach it at (with `--ha`, when it binds an
    /// unspecified address).
    pub advertise: Option<std::net::IpAddr>,
}

/// `[taskmanager]`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct TaskManagerSection {
    /// The JobManager's RPC address.
    pub jobmanager: Option<SocketAddr>,
    /// This TaskManager's endpoint.
    pub bind: Option<SocketAddr>,
    /// The IP address other nodes reach it at (with the bound port).
    pub advertise: Option<std::net::IpAddr>,
    /// Slots.
    pub slots: Option<usize>,
    /// Where it serves its Prometheus metrics.
    pub metrics: Option<SocketAddr>,
}

/// `[runtime]`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    /// Heartbeat interval.
    pub heartbeat_interval_ms: Option<u64>,
    /// Heartbeat timeout.
    pub heartbeat_timeout_ms: Option<u64>,
    /// RPC timeout.
    pub rpc_timeout_ms: Option<u64>,
    /// Slot request timeout.
    pub slot_request_timeout_ms: Option<u64>,
    /// Records per buffer.
    pub buffer_size: Option<usize>,
    /// Serialized bytes per buffer.
    pub buffer_bytes: Option<usize>,
    /// About the most bytes of a buffer in memory.
    pub memory_buffer_bytes: Option<usize>,
    /// Whether subtasks keep their time and watermark metrics.
    pub task_metrics: Option<bool>,
    /// Exclusive credits per channel.
    pub exclusive_credits: Option<u32>,
    /// Floating credits per gate.
    pub floating_credits: Option<u32>,
    /// Buffer timeout.
    pub buffer_timeout_ms: Option<u64>,
    /// Where jobs write checkpoints unless they name a directory.
    pub checkpoint_dir: Option<PathBuf>,
    /// The state backend of jobs that name none (`heap` or `rocksdb`).
    pub state_backend: Option<crate::state::StateBackendKind>,
    /// Where TaskManagers keep RocksDB instances.
    pub local_state_dir: Option<PathBuf>,
    /// MiB of value and list state cached in front of each RocksDB instance.
    pub rocksdb_cache_mb: Option<usize>,
    /// The restart strategy of jobs that name none.
    pub restart_strategy: Option<crate::graph::RestartStrategy>,
    /// The failover strategy of jobs that name none.
    pub failover_strategy: Option<crate::graph::FailoverStrategy>,
}

/// `[tls]`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub certificate: Option<PathBuf>,
    /// PEM private key.
    pub private_key: Option<PathBuf>,
}

impl FileConfig {
    /// Reads a settings file.
    pub fn load(path: &Path) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| StartError::Config(format!("{}: {e}", path.display())))
    }

    /// Makes the `[s3]` settings those of every object-store client this process builds.
    pub fn configure_storage(&self) -> Result<(), StartError> {
        let options = self
            .s3
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    other => {
                        return Err(StartError::Config(format!(
                            "[s3] {k}: a string, number or boolean, not {}",
                            other.type_str()
                        )))
                    }
                };
                Ok((k.clone(), v))
            })
            .collect::<Result<Vec<_>, StartError>>()?;
        crate::checkpoint::store::configure(&options).map_err(|e| StartError::Config(e.to_string()))
    }

    /// The runtime settings, defaults overridden by the file.
    pub fn runtime(&self) -> Result<RuntimeConfig, StartError> {
        let mut c = RuntimeConfig::default();
        let r = &self.runtime;
        let ms = Duration::from_millis;
        if let Some(v) = r.heartbeat_interval_ms {
            c.heartbeat_interval = ms(v.max(1));
        }
        if let Some(v) = r.heartbeat_timeout_ms {
            c.heartbeat_timeout = ms(v.max(1));
        }
        if let Some(v) = r.rpc_timeout_ms {
            c.rpc_timeout = ms(v.max(1));
        }
        if let Some(v) = r.slot_request_timeout_ms {
            c.slot_request_timeout = ms(v);
        }
        if let Some(v) = r.buffer_size {
            c.buffer_size = v.max(1);
        }
        if let Some(v) = r.buffer_bytes {
            c.buffer_bytes = v.max(1);
        }
        if let Some(v) = r.memory_buffer_bytes {
            c.memory_buffer_bytes = v.max(1);
        }
        if let Some(v) = r.task_metrics {
            c.task_metrics = v;
        }
        if let Some(v) = r.exclusive_credits {
            c.exclusive_credits = v;
        }
        if let Some(v) = r.floating_credits {
            c.floating_credits = v;
        }
        if let Some(v) = r.buffer_timeout_ms {
            c.buffer_timeout = ms(v.max(1));
        }
        if let Some(d) = &r.checkpoint_dir {
            c.checkpoint_dir = d.clone();
        }
        if let Some(b) = r.state_backend {
            c.state_backend = b;
        }
        if let Some(d) = &r.local_state_dir {
            c.local_state_dir = d.clone();
        }
        if let Some(mb) = r.rocksdb_cache_mb {
            c.rocksdb_cache_bytes = mb.saturating_mul(1 << 20);
        }
        if let Some(s) = &r.restart_strategy {
            s.validate().map_err(StartError::Config)?;
            c.restart_strategy = Some(s.clone());
        }
        if let Some(f) = r.failover_strategy {
            c.failover_strategy = f;
        }
        if c.exclusive_credits == 0 && c.floating_credits == 0 {
            return Err(StartError::Config(
                "exclusive_credits and floating_credits cannot both be 0: no channel could ever send"
                    .into(),
            ));
        }
        if c.heartbeat_timeout <= c.heartbeat_interval {
            return Err(StartError::Config(format!(
                "heartbeat_timeout ({:?}) must exceed heartbeat_interval ({:?})",
                c.heartbeat_timeout, c.heartbeat_interval
            )));
        }
        Ok(c)
    }

    /// The QUIC settings.
    pub fn quic(&self, runtime: &RuntimeConfig) -> Result<QuicSettings, StartError> {
        let certificate = match (&self.tls.certificate, &self.tls.private_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => {
                return Err(StartError::Config(
                    "[tls] needs both certificate and private_key".into(),
                ))
            }
        };
        Ok(QuicSettings {
            // Keep-alives every third of it; a silent peer is dropped after the heartbeat
            // timeout at the latest.
            idle_timeout: runtime.heartbeat_timeout,
            certificate,
        })
    }
}

/// The secret from the flag, the file or the environment, in that order.
pub fn secret(flag: Option<String>, file: &FileConfig) -> Option<String> {
    flag.or_else(|| file.secret.clone())
        .or_else(|| std::env::var(SECRET_ENV).ok())
        .filter(|s| !s.is_empty())
}
