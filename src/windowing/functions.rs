//! Window functions: incremental ([`AggregateFunction`], reduce), full
//! ([`ProcessWindowFunction`] over all of a window's elements), and the two combined (an
//! incremental function whose one result a process function receives with the window's
//! metadata). Inside, [`WindowContents`] is how a window operator keeps a window's contents and
//! turns them into results.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::api::functions::SideOutputs;
use crate::api::{Collector, Data, OutputTag};
use crate::data::UserError;
use crate::eventtime::Timestamp;
use crate::operators::RuntimeContext;
use crate::windowing::evictors::{Evictor, EvictorContext, TimestampedValue};
use crate::windowing::Window;

/// An incremental aggregation (Flink's `AggregateFunction`): elements are added to an
/// accumulator as they arrive; only the accumulator is kept.
pub trait AggregateFunction<T>: Send + Sync + 'static {
    /// The accumulator (checkpointed with its window, so it serializes).
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// The result.
    type Out: Data;
    /// A new, empty accumulator.
    fn create_accumulator(&self) -> Self::Acc;
    /// Adds an element.
    fn add(&self, value: &T, acc: &mut Self::Acc);
    /// The result of an accumulator.
    fn get_result(&self, acc: &Self::Acc) -> Self::Out;
    /// Merges `other` into `acc` (session windows merge their accumulators).
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
}

/// What a process window function may read and do besides emitting results.
pub struct WindowContext<'a, W> {
    pub(crate) window: &'a W,
    pub(crate) watermark: Timestamp,
    pub(crate) processing_time: Timestamp,
    pub(crate) side: &'a mut SideOutputs,
}

impl<W: Window> WindowContext<'_, W> {
    /// The window being emitted.
    pub fn window(&self) -> &W {
        self.window
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }

    /// Emits `value` to the side output `tag` (with the window's last timestamp).
    pub fn output<X: Data>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side
            .push(tag, value, Some(self.window.max_timestamp()));
    }
}

/// A function of all of a window's elements (or of an incremental function's one result),
/// with the key and window (Flink's `ProcessWindowFunction`).
pub trait ProcessWindowFunction<K, IN, OUT, W>: Send + 'static {
    /// Called once before the first window.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    /// Emits the results of one firing of `ctx.window()` for `key`.
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        elements: &[IN],
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), UserError>;
}

impl<K, IN, OUT, W, F> ProcessWindowFunction<K, IN, OUT, W> for F
where
    F: FnMut(
            &K,
            &mut WindowContext<'_, W>,
            &[IN],
            &mut Collector<'_, OUT>,
        ) -> Result<(), UserError>
        + Send
        + 'static,
{
    fn process(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        elements: &[IN],
        out: &mut Collector<'_, OUT>,
    ) -> Result<(), UserError> {
        self(key, ctx, elements, out)
    }
}

/// An incremental function as the window operator uses it: user aggregations and reduce.
pub trait IncrementalFn<T>: Send + Sync + 'static {
    /// The accumulator.
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// The result.
    type Out: Data;
    /// A new accumulator.
    fn create(&self) -> Self::Acc;
    /// Adds an element.
    fn add(&self, value: &T, acc: &mut Self::Acc);
    /// Merges `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The result, if the accumulator holds any element.
    fn result(&self, acc: &Self::Acc) -> Option<Self::Out>;
}

/// A user aggregate function.
pub struct Aggregate<A>(pub Arc<A>);

impl<A> Clone for Aggregate<A> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T, A: AggregateFunction<T>> IncrementalFn<T> for Aggregate<A> {
    type Acc = A::Acc;
    type Out = A::Out;
    fn create(&self) -> A::Acc {
        self.0.create_accumulator()
    }
    #[inline]
    fn add(&self, value: &T, acc: &mut A::Acc) {
        self.0.add(value, acc)
    }
    fn merge(&self, acc: &mut A::Acc, other: A::Acc) {
        self.0.merge(acc, other)
    }
    fn result(&self, acc: &A::Acc) -> Option<A::Out> {
        Some(self.0.get_result(acc))
    }
}

/// A reduce of elements into one of their type.
pub struct Reduce<F>(pub Arc<F>);

