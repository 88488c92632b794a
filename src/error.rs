//! The crate's error: one variant per subsystem.

use thiserror::Error;

/// Any error of Rill's API.
#[derive(Debug, Error)]
pub enum Error {
    /// The program's graph is invalid.
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    /// A job could not be built from its name and arguments.
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),
    /// The cluster could not serve a request.
    #[error(transparent)]
    Cluster(#[from] crate::actors::ClusterError),
    /// An operator failed.
    #[error(transparent)]
    Operator(#[from] crate::data::OperatorError),
}

/// Rill's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
