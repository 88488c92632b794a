//! The JobGraph: StreamGraph nodes chained into JobVertices by Flink's rules. Serializable; this
//! is what is submitted, shown and fingerprinted.
//!
//! ## Chaining rules (Flink's `isChainable`)
//! An edge is chained when chaining is enabled and: the consumer has exactly one input edge, the
//! edge is forward, both sides have the same parallelism and slot sharing group, the consumer's
//! strategy is `Always` (not after `start_new_chain` or `disable_chaining`) and the producer's is
//! not `Never`. A vertex is a node that is not chained to its input, with every node chained to
//! it, transitively; an operator may feed several chained successors, so a chain is a tree.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::api::RuntimeMode;
use crate::graph::partitioner::{DistributionPattern, PartitionerKind};
use crate::graph::StreamGraph;
use crate::ids::{EdgeId, NodeId, VertexId};
use crate::util::StableHasher;

/// One operator within a vertex's chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChainedOperator {
    /// The StreamGraph node.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// Its uid, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A chain of operators run by one task per subtask.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JobVertex {
    /// Stable id: derived from the head operator's uid, or its position and name.
    pub id: VertexId,
    /// The chained operators' names joined by ` -> `.
    pub name: String,
    /// The chained operators, head first, parents before children.
    pub operators: Vec<ChainedOperator>,
    /// Parallelism.
    pub parallelism: usize,
    /// Max parallelism.
    pub max_parallelism: usize,
    /// Slot sharing group.
    pub slot_sharing_group: String,
    /// Whether the head is a source.
    pub is_source: bool,
    /// Number of logical inputs of the head.
    pub head_inputs: usize,
    /// Incoming edges.
    pub inputs: Vec<EdgeId>,
    /// Outgoing edges (in the order of the subtask's network outputs).
    pub outputs: Vec<EdgeId>,
}

/// A network connection between two vertices.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JobEdge {
    /// Id (also the intermediate result's).
    pub id: EdgeId,
    /// Producing vertex (index into `vertices`).
    pub source: usize,
    /// Consuming vertex (index into `vertices`).
    pub target: usize,
    /// The StreamGraph edge it carries (index into its `edges`).
    pub stream_edge: usize,
    /// Partitioner.
    pub partitioner: PartitionerKind,
    /// Distribution pattern.
    pub distribution: DistributionPattern,
    /// Which input of the consumer's head.
    pub input: usize,
    /// The side output it carries, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side_output: Option<String>,
}

/// The chained job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Streaming or batch.
    pub runtime_mode: RuntimeMode,
    /// Vertices in topological order.
    pub vertices: Vec<JobVertex>,
    /// Edges.
    pub edges: Vec<JobEdge>,
    /// A hash of everything above: two builds of the same program agree on it.
    pub fingerprint: String,
    /// Checkpointing (the program's settings, overridden by the submission's).
    #[serde(default)]
    pub checkpointing: crate::checkpoint::CheckpointSettings,
    /// The checkpoint or savepoint the job starts from.
    #[serde(default)]
    pub restore: Option<RestoreSettings>,
    /// Where keyed state lives (`None`: the cluster's default).
    #[serde(default)]
    pub state_backend: Option<crate::state::StateBackendKind>,
    /// How the job reacts to failures (`None`: the cluster's default, else exponential
    /// delay when the job checkpoints and none otherwise).
    #[serde(default)]
    pub restart_strategy: Option<crate::graph::RestartStrategy>,
    /// How much a failure restarts (`None`: the cluster's default, region).
    #[serde(default)]
    pub failover_strategy: Option<crate::graph::FailoverStrategy>,
}

/// What a submission may set besides the program (`rill run`'s flags, the REST request's
/// fields); each set field overrides the program's own setting.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct SubmitOptions {
    /// Checkpoint every this many ms.
    #[serde(default)]
    pub checkpoint_interval_ms: Option<u64>,
    /// Where checkpoints go.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub checkpoint_dir: Option<std::path::PathBuf>,
    /// Restore from this checkpoint or savepoint.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub savepoint_path: Option<std::path::PathBuf>,
    /// Start even if the snapshot holds state for operators the job does not have.
    #[serde(default)]
    pub allow_non_restored_state: bool,
    /// The keyed state backend.
    #[serde(default)]
    pub state_backend: Option<crate::state::StateBackendKind>,
    /// Unaligned checkpoints on (`true`) or off.
    #[serde(default)]
    pub unaligned_checkpoints: Option<bool>,
    /// With unaligned checkpoints: start aligned, go unaligned after this many ms (0:
    /// unaligned from the start).
    #[serde(default)]
    pub aligned_checkpoint_timeout_ms: Option<u64>,
    /// The restart strategy.
    #[serde(default)]
    pub restart_strategy: Option<crate::graph::RestartStrategy>,
    /// The failover strategy.
    #[serde(default)]
    pub failover_strategy: Option<crate::graph::FailoverStrategy>,
}

