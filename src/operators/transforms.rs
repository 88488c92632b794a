//! Stateless one-input transformations: map, flat_map, filter.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::api::{Collector, Data};
use crate::operators::{Batch, Operator, OperatorError, Output};

/// Applies a function to every record.
pub struct Map<T, U, F> {
    f: Arc<F>,
    _t: PhantomData<fn(T) -> U>,
}

impl<T, U, F> Map<T, U, F> {
    /// A map by `f`.
    pub fn new(f: Arc<F>) -> Self {
        Self { f, _t: PhantomData }
    }
}

impl<T: Data, U: Data, F: Fn(T) -> U + Send + Sync + 'static> Operator for Map<T, U, F> {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let f = &*self.f;
        let mapped: Vec<U> = batch.downcast::<T>()?.into_iter().map(f).collect();
        out.emit(Batch::new(mapped))
    }
}

/// Emits any number of records per record.
pub struct FlatMap<T, U, F> {
    f: Arc<F>,
    _t: PhantomData<fn(T) -> U>,
}

impl<T, U, F> FlatMap<T, U, F> {
    /// A flat map by `f`.
    pub fn new(f: Arc<F>) -> Self {
        Self { f, _t: PhantomData }
    }
}

impl<T: Data, U: Data, F> Operator for FlatMap<T, U, F>
where
    F: Fn(T, &mut Collector<'_, U>) + Send + Sync + 'static,
{
    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let records = batch.downcast::<T>()?;
        let mut buf = Vec::with_capacity(records.len());
        {
            let mut c = Collector::new(&mut buf);
            for r in records {
                (self.f)(r, &mut c);
            }
        }
        out.emit(Batch::new(buf))
    }
}

/// Keeps the records for which a predicate holds.
pub struct FilterOp<T, F> {
    f: Arc<F>,
    _t: PhantomData<fn(T)>,
}

impl<T, F> FilterOp<T, F> {
    /// A filter by `f`.
    pub fn new(f: Arc<F>) -> Self {
        Self { f, _t: PhantomData }
    }
}

impl<T: Data, F: Fn(&T) -> bool + Send + Sync + 'static> Operator for FilterOp<T, F> {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let mut records = batch.downcast::<T>()?;
        let f = &*self.f;
        records.retain(|r| f(r));
        out.emit(Batch::new(records))
    }
}
