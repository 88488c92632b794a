//! Task metrics over REST, with Flink's names and shapes: a vertex's backpressure
//! (`/jobs/{id}/vertices/{vid}/backpressure`), its watermarks (`…/watermarks`), its metrics
//! per subtask (`…/metrics?get=0.numRecordsIn`) and aggregated over its subtasks
//! (`…/subtasks/metrics?get=numRecordsOut&agg=min,max`).
//!
//! ## Metric names (Flink's)
//! `numRecordsIn`, `numRecordsOut`, `numBytesIn`, `numBytesOut`, their `…PerSecond` rates,
//! `busyTimeMsPerSecond`, `backPressuredTimeMsPerSecond`, `idleTimeMsPerSecond`,
//! `currentInputWatermark`, `currentOutputWatermark` (`i64::MIN` before the first, as Flink
//! shows) and `numLateRecordsDropped`. Per subtask they are named `<subtask>.<metric>`.
//!
//! ## Skew
//! The `skew` aggregate is how far the largest subtask is above the mean, in percent of the
//! mean: `(max - avg) / avg * 100`, 0 when the mean is 0.

use serde::{Deserialize, Serialize};

use crate::actors::job_info::{SubtaskInfo, VertexInfo};
use crate::metrics::rates::BackPressureLevel;

/// Every metric a subtask has, in the order `…/metrics` lists them.
pub const SUBTASK_METRICS: [&str; 14] = [
    "numRecordsIn",
    "numRecordsOut",
    "numBytesIn",
    "numBytesOut",
    "numRecordsInPerSecond",
    "numRecordsOutPerSecond",
    "numBytesInPerSecond",
    "numBytesOutPerSecond",
    "busyTimeMsPerSecond",
    "backPressuredTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "currentInputWatermark",
    "currentOutputWatermark",
    "numLateRecordsDropped",
];

/// The value of metric `name` of a subtask (`None` for an unknown name). Rates are 0 before
/// the first sample.
pub fn subtask_metric(s: &SubtaskInfo, name: &str) -> Option<f64> {
    let io = &s.io;
    let r = s.rates.unwrap_or_default();
    let watermark = |w: Option<i64>| w.unwrap_or(i64::MIN) as f64;
    Some(match name {
        "numRecordsIn" => io.records_in as f64,
        "numRecordsOut" => io.records_out as f64,
        "numBytesIn" => io.bytes_in as f64,
        "numBytesOut" => io.bytes_out as f64,
        "numRecordsInPerSecond" => r.records_in_per_second,
        "numRecordsOutPerSecond" => r.records_out_per_second,
        "numBytesInPerSecond" => r.bytes_in_per_second,
        "numBytesOutPerSecond" => r.bytes_out_per_second,
        "busyTimeMsPerSecond" => r.busy_ms_per_second,
        "backPressuredTimeMsPerSecond" => r.backpressured_ms_per_second,
        "idleTimeMsPerSecond" => r.idle_ms_per_second,
        "currentInputWatermark" => watermark(io.input_watermark),
        "currentOutputWatermark" => watermark(io.output_watermark),
        "numLateRecordsDropped" => io.late_records_dropped as f64,
        _ => return None,
    })
}

/// A metric's name, as `…/metrics` lists them without `get`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct MetricName {
    /// The metric.
    pub id: String,
}

/// A metric's value (a string, as Flink sends it).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct MetricValue {
    /// The metric.
    pub id: String,
    /// Its value.
    pub value: String,
}

/// A metric aggregated over a vertex's subtasks: only the aggregates asked for.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct AggregatedMetric {
    /// The metric.
    pub id: String,
    /// The smallest subtask's value.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    /// The largest.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
    /// The mean.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub avg: Option<f64>,
    /// The sum.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sum: Option<f64>,
    /// How far the largest is above the mean, in percent of the mean.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skew: Option<f64>,
}

/// An `agg` name that is none of `min`, `max`, `avg`, `sum`, `skew`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown aggregation '{0}'")]
pub struct UnknownAggregate(pub String);

/// An aggregate of `…/subtasks/metrics?agg=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `avg`.
    Avg,
    /// `sum`.
    Sum,
    /// `skew`.
    Skew,
}

impl Aggregate {
    /// Every aggregate, the default when `agg` is not given.
    pub const ALL: [Aggregate; 5] = [Self::Min, Self::Max, Self::Avg, Self::Sum, Self::Skew];

