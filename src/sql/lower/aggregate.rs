//! Aggregates on the DataStream API: a window aggregate is `key_by(keys).window(assigner)
//! .aggregate_with(accumulators, emit)`; an unbounded `GROUP BY` is a keyed process function
//! whose value state holds the key's accumulators and which emits `+I` once, then `-U`/`+U`
//! for each change of the result (nothing when the result did not change, as Flink). In two
//! phases, a chained local operator first folds each buffer per key into [`Partial`]s, which
//! the keyed function merges.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::api::{Collector, DataStream, KeyedContext, KeyedProcessFunction, StreamEnv};
use crate::data::{Batch, Key, OperatorError, Timestamp, UserError};
use crate::operators::{Operator, Output};
use crate::sql::lower::accumulate::{Acc, Accumulators};
use crate::sql::lower::calc::lower_selected;
use crate::sql::lower::lower;
use crate::sql::plan::{AggCall, ChangelogMode, Node, Plan, WindowKind, WindowProperty};
use crate::sql::types::{Row, RowKind, Value};
use crate::sql::SqlError;
use crate::state::ValueStateDescriptor;
use crate::windowing::assigners::{Assigner, TimeWindows};
use crate::windowing::functions::WindowContext;
use crate::windowing::triggers::{EventTimeTrigger, ProcessingTimeTrigger, TimeDomain, Trigger};
use crate::windowing::{TimeWindow, WindowError};

/// A grouping key made of some of a row's columns.
pub trait GroupKey: Key + Ord {
    /// The key of `row`: its columns `cols`.
    fn of(row: &Row, cols: &[usize]) -> Self;
    /// The key made of `values` (the key columns).
    fn of_values(values: &[Value]) -> Self;
    /// Appends the key's values to a result row.
    fn push_values(&self, out: &mut Vec<Value>);
}

fn column(row: &Row, i: usize) -> Value {
    row.values.get(i).cloned().unwrap_or(Value::Null)
}

impl GroupKey for () {
    fn of(_: &Row, _: &[usize]) -> Self {}
    fn of_values(_: &[Value]) -> Self {}
    fn push_values(&self, _: &mut Vec<Value>) {}
}

impl GroupKey for Value {
    fn of(row: &Row, cols: &[usize]) -> Self {
        cols.first().map_or(Value::Null, |i| column(row, *i))
    }
    fn of_values(values: &[Value]) -> Self {
        values.first().cloned().unwrap_or(Value::Null)
    }
    fn push_values(&self, out: &mut Vec<Value>) {
        out.push(self.clone());
    }
}

impl GroupKey for Vec<Value> {
    fn of(row: &Row, cols: &[usize]) -> Self {
        cols.iter().map(|i| column(row, *i)).collect()
    }
    fn of_values(values: &[Value]) -> Self {
        values.to_vec()
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
        proctime,
        ..
    } = &plan.node
    else {
        return Err(SqlError::Validation("not a window aggregate".into()));
    };
    let window = &Windows {
        kind: *window,
        proctime: *proctime,
    };
    let (stream, selected) = lower_selected(input, env)?;
    let (keys, accs) = through_selection(keys, aggs, selected.as_deref(), false);
    let name = format!("WindowAggregate(window=[{}])", window.kind);
    let props: Arc<[WindowProperty]> = properties.clone().into();
    Ok(match keys.as_slice() {
        [] => windowed::<()>(stream, *window, accs, props, keys),
        [k] => {
            let k = *k;
            let keyed = stream.key_by_field(move |r: &Row| r.values.get(k).unwrap_or(&NULL));
            window_on(keyed, *window, accs, props)
        }
        _ => windowed::<Vec<Value>>(stream, *window, accs, props, keys),
    }
    .name(&name))
}

/// The key columns and accumulators of an aggregate whose input columns are `selected`
/// columns of the stream it reads (see [`lower_selected`]).
fn through_selection(
    keys: &[usize],
    aggs: &[AggCall],
    selected: Option<&[usize]>,
    retracting: bool,
) -> (Vec<usize>, Accumulators) {
    let map = |i: usize| selected.and_then(|s| s.get(i).copied()).unwrap_or(i);
    let keys = keys.iter().map(|k| map(*k)).collect();
    let aggs = aggs
        .iter()
        .map(|a| AggCall {
            arg: a.arg.map(map),
            filter: a.filter.map(map),
            ..a.clone()
        })
        .collect();
    let accs = if retracting {
        Accumulators::retracting(aggs)
    } else {
        Accumulators::new(aggs)
    };
    (keys, accs)
}

static NULL: Value = Value::Null;

/// A window aggregate's windows: their kind, in event time or in processing time.
#[derive(Debug, Clone, Copy)]
struct Windows {
    kind: WindowKind,
    proctime: bool,
}

