//! Aggregates on the DataStream API: a window aggregate is `key_by(keys).window(assigner)
//! .aggregate_with(accumulators, emit)`; an unbounded `GROUP BY` is a keyed process function
//! whose value state holds the key's accumulators and which emits `+I` once, then `-U`/`+U`
//! for each change of the result (nothing when the result did not change, as Flink).

use std::sync::Arc;
use std::time::Duration;

use crate::api::{Collector, DataStream, KeyedContext, KeyedProcessFunction, StreamEnv};
use crate::data::{Key, Timestamp, UserError};
use crate::sql::lower::accumulate::{Acc, Accumulators};
use crate::sql::lower::lower;
use crate::sql::plan::{Node, Plan, WindowKind, WindowProperty};
use crate::sql::types::{Row, RowKind, Value};
use crate::sql::SqlError;
use crate::state::ValueStateDescriptor;
use crate::windowing::assigners::{Assigner, TimeWindows};
use crate::windowing::functions::WindowContext;
use crate::windowing::triggers::{EventTimeTrigger, Trigger};
use crate::windowing::{TimeWindow, WindowError};

/// A grouping key made of a row's first columns.
pub trait GroupKey: Key + Ord {
    /// The key of `row`, whose first columns are the keys.
    fn of(row: &Row, n: usize) -> Self;
    /// Appends the key's values to a result row.
    fn push_values(&self, out: &mut Vec<Value>);
}

impl GroupKey for () {
    fn of(_: &Row, _: usize) -> Self {}
    fn push_values(&self, _: &mut Vec<Value>) {}
}

impl GroupKey for Value {
    fn of(row: &Row, _: usize) -> Self {
        row.values.first().cloned().unwrap_or(Value::Null)
    }
    fn push_values(&self, out: &mut Vec<Value>) {
        out.push(self.clone());
    }
}

