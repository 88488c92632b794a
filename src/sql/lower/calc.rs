//! `Calc`: a run of filters and projections lowered into one chained function over each
//! row (Flink's `StreamExecCalc`), and column pruning of the scan below it.

use crate::api::{Collector, DataStream, ProcessContext, StreamEnv};
use crate::connectors;
use crate::data::UserError;
use crate::sql::expr::{compile, compile_predicate, field_path, Compiled, Predicate};
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
    let paths: Option<Vec<(usize, Vec<usize>)>> = exprs.iter().map(field_path).collect();
    match paths {
        Some(paths) => Step::Move(moves(&paths)),
        None => Step::Project(exprs.iter().map(compile).collect()),
    }
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
    let mut steps = Vec::new();
    let mut names = Vec::new();
    let mut below = plan;
    loop {
        match &below.node {
            Node::Filter { input, predicate } => {
                names.push(format!("where=[{predicate}]"));
                steps.push(Step::Filter(compile_predicate(predicate)));
                below = input;
            }
            Node::Project { input, exprs } => {
                names.push(format!(
                    "select=[{}]",
                    exprs
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                steps.push(projection(exprs));
                below = input;
            }
            _ => break,
        }
    }
    steps.reverse();
    names.reverse();
    let input = match &below.node {
        Node::Scan {
            table,
            computed,
            watermark,
        } => connectors::source(
            env,
            table,
            computed,
            watermark.as_ref(),
            required_columns(plan),
        )?,
        _ => lower(below, env)?,
    };
    // A projection that keeps every column of the node below in its order (the renaming
    // above an aggregate) is no step at all.
    let width = below.schema.len();
    if matches!(steps.as_slice(), [Step::Select(c)] if c.len() == width && c.iter().enumerate().all(|(i, c)| i == *c))
        && !matches!(below.node, Node::Scan { .. })
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
                let kind = row.kind;
                let mut values = row.values;
                for step in steps.iter() {
                    match step {
                        Step::Filter(p) => {
                            if !p(&values)? {
                                return Ok(());
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
                out.collect(Row { kind, values });
                Ok(())
            },
        )
        .name(&truncate(&name, 200)))
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
