//! Runs a [`BroadcastProcessFunction`]: input 0 is the first stream, input 1 the broadcast
//! stream; broadcast state is checkpointed as union list state (see
//! [`crate::state::broadcast`]).

use std::marker::PhantomData;

use crate::api::broadcast::{BroadcastContext, BroadcastProcessFunction, ReadOnlyBroadcastContext};
use crate::api::functions::{user_error, SideOutputs};
use crate::api::{Collector, Data};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};
use crate::state::broadcast::BroadcastStates;
use crate::state::{OperatorSnapshot, RestoredState, StateSnapshot};

/// Runs a broadcast process function.
pub struct BroadcastProcessOperator<A, B, O, F> {
    name: String,
    f: F,
    runtime: RuntimeContext,
    side: SideOutputs,
    states: BroadcastStates,
    watermark: i64,
    _t: PhantomData<fn(A, B) -> O>,
}

impl<A, B, O, F> BroadcastProcessOperator<A, B, O, F> {
    /// An operator running `f`.
    pub fn new(name: &str, f: F) -> Self {
        Self {
            name: name.to_string(),
            f,
            runtime: RuntimeContext::standalone(name),
            side: SideOutputs::default(),
            states: BroadcastStates::default(),
            watermark: i64::MIN,
            _t: PhantomData,
        }
    }
}

impl<A: Data, B: Data, O: Data, F: BroadcastProcessFunction<A, B, O>> Operator
    for BroadcastProcessOperator<A, B, O, F>
{
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.runtime = ctx.clone();
        self.f.open(ctx).map_err(|e| user_error(&self.name, e))
    }

    fn process_batch(
        &mut self,
        input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let mut main = Vec::new();
        let mut main_ts = Vec::new();
        let timed;
        if input == 0 {
            let (records, ts) = batch.into_parts::<A>()?;
            timed = ts.is_some();
            for (i, r) in records.into_iter().enumerate() {
                let mut ctx = ReadOnlyBroadcastContext {
                    states: &mut self.states,
                    side: &mut self.side,
                    runtime: &self.runtime,
                    timestamp: ts.as_ref().and_then(|t| t.get(i).copied()),
                    watermark: self.watermark,
                };
                self.f
                    .process_element(r, &mut ctx, &mut Collector::new(&mut main))
                    .map_err(|e| user_error(&self.name, e))?;
                if let Some(t) = ctx.timestamp {
                    main_ts.resize(main.len(), t);
                }
            }
        } else {
            let (records, ts) = batch.into_parts::<B>()?;
            timed = ts.is_some();
            for (i, r) in records.into_iter().enumerate() {
                let mut ctx = BroadcastContext {
                    states: &mut self.states,
                    side: &mut self.side,
                    runtime: &self.runtime,
                    timestamp: ts.as_ref().and_then(|t| t.get(i).copied()),
                    watermark: self.watermark,
                };
                self.f
                    .process_broadcast_element(r, &mut ctx, &mut Collector::new(&mut main))
                    .map_err(|e| user_error(&self.name, e))?;
                if let Some(t) = ctx.timestamp {
                    main_ts.resize(main.len(), t);
                }
            }
        }
        let main_ts = timed.then_some(main_ts);
        out.emit(Batch::with_timestamps(main, main_ts))?;
        self.side.flush(out)
    }

    fn process_watermark(
        &mut self,
        watermark: crate::eventtime::Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        self.watermark = watermark;
        out.emit_watermark(watermark)
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        self.states.restore(restored.clone());
        Ok(())
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<StateSnapshot, OperatorError> {
        let mut snapshot = OperatorSnapshot::default();
        self.states
            .snapshot(self.runtime.subtask_index, &mut snapshot)
            .map_err(|e| OperatorError::state(&self.name, e))?;
        Ok(snapshot.into())
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.f.close().map_err(|e| user_error(&self.name, e))
    }
}
