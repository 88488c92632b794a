//! The graphs: StreamGraph (what the API recorded) → JobGraph (chained, serializable) →
//! ExecutionGraph (subtasks, partitions, gates and their states, owned by the JobMaster).

pub mod deployment;
pub mod error;
pub mod execution_graph;
pub mod job_graph;
pub mod partitioner;
pub mod regions;
pub mod restart;
pub mod status;
pub mod stream_graph;

pub use deployment::TaskDeploymentDescriptor;
pub use error::GraphError;
pub use execution_graph::ExecutionGraph;
pub use job_graph::{JobEdge, JobGraph, JobVertex};
pub use partitioner::{DistributionPattern, PartitionerKind};
pub use regions::FailoverStrategy;
pub use restart::RestartStrategy;
pub use status::{ExecutionState, IllegalTransition, JobStatus};
pub use stream_graph::{StreamEdge, StreamGraph, StreamNode};
