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
use crate::rest::RestHandle;

type Handle = web::Data<RestHandle>;

/// The query of the metrics endpoints: `get` (comma-separated metric names) and `agg`.
#[derive(Deserialize, Debug, Default)]
pub struct MetricsQuery {
    /// The metrics asked for; without it the names are listed.
    pub get: Option<String>,
    /// The aggregates (`min,max,avg,sum,skew`); all by default.
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
#[derive(serde::Serialize)]
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
pub async fn vertex_watermarks(
    h: Handle,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Vec<MetricValue>>, RestError> {
    let (id, v) = path.into_inner();
    let (info, index) = job_vertex_info(&h, &id, &v).await?;
    Ok(web::Json(watermarks(vertex(&info, index))))
}

/// `GET /jobs/{id}/vertices/{vertex}/metrics[?get=0.numRecordsIn,…]`.
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
