//! `ConnectedStreams<A, B>`: two streams feeding one two-input operator.

use std::sync::Arc;

use crate::api::{Collector, Data, DataStream};
use crate::graph::partitioner::RecordType;
use crate::operators::co::{CoFlatMap, CoMap};

/// Two streams of possibly different types, processed together.
pub struct ConnectedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

impl<A: Data, B: Data> ConnectedStreams<A, B> {
    pub(crate) fn new(first: DataStream<A>, second: DataStream<B>) -> Self {
        Self { first, second }
    }

    /// Maps the first input with `f1` and the second with `f2`.
    pub fn co_map<O: Data, F1, F2>(&self, f1: F1, f2: F2) -> DataStream<O>
    where
        F1: Fn(A) -> O + Send + Sync + 'static,
        F2: Fn(B) -> O + Send + Sync + 'static,
    {
        let (f1, f2) = (Arc::new(f1), Arc::new(f2));
        self.two_input("Co-Map", move || {
            Box::new(CoMap::new(f1.clone(), f2.clone()))
        })
    }

    /// Flat-maps the first input with `f1` and the second with `f2`.
    pub fn co_flat_map<O: Data, F1, F2>(&self, f1: F1, f2: F2) -> DataStream<O>
    where
        F1: Fn(A, &mut Collector<'_, O>) + Send + Sync + 'static,
        F2: Fn(B, &mut Collector<'_, O>) + Send + Sync + 'static,
    {
        let (f1, f2) = (Arc::new(f1), Arc::new(f2));
        self.two_input("Co-Flat Map", move || {
            Box::new(CoFlatMap::new(f1.clone(), f2.clone()))
        })
    }

    fn two_input<O: Data>(
        &self,
        name: &str,
        make: impl Fn() -> Box<dyn crate::operators::Operator> + Send + Sync + 'static,
    ) -> DataStream<O> {
        let env = self.first.env.clone();
        let id = env.add_operator(
            name,
            &[(&self.first.inputs, 0), (&self.second.inputs, 1)],
            move |_| make(),
        );
        DataStream::from_node(env, id, RecordType::of::<O>())
    }
}
