//! A job's plan and configuration, and the cluster's, as Flink's REST API shows them:
//! `/config`, `/jobmanager/config`, `/jobs/{id}/plan`, `/jobs/{id}/config`,
//! `/jobs/{id}/checkpoints/config` (see `flink-rest-samples/config.json`, `job_plan.json`,
//! `job_checkpoints_config.json`).

use serde::{Deserialize, Serialize};

use crate::checkpoint::coordinator::CheckpointingMode;
use crate::config::RuntimeConfig;
use crate::graph::JobGraph;
use crate::ids::JobId;

/// `GET /config`: what a dashboard needs to know of the server.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct DashboardConfig {
    /// How often a dashboard refreshes, in ms.
    #[serde(rename = "refresh-interval")]
    pub refresh_interval: u64,
    /// The server's time zone (Rill reports in UTC).
    #[serde(rename = "timezone-name")]
    pub timezone_name: String,
    /// Its offset from UTC, in ms.
    #[serde(rename = "timezone-offset")]
    pub timezone_offset: i64,
    /// Rill's version.
    #[serde(rename = "rill-version")]
    pub rill_version: String,
    /// What the dashboard may do.
    pub features: DashboardFeatures,
}

/// The dashboard's features (Flink's names).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct DashboardFeatures {
    /// Submitting jobs.
    #[serde(rename = "web-submit")]
    pub web_submit: bool,
    /// Cancelling jobs.
    #[serde(rename = "web-cancel")]
    pub web_cancel: bool,
    /// Rescaling running jobs.
    #[serde(rename = "web-rescale")]
    pub web_rescale: bool,
    /// A history server.
    #[serde(rename = "web-history")]
    pub web_history: bool,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            refresh_interval: 3000,
            timezone_name: "Coordinated Universal Time".into(),
            timezone_offset: 0,
            rill_version: env!("CARGO_PKG_VERSION").into(),
            features: DashboardFeatures {
                web_submit: true,
                web_cancel: true,
                web_rescale: false,
                web_history: false,
            },
        }
    }
}

/// One entry of `GET /jobmanager/config`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ConfigEntry {
    /// The setting (the settings file's key).
    pub key: String,
    /// Its value.
    pub value: String,
}

/// The runtime settings as `/jobmanager/config` lists them, by the settings file's keys.
pub fn config_entries(c: &RuntimeConfig) -> Vec<ConfigEntry> {
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    [
        ("buffer_size", c.buffer_size.to_string()),
        ("buffer_bytes", c.buffer_bytes.to_string()),
        ("memory_buffer_bytes", c.memory_buffer_bytes.to_string()),
        ("exclusive_credits", c.exclusive_credits.to_string()),
        ("floating_credits", c.floating_credits.to_string()),
        ("buffer_timeout_ms", ms(c.buffer_timeout)),
        ("mailbox_capacity", c.mailbox_capacity.to_string()),
        ("heartbeat_interval_ms", ms(c.heartbeat_interval)),
        ("heartbeat_timeout_ms", ms(c.heartbeat_timeout)),
        ("rpc_timeout_ms", ms(c.rpc_timeout)),
        ("slot_request_timeout_ms", ms(c.slot_request_timeout)),
        ("checkpoint_dir", c.checkpoint_dir.display().to_string()),
        (
            "state_backend",
            format!("{:?}", c.state_backend).to_lowercase(),
        ),
        ("local_state_dir", c.local_state_dir.display().to_string()),
        ("rocksdb_cache_bytes", c.rocksdb_cache_bytes.to_string()),
        (
            "restart_strategy",
            c.restart_strategy
                .as_ref()
                .map_or_else(|| "default".to_string(), ToString::to_string),
        ),
        (
            "failover_strategy",
            format!("{:?}", c.failover_strategy).to_lowercase(),
        ),
        ("task_metrics", c.task_metrics.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| ConfigEntry {
        key: k.to_string(),
        value: v,
    })
    .collect()
}

/// `GET /jobs/{id}/plan`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct JobPlanInfo {
    /// The plan.
    pub plan: JobPlan,
}

