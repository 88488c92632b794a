//! The endpoints of savepoints: trigger one (`POST /jobs/{id}/savepoints`), stop a job with one
//! (`POST /jobs/{id}/stop`) and ask how one went (`GET /jobs/{id}/savepoints/{request}`), in
//! Flink's shapes ([`model::savepoints`](crate::rest::model::savepoints)).

use actix_web::{web, HttpResponse};

use crate::actors::dispatcher::{RequestSavepointStatus, TriggerJobSavepoint};
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, echo, parse_job_id};
use crate::rest::model::savepoints::{
    SavepointRequest, SavepointStatusInfo, SavepointTriggered, StopRequest,
};
use crate::rest::model::ErrorResponse;
use crate::rest::RestHandle;

type Handle = web::Data<RestHandle>;

async fn trigger_savepoint(
    h: &RestHandle,
    id: &str,
    target: Option<String>,
    stop: Option<bool>,
) -> Result<HttpResponse, RestError> {
    let job_id = parse_job_id(id)?;
    let msg = TriggerJobSavepoint {
        job_id,
        target: target.map(std::path::PathBuf::from),
        stop,
    };
    match ask(&h.dispatcher, msg, "dispatcher").await?? {
        Ok(savepoint) => Ok(HttpResponse::Accepted().json(SavepointTriggered {
            request_id: savepoint.to_string(),
        })),
        Err(reason) => Err(RestError::Conflict(reason.to_string())),
    }
}

/// `POST /jobs/{id}/savepoints`: 202 with the savepoint's `request-id`.
#[utoipa::path(
    post,
    path = "/jobs/{id}/savepoints",
    tag = "savepoints",
    params(("id" = String, Path, description = "The job's id (hex)")),
    request_body(content = Option<SavepointRequest>, description = "Optional; empty means defaults"),
    responses(
        (status = 202, description = "The savepoint was triggered", body = SavepointTriggered),
        (status = 400, description = "A malformed id or body", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 409, description = "The job is not running", body = ErrorResponse),
        (status = 503, description = "The cluster did not answer", body = ErrorResponse),
    )
)]
pub async fn job_savepoint(
    h: Handle,
    id: web::Path<String>,
    body: Option<web::Json<SavepointRequest>>,
) -> Result<HttpResponse, RestError> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let stop = body.cancel_job.then_some(false);
    trigger_savepoint(&h, &id, body.target_directory, stop).await
}

/// `POST /jobs/{id}/stop`: stops the job with a savepoint; 202 with its `request-id`.
#[utoipa::path(
    post,
    path = "/jobs/{id}/stop",
    tag = "savepoints",
    params(("id" = String, Path, description = "The job's id (hex)")),
    request_body(content = Option<StopRequest>, description = "Optional; empty means defaults"),
    responses(
        (status = 202, description = "The stop-with-savepoint was triggered", body = SavepointTriggered),
        (status = 400, description = "A malformed id or body", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 409, description = "The job is not running", body = ErrorResponse),
        (status = 503, description = "The cluster did not answer", body = ErrorResponse),
    )
)]
pub async fn job_stop(
    h: Handle,
    id: web::Path<String>,
    body: Option<web::Json<StopRequest>>,
) -> Result<HttpResponse, RestError> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    trigger_savepoint(&h, &id, body.target_directory, Some(body.drain)).await
}

/// `GET /jobs/{id}/savepoints/{request}`: `IN_PROGRESS`, or `COMPLETED` with the savepoint's
/// location or its failure cause (Flink's answer).
#[utoipa::path(
    get,
    path = "/jobs/{id}/savepoints/{request}",
    tag = "savepoints",
    params(
        ("id" = String, Path, description = "The job's id (hex)"),
        ("request" = String, Path, description = "The `request-id` the trigger answered"),
    ),
    responses(
        (status = 200, description = "The savepoint's status", body = SavepointStatusInfo),
        (status = 400, description = "A malformed job or request id", body = ErrorResponse),
        (status = 404, description = "No such job or savepoint", body = ErrorResponse),
        (status = 503, description = "The cluster did not answer", body = ErrorResponse),
    )
)]
pub async fn job_savepoint_status(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<web::Json<SavepointStatusInfo>, RestError> {
    let (id, request) = path.into_inner();
    let job_id = parse_job_id(&id)?;
    let savepoint: u64 = request.parse().map_err(|_| RestError::InvalidParameter {
        what: "savepoint request id",
        value: echo(&request),
        reason: "expected the number POST /jobs/{id}/savepoints answered",
    })?;
    let msg = RequestSavepointStatus {
        job_id,
        id: savepoint,
    };
    let outcome = ask(&h.dispatcher, msg, "dispatcher").await??;
    Ok(web::Json(SavepointStatusInfo::new(outcome)))
}
