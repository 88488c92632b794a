//! `WindowedStream`: a keyed stream cut into windows (`key_by(..).window(..)`, `count_window`),
//! and the non-keyed `window_all`, with Flink's trigger, evictor, allowed lateness and late
//! data side output, and its window functions.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Data, DataStream, Key, KeyedStream, OutputTag};
use crate::graph::partitioner::RecordType;
use crate::graph::GraphError;
use crate::operators::keyed::{KeyFn, KeyRefFn};
use crate::operators::window::{WindowOperator, WindowSpec};
use crate::windowing::assigners::{Assigner, GlobalWindows};
use crate::windowing::evictors::{CountEvictor, Evictor};
use crate::windowing::functions::{
    Aggregate, AggregateFunction, Buffered, Fold, FullProcess, Incremental, IncrementalFn,
    PassResult, ProcessWindowFunction, Reduce, ResultFn, WindowContents, WithProcess,
};
use crate::windowing::triggers::{CountTrigger, PurgingTrigger, Trigger};
use crate::windowing::{GlobalWindow, Window};

/// A keyed stream cut into windows of type `W`; a window function makes it a stream again.
pub struct WindowedStream<K, T, W> {
    stream: DataStream<T>,
    key: KeyFn<K, T>,
    key_ref: Option<KeyRefFn<K, T>>,
    assigner: Arc<dyn Assigner<T, W>>,
    trigger: Option<Arc<dyn Trigger<T, W>>>,
    evictor: Option<Arc<dyn Evictor<T, W>>>,
    allowed_lateness: i64,
    late_tag: Option<OutputTag<T>>,
    /// `window_all`: one subtask sees everything.
    non_parallel: bool,
}

impl<K: Key, T: Data> KeyedStream<K, T> {
    /// Cuts each key's records into the windows of `assigner`.
    pub fn window<W: Window, A: Assigner<T, W>>(&self, assigner: A) -> WindowedStream<K, T, W> {
        if let Err(e) = assigner.validate() {
            self.as_stream()
                .env
                .record_error(GraphError::InvalidWindow(e.to_string()));
        }
        WindowedStream {
            stream: self.as_stream(),
            key: self.key_fn(),
            key_ref: self.key_ref_fn(),
            assigner: Arc::new(assigner),
            trigger: None,
            evictor: None,
            allowed_lateness: 0,
            late_tag: None,
            non_parallel: false,
        }
    }

    /// Windows of `size` elements per key, emitted and purged when full (Flink's
    /// `countWindow(size)`).
    pub fn count_window(&self, size: u64) -> WindowedStream<K, T, GlobalWindow> {
        self.window(GlobalWindows)
            .trigger(PurgingTrigger::of(CountTrigger::of(size)))
    }

    /// The last `size` elements per key, emitted every `slide` elements (Flink's
    /// `countWindow(size, slide)`).
    pub fn count_window_slide(&self, size: u64, slide: u64) -> WindowedStream<K, T, GlobalWindow> {
        self.window(GlobalWindows)
            .evictor(CountEvictor::of(size as usize))
            .trigger(CountTrigger::of(slide))
    }
}

impl<T: Data> DataStream<T> {
    /// Cuts the whole stream into windows, in one subtask (Flink's `windowAll`).
    pub fn window_all<W: Window, A: Assigner<T, W>>(
        &self,
        assigner: A,
    ) -> WindowedStream<(), T, W> {
        let mut w = self.key_by(|_| ()).window(assigner);
        w.non_parallel = true;
        w
    }

    /// Count windows over the whole stream (Flink's `countWindowAll(size)`).
    pub fn count_window_all(&self, size: u64) -> WindowedStream<(), T, GlobalWindow> {
        let mut w = self.key_by(|_| ()).count_window(size);
        w.non_parallel = true;
        w
    }
}

impl<K: Key, T: Data, W: Window> WindowedStream<K, T, W> {
    /// Sets the trigger (replacing the assigner's default).
    pub fn trigger(mut self, trigger: impl Trigger<T, W>) -> Self {
        self.trigger = Some(Arc::new(trigger));
        self
    }

