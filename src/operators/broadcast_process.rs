//! Runs a [`BroadcastProcessFunction`]: input 0 is the first stream, input 1 the broadcast
//! stream; broadcast state is checkpointed as union list state (see
//! [`crate::state::broadcast`]).

use std::marker::PhantomData;

use crate::api::broadcast::{BroadcastContext, BroadcastProcessFunction, ReadOnlyBroadcastContext};
use crate::api::functions::{user_error, SideOutputs};
use crate::api::{Collector, Data};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext, UserError};
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

/// Calls `call` with each record and its timestamp; what it emits carries the record's
/// timestamp.
fn each_record<R, O: Data>(
    (records, ts): (Vec<R>, Option<Vec<i64>>),
    mut call: impl FnMut(R, Option<i64>, &mut Collector<'_, O>) -> Result<(), UserError>,
) -> Result<Batch, UserError> {
    let mut main = Vec::with_capacity(records.len());
    let Some(ts) = ts else {
        for r in records {
            call(r, None, &mut Collector::new(&mut main))?;
        }
        return Ok(Batch::new(main));
    };
    let mut main_ts = Vec::with_capacity(records.len());
    for (r, t) in records.into_iter().zip(ts) {
        call(r, Some(t), &mut Collector::new(&mut main))?;
        main_ts.resize(main.len(), t);
    }
    Ok(Batch::timed(main, main_ts))
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
        let (f, states, side, runtime) =
            (&mut self.f, &mut self.states, &mut self.side, &self.runtime);
        let watermark = self.watermark;
        let emitted = if input == 0 {
            each_record(batch.into_parts::<A>()?, |r, timestamp, out| {
                let mut ctx = ReadOnlyBroadcastContext {
                    states: &mut *states,
                    side: &mut *side,
                    runtime,
                    timestamp,
                    watermark,
                };
                f.process_element(r, &mut ctx, out)
            })
        } else {
            each_record(batch.into_parts::<B>()?, |r, timestamp, out| {
                let mut ctx = BroadcastContext {
                    states: &mut *states,
                    side: &mut *side,
                    runtime,
                    timestamp,
                    watermark,
                };
                f.process_broadcast_element(r, &mut ctx, out)
            })
        };
        out.emit(emitted.map_err(|e| user_error(&self.name, e))?)?;
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