fn windowed<K: GroupKey>(
    stream: DataStream<Row>,
    window: Windows,
    accs: Accumulators,
    props: Arc<[WindowProperty]>,
    keys: Vec<usize>,
) -> DataStream<Row> {
    let keyed = stream.key_by(move |r: &Row| K::of(r, &keys));
    window_on(keyed, window, accs, props)
}

fn window_on<K: GroupKey>(
    keyed: crate::api::KeyedStream<K, Row>,
    window: Windows,
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
    let domain = if window.proctime {
        TimeDomain::ProcessingTime
    } else {
        TimeDomain::EventTime
    };
    match window.kind {
        WindowKind::Tumble { size, offset } => keyed
            .window(TimeWindows::tumbling_with_offset(
                millis(size),
                millis(offset),
                domain,
            ))
            .aggregate_with(accs, emit),
        WindowKind::Hop {
            slide,
            size,
            offset,
        } => keyed
            .window(TimeWindows::sliding_with_offset(
                millis(size),
                millis(slide),
                millis(offset),
                domain,
            ))
            .aggregate_with(accs, emit),
        WindowKind::Session { gap } => keyed
            .window(TimeWindows::session(millis(gap), domain))
            .aggregate_with(accs, emit),
        WindowKind::Cumulate { step, size } => keyed
            .window(Cumulative {
                step,
                size,
                proctime: window.proctime,
            })
            .aggregate_with(accs, emit),
    }
}

/// Flink's cumulative windows: from each `size`-aligned start, windows ending every `step` up
/// to `size`; a row belongs to every one of them that ends after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cumulative {
    pub(super) step: i64,
    pub(super) size: i64,
    /// In processing time rather than event time.
    pub(super) proctime: bool,
}

impl Assigner<Row, TimeWindow> for Cumulative {
    fn assign(
        &self,
        _row: &Row,
        timestamp: Timestamp,
        processing_time: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), WindowError> {
        let timestamp = if self.proctime {
            processing_time
        } else {
            timestamp
        };
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
        !self.proctime
    }

    fn default_trigger(&self) -> Arc<dyn Trigger<Row, TimeWindow>> {
        if self.proctime {
            Arc::new(ProcessingTimeTrigger)
        } else {
            Arc::new(EventTimeTrigger)
        }
    }
}

/// Lowers an unbounded `GROUP BY`, in one phase or two.
pub fn lower_group_aggregate(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::Aggregate {
        input,
        keys,
        aggs,
        two_phase,
        state_ttl_ms,
    } = &plan.node
    else {
        return Err(SqlError::Validation("not an aggregate".into()));
    };
    let n = keys.len();
    // Over an updating input rows are also retracted: one phase (a partial cannot carry
    // retractions) with retractable accumulators.
    let retracting = input.mode != ChangelogMode::Append;
    let two_phase = *two_phase && !retracting;
    // The local phase reads its keys as the first columns: only one phase reads through a
    // selection.
    let (stream, selected) = if two_phase {
        (lower(input, env)?, None)
    } else {
        lower_selected(input, env)?
    };
    let (cols, accs) = through_selection(keys, aggs, selected.as_deref(), retracting);
    let name = format!(
        "{}GroupAggregate(groupBy=[{n} keys], select=[{} aggregates])",
        if two_phase { "Global" } else { "" },
        aggs.len()
    );
    let out = match (n, two_phase) {
        (0, false) => group::<()>(stream, accs, cols, *state_ttl_ms),
        (1, false) => group::<Value>(stream, accs, cols, *state_ttl_ms),
        (_, false) => group::<Vec<Value>>(stream, accs, cols, *state_ttl_ms),
        (_, true) => {
            let local = accs.clone();
            let partials = stream.transform(
                &format!(
                    "LocalGroupAggregate(groupBy=[{n} keys], select=[{} aggregates])",
                    aggs.len()
                ),
                move |_| Box::new(LocalAggregate::new(local.clone(), n)),
            );
            match n {
                0 => global::<()>(partials, accs, *state_ttl_ms),
                1 => global::<Value>(partials, accs, *state_ttl_ms),
                _ => global::<Vec<Value>>(partials, accs, *state_ttl_ms),
            }
        }
    };
    Ok(out.name(&name))
}

/// A state descriptor named `name`, its values expiring `ttl_ms` after their last write.
pub fn sql_state<T: crate::data::Data>(name: &str, ttl_ms: Option<u64>) -> ValueStateDescriptor<T> {
    let d = ValueStateDescriptor::new(name);
    match ttl_ms {
        Some(ms) => d.with_ttl(crate::state::StateTtlConfig::new(Duration::from_millis(ms))),
        None => d,
    }
}