    /// Sets an evictor: every element is kept, and the evictor prunes them around the window
    /// function.
    pub fn evictor(mut self, evictor: impl Evictor<T, W>) -> Self {
        self.evictor = Some(Arc::new(evictor));
        self
    }

    /// Keeps event-time windows for `lateness` after their end: late elements update them.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = i64::try_from(lateness.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Sends elements that arrive too late for every window to the side output `tag` instead of
    /// dropping them.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_tag = Some(tag.clone());
        self
    }

    fn spec(&self) -> WindowSpec<K, T, W> {
        WindowSpec {
            key: self.key.clone(),
            key_ref: self.key_ref.clone(),
            assigner: self.assigner.clone(),
            trigger: self
                .trigger
                .clone()
                .unwrap_or_else(|| self.assigner.default_trigger()),
            allowed_lateness: self.allowed_lateness,
            late_tag: self.late_tag.clone(),
        }
    }

    fn build<C, F>(&self, name: &str, make: F) -> DataStream<C::Out>
    where
        C: WindowContents<K, T, W>,
        F: Fn() -> C + Send + Sync + 'static,
    {
        let spec = self.spec();
        let env = self.stream.env.clone();
        let id = env.add_operator(name, &[(&self.stream.inputs, 0)], move |ctx| {
            Box::new(WindowOperator::new(
                &ctx.operator_name,
                spec.clone(),
                make(),
            ))
        });
        let out = DataStream::from_node(env, id, RecordType::of::<C::Out>());
        if self.non_parallel {
            out.set_parallelism(1).set_max_parallelism(1)
        } else {
            out
        }
    }

    /// With an evictor every element is kept and `f` folds them at firing; without one only
    /// `f`'s accumulator is kept.
    fn incremental<I, R>(&self, name: &str, f: I, result: R) -> DataStream<R::Out>
    where
        I: IncrementalFn<T> + Clone,
        R: ResultFn<K, I::Out, W> + Clone + Sync,
    {
        match &self.evictor {
            Some(e) => {
                let e = e.clone();
                self.build(name, move || Buffered {
                    f: Fold(f.clone(), result.clone()),
                    evictor: Some(e.clone()),
                })
            }
            None => self.build(name, move || Incremental {
                f: f.clone(),
                result: result.clone(),
            }),
        }
    }

    /// Reduces each window's elements with `f` and emits the result.
    pub fn reduce<F>(&self, f: F) -> DataStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.incremental("Window(Reduce)", Reduce(Arc::new(f)), PassResult)
    }

    /// Reduces incrementally, then gives the one result to `process` with the window.
    pub fn reduce_with<F, P, OUT>(&self, f: F, process: P) -> DataStream<OUT>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
        P: ProcessWindowFunction<K, T, OUT, W> + Clone + Sync,
        OUT: Data,
    {
        self.incremental(
            "Window(Reduce, Process)",
            Reduce(Arc::new(f)),
            WithProcess(process, PhantomData),
        )
    }

    /// Aggregates each window incrementally with `agg` and emits the result.
    pub fn aggregate<A: AggregateFunction<T>>(&self, agg: A) -> DataStream<A::Out> {
        self.incremental("Window(Aggregate)", Aggregate(Arc::new(agg)), PassResult)
    }

    /// Aggregates incrementally, then gives the one result to `process` with the window.
    pub fn aggregate_with<A, P, OUT>(&self, agg: A, process: P) -> DataStream<OUT>
    where
        A: AggregateFunction<T>,
        P: ProcessWindowFunction<K, A::Out, OUT, W> + Clone + Sync,
        OUT: Data,
    {
        self.incremental(
            "Window(Aggregate, Process)",
            Aggregate(Arc::new(agg)),
            WithProcess(process, PhantomData),
        )
    }

    /// Gives all of a window's elements to `process` when it fires.
    pub fn process<P, OUT>(&self, process: P) -> DataStream<OUT>
    where
        P: ProcessWindowFunction<K, T, OUT, W> + Clone + Sync,
        OUT: Data,
    {
        let e = self.evictor.clone();
        self.build("Window(Process)", move || Buffered {
            f: FullProcess(process.clone(), PhantomData),
            evictor: e.clone(),
        })
    }
}
