//! `StreamEnv`: where a job's program starts; records the StreamGraph.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api::{Data, DataStream, SourceFunction};
use crate::graph::partitioner::RecordType;
use crate::graph::stream_graph::{NodeFactory, StreamEdge};
use crate::graph::{GraphError, StreamGraph};
use crate::ids::NodeId;
use crate::operators::sources::{
    DecodePolicy, Driver, FromElements, Sequence, SocketOptions, SocketTextSource, TextFileSource,
};
use crate::operators::{Operator, OperatorFactory, RuntimeContext};

/// How keyed aggregations emit (see [`crate::operators::keyed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuntimeMode {
    /// Every update is emitted.
    #[default]
    Streaming,
    /// Only final results of bounded inputs are emitted.
    Batch,
}

pub(crate) struct EnvInner {
    pub(crate) graph: StreamGraph,
    pub(crate) errors: Vec<GraphError>,
    pub(crate) auto_watermark_interval: std::time::Duration,
}

/// The environment a job's program builds its streams in.
#[derive(Clone)]
pub struct StreamEnv {
    pub(crate) inner: Rc<RefCell<EnvInner>>,
}

impl StreamEnv {
    /// A new environment for a job named `job_name`.
    pub fn new(job_name: &str) -> Self {
        Self {
            inner: Rc::new(RefCell::new(EnvInner {
                graph: StreamGraph::new(job_name),
                errors: Vec::new(),
                auto_watermark_interval: std::time::Duration::from_millis(200),
            })),
        }
    }

    /// Sets the job's default parallelism (above the submission's and the cluster's).
    pub fn set_parallelism(&self, parallelism: usize) -> &Self {
        self.inner.borrow_mut().graph.default_parallelism = Some(parallelism);
        self
    }

    /// Sets the job's max parallelism (number of key groups; default 128).
    pub fn set_max_parallelism(&self, max: usize) -> &Self {
        self.inner.borrow_mut().graph.max_parallelism = Some(max);
        self
    }

    /// Turns operator chaining off for the whole job.
    pub fn disable_operator_chaining(&self) -> &Self {
        self.inner.borrow_mut().graph.chaining_enabled = false;
        self
    }

    /// Sets streaming or batch emission.
    pub fn set_runtime_mode(&self, mode: RuntimeMode) -> &Self {
        self.inner.borrow_mut().graph.runtime_mode = mode;
        self
    }

    /// Takes a checkpoint every `interval` (Flink's `enableCheckpointing`), exactly-once.
    pub fn enable_checkpointing(&self, interval: std::time::Duration) -> &Self {
        self.inner.borrow_mut().graph.checkpointing.interval = Some(interval);
        self
    }

    /// Sets every checkpoint setting at once (interval, timeout, pauses, retention, mode,
    /// directory).
    pub fn set_checkpoint_settings(
        &self,
        settings: crate::checkpoint::CheckpointSettings,
    ) -> &Self {
        self.inner.borrow_mut().graph.checkpointing = settings;
        self
    }

    /// Unaligned checkpoints (Flink's `enableUnalignedCheckpoints`): barriers overtake
    /// in-flight data, which becomes part of the checkpoint, so checkpoints complete under
    /// backpressure. With `aligned_timeout` above zero checkpoints start aligned and a subtask
    /// goes unaligned once that much time has passed since the trigger without its alignment
    /// completing. Exactly-once checkpoints only; savepoints stay aligned.
    pub fn enable_unaligned_checkpoints(&self, aligned_timeout: std::time::Duration) -> &Self {
        let graph = &mut self.inner.borrow_mut().graph;
        graph.checkpointing.unaligned = true;
        graph.checkpointing.aligned_timeout = aligned_timeout;
        self
    }

    /// Keeps keyed state in `backend` (Flink's `state.backend.type`); a submission's
    /// `--state-backend` overrides it, and without either the cluster's default applies.
    pub fn set_state_backend(&self, backend: crate::state::StateBackendKind) -> &Self {
        self.inner.borrow_mut().graph.state_backend = Some(backend);
        self
    }