    /// Parses `agg`'s comma-separated list.
    pub fn parse_list(list: &str) -> Result<Vec<Aggregate>, UnknownAggregate> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| match s.trim() {
                "min" => Ok(Self::Min),
                "max" => Ok(Self::Max),
                "avg" => Ok(Self::Avg),
                "sum" => Ok(Self::Sum),
                "skew" => Ok(Self::Skew),
                other => Err(UnknownAggregate(other.to_string())),
            })
            .collect()
    }
}

impl AggregatedMetric {
    /// `values` aggregated as `aggs` ask (none when there are no values).
    pub fn of(id: &str, values: &[f64], aggs: &[Aggregate]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = values.iter().sum();
        let avg = sum / values.len() as f64;
        let skew = if avg == 0.0 {
            0.0
        } else {
            (max - avg) / avg * 100.0
        };
        let pick = |a: Aggregate, v: f64| aggs.contains(&a).then_some(v);
        Some(Self {
            id: id.to_string(),
            min: pick(Aggregate::Min, min),
            max: pick(Aggregate::Max, max),
            avg: pick(Aggregate::Avg, avg),
            sum: pick(Aggregate::Sum, sum),
            skew: pick(Aggregate::Skew, skew),
        })
    }
}

/// `GET /jobs/{id}/vertices/{vid}/backpressure` (Flink's `JobVertexBackPressureInfo`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct VertexBackPressure {
    /// `ok`: the figures are current.
    pub status: String,
    /// The vertex's level: its most backpressured subtask's.
    #[serde(rename = "backpressure-level")]
    pub backpressure_level: BackPressureLevel,
    /// When the figures were taken (ms since the epoch).
    #[serde(rename = "end-timestamp")]
    pub end_timestamp: i64,
    /// Per subtask.
    pub subtasks: Vec<SubtaskBackPressure>,
}

/// One subtask's backpressure.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct SubtaskBackPressure {
    /// The subtask's index.
    pub subtask: usize,
    /// Its attempt.
    #[serde(rename = "attempt-number")]
    pub attempt_number: u32,
    /// Its level.
    #[serde(rename = "backpressure-level")]
    pub backpressure_level: BackPressureLevel,
    /// The share of time backpressured, 0 to 1.
    pub ratio: f64,
    /// The share of time idle.
    #[serde(rename = "idleRatio")]
    pub idle_ratio: f64,
    /// The share of time busy.
    #[serde(rename = "busyRatio")]
    pub busy_ratio: f64,
}

impl VertexBackPressure {
    /// The backpressure of `v`'s subtasks as last sampled, at `now_ms`.
    pub fn new(v: &VertexInfo, now_ms: i64) -> Self {
        let subtasks: Vec<SubtaskBackPressure> = v
            .subtasks
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let r = s.rates.unwrap_or_default();
                SubtaskBackPressure {
                    subtask: i,
                    attempt_number: s.attempt,
                    backpressure_level: BackPressureLevel::of(r.backpressure_ratio()),
                    ratio: r.backpressure_ratio(),
                    idle_ratio: r.idle_ratio(),
                    busy_ratio: r.busy_ratio(),
                }
            })
            .collect();
        let level = subtasks
            .iter()
            .map(|s| s.backpressure_level)
            .max()
            .unwrap_or(BackPressureLevel::Ok);
        Self {
            status: "ok".to_string(),
            backpressure_level: level,
            end_timestamp: now_ms,
            subtasks,
        }
    }
}

/// `GET /jobs/{id}/vertices/{vid}/watermarks`: each subtask's current input and output
/// watermark.
pub fn watermarks(v: &VertexInfo) -> Vec<MetricValue> {
    v.subtasks
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            ["currentInputWatermark", "currentOutputWatermark"].map(|name| MetricValue {
                id: format!("{i}.{name}"),
                value: format!("{}", subtask_metric(s, name).unwrap_or_default() as i64),
            })
        })
        .collect()
}

/// The names `…/metrics` lists for `v`: `<subtask>.<metric>`.
pub fn vertex_metric_names(v: &VertexInfo) -> Vec<MetricName> {
    (0..v.subtasks.len())
        .flat_map(|i| {
            SUBTASK_METRICS.map(|m| MetricName {
                id: format!("{i}.{m}"),
            })
        })
        .collect()
}

