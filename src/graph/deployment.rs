//! What a TaskManager is told to run: a serializable description of one subtask, its result
//! partitions and its input gates.

use serde::{Deserialize, Serialize};

use crate::ids::{
    AllocationId, EdgeId, ExecutionAttemptId, JobId, ResultPartitionId, SubtaskIndex,
    TaskManagerId, VertexId,
};

/// How a TaskManager finds the job's program: every node rebuilds the plan from the job's name
/// and arguments (the bundled jobs are compiled into every binary) and checks the fingerprint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlanRef {
    /// The job.
    pub job_id: JobId,
    /// The registered job's name, or `None` for a program submitted in this process.
    pub registered: Option<String>,
    /// The job's arguments.
    pub args: Vec<String>,
    /// The submission's parallelism.
    pub parallelism: Option<usize>,
    /// The JobGraph's fingerprint.
    pub fingerprint: String,
}

/// A result partition this subtask produces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ResultPartitionDeployment {
    /// The JobGraph edge.
    pub edge: EdgeId,
    /// The partition's id.
    pub partition: ResultPartitionId,
    /// Consumer subtask of each subpartition.
    pub consumers: Vec<SubtaskIndex>,
}

/// One input channel: a subpartition of a producer's partition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InputChannelDeployment {
    /// The producer's partition.
    pub partition: ResultPartitionId,
    /// The subpartition this consumer reads.
    pub subpartition: u32,
    /// Where the producer runs.
    pub producer_location: TaskManagerId,
    /// Where the producer's TaskManager accepts data channels, when it runs in another
    /// process; `None` when it runs in the JobManager's process (a mini cluster).
    pub producer_address: Option<std::net::SocketAddr>,
}

/// One input gate: the channels of one incoming JobGraph edge.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InputGateDeployment {
    /// The JobGraph edge.
    pub edge: EdgeId,
    /// Which input of the head operator it feeds.
    pub input: usize,
    /// Its channels.
    pub channels: Vec<InputChannelDeployment>,
}

/// Everything a TaskManager needs to run one subtask.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TaskDeploymentDescriptor {
    /// The job.
    pub job_id: JobId,
    /// The job's name.
    pub job_name: String,
    /// The vertex.
    pub vertex: VertexId,
    /// The vertex's name.
    pub vertex_name: String,
    /// This subtask.
    pub subtask: SubtaskIndex,
    /// The vertex's parallelism.
    pub parallelism: usize,
    /// This deployment's id.
    pub attempt: ExecutionAttemptId,
    /// This deployment's number, from 0.
    pub attempt_number: u32,
    /// The slot it runs in.
    pub allocation: AllocationId,
    /// Result partitions, in the order of the vertex's outputs.
    pub outputs: Vec<ResultPartitionDeployment>,
    /// Input gates, in the order of the vertex's inputs.
    pub inputs: Vec<InputGateDeployment>,
    /// The program.
    pub plan: PlanRef,
    /// The checkpoint or savepoint directory to restore state from.
    #[serde(default)]
    pub restore_from: Option<std::path::PathBuf>,
    /// Checkpoint barriers are not aligned (at-least-once mode).
    #[serde(default)]
    pub at_least_once: bool,
    /// Where keyed state lives.
    #[serde(default)]
    pub state_backend: crate::state::StateBackendKind,
    /// The job checkpoints periodically: at the end of its input the subtask waits for the
    /// final checkpoint (and its commits) before it finishes.
    #[serde(default)]
    pub final_checkpoint: bool,
}

impl TaskDeploymentDescriptor {
    /// `name (i/p)`, as Flink names tasks.
    pub fn task_name(&self) -> String {
        format!(
            "{} ({}/{})",
            self.vertex_name,
            self.subtask.0 + 1,
            self.parallelism
        )
    }
}