impl<F> Clone for Reduce<F> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Data, F: Fn(T, T) -> T + Send + Sync + 'static> IncrementalFn<T> for Reduce<F> {
    type Acc = Option<T>;
    type Out = T;
    fn create(&self) -> Option<T> {
        None
    }
    #[inline]
    fn add(&self, value: &T, acc: &mut Option<T>) {
        *acc = Some(match acc.take() {
            None => value.clone(),
            Some(a) => (self.0)(a, value.clone()),
        });
    }
    fn merge(&self, acc: &mut Option<T>, other: Option<T>) {
        *acc = match (acc.take(), other) {
            (Some(a), Some(b)) => Some((self.0)(a, b)),
            (a, b) => a.or(b),
        };
    }
    fn result(&self, acc: &Option<T>) -> Option<T> {
        acc.clone()
    }
}

/// What becomes of an incremental function's result: emitted as it is, or given to a process
/// window function.
pub trait ResultFn<K, R, W>: Send + 'static {
    /// What is emitted.
    type Out: Data;
    /// Called once before the first window.
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }
    /// Emits for one firing.
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        result: R,
        out: &mut Vec<Self::Out>,
    ) -> Result<(), UserError>;
}

/// Emits the incremental result itself.
#[derive(Clone, Copy)]
pub struct PassResult;

impl<K, R: Data, W> ResultFn<K, R, W> for PassResult {
    type Out = R;
    #[inline]
    fn emit(
        &mut self,
        _key: &K,
        _ctx: &mut WindowContext<'_, W>,
        result: R,
        out: &mut Vec<R>,
    ) -> Result<(), UserError> {
        out.push(result);
        Ok(())
    }
}

/// Gives the incremental result to a process window function.
pub struct WithProcess<P, OUT>(pub P, pub PhantomData<fn() -> OUT>);

impl<P: Clone, OUT> Clone for WithProcess<P, OUT> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<K, R, W, OUT, P> ResultFn<K, R, W> for WithProcess<P, OUT>
where
    OUT: Data,
    P: ProcessWindowFunction<K, R, OUT, W>,
    K: 'static,
    R: 'static,
    W: 'static,
{
    type Out = OUT;
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.0.open(ctx)
    }
    fn emit(
        &mut self,
        key: &K,
        ctx: &mut WindowContext<'_, W>,
        result: R,
        out: &mut Vec<OUT>,
    ) -> Result<(), UserError> {
        self.0.process(
            key,
            ctx,
            std::slice::from_ref(&result),
            &mut Collector::new(out),
        )
    }
}

/// How a window operator keeps a window's contents and turns them into results.
pub trait WindowContents<K, T, W>: Send + 'static {
    /// The contents of one key's window (checkpointed with it).
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// What is emitted.
    type Out: Data;
    /// Called once before the first element.
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError>;
    /// Empty contents.
    fn create(&self) -> Self::Acc;
    /// Adds an element.
    fn add(&self, acc: &mut Self::Acc, value: &T, timestamp: Timestamp);
    /// Merges `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// Emits the window's results.
    fn fire(
        &mut self,
        key: &K,
        acc: &mut Self::Acc,
        ctx: &mut WindowContext<'_, W>,
        out: &mut Vec<Self::Out>,
    ) -> Result<(), UserError>;
}

/// Only an accumulator is kept per window.
pub struct Incremental<I, R> {
    /// The incremental function.
    pub f: I,
    /// What becomes of its result.
    pub result: R,
}

impl<K, T, W, I, R> WindowContents<K, T, W> for Incremental<I, R>
where
    K: 'static,
    T: 'static,
    W: 'static,
    I: IncrementalFn<T>,
    R: ResultFn<K, I::Out, W>,
{
    type Acc = I::Acc;
    type Out = R::Out;
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.result.open(ctx)
    }
    fn create(&self) -> I::Acc {
        self.f.create()
    }
    #[inline]
    fn add(&self, acc: &mut I::Acc, value: &T, _timestamp: Timestamp) {
        self.f.add(value, acc)
    }
    fn merge(&self, acc: &mut I::Acc, other: I::Acc) {
        self.f.merge(acc, other)
    }
    fn fire(
        &mut self,
        key: &K,
        acc: &mut I::Acc,
        ctx: &mut WindowContext<'_, W>,
        out: &mut Vec<R::Out>,
    ) -> Result<(), UserError> {
        match self.f.result(acc) {
            Some(r) => self.result.emit(key, ctx, r, out),
            None => Ok(()),
        }
    }
}

