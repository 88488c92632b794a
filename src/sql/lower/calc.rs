//! `Calc`: a run of filters and projections lowered into one chained function over each
//! row (Flink's `StreamExecCalc`), and column pruning of the scan below it.

use crate::api::{Collector, DataStream, ProcessContext, StreamEnv};
use crate::connectors;
use crate::data::UserError;
use crate::sql::expr::{compile, compile_predicate, field_path, Compiled, Predicate};
use crate::sql::functions::EvalError;
use crate::sql::lower::flat::{flatten, merge_projections, steps_of, Planned};
use crate::sql::lower::lower;
use crate::sql::plan::{Node, Plan};
use crate::sql::rules::required_columns;
use crate::sql::types::{Row, Value};
use crate::sql::SqlError;
use std::sync::Arc;

enum Step {
    Filter(Predicate),
    Project(Vec<Compiled>),
    /// A projection that keeps some columns in their order: done in place, without a new row
    /// or a clone of any value.
    Select(Vec<usize>),
    /// A projection of columns and fields of `ROW` columns (`bid.price`): each value is moved
    /// out of the row where nothing after reads it and the `ROW` is not shared, else cloned.
    Move(Vec<Take>),
    /// A projection of computed values and columns: the values are computed first, then the
    /// columns moved as in [`Step::Move`] (where no computed value reads them).
    Mixed(Vec<Out>),
    /// A projection of computed values and columns where each column stays where it is
    /// (`a, b, 0.908 * c, d`): the values are computed and written over the row in place, the
    /// row cut to `width`. No computed value reads a place an earlier one was written to.
    InPlace {
        computed: Vec<(usize, Compiled)>,
        width: usize,
    },
}

/// One value of a [`Step::Move`]: `column.path…`, moved out if `last`.
struct Take {
    column: usize,
    path: Vec<usize>,
    last: bool,
}

/// The step of a projection: in place when it only keeps columns in their order.
fn projection(exprs: &[crate::sql::expr::Expr]) -> Step {
    match selected_columns(exprs) {
        Some(c) if c.windows(2).all(|w| w[0] < w[1]) => return Step::Select(c),
        _ => {}
    }
    let paths: Vec<Option<(usize, Vec<usize>)>> = exprs.iter().map(field_path).collect();
    if paths.iter().all(Option::is_some) {
        return Step::Move(moves(&paths.into_iter().flatten().collect::<Vec<_>>()));
    }
    if paths.iter().all(Option::is_none) {
        return Step::Project(exprs.iter().map(compile).collect());
    }
    // Columns and fields among computed values: moved where nothing else reads them.
    let mut computed_reads = Vec::new();
    for (e, p) in exprs.iter().zip(&paths) {
        if p.is_none() {
            e.columns(&mut computed_reads);
        }
    }
    if let Some(step) = in_place(exprs, &paths) {
        return step;
    }
    let mut takes = moves(&paths.iter().flatten().cloned().collect::<Vec<_>>()).into_iter();
    let outs = exprs
        .iter()
        .zip(&paths)
        .map(|(e, p)| match p.as_ref().and_then(|_| takes.next()) {
            Some(mut t) => {
                t.last &= !computed_reads.contains(&t.column);
                Out::Take(t)
            }
            None => Out::Compute(compile(e)),
        })
        .collect();
    Step::Mixed(outs)
}

/// The [`Step::InPlace`] of a projection, if each column it keeps stays where it is and no
/// computed value reads a place an earlier one is written to.
fn in_place(
    exprs: &[crate::sql::expr::Expr],
    paths: &[Option<(usize, Vec<usize>)>],
) -> Option<Step> {
    let mut computed = Vec::new();
    let mut written = Vec::new();
    for (pos, (e, p)) in exprs.iter().zip(paths).enumerate() {
        match p {
            Some((column, path)) if *column == pos && path.is_empty() => {}
            Some(_) => return None,
            None => {
                let mut reads = Vec::new();
                e.columns(&mut reads);
                if reads.iter().any(|c| written.contains(c)) {
                    return None;
                }
                written.push(pos);
                computed.push((pos, compile(e)));
            }
        }
    }
    Some(Step::InPlace {
        computed,
        width: exprs.len(),
    })
}

