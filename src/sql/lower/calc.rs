//! `Calc`: a run of filters and projections lowered into one chained function over each
//! row (Flink's `StreamExecCalc`), and column pruning of the scan below it.

use crate::api::{Collector, DataStream, ProcessContext, StreamEnv};
use crate::connectors;
use crate::data::UserError;
use crate::sql::expr::{compile, compile_predicate, Compiled, Predicate};
use crate::sql::lower::lower;
use crate::sql::plan::{Node, Plan};
use crate::sql::rules::required_columns;
use crate::sql::types::Row;
use crate::sql::SqlError;

enum Step {
    Filter(Predicate),
    Project(Vec<Compiled>),
    /// A projection that keeps some columns in their order: done in place, without a new row
    /// or a clone of any value.
    Select(Vec<usize>),
}

/// The step of a projection: in place when it only keeps columns in their order.
fn projection(exprs: &[crate::sql::expr::Expr]) -> Step {
    match selected_columns(exprs) {
        Some(c) if c.windows(2).all(|w| w[0] < w[1]) => Step::Select(c),
        _ => Step::Project(exprs.iter().map(compile).collect()),
    }
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