fn group<K: GroupKey>(
    stream: DataStream<Row>,
    accs: Accumulators,
    cols: Vec<usize>,
    ttl_ms: Option<u64>,
) -> DataStream<Row> {
    stream
        .key_by(move |r: &Row| K::of(r, &cols))
        .process_keyed(GroupAggregate {
            accs,
            state: sql_state("sql-group-aggregate", ttl_ms),
        })
}

fn global<K: GroupKey>(
    partials: DataStream<Partial>,
    accs: Accumulators,
    ttl_ms: Option<u64>,
) -> DataStream<Row> {
    partials
        .key_by(|p: &Partial| K::of_values(&p.key))
        .process_keyed(GroupAggregate {
            accs,
            state: sql_state("sql-group-aggregate", ttl_ms),
        })
}

/// A key's accumulators over part of a buffer, from the local phase to the global one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    /// The key's values.
    pub key: Vec<Value>,
    /// Its accumulators over the buffer's rows of that key.
    pub accs: Vec<Acc>,
}

/// The local phase: folds each buffer's rows per key and emits one [`Partial`] per key at the
/// buffer's end. It holds nothing between buffers, so it has no state to checkpoint.
struct LocalAggregate {
    accs: Accumulators,
    keys: usize,
    groups: HashMap<Vec<Value>, Vec<Acc>>,
}

impl LocalAggregate {
    fn new(accs: Accumulators, keys: usize) -> Self {
        Self {
            accs,
            keys,
            groups: HashMap::new(),
        }
    }
}

impl Operator for LocalAggregate {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        for row in batch.downcast::<Row>()? {
            if !row.kind.is_addition() {
                let e: UserError =
                    "received a retraction: aggregating an updating input is not supported".into();
                return Err(OperatorError::user("LocalGroupAggregate", &e));
            }
            let n = self.keys.min(row.values.len());
            let accs = match self.groups.get_mut(&row.values[..n]) {
                Some(a) => a,
                None => self
                    .groups
                    .entry(row.values[..n].to_vec())
                    .or_insert_with(|| self.accs.create()),
            };
            self.accs.add(&row.values, accs);
        }
        let partials: Vec<Partial> = self
            .groups
            .drain()
            .map(|(key, accs)| Partial { key, accs })
            .collect();
        if partials.is_empty() {
            return Ok(());
        }
        out.emit(Batch::new(partials))
    }
}

/// A value merged into a key's accumulators: a row (one phase) or a partial (two).
trait Contribution: Send + 'static {
    fn merge_into(self, accs: &Accumulators, into: &mut Vec<Acc>) -> Result<(), UserError>;
    /// A `-U` or `-D` row.
    fn is_retraction(&self) -> bool;
}

impl Contribution for Row {
    fn merge_into(self, accs: &Accumulators, into: &mut Vec<Acc>) -> Result<(), UserError> {
        if self.kind.is_addition() {
            accs.add(&self.values, into);
        } else {
            accs.retract(&self.values, into);
        }
        Ok(())
    }

    fn is_retraction(&self) -> bool {
        !self.kind.is_addition()
    }
}

impl Contribution for Partial {
    fn merge_into(self, accs: &Accumulators, into: &mut Vec<Acc>) -> Result<(), UserError> {
        accs.merge(into, self.accs);
        Ok(())
    }

    fn is_retraction(&self) -> bool {
        false
    }
}

/// The keyed function of an unbounded `GROUP BY` (its global phase, in two).
#[derive(Clone)]
struct GroupAggregate {
    accs: Accumulators,
    state: ValueStateDescriptor<Vec<Acc>>,
}

impl<K: GroupKey, I: Contribution> KeyedProcessFunction<K, I, Row> for GroupAggregate {
    fn process_element(
        &mut self,
        input: I,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        let key = ctx.current_key().clone();
        let mut state = ctx.value_state(&self.state)?;
        let result = |a: &[Acc]| {
            let mut values = Vec::new();
            key.push_values(&mut values);
            values.extend(self.accs.results(a));
            values
        };
        // The accumulators are moved out of the state and back (a DISTINCT's set can be large:
        // never copied per row), and the previous result read before they change.
        let (mut accs, previous) = match state.take()? {
            Some(accs) => {
                let old = result(&accs);
                (accs, Some(old))
            }
            // A retraction for a group with no state: its state expired (`table.exec.state.ttl`)
            // and its rows are gone already; ignored, as Flink does.
            None if input.is_retraction() => return Ok(()),
            None => (self.accs.create(), None),
        };
        input.merge_into(&self.accs, &mut accs)?;
        if self.accs.is_empty_group(&accs) {
            // The group's last row was retracted: so is its result.
            if let Some(old) = previous {
                out.collect(Row {
                    kind: RowKind::Delete,
                    values: old,
                });
            }
            state.clear()?;
            return Ok(());
        }
        let new = result(&accs);
        match previous {
            None => out.collect(Row::insert(new)),
            Some(old) => {
                // Nothing changed: nothing emitted (as Flink).
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
