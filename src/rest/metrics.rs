//! The endpoints of metrics: a vertex's backpressure, watermarks and metrics, per subtask and
//! aggregated ([`model::metrics`](crate::rest::model::metrics) shapes them as Flink does), and
//! a TaskManager's and the JobManager's own (`Status.Process.Memory.RSS`,
//! `Status.Process.Threads.Count`, slots, and Flink's JobManager figures).

use std::time::SystemTime;

use actix_web::web;
use serde::Deserialize;

use crate::actors::job_info::{JobInfo, VertexInfo};
use crate::actors::resource_manager::RequestTaskManagers;
use crate::metrics::process::ProcessStats;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, cluster_state, echo, job_vertex_info};
use crate::rest::model::epoch_millis;
use crate::rest::model::metrics::{
    aggregated, vertex_metric_names, vertex_metric_values, watermarks, Aggregate, AggregatedMetric,
    MetricName, MetricValue, VertexBackPressure, SUBTASK_METRICS,
};
use crate::rest::model::ErrorResponse;
use crate::rest::RestHandle;

type Handle = web::Data<RestHandle>;

/// The query of the metrics endpoints: `get` (comma-separated metric names) and `agg`.
#[derive(Deserialize, Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// The metrics asked for, comma-separated; without it the names are listed.
    #[param(example = "numRecordsOut,numRecordsIn")]
    pub get: Option<String>,
    /// The aggregates (`min,max,avg,sum,skew`, comma-separated; only
    /// `…/subtasks/metrics` reads it); all by default.
    #[param(example = "min,max")]
    pub agg: Option<String>,
}