impl SubmitOptions {
    /// Applies the options to a job.
    pub fn apply(&self, jg: &mut JobGraph) {
        if let Some(ms) = self.checkpoint_interval_ms {
            jg.checkpointing.interval = (ms > 0).then(|| std::time::Duration::from_millis(ms));
        }
        if let Some(d) = &self.checkpoint_dir {
            jg.checkpointing.dir = Some(d.clone());
        }
        if let Some(b) = self.state_backend {
            jg.state_backend = Some(b);
        }
        if let Some(r) = &self.restart_strategy {
            jg.restart_strategy = Some(r.clone());
        }
        if let Some(f) = self.failover_strategy {
            jg.failover_strategy = Some(f);
        }
        if let Some(u) = self.unaligned_checkpoints {
            jg.checkpointing.unaligned = u;
        }
        if let Some(ms) = self.aligned_checkpoint_timeout_ms {
            jg.checkpointing.aligned_timeout = std::time::Duration::from_millis(ms);
        }
        if let Some(p) = &self.savepoint_path {
            jg.restore = Some(RestoreSettings {
                path: p.clone(),
                allow_non_restored_state: self.allow_non_restored_state,
            });
        }
    }
}

/// Where a job's state comes from (Flink's `execution.savepoint.path` and
/// `execution.savepoint.ignore-unclaimed-state`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RestoreSettings {
    /// A checkpoint or savepoint directory, its `_metadata` file, or a job's checkpoint
    /// directory (its newest valid checkpoint).
    pub path: std::path::PathBuf,
    /// Start even if the snapshot holds state for operators the job no longer has.
    pub allow_non_restored_state: bool,
}

impl JobGraph {
    /// Chains a resolved StreamGraph.
    pub fn from_stream_graph(sg: &StreamGraph) -> Self {
        let n = sg.nodes.len();
        let mut head = vec![0usize; n];
        for (i, node) in sg.nodes.iter().enumerate() {
            head[i] = match node.in_edges.as_slice() {
                [e] if sg.is_chainable(*e) => head[sg.edges[*e].source.0 as usize],
                _ => i,
            };
        }
        let heads: Vec<usize> = (0..n).filter(|&i| head[i] == i).collect();
        let vertex_of = |node: usize| heads.iter().position(|&h| h == head[node]).unwrap_or(0);

        let mut vertices: Vec<JobVertex> = heads
            .iter()
            .map(|&h| {
                let hn = &sg.nodes[h];
                let members: Vec<&crate::graph::StreamNode> = sg
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| head[*i] == h)
                    .map(|(_, m)| m)
                    .collect();
                let operators: Vec<ChainedOperator> = members
                    .iter()
                    .map(|m| ChainedOperator {
                        node: m.id,
                        name: m.name.clone(),
                        uid: m.uid.clone(),
                    })
                    .collect();
                let name = operators
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ");
                JobVertex {
                    id: vertex_id(hn.uid.as_deref(), h, &name),
                    name,
                    operators,
                    parallelism: hn.parallelism,
                    max_parallelism: hn.max_parallelism,
                    slot_sharing_group: hn.slot_sharing_group.clone(),
                    is_source: hn.inputs == 0,
                    head_inputs: hn.inputs,
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                }
            })
            .collect();

        let mut edges = Vec::new();
        for (i, e) in sg.edges.iter().enumerate() {
            let (s, t) = (e.source.0 as usize, e.target.0 as usize);
            if head[t] == head[s] && sg.is_chainable(i) {
                continue;
            }
            let id = EdgeId(edges.len() as u32);
            let (sv, tv) = (vertex_of(s), vertex_of(t));
            vertices[sv].outputs.push(id);
            vertices[tv].inputs.push(id);
            edges.push(JobEdge {
                id,
                source: sv,
                target: tv,
                stream_edge: i,
                partitioner: e.partitioner,
                distribution: e.partitioner.distribution(),
                input: e.input,
                side_output: e.side_output.as_deref().map(str::to_string),
            });
        }

