//! The `collect` sink: a query's rows kept in the TaskManager's process until the JobManager
//! fetches them for the SQL Gateway (Flink's collect sink, pulled rather than pushed).
//!
//! Each subtask of the sink appends its buffer of rows, encoded once as JSON field arrays, to
//! its job's [`Queue`] in this process. The queue is bounded in bytes ([`CAPACITY_BYTES`]):
//! a sink that finds it full waits for a fetch to make room, so a reader that is slower than
//! the query backpressures it like a slow disk, and nothing is dropped. The TaskManager
//! answers [`FetchCollected`](crate::actors::task_manager::FetchCollected) by draining the
//! queue; cancelling one of the job's subtasks closes it, so a sink waiting for room returns
//! and the cancellation can go on.
//!
//! Rows are delivered once, in each subtask's order. A subtask that runs again after a
//! failure (attempt > 0) would emit rows the reader already has, so it marks the result
//! failed instead, and the reader is told to run the query again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::SinkFunction;
use crate::data::UserError;
use crate::ids::JobId;
use crate::operators::RuntimeContext;
use crate::sql::types::{DataType, Row, RowKind};

/// Bytes of rows a job's queue holds in one process before its sinks wait.
pub const CAPACITY_BYTES: usize = 4 << 20;

/// A queue nobody appended to or fetched from for this long is dropped (its reader is gone).
const ABANDONED_AFTER: Duration = Duration::from_secs(600);

/// How long a sink waits for room before it looks again whether its queue was closed.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// A row of a query's result: its changelog kind and its fields as a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedRow {
    /// What the row is in the changelog.
    pub kind: RowKind,
    /// The fields, a JSON array in column order.
    pub fields: String,
}

/// What one fetch drained from a process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    /// The rows, oldest first.
    pub rows: Vec<CollectedRow>,
    /// Why the result cannot go on, if it cannot.
    pub failure: Option<String>,
}

#[derive(Default)]
struct State {
    rows: VecDeque<CollectedRow>,
    bytes: usize,
    closed: bool,
    failure: Option<String>,
    touched: Option<Instant>,
}

/// A job's rows in this process.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    room: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `rows`, waiting while the queue is full and open. Rows of a closed queue are
    /// dropped: its job is being cancelled.
    fn push(&self, rows: Vec<CollectedRow>) {
        let bytes: usize = rows.iter().map(|r| r.fields.len() + 1).sum();
        let mut s = self.lock();
        while !s.closed && s.bytes > 0 && s.bytes + bytes > CAPACITY_BYTES {
            s = self
                .room
                .wait_timeout(s, WAIT_SLICE)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        s.touched = Some(Instant::now());
        if !s.closed {
            s.rows.extend(rows);
            s.bytes += bytes;
        }
    }

    fn fail(&self, why: String) {
        let mut s = self.lock();
        s.failure.get_or_insert(why);
        s.closed = true;
        self.room.notify_all();
    }

    fn drain(&self, max_bytes: usize) -> Collected {
        let mut s = self.lock();
        let mut out = Collected {
            rows: Vec::new(),
            failure: s.failure.clone(),
        };
        let mut taken = 0;
        while let Some(r) = s.rows.front() {
            let size = r.fields.len() + 1;
            if !out.rows.is_empty() && taken + size > max_bytes {
                break;
            }
            taken += size;
            out.rows.extend(s.rows.pop_front());
        }
        s.bytes -= taken;
        s.touched = Some(Instant::now());
        self.room.notify_all();
        out
    }
}

static QUEUES: LazyLock<Mutex<HashMap<JobId, Arc<Queue>>>> = LazyLock::new(Default::default);

fn queues() -> MutexGuard<'static, HashMap<JobId, Arc<Queue>>> {
    QUEUES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The queue of `job` in this process, made if new; queues abandoned by their readers go.
fn queue_of(job: JobId) -> Arc<Queue> {
    let mut all = queues();
    all.retain(|_, q| {
        let s = q.lock();
        let abandoned = s.touched.is_some_and(|t| t.elapsed() > ABANDONED_AFTER);
        if abandoned {
            drop(s);
            q.fail("the result was not fetched for 10 minutes".into());
        }
        !abandoned
    });
    all.entry(job).or_default().clone()
}

/// Drains up to about `max_bytes` of `job`'s rows in this process (at least one row when
/// there is one). With `forget`, the queue goes once drained empty: the reader saw the end.
pub fn drain(job: JobId, max_bytes: usize, forget: bool) -> Collected {
    let q = queues().get(&job).cloned();
    let Some(q) = q else {
        return Collected::default();
    };
    let out = q.drain(max_bytes);
    if forget && out.rows.is_empty() {
        queues().remove(&job);
    }
    out
}