/// The values of `get`'s `<subtask>.<metric>` names for `v`; unknown names are left out, as
/// Flink does.
pub fn vertex_metric_values(v: &VertexInfo, get: &[&str]) -> Vec<MetricValue> {
    get.iter()
        .filter_map(|id| {
            let (index, name) = id.split_once('.')?;
            let s = v.subtasks.get(index.parse::<usize>().ok()?)?;
            let value = subtask_metric(s, name)?;
            Some(MetricValue {
                id: id.to_string(),
                value: format_value(value),
            })
        })
        .collect()
}

/// `…/subtasks/metrics?get=…&agg=…` for `v`; unknown names are left out.
pub fn aggregated(v: &VertexInfo, get: &[&str], aggs: &[Aggregate]) -> Vec<AggregatedMetric> {
    get.iter()
        .filter_map(|name| {
            let values: Option<Vec<f64>> =
                v.subtasks.iter().map(|s| subtask_metric(s, name)).collect();
            AggregatedMetric::of(name, &values?, aggs)
        })
        .collect()
}

/// A value as Flink writes one: integers without a fraction.
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ExecutionState;
    use crate::metrics::{IoCounters, TaskRates};

    fn sub(records_out: u64, bp_ms: f64, watermark: Option<i64>) -> SubtaskInfo {
        SubtaskInfo {
            state: ExecutionState::Running,
            attempt: 1,
            task_manager: None,
            io: IoCounters {
                records_out,
                input_watermark: watermark,
                output_watermark: watermark,
                ..IoCounters::default()
            },
            rates: Some(TaskRates {
                records_out_per_second: records_out as f64 / 10.0,
                backpressured_ms_per_second: bp_ms,
                busy_ms_per_second: 1000.0 - bp_ms,
                ..TaskRates::default()
            }),
        }
    }

    fn vertex(subtasks: Vec<SubtaskInfo>) -> VertexInfo {
        VertexInfo {
            id: crate::ids::VertexId::generate(),
            name: "Map".into(),
            parallelism: subtasks.len(),
            max_parallelism: 128,
            subtasks,
        }
    }

    #[test]
    fn backpressure_follows_flinks_levels_and_names() {
        let v = vertex(vec![sub(10, 50.0, None), sub(10, 800.0, None)]);
        let bp = VertexBackPressure::new(&v, 7);
        assert_eq!(bp.backpressure_level, BackPressureLevel::High);
        assert_eq!(bp.subtasks[0].backpressure_level, BackPressureLevel::Ok);
        assert_eq!(bp.subtasks[1].ratio, 0.8);
        let json = serde_json::to_value(&bp).expect("json");
        assert_eq!(json["backpressure-level"], "high");
        assert_eq!(json["end-timestamp"], 7);
        let s = &json["subtasks"][1];
        for field in [
            "subtask",
            "attempt-number",
            "backpressure-level",
            "ratio",
            "idleRatio",
            "busyRatio",
        ] {
            assert!(s.get(field).is_some(), "{field} missing in {s}");
        }
    }

    #[test]
    fn metrics_are_named_per_subtask_and_aggregated() {
        let v = vertex(vec![sub(100, 0.0, Some(5)), sub(300, 0.0, None)]);
        let names = vertex_metric_names(&v);
        assert_eq!(names.len(), 2 * SUBTASK_METRICS.len());
        assert_eq!(names[1].id, "0.numRecordsOut");
        let values = vertex_metric_values(&v, &["1.numRecordsOut", "0.nothing", "9.numRecordsIn"]);
        assert_eq!(
            values,
            vec![MetricValue {
                id: "1.numRecordsOut".into(),
                value: "300".into()
            }]
        );
        let agg = aggregated(&v, &["numRecordsOut", "bogus"], &Aggregate::ALL);
        assert_eq!(agg.len(), 1);
        let a = &agg[0];
        assert_eq!(
            (a.min, a.max, a.avg, a.sum, a.skew),
            (
                Some(100.0),
                Some(300.0),
                Some(200.0),
                Some(400.0),
                Some(50.0)
            )
        );
        let only = aggregated(&v, &["numRecordsOut"], &[Aggregate::Max]);
        let json = serde_json::to_value(&only[0]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"id": "numRecordsOut", "max": 300.0})
        );
        assert_eq!(
            Aggregate::parse_list("min,avg"),
            Ok(vec![Aggregate::Min, Aggregate::Avg])
        );
        assert_eq!(
            Aggregate::parse_list("min,median"),
            Err(UnknownAggregate("median".to_string()))
        );
        let w = watermarks(&v);
        assert_eq!(w[0].id, "0.currentInputWatermark");
        assert_eq!(w[0].value, "5");
        assert_eq!(w[2].value, i64::MIN.to_string());
    }
}
