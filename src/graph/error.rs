//! Errors in building a job's graphs: what the user's program asked for cannot run.

use thiserror::Error;

/// A program whose graph is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GraphError {
    /// The program defines no sink, so nothing would run.
    #[error("the job defines no operators")]
    Empty,
    /// Forward partitioning between operators of different parallelism.
    #[error("forward partitioning does not allow a change of parallelism: '{source_name}' (parallelism {source_parallelism}) -> '{target_name}' (parallelism {target_parallelism}); use rebalance() or rescale()")]
    ForwardParallelismMismatch {
        /// Upstream operator.
        source_name: String,
        /// Its parallelism.
        source_parallelism: usize,
        /// Downstream operator.
        target_name: String,
        /// Its parallelism.
        target_parallelism: usize,
    },
    /// A non-parallel operator (some sources) was given parallelism above one.
    #[error("'{operator}' is not parallel; its parallelism must be 1, not {parallelism}")]
    NonParallel {
        /// The operator.
        operator: String,
        /// The parallelism asked for.
        parallelism: usize,
    },
    /// Parallelism of zero.
    #[error("'{operator}': parallelism must be at least 1")]
    ZeroParallelism {
        /// The operator.
        operator: String,
    },
    /// Max parallelism outside `1..=32768`.
    #[error("'{operator}': max parallelism {max} is outside 1..=32768")]
    InvalidMaxParallelism {
        /// The operator.
        operator: String,
        /// The value asked for.
        max: usize,
    },
    /// Parallelism above max parallelism.
    #[error("'{operator}': parallelism {parallelism} exceeds its max parallelism {max}")]
    ParallelismAboveMax {
        /// The operator.
        operator: String,
        /// Its parallelism.
        parallelism: usize,
        /// Its max parallelism.
        max: usize,
    },
    /// An operation that applies to a source was called on another operator's output.
    #[error("{operation} applies to a source, but '{operator}' is not one")]
    NotASource {
        /// The call.
        operation: &'static str,
        /// The operator it was called on.
        operator: String,
    },
    /// An operation that applies to one operator was called on a stream that is not one
    /// operator's output (a union, a partitioning, a side output).
    #[error("{operation} applies to an operator, but this stream is {what}")]
    NotAnOperator {
        /// The call.
        operation: &'static str,
        /// What the stream is instead.
        what: &'static str,
    },
    /// Two operators share a uid.
    #[error("uid '{0}' is used by more than one operator")]
    DuplicateUid(String),
    /// A window assigner (or another operator setting) is invalid.
    #[error("{0}")]
    InvalidWindow(String),
    /// An operation was given an argument it cannot use.
    #[error("{operation}: {reason}")]
    InvalidArgument {
        /// The call.
        operation: &'static str,
        /// What is wrong with its argument.
        reason: String,
    },
    /// A deployed task names a vertex the plan does not have (different program or build).
    #[error("the plan has no vertex {0}")]
    UnknownVertex(String),
}
