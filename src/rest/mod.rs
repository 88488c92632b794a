//! The JobManager's REST API: an actix-web server in front of the Dispatcher and the
//! ResourceManager, with Flink's paths and JSON shapes where Rill has the same thing, and a
//! blocking client for the CLI.
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /overview` | TaskManagers, slots, jobs per status, `rill-version` |
//! | `GET /taskmanagers`, `GET /taskmanagers/{id}` | TaskManagers, their slots and allocations |
//! | `GET /jobs` | `{"jobs": [{"id", "status"}]}` |
//! | `GET /jobs/overview` | every job with times and subtask counts, newest first |
//! | `GET /jobs/{id}` | one job: status, times, `failure`, vertices with subtask counts |
//! | `GET /jobs/{id}/exceptions` | the failure as Flink's `root-exception` |
//! | `PATCH /jobs/{id}?mode=cancel` | 202 `{}`: cancellation under way (409 if already ended) |
//! | `POST /jobs` | `{"job", "args", "parallelism"}` → 202 `{"jobid", "jobUrl"}` |
//! | `GET /jobs/{id}/checkpoints` | Flink's `counts`, `summary`, `latest`, `history` |
//! | `GET /jobs/{id}/checkpoints/details/{cid}` | one checkpoint, its `tasks` by vertex id |
//! | `GET /jobs/{id}/checkpoints/details/{cid}/subtasks/{vid}` | one vertex: `summary`, `subtasks` |
//!
//! `GET /` is the web dashboard ([`dashboard`]): its files are embedded in the binary.
//!
//! The other routes (savepoints, vertices, metrics, plans, logs, Prometheus) are listed in the
//! README. [`routes`] holds the one table of every route, which [`configure`] registers and
//! from which `GET /openapi.json` (the OpenAPI document) is made; every route is also served
//! under `/v1`, as Flink's are.
//!
//! ## Errors
//! Every error is JSON `{"errors": [message]}`: 400 for a body, query or id that does not parse
//! and for a job that cannot be built (unknown job, bad arguments, missing input file), 404 for
//! an unknown job, TaskManager or path, 405 for a wrong method, 409 for cancelling an ended job,
//! 413 for a body over [`MAX_BODY_BYTES`], and 503 only when an actor is not running or does not
//! answer.
//!
//! ## Bounds
//! The server runs [`WORKERS`] worker threads with at most [`MAX_CONNECTIONS_PER_WORKER`]
//! connections each and a listen backlog of [`BACKLOG`]; a request whose head does not arrive
//! within [`REQUEST_HEAD_TIMEOUT`] is dropped, and every wait on an actor is bounded.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};

use crate::actors::dispatcher::{Dispatcher, SubmitJob};
use crate::actors::resource_manager::ResourceManager;
use crate::graph::deployment::PlanRef;
use crate::graph::JobGraph;
use crate::ids::JobId;
use crate::jobs::JobRegistry;

pub mod actors;
pub mod checkpoints;
pub mod client;
pub mod dashboard;
pub mod error;
pub mod handlers;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod prometheus;
pub mod routes;
pub mod savepoints;
pub mod sql_gateway;
mod sql_results;
mod standby;
pub mod stream;
pub mod taskmanager;

pub use client::{ClientError, RestClient};
pub use error::RestError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Worker threads serving requests.
pub const WORKERS: usize = 2;
/// Open connections per worker.
pub const MAX_CONNECTIONS_PER_WORKER: usize = 256;
/// Connections waiting to be accepted.
pub const BACKLOG: u32 = 128;
/// How long a client may take to send a request's head.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// What the REST API talks to: the JobManager's actors and the jobs it can build. A
/// `rill local` mini cluster and a standalone JobManager make it from their own actors.
#[derive(Clone)]
pub struct RestHandle {
    dispatcher: Addr<Dispatcher>,
    resource_manager: Addr<ResourceManager>,
    registry: Arc<JobRegistry>,
    default_parallelism: usize,
    actors: Option<crate::actors::remote::ActorRegistry>,
    config: crate::config::RuntimeConfig,
    stream: Arc<stream::ActorStream>,
    /// The SQL Gateway's sessions.
    sql: Arc<std::sync::Mutex<crate::sql::gateway::Gateway>>,
    /// The cluster's HA services, when it runs with `--ha etcd://…`: submissions are stored
    /// in its job store, and a standby forwards requests to the leader.
    ha: Option<Arc<crate::ha::HaServices>>,
}

impl RestHandle {
    /// A handle on these actors; jobs are built from `registry` with the cluster's
    /// `default_parallelism`.
    pub fn new(
        dispatcher: Addr<Dispatcher>,
        resource_manager: Addr<ResourceManager>,
        registry: Arc<JobRegistry>,
        default_parallelism: usize,
    ) -> Self {
        Self {
            dispatcher,
            resource_manager,
            registry,
            default_parallelism: default_parallelism.max(1),
            actors: None,
            config: crate::config::RuntimeConfig::default(),
            stream: Arc::new(stream::ActorStream::new(stream::DEFAULT_INTERVAL)),
            sql: Arc::new(std::sync::Mutex::new(crate::sql::gateway::Gateway::new())),
            ha: None,
        }
    }

    /// Stores submissions in `ha`'s job store; while this JobManager stands by, requests are
    /// answered by the leader ([`standby`]).
    pub fn with_ha(mut self, ha: Arc<crate::ha::HaServices>) -> Self {
        self.ha = Some(ha);
        self
    }