/// One value of a [`Step::Mixed`].
enum Out {
    Take(Take),
    Compute(Compiled),
}

/// The takes of a projection of `paths` (column, fields): a value may move if no later one
/// reads it, a part of it, or a value it is part of.
fn moves(paths: &[(usize, Vec<usize>)]) -> Vec<Take> {
    let overlap = |a: &(usize, Vec<usize>), b: &(usize, Vec<usize>)| {
        a.0 == b.0 && a.1.iter().zip(&b.1).all(|(x, y)| x == y)
    };
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| Take {
            column: p.0,
            path: p.1.clone(),
            last: !paths[i + 1..].iter().any(|q| overlap(p, q)),
        })
        .collect()
}

/// `value.path…`: moved out where `take` holds and each `ROW` on the way is not shared.
fn take_path(v: &mut Value, path: &[usize], take: bool) -> Value {
    let Some((i, rest)) = path.split_first() else {
        return if take { std::mem::take(v) } else { v.clone() };
    };
    let Value::Row(fields) = v else {
        return Value::Null;
    };
    if take {
        if let Some(fields) = Arc::get_mut(fields) {
            return fields
                .get_mut(*i)
                .map_or(Value::Null, |f| take_path(f, rest, true));
        }
    }
    let mut v = fields.get(*i).cloned().unwrap_or(Value::Null);
    take_path(&mut v, rest, true)
}

/// The rows of `plan` for a consumer that reads its input's columns by index: a projection
/// that only selects columns of a scan is not run; the scan's rows come with the columns the
/// consumer's input columns are (the consumer reads through them, one chained step fewer).
pub fn lower_selected(
    plan: &Plan,
    env: &StreamEnv,
) -> Result<(DataStream<Row>, Option<Vec<usize>>), SqlError> {
    if let Node::Project { input, exprs } = &plan.node {
        if let Node::Scan {
            table,
            computed,
            watermark,
        } = &input.node
        {
            if let Some(columns) = selected_columns(exprs) {
                let needed = required_columns(plan);
                let rows = connectors::source(env, table, computed, watermark.as_ref(), needed)?;
                return Ok((rows, Some(columns)));
            }
        }
    }
    Ok((lower(plan, env)?, None))
}

fn selected_columns(exprs: &[crate::sql::expr::Expr]) -> Option<Vec<usize>> {
    exprs
        .iter()
        .map(|e| match e {
            crate::sql::expr::Expr::Column { index, .. } => Some(*index),
            _ => None,
        })
        .collect()
}

/// Lowers the filters and projections from `plan` down to the first other node.
pub fn lower_calc(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let (planned, names, below) = steps_of(plan);
    let planned = merge_projections(planned);
    // The width of the rows below, where a projection that keeps them all in order does
    // nothing: not a scan's, whose rows are the table's, but a flat scan's, whose rows are
    // what the calc reads.
    let (input, planned, width) = match &below.node {
        Node::Scan {
            table,
            computed,
            watermark,
        } => match flatten(table, computed, watermark.as_ref(), &planned) {
            Some((scan, flat)) => {
                let width = scan.width;
                (
                    connectors::flat_source(env, table, scan)?,
                    flat,
                    Some(width),
                )
            }
            None => {
                let needed = required_columns(plan);
                let rows = connectors::source(env, table, computed, watermark.as_ref(), needed)?;
                (rows, planned, None)
            }
        },
        _ => (lower(below, env)?, planned, Some(below.schema.len())),
    };
    let steps: Vec<Step> = planned
        .iter()
        .map(|p| match p {
            Planned::Filter(p) => Step::Filter(compile_predicate(p)),
            Planned::Project(es) => projection(es),
        })
        .collect();
    // A projection that keeps every column of the rows below in its order (the renaming
    // above an aggregate, a flat scan of just the fields a query selects) is no step at all.
    if matches!((steps.as_slice(), width), ([Step::Select(c)], Some(width)) if c.len() == width && c.iter().enumerate().all(|(i, c)| i == *c))
    {
        return Ok(input);
    }
    let name = format!("Calc({})", names.join(", "));
    let steps = std::sync::Arc::new(steps);
    Ok(input
        .process(
            move |row: Row,
                  _: &mut ProcessContext<'_>,
                  out: &mut Collector<'_, Row>|
                  -> Result<(), UserError> {
                if let Some(values) = apply(&steps, row.values)? {
                    out.collect(Row {
                        kind: row.kind,
                        values,
                    });
                }
                Ok(())
            },
        )
        .name(&truncate(&name, 200)))
}

