//! `DataStream<T>`: a stream of records of type `T`, with Flink's transformations,
//! partitionings and sinks.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{
    Collector, ConnectedStreams, Data, Key, KeyedStream, OutputTag, ProcessFunction, SinkFunction,
    StreamEnv,
};
use crate::eventtime::WatermarkStrategy;
use crate::graph::partitioner::RecordType;
use crate::graph::stream_graph::{ChainingStrategy, NodeFactory, RouterFactory};
use crate::graph::{GraphError, PartitionerKind, StreamNode};
use crate::ids::NodeId;
use crate::net::router::{ChannelRouter, FnSelector, RouterContext, SelectingRouter};
use crate::operators::process::ProcessOperator;
use crate::operators::sinks::{CollectSink, PrintSink, SinkOperator, TextFileSink};
use crate::operators::sources::{RateLimited, SourceDriver};
use crate::operators::timestamps::TimestampsAndWatermarks;
use crate::operators::transforms::{FilterOp, FlatMap, Map};
use crate::operators::{Operator, RuntimeContext};
use crate::state::key_group::subtask_for_key;

/// One upstream of a stream: a node's output, possibly partitioned or a side output.
#[derive(Clone)]
pub struct StreamInput {
    pub(crate) node: NodeId,
    pub(crate) partitioner: Option<PartitionerKind>,
    pub(crate) router: Option<RouterFactory>,
    pub(crate) side_output: Option<Arc<str>>,
    pub(crate) record_type: RecordType,
}

/// A stream of `T`.
pub struct DataStream<T> {
    pub(crate) env: StreamEnv,
    pub(crate) inputs: Vec<StreamInput>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        Self {
            env: self.env.clone(),
            inputs: self.inputs.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Data> DataStream<T> {
    pub(crate) fn from_node(env: StreamEnv, node: NodeId, record_type: RecordType) -> Self {
        Self::from_inputs(
            env,
            vec![StreamInput {
                node,
                partitioner: None,
                router: None,
                side_output: None,
                record_type,
            }],
        )
    }

    pub(crate) fn from_inputs(env: StreamEnv, inputs: Vec<StreamInput>) -> Self {
        Self {
            env,
            inputs,
            _t: PhantomData,
        }
    }

    /// The environment.
    pub fn env(&self) -> &StreamEnv {
        &self.env
    }

    /// A custom operator of whole buffers after this stream (crate-internal: the SQL layer's
    /// local aggregate combines a buffer at a time).
    pub(crate) fn transform<U: Data>(
        &self,
        name: &str,
        factory: impl Fn(&crate::operators::RuntimeContext) -> Box<dyn Operator> + Send + Sync + 'static,
    ) -> DataStream<U> {
        let id = self.env.add_operator(name, &[(&self.inputs, 0)], factory);
        DataStream::from_node(self.env.clone(), id, RecordType::of::<U>())
    }

    /// Applies `f` to every record.
    pub fn map<U: Data, F: Fn(T) -> U + Send + Sync + 'static>(&self, f: F) -> DataStream<U> {
        let f = Arc::new(f);
        self.transform("Map", move |_| Box::new(Map::new(f.clone())))
    }

    /// Emits any number of records per record through the collector.
    pub fn flat_map<U: Data, F>(&self, f: F) -> DataStream<U>
    where
        F: Fn(T, &mut Collector<'_, U>) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.transform("Flat Map", move |_| Box::new(FlatMap::new(f.clone())))
    }

    /// Keeps the records for which `f` holds.
    pub fn filter<F: Fn(&T) -> bool + Send + Sync + 'static>(&self, f: F) -> DataStream<T> {
        let f = Arc::new(f);
        self.transform("Filter", move |_| Box::new(FilterOp::new(f.clone())))
    }

    /// Runs a process function; each subtask gets a clone of `f`.
    pub fn process<O: Data, P: ProcessFunction<T, O> + Clone + Sync>(&self, f: P) -> DataStream<O> {
        self.transform("Process", move |ctx| {
            Box::new(ProcessOperator::<T, O, P>::new(
                &ctx.operator_name,
                f.clone(),
            ))
        })
    }

