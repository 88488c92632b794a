//! The endpoints of a job's checkpoint statistics, in Flink's paths and shapes
//! ([`model::checkpoints`](crate::rest::model::checkpoints)): the overview and history, one
//! checkpoint's details per vertex, and one vertex's subtasks. They answer from what the
//! JobMaster keeps (or, once the job ended, what it left to the Dispatcher): the newest
//! [`HISTORY`](crate::checkpoint::coordinator::HISTORY) checkpoints and those in progress.

use actix_web::{web, HttpResponse};

use crate::actors::dispatcher::{RequestJobCheckpoints, RequestJobGraph};
use crate::checkpoint::coordinator::CheckpointStats;
use crate::ids::JobId;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, echo, parse_job_id};
use crate::rest::model::checkpoints::{
    CheckpointStatistics, CheckpointingStatistics, TaskCheckpointDetails,
};
use crate::rest::model::ErrorResponse;
use crate::rest::RestHandle;

type Handle = web::Data<RestHandle>;

async fn stats(h: &RestHandle, job_id: JobId) -> Result<CheckpointStats, RestError> {
    let stats = ask(
        &h.dispatcher,
        RequestJobCheckpoints { job_id },
        "dispatcher",
    )
    .await??;
    Ok(stats.unwrap_or_default())
}

/// Parses a checkpoint id: a decimal number (400 otherwise, as Flink).
fn parse_checkpoint_id(s: &str) -> Result<u64, RestError> {
    s.parse().map_err(|_| RestError::InvalidParameter {
        what: "checkpoint id",
        value: echo(s),
        reason: "expected a non-negative integer",
    })
}

fn unknown_checkpoint(id: u64) -> RestError {
    RestError::NotFound(format!(
        "Could not find checkpointing statistics for checkpoint {id}."
    ))
}

/// `GET /jobs/{id}/checkpoints`: counts, a summary of the completed checkpoints, the latest
/// of each kind and the recent history.
#[utoipa::path(
    get,
    path = "/jobs/{id}/checkpoints",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The job's id (hex)")),
    responses(
        (status = 200, description = "Counts, summary, latest and history", body = CheckpointingStatistics),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn job_checkpoints(h: Handle, id: web::Path<String>) -> Result<HttpResponse, RestError> {
    let job_id = parse_job_id(&id)?;
    let stats = stats(&h, job_id).await?;
    Ok(HttpResponse::Ok().json(CheckpointingStatistics::new(&stats)))
}

/// `GET /jobs/{id}/checkpoints/details/{checkpointid}`: one checkpoint with its `tasks` by
/// vertex id; 404 for one the history no longer (or never) held.
#[utoipa::path(
    get,
    path = "/jobs/{id}/checkpoints/details/{checkpoint}",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The job's id (hex)"), ("checkpoint" = String, Path, description = "The checkpoint's id (a number)")),
    responses(
        (status = 200, description = "The checkpoint with its `tasks` by vertex id", body = CheckpointStatistics),
        (status = 400, description = "A malformed job or checkpoint id", body = ErrorResponse),
        (status = 404, description = "No such job, or a checkpoint the history does not hold", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn checkpoint_details(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<web::Json<CheckpointStatistics>, RestError> {
    let (id, checkpoint) = path.into_inner();
    let job_id = parse_job_id(&id)?;
    let checkpoint = parse_checkpoint_id(&checkpoint)?;
    let stats = stats(&h, job_id).await?;
    let record = stats
        .find(checkpoint)
        .ok_or_else(|| unknown_checkpoint(checkpoint))?;
    let graph = ask(&h.dispatcher, RequestJobGraph { job_id }, "dispatcher").await??;
    Ok(web::Json(CheckpointStatistics::new(record, Some(&graph))))
}

/// `GET /jobs/{id}/checkpoints/details/{checkpointid}/subtasks/{vertexid}`: one vertex's
/// summary and subtasks; 404 for an unknown checkpoint or vertex.
#[utoipa::path(
    get,
    path = "/jobs/{id}/checkpoints/details/{checkpoint}/subtasks/{vertex}",
    tag = "checkpoints",
    params(("id" = String, Path, description = "The job's id (hex)"), ("checkpoint" = String, Path, description = "The checkpoint's id (a number)"), ("vertex" = String, Path, description = "The job vertex's id (hex)")),
    responses(
        (status = 200, description = "The vertex's part: summary and subtasks", body = TaskCheckpointDetails),
        (status = 400, description = "A malformed job or checkpoint id", body = ErrorResponse),
        (status = 404, description = "No such job, vertex or checkpoint", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn checkpoint_subtasks(
    h: Handle,
    path: web::Path<(String, String, String)>,
) -> Result<web::Json<TaskCheckpointDetails>, RestError> {
    let (id, checkpoint, vertex) = path.into_inner();
    let job_id = parse_job_id(&id)?;
    let checkpoint = parse_checkpoint_id(&checkpoint)?;
    let stats = stats(&h, job_id).await?;
    let graph = ask(&h.dispatcher, RequestJobGraph { job_id }, "dispatcher").await??;
    let index = graph
        .vertices
        .iter()
        .position(|v| v.id.to_string() == vertex)
        .ok_or_else(|| RestError::VertexNotFound {
            job_id,
            vertex: echo(&vertex),
        })?;
    let record = stats
        .find(checkpoint)
        .ok_or_else(|| unknown_checkpoint(checkpoint))?;
    TaskCheckpointDetails::new(record, index)
        .map(web::Json)
        .ok_or_else(|| RestError::VertexNotFound {
            job_id,
            vertex: echo(&vertex),
        })
}