/// What a buffered window does with its elements when it fires.
pub trait ElementsFn<K, T, W>: Send + 'static {
    /// What is emitted.
    type Out: Data;
    /// Called once before the first window.
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError>;
    /// Emits for one firing over the window's (remaining) elements.
    fn fire(
        &mut self,
        key: &K,
        elements: &[TimestampedValue<T>],
        ctx: &mut WindowContext<'_, W>,
        out: &mut Vec<Self::Out>,
    ) -> Result<(), UserError>;
}

/// A process window function over all of a window's elements.
pub struct FullProcess<P, OUT>(pub P, pub PhantomData<fn() -> OUT>);

impl<K, T, W, OUT, P> ElementsFn<K, T, W> for FullProcess<P, OUT>
where
    K: 'static,
    T: Data,
    W: 'static,
    OUT: Data,
    P: ProcessWindowFunction<K, T, OUT, W>,
{
    type Out = OUT;
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.0.open(ctx)
    }
    fn fire(
        &mut self,
        key: &K,
        elements: &[TimestampedValue<T>],
        ctx: &mut WindowContext<'_, W>,
        out: &mut Vec<OUT>,
    ) -> Result<(), UserError> {
        let values: Vec<T> = elements.iter().map(|e| e.value.clone()).collect();
        self.0.process(key, ctx, &values, &mut Collector::new(out))
    }
}

/// An incremental function folded over a window's elements at firing, its result passed on.
pub struct Fold<I, R>(pub I, pub R);

impl<K, T, W, I, R> ElementsFn<K, T, W> for Fold<I, R>
where
    K: 'static,
    T: 'static,
    W: 'static,
    I: IncrementalFn<T>,
    R: ResultFn<K, I::Out, W>,
{
    type Out = R::Out;
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.1.open(ctx)
    }
    fn fire(
        &mut self,
        key: &K,
        elements: &[TimestampedValue<T>],
        ctx: &mut WindowContext<'_, W>,
        out: &mut Vec<R::Out>,
    ) -> Result<(), UserError> {
        let mut acc = self.0.create();
        for e in elements {
            self.0.add(&e.value, &mut acc);
        }
        match self.0.result(&acc) {
            Some(r) => self.1.emit(key, ctx, r, out),
            None => Ok(()),
        }
    }
}

/// Every element is kept per window (full window functions, and any window with an evictor).
pub struct Buffered<T, W, F> {
    /// What happens at firing.
    pub f: F,
    /// The evictor, if any.
    pub evictor: Option<Arc<dyn Evictor<T, W>>>,
}

impl<K, T, W, F> WindowContents<K, T, W> for Buffered<T, W, F>
where
    K: 'static,
    T: Data,
    W: Window,
    F: ElementsFn<K, T, W>,
{
    type Acc = Vec<TimestampedValue<T>>;
    type Out = F::Out;
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.f.open(ctx)
    }
    fn create(&self) -> Self::Acc {
        Vec::new()
    }
    fn add(&self, acc: &mut Self::Acc, value: &T, timestamp: Timestamp) {
        acc.push(TimestampedValue {
            value: value.clone(),
            timestamp,
        });
    }
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        acc.extend(other);
    }
    fn fire(
        &mut self,
        key: &K,
        acc: &mut Self::Acc,
        ctx: &mut WindowContext<'_, W>,
        out: &mut Vec<F::Out>,
    ) -> Result<(), UserError> {
        let ectx = EvictorContext {
            watermark: ctx.watermark,
            processing_time: ctx.processing_time,
        };
        if let Some(e) = &self.evictor {
            e.evict_before(acc, ctx.window, &ectx);
        }
        self.f.fire(key, acc, ctx, out)?;
        if let Some(e) = &self.evictor {
            e.evict_after(acc, ctx.window, &ectx);
        }
        Ok(())
    }
}
