//! The REST API's errors. Every one is answered as JSON `{"errors": [message]}` (Flink's shape)
//! with a 4xx status for anything the request got wrong, and 5xx only for the server's own
//! trouble (an actor that is not running or does not answer).

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use thiserror::Error;

use crate::actors::ClusterError;
use crate::ids::JobId;
use crate::jobs::JobError;
use crate::rest::model::ErrorResponse;

/// A request the REST API could not serve.
#[derive(Debug, Error)]
pub enum RestError {
    /// The submitted job could not be built from its name and arguments.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The body is not the JSON the endpoint takes.
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// The body is larger than the endpoint takes.
    #[error("request body too large: {0}")]
    BodyTooLarge(String),
    /// A query parameter is missing or invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A path parameter does not parse.
    #[error("invalid {what} '{value}': {reason}")]
    InvalidParameter {
        /// What the parameter is.
        what: &'static str,
        /// Its value.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// No such job.
    #[error("no job {0}")]
    JobNotFound(JobId),
    /// No such TaskManager.
    #[error("no TaskManager {0}")]
    TaskManagerNotFound(String),
    /// The job has no such vertex.
    #[error("job {job_id} has no vertex {vertex}")]
    VertexNotFound {
        /// The job.
        job_id: JobId,
        /// The vertex id asked for.
        vertex: String,
    },
    /// The request conflicts with the job's state (a savepoint of a job not running).
    #[error("{0}")]
    Conflict(String),
    /// The job has already ended, so it cannot be cancelled.
    #[error("job {job_id} has already reached the terminal status {status}")]
    AlreadyTerminal {
        /// The job.
        job_id: JobId,
        /// Its status.
        status: crate::graph::JobStatus,
    },
    /// No endpoint at this path.
    #[error("Not found: {0}")]
    NotFound(String),
    /// The endpoint does not take this method.
    #[error("method {method} is not allowed for {path}")]
    MethodNotAllowed {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// An actor did not answer in time.
    #[error("the {0} did not answer in time")]
    Unresponsive(&'static str),
    /// A bounded resource is full; the client may try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The cluster could not serve the request.
    #[error(transparent)]
    Cluster(ClusterError),
}

impl From<ClusterError> for RestError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::JobNotFound(id) => Self::JobNotFound(id),
            e => Self::Cluster(e),
        }
    }
}

impl ResponseError for RestError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Job(_)
            | Self::InvalidBody(_)
            | Self::InvalidQuery(_)
            | Self::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::JobNotFound(_)
            | Self::TaskManagerNotFound(_)
            | Self::VertexNotFound { .. }
            | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AlreadyTerminal { .. } | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unresponsive(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Cluster(e) => match e {
                ClusterError::Graph(_) | ClusterError::Plan(_) => StatusCode::BAD_REQUEST,
                ClusterError::JobNotFound(_) | ClusterError::SavepointNotFound(_) => {
                    StatusCode::NOT_FOUND
                }
                ClusterError::TooManyWaiters(_) => StatusCode::TOO_MANY_REQUESTS,
                ClusterError::DuplicateJob(_) => StatusCode::CONFLICT,
                ClusterError::Unavailable(_) | ClusterError::Startup(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(ErrorResponse {
            errors: vec![self.to_string()],
        })
    }
}

/// Turns a body that did not parse into a JSON 4xx (for actix-web's `JsonConfig`).
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            RestError::BodyTooLarge(err.to_string())
        }
        _ => RestError::InvalidBody(err.to_string()),
    };
    e.into()
}

/// Turns a query string that did not parse into a JSON 400 (for `QueryConfig`).
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    RestError::InvalidQuery(err.to_string()).into()
}

/// Turns a path that did not parse into a JSON 404 (for `PathConfig`).
pub fn path_error(_err: PathError, req: &HttpRequest) -> actix_web::Error {
    RestError::NotFound(req.path().to_string()).into()
}
