//! The StreamGraph: one node per API transformation, edges carrying a partitioner. Built by the
//! DataStream API, then resolved once the submission's parallelism is known.
//!
//! ## Resolution rules
//! - parallelism: the operator's own, else the job's (`StreamEnv::set_parallelism`), else the
//!   submission's, else the cluster default; non-parallel sources are 1.
//! - max parallelism: the operator's, else the job's, else 128; at most 32768, at least the
//!   parallelism.
//! - slot sharing group: the operator's, else its inputs' group when they all share one, else
//!   `default`.
//! - partitioner: the one asked for, else forward when both sides have the same parallelism,
//!   else rebalance; an explicit forward between different parallelisms is an error.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api::RuntimeMode;
use crate::graph::partitioner::{PartitionerKind, RecordType};
use crate::graph::GraphError;
use crate::ids::NodeId;
use crate::net::router::{ChannelRouter, RouterContext};
use crate::operators::sources::SourceFactory;
use crate::operators::OperatorFactory;
use crate::state::key_group::{DEFAULT_MAX_PARALLELISM, UPPER_BOUND_MAX_PARALLELISM};

/// Makes the router of a keyed (hash or custom) edge.
pub type RouterFactory = Arc<dyn Fn(&RouterContext) -> Box<dyn ChannelRouter> + Send + Sync>;

/// Whether an operator may be chained to its predecessor and successors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainingStrategy {
    /// Chain with both sides where the other rules allow.
    Always,
    /// Start a new chain here; successors may chain to it.
    Head,
    /// Never chain.
    Never,
}

/// How a node's instances are made.
#[derive(Clone)]
pub enum NodeFactory {
    /// A source: a driver per subtask.
    Source(SourceFactory),
    /// An operator with inputs.
    Operator(OperatorFactory),
}

/// One transformation.
#[derive(Clone)]
pub struct StreamNode {
    /// Its id, in creation (so topological) order.
    pub id: NodeId,
    /// Display name.
    pub name: String,
    /// Stable user id, if set.
    pub uid: Option<String>,
    /// Parallelism the program asked for.
    pub requested_parallelism: Option<usize>,
    /// Max parallelism the program asked for.
    pub requested_max_parallelism: Option<usize>,
    /// Slot sharing group the program asked for.
    pub requested_slot_sharing_group: Option<String>,
    /// Whether the node can only run with parallelism 1.
    pub non_parallel: bool,
    /// Chaining strategy.
    pub chaining: ChainingStrategy,
    /// Number of logical inputs: 0 (source), 1 or 2.
    pub inputs: usize,
    /// The instance factory.
    pub factory: NodeFactory,
    /// Resolved parallelism.
    pub parallelism: usize,
    /// Resolved max parallelism.
    pub max_parallelism: usize,
    /// Resolved slot sharing group.
    pub slot_sharing_group: String,
    /// Edges in, by index into [`StreamGraph::edges`].
    pub in_edges: Vec<usize>,
    /// Edges out.
    pub out_edges: Vec<usize>,
}

/// A data connection between two nodes.
#[derive(Clone)]
pub struct StreamEdge {
    /// Producer.
    pub source: NodeId,
    /// Consumer.
    pub target: NodeId,
    /// Which input of the consumer (0, or 1 for the second of connected streams).
    pub input: usize,
    /// The partitioner the program asked for.
    pub requested_partitioner: Option<PartitionerKind>,
    /// The resolved partitioner.
    pub partitioner: PartitionerKind,
    /// The keyed router, for hash and custom edges.
    pub router: Option<RouterFactory>,
    /// The type of the records on the edge.
    pub record_type: RecordType,
    /// The side output this edge carries, if not the main output.
    pub side_output: Option<Arc<str>>,
}

/// The program as the API recorded it.
#[derive(Clone)]
pub struct StreamGraph {
    /// The job's name.
    pub job_name: String,
    /// Nodes, indexed by `NodeId`.
    pub nodes: Vec<StreamNode>,
    /// Edges.
    pub edges: Vec<StreamEdge>,
    /// Whether operator chaining is enabled.
    pub chaining_enabled: bool,
    /// Streaming or batch emission of keyed aggregations.
    pub runtime_mode: RuntimeMode,
    /// The job-wide parallelism, if set.
    pub default_parallelism: Option<usize>,
    /// The job-wide max parallelism, if set.
    pub max_parallelism: Option<usize>,
    /// Checkpointing.
    pub checkpointing: crate::checkpoint::CheckpointSettings,
    /// The keyed state backend the program chose (`None`: the cluster's).
    pub state_backend: Option<crate::state::StateBackendKind>,
    /// The restart strategy the program chose (`None`: the cluster's, else Flink's default).
    pub restart_strategy: Option<crate::graph::RestartStrategy>,
    /// The failover strategy the program chose (`None`: the cluster's, else region).
    pub failover_strategy: Option<crate::graph::FailoverStrategy>,
}

impl std::fmt::Debug for StreamGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        f.debug_struct("StreamGraph")
            .field("job_name", &self.job_name)
            .field("nodes", &names)
            .finish()
    }
}

impl StreamGraph {
    /// An empty graph.
    pub fn new(job_name: &str) -> Self {
        Self {
            job_name: job_name.to_string(),
            nodes: Vec::new(),
            edges: Vec::new(),
            chaining_enabled: true,
            runtime_mode: RuntimeMode::Streaming,
            checkpointing: Default::default(),
            state_backend: None,
            restart_strategy: None,
            failover_strategy: None,
            default_parallelism: None,
            max_parallelism: None,
        }
    }

