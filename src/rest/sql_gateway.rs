//! The SQL Gateway routes (Flink's SQL Gateway REST API, v2): open a session, run statements in
//! it, fetch each operation's result by token. An `INSERT` becomes a job of the cluster (the
//! bundled `sql` job) and its result is the job's id; a statement that fails answers 400 with
//! the planner's message.
//!
//! A `SELECT` becomes a job too, whose sink is `collect` ([`crate::connectors::collect`]): each
//! fetch drains the rows its sinks hold (on every TaskManager) into one page, `PAYLOAD` with
//! the next token; `NOT_READY` with the same token while none are new and the job runs; `EOS`
//! once the job finished and every row was fetched. Rows carry their changelog kind
//! (`INSERT`, `UPDATE_BEFORE`, `UPDATE_AFTER`, `DELETE`) and typed JSON fields. Fetching the
//! last token again answers the same page. Closing the operation or the session cancels a
//! query's job that is still running.

use std::time::Instant;

use actix_web::{web, HttpResponse};

use crate::rest::error::RestError;
use crate::rest::model::sql::{
    ColumnInfo, ExecuteStatementRequest, ExecuteStatementResponse, FetchResultsResponse,
    InfoResponse, LogicalType, OpenSessionRequest, OpenSessionResponse, ResultSet, RowData,
    SessionConfigResponse, StatusResponse,
};
use crate::rest::model::{ErrorResponse, SubmitJobRequest};
use crate::rest::RestHandle;
use crate::sql::gateway::{GatewayError, OperationResult};
use crate::sql::session::Outcome;

type Handle = web::Data<RestHandle>;

impl From<GatewayError> for RestError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::SessionNotFound(_) | GatewayError::OperationNotFound(_) => {
                RestError::NotFound(e.to_string())
            }
            GatewayError::TooManySessions => RestError::Conflict(e.to_string()),
            GatewayError::Sql(e) => RestError::InvalidBody(e.to_string()),
        }
    }
}

pub(crate) fn gateway(h: &RestHandle) -> std::sync::MutexGuard<'_, crate::sql::gateway::Gateway> {
    // A panic while the lock was held leaves sessions as they were: keep serving them.
    h.sql
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `GET /info`: the product and version.
#[utoipa::path(get, path = "/info", tag = "sql",
    responses((status = 200, description = "The product and version", body = InfoResponse)))]
pub async fn info() -> HttpResponse {
    HttpResponse::Ok().json(InfoResponse {
        product_name: "Rill".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// `POST /sessions`: opens a session.
#[utoipa::path(post, path = "/sessions", tag = "sql",
    request_body(content = Option<OpenSessionRequest>, description = "Optional name and options"),
    responses(
        (status = 200, description = "The session's handle", body = OpenSessionResponse),
        (status = 400, description = "An option that does not parse", body = ErrorResponse),
        (status = 409, description = "Too many open sessions", body = ErrorResponse),
    ))]
pub async fn open_session(
    h: Handle,
    body: Option<web::Json<OpenSessionRequest>>,
) -> Result<HttpResponse, RestError> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let (handle, abandoned) = {
        let mut g = gateway(&h);
        let handle = g.open(&body.properties, Instant::now())?;
        (handle, g.take_abandoned())
    };
    for job in abandoned {
        crate::rest::sql_results::cancel_query(&h, &job).await;
    }
    Ok(HttpResponse::Ok().json(OpenSessionResponse {
        session_handle: handle,
    }))
}

/// `GET /sessions/{session}`: the session's options.
#[utoipa::path(get, path = "/sessions/{session}", tag = "sql",
    params(("session" = String, Path, description = "The session's handle")),
    responses(
        (status = 200, description = "The options set", body = SessionConfigResponse),
        (status = 404, description = "No such session", body = ErrorResponse),
    ))]
pub async fn session_config(
    h: Handle,
    session: web::Path<String>,
) -> Result<HttpResponse, RestError> {
    let properties = gateway(&h).properties(&session, Instant::now())?;
    Ok(HttpResponse::Ok().json(SessionConfigResponse { properties }))
}

/// `DELETE /sessions/{session}`: closes a session.
#[utoipa::path(delete, path = "/sessions/{session}", tag = "sql",
    params(("session" = String, Path, description = "The session's handle")),
    responses(
        (status = 200, description = "Closed", body = StatusResponse),
        (status = 404, description = "No such session", body = ErrorResponse),
    ))]
pub async fn close_session(
    h: Handle,
    session: web::Path<String>,
) -> Result<HttpResponse, RestError> {
    let queries = gateway(&h).close(&session)?;
    for job in queries {
        crate::rest::sql_results::cancel_query(&h, &job).await;
    }
    Ok(HttpResponse::Ok().json(StatusResponse {
        status: "CLOSED".into(),
    }))
}

/// `POST /sessions/{session}/heartbeat`: keeps a session open.
#[utoipa::path(post, path = "/sessions/{session}/heartbeat", tag = "sql",
    params(("session" = String, Path, description = "The session's handle")),
    responses(
        (status = 200, description = "Kept open"),
        (status = 404, description = "No such session", body = ErrorResponse),
    ))]
pub async fn heartbeat(h: Handle, session: web::Path<String>) -> Result<HttpResponse, RestError> {
    gateway(&h).heartbeat(&session, Instant::now())?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// `POST /sessions/{session}/statements`: runs a statement; an `INSERT` submits its job.
#[utoipa::path(post, path = "/sessions/{session}/statements", tag = "sql",
    params(("session" = String, Path, description = "The session's handle")),
    request_body(content = ExecuteStatementRequest, description = "The statement"),
    responses(
        (status = 200, description = "The operation's handle", body = ExecuteStatementResponse),
        (status = 400, description = "The statement does not parse or plan (the message says where and why)", body = ErrorResponse),
        (status = 404, description = "No such session", body = ErrorResponse),
    ))]
