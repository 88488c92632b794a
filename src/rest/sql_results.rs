//! A query's rows through the SQL Gateway: each fetch of the next token drains what the job's
//! `collect` sinks hold on every node into one page (see [`crate::rest::sql_gateway`]).

use std::time::Instant;

use actix_web::{web, HttpResponse};

use crate::actors::collect::{FetchCollected, GatherCollected};
use crate::actors::dispatcher::{CancelJob, RequestJobDetails};
use crate::graph::JobStatus;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, parse_job_id};
use crate::rest::model::sql::{ColumnInfo, FetchResultsResponse, LogicalType, ResultSet, RowData};
use crate::rest::sql_gateway::gateway;
use crate::rest::RestHandle;
use crate::sql::gateway::{OperationResult, QueryCursor};
use crate::sql::types::{DataType, Field, RowKind};

/// About how many bytes of rows one page holds.
const PAGE_BYTES: usize = 1 << 20;

/// The page of `token` of a query's result `r`.
pub(crate) async fn query_page(
    h: &web::Data<RestHandle>,
    session: &str,
    operation: &str,
    r: OperationResult,
    token: u64,
) -> Result<HttpResponse, RestError> {
    let (Some(mut cursor), Some(job)) = (r.query, r.job_id) else {
        return Err(RestError::NotFound(format!("{operation} is not a query")));
    };
    let uri = |t: u64| format!("/v1/sessions/{session}/operations/{operation}/result/{t}");
    if cursor.ended_at == Some(token) {
        return Ok(page(&cursor.columns, &job, &[], "EOS", None));
    }
    if let Some((last, rows)) = &cursor.last {
        if *last == token {
            return Ok(page(
                &cursor.columns,
                &job,
                rows,
                "PAYLOAD",
                Some(uri(token + 1)),
            ));
        }
    }
    if token != cursor.next_token() {
        return Err(RestError::InvalidParameter {
            what: "token",
            value: token.to_string(),
            reason: "a query's result is read in order: fetch the token the last answer's nextResultUri names",
        });
    }
    // One fetch of an operation at a time: a second one meanwhile finds nothing new yet.
    if !gateway(h).begin_fetch(session, operation, Instant::now())? {
        return Ok(page(
            &cursor.columns,
            &job,
            &[],
            "NOT_READY",
            Some(uri(token)),
        ));
    }
    // Run to its end even if the request goes away: drained rows must reach the cursor.
    let task = {
        let (h, job, session, operation) = (
            h.clone(),
            job.clone(),
            session.to_string(),
            operation.to_string(),
        );
        actix_rt::spawn(async move {
            let fetched = fetch_next(&h, &job, token, &mut cursor).await;
            gateway(&h).end_fetch(&session, &operation, cursor.clone(), Instant::now())?;
            fetched.map(|next| (next, cursor))
        })
    };
    let (next, cursor) = task
        .await
        .map_err(|_| RestError::Unresponsive("SQL Gateway"))??;
    Ok(match next {
        Next::Rows => {
            let rows = cursor.last.as_ref().map_or(&[][..], |(_, r)| r.as_slice());
            page(&cursor.columns, &job, rows, "PAYLOAD", Some(uri(token + 1)))
        }
        Next::End => page(&cursor.columns, &job, &[], "EOS", None),
        Next::NotReady => page(&cursor.columns, &job, &[], "NOT_READY", Some(uri(token))),
    })
}

/// What a fetch of the next token found.
enum Next {
    /// New rows, now `cursor.last`.
    Rows,
    /// The end: the job finished and every row was read.
    End,
    /// Nothing new yet.
    NotReady,
}

/// Drains the query's rows from every node into `cursor` as the page of `token`.
async fn fetch_next(
    h: &RestHandle,
    job: &str,
    token: u64,
    cursor: &mut QueryCursor,
) -> Result<Next, RestError> {
    let job_id = parse_job_id(job)?;
    // The job's status first: once it ended, its sinks hold every row it will have, so a
    // fetch after that which finds none is the end.
    let info = ask(&h.dispatcher, RequestJobDetails { job_id }, "dispatcher").await??;
    let fetch = FetchCollected {
        job_id,
        max_bytes: PAGE_BYTES,
        forget: info.status.is_globally_terminal(),
    };
    let gathered = ask(
        &h.resource_manager,
        GatherCollected { fetch },
        "resource manager",
    )
    .await?;
    if let Some(failure) = gathered.collected.failure {
        cancel_query(h, job).await;
        return Err(RestError::InvalidBody(format!(
            "the query's result failed: {failure}"
        )));
    }
    let rows = gathered.collected.rows;
    if !rows.is_empty() {
        cursor.last = Some((token, rows));
        return Ok(Next::Rows);
    }
    match info.status {
        JobStatus::Finished if gathered.complete => {
            cursor.ended_at = Some(token);
            Ok(Next::End)
        }
        JobStatus::Failed | JobStatus::Canceled => Err(RestError::InvalidBody(format!(
            "the query's job {job} is {}{}",
            info.status,
            info.failure.map(|f| format!(": {f}")).unwrap_or_default()
        ))),
        _ => Ok(Next::NotReady),
    }
}

