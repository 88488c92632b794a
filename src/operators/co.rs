//! Two-input transformations of connected streams: co_map and co_flat_map.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::api::{Collector, Data};
use crate::operators::transforms::flat_map_batch;
use crate::operators::{Batch, Operator, OperatorError, Output};

/// Maps input 0 with `f1` and input 1 with `f2` into one output type.
pub struct CoMap<A, B, O, F1, F2> {
    f1: Arc<F1>,
    f2: Arc<F2>,
    _t: PhantomData<fn(A, B) -> O>,
}

impl<A, B, O, F1, F2> CoMap<A, B, O, F1, F2> {
    /// A co-map by `f1` and `f2`.
    pub fn new(f1: Arc<F1>, f2: Arc<F2>) -> Self {
        Self {
            f1,
            f2,
            _t: PhantomData,
        }
    }
}

impl<A, B, O, F1, F2> Operator for CoMap<A, B, O, F1, F2>
where
    A: Data,
    B: Data,
    O: Data,
    F1: Fn(A) -> O + Send + Sync + 'static,
    F2: Fn(B) -> O + Send + Sync + 'static,
{
    fn process_batch(
        &mut self,
        input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let (mapped, ts): (Vec<O>, _) = if input == 0 {
            let (records, ts) = batch.into_parts::<A>()?;
            (records.into_iter().map(&*self.f1).collect(), ts)
        } else {
            let (records, ts) = batch.into_parts::<B>()?;
            (records.into_iter().map(&*self.f2).collect(), ts)
        };
        out.emit(Batch::with_timestamps(mapped, ts))
    }
}

/// Flat-maps input 0 with `f1` and input 1 with `f2` into one output type.
pub struct CoFlatMap<A, B, O, F1, F2> {
    f1: Arc<F1>,
    f2: Arc<F2>,
    _t: PhantomData<fn(A, B) -> O>,
}

impl<A, B, O, F1, F2> CoFlatMap<A, B, O, F1, F2> {
    /// A co-flat-map by `f1` and `f2`.
    pub fn new(f1: Arc<F1>, f2: Arc<F2>) -> Self {
        Self {
            f1,
            f2,
            _t: PhantomData,
        }
    }
}

impl<A, B, O, F1, F2> Operator for CoFlatMap<A, B, O, F1, F2>
where
    A: Data,
    B: Data,
    O: Data,
    F1: Fn(A, &mut Collector<'_, O>) + Send + Sync + 'static,
    F2: Fn(B, &mut Collector<'_, O>) + Send + Sync + 'static,
{
    fn process_batch(
        &mut self,
        input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let emitted = if input == 0 {
            let (records, ts) = batch.into_parts::<A>()?;
            flat_map_batch(records, ts, &*self.f1)
        } else {
            let (records, ts) = batch.into_parts::<B>()?;
            flat_map_batch(records, ts, &*self.f2)
        };
        out.emit(emitted)
    }
}