/// Closes `job`'s queue in this process, if it has one: a sink waiting for room returns and
/// later rows are dropped (one of the job's subtasks is being cancelled).
pub fn close(job: JobId) {
    if let Some(q) = queues().get(&job) {
        let mut s = q.lock();
        s.closed = true;
        q.room.notify_all();
    }
}

/// The sink: each buffer of rows encoded as JSON field arrays into its job's queue.
#[derive(Clone)]
pub struct CollectRows {
    types: Arc<[DataType]>,
    queue: Option<Arc<Queue>>,
}

impl CollectRows {
    /// A sink of rows of `types`.
    pub fn new(types: Arc<[DataType]>) -> Self {
        Self { types, queue: None }
    }
}

impl SinkFunction<Row> for CollectRows {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        let queue = queue_of(ctx.job_id);
        if ctx.attempt > 0 {
            queue.fail(format!(
                "the query's job restarted after a failure (subtask {} of '{}', attempt {}): its rows would repeat; run the query again",
                ctx.subtask_index + 1,
                ctx.operator_name,
                ctx.attempt
            ));
        }
        self.queue = Some(queue);
        Ok(())
    }

    fn invoke(&mut self, row: Row) -> Result<(), UserError> {
        self.invoke_batch(vec![row])
    }

    fn invoke_batch(&mut self, rows: Vec<Row>) -> Result<(), UserError> {
        let Some(queue) = &self.queue else {
            return Err("the collect sink was not opened".into());
        };
        let encoded = rows
            .iter()
            .map(|r| CollectedRow {
                kind: r.kind,
                fields: crate::connectors::format::json_fields(r, &self.types),
            })
            .collect();
        queue.push(encoded);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::types::Value;

    fn row(fields: &str) -> CollectedRow {
        CollectedRow {
            kind: RowKind::Insert,
            fields: fields.into(),
        }
    }

    #[test]
    fn a_full_queue_holds_its_writer_until_a_fetch_makes_room() {
        let q = Arc::new(Queue::default());
        let big = "x".repeat(CAPACITY_BYTES / 2);
        q.push(vec![row(&big), row(&big)]);
        let writer = {
            let q = q.clone();
            std::thread::spawn(move || q.push(vec![row("[1]")]))
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !writer.is_finished(),
            "the writer waits while the queue is full"
        );
        let first = q.drain(1);
        assert_eq!(first.rows.len(), 1, "at least one row, even past max_bytes");
        writer.join().expect("writer");
        let rest = q.drain(usize::MAX);
        assert_eq!(rest.rows.len(), 2);
        assert_eq!(rest.rows[1], row("[1]"));
        assert_eq!(q.lock().bytes, 0);
    }

    #[test]
    fn closing_releases_a_waiting_writer_and_drops_later_rows() {
        let q = Arc::new(Queue::default());
        q.push(vec![row(&"y".repeat(CAPACITY_BYTES))]);
        let writer = {
            let q = q.clone();
            std::thread::spawn(move || q.push(vec![row("[2]")]))
        };
        std::thread::sleep(Duration::from_millis(100));
        q.fail("gone".into());
        writer.join().expect("writer");
        let out = q.drain(usize::MAX);
        assert_eq!(
            out.rows.len(),
            1,
            "the row pushed after closing was dropped"
        );
        assert_eq!(out.failure.as_deref(), Some("gone"));
    }

    #[test]
    fn a_restarted_sink_fails_its_result_and_rows_are_json_arrays() {
        let job = JobId(0x0C01_1EC7);
        let mut sink = CollectRows::new(vec![DataType::String, DataType::BigInt].into());
        let mut ctx = RuntimeContext::standalone("Sink: collect");
        ctx.job_id = job;
        sink.open(&ctx).expect("open");
        let r = Row::insert(vec![Value::str("a\"b"), Value::Null]);
        sink.invoke_batch(vec![r]).expect("invoke");
        let out = drain(job, usize::MAX, false);
        assert_eq!(out.rows, vec![row(r#"["a\"b",null]"#)]);
        assert_eq!(out.failure, None);
        ctx.attempt = 1;
        sink.open(&ctx).expect("open again");
        let failure = drain(job, usize::MAX, true).failure.expect("failed");
        assert!(failure.contains("restarted"), "{failure}");
        assert!(
            drain(job, usize::MAX, false) == Collected::default(),
            "forgotten"
        );
    }
}
