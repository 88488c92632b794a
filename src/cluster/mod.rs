//! The two roles of the `rill` binary in a distributed cluster: the JobManager (Dispatcher,
//! ResourceManager, JobMasters, the RPC endpoint and the REST API) and the TaskManager (slots,
//! subtasks and data channels), plus their settings from flags and a `rill.toml` file.
//!
//! ## Configuration file
//! Every flag can also be set in the file given with `--config`; a flag given on the command
//! line wins over the file. Keys (all optional):
//!
//! ```toml
//! secret = "..."                  # or RILL_CLUSTER_SECRET; the JobManager generates one if unset
//! [jobmanager]
//! bind = "127.0.0.1:6123"         # RPC (QUIC, UDP)
//! rest = "127.0.0.1:8081"         # REST API (HTTP, TCP)
//! advertise = "10.0.0.1"         # with --ha, the IP others reach it at (if bind is 0.0.0.0)
//! actors_stream_interval_ms = 1000  # how often /actors/stream publishes while clients listen
//! [taskmanager]
//! jobmanager = "127.0.0.1:6123"
//! bind = "127.0.0.1:0"            # this TaskManager's endpoint (data channels); 0 picks a port
//! advertise = "10.0.0.5"        # the IP other nodes reach it at (needed if bind is 0.0.0.0)
//! slots = 2
//! metrics = "127.0.0.1:9249"      # serve GET /metrics (Prometheus) here; not served if unset
//! [runtime]
//! heartbeat_interval_ms = 2000
//! heartbeat_timeout_ms = 10000
//! rpc_timeout_ms = 10000
//! slot_request_timeout_ms = 30000
//! buffer_size = 4096              # records per network buffer, at most
//! buffer_bytes = 32768            # serialized bytes per network buffer, about
//! memory_buffer_bytes = 1048576   # bytes per buffer in memory, about
//! task_metrics = true             # busy/backpressured/idle time, watermarks, rates
//! exclusive_credits = 2           # buffers per input channel
//! floating_credits = 8            # buffers shared by an input gate
//! buffer_timeout_ms = 100
//! checkpoint_dir = "/var/lib/rill/checkpoints"   # jobs' checkpoints, unless a job names its own
//! state_backend = "heap"                         # or "rocksdb", for jobs that name none
//! local_state_dir = "/var/lib/rill/local-state"  # RocksDB instances of running tasks
//! rocksdb_cache_mb = 64           # cache of value/list state per RocksDB instance (0: off)
//! restart_strategy = { type = "fixed-delay", attempts = 3, delay_ms = 1000 }  # for jobs naming none
//! failover_strategy = "region"   # or "full", for jobs naming none
//! [tls]
//! certificate = "cert.pem"        # PEM chain; generated at start when absent
//! private_key = "key.pem"
//! [ha]                            # high availability (flags --ha, --cluster-id win)
//! mode = "etcd://127.0.0.1:2379"  # or "none" (the default)
//! cluster_id = "prod"             # the same on every JobManager and TaskManager
//! lease_ttl_s = 2                 # a dead leader is replaced about this long after it stops
//! [s3]                            # for s3:// checkpoint directories, over the AWS_* variables
//! endpoint = "http://127.0.0.1:9000"   # an S3-compatible server (path-style requests)
//! region = "us-east-1"
//! access_key_id = "…"             # or Flink's access-key / secret-key
//! secret_access_key = "…"
//! allow_http = true
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::actors::dispatcher::{Dispatcher, DISPATCHER_PATH};
use crate::actors::remote::{ActorRegistry, NodeInbound};
use crate::actors::resource_manager::{ResourceManager, TaskManagerDisconnected};
use crate::actors::task_manager::{
    JobManagerAddress, RemoteSetup, Shutdown, TaskManager, RESOURCE_MANAGER_PATH,
};
use crate::actors::task_plan::PlanResolver;
use crate::config::RuntimeConfig;
use crate::ids::TaskManagerId;
use crate::jobs::JobRegistry;
use crate::net::quic::{ClusterSecret, NodeRole, QuicNode, QuicSettings};
use crate::net::remote::RemoteNetwork;
use crate::net::rpc::{self, RemotePeer};

