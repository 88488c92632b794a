//! The ExecutionGraph: each JobVertex expanded into its subtasks, with their states and
//! placement, and the job's status. Owned by the JobMaster; transitions go through
//! [`JobStatus::transition`] and [`ExecutionState::transition`] only.

use crate::graph::deployment::{
    InputChannelDeployment, InputGateDeployment, PlanRef, ResultPartitionDeployment,
    TaskDeploymentDescriptor,
};
use crate::graph::partitioner::{connected_consumers, connected_producers};
use crate::graph::{ExecutionState, IllegalTransition, JobGraph, JobStatus};
use crate::ids::{
    AllocationId, ExecutionAttemptId, JobId, ResultPartitionId, SubtaskIndex, TaskManagerId,
    VertexId,
};
use crate::metrics::{IoCounters, TaskRates};

/// Where a subtask runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotLocation {
    /// The TaskManager.
    pub task_manager: TaskManagerId,
    /// The slot's allocation.
    pub allocation: AllocationId,
}

/// One subtask.
#[derive(Clone, Debug)]
pub struct ExecutionVertex {
    /// Its index.
    pub subtask: SubtaskIndex,
    /// Its state.
    pub state: ExecutionState,
    /// The current attempt's id.
    pub attempt: ExecutionAttemptId,
    /// The current attempt's number.
    pub attempt_number: u32,
    /// Where it runs, once scheduled.
    pub location: Option<SlotLocation>,
    /// Why it failed.
    pub failure: Option<String>,
    /// The current attempt's I/O counters, as last reported.
    pub io: IoCounters,
    /// The current attempt's rates, as last reported by its TaskManager.
    pub rates: Option<TaskRates>,
}

impl ExecutionVertex {
    fn restart(&mut self) {
        self.state = ExecutionState::Created;
        self.attempt = ExecutionAttemptId::generate();
        self.attempt_number += 1;
        self.failure = None;
        self.io = IoCounters::default();
        self.rates = None;
    }
}

/// One JobVertex's subtasks.
#[derive(Clone, Debug)]
pub struct ExecutionJobVertex {
    /// The vertex.
    pub id: VertexId,
    /// Its name.
    pub name: String,
    /// Its subtasks.
    pub subtasks: Vec<ExecutionVertex>,
}

/// The job at runtime.
#[derive(Clone, Debug)]
pub struct ExecutionGraph {
    /// The job.
    pub job_id: JobId,
    status: JobStatus,
    /// Vertices, in the JobGraph's order.
    pub vertices: Vec<ExecutionJobVertex>,
    failure: Option<String>,
}

/// Why a subtask update was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The attempt is not (or no longer) part of the graph.
    #[error("unknown execution attempt {0}")]
    UnknownAttempt(ExecutionAttemptId),
    /// The state machine refused the move.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
}

impl ExecutionGraph {
    /// All subtasks CREATED, the job CREATED.
    pub fn new(job_id: JobId, jg: &JobGraph) -> Self {
        let vertices = jg
            .vertices
            .iter()
            .map(|v| ExecutionJobVertex {
                id: v.id,
                name: v.name.clone(),
                subtasks: (0..v.parallelism)
                    .map(|i| ExecutionVertex {
                        subtask: SubtaskIndex::from(i),
                        state: ExecutionState::Created,
                        attempt: ExecutionAttemptId::generate(),
                        attempt_number: 0,
                        location: None,
                        failure: None,
                        io: IoCounters::default(),
                        rates: None,
                    })
                    .collect(),
            })
            .collect();
        Self {
            job_id,
            status: JobStatus::Created,
            vertices,
            failure: None,
        }
    }

    /// The job's status.
    pub fn status(&self) -> JobStatus {
        self.status
    }

    /// The first failure's cause.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Records the job's failure cause (the first one wins).
    pub fn set_failure(&mut self, cause: String) {
        if self.failure.is_none() {
            self.failure = Some(cause);
        }
    }

    /// Moves the job to `to`.
    pub fn transition(&mut self, to: JobStatus) -> Result<(), IllegalTransition> {
        self.status = self.status.transition(to)?;
        Ok(())
    }

    /// Finds an attempt's (vertex, subtask).
    pub fn find(&self, attempt: ExecutionAttemptId) -> Option<(usize, usize)> {
        self.vertices.iter().enumerate().find_map(|(v, ev)| {
            ev.subtasks
                .iter()
                .position(|s| s.attempt == attempt)
                .map(|s| (v, s))
        })
    }

    /// Moves one subtask to `to`.
    pub fn update(
        &mut self,
        v: usize,
        s: usize,
        to: ExecutionState,
        failure: Option<String>,
    ) -> Result<(), IllegalTransition> {
        let ev = &mut self.vertices[v].subtasks[s];
        ev.state = ev.state.transition(to)?;
        if failure.is_some() {
            ev.failure = failure;
        }
        Ok(())
    }

    /// Moves the subtask of `attempt` to `to`.
    pub fn update_attempt(
        &mut self,
        attempt: ExecutionAttemptId,
        to: ExecutionState,
        failure: Option<String>,
    ) -> Result<(usize, usize), UpdateError> {
        let (v, s) = self
            .find(attempt)
            .ok_or(UpdateError::UnknownAttempt(attempt))?;
        self.update(v, s, to, failure)?;
        Ok((v, s))
    }