    /// Reacts to failures with `strategy` (Flink's `restart-strategy.type`); a submission's
    /// `--restart-strategy` overrides it, and without either the cluster's default applies
    /// (else exponential delay when the job checkpoints, none otherwise).
    pub fn set_restart_strategy(&self, strategy: crate::graph::RestartStrategy) -> &Self {
        self.inner.borrow_mut().graph.restart_strategy = Some(strategy);
        self
    }

    /// Restarts only the failed subtask's pipelined region (`Region`, the default) or the
    /// whole job (`Full`) (Flink's `jobmanager.execution.failover-strategy`).
    pub fn set_failover_strategy(&self, strategy: crate::graph::FailoverStrategy) -> &Self {
        self.inner.borrow_mut().graph.failover_strategy = Some(strategy);
        self
    }

    /// The checkpoint settings.
    pub fn checkpoint_settings(&self) -> crate::checkpoint::CheckpointSettings {
        self.inner.borrow().graph.checkpointing.clone()
    }

    /// How often periodic watermark generators are asked for a watermark (Flink's
    /// `pipeline.auto-watermark-interval`, 200 ms by default); zero turns periodic emission
    /// off. Applies to the `assign_timestamps_and_watermarks` calls made after it.
    pub fn set_auto_watermark_interval(&self, interval: std::time::Duration) -> &Self {
        self.inner.borrow_mut().auto_watermark_interval = interval;
        self
    }

    /// The periodic watermark interval.
    pub fn auto_watermark_interval(&self) -> std::time::Duration {
        self.inner.borrow().auto_watermark_interval
    }

    /// The runtime mode.
    pub fn runtime_mode(&self) -> RuntimeMode {
        self.inner.borrow().graph.runtime_mode
    }

    /// Renames the job (a SQL job is named for its sink).
    pub fn set_job_name(&self, name: &str) -> &Self {
        self.inner.borrow_mut().graph.job_name = name.to_string();
        self
    }

    /// The job's name.
    pub fn job_name(&self) -> String {
        self.inner.borrow().graph.job_name.clone()
    }

    /// A non-parallel source of the given elements, in order.
    pub fn from_elements<T: Data>(&self, items: impl IntoIterator<Item = T>) -> DataStream<T> {
        let items = Arc::new(items.into_iter().collect::<Vec<T>>());
        self.source_node("Source: Collection", true, move |_| {
            FromElements::new(items.clone())
        })
    }

    /// Same as [`from_elements`](Self::from_elements).
    pub fn from_iter<T: Data>(&self, items: impl IntoIterator<Item = T>) -> DataStream<T> {
        self.from_elements(items)
    }

    /// The numbers `from..=to`, split across the source's subtasks.
    pub fn sequence(&self, from: u64, to: u64) -> DataStream<u64> {
        self.source_node("Source: Sequence", false, move |_| Sequence::new(from, to))
    }

    /// The lines of a text file, split across the source's subtasks; lines that are not
    /// valid UTF-8 fail the job.
    pub fn read_text_file(&self, path: impl Into<PathBuf>) -> DataStream<String> {
        self.read_text_file_with(path, DecodePolicy::Fail)
    }

    /// The lines of a text file, with `policy` for lines that are not valid UTF-8.
    pub fn read_text_file_with(
        &self,
        path: impl Into<PathBuf>,
        policy: DecodePolicy,
    ) -> DataStream<String> {
        let path: PathBuf = path.into();
        let name = format!("Source: {}", path.display());
        self.source_node(&name, false, move |_| {
            TextFileSource::new(path.clone(), policy)
        })
    }

    /// The records of a text file, one per line, made by `parse` from each line (without its
    /// line break), split across the source's subtasks like
    /// [`read_text_file`](Self::read_text_file). A line that is not UTF-8 or that `parse`
    /// rejects fails the job with the file, the line's byte offset and the parser's message
    /// ([`DecodePolicy::Fail`]) or is dropped and counted ([`DecodePolicy::Skip`]). Lines are
    /// parsed in place: no string is made per line unless `parse` makes one.
    pub fn read_text_file_parsed<T: Data>(
        &self,
        path: impl Into<PathBuf>,
        policy: DecodePolicy,
        parse: impl Fn(&str) -> Result<T, String> + Send + Sync + 'static,
    ) -> DataStream<T> {
        self.read_text_file_filtered(path, policy, move |line: &str| parse(line).map(Some))
    }

