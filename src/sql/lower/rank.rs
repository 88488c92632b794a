//! Top-N and deduplication on the DataStream API: keyed by the partition, a keyed function
//! keeps the partition's first `limit` rows in order (value state; rows that fall out of the top
//! are dropped, as Flink's append-only Top-N does) and emits what changed at each rank: `+I`
//! for a rank newly filled, `-U`/`+U` for a rank whose row changed (over an append-only input
//! the top only grows, so no rank empties).

use std::cmp::Ordering;

use crate::api::{Collector, DataStream, KeyedContext, KeyedProcessFunction, StreamEnv};
use crate::data::UserError;
use crate::sql::lower::aggregate::{sql_state, GroupKey};
use crate::sql::lower::lower;
use crate::sql::plan::{Node, Plan};
use crate::sql::types::{Row, RowKind, Value};
use crate::sql::SqlError;
use crate::state::ValueStateDescriptor;

/// Lowers a rank with a limit.
pub fn lower_rank(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::Rank {
        input,
        partition_by,
        order_by,
        limit,
        state_ttl_ms,
    } = &plan.node
    else {
        return Err(SqlError::Validation("not a rank".into()));
    };
    let Some(limit) = *limit else {
        return Err(SqlError::NotSupported(
            "ROW_NUMBER() without a filter `rn <= N` (or `rn = 1`) on it in the enclosing query (Top-N, deduplication)".into(),
        ));
    };
    let stream = lower(input, env)?;
    let f = TopN {
        order_by: order_by.clone(),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        state: sql_state("sql-top-n", *state_ttl_ms),
    };
    let name = format!("Rank(rankEnd={limit})");
    let partition = partition_by.clone();
    let ranked = match partition.as_slice() {
        [] => stream.key_by(|_: &Row| ()).process_keyed(f),
        [c] => {
            let c = *c;
            stream
                .key_by(move |r: &Row| r.values.get(c).cloned().unwrap_or(Value::Null))
                .process_keyed(f)
        }
        _ => stream
            .key_by(move |r: &Row| {
                partition
                    .iter()
                    .map(|c| r.values.get(*c).cloned().unwrap_or(Value::Null))
                    .collect::<Vec<Value>>()
            })
            .process_keyed(f),
    };
    Ok(ranked.name(&name))
}

#[derive(Clone)]
struct TopN {
    order_by: Vec<(usize, bool)>,
    limit: usize,
    state: ValueStateDescriptor<Vec<Vec<Value>>>,
}

impl TopN {
    fn compare(&self, a: &[Value], b: &[Value]) -> Ordering {
        for (c, descending) in &self.order_by {
            let o = a.get(*c).cmp(&b.get(*c));
            let o = if *descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

fn ranked(row: &[Value], rank: usize) -> Vec<Value> {
    let mut values = Vec::with_capacity(row.len() + 1);
    values.extend_from_slice(row);
    values.push(Value::Int(i64::try_from(rank).unwrap_or(i64::MAX)));
    values
}

impl<K: GroupKey> KeyedProcessFunction<K, Row, Row> for TopN {
    fn process_element(
        &mut self,
        row: Row,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        if !row.kind.is_addition() {
            return Err(
                "Rank received a retraction: ranking an updating input is not supported".into(),
            );
        }
        let mut state = ctx.value_state(&self.state)?;
        let mut rows = state.value()?.unwrap_or_default();
        // After the rows it ties with: the first of equal rows keeps its rank (deduplication
        // keeps the first row).
        let at = rows.partition_point(|r| self.compare(r, &row.values) != Ordering::Greater);
        if at >= self.limit {
            return Ok(());
        }
        // From `at` on, each rank's row moves down one: rank `r` now holds what `r - 1` held
        // (the new row at `at`). The top never shrinks, so no rank empties.
        let end = (rows.len() + 1).min(self.limit);
        for rank in at..end {
            let now = if rank == at {
                &row.values
            } else {
                &rows[rank - 1]
            };
            match rows.get(rank) {
                Some(before) if before == now => {}
                Some(before) => {
                    out.collect(Row {
                        kind: RowKind::UpdateBefore,
                        values: ranked(before, rank + 1),
                    });
                    out.collect(Row {
                        kind: RowKind::UpdateAfter,
                        values: ranked(now, rank + 1),
                    });
                }
                None => out.collect(Row::insert(ranked(now, rank + 1))),
            }
        }
        rows.insert(at, row.values);
        rows.truncate(self.limit);
        state.update(rows)?;
        Ok(())
    }
}
