//! Turning a deployment into running objects: resolving the job's program on this node and
//! building one subtask's operator chain and network outputs from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::RuntimeConfig;
use crate::graph::deployment::PlanRef;
use crate::graph::stream_graph::NodeFactory;
use crate::graph::{GraphError, JobGraph, StreamGraph, TaskDeploymentDescriptor};
use crate::ids::JobId;
use crate::jobs::{JobError, JobRegistry};
use crate::net::router::RouterContext;
use crate::net::RecordWriter;
use crate::operators::chain::{ChainNode, OutputTarget, Target};
use crate::operators::sources::SourceDriver;
use crate::operators::{Chain, Operator, PassThrough, RuntimeContext};
use crate::util::random_u64;

/// A job's program as this node built it.
pub struct ResolvedPlan {
    /// The StreamGraph with its operator factories.
    pub stream_graph: StreamGraph,
    /// The JobGraph chained from it.
    pub job_graph: JobGraph,
}

impl ResolvedPlan {
    /// The decoder of the records on JobGraph edge `edge` (for a channel from another process).
    pub fn decoder(
        &self,
        edge: crate::ids::EdgeId,
    ) -> Option<crate::graph::partitioner::BatchDecoder> {
        let e = self.job_graph.edges.iter().find(|e| e.id == edge)?;
        let se = self.stream_graph.edges.get(e.stream_edge)?;
        Some(se.record_type.decoder())
    }
}

/// Why a node could not obtain a job's program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An in-process program is not known here (it was submitted in another process).
    #[error("job {0} was submitted as an in-process program, which this node does not have")]
    NotInProcess(JobId),
    /// The registered job could not be built.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Its graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// This node built a different plan: a different build of the binary.
    #[error("plan fingerprint mismatch: submitted {submitted}, built here {local}; nodes run different builds")]
    FingerprintMismatch {
        /// The submitted fingerprint.
        submitted: String,
        /// This node's.
        local: String,
    },
}

/// Finds a job's program: in-process submissions first, else rebuilt from the registry.
#[derive(Clone)]
pub struct PlanResolver {
    registry: Arc<JobRegistry>,
    plans: Arc<Mutex<HashMap<JobId, Arc<ResolvedPlan>>>>,
    cluster_parallelism: usize,
}

impl PlanResolver {
    /// A resolver over `registry`, with the cluster's default parallelism.
    pub fn new(registry: Arc<JobRegistry>, cluster_parallelism: usize) -> Self {
        Self {
            registry,
            plans: Arc::default(),
            cluster_parallelism,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &JobRegistry {
        &self.registry
    }

    /// Records an in-process program.
    pub fn insert(&self, job: JobId, plan: Arc<ResolvedPlan>) {
        self.plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job, plan);
    }

    /// Drops a job's program.
    pub fn remove(&self, job: JobId) {
        self.plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job);
    }

    /// The program of `plan`.
    pub fn resolve(&self, plan: &PlanRef) -> Result<Arc<ResolvedPlan>, PlanError> {
        if let Some(p) = self
            .plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&plan.job_id)
        {
            return Ok(p.clone());
        }
        let Some(name) = &plan.registered else {
            return Err(PlanError::NotInProcess(plan.job_id));
        };
        let sg =
            self.registry
                .build(name, &plan.args, plan.parallelism, self.cluster_parallelism)?;
        let jg = JobGraph::from_stream_graph(&sg);
        if jg.fingerprint != plan.fingerprint {
            return Err(PlanError::FingerprintMismatch {
                submitted: plan.fingerprint.clone(),
                local: jg.fingerprint,
            });
        }
        let resolved = Arc::new(ResolvedPlan {
            stream_graph: sg,
            job_graph: jg,
        });
        self.insert(plan.job_id, resolved.clone());
        Ok(resolved)
    }
}

