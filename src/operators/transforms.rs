//! Stateless one-input transformations: map, flat_map, filter. Each keeps the records'
//! timestamps: a mapped record has its input's, and every record a flat map emits has the
//! timestamp of the record it came from.

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
        let (records, ts) = batch.into_parts::<T>()?;
        let mapped: Vec<U> = records.into_iter().map(f).collect();
        out.emit(Batch::with_timestamps(mapped, ts))
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
        let (records, ts) = batch.into_parts::<T>()?;
        out.emit(flat_map_batch(records, ts, &*self.f))
    }
}

/// Flat-maps `records` by `f`; each output record gets the timestamp of its input record.
pub(crate) fn flat_map_batch<T, U: Data>(
    records: Vec<T>,
    ts: Option<Vec<i64>>,
    f: impl Fn(T, &mut Collector<'_, U>),
) -> Batch {
    let mut buf = Vec::with_capacity(records.len());
    match ts {
        None => {
            let mut c = Collector::new(&mut buf);
            for r in records {
                f(r, &mut c);
            }
            Batch::new(buf)
        }
        Some(ts) => {
            let mut out_ts = Vec::with_capacity(records.len());
            for (r, t) in records.into_iter().zip(ts) {
                f(r, &mut Collector::new(&mut buf));
                out_ts.resize(buf.len(), t);
            }
            Batch::timed(buf, out_ts)
        }
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
        let (mut records, ts) = batch.into_parts::<T>()?;
        let f = &*self.f;
        match ts {
            None => {
                records.retain(|r| f(r));
                out.emit(Batch::new(records))
            }
            Some(ts) => {
                let (kept, kept_ts): (Vec<T>, Vec<i64>) =
                    records.into_iter().zip(ts).filter(|(r, _)| f(r)).unzip();
                out.emit(Batch::timed(kept, kept_ts))
            }
        }
    }
}
