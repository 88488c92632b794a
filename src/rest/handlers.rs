//! The endpoints: each asks the Dispatcher or the ResourceManager and shapes the answer as
//! [`model`](crate::rest::model) says. Handlers hold no state of their own.

use std::time::{Duration, SystemTime};

use actix::dev::ToEnvelope;
use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;

use crate::actors::dispatcher::{CancelJob, ListJobs, RequestJobDetails, RequestJobsOverview};
use crate::actors::resource_manager::{RequestResourceOverview, RequestTaskManagers};
use crate::actors::ClusterError;
use crate::graph::JobStatus;
use crate::ids::JobId;
use crate::rest::error::RestError;
use crate::rest::model::{
    ClusterOverview, ErrorResponse, JobDetailsInfo, JobExceptions, JobIdWithStatus,
    JobIdsWithStatus, JobOverviewEntry, JobVertexSubtasks, JobsOverview, SubmitJobRequest,
    SubmitJobResponse, TaskManagerDetail, TaskManagerEntry, TaskManagerList,
};
use crate::rest::RestHandle;

/// How long a handler waits for an actor's answer.
const ACTOR_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest part of a bad parameter echoed in an error message.
const MAX_ECHO: usize = 80;

type Handle = web::Data<RestHandle>;

/// Sends `msg` to `addr` and waits, within [`ACTOR_TIMEOUT`], for the answer.
pub(crate) async fn ask<A, M>(
    addr: &Addr<A>,
    msg: M,
    who: &'static str,
) -> Result<M::Result, RestError>
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    addr.send(msg)
        .timeout(ACTOR_TIMEOUT)
        .await
        .map_err(|e| match e {
            MailboxError::Timeout => RestError::Unresponsive(who),
            MailboxError::Closed => RestError::Cluster(ClusterError::Unavailable(who)),
        })
}

pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Parses a job id: 1 to 32 hex digits.
pub(crate) fn parse_job_id(s: &str) -> Result<JobId, RestError> {
    let bad = || RestError::InvalidParameter {
        what: "job id",
        value: echo(s),
        reason: "expected up to 32 hex digits",
    };
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// The ResourceManager's overview and the Dispatcher's job list.
pub(crate) async fn cluster_state(
    h: &RestHandle,
) -> Result<
    (
        crate::actors::resource_manager::ResourceOverview,
        Vec<crate::actors::dispatcher::JobSummary>,
    ),
    RestError,
> {
    let res = ask(
        &h.resource_manager,
        RequestResourceOverview,
        "resource manager",
    )
    .await?;
    let jobs = ask(&h.dispatcher, ListJobs, "dispatcher").await?;
    Ok((res, jobs))
}

/// `GET /overview`.
#[utoipa::path(
    get,
    path = "/overview",
    tag = "cluster",
    responses(
        (status = 200, description = "The cluster at a glance", body = ClusterOverview),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn overview(h: Handle) -> Result<web::Json<ClusterOverview>, RestError> {
    let (res, jobs) = cluster_state(&h).await?;
    let count = |s: JobStatus| jobs.iter().filter(|j| j.status == s).count();
    Ok(web::Json(ClusterOverview {
        taskmanagers: res.task_managers,
        slots_total: res.slots_total,
        slots_available: res.slots_available,
        jobs_running: jobs
            .iter()
            .filter(|j| !j.status.is_globally_terminal())
            .count(),
        jobs_finished: count(JobStatus::Finished),
        jobs_cancelled: count(JobStatus::Canceled),
        jobs_failed: count(JobStatus::Failed),
        rill_version: env!("CARGO_PKG_VERSION").to_string(),
    }))
}

/// `GET /taskmanagers`.
#[utoipa::path(
    get,
    path = "/taskmanagers",
    tag = "cluster",
    responses(
        (status = 200, description = "Every registered TaskManager", body = TaskManagerList),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn taskmanagers(h: Handle) -> Result<web::Json<TaskManagerList>, RestError> {
    let tms = ask(&h.resource_manager, RequestTaskManagers, "resource manager").await?;
    Ok(web::Json(TaskManagerList {
        taskmanagers: tms.iter().map(TaskManagerEntry::from).collect(),
    }))
}

/// `GET /taskmanagers/{id}`.
#[utoipa::path(
    get,
    path = "/taskmanagers/{id}",
    tag = "cluster",
    params(("id" = String, Path, description = "The TaskManager's id")),
    responses(
        (status = 200, description = "The TaskManager and its allocated slots", body = TaskManagerDetail),
        (status = 404, description = "No such TaskManager", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn taskmanager(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<TaskManagerDetail>, RestError> {
    let id = id.into_inner();
    let tms = ask(&h.resource_manager, RequestTaskManagers, "resource manager").await?;
    tms.iter()
        .find(|t| t.slots.id.0 == id)
        .map(|t| web::Json(TaskManagerDetail::from(t)))
        .ok_or_else(|| RestError::TaskManagerNotFound(echo(&id)))
}

/// `GET /jobs`.
#[utoipa::path(
    get,
    path = "/jobs",
    tag = "jobs",
    responses(
        (status = 200, description = "Every job's id and status", body = JobIdsWithStatus),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn jobs(h: Handle) -> Result<web::Json<JobIdsWithStatus>, RestError> {
    let jobs = ask(&h.dispatcher, ListJobs, "dispatcher").await?;
    Ok(web::Json(JobIdsWithStatus {
        jobs: jobs
            .iter()
            .map(|j| JobIdWithStatus {
                id: j.job_id.to_string(),
                status: j.status,
            })
            .collect(),
    }))
}

/// `GET /jobs/overview`.
#[utoipa::path(
    get,
    path = "/jobs/overview",
    tag = "jobs",
    responses(
        (status = 200, description = "Every job, newest first", body = JobsOverview),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn jobs_overview(h: Handle) -> Result<web::Json<JobsOverview>, RestError> {
    let jobs = ask(&h.dispatcher, RequestJobsOverview, "dispatcher").await?;
    Ok(web::Json(JobsOverview {
        jobs: jobs.iter().map(JobOverviewEntry::from).collect(),
    }))
}

pub(crate) async fn job_info(
    h: &RestHandle,
    id: &str,
) -> Result<crate::actors::job_info::JobInfo, RestError> {
    let job_id = parse_job_id(id)?;
    Ok(ask(&h.dispatcher, RequestJobDetails { job_id }, "dispatcher").await??)
}

/// `GET /jobs/{id}`.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (hex)")),
    responses(
        (status = 200, description = "The job", body = JobDetailsInfo),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn job(h: Handle, id: web::Path<String>) -> Result<web::Json<JobDetailsInfo>, RestError> {
    let info = job_info(&h, &id).await?;
    Ok(web::Json(JobDetailsInfo::new(&info, SystemTime::now())))
}

/// `GET /jobs/{id}/vertices/{vertex}`: the vertex's subtasks with their TaskManagers and I/O
/// counters.
#[utoipa::path(
    get,
    path = "/jobs/{id}/vertices/{vertex}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (hex)"), ("vertex" = String, Path, description = "The job vertex's id (hex)")),
    responses(
        (status = 200, description = "The vertex's subtasks", body = JobVertexSubtasks),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job or vertex", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn job_vertex(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<web::Json<JobVertexSubtasks>, RestError> {
    let (id, vertex) = path.into_inner();
    let (info, index) = job_vertex_info(&h, &id, &vertex).await?;
    Ok(web::Json(JobVertexSubtasks::new(
        &info.vertices[index],
        SystemTime::now(),
    )))
}

/// The job `id` and the index of its vertex `vertex`; 404 for either unknown.
pub(crate) async fn job_vertex_info(
    h: &RestHandle,
    id: &str,
    vertex: &str,
) -> Result<(crate::actors::job_info::JobInfo, usize), RestError> {
    let info = job_info(h, id).await?;
    let index = info
        .vertices
        .iter()
        .position(|v| v.id.to_string() == vertex)
        .ok_or_else(|| RestError::VertexNotFound {
            job_id: info.job_id,
            vertex: echo(vertex),
        })?;
    Ok((info, index))
}

/// `GET /jobs/{id}/exceptions`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/exceptions",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (hex)")),
    responses(
        (status = 200, description = "The job's failures", body = JobExceptions),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn job_exceptions(
    h: Handle,
    id: web::Path<String>,
) -> Result<web::Json<JobExceptions>, RestError> {
    let info = job_info(&h, &id).await?;
    Ok(web::Json(JobExceptions::from(&info)))
}

/// The query of `PATCH /jobs/{id}`.
#[derive(Deserialize, Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TerminationQuery {
    /// How to end the job: only `cancel`.
    #[param(required = true, example = "cancel")]
    pub mode: Option<String>,
}

/// `PATCH /jobs/{id}?mode=cancel`: 202 with `{}` once the cancellation is under way.
#[utoipa::path(
    patch,
    path = "/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job's id (hex)"), TerminationQuery),
    responses(
        (status = 202, description = "The cancellation is under way: `{}`", body = Object),
        (status = 400, description = "A malformed job id, or a missing or other mode", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 409, description = "The job has already ended", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn cancel_job(
    h: Handle,
    id: web::Path<String>,
    query: web::Query<TerminationQuery>,
) -> Result<HttpResponse, RestError> {
    let job_id = parse_job_id(&id)?;
    match query.mode.as_deref() {
        Some("cancel") => {}
        Some(other) => {
            return Err(RestError::InvalidQuery(format!(
                "unsupported mode '{}': the only mode is 'cancel'",
                echo(other)
            )))
        }
        None => {
            return Err(RestError::InvalidQuery(
                "missing query parameter 'mode' (use ?mode=cancel)".into(),
            ))
        }
    }
    let info = ask(&h.dispatcher, RequestJobDetails { job_id }, "dispatcher").await??;
    if info.status.is_globally_terminal() {
        return Err(RestError::AlreadyTerminal {
            job_id,
            status: info.status,
        });
    }
    ask(&h.dispatcher, CancelJob { job_id }, "dispatcher").await??;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

/// `POST /jobs`: builds a registered job and submits it; 202 with its id.
#[utoipa::path(
    post,
    path = "/jobs",
    tag = "jobs",
    request_body = SubmitJobRequest,
    responses(
        (status = 202, description = "The job was submitted", body = SubmitJobResponse),
        (status = 400, description = "An unknown job, bad arguments, a missing input file or a malformed body", body = ErrorResponse),
        (status = 413, description = "The body is too large", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn submit_job(
    h: Handle,
    body: web::Json<SubmitJobRequest>,
) -> Result<HttpResponse, RestError> {
    let job_id = h.submit(&body).await?;
    Ok(HttpResponse::Accepted().json(SubmitJobResponse {
        jobid: job_id.to_string(),
        job_url: format!("/jobs/{job_id}"),
    }))
}

/// Any path without an endpoint: 404.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    RestError::NotFound(echo(req.path())).error_response()
}

/// A path whose endpoint does not take the request's method: 405.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    RestError::MethodNotAllowed {
        method: req.method().to_string(),
        path: echo(req.path()),
    }
    .error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_short_hex() {
        assert_eq!(parse_job_id("ff").expect("hex"), JobId(255));
        let full = JobId::generate().to_string();
        assert!(parse_job_id(&full).is_ok());
        for bad in ["", "xyz", "+1", "-1", &format!("{full}0"), "12 3"] {
            assert!(parse_job_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn echoed_values_are_cut_short() {
        let long = "é".repeat(200);
        let e = echo(&long);
        assert_eq!(e.chars().count(), MAX_ECHO + 3);
    }
}
