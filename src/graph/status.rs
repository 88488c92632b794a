//! Job and subtask status, with every legal transition in one place.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A move between states that the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("illegal {kind} transition {from} -> {to}")]
pub struct IllegalTransition {
    /// "job" or "subtask".
    pub kind: &'static str,
    /// The current state.
    pub from: String,
    /// The state asked for.
    pub to: String,
}

/// A job's status, as Flink's `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Accepted, graph being built.
    Initializing,
    /// Built, waiting for slots.
    Created,
    /// Subtasks are scheduled or running.
    Running,
    /// A subtask failed; the others are being cancelled.
    Failing,
    /// Ended by a failure.
    Failed,
    /// Cancellation asked for; subtasks are being cancelled.
    Cancelling,
    /// Ended by cancellation.
    Canceled,
    /// Every subtask finished.
    Finished,
    /// Being restarted after a failure.
    Restarting,
    /// Stopped on this JobManager only (it lost leadership or shut down).
    Suspended,
}

impl JobStatus {
    /// Flink's name of the status, as in its REST API (`RUNNING`, `FAILED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "INITIALIZING",
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Failing => "FAILING",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Canceled => "CANCELED",
            Self::Finished => "FINISHED",
            Self::Restarting => "RESTARTING",
            Self::Suspended => "SUSPENDED",
        }
    }

    /// Whether the job can never run again (Flink's globally terminal states).
    pub fn is_globally_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Canceled)
    }

    /// Whether the job has stopped on this JobManager.
    pub fn is_terminal(self) -> bool {
        self.is_globally_terminal() || self == Self::Suspended
    }

    /// Moves to `to` if the move is legal.
    // One row per source state reads as the transition table it is.
    #[allow(clippy::match_like_matches_macro)]
    pub fn transition(self, to: JobStatus) -> Result<JobStatus, IllegalTransition> {
        use JobStatus::*;
        let ok = match (self, to) {
            (Initializing, Created | Failed) => true,
            (Created, Running | Cancelling | Canceled | Failing | Failed | Suspended) => true,
            (Running, Finished | Failing | Cancelling | Restarting | Suspended) => true,
            (Failing, Failed | Restarting | Cancelling | Suspended) => true,
            (Cancelling, Canceled | Suspended) => true,
            (Restarting, Created | Running | Cancelling | Canceled | Failed | Suspended) => true,
            _ => false,
        };
        if ok {
            Ok(to)
        } else {
            Err(IllegalTransition {
                kind: "job",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }
}

/// A subtask's state, as Flink's `ExecutionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    /// Not yet scheduled.
    Created,
    /// A slot is assigned.
    Scheduled,
    /// Sent to its TaskManager.
    Deploying,
    /// Its operators are being opened.
    Initializing,
    /// Processing.
    Running,
    /// All input processed and all output sent.
    Finished,
    /// Being cancelled.
    Canceling,
    /// Cancelled.
    Canceled,
    /// Failed.
    Failed,
}

impl ExecutionState {
    /// Flink's name of the state, as in its REST API (`RUNNING`, `CANCELING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Scheduled => "SCHEDULED",
            Self::Deploying => "DEPLOYING",
            Self::Initializing => "INITIALIZING",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Canceling => "CANCELING",
            Self::Canceled => "CANCELED",
            Self::Failed => "FAILED",
        }
    }

    /// Whether the subtask has stopped for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Canceled | Self::Failed)
    }

    /// Moves to `to` if the move is legal.
    pub fn transition(self, to: ExecutionState) -> Result<ExecutionState, IllegalTransition> {
        use ExecutionState::*;
        let ok = match (self, to) {
            (Created, Scheduled | Canceled | Failed) => true,
            (Scheduled, Deploying | Canceling | Canceled | Failed) => true,
            (Deploying, Initializing | Running | Canceling | Canceled | Failed) => true,
            (Initializing, Running | Finished | Canceling | Canceled | Failed) => true,
            (Running, Finished | Canceling | Canceled | Failed) => true,
            // a subtask asked to cancel may still finish or fail before it hears of it
            (Canceling, Canceled | Finished | Failed) => true,
            _ => false,
        };
        if ok {
            Ok(to)
        } else {
            Err(IllegalTransition {
                kind: "subtask",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_form() {
        for s in [
            JobStatus::Running,
            JobStatus::Canceled,
            JobStatus::Cancelling,
        ] {
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{s}\""));
        }
        for s in [ExecutionState::Canceling, ExecutionState::Initializing] {
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{s}\""));
        }
    }

    #[test]
    fn terminal_states_are_final() {
        use JobStatus::*;
        for from in [Finished, Failed, Canceled, Suspended] {
            for to in [
                Initializing,
                Created,
                Running,
                Failing,
                Failed,
                Cancelling,
                Canceled,
                Finished,
                Restarting,
            ] {
                assert!(from.transition(to).is_err(), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn illegal_moves_are_rejected_with_names() {
        let err = JobStatus::Created
            .transition(JobStatus::Finished)
            .expect_err("illegal");
        assert_eq!(
            err.to_string(),
            "illegal job transition CREATED -> FINISHED"
        );
        assert!(ExecutionState::Finished
            .transition(ExecutionState::Running)
            .is_err());
        assert!(ExecutionState::Created
            .transition(ExecutionState::Running)
            .is_err());
    }

    #[test]
    fn the_normal_lives_are_legal() {
        use ExecutionState::*;
        let mut s = Created;
        for to in [Scheduled, Deploying, Initializing, Running, Finished] {
            s = s.transition(to).expect("legal");
        }
        let mut j = JobStatus::Initializing;
        for to in [
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Cancelling,
            JobStatus::Canceled,
        ] {
            j = j.transition(to).expect("legal");
        }
    }
}