    /// Every subtask, with its vertex and index.
    pub fn subtasks(&self) -> impl Iterator<Item = (usize, usize, &ExecutionVertex)> {
        self.vertices
            .iter()
            .enumerate()
            .flat_map(|(v, ev)| ev.subtasks.iter().enumerate().map(move |(s, x)| (v, s, x)))
    }

    /// Whether every subtask is in a terminal state.
    pub fn all_terminal(&self) -> bool {
        self.subtasks().all(|(_, _, x)| x.state.is_terminal())
    }

    /// Whether every subtask finished.
    pub fn all_finished(&self) -> bool {
        self.subtasks()
            .all(|(_, _, x)| x.state == ExecutionState::Finished)
    }

    /// Records I/O counters reported for `attempt` (ignored for an attempt no longer current).
    pub fn record_io(&mut self, attempt: ExecutionAttemptId, io: IoCounters) {
        if let Some((v, s)) = self.find(attempt) {
            let x = &mut self.vertices[v].subtasks[s];
            x.io = x.io.max(io);
        }
    }

    /// Records the rates of `attempt`'s subtask, as its TaskManager sampled them last.
    pub fn record_rates(&mut self, attempt: ExecutionAttemptId, rates: Option<TaskRates>) {
        if let Some((v, s)) = self.find(attempt) {
            let x = &mut self.vertices[v].subtasks[s];
            x.rates = rates.or(x.rates);
        }
    }

    /// Starts a new attempt of every subtask (a restart): new attempt ids and numbers, CREATED,
    /// not placed. Reports about the old attempts no longer match any subtask.
    pub fn reset_attempts(&mut self) {
        for x in self.vertices.iter_mut().flat_map(|v| v.subtasks.iter_mut()) {
            x.location = None;
            x.restart();
        }
    }

    /// A new attempt of the subtasks `(vertex, subtask)` that `which` picks, CREATED in the
    /// slots they had (a region's restart).
    pub fn reset_attempts_of(&mut self, which: impl Fn(usize, usize) -> bool) {
        for (v, ev) in self.vertices.iter_mut().enumerate() {
            for (s, x) in ev.subtasks.iter_mut().enumerate() {
                if which(v, s) {
                    x.restart();
                }
            }
        }
    }

    /// Places subtask `s` of vertex `v`.
    pub fn assign(&mut self, v: usize, s: usize, location: SlotLocation) {
        self.vertices[v].subtasks[s].location = Some(location);
    }

    fn partition_id(&self, jg: &JobGraph, edge: usize, producer: usize) -> ResultPartitionId {
        let e = &jg.edges[edge];
        ResultPartitionId {
            job: self.job_id,
            edge: e.id,
            producer: SubtaskIndex::from(producer),
            attempt: self.vertices[e.source].subtasks[producer].attempt,
        }
    }

    /// The deployment of subtask `s` of vertex `v`.
    pub fn descriptor(
        &self,
        jg: &JobGraph,
        plan: &PlanRef,
        v: usize,
        s: usize,
    ) -> TaskDeploymentDescriptor {
        let jv = &jg.vertices[v];
        let ev = &self.vertices[v].subtasks[s];
        let outputs = jv
            .outputs
            .iter()
            .map(|eid| {
                let e = jg.edge(*eid);
                let consumers = connected_consumers(
                    e.distribution,
                    jv.parallelism,
                    jg.vertices[e.target].parallelism,
                    s,
                );
                ResultPartitionDeployment {
                    edge: e.id,
                    partition: self.partition_id(jg, e.id.0 as usize, s),
                    consumers: consumers.map(SubtaskIndex::from).collect(),
                }
            })
            .collect();
        let inputs = jv
            .inputs
            .iter()
            .map(|eid| {
                let e = jg.edge(*eid);
                let sp = jg.vertices[e.source].parallelism;
                let channels = connected_producers(e.distribution, sp, jv.parallelism, s)
                    .map(|p| {
                        let consumers = connected_consumers(e.distribution, sp, jv.parallelism, p);
                        InputChannelDeployment {
                            partition: self.partition_id(jg, e.id.0 as usize, p),
                            subpartition: (s - consumers.start) as u32,
                            producer_location: self.vertices[e.source].subtasks[p]
                                .location
                                .as_ref()
                                .map(|l| l.task_manager.clone())
                                .unwrap_or_else(|| TaskManagerId(String::new())),
                            producer_address: None,
                        }
                    })
                    .collect();
                InputGateDeployment {
                    edge: e.id,
                    input: e.input,
                    channels,
                }
            })
            .collect();
        TaskDeploymentDescriptor {
            job_id: self.job_id,
            job_name: jg.name.clone(),
            vertex: jv.id,
            vertex_name: jv.name.clone(),
            subtask: ev.subtask,
            parallelism: jv.parallelism,
            attempt: ev.attempt,
            attempt_number: ev.attempt_number,
            allocation: ev
                .location
                .as_ref()
                .map(|l| l.allocation)
                .unwrap_or(AllocationId(0)),
            outputs,
            inputs,
            plan: plan.clone(),
            restore_from: None,
            at_least_once: false,
            state_backend: Default::default(),
            final_checkpoint: false,
        }
    }
}
