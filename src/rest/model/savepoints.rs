//! Bodies of savepoints and stopping: `POST /jobs/{id}/savepoints`, `POST /jobs/{id}/stop` and
//! `GET /jobs/{id}/savepoints/{request}`, with Flink's field names.

use serde::{Deserialize, Serialize};

use crate::actors::job_master::SavepointError;

/// The body of `POST /jobs/{id}/savepoints` (Flink's fields).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct SavepointRequest {
    /// Where the savepoint goes (the cluster's checkpoint directory if absent).
    #[serde(rename = "target-directory", default)]
    pub target_directory: Option<String>,
    /// Cancel the job once the savepoint completed.
    #[serde(rename = "cancel-job", default)]
    pub cancel_job: bool,
}

/// The body of `POST /jobs/{id}/stop` (Flink's fields).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct StopRequest {
    /// Where the savepoint goes.
    #[serde(rename = "targetDirectory", default)]
    pub target_directory: Option<String>,
    /// Emit the maximum watermark before the savepoint (every event-time window fires).
    #[serde(default)]
    pub drain: bool,
}

/// The answer to `POST /jobs/{id}/savepoints` and `POST /jobs/{id}/stop`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct SavepointTriggered {
    /// The savepoint's id, to ask `GET /jobs/{id}/savepoints/{request}` with.
    #[serde(rename = "request-id")]
    pub request_id: String,
}

/// `GET /jobs/{id}/savepoints/{request}`: whether the savepoint is done, and how it ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct SavepointStatusInfo {
    /// `IN_PROGRESS` or `COMPLETED`.
    pub status: QueueStatus,
    /// Once completed: the location or the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<SavepointOperation>,
}

/// An asynchronous operation's status (Flink's `QueueStatus`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct QueueStatus {
    /// `IN_PROGRESS` or `COMPLETED`.
    pub id: String,
}

/// How a completed savepoint ended: its `location`, or its `failure-cause`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct SavepointOperation {
    /// The savepoint's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why it failed.
    #[serde(
        rename = "failure-cause",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_cause: Option<FailureCause>,
}

/// A failure, in Flink's `SerializedThrowable` shape.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct FailureCause {
    /// `SavepointFailed`.
    pub class: String,
    /// The cause's message.
    #[serde(rename = "stack-trace")]
    pub stack_trace: String,
}

impl SavepointStatusInfo {
    /// The status of a savepoint: `None` while in progress, else its location or cause.
    pub fn new(outcome: Option<Result<String, SavepointError>>) -> Self {
        let completed = |operation| Self {
            status: QueueStatus {
                id: "COMPLETED".into(),
            },
            operation: Some(operation),
        };
        match outcome {
            None => Self {
                status: QueueStatus {
                    id: "IN_PROGRESS".into(),
                },
                operation: None,
            },
            Some(Ok(location)) => completed(SavepointOperation {
                location: Some(location),
                failure_cause: None,
            }),
            Some(Err(cause)) => completed(SavepointOperation {
                location: None,
                failure_cause: Some(FailureCause {
                    class: "SavepointFailed".into(),
                    stack_trace: cause.to_string(),
                }),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savepoint_statuses_keep_flinks_shape() {
        let json = |o| serde_json::to_value(SavepointStatusInfo::new(o)).expect("json");
        assert_eq!(
            json(None),
            serde_json::json!({"status": {"id": "IN_PROGRESS"}})
        );
        assert_eq!(
            json(Some(Ok("/sp/1".into()))),
            serde_json::json!({"status": {"id": "COMPLETED"}, "operation": {"location": "/sp/1"}})
        );
        assert_eq!(
            json(Some(Err(SavepointError::Failed("boom".into())))),
            serde_json::json!({"status": {"id": "COMPLETED"}, "operation": {
                "failure-cause": {"class": "SavepointFailed", "stack-trace": "boom"}}})
        );
    }
}