/// The environment variable holding the cluster secret.
pub const SECRET_ENV: &str = "RILL_CLUSTER_SECRET";

/// Why a role could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad settings (exit code 2).
    #[error("{0}")]
    Config(String),
    /// The network layer failed.
    #[error(transparent)]
    Net(#[from] crate::net::quic::NetError),
    /// etcd (`--ha etcd://…`) did not answer.
    #[error("high availability: {0}")]
    Ha(#[from] crate::ha::EtcdError),
    /// A thread could not start.
    #[error("starting the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A TaskManager's metrics server could not start.
    #[error("metrics endpoint on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The REST server could not start.
    #[error("REST API on {addr}: {source}")]
    Rest {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

mod config;
mod ha;

pub use config::*;
pub use ha::EXIT_LOST_LEADERSHIP;

/// A JobManager's settings.
pub struct JobManagerOptions {
    /// RPC address.
    pub bind: SocketAddr,
    /// REST address.
    pub rest: SocketAddr,
    /// How often `/actors/stream` publishes while clients listen.
    pub actors_stream_interval: Duration,
    /// The cluster secret; generated and printed when absent.
    pub secret: Option<String>,
    /// Runtime settings.
    pub runtime: RuntimeConfig,
    /// QUIC settings.
    pub quic: QuicSettings,
    /// High availability: `None` runs the only JobManager (`--ha none`).
    pub ha: Option<crate::ha::HaSettings>,
    /// The IP address the other nodes reach it at, if not its bind addresses'.
    pub advertise: Option<std::net::IpAddr>,
}

/// Runs a JobManager until interrupted.
pub fn run_jobmanager(
    mut opts: JobManagerOptions,
    registry: Arc<JobRegistry>,
) -> Result<(), StartError> {
    if opts.ha.is_some() {
        ha::check_addresses(opts.bind, opts.rest, opts.advertise)?;
    }
    let ha = ha::services(opts.ha.as_ref())?;
    opts.runtime.ha = ha.clone();
    System::new().block_on(async move {
        let secret = match opts.secret {
            Some(s) => s,
            None => {
                let s = ClusterSecret::generate();
                println!("Cluster secret (set {SECRET_ENV} or --secret on every TaskManager): {s}");
                s
            }
        };
        let node_id = format!("jobmanager-{:08x}", crate::util::random_u64() as u32);
        let actors = ActorRegistry::new(&node_id);
        let (rm, dispatcher) = start_jobmanager_actors(&opts.runtime, &actors);
        let node = QuicNode::bind(
            opts.bind,
            ClusterSecret::new(&secret),
            node_id,
            NodeRole::JobManager,
            &opts.quic,
        )?;
        let rpc_addr = node.local_addr()?;
        let mut handle = crate::rest::RestHandle::new(dispatcher.clone(), rm.clone(), registry, 1)
            .with_actors(actors.clone())
            .with_config(opts.runtime.clone())
            .with_stream_interval(opts.actors_stream_interval);
        if let Some(ha) = &ha {
            handle = handle.with_ha(ha.clone());
        }
        let (server, rest_addr) =
            crate::rest::serve(opts.rest, handle.clone()).map_err(|source| StartError::Rest {
                addr: opts.rest,
                source,
            })?;
        let server_handle = server.handle();
        actix_rt::spawn(server);
        println!("JobManager RPC listening on {rpc_addr}");
        println!("REST API listening on http://{rest_addr}");
        if let Some(ha) = ha.clone() {
            let reached =
                |a: SocketAddr| SocketAddr::new(opts.advertise.unwrap_or(a.ip()), a.port());
            let me = crate::ha::LeaderInfo {
                id: actors.node_id().to_string(),
                rpc: reached(rpc_addr),
                rest: format!("http://{}", reached(rest_addr)),
            };
            ha::contend(ha, me, handle)?;
        }
        // A TaskManager's connection that closes makes the ResourceManager check whether it
        // was the one the TaskManager is registered through.
        let lost_rm = rm.clone();
        let handler = NodeInbound::new(
            actors,
            None,
            Some(Arc::new(move |from: &RemotePeer, reason: &str| {
                let msg = TaskManagerDisconnected {
                    id: TaskManagerId(from.node_id().to_string()),
                    connection: from.connection().stable_id(),
                    reason: reason.to_string(),
                };
                if let Err(e) = lost_rm.try_send(msg) {
                    // Its heartbeats find the TaskManager gone instead.
                    tracing::warn!(error = %e, "ResourceManager not told of a closed connection");
                }
            })),
        );
        accept_task_managers(
            node.clone(),
            opts.runtime.rpc_timeout,
            "JobManager",
            move |peer| rpc::serve(peer, handler.clone()),
        );
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("JobManager shutting down");
        if let Some(ha) = ha {
            // A standby takes over now rather than once the lease expired.
            match tokio::task::spawn_blocking(move || ha.resign()).await {
                Ok(Ok(())) => tracing::info!("gave the lead up"),
                Ok(Err(e)) => tracing::warn!(error = %e, "giving the lead up"),
                Err(e) => tracing::warn!(error = %e, "giving the lead up"),
            }
        }
        node.close();
        server_handle.stop(true).await;
        System::current().stop();
        Ok(())
    })
}

/// Starts a JobManager's ResourceManager and Dispatcher, registered in `registry` at their
/// paths.
pub fn start_jobmanager_actors(
    runtime: &RuntimeConfig,
    registry: &ActorRegistry,
) -> (Addr<ResourceManager>, Addr<Dispatcher>) {
    let capacity = runtime.mailbox_capacity;
    let rm = ResourceManager::create(|ctx| {
        let me = registry.register(RESOURCE_MANAGER_PATH, None, ctx.address(), capacity);
        ResourceManager::with_heartbeats(runtime.heartbeat_interval, runtime.heartbeat_timeout)
            .with_mailbox_capacity(capacity)
            .with_registry(registry.clone())
            .with_ha(runtime.ha.clone())
            .registered_as(&me)
    });
    let dispatcher = Dispatcher::create(|ctx| {
        let me = registry.register(DISPATCHER_PATH, None, ctx.address(), capacity);
        Dispatcher::new(rm.clone(), runtime.clone(), registry.clone()).registered_as(&me)
    });
    (rm, dispatcher)
}

/// A TaskManager's settings.
pub struct TaskManagerOptions {
    /// The JobManager: its RPC address, or the leader of an HA cluster.
    pub jobmanager: crate::actors::task_manager::JobManagerAddress,
    /// This TaskManager's endpoint.
    pub bind: SocketAddr,
    /// The IP address other nodes reach it at, if not the bind address's.
    pub advertise: Option<std::net::IpAddr>,
    /// Where it serves its Prometheus metrics, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Slots.
    pub slots: usize,
    /// The cluster secret.
    pub secret: String,
    /// Runtime settings.
    pub runtime: RuntimeConfig,
    /// QUIC settings.
    pub quic: QuicSettings,
}

/// Runs a TaskManager until interrupted.
pub fn run_taskmanager(
    opts: TaskManagerOptions,
    registry: Arc<JobRegistry>,
) -> Result<(), StartError> {
    let advertised_ip = match opts.advertise {
        Some(ip) if ip.is_unspecified() => {
            return Err(StartError::Config(format!(
                "--advertise {ip}: give the address other nodes reach this TaskManager at"
            )))
        }
        Some(ip) => ip,
        None if opts.bind.ip().is_unspecified() => {
            return Err(StartError::Config(format!(
                "--bind {}: an unspecified address needs --advertise IP, the address other nodes reach this TaskManager at",
                opts.bind
            )))
        }
        None => opts.bind.ip(),
    };
    System::new().block_on(async move {
        // The id carries the bind address for the logs; the random part tells restarts apart.
        let provisional = format!("taskmanager-{:08x}", crate::util::random_u64() as u32);
        let node = QuicNode::bind(
            opts.bind,
            ClusterSecret::new(&opts.secret),
            provisional.clone(),
            NodeRole::TaskManager,
            &opts.quic,
        )?;
        let data_address = SocketAddr::new(advertised_ip, node.local_addr()?.port());
        let actors = ActorRegistry::new(&provisional);
        let id = TaskManagerId(provisional);
        println!(
            "TaskManager {id} listening on {data_address}, {} slots, JobManager {}",
            opts.slots,
            match &opts.jobmanager {
                JobManagerAddress::Fixed(a) => a.to_string(),
                JobManagerAddress::Elected(_) => "the leader of its cluster".into(),
            }
        );
        let network = RemoteNetwork::new(
            node.clone(),
            Arbiter::current(),
            crate::net::LocalTransport::default(),
            opts.runtime.clone(),
        );
        let inbound = NodeInbound::new(actors.clone(), Some(network.clone()), None);
        {
            let inbound = inbound.clone();
            network.set_serve(Arc::new(move |peer| rpc::serve(peer, inbound.clone())));
        }
        let resolver = PlanResolver::new(registry, 1);
        let tm = TaskManager::remote(
            id,
            opts.slots,
            resolver,
            RemoteSetup {
                jobmanager: opts.jobmanager,
                data_address,
                network: network.clone(),
            },
            opts.runtime.clone(),
            actors.clone(),
        );
        // The TaskManager actor (and its connection to the JobManager) gets a thread of its
        // own: this one runs the endpoint and the data channels, so heartbeats never wait
        // behind a busy shuffle.
        let tm_thread = Arbiter::new();
        let tm = TaskManager::start_in_arbiter(&tm_thread.handle(), move |_| tm);
        let metrics = match opts.metrics {
            Some(bind) => {
                let (server, addr) = crate::rest::taskmanager::serve(bind, tm.clone(), actors)
                    .map_err(|source| StartError::Metrics { addr: bind, source })?;
                println!("TaskManager metrics on http://{addr}/metrics");
                let handle = server.handle();
                actix_rt::spawn(server);
                Some(handle)
            }
            None => None,
        };
        // Only TaskManagers dial TaskManagers (data channels): a JobManager is reached only
        // through the connection this one opened to it.
        accept_task_managers(
            node.clone(),
            opts.runtime.rpc_timeout,
            "TaskManager",
            move |peer| {
                network.add_peer(peer.clone());
                rpc::serve(peer, inbound.clone());
            },
        );
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("TaskManager shutting down");
        tm.do_send(Shutdown);
        if let Some(m) = metrics {
            m.stop(true).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tm_thread.stop();
        node.close();
        System::current().stop();
        Ok(())
    })
}

/// Accepts connections on `node` until it closes: each authenticated TaskManager's goes to
/// `serve`; any other role is closed (`me` names this node's role in the log).
fn accept_task_managers(
    node: QuicNode,
    rpc_timeout: Duration,
    me: &'static str,
    serve: impl Fn(RemotePeer) + Clone + 'static,
) {
    actix_rt::spawn(async move {
        while let Some(incoming) = node.accept().await {
            let (node, serve) = (node.clone(), serve.clone());
            actix_rt::spawn(async move {
                match node.authenticate(incoming).await {
                    Ok((peer, NodeRole::TaskManager)) => serve(RemotePeer::new(peer, rpc_timeout)),
                    Ok((peer, role)) => {
                        tracing::warn!(peer = %peer.address, ?role, "only TaskManagers connect to a {me}");
                        peer.connection
                            .close(crate::net::quic::close::PROTOCOL, b"not a TaskManager");
                    }
                    // Refusals are logged by `authenticate`.
                    Err(e) => tracing::debug!(error = %e, "incoming connection failed"),
                }
            });
        }
    });
}
