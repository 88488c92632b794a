//! The endpoints of task metrics: a vertex's backpressure, watermarks and metrics, per subtask
//! and aggregated ([`model::metrics`](crate::rest::model::metrics) shapes them as Flink does).

use std::time::SystemTime;

use actix_web::web;
use serde::Deserialize;

use crate::actors::job_info::{JobInfo, VertexInfo};
use crate::rest::error::RestError;
use crate::rest::handlers::{echo, job_vertex_info};
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
                value: echo(&bad),
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