impl GroupKey for Vec<Value> {
    fn of(row: &Row, n: usize) -> Self {
        row.values.iter().take(n).cloned().collect()
    }
    fn push_values(&self, out: &mut Vec<Value>) {
        out.extend(self.iter().cloned());
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Lowers a window aggregate.
pub fn lower_window_aggregate(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::WindowAggregate {
        input,
        window,
        keys,
        properties,
        aggs,
        ..
    } = &plan.node
    else {
        return Err(SqlError::Validation("not a window aggregate".into()));
    };
    let stream = lower(input, env)?;
    let accs = Accumulators::new(aggs.clone());
    let name = format!("WindowAggregate(window=[{window}])");
    let n = keys.len();
    let props: Arc<[WindowProperty]> = properties.clone().into();
    Ok(match n {
        0 => windowed::<()>(stream, *window, accs, props, 0),
        1 => {
            let keyed = stream.key_by_field(|r: &Row| first(r));
            window_on(keyed, *window, accs, props)
        }
        _ => windowed::<Vec<Value>>(stream, *window, accs, props, n),
    }
    .name(&name))
}

static NULL: Value = Value::Null;

fn first(r: &Row) -> &Value {
    r.values.first().unwrap_or(&NULL)
}

fn windowed<K: GroupKey>(
    stream: DataStream<Row>,
    window: WindowKind,
    accs: Accumulators,
    props: Arc<[WindowProperty]>,
    n: usize,
) -> DataStream<Row> {
    let keyed = stream.key_by(move |r: &Row| K::of(r, n));
    window_on(keyed, window, accs, props)
}

fn window_on<K: GroupKey>(
    keyed: crate::api::KeyedStream<K, Row>,
    window: WindowKind,
    accs: Accumulators,
    props: Arc<[WindowProperty]>,
) -> DataStream<Row> {
    let emit = move |key: &K,
                     ctx: &mut WindowContext<'_, TimeWindow>,
                     results: &[Vec<Value>],
                     out: &mut Collector<'_, Row>|
          -> Result<(), UserError> {
        let w = *ctx.window();
        for aggs in results {
            let mut values = Vec::with_capacity(props.len() + aggs.len() + 2);
            key.push_values(&mut values);
            for p in props.iter() {
                values.push(Value::Timestamp(match p {
                    WindowProperty::Start => w.start,
                    WindowProperty::End => w.end,
                    WindowProperty::Time => w.max_timestamp(),
                }));
            }
            values.extend(aggs.iter().cloned());
            out.collect(Row::insert(values));
        }
        Ok(())
    };
    match window {
        WindowKind::Tumble { size, offset } => keyed
            .window(TimeWindows::tumbling_event_time_with_offset(
                millis(size),
                millis(offset),
            ))
            .aggregate_with(accs, emit),
        WindowKind::Hop {
            slide,
            size,
            offset,
        } => keyed
            .window(TimeWindows::sliding_event_time_with_offset(
                millis(size),
                millis(slide),
                millis(offset),
            ))
            .aggregate_with(accs, emit),
        WindowKind::Session { gap } => keyed
            .window(TimeWindows::event_time_session(millis(gap)))
            .aggregate_with(accs, emit),
        WindowKind::Cumulate { step, size } => keyed
            .window(Cumulative { step, size })
            .aggregate_with(accs, emit),
    }
}

/// Flink's cumulative windows: from each `size`-aligned start, windows ending every `step` up
/// to `size`; a row belongs to every one of them that ends after it.
#[derive(Debug, Clone, Copy)]
struct Cumulative {
    step: i64,
    size: i64,
}

impl Assigner<Row, TimeWindow> for Cumulative {
    fn assign(
        &self,
        _row: &Row,
        timestamp: Timestamp,
        _processing_time: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), WindowError> {
        let start = timestamp - timestamp.rem_euclid(self.size);
        let first_end = start + (timestamp - start) / self.step * self.step + self.step;
        let mut end = first_end;
        while end <= start + self.size {
            out.push(TimeWindow::new(start, end));
            end += self.step;
        }
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        true
    }

    fn default_trigger(&self) -> Arc<dyn Trigger<Row, TimeWindow>> {
        Arc::new(EventTimeTrigger)
    }
}

/// Appends the `(start, end)` of each window a timestamp falls in.
type WindowsOf = Arc<dyn Fn(i64, &mut Vec<(i64, i64)>) + Send + Sync>;

/// Lowers a window TVF that no aggregate fused with: each row once per window, the window's
/// start, end and time appended.
pub fn lower_window_tvf(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::WindowTvf { input, window, .. } = &plan.node else {
        return Err(SqlError::Validation("not a window TVF".into()));
    };
    let windows: WindowsOf = match *window {
        WindowKind::Tumble { size, offset } => Arc::new(move |t, out| {
            let s = t - (t - offset).rem_euclid(size);
            out.push((s, s + size));
        }),
        WindowKind::Hop {
            slide,
            size,
            offset,
        } => Arc::new(move |t, out| {
            let last = t - (t - offset).rem_euclid(slide);
            let mut s = last;
            while s > t - size {
                out.push((s, s + size));
                s -= slide;
            }
        }),
        WindowKind::Cumulate { step, size } => Arc::new(move |t, out| {
            let mut ws = Vec::new();
            let _ = Cumulative { step, size }.assign(&Row::default(), t, 0, &mut ws);
            out.extend(ws.into_iter().map(|w| (w.start, w.end)));
        }),
        WindowKind::Session { .. } => {
            return Err(SqlError::NotSupported(
                "a SESSION window TVF without a GROUP BY window_start, window_end".into(),
            ))
        }
    };
    let stream = lower(input, env)?;
    Ok(stream
        .process(
            move |row: Row,
                  ctx: &mut crate::api::ProcessContext<'_>,
                  out: &mut Collector<'_, Row>|
                  -> Result<(), UserError> {
                let Some(t) = ctx.timestamp() else {
                    return Ok(());
                };
                let mut ws = Vec::with_capacity(4);
                windows(t, &mut ws);
                for (s, e) in ws {
                    let mut values = Vec::with_capacity(row.values.len() + 3);
                    values.extend_from_slice(&row.values);
                    values.push(Value::Timestamp(s));
                    values.push(Value::Timestamp(e));
                    values.push(Value::Timestamp(e - 1));
                    out.collect(Row {
                        kind: row.kind,
                        values,
                    });
                }
                Ok(())
            },
        )
        .name(&format!("WindowTableFunction(window=[{window}])")))
}

/// Lowers an unbounded `GROUP BY`.
pub fn lower_group_aggregate(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::Aggregate { input, keys, aggs } = &plan.node else {
        return Err(SqlError::Validation("not an aggregate".into()));
    };
    let stream = lower(input, env)?;
    let accs = Accumulators::new(aggs.clone());
    let n = keys.len();
    let name = format!(
        "GroupAggregate(groupBy=[{n} keys], select=[{} aggregates])",
        aggs.len()
    );
    Ok(match n {
        0 => group::<()>(stream, accs, n),
        1 => group::<Value>(stream, accs, n),
        _ => group::<Vec<Value>>(stream, accs, n),
    }
    .name(&name))
}

fn group<K: GroupKey>(stream: DataStream<Row>, accs: Accumulators, n: usize) -> DataStream<Row> {
    stream
        .key_by(move |r: &Row| K::of(r, n))
        .process_keyed(GroupAggregate {
            accs,
            state: ValueStateDescriptor::new("sql-group-aggregate"),
        })
}

/// The keyed function of an unbounded `GROUP BY`.
#[derive(Clone)]
struct GroupAggregate {
    accs: Accumulators,
    state: ValueStateDescriptor<Vec<Acc>>,
}

impl<K: GroupKey> KeyedProcessFunction<K, Row, Row> for GroupAggregate {
    fn process_element(
        &mut self,
        row: Row,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        if !row.kind.is_addition() {
            return Err("GroupAggregate received a retraction: aggregating an updating input is not supported".into());
        }
        let key = ctx.current_key().clone();
        let mut state = ctx.value_state(&self.state)?;
        let previous = state.value()?;
        let mut accs = previous.clone().unwrap_or_else(|| self.accs.create());
        self.accs.add(&row.values, &mut accs);
        let result = |a: &[Acc]| {
            let mut values = Vec::new();
            key.push_values(&mut values);
            values.extend(self.accs.results(a));
            values
        };
        let new = result(&accs);
        match previous {
            None => out.collect(Row::insert(new)),
            Some(prev) => {
                let old = result(&prev);
                if old != new {
                    out.collect(Row {
                        kind: RowKind::UpdateBefore,
                        values: old,
                    });
                    out.collect(Row {
                        kind: RowKind::UpdateAfter,
                        values: new,
                    });
                }
            }
        }
        state.update(accs)?;
        Ok(())
    }
}
