//! `EXPLAIN`'s text of a plan: Flink's tree of optimized physical nodes, one a line with its
//! changelog mode.

use std::fmt::Write;

use crate::sql::expr::Expr;
use crate::sql::plan::{AggCall, JoinTime, Node, Plan};
use crate::sql::types::Schema;

impl Plan {
    /// The plan as indented text, one node a line with its changelog mode (what `EXPLAIN`
    /// prints).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        self.explain_into(&mut out, 0);
        out
    }

    fn explain_into(&self, out: &mut String, depth: usize) {
        let names = |s: &Schema| s.names();
        let list = |es: &[Expr]| {
            es.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let cols = |cs: &[usize]| {
            cs.iter()
                .map(|c| format!("${c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let aggs = |a: &[AggCall]| {
            a.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = match &self.node {
            Node::Scan {
                table, watermark, ..
            } => {
                let mut s = format!(
                    "TableSourceScan(table=[{}], fields=[{}]",
                    table.name,
                    names(&self.schema)
                );
                if let Some((c, e)) = watermark {
                    let _ = write!(s, ", watermark=[{} := {e}]", self.schema.fields[*c].name);
                }
                s + ")"
            }
            Node::Values { rows } => format!("Values(rows=[{}])", rows.len()),
            Node::Filter { predicate, .. } => format!("Calc(where=[{predicate}])"),
            Node::Project { exprs, .. } => {
                format!("Calc(select=[{}])", list(exprs))
            }
            Node::WindowTvf {
                window, time_col, ..
            } => {
                format!("WindowTableFunction(window=[{window}], time_col=[${time_col}])")
            }
            Node::WindowAggregate {
                window,
                keys,
                aggs: a,
                ..
            } => format!(
                "WindowAggregate(groupBy=[{}], window=[{window}], select=[{}])",
                cols(keys),
                aggs(a)
            ),
            Node::Aggregate { keys, aggs: a, .. } => {
                format!(
                    "GroupAggregate(groupBy=[{}], select=[{}])",
                    cols(keys),
                    aggs(a)
                )
            }
            Node::Unnest { array, .. } => format!("Correlate(UNNEST({array}))"),
            Node::Rank {
                partition_by,
                order_by,
                limit,
                ..
            } => format!(
                "Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={}], partitionBy=[{}], orderBy=[{}])",
                limit.map_or_else(|| "?".to_string(), |l| l.to_string()),
                cols(partition_by),
                order_by
                    .iter()
                    .map(|(c, d)| format!("${c} {}", if *d { "DESC" } else { "ASC" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Node::Join {
                kind,
                left_keys,
                right_keys,
                condition,
                time,
                ..
            } => {
                let nl = self.inputs().first().map_or(0, |l| l.schema.len());
                let right: Vec<usize> = right_keys.iter().map(|k| k + nl).collect();
                let (name, bounds) = match time {
                    None => ("Join", String::new()),
                    Some(JoinTime::Window { .. }) => ("WindowJoin", String::new()),
                    Some(JoinTime::Interval {
                        left_time,
                        right_time,
                        lower,
                        upper,
                    }) => (
                        "IntervalJoin",
                        format!(
                            ", windowBounds=[isRowTime=true, leftLowerBound={lower}, leftUpperBound={upper}, leftTimeIndex={left_time}, rightTimeIndex={right_time}]"
                        ),
                    ),
                };
                format!(
                    "{name}(joinType=[{kind:?}]{bounds}, leftKeys=[{}], rightKeys=[{}], where=[{}])",
                    cols(left_keys),
                    cols(&right),
                    condition.as_ref().map_or_else(|| "true".to_string(), |c| c.to_string())
                )
            }
            Node::LookupJoin {
                table,
                kind,
                keys,
                condition,
                ..
            } => format!(
                "LookupJoin(table=[{}], joinType=[{kind:?}], lookup=[{}], where=[{}])",
                table.name,
                keys.iter()
                    .map(|(e, c)| {
                        let name = table.columns.get(*c).map_or("?", |c| c.field.name.as_str());
                        format!("{name}={e}")
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                condition.as_ref().map_or_else(|| "true".to_string(), |c| c.to_string())
            ),
            Node::Union { .. } => "Union(all=[true])".to_string(),
            Node::Sink { table, .. } => format!(
                "Sink(table=[{}], fields=[{}])",
                table.name,
                names(&self.schema)
            ),
        };
        // Flink's tree: each level three spaces further in, the node after `+- `.
        let indent = match depth {
            0 => String::new(),
            d => format!("{}+- ", "   ".repeat(d - 1)),
        };
        let _ = writeln!(
            out,
            "{indent}{line}, changelogMode=[{}]",
            self.mode.flink_notation()
        );
        let mut depth = depth;
        if let Node::Aggregate {
            keys,
            aggs: a,
            two_phase: true,
            ..
        } = &self.node
        {
            // The local phase, chained before the shuffle, emits partial accumulators.
            depth += 1;
            let _ = writeln!(
                out,
                "{}+- LocalGroupAggregate(groupBy=[{}], select=[{}]), changelogMode=[I]",
                "   ".repeat(depth - 1),
                cols(keys),
                aggs(a)
            );
        }
        for i in self.inputs() {
            i.explain_into(out, depth + 1);
        }
    }
}