/// One subtask's objects.
pub struct BuiltTask {
    /// The source driver, for a source vertex.
    pub source: Option<Box<dyn SourceDriver>>,
    /// The chain.
    pub chain: Chain,
    /// The head operator's context.
    pub head_ctx: RuntimeContext,
}

/// Builds the chain of `tdd`'s vertex for its subtask.
pub fn build_task(
    plan: &ResolvedPlan,
    tdd: &TaskDeploymentDescriptor,
    config: &RuntimeConfig,
    metrics: &Arc<crate::metrics::IoMetrics>,
) -> Result<BuiltTask, GraphError> {
    let (sg, jg) = (&plan.stream_graph, &plan.job_graph);
    let v = jg
        .vertex_index(tdd.vertex)
        .ok_or_else(|| GraphError::UnknownVertex(tdd.vertex.to_string()))?;
    let jv = &jg.vertices[v];
    let subtask = tdd.subtask.get();
    let members: Vec<usize> = jv.operators.iter().map(|o| o.node.0 as usize).collect();

    let writers = jv
        .outputs
        .iter()
        .zip(&tdd.outputs)
        .map(|(eid, out)| {
            let e = jg.edge(*eid);
            let ctx = RouterContext {
                num_channels: out.consumers.len(),
                producer_subtask: subtask,
                max_parallelism: jg.vertices[e.target].max_parallelism,
                buffer: config.buffer_bound(),
                seed: random_u64(),
            };
            let producer = &sg.nodes[sg.edges[e.stream_edge].source.0 as usize].name;
            RecordWriter::new(
                sg.router(e.stream_edge, &ctx),
                out.consumers.len(),
                format!("{producer} ({}/{})", subtask + 1, jv.parallelism),
            )
        })
        .collect();

    let mut source = None;
    let mut nodes = Vec::with_capacity(members.len());
    let mut head_ctx = None;
    for &m in &members {
        let node = &sg.nodes[m];
        let ctx = RuntimeContext {
            job_id: tdd.job_id,
            job_name: tdd.job_name.clone(),
            operator_name: node.name.clone(),
            subtask_index: subtask,
            parallelism: node.parallelism,
            max_parallelism: node.max_parallelism,
            operator_id: crate::graph::job_graph::operator_id(node.uid.as_deref(), m, &node.name),
            attempt: tdd.attempt_number,
            metrics: Some(metrics.clone()),
            clock: crate::eventtime::ProcessingClock::system(),
            state_backend: tdd.state_backend,
            local_state_dir: config.local_state_dir.clone(),
            rocksdb_cache_bytes: config.rocksdb_cache_bytes,
            final_checkpoint: tdd.final_checkpoint,
        };
        let op: Box<dyn Operator> = match &node.factory {
            NodeFactory::Source(f) => {
                source = Some(f(&ctx));
                Box::new(PassThrough)
            }
            NodeFactory::Operator(f) => f(&ctx),
        };
        let outputs = node
            .out_edges
            .iter()
            .filter_map(|&e| {
                let se = &sg.edges[e];
                let target = match members.iter().position(|&x| x == se.target.0 as usize) {
                    Some(idx) if sg.is_chainable(e) => Target::Chained {
                        node: idx,
                        input: se.input,
                    },
                    _ => Target::Network {
                        writer: jv
                            .outputs
                            .iter()
                            .position(|eid| jg.edge(*eid).stream_edge == e)?,
                    },
                };
                Some(OutputTarget {
                    tag: se.side_output.clone(),
                    target,
                })
            })
            .collect();
        if head_ctx.is_none() {
            head_ctx = Some(ctx.clone());
        }
        nodes.push(ChainNode {
            name: node.name.clone(),
            op,
            outputs,
            ctx,
        });
    }
    let head_ctx = head_ctx.ok_or_else(|| GraphError::UnknownVertex(tdd.vertex.to_string()))?;
    Ok(BuiltTask {
        source,
        chain: Chain::new(nodes, writers, jv.head_inputs),
        head_ctx,
    })
}
