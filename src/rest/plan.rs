//! The endpoints of configuration, logs and plans: the server's (`/config`,
//! `/jobmanager/config`, `/jobmanager/logs`, the bundled jobs at `/bundled-jobs`) and a job's (`/jobs/{id}/plan`, `/jobs/{id}/config`,
//! `/jobs/{id}/checkpoints/config`), shaped by [`model::plan`](crate::rest::model::plan).

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::actors::dispatcher::RequestJobGraph;
use crate::graph::JobGraph;
use crate::ids::JobId;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, parse_job_id};
use crate::rest::model::plan::{
    config_entries, BundledJob, BundledJobs, CheckpointConfigInfo, ConfigEntry, DashboardConfig,
    JobConfigInfo, JobPlanInfo,
};
use crate::rest::model::{ErrorResponse, LogList};
use crate::rest::RestHandle;

type Handle = web::Data<RestHandle>;

async fn job_graph(h: &RestHandle, id: &str) -> Result<(JobId, Arc<JobGraph>), RestError> {
    let job_id = parse_job_id(id)?;
    let graph = ask(&h.dispatcher, RequestJobGraph { job_id }, "dispatcher").await??;
    Ok((job_id, graph))
}

/// `GET /config`.
#[utoipa::path(
    get,
    path = "/config",
    tag = "cluster",
    responses(
        (status = 200, description = "What a dashboard needs to know", body = DashboardConfig),
    )
)]
pub async fn dashboard_config() -> web::Json<DashboardConfig> {
    web::Json(DashboardConfig::default())
}

/// `GET /bundled-jobs`.
#[utoipa::path(
    get,
    path = "/bundled-jobs",
    tag = "jobs",
    responses(
        (status = 200, description = "The jobs this binary can run, with their arguments", body = BundledJobs),
    )
)]
pub async fn bundled_jobs(h: Handle) -> web::Json<BundledJobs> {
    let jobs = h
        .registry
        .jobs()
        .iter()
        .map(|j| BundledJob {
            name: j.name.into(),
            description: j.description.into(),
            usage: j.usage.into(),
            arguments: j.arguments.iter().map(|a| (*a).into()).collect(),
        })
        .collect();
    web::Json(BundledJobs { jobs })
}

/// `GET /jobmanager/config`: the cluster's runtime settings, by the settings file's keys.
#[utoipa::path(
    get,
    path = "/jobmanager/config",
    tag = "cluster",
    responses(
        (status = 200, description = "The runtime settings by the settings file's keys", body = Vec<ConfigEntry>),
    )
)]
pub async fn jobmanager_config(h: Handle) -> web::Json<Vec<ConfigEntry>> {
    web::Json(config_entries(&h.config))
}

/// `GET /jobs/{id}/plan`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/plan",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (hex)")),
    responses(
        (status = 200, description = "The job's vertices and edges, sinks first", body = JobPlanInfo),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn job_plan(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<JobPlanInfo>, RestError> {
    let (job_id, graph) = job_graph(&h, &id).await?;
    Ok(web::Json(JobPlanInfo::new(job_id, &graph)))
}

/// `GET /jobs/{id}/config`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/config",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (hex)")),
    responses(
        (status = 200, description = "The job's execution settings", body = JobConfigInfo),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn job_config(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<JobConfigInfo>, RestError> {
    let (job_id, graph) = job_graph(&h, &id).await?;
    Ok(web::Json(JobConfigInfo::new(job_id, &graph, &h.config)))
}

/// `GET /jobs/{id}/checkpoints/config`: 404 for a job that does not checkpoint, as Flink.
#[utoipa::path(
    get,
    path = "/jobs/{id}/checkpoints/config",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The job's id (hex)")),
    responses(
        (status = 200, description = "The job's checkpoint settings", body = CheckpointConfigInfo),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job, or it does not checkpoint", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn checkpoint_config(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<CheckpointConfigInfo>, RestError> {
    let (_, graph) = job_graph(&h, &id).await?;
    CheckpointConfigInfo::new(&graph, &h.config)
        .map(web::Json)
        .ok_or_else(|| RestError::NotFound("Checkpointing is not enabled for this job".into()))
}

/// The one log `/jobmanager/logs` lists: this process's recent lines.
pub const LOG_NAME: &str = "jobmanager.log";

/// `GET /jobmanager/logs`: Flink's list of log files; here the one ring of recent lines.
#[utoipa::path(
    get,
    path = "/jobmanager/logs",
    tag = "logs",
    responses(
        (status = 200, description = "The JobManager's logs", body = LogList),
    )
)]
pub async fn jobmanager_logs() -> web::Json<LogList> {
    let (_, bytes) = crate::logs::recent();
    web::Json(LogList::one(LOG_NAME, bytes))
}

/// `GET /jobmanager/logs/{name}`: the recent lines as text, oldest first.
#[utoipa::path(
    get,
    path = "/jobmanager/logs/{name}",
    tag = "logs",
    params(("name" = String, Path, description = "The log's name: `jobmanager.log`")),
    responses(
        (status = 200, description = "The recent lines, oldest first", body = String, content_type = "text/plain"),
        (status = 404, description = "No such log", body = ErrorResponse),
    )
)]
pub async fn jobmanager_log(name: Option<web::Path<String>>) -> Result<HttpResponse, RestError> {
    if let Some(n) = name.filter(|n| n.as_str() != LOG_NAME) {
        return Err(RestError::NotFound(format!(
            "no log {}: the JobManager keeps {LOG_NAME}",
            crate::rest::handlers::echo(&n)
        )));
    }
    let (lines, _) = crate::logs::recent();
    Ok(log_text(&lines))
}

/// Log lines as a `text/plain` answer, one per line.
pub(crate) fn log_text(lines: &[String]) -> HttpResponse {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(text)
}

/// Flink's `GET /jobmanager/log`: the same as `/jobmanager/logs/jobmanager.log`.
#[utoipa::path(
    get,
    path = "/jobmanager/log",
    tag = "logs",
    responses(
        (status = 200, description = "The recent lines, oldest first", body = String, content_type = "text/plain"),
    )
)]
pub async fn jobmanager_default_log() -> Result<HttpResponse, RestError> {
    jobmanager_log(None).await
}