    /// As [`StreamEnv::read_text_file_parsed`], where `parse` may also drop a line (`None`:
    /// a filter the reader applies, not a bad line).
    pub fn read_text_file_filtered<T: Data>(
        &self,
        path: impl Into<PathBuf>,
        policy: DecodePolicy,
        parse: impl Fn(&str) -> Result<Option<T>, String> + Send + Sync + 'static,
    ) -> DataStream<T> {
        let path: PathBuf = path.into();
        let name = format!("Source: {}", path.display());
        let parse: crate::operators::sources::LineParser<T> = Arc::new(parse);
        self.source_node(&name, false, move |_| {
            TextFileSource::parsed(path.clone(), policy, parse.clone())
        })
    }

    /// Lines read from a TCP socket (non-parallel, unbounded until the peer closes); a line
    /// longer than 1 MiB fails the job.
    pub fn socket_text_stream(&self, host: &str, port: u16) -> DataStream<String> {
        self.socket_text_stream_with(host, port, SocketOptions::default())
    }

    /// Lines read from a TCP socket, with `options` for the longest line and what becomes of
    /// longer ones.
    pub fn socket_text_stream_with(
        &self,
        host: &str,
        port: u16,
        options: SocketOptions,
    ) -> DataStream<String> {
        let host = host.to_string();
        self.source_node("Source: Socket Stream", true, move |_| {
            SocketTextSource::with_options(host.clone(), port, options)
        })
    }

    /// A custom source; each subtask gets a clone of `source`.
    pub fn add_source<T: Data, S: SourceFunction<T> + Clone + Sync>(
        &self,
        name: &str,
        source: S,
    ) -> DataStream<T> {
        self.source_node(&format!("Source: {name}"), false, move |_| source.clone())
    }

    fn source_node<T: Data, S: SourceFunction<T>>(
        &self,
        name: &str,
        non_parallel: bool,
        make: impl Fn(&RuntimeContext) -> S + Send + Sync + 'static,
    ) -> DataStream<T> {
        let op_name = name.to_string();
        let factory = NodeFactory::Source(Arc::new(move |ctx: &RuntimeContext| {
            Box::new(Driver::new(&op_name, make(ctx)))
                as Box<dyn crate::operators::sources::SourceDriver>
        }));
        let id = self
            .inner
            .borrow_mut()
            .graph
            .add_node(name, 0, factory, non_parallel);
        DataStream::from_node(self.clone(), id, RecordType::of::<T>())
    }

    pub(crate) fn add_operator(
        &self,
        name: &str,
        inputs: &[(&[crate::api::stream::StreamInput], usize)],
        factory: impl Fn(&RuntimeContext) -> Box<dyn Operator> + Send + Sync + 'static,
    ) -> NodeId {
        let mut inner = self.inner.borrow_mut();
        let f: OperatorFactory = Arc::new(factory);
        let id = inner
            .graph
            .add_node(name, inputs.len(), NodeFactory::Operator(f), false);
        for (streams, input) in inputs {
            for s in streams.iter() {
                inner.graph.add_edge(StreamEdge {
                    source: s.node,
                    target: id,
                    input: *input,
                    requested_partitioner: s.partitioner,
                    partitioner: s
                        .partitioner
                        .unwrap_or(crate::graph::PartitionerKind::Forward),
                    router: s.router.clone(),
                    record_type: s.record_type,
                    side_output: s.side_output.clone(),
                });
            }
        }
        id
    }

    pub(crate) fn record_error(&self, e: GraphError) {
        self.inner.borrow_mut().errors.push(e);
    }

    pub(crate) fn with_node(&self, id: NodeId, f: impl FnOnce(&mut crate::graph::StreamNode)) {
        if let Some(n) = self.inner.borrow_mut().graph.nodes.get_mut(id.0 as usize) {
            f(n);
        }
    }

    /// The resolved StreamGraph, with `submission` parallelism and the cluster's default.
    pub fn stream_graph(
        &self,
        submission: Option<usize>,
        cluster_default: usize,
    ) -> Result<StreamGraph, GraphError> {
        let inner = self.inner.borrow();
        if let Some(e) = inner.errors.first() {
            return Err(e.clone());
        }
        let mut g = inner.graph.clone();
        g.resolve(submission, cluster_default)?;
        Ok(g)
    }
}
