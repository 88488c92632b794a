//! `KeyedStream<K, T>`: a stream partitioned by key, with keyed aggregations.

use std::ops::Add;
use std::sync::Arc;

use crate::api::{Data, DataStream, Key};
use crate::graph::partitioner::RecordType;
use crate::operators::keyed::{KeyRefFn, KeyedReduce};

/// A stream partitioned by a key of type `K`.
pub struct KeyedStream<K, T> {
    stream: DataStream<T>,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    key_ref: Option<KeyRefFn<K, T>>,
}

impl<K: Key, T: Data> KeyedStream<K, T> {
    pub(crate) fn new(stream: DataStream<T>, key: Arc<dyn Fn(&T) -> K + Send + Sync>) -> Self {
        Self {
            stream,
            key,
            key_ref: None,
        }
    }

    pub(crate) fn with_key_ref(mut self, key_ref: KeyRefFn<K, T>) -> Self {
        self.key_ref = Some(key_ref);
        self
    }

    /// The key as a reference into the record, when the stream was keyed by a field.
    pub(crate) fn key_ref_fn(&self) -> Option<KeyRefFn<K, T>> {
        self.key_ref.clone()
    }

    /// The key of a record.
    pub fn key_of(&self, record: &T) -> K {
        (self.key)(record)
    }

    pub(crate) fn key_fn(&self) -> Arc<dyn Fn(&T) -> K + Send + Sync> {
        self.key.clone()
    }

    /// The keyed stream as a plain stream (its records still cross the hash exchange).
    pub fn as_stream(&self) -> DataStream<T> {
        self.stream.clone()
    }

    /// Maps records after the hash exchange, as Flink allows on a keyed stream.
    pub fn map<U: Data, F: Fn(T) -> U + Send + Sync + 'static>(&self, f: F) -> DataStream<U> {
        self.stream.map(f)
    }

    /// Runs a process function after the hash exchange.
    pub fn process<O: Data, P: crate::api::ProcessFunction<T, O> + Clone + Sync>(
        &self,
        f: P,
    ) -> DataStream<O> {
        self.stream.process(f)
    }

    /// Runs a keyed process function: the record's key, timestamp, and timers per key.
    pub fn process_keyed<O, P>(&self, f: P) -> DataStream<O>
    where
        K: Ord,
        O: Data,
        P: crate::api::KeyedProcessFunction<K, T, O> + Clone + Sync,
    {
        let env = self.stream.env.clone();
        let key = self.key.clone();
        let id = env.add_operator("KeyedProcess", &[(&self.stream.inputs, 0)], move |ctx| {
            Box::new(crate::operators::keyed_process::KeyedProcessOperator::new(
                &ctx.operator_name,
                key.clone(),
                f.clone(),
            ))
        });
        DataStream::from_node(env, id, RecordType::of::<O>())
    }

    /// A rolling reduce per key: `f(accumulated, next)`.
    pub fn reduce<F: Fn(T, T) -> T + Send + Sync + 'static>(&self, f: F) -> DataStream<T> {
        self.aggregate("Keyed Reduce", f)
    }

    fn aggregate<F: Fn(T, T) -> T + Send + Sync + 'static>(
        &self,
        name: &str,
        f: F,
    ) -> DataStream<T> {
        let env = self.stream.env.clone();
        let mode = env.runtime_mode();
        let (key, f) = (self.key.clone(), Arc::new(f));
        let id = env.add_operator(name, &[(&self.stream.inputs, 0)], move |_| {
            Box::new(KeyedReduce::new(key.clone(), f.clone(), mode))
        });
        DataStream::from_node(env, id, RecordType::of::<T>())
    }

    /// A rolling sum of the field `field` points at; other fields keep the key's first record's
    /// values, as in Flink.
    pub fn sum<V, F>(&self, field: F) -> DataStream<T>
    where
        V: Add<Output = V> + Copy,
        F: Fn(&mut T) -> &mut V + Send + Sync + 'static,
    {
        self.aggregate("Keyed Aggregation (sum)", move |mut acc, mut next| {
            let v = *field(&mut next);
            let slot = field(&mut acc);
            *slot = *slot + v;
            acc
        })
    }

    /// A rolling minimum of a field; other fields keep the key's first record's values.
    pub fn min<V, F>(&self, field: F) -> DataStream<T>
    where
        V: PartialOrd + Copy,
        F: Fn(&mut T) -> &mut V + Send + Sync + 'static,
    {
        self.aggregate("Keyed Aggregation (min)", move |mut acc, mut next| {
            let v = *field(&mut next);
            let slot = field(&mut acc);
            if v < *slot {
                *slot = v;
            }
            acc
        })
    }

    /// A rolling maximum of a field; other fields keep the key's first record's values.
    pub fn max<V, F>(&self, field: F) -> DataStream<T>
    where
        V: PartialOrd + Copy,
        F: Fn(&mut T) -> &mut V + Send + Sync + 'static,
    {
        self.aggregate("Keyed Aggregation (max)", move |mut acc, mut next| {
            let v = *field(&mut next);
            let slot = field(&mut acc);
            if v > *slot {
                *slot = v;
            }
            acc
        })
    }

    /// The record with the smallest field value so far (the first such record on ties).
    pub fn min_by<V, F>(&self, field: F) -> DataStream<T>
    where
        V: PartialOrd,
        F: Fn(&T) -> V + Send + Sync + 'static,
    {
        self.aggregate("Keyed Aggregation (min_by)", move |acc, next| {
            if field(&next) < field(&acc) {
                next
            } else {
                acc
            }
        })
    }

    /// The record with the largest field value so far (the first such record on ties).
    pub fn max_by<V, F>(&self, field: F) -> DataStream<T>
    where
        V: PartialOrd,
        F: Fn(&T) -> V + Send + Sync + 'static,
    {
        self.aggregate("Keyed Aggregation (max_by)", move |acc, next| {
            if field(&next) > field(&acc) {
                next
            } else {
                acc
            }
        })
    }
}
