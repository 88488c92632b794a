//! The endpoints of configuration, logs and plans: the server's (`/config`,
//! `/jobmanager/config`, `/jobmanager/logs`) and a job's (`/jobs/{id}/plan`, `/jobs/{id}/config`,
//! `/jobs/{id}/checkpoints/config`), shaped by [`model::plan`](crate::rest::model::plan).

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::actors::dispatcher::RequestJobGraph;
use crate::graph::JobGraph;
use crate::ids::JobId;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, parse_job_id};
use crate::rest::model::plan::{
    config_entries, CheckpointConfigInfo, ConfigEntry, DashboardConfig, JobConfigInfo, JobPlanInfo,
};
use crate::rest::RestHandle;

type Handle = web::Data<RestHandle>;

async fn job_graph(h: &RestHandle, id: &str) -> Result<(JobId, Arc<JobGraph>), RestError> {
    let job_id = parse_job_id(id)?;
    let graph = ask(&h.dispatcher, RequestJobGraph { job_id }, "dispatcher").await??;
    Ok((job_id, graph))
}

/// `GET /config`.
pub async fn dashboard_config() -> web::Json<DashboardConfig> {
    web::Json(DashboardConfig::default())
}

/// `GET /jobmanager/config`: the cluster's runtime settings, by the settings file's keys.
pub async fn jobmanager_config(h: Handle) -> web::Json<Vec<ConfigEntry>> {
    web::Json(config_entries(&h.config))
}

/// `GET /jobs/{id}/plan`.
pub async fn job_plan(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<JobPlanInfo>, RestError> {
    let (job_id, graph) = job_graph(&h, &id).await?;
    Ok(web::Json(JobPlanInfo::new(job_id, &graph)))
}

/// `GET /jobs/{id}/config`.
pub async fn job_config(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<JobConfigInfo>, RestError> {
    let (job_id, graph) = job_graph(&h, &id).await?;
    Ok(web::Json(JobConfigInfo::new(job_id, &graph, &h.config)))
}

/// `GET /jobs/{id}/checkpoints/config`: 404 for a job that does not checkpoint, as Flink.
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
pub async fn jobmanager_logs() -> web::Json<serde_json::Value> {
    let (_, bytes) = crate::logs::recent();
    web::Json(serde_json::json!({ "logs": [{ "name": LOG_NAME, "size": bytes }] }))
}

/// `GET /jobmanager/logs/{name}` (and Flink's `GET /jobmanager/log`): the recent lines as
/// text, oldest first.
pub async fn jobmanager_log(name: Option<web::Path<String>>) -> Result<HttpResponse, RestError> {
    if let Some(n) = name.filter(|n| n.as_str() != LOG_NAME) {
        return Err(RestError::NotFound(format!(
            "no log {}: the JobManager keeps {LOG_NAME}",
            crate::rest::handlers::echo(&n)
        )));
    }
    let (lines, _) = crate::logs::recent();
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(text))
}
