//! Sink operators and the built-in sinks: print, text files, collect (for tests), discard.

use std::fmt::{Debug, Display};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::api::functions::{user_error, user_snapshot};
use crate::api::{Data, SinkFunction};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext, UserError};

/// Runs a [`SinkFunction`].
pub struct SinkOperator<T, S> {
    sink: S,
    name: String,
    _t: PhantomData<fn(T)>,
}

impl<T, S> SinkOperator<T, S> {
    /// An operator writing to `sink`.
    pub fn new(name: &str, sink: S) -> Self {
        Self {
            sink,
            name: name.to_string(),
            _t: PhantomData,
        }
    }

    /// The sink function (an operator built on this one reads and drives it).
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Turns the sink function's error into the operator's.
    pub fn error(&self, e: UserError) -> OperatorError {
        user_error(&self.name, e)
    }
}

impl<T: Data, S: SinkFunction<T>> Operator for SinkOperator<T, S> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.sink.open(ctx).map_err(|e| user_error(&self.name, e))
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        _out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        self.sink
            .invoke_batch(batch.downcast::<T>()?)
            .map_err(|e| user_error(&self.name, e))
    }

    fn end_input(&mut self, _input: usize, _out: &mut Output<'_>) -> Result<(), OperatorError> {
        self.sink.finish().map_err(|e| user_error(&self.name, e))
    }

    fn process_watermark(
        &mut self,
        watermark: crate::eventtime::Timestamp,
        _out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        self.sink
            .write_watermark(watermark)
            .map_err(|e| user_error(&self.name, e))
    }

    fn initialize_state(
        &mut self,
        restored: &crate::state::RestoredState,
    ) -> Result<(), OperatorError> {
        self.sink
            .initialize_state(restored)
            .map_err(|e| user_error(&self.name, e))
    }

    fn snapshot_state(
        &mut self,
        checkpoint_id: u64,
    ) -> Result<crate::state::StateSnapshot, OperatorError> {
        let f = &mut self.sink;
        user_snapshot(&self.name, |s| f.snapshot_state(checkpoint_id, s)).map(Into::into)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        self.sink
            .notify_checkpoint_complete(checkpoint_id)
            .map_err(|e| user_error(&self.name, e))
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.sink.close().map_err(|e| user_error(&self.name, e))
    }
}

/// Prints records to standard output with `Debug`, prefixed by `N> ` (the 1-based subtask)
/// when the sink runs with parallelism above one, as Flink does.
#[derive(Clone, Default)]
pub struct PrintSink {
    prefix: String,
}

impl<T: Debug + Send + 'static> SinkFunction<T> for PrintSink {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.prefix = if ctx.parallelism > 1 {
            format!("{}> ", ctx.subtask_index + 1)
        } else {
            String::new()
        };
        Ok(())
    }

    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        let stdout = std::io::stdout();
        let mut w = stdout.lock();
        for v in values {
            writeln!(w, "{}{:?}", self.prefix, v)?;
        }
        w.flush()?;
        Ok(())
    }
}

/// Writes records as lines (with `Display`). At parallelism 1 the path is the file; above it,
/// the path is a directory holding one file per subtask, named `1`, `2`, … as in Flink.
pub struct TextFileSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    target: PathBuf,
    name: String,
}

impl Clone for TextFileSink {
    /// A copy not yet opened: each subtask opens its own file.
    fn clone(&self) -> Self {
        Self::new(self.path.clone())
    }
}

impl TextFileSink {
    /// A sink writing under `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            out: None,
            target: PathBuf::new(),
            name: "text sink".into(),
        }
    }

    fn io(&self, e: &std::io::Error) -> UserError {
        Box::new(OperatorError::io(&self.name, self.target.display(), e))
    }
}

impl<T: Display + Send + 'static> SinkFunction<T> for TextFileSink {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.name = ctx.operator_name.clone();
        self.target = if ctx.parallelism > 1 {
            std::fs::create_dir_all(&self.path).map_err(|e| {
                Box::new(OperatorError::io(&self.name, self.path.display(), &e)) as UserError
            })?;
            self.path.join((ctx.subtask_index + 1).to_string())
        } else {
            self.path.clone()
        };
        let f = File::create(&self.target).map_err(|e| self.io(&e))?;
        self.out = Some(BufWriter::with_capacity(256 * 1024, f));
        Ok(())
    }

    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        let Some(w) = self.out.as_mut() else {
            return Ok(());
        };
        let result = values.iter().try_for_each(|v| writeln!(w, "{v}"));
        result.map_err(|e| self.io(&e))
    }

    fn finish(&mut self) -> Result<(), UserError> {
        let result = self.out.as_mut().map_or(Ok(()), |w| w.flush());
        result.map_err(|e| self.io(&e))
    }
}

/// Collects every record into memory shared with the caller: for tests and examples in one
/// process. The lock is taken once per buffer.
pub struct CollectSink<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for CollectSink<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<T> Default for CollectSink<T> {
    fn default() -> Self {
        Self {
            items: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<T> CollectSink<T> {
    /// A new, empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes what has been collected so far.
    pub fn take(&self) -> Vec<T> {
        match self.items.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// How many records have been collected.
    pub fn len(&self) -> usize {
        self.items.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Whether nothing has been collected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Send + 'static> SinkFunction<T> for CollectSink<T> {
    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, mut values: Vec<T>) -> Result<(), UserError> {
        let mut v = self.items.lock().map_err(|_| "collect sink poisoned")?;
        v.append(&mut values);
        Ok(())
    }
}

/// Drops every record, counting them into a shared counter (benchmarks).
#[derive(Clone, Default)]
pub struct DiscardSink {
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl DiscardSink {
    /// A sink counting into `count`.
    pub fn counting(count: Arc<std::sync::atomic::AtomicU64>) -> Self {
        Self { count }
    }
}

impl<T: Send + 'static> SinkFunction<T> for DiscardSink {
    fn invoke(&mut self, _value: T) -> Result<(), UserError> {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        self.count
            .fetch_add(values.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
