//! Lowering a plan onto the DataStream API: scans become sources with a watermark assigner,
//! filters and projections one chained `Calc` per run of them, window aggregates keyed windows
//! with an incremental aggregate, unbounded aggregates keyed process functions with value
//! state, sinks the connectors' sinks. State goes through the job's state backend, so a SQL
//! job checkpoints, restores and rescales like any job.
//!
//! ## Errors at run time
//! An expression that fails on a row (a cast of bad text, an integer division by zero) fails
//! the job with the expression's error, as Flink does.

mod accumulate;
mod aggregate;
mod calc;
mod flat;
mod join;
mod lookup;
mod rank;
mod time_join;
mod window_tvf;

use crate::api::{DataStream, StreamEnv};
use crate::connectors;
use crate::sql::expr::compile;
use crate::sql::plan::{Node, Plan};
use crate::sql::types::{Row, Value};
use crate::sql::SqlError;

pub use accumulate::Accumulators;

/// Lowers `plan`, an `INSERT`'s plan ending in a sink, into `env`.
pub fn lower_insert(plan: &Plan, env: &StreamEnv) -> Result<(), SqlError> {
    match &plan.node {
        Node::Sink { input, table } => {
            let stream = lower(input, env)?;
            connectors::sink(env, table, &input.schema, input.mode, stream)
        }
        _ => Err(SqlError::Validation(
            "only an INSERT INTO … SELECT becomes a job".into(),
        )),
    }
}

/// Lowers a query's plan into a stream of its rows.
pub fn lower(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    match &plan.node {
        Node::Scan {
            table,
            computed,
            watermark,
        } => connectors::source(env, table, computed, watermark.as_ref(), None),
        Node::Filter { .. } | Node::Project { .. } => calc::lower_calc(plan, env),
        Node::Values { rows } => {
            let empty: [Value; 0] = [];
            let rows = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|e| compile(e)(&empty))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Row::insert)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SqlError::Type(format!("VALUES: {e}")))?;
            Ok(env.from_elements(rows).name("Values"))
        }
        Node::WindowAggregate { .. } => aggregate::lower_window_aggregate(plan, env),
        Node::Aggregate { .. } => aggregate::lower_group_aggregate(plan, env),
        Node::WindowTvf { .. } => window_tvf::lower_window_tvf(plan, env),
        Node::Join { .. } => join::lower_join(plan, env),
        Node::LookupJoin { .. } => lookup::lower_lookup_join(plan, env),
        Node::Rank { .. } => rank::lower_rank(plan, env),
        Node::Unnest { input, array } => {
            let stream = lower(input, env)?;
            let array = compile(array);
            Ok(stream
                .process(
                    move |row: Row,
                          _: &mut crate::api::ProcessContext<'_>,
                          out: &mut crate::api::Collector<'_, Row>|
                          -> Result<(), crate::data::UserError> {
                        if let Value::Array(items) = array(&row.values)? {
                            for item in items.iter() {
                                let mut values = Vec::with_capacity(row.values.len() + 1);
                                values.extend_from_slice(&row.values);
                                values.push(item.clone());
                                out.collect(Row {
                                    kind: row.kind,
                                    values,
                                });
                            }
                        }
                        Ok(())
                    },
                )
                .name("Correlate(UNNEST)"))
        }
        Node::Union { inputs } => {
            let mut streams = inputs.iter().map(|i| lower(i, env));
            let first = streams
                .next()
                .ok_or_else(|| SqlError::Validation("UNION ALL of nothing".into()))??;
            streams.try_fold(first, |acc, s| Ok(acc.union(&s?)))
        }
        Node::Sink { .. } => Err(SqlError::Validation("a sink inside a query".into())),
    }
}