/// A job's vertices and how they connect.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct JobPlan {
    /// The job.
    pub jid: String,
    /// Its name.
    pub name: String,
    /// `STREAMING` or `BATCH`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its vertices, sinks first as Flink lists them.
    pub nodes: Vec<PlanNode>,
}

/// One vertex of the plan.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct PlanNode {
    /// The vertex's id.
    pub id: String,
    /// Unused (Flink's).
    pub operator: String,
    /// Its parallelism.
    pub parallelism: usize,
    /// Unused (Flink's).
    pub operator_strategy: String,
    /// Its chained operators, head first, joined as Flink does (`<br/>+- `).
    pub description: String,
    /// Unused (Flink's).
    pub optimizer_properties: serde_json::Map<String, serde_json::Value>,
    /// Its inputs (none for a source).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub inputs: Vec<PlanInput>,
}

/// An input of a plan vertex.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct PlanInput {
    /// The producing vertex.
    pub id: String,
    /// The input's position.
    pub num: usize,
    /// How data is exchanged: pipelined, bounded by credits.
    pub exchange: String,
    /// The partitioner (`HASH`, `REBALANCE`, `FORWARD`, …).
    pub ship_strategy: String,
}

impl JobPlanInfo {
    /// The plan of `job_id`'s `graph`.
    pub fn new(job_id: JobId, graph: &JobGraph) -> Self {
        let nodes = graph
            .vertices
            .iter()
            .rev()
            .map(|v| PlanNode {
                id: v.id.to_string(),
                operator: String::new(),
                parallelism: v.parallelism,
                operator_strategy: String::new(),
                description: v
                    .operators
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join("<br/>+- "),
                optimizer_properties: serde_json::Map::new(),
                inputs: v
                    .inputs
                    .iter()
                    .enumerate()
                    .filter_map(|(num, e)| {
                        let edge = graph.edges.iter().find(|x| x.id == *e)?;
                        Some(PlanInput {
                            id: graph.vertices.get(edge.source)?.id.to_string(),
                            num,
                            exchange: "pipelined_bounded".into(),
                            ship_strategy: edge.partitioner.name().into(),
                        })
                    })
                    .collect(),
            })
            .collect();
        Self {
            plan: JobPlan {
                jid: job_id.to_string(),
                name: graph.name.clone(),
                job_type: format!("{:?}", graph.runtime_mode).to_uppercase(),
                nodes,
            },
        }
    }
}

/// `GET /jobs/{id}/config`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct JobConfigInfo {
    /// The job.
    pub jid: String,
    /// Its name.
    pub name: String,
    /// Its execution settings.
    #[serde(rename = "execution-config")]
    pub execution_config: ExecutionConfigInfo,
}

/// A job's execution settings (Flink's names).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct ExecutionConfigInfo {
    /// `PIPELINED` (streaming) or `BATCH`.
    #[serde(rename = "execution-mode")]
    pub execution_mode: String,
    /// Its restart strategy.
    #[serde(rename = "restart-strategy")]
    pub restart_strategy: String,
    /// Its highest vertex parallelism.
    #[serde(rename = "job-parallelism")]
    pub job_parallelism: usize,
    /// Rill never reuses objects between operators.
    #[serde(rename = "object-reuse-mode")]
    pub object_reuse_mode: bool,
    /// User settings (none).
    #[serde(rename = "user-config")]
    pub user_config: serde_json::Map<String, serde_json::Value>,
}

