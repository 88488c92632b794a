//! The commands that start one process of a standalone cluster, `jobmanager` and
//! `taskmanager`, from their flags and a settings file.

use std::process::ExitCode;
use std::sync::Arc;

use crate::jobs::JobRegistry;

use super::{usage_error, EXIT_JOB_FAILED};

fn load_config(
    path: Option<std::path::PathBuf>,
) -> Result<crate::cluster::FileConfig, crate::cluster::StartError> {
    let file = match path {
        Some(p) => crate::cluster::FileConfig::load(&p)?,
        None => crate::cluster::FileConfig::default(),
    };
    file.configure_storage()?;
    Ok(file)
}

/// `--ha` and `--cluster-id`, shared by the JobManager and the TaskManager.
#[derive(clap::Args, Debug, Default)]
pub(super) struct HaArgs {
    /// High availability: `none` (one JobManager) or `etcd://HOST:PORT[,HOST:PORT…]` (leader
    /// election, job store and checkpoint pointers in etcd) [default: none, or [ha] mode].
    #[arg(long, value_name = "MODE")]
    ha: Option<String>,
    /// The cluster's name in etcd: the same on each of its JobManagers and TaskManagers.
    #[arg(long, value_name = "NAME")]
    cluster_id: Option<String>,
}

impl HaArgs {
    /// The HA settings from the flags over the file's `[ha]`.
    fn settings(
        self,
        file: &crate::cluster::FileConfig,
    ) -> Result<Option<crate::ha::HaSettings>, crate::cluster::StartError> {
        let mode = self.ha.or_else(|| file.ha.mode.clone());
        let cluster = self.cluster_id.or_else(|| file.ha.cluster_id.clone());
        let settings =
            crate::ha::HaSettings::parse(mode.as_deref().unwrap_or("none"), cluster.as_deref())
                .map_err(|e| crate::cluster::StartError::Config(e.to_string()))?;
        Ok(settings.map(|mut s| {
            if let Some(ttl) = file.ha.lease_ttl_s {
                s.lease_ttl = std::time::Duration::from_secs(ttl.max(1));
            }
            s
        }))
    }
}

/// How a TaskManager finds its JobManager: `--jobmanager`, or `--ha` with `--cluster-id`.
pub(super) struct JobManagerFlags {
    pub(super) jobmanager: Option<std::net::SocketAddr>,
    pub(super) ha: HaArgs,
}

fn start_outcome(r: Result<(), crate::cluster::StartError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(crate::cluster::StartError::Config(m)) => usage_error(m),
        Err(e) => {
            eprintln!("rill: {e}");
            ExitCode::from(EXIT_JOB_FAILED)
        }
    }
}

/// Where a JobManager listens, and the IP address it gives others.
pub(super) struct JobManagerAddresses {
    pub(super) bind: Option<std::net::SocketAddr>,
    pub(super) rest: Option<std::net::SocketAddr>,
    pub(super) advertise: Option<std::net::IpAddr>,
}

pub(super) fn jobmanager(
    registry: Arc<JobRegistry>,
    JobManagerAddresses {
        bind,
        rest,
        advertise,
    }: JobManagerAddresses,
    secret: Option<String>,
    config: Option<std::path::PathBuf>,
    ha: HaArgs,
) -> ExitCode {
    use crate::cluster::{run_jobmanager, JobManagerOptions};
    let run = || {
        let file = load_config(config)?;
        let runtime = file.runtime()?;
        let ha = ha.settings(&file)?;
        let opts = JobManagerOptions {
            bind: bind
                .or(file.jobmanager.bind)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 6123))),
            rest: rest
                .or(file.jobmanager.rest)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8081))),
            actors_stream_interval: file
                .jobmanager
                .actors_stream_interval_ms
                .map_or(crate::rest::stream::DEFAULT_INTERVAL, |ms| {
                    std::time::Duration::from_millis(ms.max(10))
                }),
            advertise: advertise.or(file.jobmanager.advertise),
            secret: crate::cluster::secret(secret, &file),
            quic: file.quic(&runtime)?,
            runtime,
            ha,
        };
        run_jobmanager(opts, registry)
    };
    start_outcome(run())
}

/// Where a TaskManager listens, and the address it gives others.
pub(super) struct Endpoint {
    pub(super) bind: Option<std::net::SocketAddr>,
    pub(super) advertise: Option<std::net::IpAddr>,
    pub(super) metrics: Option<std::net::SocketAddr>,
}

pub(super) fn taskmanager(
    registry: Arc<JobRegistry>,
    jm: JobManagerFlags,
    slots: Option<usize>,
    endpoint: Endpoint,
    secret: Option<String>,
    config: Option<std::path::PathBuf>,
) -> ExitCode {
    use crate::actors::task_manager::JobManagerAddress;
    use crate::cluster::{run_taskmanager, StartError, TaskManagerOptions, SECRET_ENV};
    let run = || {
        let file = load_config(config)?;
        let runtime = file.runtime()?;
        let jobmanager = match (jm.ha.settings(&file)?, jm.jobmanager) {
            (Some(_), Some(_)) => {
                return Err(StartError::Config(
                    "--jobmanager and --ha exclude each other: with --ha the TaskManager finds the leader in etcd".into(),
                ))
            }
            (Some(ha), None) => JobManagerAddress::Elected(crate::ha::LeaderRetrieval::new(
                ha.connect()?,
                &ha,
            )),
            (None, jobmanager) => JobManagerAddress::Fixed(
                jobmanager.or(file.taskmanager.jobmanager).ok_or_else(|| {
                    StartError::Config(
                        "--jobmanager HOST:PORT or --ha etcd://… --cluster-id NAME is required (or [taskmanager] jobmanager)".into(),
                    )
                })?,
            ),
        };
        let secret = crate::cluster::secret(secret, &file).ok_or_else(|| {
            StartError::Config(format!(
                "a cluster secret is required: --secret, `secret` in the config file, or {SECRET_ENV}"
            ))
        })?;
        let slots = slots.or(file.taskmanager.slots).unwrap_or(2);
        if slots == 0 {
            return Err(StartError::Config("--slots must be at least 1".into()));
        }
        let opts = TaskManagerOptions {
            jobmanager,
            bind: endpoint
                .bind
                .or(file.taskmanager.bind)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            advertise: endpoint.advertise.or(file.taskmanager.advertise),
            metrics: endpoint.metrics.or(file.taskmanager.metrics),
            slots,
            secret,
            quic: file.quic(&runtime)?,
            runtime,
        };
        run_taskmanager(opts, registry)
    };
    start_outcome(run())
}