impl MetricsQuery {
    fn names(&self) -> Option<Vec<&str>> {
        self.get.as_deref().map(|g| {
            g.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    fn aggregates(&self) -> Result<Vec<Aggregate>, RestError> {
        match self.agg.as_deref() {
            None => Ok(Aggregate::ALL.to_vec()),
            Some(list) => Aggregate::parse_list(list).map_err(|bad| RestError::InvalidParameter {
                what: "aggregation",
                value: echo(&bad.0),
                reason: "the aggregations are min, max, avg, sum and skew",
            }),
        }
    }
}

/// Either a list of names (without `get`) or values.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MetricsAnswer<T> {
    /// The names there are.
    Names(Vec<MetricName>),
    /// The values asked for.
    Values(Vec<T>),
}

fn vertex(info: &JobInfo, index: usize) -> &VertexInfo {
    &info.vertices[index]
}

/// `GET /jobs/{id}/vertices/{vertex}/backpressure`: each subtask's backpressure ratio and
/// level over the last sampling period (Flink's `JobVertexBackPressureInfo`).
#[utoipa::path(
    get,
    path = "/jobs/{id}/vertices/{vertex}/backpressure",
    tag = "metrics",
    params(("id" = String, Path, description = "The job's id (hex)"), ("vertex" = String, Path, description = "The job vertex's id (hex)")),
    responses(
        (status = 200, description = "Each subtask's backpressure", body = VertexBackPressure),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job or vertex", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn vertex_backpressure(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<web::Json<VertexBackPressure>, RestError> {
    let (id, v) = path.into_inner();
    let (info, index) = job_vertex_info(&h, &id, &v).await?;
    let now = epoch_millis(SystemTime::now());
    Ok(web::Json(VertexBackPressure::new(
        vertex(&info, index),
        now,
    )))
}

/// `GET /jobs/{id}/vertices/{vertex}/watermarks`: each subtask's input and output watermark.
#[utoipa::path(
    get,
    path = "/jobs/{id}/vertices/{vertex}/watermarks",
    tag = "metrics",
    params(("id" = String, Path, description = "The job's id (hex)"), ("vertex" = String, Path, description = "The job vertex's id (hex)")),
    responses(
        (status = 200, description = "Each subtask's input and output watermark", body = Vec<MetricValue>),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job or vertex", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn vertex_watermarks(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Vec<MetricValue>>, RestError> {
    let (id, v) = path.into_inner();
    let (info, index) = job_vertex_info(&h, &id, &v).await?;
    Ok(web::Json(watermarks(vertex(&info, index))))
}

/// `GET /jobs/{id}/vertices/{vertex}/metrics[?get=0.numRecordsIn,…]`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/vertices/{vertex}/metrics",
    tag = "metrics",
    params(("id" = String, Path, description = "The job's id (hex)"), ("vertex" = String, Path, description = "The job vertex's id (hex)"), MetricsQuery),
    responses(
        (status = 200, description = "The names without `get`, else the values asked for (`<subtask>.<metric>`)", body = MetricsAnswer<MetricValue>),
        (status = 400, description = "A malformed job id", body = ErrorResponse),
        (status = 404, description = "No such job or vertex", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn vertex_metrics(
    h: Handle,
    path: web::Path<(String, String)>,
    query: web::Query<MetricsQuery>,
) -> Result<web::Json<MetricsAnswer<MetricValue>>, RestError> {
    let (id, v) = path.into_inner();
    let (info, index) = job_vertex_info(&h, &id, &v).await?;
    let v = vertex(&info, index);
    Ok(web::Json(match query.names() {
        None => MetricsAnswer::Names(vertex_metric_names(v)),
        Some(get) => MetricsAnswer::Values(vertex_metric_values(v, &get)),
    }))
}

/// `GET /jobs/{id}/vertices/{vertex}/subtasks/metrics[?get=numRecordsOut,…&agg=min,max]`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/vertices/{vertex}/subtasks/metrics",
    tag = "metrics",
    params(("id" = String, Path, description = "The job's id (hex)"), ("vertex" = String, Path, description = "The job vertex's id (hex)"), MetricsQuery),
    responses(
        (status = 200, description = "The names without `get`, else the aggregates asked for", body = MetricsAnswer<AggregatedMetric>),
        (status = 400, description = "A malformed job id or an unknown aggregate", body = ErrorResponse),
        (status = 404, description = "No such job or vertex", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn subtasks_metrics(
    h: Handle,
    path: web::Path<(String, String)>,
    query: web::Query<MetricsQuery>,
) -> Result<web::Json<MetricsAnswer<AggregatedMetric>>, RestError> {
    let aggs = query.aggregates()?;
    let (id, v) = path.into_inner();
    let (info, index) = job_vertex_info(&h, &id, &v).await?;
    let v = vertex(&info, index);
    Ok(web::Json(match query.names() {
        None => MetricsAnswer::Names(
            SUBTASK_METRICS
                .iter()
                .map(|m| MetricName { id: m.to_string() })
                .collect(),
        ),
        Some(get) => MetricsAnswer::Values(aggregated(v, &get, &aggs)),
    }))
}

/// Answers `…/metrics[?get=…]` over named values: the names without `get`, else the values
/// asked for (unknown names left out, as Flink does).
fn named_values(values: &[(&str, f64)], query: &MetricsQuery) -> MetricsAnswer<MetricValue> {
    match query.names() {
        None => MetricsAnswer::Names(
            values
                .iter()
                .map(|(id, _)| MetricName { id: id.to_string() })
                .collect(),
        ),
        Some(get) => MetricsAnswer::Values(
            get.iter()
                .filter_map(|name| {
                    let (id, v) = values.iter().find(|(id, _)| id == name)?;
                    Some(MetricValue {
                        id: id.to_string(),
                        value: format!("{v}"),
                    })
                })
                .collect(),
        ),
    }
}

fn process_values(p: Option<ProcessStats>) -> Vec<(&'static str, f64)> {
    p.map_or_else(Vec::new, |p| {
        vec![
            ("Status.Process.Memory.RSS", p.rss_bytes as f64),
            ("Status.Process.Threads.Count", p.threads as f64),
        ]
    })
}

/// `GET /taskmanagers/{id}/metrics[?get=…]`: the TaskManager's process (resident memory,
/// threads) and slots.
#[utoipa::path(
    get,
    path = "/taskmanagers/{id}/metrics",
    tag = "metrics",
    params(("id" = String, Path, description = "The TaskManager's id"), MetricsQuery),
    responses(
        (status = 200, description = "The names without `get`, else the values asked for", body = MetricsAnswer<MetricValue>),
        (status = 404, description = "No such TaskManager", body = ErrorResponse),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn taskmanager_metrics(
    h: Handle,
    id: web::Path<String>,
    query: web::Query<MetricsQuery>,
) -> Result<web::Json<MetricsAnswer<MetricValue>>, RestError> {
    let id = id.into_inner();
    let tms = ask(&h.resource_manager, RequestTaskManagers, "resource manager").await?;
    let tm = tms
        .iter()
        .find(|t| t.slots.id.0 == id)
        .ok_or_else(|| RestError::TaskManagerNotFound(echo(&id)))?;
    let mut values = process_values(tm.process);
    values.extend([
        ("Status.TaskSlots.Total", tm.slots.total as f64),
        ("Status.TaskSlots.Available", tm.slots.free as f64),
        (
            "Status.TaskSlots.Used",
            (tm.slots.total - tm.slots.free.min(tm.slots.total)) as f64,
        ),
    ]);
    Ok(web::Json(named_values(&values, &query)))
}

/// `GET /jobmanager/metrics[?get=…]`: the JobManager's process, TaskManagers, slots and
/// running jobs (Flink's `numRegisteredTaskManagers`, `taskSlotsTotal`, …).
#[utoipa::path(
    get,
    path = "/jobmanager/metrics",
    tag = "metrics",
    params(MetricsQuery),
    responses(
        (status = 200, description = "The names without `get`, else the values asked for", body = MetricsAnswer<MetricValue>),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn jobmanager_metrics(
    h: Handle,
    query: web::Query<MetricsQuery>,
) -> Result<web::Json<MetricsAnswer<MetricValue>>, RestError> {
    let (res, jobs) = cluster_state(&h).await?;
    let running = jobs
        .iter()
        .filter(|j| !j.status.is_globally_terminal())
        .count();
    let mut values = process_values(ProcessStats::current());
    values.extend([
        ("numRegisteredTaskManagers", res.task_managers as f64),
        ("numRunningJobs", running as f64),
        ("taskSlotsTotal", res.slots_total as f64),
        ("taskSlotsAvailable", res.slots_available as f64),
    ]);
    Ok(web::Json(named_values(&values, &query)))
}
