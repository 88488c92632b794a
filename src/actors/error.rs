//! Errors of the cluster's actors, as their callers see them.

use thiserror::Error;

use crate::actors::task_plan::PlanError;
use crate::graph::GraphError;
use crate::ids::JobId;

/// A request to the cluster that could not be served.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClusterError {
    /// No such job.
    #[error("no job {0}")]
    JobNotFound(JobId),
    /// A job with this id runs already (Flink's `DuplicateJobSubmissionException`).
    #[error("job {0} was submitted already and has not ended")]
    DuplicateJob(JobId),
    /// The job's program is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The job's program could not be obtained on a node.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// An actor has stopped (the cluster is shutting down).
    #[error("the {0} is not running")]
    Unavailable(&'static str),
    /// Too many requests are waiting for the same thing.
    #[error("too many waiting requests for {0}")]
    TooManyWaiters(&'static str),
    /// No savepoint with this id was triggered.
    #[error("no savepoint {0} was triggered for this job")]
    SavepointNotFound(u64),
    /// Starting the cluster failed.
    #[error("the cluster did not start: {0}")]
    Startup(String),
}