pub async fn execute_statement(
    h: Handle,
    session: web::Path<String>,
    body: web::Json<ExecuteStatementRequest>,
) -> Result<HttpResponse, RestError> {
    let outcomes = gateway(&h).execute(&session, &body.statement, Instant::now())?;
    let Some(last) = outcomes.last() else {
        return Err(RestError::InvalidBody("the statement is empty".into()));
    };
    let result = match last {
        Outcome::Job(job) => {
            let req = SubmitJobRequest {
                job: "sql".into(),
                args: if job.prints_rows {
                    job.collect_args()
                } else {
                    job.args()
                },
                parallelism: job.parallelism,
                options: crate::sql::session::Session::submit_options(job),
            };
            let id = h.submit(&req).await?.to_string();
            if job.prints_rows {
                OperationResult::query(id, job.columns.clone())
            } else {
                OperationResult::job(id)
            }
        }
        other => OperationResult::of(other),
    };
    let handle = gateway(&h).record(&session, result, Instant::now())?;
    Ok(HttpResponse::Ok().json(ExecuteStatementResponse {
        operation_handle: handle,
    }))
}

/// `GET /sessions/{session}/operations/{operation}/status`: every operation runs to its
/// answer before its handle is returned, so its status is `FINISHED`.
#[utoipa::path(get, path = "/sessions/{session}/operations/{operation}/status", tag = "sql",
    params(("session" = String, Path, description = "The session's handle"),
           ("operation" = String, Path, description = "The operation's handle")),
    responses(
        (status = 200, description = "Its status", body = StatusResponse),
        (status = 404, description = "No such session or operation", body = ErrorResponse),
    ))]
pub async fn operation_status(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    let (session, operation) = path.into_inner();
    gateway(&h).result(&session, &operation, Instant::now())?;
    Ok(HttpResponse::Ok().json(StatusResponse {
        status: "FINISHED".into(),
    }))
}

/// `DELETE /sessions/{session}/operations/{operation}/close`: drops an operation's result.
#[utoipa::path(delete, path = "/sessions/{session}/operations/{operation}/close", tag = "sql",
    params(("session" = String, Path, description = "The session's handle"),
           ("operation" = String, Path, description = "The operation's handle")),
    responses(
        (status = 200, description = "Closed", body = StatusResponse),
        (status = 404, description = "No such session or operation", body = ErrorResponse),
    ))]
pub async fn close_operation(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    let (session, operation) = path.into_inner();
    let query = gateway(&h).close_operation(&session, &operation, Instant::now())?;
    if let Some(job) = query {
        crate::rest::sql_results::cancel_query(&h, &job).await;
    }
    Ok(HttpResponse::Ok().json(StatusResponse {
        status: "CLOSED".into(),
    }))
}

/// `GET /sessions/{session}/operations/{operation}/result/{token}`: token 0 holds every row
/// (`PAYLOAD`, with the next token's URI); token 1 is the end (`EOS`).
#[utoipa::path(get, path = "/sessions/{session}/operations/{operation}/result/{token}", tag = "sql",
    params(("session" = String, Path, description = "The session's handle"),
           ("operation" = String, Path, description = "The operation's handle"),
           ("token" = u64, Path, description = "0 for the rows, 1 for the end")),
    responses(
        (status = 200, description = "Rows, or the end", body = FetchResultsResponse),
        (status = 400, description = "A token past the end", body = ErrorResponse),
        (status = 404, description = "No such session or operation", body = ErrorResponse),
    ))]
pub async fn fetch_results(
    h: Handle,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, RestError> {
    let (session, operation, token) = path.into_inner();
    let token: u64 = token.parse().map_err(|_| RestError::InvalidParameter {
        what: "token",
        value: token.clone(),
        reason: "it must be a number",
    })?;
    let r = gateway(&h).result(&session, &operation, Instant::now())?;
    if r.query.is_some() {
        return crate::rest::sql_results::query_page(&h, &session, &operation, r, token).await;
    }
    let (data, result_type, next) = match token {
        0 => (
            r.rows
                .iter()
                .map(|fields| RowData {
                    kind: "INSERT".into(),
                    fields: fields
                        .iter()
                        .cloned()
                        .map(serde_json::Value::String)
                        .collect(),
                })
                .collect(),
            "PAYLOAD",
            Some(format!(
                "/v1/sessions/{session}/operations/{operation}/result/1?rowFormat=JSON"
            )),
        ),
        1 => (vec![], "EOS", None),
        _ => {
            return Err(RestError::InvalidParameter {
                what: "token",
                value: token.to_string(),
                reason: "the result ended at token 1",
            })
        }
    };
    Ok(HttpResponse::Ok().json(FetchResultsResponse {
        results: ResultSet {
            columns: r
                .columns
                .iter()
                .map(|c| ColumnInfo {
                    name: c.clone(),
                    logical_type: LogicalType::varchar(),
                    comment: None,
                })
                .collect(),
            row_format: "JSON".into(),
            data,
        },
        result_type: result_type.into(),
        is_query_result: false,
        job_id: r.job_id.clone(),
        result_kind: if r.with_content {
            "SUCCESS_WITH_CONTENT"
        } else {
            "SUCCESS"
        }
        .into(),
        next_result_uri: next,
    }))
}