/// The steps over one row's values: `None` where a filter drops it.
fn apply(steps: &[Step], mut values: Vec<Value>) -> Result<Option<Vec<Value>>, EvalError> {
    for step in steps.iter() {
        match step {
            Step::Filter(p) => {
                if !p(&values)? {
                    return Ok(None);
                }
            }
            Step::Project(cs) => {
                let mut next = Vec::with_capacity(cs.len());
                for c in cs {
                    next.push(c(&values)?);
                }
                values = next;
            }
            Step::Move(takes) => {
                let next = takes
                    .iter()
                    .map(|t| match values.get_mut(t.column) {
                        Some(v) => take_path(v, &t.path, t.last),
                        None => Value::Null,
                    })
                    .collect();
                values = next;
            }
            Step::Mixed(outs) => {
                let mut next = Vec::with_capacity(outs.len());
                for o in outs {
                    next.push(match o {
                        Out::Compute(c) => c(&values)?,
                        Out::Take(_) => Value::Null,
                    });
                }
                for (slot, o) in next.iter_mut().zip(outs) {
                    if let Out::Take(t) = o {
                        if let Some(v) = values.get_mut(t.column) {
                            *slot = take_path(v, &t.path, t.last);
                        }
                    }
                }
                values = next;
            }
            Step::InPlace { computed, width } => {
                if values.len() < *width {
                    values.resize_with(*width, || Value::Null);
                }
                for (pos, c) in computed {
                    let v = c(&values)?;
                    if let Some(slot) = values.get_mut(*pos) {
                        *slot = v;
                    }
                }
                values.truncate(*width);
            }
            Step::Select(columns) => {
                // Columns only move forward (they are increasing), so each swap
                // brings a kept value to its place past the ones already placed.
                for (to, from) in columns.iter().enumerate() {
                    if *from != to && *from < values.len() {
                        values.swap(to, *from);
                    }
                }
                values.truncate(columns.len());
            }
        }
    }
    Ok(Some(values))
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(vs: Vec<Value>) -> Value {
        Value::Row(vs.into())
    }

    #[test]
    fn a_projection_moves_fields_nothing_later_reads_and_clones_the_rest() {
        // [c0.1, c0, c1, c0.0, c0.0]: c0.1 is read again (as part of c0), c0.0 twice.
        let takes = moves(&[
            (0, vec![1]),
            (0, vec![]),
            (1, vec![]),
            (0, vec![0]),
            (0, vec![0]),
        ]);
        let last: Vec<bool> = takes.iter().map(|t| t.last).collect();
        assert_eq!(last, [false, false, true, false, true]);
        let mut values = [row(vec![Value::Int(1), Value::str("x")]), Value::Int(7)];
        let out: Vec<Value> = takes
            .iter()
            .map(|t| take_path(&mut values[t.column], &t.path, t.last))
            .collect();
        assert_eq!(out[0], Value::str("x"));
        assert_eq!(out[1], row(vec![Value::Int(1), Value::str("x")]));
        assert_eq!(out[2], Value::Int(7));
        assert_eq!((&out[3], &out[4]), (&Value::Int(1), &Value::Int(1)));
        // The output shares the row, so the last take of c0.0 cloned it.
        assert_eq!(values[0], out[1]);
    }

    #[test]
    fn a_projection_of_computed_values_moves_the_columns_no_computation_reads() {
        use crate::sql::expr::Expr;
        use crate::sql::types::DataType;
        let c = |i: usize, t: DataType| Expr::column(i, &format!("c{i}"), t);
        let plus_one = Expr::Arith(
            crate::sql::functions::ArithOp::Add,
            Box::new(c(0, DataType::BigInt)),
            Box::new(Expr::Literal(Value::Int(1), DataType::BigInt)),
            DataType::BigInt,
        );
        // [c0 + 1, c1, c0]: c1 moves, c0 is read by the sum and cloned.
        let step = projection(&[plus_one, c(1, DataType::String), c(0, DataType::BigInt)]);
        let Step::Mixed(outs) = &step else {
            panic!("a mixed projection");
        };
        let lasts: Vec<Option<bool>> = outs
            .iter()
            .map(|o| match o {
                Out::Take(t) => Some(t.last),
                Out::Compute(_) => None,
            })
            .collect();
        assert_eq!(lasts, [None, Some(true), Some(false)]);
        let long = Value::str("a string longer than twenty-three bytes");
        let out = apply(&[step], vec![Value::Int(41), long.clone()]).expect("no error");
        assert_eq!(out, Some(vec![Value::Int(42), long, Value::Int(41)]));
    }

    #[test]
    fn a_projection_that_keeps_its_columns_in_place_computes_over_the_row() {
        use crate::sql::expr::Expr;
        use crate::sql::types::DataType;
        let c = |i: usize| Expr::column(i, &format!("c{i}"), DataType::BigInt);
        let plus = |e: Expr, k: i64| {
            Expr::Arith(
                crate::sql::functions::ArithOp::Add,
                Box::new(e),
                Box::new(Expr::Literal(Value::Int(k), DataType::BigInt)),
                DataType::BigInt,
            )
        };
        // [c0, c1 + 1, c2 + c1]: c1 is read after its place is written, so not in place.
        let sum = Expr::Arith(
            crate::sql::functions::ArithOp::Add,
            Box::new(c(2)),
            Box::new(c(1)),
            DataType::BigInt,
        );
        let step = projection(&[c(0), plus(c(1), 1), sum]);
        assert!(matches!(step, Step::Mixed(_)));
        // [c0, c1 + 10, c2, c0 + 100] over four columns: in place, the fourth written.
        let step = projection(&[c(0), plus(c(1), 10), c(2), plus(c(0), 100)]);
        assert!(matches!(step, Step::InPlace { width: 4, .. }));
        let long = Value::str("a string longer than twenty-three bytes");
        let out = apply(
            &[step],
            vec![
                Value::Int(1),
                Value::Int(2),
                long.clone(),
                Value::Int(4),
                Value::Int(5),
            ],
        )
        .expect("no error");
        assert_eq!(
            out,
            Some(vec![Value::Int(1), Value::Int(12), long, Value::Int(101)])
        );
    }

    #[test]
    fn a_shared_row_is_read_not_moved() {
        let shared = row(vec![
            Value::str("a long string, longer than inline"),
            Value::Int(2),
        ]);
        let mut values = [shared.clone()];
        let v = take_path(&mut values[0], &[0], true);
        assert_eq!(v, Value::str("a long string, longer than inline"));
        assert_eq!(values[0], shared, "the other holder's row is untouched");
        let mut own = [row(vec![Value::Int(5), Value::Int(6)])];
        assert_eq!(take_path(&mut own[0], &[1], true), Value::Int(6));
        assert_eq!(own[0], row(vec![Value::Int(5), Value::Null]), "moved out");
        assert_eq!(take_path(&mut Value::Int(3), &[0], true), Value::Null);
    }
}