    /// Gathers the actor topology for `/actors/stream` every `interval` while clients listen.
    pub fn with_stream_interval(mut self, interval: Duration) -> Self {
        self.stream = Arc::new(stream::ActorStream::new(interval));
        self
    }

    /// Shows `config` as the cluster's settings (`/jobmanager/config`, and the defaults in
    /// a job's settings).
    pub fn with_config(mut self, config: crate::config::RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves the actor registry of the JobManager's node at `GET /actors`.
    pub fn with_actors(mut self, actors: crate::actors::remote::ActorRegistry) -> Self {
        self.actors = Some(actors);
        self
    }

    /// Builds the registered job a submission names and hands it to the Dispatcher (in an
    /// HA cluster, once the job store holds it).
    pub async fn submit(&self, req: &model::SubmitJobRequest) -> Result<JobId, RestError> {
        self.submit_as(JobId::generate(), req, true).await
    }

    /// Runs a job of the job store again under its id (a new leader's recovery).
    pub async fn resubmit(
        &self,
        job_id: JobId,
        req: &model::SubmitJobRequest,
    ) -> Result<JobId, RestError> {
        self.submit_as(job_id, req, false).await
    }

    async fn submit_as(
        &self,
        job_id: JobId,
        req: &model::SubmitJobRequest,
        store: bool,
    ) -> Result<JobId, RestError> {
        if req.parallelism == Some(0) {
            return Err(RestError::InvalidParameter {
                what: "parallelism",
                value: "0".into(),
                reason: "it must be at least 1",
            });
        }
        let (job_graph, plan) = {
            let sg = self.registry.build(
                &req.job,
                &req.args,
                req.parallelism,
                self.default_parallelism,
            )?;
            let mut job_graph = JobGraph::from_stream_graph(&sg);
            req.options.apply(&mut job_graph);
            let plan = PlanRef {
                job_id,
                registered: Some(req.job.clone()),
                args: req.args.clone(),
                parallelism: req.parallelism,
                fingerprint: job_graph.fingerprint.clone(),
            };
            (job_graph, plan)
        };
        if let (Some(ha), true) = (self.ha.clone(), store) {
            let stored = crate::ha::StoredJob {
                job_id,
                request: req.clone(),
            };
            tokio::task::spawn_blocking(move || ha.store_job(&stored))
                .await
                .map_err(|e| RestError::Unavailable(format!("storing the job: {e}")))?
                .map_err(|e| RestError::Unavailable(format!("storing the job: {e}")))?;
        }
        tracing::info!(job_id = %job_id, job = %req.job, "job submitted over REST");
        let submit = SubmitJob {
            job_id,
            job_graph,
            plan,
        };
        let submitted = handlers::ask(&self.dispatcher, submit, "dispatcher")
            .await
            .and_then(|r| r.map_err(RestError::from));
        if let (Err(e), Some(ha), true) = (&submitted, self.ha.clone(), store) {
            // Refused: no later leader may run it.
            tracing::warn!(%job_id, error = %e, "submission refused; removing it from the job store");
            let _ = tokio::task::spawn_blocking(move || ha.remove_job(job_id)).await;
        }
        submitted
    }
}

/// Registers the endpoints ([`routes`]), their extractor settings and the JSON 404/405
/// answers on an app, each route both at its path and under [`routes::PREFIX`] (`/v1`).
pub fn configure(cfg: &mut web::ServiceConfig, handle: web::Data<RestHandle>) {
    cfg.app_data(handle)
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY_BYTES)
                .content_type_required(false)
                .content_type(|_| true)
                .error_handler(error::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .service(
            web::scope(routes::PREFIX)
                .configure(routes::register)
                .default_service(web::to(handlers::not_found)),
        )
        .configure(routes::register)
        .configure(dashboard::register)
        .default_service(web::to(handlers::not_found));
}

/// Starts the REST server on `bind` (port 0 picks a free port) and returns it with the address
/// it listens on. Call it inside an actix System; the server runs once the returned
/// [`Server`](actix_web::dev::Server) is spawned or awaited, and stops through its
/// [`handle`](actix_web::dev::Server::handle) (it ignores signals: its owner decides).
pub fn serve(
    bind: SocketAddr,
    handle: RestHandle,
) -> io::Result<(actix_web::dev::Server, SocketAddr)> {
    let ha = handle.ha.clone();
    let data = web::Data::new(handle);
    let server = HttpServer::new(move || {
        let (data, ha) = (data.clone(), ha.clone());
        App::new()
            .wrap(actix_web::middleware::from_fn(move |req, next| {
                standby::gate(ha.clone(), req, next)
            }))
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .configure(move |cfg| configure(cfg, data))
    })
    .workers(WORKERS)
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
    .backlog(BACKLOG)
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .client_disconnect_timeout(Duration::from_secs(1))
    .disable_signals()
    .shutdown_timeout(1)
    .bind(bind)?;
    let addr = bound(server.addrs(), "REST API")?;
    Ok((server.run(), addr))
}

/// The address a server bound (the first), logged as `what` listening there.
pub(crate) fn bound(addrs: Vec<SocketAddr>, what: &str) -> io::Result<SocketAddr> {
    let addr = addrs.into_iter().next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("the {what} server bound no address"),
        )
    })?;
    tracing::info!(%addr, "{what} listening");
    Ok(addr)
}
