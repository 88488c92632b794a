//! The REST API's request and response bodies, with Flink's field names where Rill has the
//! same thing (see Flink's `/overview`, `/taskmanagers`, `/jobs/overview`, `/jobs/{id}`). The
//! server serializes them and the CLI's client deserializes the same types.
//!
//! ## Conventions (Flink's)
//! Times are milliseconds since the Unix epoch; a time that has not happened yet is `-1`.
//! Ids are lower-case hex. Job statuses and subtask states are upper case (`RUNNING`,
//! `CANCELED`); the jobs overview counts subtasks under lower-case names plus `total`.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub mod checkpoints;
mod cluster;
mod jobs;
pub mod metrics;
pub mod plan;
pub mod savepoints;
pub mod sql;

pub use cluster::*;
pub use jobs::*;

/// Milliseconds since the Unix epoch (0 for a time before it).
pub fn epoch_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Every error body: `{"errors": [message]}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong, one message each.
    pub errors: Vec<String>,
}

/// `POST /jobs`: runs a registered job.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJobRequest {
    /// The job's registered name.
    pub job: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The submission's parallelism.
    #[serde(default)]
    pub parallelism: Option<usize>,
    /// Checkpoint and restore settings (`checkpoint_interval_ms`, `checkpoint_dir`,
    /// `savepoint_path`, `allow_non_restored_state`).
    #[serde(flatten)]
    pub options: crate::graph::job_graph::SubmitOptions,
}

/// The answer to `POST /jobs`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct SubmitJobResponse {
    /// The new job's id.
    pub jobid: String,
    /// Where its details are.
    #[serde(rename = "jobUrl")]
    pub job_url: String,
}

/// The part of `GET /jobs/{id}/checkpoints` the CLI reads (the server writes the whole
/// [`CheckpointStats`](crate::checkpoint::coordinator::CheckpointStats)).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointsSummary {
    /// The newest of each kind.
    pub latest: LatestCheckpointSummary,
}

/// The newest completed checkpoint, if any.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestCheckpointSummary {
    /// The newest completed checkpoint.
    pub completed: Option<CompletedCheckpointSummary>,
}

/// A completed checkpoint: its id and times (Flink's names).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedCheckpointSummary {
    /// Its id.
    pub id: u64,
    /// When it was triggered (ms since the epoch).
    pub trigger_timestamp: i64,
    /// When its last subtask acknowledged it (ms since the epoch).
    pub latest_ack_timestamp: i64,
    /// Trigger to last acknowledgement (ms).
    pub end_to_end_duration: u64,
}

impl CompletedCheckpointSummary {
    /// When it completed (ms since the epoch).
    pub fn completed_at(&self) -> i64 {
        self.latest_ack_timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_reject_unknown_fields_and_default_the_rest() {
        let r: SubmitJobRequest = serde_json::from_str(r#"{"job":"wordcount"}"#).expect("parse");
        assert_eq!((r.args.len(), r.parallelism), (0, None));
        assert!(serde_json::from_str::<SubmitJobRequest>(r#"{"job":"x","jobs":1}"#).is_err());
        assert!(
            serde_json::from_str::<SubmitJobRequest>(r#"{"job":"x","parallelism":-1}"#).is_err()
        );
    }
}
