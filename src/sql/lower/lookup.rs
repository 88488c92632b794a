//! Lookup joins on the DataStream API: a process function over the input, chained to it.
//!
//! Each subtask reads the whole looked-up table when its first row comes, as Flink's
//! filesystem lookup source does, and indexes it by the key columns; it reads the table again
//! once `lookup.join.cache.ttl` (default 60 min) has passed since. A row's key expressions are
//! evaluated and looked up; each match that meets the rest of the condition is emitted with the
//! row's kind. A row of a `LEFT` join without a match is emitted padded with `NULL`s. A key
//! holding `NULL` matches nothing. A table that cannot be read fails the job with the
//! connector's message.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::{Collector, DataStream, ProcessContext, ProcessFunction, StreamEnv};
use crate::connectors;
use crate::data::UserError;
use crate::sql::catalog::TableDef;
use crate::sql::expr::{compile, compile_predicate, Compiled, Expr, Predicate};
use crate::sql::job::parse_duration;
use crate::sql::lower::lower;
use crate::sql::plan::{JoinKind, Node, Plan};
use crate::sql::types::{Row, Value};
use crate::sql::SqlError;

/// How long a subtask keeps the table it read, unless `lookup.join.cache.ttl` says.
const DEFAULT_TTL_MS: i64 = 60 * 60 * 1000;

/// Lowers a lookup join.
pub fn lower_lookup_join(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::LookupJoin {
        input,
        table,
        computed,
        kind,
        keys,
        condition,
    } = &plan.node
    else {
        return Err(SqlError::Validation("not a lookup join".into()));
    };
    let ttl_ms = match table.option("lookup.join.cache.ttl") {
        None => DEFAULT_TTL_MS,
        Some(text) => parse_duration(text)
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .ok_or_else(|| SqlError::Connector {
                table: table.name.clone(),
                message: format!("'lookup.join.cache.ttl' = '{text}' is not a duration"),
            })?,
    };
    let f = Lookup {
        table: table.clone(),
        computed: computed.clone().into(),
        keys: keys.iter().map(|(e, _)| compile(e)).collect(),
        key_columns: keys.iter().map(|(_, c)| *c).collect(),
        condition: condition.as_ref().map(compile_predicate),
        left: *kind == JoinKind::Left,
        width: table.columns.len(),
        ttl_ms,
        cache: None,
    };
    Ok(lower(input, env)?.process(f).name(&format!(
        "LookupJoin(table=[{}], joinType=[{kind:?}])",
        table.name
    )))
}

/// The table's rows by their key values.
type Index = HashMap<Vec<Value>, Vec<Vec<Value>>>;

#[derive(Clone)]
struct Lookup {
    table: Arc<TableDef>,
    computed: Arc<[Option<Expr>]>,
    /// The key expressions over the input row.
    keys: Arc<[Compiled]>,
    /// The table's columns they equal.
    key_columns: Vec<usize>,
    condition: Option<Predicate>,
    left: bool,
    /// The table's row width.
    width: usize,
    ttl_ms: i64,
    /// The table as this subtask read it, and when (processing time).
    cache: Option<(Index, i64)>,
}

impl Lookup {
    /// Reads the table into the index when there is none, or it is older than the TTL.
    fn refresh(&mut self, now: i64) -> Result<(), SqlError> {
        if let Some((_, read_at)) = &self.cache {
            if now.saturating_sub(*read_at) < self.ttl_ms {
                return Ok(());
            }
        }
        let mut index = Index::new();
        for row in connectors::lookup_rows(&self.table, &self.computed)? {
            let key: Vec<Value> = self
                .key_columns
                .iter()
                .map(|c| row.values.get(*c).cloned().unwrap_or(Value::Null))
                .collect();
            if !key.iter().any(Value::is_null) {
                index.entry(key).or_default().push(row.values);
            }
        }
        self.cache = Some((index, now));
        Ok(())
    }
}

impl ProcessFunction<Row, Row> for Lookup {
    fn process_element(
        &mut self,
        row: Row,
        ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        self.refresh(ctx.current_processing_time())?;
        let Some((index, _)) = &self.cache else {
            return Ok(());
        };
        let key = self
            .keys
            .iter()
            .map(|k| k(&row.values))
            .collect::<Result<Vec<Value>, _>>()?;
        let mut matched = false;
        if let Some(rows) = index.get(&key) {
            for r in rows {
                let joined = [row.values.as_slice(), r].concat();
                if let Some(c) = &self.condition {
                    if !c(&joined)? {
                        continue;
                    }
                }
                matched = true;
                out.collect(Row {
                    kind: row.kind,
                    values: joined,
                });
            }
        }
        if !matched && self.left {
            let mut values = row.values;
            values.resize(values.len() + self.width, Value::Null);
            out.collect(Row {
                kind: row.kind,
                values,
            });
        }
        Ok(())
    }
}