    /// Gives records the timestamps of `strategy`'s assigner and emits its watermarks
    /// (periodic ones every [`StreamEnv::auto_watermark_interval`]).
    pub fn assign_timestamps_and_watermarks(
        &self,
        strategy: WatermarkStrategy<T>,
    ) -> DataStream<T> {
        let interval = self.env.auto_watermark_interval().as_millis() as i64;
        self.transform("Timestamps/Watermarks", move |_| {
            Box::new(TimestampsAndWatermarks::new(strategy.clone(), interval))
        })
    }

    /// The side output `tag` of this stream's operator.
    pub fn side_output<X: Data>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        match self.single_node("side_output") {
            Some(node) => DataStream::from_inputs(
                self.env.clone(),
                vec![StreamInput {
                    node,
                    partitioner: None,
                    router: None,
                    side_output: Some(tag.shared_id()),
                    record_type: RecordType::of::<X>(),
                }],
            ),
            None => DataStream::from_inputs(self.env.clone(), Vec::new()),
        }
    }

    /// Merges streams of the same type.
    pub fn union(&self, other: &DataStream<T>) -> DataStream<T> {
        let mut inputs = self.inputs.clone();
        inputs.extend(other.inputs.iter().cloned());
        DataStream::from_inputs(self.env.clone(), inputs)
    }

    /// Connects with a stream of another type, for a two-input operator.
    pub fn connect<U: Data>(&self, other: &DataStream<U>) -> ConnectedStreams<T, U> {
        ConnectedStreams::new(self.clone(), other.clone())
    }

    /// Partitions by key: records with equal keys reach the same subtask.
    pub fn key_by<K: Key, F: Fn(&T) -> K + Send + Sync + 'static>(
        &self,
        key: F,
    ) -> KeyedStream<K, T> {
        let key: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(key);
        let k = key.clone();
        KeyedStream::new(
            self.hashed(move |r: &T, max, n| subtask_for_key(&k(r), max, n)),
            key,
        )
    }

    /// Partitions by a key the record holds (`|r| &r.field`): the same as
    /// [`key_by`](Self::key_by) with a clone of it, but routing and window lookups hash and
    /// compare the key in place, without cloning it per record.
    pub fn key_by_field<K: Key, F>(&self, key: F) -> KeyedStream<K, T>
    where
        F: for<'a> Fn(&'a T) -> &'a K + Send + Sync + 'static,
    {
        let key_ref: crate::operators::keyed::KeyRefFn<K, T> = Arc::new(key);
        let (owned, k) = (key_ref.clone(), key_ref.clone());
        let key: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(move |r: &T| owned(r).clone());
        KeyedStream::new(
            self.hashed(move |r: &T, max, n| subtask_for_key(k(r), max, n)),
            key,
        )
        .with_key_ref(key_ref)
    }

    /// Hash-partitioned by `select(record, max_parallelism, channels)`, the subtask of the
    /// record's key.
    fn hashed<S>(&self, select: S) -> DataStream<T>
    where
        S: Fn(&T, usize, usize) -> usize + Clone + Send + Sync + 'static,
    {
        let router: RouterFactory = Arc::new(move |ctx: &RouterContext| {
            let (select, max, n) = (select.clone(), ctx.max_parallelism, ctx.num_channels);
            Box::new(SelectingRouter::<T, _>::new(
                "hash",
                FnSelector(move |r: &T| select(r, max, n)),
                n,
                ctx.buffer,
            )) as Box<dyn ChannelRouter>
        });
        self.partitioned(PartitionerKind::Hash, Some(router))
    }

    /// Partitions by a user function of a key: `partitioner(key, n)` picks the subtask.
    pub fn partition_custom<K, P, F>(&self, partitioner: P, key: F) -> DataStream<T>
    where
        K: Hash + Send + 'static,
        P: Fn(&K, usize) -> usize + Send + Sync + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let (p, k) = (Arc::new(partitioner), Arc::new(key));
        let router: RouterFactory = Arc::new(move |ctx: &RouterContext| {
            let (p, k, n) = (p.clone(), k.clone(), ctx.num_channels);
            Box::new(SelectingRouter::<T, _>::new(
                "custom",
                FnSelector(move |r: &T| p(&k(r), n)),
                n,
                ctx.buffer,
            )) as Box<dyn ChannelRouter>
        });
        self.partitioned(PartitionerKind::Custom, Some(router))
    }

    fn partitioned(&self, kind: PartitionerKind, router: Option<RouterFactory>) -> DataStream<T> {
        let inputs = self
            .inputs
            .iter()
            .map(|i| StreamInput {
                partitioner: Some(kind),
                router: router.clone(),
                ..i.clone()
            })
            .collect();
        DataStream::from_inputs(self.env.clone(), inputs)
    }

    /// One-to-one to the same subtask index (same parallelism required).
    pub fn forward(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Forward, None)
    }

    /// Round robin over all downstream subtasks.
    pub fn rebalance(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Rebalance, None)
    }

    /// Round robin over a local subset of downstream subtasks.
    pub fn rescale(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Rescale, None)
    }

    /// Uniformly random downstream subtask.
    pub fn shuffle(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Shuffle, None)
    }

    /// Every record to every downstream subtask.
    pub fn broadcast(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Broadcast, None)
    }

    /// Every record to downstream subtask 0.
    pub fn global(&self) -> DataStream<T> {
        self.partitioned(PartitionerKind::Global, None)
    }

    /// Writes to a sink; each subtask gets a clone of `sink`.
    pub fn add_sink<S: SinkFunction<T> + Clone + Sync>(
        &self,
        name: &str,
        sink: S,
    ) -> DataStreamSink {
        let name = format!("Sink: {name}");
        let id = self
            .env
            .add_operator(&name, &[(&self.inputs, 0)], move |ctx| {
                Box::new(SinkOperator::<T, S>::new(&ctx.operator_name, sink.clone()))
            });
        DataStreamSink {
            env: self.env.clone(),
            node: id,
        }
    }

    /// Prints records (with `Debug`) to standard output, prefixed `N> ` above parallelism 1.
    pub fn print(&self) -> DataStreamSink
    where
        T: Debug,
    {
        self.add_sink("Print to Std. Out", PrintSink::default())
    }

    /// Writes records as lines (with `Display`): a file at parallelism 1, else a directory of
    /// one file per subtask.
    pub fn write_text(&self, path: impl Into<PathBuf>) -> DataStreamSink
    where
        T: Display,
    {
        let path: PathBuf = path.into();
        let name = format!("Text File ({})", path.display());
        self.add_sink(&name, TextFileSink::new(path))
    }

    /// Collects every record in memory; read it with [`CollectSink::take`] after the job.
    pub fn collect(&self) -> CollectSink<T> {
        let sink = CollectSink::new();
        self.add_sink("Collect", sink.clone());
        sink
    }

    fn single_node(&self, operation: &'static str) -> Option<NodeId> {
        match self.inputs.as_slice() {
            [i] if i.partitioner.is_none() && i.side_output.is_none() => Some(i.node),
            [i] => {
                let what = if i.side_output.is_some() {
                    "a side output"
                } else {
                    "a partitioning"
                };
                self.env
                    .record_error(GraphError::NotAnOperator { operation, what });
                None
            }
            _ => {
                self.env.record_error(GraphError::NotAnOperator {
                    operation,
                    what: "a union",
                });
                None
            }
        }
    }

    fn configure(self, operation: &'static str, f: impl FnOnce(&mut StreamNode)) -> Self {
        if let Some(id) = self.single_node(operation) {
            self.env.with_node(id, f);
        }
        self
    }

    /// Names the operator.
    pub fn name(self, name: &str) -> Self {
        self.configure("name", |n| n.name = name.to_string())
    }

    /// Caps this source at `records_per_second` records a second over all its subtasks
    /// (each takes its share; Flink's `RateLimiterStrategy.perSecond`). Applies to a source
    /// only; a rate that is not positive and finite is an error at graph building.
    pub fn rate_limit(self, records_per_second: f64) -> Self {
        const OPERATION: &str = "rate_limit";
        let Some(id) = self.single_node(OPERATION) else {
            return self;
        };
        let mut error = None;
        self.env.with_node(id, |n| match &n.factory {
            NodeFactory::Source(inner)
                if records_per_second.is_finite() && records_per_second > 0.0 =>
            {
                let inner = inner.clone();
                n.factory = NodeFactory::Source(Arc::new(move |ctx: &RuntimeContext| {
                    let share = records_per_second / ctx.parallelism.max(1) as f64;
                    Box::new(RateLimited::new(inner(ctx), share)) as Box<dyn SourceDriver>
                }));
            }
            NodeFactory::Source(_) => {
                error = Some(GraphError::InvalidArgument {
                    operation: OPERATION,
                    reason: format!("the rate must be a positive number, not {records_per_second}"),
                });
            }
            _ => {
                error = Some(GraphError::NotASource {
                    operation: OPERATION,
                    operator: n.name.clone(),
                })
            }
        });
        if let Some(e) = error {
            self.env.record_error(e);
        }
        self
    }

    /// Gives the operator a stable id.
    pub fn uid(self, uid: &str) -> Self {
        self.configure("uid", |n| n.uid = Some(uid.to_string()))
    }

    /// Sets the operator's parallelism.
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        self.configure("set_parallelism", |n| {
            n.requested_parallelism = Some(parallelism)
        })
    }

    /// Sets the operator's max parallelism.
    pub fn set_max_parallelism(self, max: usize) -> Self {
        self.configure("set_max_parallelism", |n| {
            n.requested_max_parallelism = Some(max)
        })
    }

    /// Puts the operator in a slot sharing group.
    pub fn slot_sharing_group(self, group: &str) -> Self {
        self.configure("slot_sharing_group", |n| {
            n.requested_slot_sharing_group = Some(group.to_string())
        })
    }

    /// Starts a new chain at this operator.
    pub fn start_new_chain(self) -> Self {
        self.configure("start_new_chain", |n| n.chaining = ChainingStrategy::Head)
    }

    /// Never chains this operator.
    pub fn disable_chaining(self) -> Self {
        self.configure("disable_chaining", |n| n.chaining = ChainingStrategy::Never)
    }
}

/// The end of a stream: a sink, with its settings.
pub struct DataStreamSink {
    env: StreamEnv,
    node: NodeId,
}

impl DataStreamSink {
    fn configure(self, f: impl FnOnce(&mut StreamNode)) -> Self {
        self.env.with_node(self.node, f);
        self
    }

    /// Names the sink.
    pub fn name(self, name: &str) -> Self {
        self.configure(|n| n.name = name.to_string())
    }

    /// Gives the sink a stable id.
    pub fn uid(self, uid: &str) -> Self {
        self.configure(|n| n.uid = Some(uid.to_string()))
    }

    /// Sets the sink's parallelism.
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        self.configure(|n| n.requested_parallelism = Some(parallelism))
    }

    /// Puts the sink in a slot sharing group.
    pub fn slot_sharing_group(self, group: &str) -> Self {
        self.configure(|n| n.requested_slot_sharing_group = Some(group.to_string()))
    }

    /// Starts a new chain at the sink.
    pub fn start_new_chain(self) -> Self {
        self.configure(|n| n.chaining = ChainingStrategy::Head)
    }

    /// Never chains the sink.
    pub fn disable_chaining(self) -> Self {
        self.configure(|n| n.chaining = ChainingStrategy::Never)
    }
}