    /// Adds a node; returns its id.
    pub fn add_node(
        &mut self,
        name: &str,
        inputs: usize,
        factory: NodeFactory,
        non_parallel: bool,
    ) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(StreamNode {
            id,
            name: name.to_string(),
            uid: None,
            requested_parallelism: None,
            requested_max_parallelism: None,
            requested_slot_sharing_group: None,
            non_parallel,
            chaining: ChainingStrategy::Always,
            inputs,
            factory,
            parallelism: 0,
            max_parallelism: 0,
            slot_sharing_group: String::new(),
            in_edges: Vec::new(),
            out_edges: Vec::new(),
        });
        id
    }

    /// Adds an edge.
    pub fn add_edge(&mut self, edge: StreamEdge) {
        let idx = self.edges.len();
        let (s, t) = (edge.source.0 as usize, edge.target.0 as usize);
        self.edges.push(edge);
        if let Some(n) = self.nodes.get_mut(s) {
            n.out_edges.push(idx);
        }
        if let Some(n) = self.nodes.get_mut(t) {
            n.in_edges.push(idx);
        }
    }

    /// The node with `id`.
    pub fn node(&self, id: NodeId) -> &StreamNode {
        &self.nodes[id.0 as usize]
    }

    /// Resolves parallelism, max parallelism, slot sharing groups and partitioners.
    pub fn resolve(
        &mut self,
        submission: Option<usize>,
        cluster_default: usize,
    ) -> Result<(), GraphError> {
        if self.nodes.is_empty() {
            return Err(GraphError::Empty);
        }
        let mut uids = HashSet::new();
        for i in 0..self.nodes.len() {
            let groups: Vec<String> = self.nodes[i]
                .in_edges
                .iter()
                .map(|&e| {
                    self.nodes[self.edges[e].source.0 as usize]
                        .slot_sharing_group
                        .clone()
                })
                .collect();
            let n = &mut self.nodes[i];
            if let Some(uid) = &n.uid {
                if !uids.insert(uid.clone()) {
                    return Err(GraphError::DuplicateUid(uid.clone()));
                }
            }
            let p = n
                .requested_parallelism
                .or(self.default_parallelism)
                .or(submission)
                .unwrap_or(cluster_default);
            n.parallelism = if n.non_parallel {
                match n.requested_parallelism {
                    Some(r) if r != 1 => {
                        return Err(GraphError::NonParallel {
                            operator: n.name.clone(),
                            parallelism: r,
                        })
                    }
                    _ => 1,
                }
            } else {
                p
            };
            if n.parallelism == 0 {
                return Err(GraphError::ZeroParallelism {
                    operator: n.name.clone(),
                });
            }
            let max = n
                .requested_max_parallelism
                .or(self.max_parallelism)
                .unwrap_or(DEFAULT_MAX_PARALLELISM);
            if max == 0 || max > UPPER_BOUND_MAX_PARALLELISM {
                return Err(GraphError::InvalidMaxParallelism {
                    operator: n.name.clone(),
                    max,
                });
            }
            if n.parallelism > max {
                return Err(GraphError::ParallelismAboveMax {
                    operator: n.name.clone(),
                    parallelism: n.parallelism,
                    max,
                });
            }
            n.max_parallelism = max;
            n.slot_sharing_group = match &n.requested_slot_sharing_group {
                Some(g) => g.clone(),
                None if !groups.is_empty() && groups.iter().all(|g| *g == groups[0]) => {
                    groups[0].clone()
                }
                None => "default".to_string(),
            };
        }
        for e in &mut self.edges {
            let s = &self.nodes[e.source.0 as usize];
            let t = &self.nodes[e.target.0 as usize];
            e.partitioner = match e.requested_partitioner {
                Some(PartitionerKind::Forward) if s.parallelism != t.parallelism => {
                    return Err(GraphError::ForwardParallelismMismatch {
                        source_name: s.name.clone(),
                        source_parallelism: s.parallelism,
                        target_name: t.name.clone(),
                        target_parallelism: t.parallelism,
                    })
                }
                Some(k) => k,
                None if s.parallelism == t.parallelism => PartitionerKind::Forward,
                None => PartitionerKind::Rebalance,
            };
        }
        Ok(())
    }

    /// Whether `edge` can be chained (Flink's `isChainable`).
    pub fn is_chainable(&self, edge: usize) -> bool {
        let e = &self.edges[edge];
        let s = self.node(e.source);
        let t = self.node(e.target);
        self.chaining_enabled
            && t.in_edges.len() == 1
            && e.partitioner == PartitionerKind::Forward
            && s.parallelism == t.parallelism
            && s.slot_sharing_group == t.slot_sharing_group
            && t.chaining == ChainingStrategy::Always
            && s.chaining != ChainingStrategy::Never
    }

    /// The router for `edge` with `ctx`. With one consumer every partitioner but a custom one
    /// (whose function must still be checked) sends everything to it: buffers pass whole,
    /// without a channel chosen per record.
    pub fn router(&self, edge: usize, ctx: &RouterContext) -> Box<dyn ChannelRouter> {
        let e = &self.edges[edge];
        if ctx.num_channels <= 1 && e.partitioner != PartitionerKind::Custom {
            return e.record_type.router(PartitionerKind::Forward, ctx);
        }
        match &e.router {
            Some(f)
                if matches!(
                    e.partitioner,
                    PartitionerKind::Hash | PartitionerKind::Custom
                ) =>
            {
                f(ctx)
            }
            _ => e.record_type.router(e.partitioner, ctx),
        }
    }
}