impl JobConfigInfo {
    /// The settings of `job_id`'s `graph`, with the cluster's defaults where it names none.
    pub fn new(job_id: JobId, graph: &JobGraph, cluster: &RuntimeConfig) -> Self {
        let restart = graph
            .restart_strategy
            .clone()
            .or_else(|| cluster.restart_strategy.clone());
        Self {
            jid: job_id.to_string(),
            name: graph.name.clone(),
            execution_config: ExecutionConfigInfo {
                execution_mode: match graph.runtime_mode {
                    crate::api::RuntimeMode::Batch => "BATCH".into(),
                    crate::api::RuntimeMode::Streaming => "PIPELINED".into(),
                },
                restart_strategy: restart.map_or_else(
                    || "Cluster level default restart strategy".to_string(),
                    |r| r.to_string(),
                ),
                job_parallelism: graph
                    .vertices
                    .iter()
                    .map(|v| v.parallelism)
                    .max()
                    .unwrap_or(1),
                object_reuse_mode: false,
                user_config: serde_json::Map::new(),
            },
        }
    }
}

/// `GET /jobs/{id}/checkpoints/config` (Flink's `CheckpointConfigInfo`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct CheckpointConfigInfo {
    /// `exactly_once` or `at_least_once`.
    pub mode: String,
    /// The interval, ms.
    pub interval: u64,
    /// A checkpoint's time limit, ms.
    pub timeout: u64,
    /// The least pause between checkpoints, ms.
    pub min_pause: u64,
    /// Checkpoints pending at once.
    pub max_concurrent: usize,
    /// Whether completed checkpoints are kept when the job is cancelled.
    pub externalization: Externalization,
    /// Where keyed state lives.
    pub state_backend: String,
    /// Where checkpoints go.
    pub checkpoint_storage: String,
    /// Unaligned checkpoints.
    pub unaligned_checkpoints: bool,
    /// Failed checkpoints in a row the job survives.
    pub tolerable_failed_checkpoints: u32,
    /// With unaligned checkpoints: how long they start aligned, ms.
    pub aligned_checkpoint_timeout: u64,
}

/// Whether checkpoints outlive a cancelled job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct Externalization {
    /// They are kept.
    pub enabled: bool,
    /// They are removed when the job is cancelled.
    pub delete_on_cancellation: bool,
}

impl CheckpointConfigInfo {
    /// The checkpoint settings of `graph` (`None`: it does not checkpoint).
    pub fn new(graph: &JobGraph, cluster: &RuntimeConfig) -> Option<Self> {
        let c = &graph.checkpointing;
        let interval = c.interval?;
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let backend = graph.state_backend.unwrap_or(cluster.state_backend);
        Some(Self {
            mode: match c.mode {
                CheckpointingMode::ExactlyOnce => "exactly_once".into(),
                CheckpointingMode::AtLeastOnce => "at_least_once".into(),
            },
            interval: ms(interval),
            timeout: ms(c.timeout),
            min_pause: ms(c.min_pause),
            max_concurrent: c.max_concurrent,
            externalization: Externalization {
                enabled: c.retain_on_cancellation,
                delete_on_cancellation: !c.retain_on_cancellation,
            },
            state_backend: format!("{backend:?}"),
            checkpoint_storage: format!(
                "FileSystemCheckpointStorage ({})",
                c.dir.as_ref().unwrap_or(&cluster.checkpoint_dir).display()
            ),
            unaligned_checkpoints: c.unaligned,
            tolerable_failed_checkpoints: c.tolerable_failures,
            aligned_checkpoint_timeout: ms(c.aligned_timeout),
        })
    }
}

/// `GET /bundled-jobs`: the jobs this binary can run (Flink's `/jars` for a binary that
/// carries its jobs), for the dashboard's submit form.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct BundledJobs {
    /// Every registered job, in registration order.
    pub jobs: Vec<BundledJob>,
}

/// One registered job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct BundledJob {
    /// The name `POST /jobs` takes.
    pub name: String,
    /// One line on what it does.
    pub description: String,
    /// Its arguments as a usage line.
    pub usage: String,
    /// The argument names it accepts (without `--`).
    pub arguments: Vec<String>,
}
