//! Runs a user [`ProcessFunction`]: main output through a collector, side outputs by tag.

use std::marker::PhantomData;

use crate::api::functions::{user_error, SideOutputs};
use crate::api::{Collector, Data, ProcessContext, ProcessFunction};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};

/// Runs a process function.
pub struct ProcessOperator<I, O, P> {
    f: P,
    name: String,
    ctx: Option<RuntimeContext>,
    side: SideOutputs,
    _t: PhantomData<fn(I) -> O>,
}

impl<I, O, P> ProcessOperator<I, O, P> {
    /// An operator running `f`.
    pub fn new(name: &str, f: P) -> Self {
        Self {
            f,
            name: name.to_string(),
            ctx: None,
            side: SideOutputs::default(),
            _t: PhantomData,
        }
    }
}

impl<I: Data, O: Data, P: ProcessFunction<I, O>> Operator for ProcessOperator<I, O, P> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.ctx = Some(ctx.clone());
        self.f.open(ctx).map_err(|e| user_error(&self.name, e))
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let records = batch.downcast::<I>()?;
        let runtime = match &self.ctx {
            Some(c) => c.clone(),
            None => RuntimeContext::standalone(&self.name),
        };
        let mut main = Vec::with_capacity(records.len());
        {
            let mut pctx = ProcessContext::new(&runtime, &mut self.side);
            let mut c = Collector::new(&mut main);
            for r in records {
                self.f
                    .process_element(r, &mut pctx, &mut c)
                    .map_err(|e| user_error(&self.name, e))?;
            }
        }
        out.emit(Batch::new(main))?;
        self.side.flush(out)
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.f.close().map_err(|e| user_error(&self.name, e))
    }
}
