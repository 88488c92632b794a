//! Runs a user [`ProcessFunction`]: main output through a collector, side outputs by tag.

use std::marker::PhantomData;

use crate::api::functions::{user_error, user_snapshot, SideOutputs};
use crate::api::{Collector, Data, ProcessContext, ProcessFunction};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};

/// Runs a process function.
pub struct ProcessOperator<I, O, P> {
    f: P,
    name: String,
    ctx: RuntimeContext,
    side: SideOutputs,
    watermark: i64,
    _t: PhantomData<fn(I) -> O>,
}

impl<I, O, P> ProcessOperator<I, O, P> {
    /// An operator running `f`.
    pub fn new(name: &str, f: P) -> Self {
        Self {
            f,
            name: name.to_string(),
            ctx: RuntimeContext::standalone(name),
            side: SideOutputs::default(),
            watermark: crate::eventtime::MIN_WATERMARK,
            _t: PhantomData,
        }
    }
}

impl<I: Data, O: Data, P: ProcessFunction<I, O>> Operator for ProcessOperator<I, O, P> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.ctx = ctx.clone();
        self.f.open(ctx).map_err(|e| user_error(&self.name, e))
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let (records, ts) = batch.into_parts::<I>()?;
        let mut main = Vec::with_capacity(records.len());
        let mut main_ts = Vec::new();
        {
            let mut pctx = ProcessContext::new(&self.ctx, &mut self.side, self.watermark);
            for (i, r) in records.into_iter().enumerate() {
                pctx.timestamp = ts.as_ref().and_then(|t| t.get(i).copied());
                self.f
                    .process_element(r, &mut pctx, &mut Collector::new(&mut main))
                    .map_err(|e| user_error(&self.name, e))?;
                if let Some(t) = pctx.timestamp {
                    main_ts.resize(main.len(), t);
                }
            }
        }
        let main_ts = ts.map(|_| main_ts);
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

    fn initialize_state(
        &mut self,
        restored: &crate::state::RestoredState,
    ) -> Result<(), OperatorError> {
        self.f
            .initialize_state(restored)
            .map_err(|e| user_error(&self.name, e))
    }

    fn snapshot_state(
        &mut self,
        checkpoint_id: u64,
    ) -> Result<crate::state::StateSnapshot, OperatorError> {
        let f = &mut self.f;
        user_snapshot(&self.name, |s| f.snapshot_state(checkpoint_id, s)).map(Into::into)
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.f.close().map_err(|e| user_error(&self.name, e))
    }
}