fn page(
    columns: &[Field],
    job: &str,
    rows: &[crate::connectors::collect::CollectedRow],
    result_type: &str,
    next: Option<String>,
) -> HttpResponse {
    let data = rows
        .iter()
        .map(|r| RowData {
            kind: kind_name(r.kind).into(),
            fields: serde_json::from_str(&r.fields).unwrap_or_default(),
        })
        .collect();
    HttpResponse::Ok().json(FetchResultsResponse {
        results: ResultSet {
            columns: columns
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name.clone(),
                    logical_type: logical_type(&f.data_type, f.nullable),
                    comment: None,
                })
                .collect(),
            row_format: "JSON".into(),
            data,
        },
        result_type: result_type.into(),
        is_query_result: true,
        job_id: Some(job.to_string()),
        result_kind: "SUCCESS_WITH_CONTENT".into(),
        next_result_uri: next,
    })
}

/// Flink's name of a row kind in the gateway's JSON rows.
fn kind_name(kind: RowKind) -> &'static str {
    match kind {
        RowKind::Insert => "INSERT",
        RowKind::UpdateBefore => "UPDATE_BEFORE",
        RowKind::UpdateAfter => "UPDATE_AFTER",
        RowKind::Delete => "DELETE",
    }
}

/// A column's type as Flink's gateway describes it (`{"type": "BIGINT", "nullable": true}`).
fn logical_type(t: &DataType, nullable: bool) -> LogicalType {
    let mut lt = LogicalType::varchar();
    lt.nullable = nullable;
    lt.length = None;
    let (root, precision, scale) = match t {
        DataType::Boolean => ("BOOLEAN", None, None),
        DataType::TinyInt => ("TINYINT", None, None),
        DataType::SmallInt => ("SMALLINT", None, None),
        DataType::Int => ("INTEGER", None, None),
        DataType::BigInt => ("BIGINT", None, None),
        DataType::Float => ("FLOAT", None, None),
        DataType::Double => ("DOUBLE", None, None),
        DataType::Decimal { precision, scale } => (
            "DECIMAL",
            Some(u32::from(*precision)),
            Some(u32::from(*scale)),
        ),
        DataType::String => {
            lt.length = Some(i32::MAX as u32);
            ("VARCHAR", None, None)
        }
        DataType::Date => ("DATE", None, None),
        DataType::Timestamp { precision } => (
            "TIMESTAMP_WITHOUT_TIME_ZONE",
            Some(u32::from(*precision)),
            None,
        ),
        DataType::TimestampLtz { precision } => (
            "TIMESTAMP_WITH_LOCAL_TIME_ZONE",
            Some(u32::from(*precision)),
            None,
        ),
        DataType::Interval => ("INTERVAL_DAY_TIME", None, None),
        DataType::Row(_) => ("ROW", None, None),
        DataType::Array(_) => ("ARRAY", None, None),
        DataType::Null => ("NULL", None, None),
    };
    lt.type_root = root.into();
    lt.precision = precision;
    lt.scale = scale;
    lt
}

/// Cancels the job of a query whose reader left before its end (a job that already ended
/// stays as it is).
pub(crate) async fn cancel_query(h: &RestHandle, job: &str) {
    let Ok(job_id) = parse_job_id(job) else {
        return;
    };
    let cancel = async {
        let info = ask(&h.dispatcher, RequestJobDetails { job_id }, "dispatcher").await??;
        if !info.status.is_globally_terminal() {
            ask(&h.dispatcher, CancelJob { job_id }, "dispatcher").await??;
        }
        Ok::<_, RestError>(())
    };
    if let Err(e) = cancel.await {
        tracing::debug!(job = %job_id, error = %e, "a closed query's job was not cancelled");
    }
}
