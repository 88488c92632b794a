//! Keyed aggregation: reduce and the field aggregations (sum, min, max, min_by, max_by) built on
//! it. State is one value per key, checkpointed as keyed state `reduce`: in a map on the heap,
//! or, when the job chose the RocksDB backend (streaming mode), in RocksDB.
//!
//! ## Emission
//! In streaming mode every input record emits the key's updated aggregate (Flink's rolling
//! aggregation). In batch mode only the final aggregate of each key is emitted, once the input
//! has ended.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::api::{Data, Key, RuntimeMode};
use crate::operators::{Batch, Operator, OperatorError, Output};
use crate::state::{
    KeyedStateBackend, RestoredState, StateBackendKind, StateSnapshot, ValueStateDescriptor,
};
use crate::util::FastMap;

/// A rolling reduce per key.
pub struct KeyedReduce<K, T, RF> {
    key: KeyFn<K, T>,
    reduce: Arc<RF>,
    mode: RuntimeMode,
    state: FastMap<K, T>,
    /// The state when the job keeps it in RocksDB (`state` stays empty then).
    backend: Option<KeyedStateBackend<K>>,
    restored: Option<RestoredState>,
    name: String,
    max_parallelism: usize,
    _t: PhantomData<fn(T)>,
}

/// A rolling reduce of `records` with its state in `backend` (streaming mode).
fn reduce_in_backend<K: Key, T: Data>(
    backend: &mut KeyedStateBackend<K>,
    key: &KeyFn<K, T>,
    reduce: &dyn Fn(T, T) -> T,
    records: Vec<T>,
) -> Result<Vec<T>, crate::state::StateError> {
    let d = ValueStateDescriptor::<T>::new(REDUCE_STATE);
    let mut emitted = Vec::with_capacity(records.len());
    for r in records {
        let k = key(&r);
        let mut cell = backend.value_state(&d, &k)?;
        let next = match cell.value()? {
            Some(acc) => reduce(acc, r),
            None => r,
        };
        cell.update(next.clone())?;
        emitted.push(next);
    }
    Ok(emitted)
}

/// The name of a keyed reduce's state in checkpoints.
const REDUCE_STATE: &str = "reduce";

/// Extracts a record's key.
pub type KeyFn<K, T> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// Points at a record's key inside it (keys of `key_by_field`): routing and window lookups
/// then hash and compare it in place, and clone it only to keep it.
pub type KeyRefFn<K, T> = Arc<dyn for<'a> Fn(&'a T) -> &'a K + Send + Sync>;

impl<K, T, RF> KeyedReduce<K, T, RF> {
    /// A reduce by `reduce` of records keyed by `key`.
    pub fn new(key: KeyFn<K, T>, reduce: Arc<RF>, mode: RuntimeMode) -> Self {
        Self {
            key,
            reduce,
            mode,
            state: FastMap::default(),
            backend: None,
            restored: None,
            name: String::new(),
            max_parallelism: crate::state::DEFAULT_MAX_PARALLELISM,
            _t: PhantomData,
        }
    }
}

impl<K, T, RF> Operator for KeyedReduce<K, T, RF>
where
    K: Key,
    T: Data,
    RF: Fn(T, T) -> T + Send + Sync + 'static,
{
    fn open(&mut self, ctx: &crate::operators::RuntimeContext) -> Result<(), OperatorError> {
        self.name = ctx.operator_name.clone();
        self.max_parallelism = ctx.max_parallelism;
        let state_error = |e| OperatorError::state(&ctx.operator_name, e);
        if ctx.state_backend == StateBackendKind::RocksDb && self.mode == RuntimeMode::Streaming {
            let mut backend = KeyedStateBackend::for_context(ctx).map_err(state_error)?;
            if let Some(r) = self.restored.take() {
                backend.restore(r, &[]).map_err(state_error)?;
            }
            self.backend = Some(backend);
        } else if let Some(r) = self.restored.take() {
            r.require_canonical().map_err(state_error)?;
            let entries = r.keyed::<K, T>(REDUCE_STATE).map_err(state_error)?;
            self.state.extend(entries);
        }
        Ok(())
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        self.restored = Some(restored.clone());
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<StateSnapshot, OperatorError> {
        let mut snapshot = StateSnapshot::default();
        if let Some(backend) = self.backend.as_mut() {
            backend
                .snapshot(&mut snapshot)
                .map_err(|e| OperatorError::state(&self.name, e))?;
        } else if !self.state.is_empty() {
            let (copy, maxp) = (self.state.clone(), self.max_parallelism);
            snapshot.defer(move |out| out.add_keyed(REDUCE_STATE, maxp, copy.iter()));
        }
        Ok(snapshot)
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let records = batch.downcast::<T>()?;
        if let Some(backend) = self.backend.as_mut() {
            let emitted = reduce_in_backend(backend, &self.key, &*self.reduce, records)
                .map_err(|e| OperatorError::state(&self.name, e))?;
            return out.emit(Batch::new(emitted));
        }
        let streaming = self.mode == RuntimeMode::Streaming;
        let mut emitted = Vec::with_capacity(if streaming { records.len() } else { 0 });
        for r in records {
            let k = (self.key)(&r);
            // The update is emitted from the value in hand, before it is stored: reading it
            // back from the table just after writing it stalls the load (store forwarding).
            match self.state.get_mut(&k) {
                Some(acc) => {
                    let next = (self.reduce)(acc.clone(), r);
                    if streaming {
                        emitted.push(next.clone());
                    }
                    *acc = next;
                }
                None => {
                    if streaming {
                        emitted.push(r.clone());
                    }
                    self.state.insert(k, r);
                }
            }
        }
        out.emit(Batch::new(emitted))
    }

    /// In batch mode the final aggregates go out before the end-of-input watermark, so that no
    /// downstream operator sees them behind it.
    fn process_watermark(
        &mut self,
        watermark: crate::eventtime::Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if watermark == crate::eventtime::MAX_WATERMARK {
            self.end_input(0, out)?;
        }
        out.emit_watermark(watermark)
    }

    fn end_input(&mut self, _input: usize, out: &mut Output<'_>) -> Result<(), OperatorError> {
        if self.mode == RuntimeMode::Batch {
            let mut finals = self.state.drain().map(|(_, v)| v).peekable();
            while finals.peek().is_some() {
                out.emit(Batch::new(finals.by_ref().take(1024).collect::<Vec<T>>()))?;
            }
        }
        Ok(())
    }
}