        let mut jg = JobGraph {
            name: sg.job_name.clone(),
            runtime_mode: sg.runtime_mode,
            vertices,
            edges,
            fingerprint: String::new(),
            checkpointing: sg.checkpointing.clone(),
            restore: None,
            state_backend: sg.state_backend,
            restart_strategy: sg.restart_strategy.clone(),
            failover_strategy: sg.failover_strategy,
        };
        jg.fingerprint = jg.compute_fingerprint();
        jg
    }

    fn compute_fingerprint(&self) -> String {
        let mut h = StableHasher::default();
        let bytes =
            rmp_serde::to_vec(&(&self.name, &self.runtime_mode, &self.vertices, &self.edges))
                .unwrap_or_default();
        bytes.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// The vertex with `id`, by index.
    pub fn vertex_index(&self, id: VertexId) -> Option<usize> {
        self.vertices.iter().position(|v| v.id == id)
    }

    /// The edge with `id`.
    pub fn edge(&self, id: EdgeId) -> &JobEdge {
        &self.edges[id.0 as usize]
    }

    /// Total subtasks over all vertices.
    pub fn subtask_count(&self) -> usize {
        self.vertices.iter().map(|v| v.parallelism).sum()
    }

    /// Slots needed: per slot sharing group, its largest parallelism; summed over groups.
    pub fn slots_needed(&self) -> usize {
        let mut groups: Vec<(&str, usize)> = Vec::new();
        for v in &self.vertices {
            match groups.iter_mut().find(|(g, _)| *g == v.slot_sharing_group) {
                Some((_, p)) => *p = (*p).max(v.parallelism),
                None => groups.push((&v.slot_sharing_group, v.parallelism)),
            }
        }
        groups.iter().map(|(_, p)| p).sum()
    }

    /// The plan as JSON for `rill plan`: vertices with their chained operators and parallelism,
    /// edges with their partitioners.
    pub fn to_plan_json(&self) -> serde_json::Value {
        let vertices: Vec<serde_json::Value> = self
            .vertices
            .iter()
            .map(|v| {
                serde_json::json!({
                    "id": v.id.to_string(),
                    "name": v.name,
                    "operators": v.operators.iter().map(|o| o.name.clone()).collect::<Vec<_>>(),
                    "parallelism": v.parallelism,
                    "max_parallelism": v.max_parallelism,
                    "slot_sharing_group": v.slot_sharing_group,
                })
            })
            .collect();
        let edges: Vec<serde_json::Value> = self
            .edges
            .iter()
            .map(|e| {
                let mut j = serde_json::json!({
                    "source": self.vertices[e.source].id.to_string(),
                    "target": self.vertices[e.target].id.to_string(),
                    "partitioner": e.partitioner.name(),
                    "distribution": e.distribution,
                    "input": e.input,
                });
                if let Some(tag) = &e.side_output {
                    j["side_output"] = serde_json::Value::String(tag.clone());
                }
                j
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "type": match self.runtime_mode { RuntimeMode::Streaming => "STREAMING", RuntimeMode::Batch => "BATCH" },
            "fingerprint": self.fingerprint,
            "vertices": vertices,
            "edges": edges,
        })
    }
}

/// The id an operator's state is stored under in checkpoints: its uid, or else its position in
/// the StreamGraph and its name (stable as long as the job's shape does not change, as Flink's
/// generated ids; set uids for jobs whose state must survive changes).
pub fn operator_id(uid: Option<&str>, node: usize, name: &str) -> String {
    match uid {
        Some(u) => u.to_string(),
        None => format!("{node}:{name}"),
    }
}

impl ChainedOperator {
    /// The id its state is stored under.
    pub fn state_id(&self) -> String {
        operator_id(self.uid.as_deref(), self.node.0 as usize, &self.name)
    }
}

fn vertex_id(uid: Option<&str>, position: usize, name: &str) -> VertexId {
    let mut a = StableHasher::default();
    let mut b = StableHasher::default();
    match uid {
        Some(u) => {
            u.hash(&mut a);
            (u, 1u8).hash(&mut b);
        }
        None => {
            (position, name).hash(&mut a);
            (name, position, 1u8).hash(&mut b);
        }
    }
    VertexId((u128::from(a.finish()) << 64) | u128::from(b.finish()))
}
