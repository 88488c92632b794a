//! The bundled job `sql`: a script of DDL and `SET` statements ending in one `INSERT INTO …
//! SELECT` (or a `SELECT`, whose rows are printed), planned and lowered on every node that
//! builds it.

use std::sync::Arc;
use std::time::Duration;

use crate::api::StreamEnv;
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::sql::catalog::{TableColumn, TableDef};
use crate::sql::lower::lower_insert;
use crate::sql::parser::parse_script;
use crate::sql::plan::{Node, Plan};
use crate::sql::session::Session;
use crate::sql::statement::{ColumnKind, Statement};
use crate::sql::SqlError;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "sql",
        description: "a job written in Flink SQL: DDL and SET statements, then one INSERT INTO … SELECT (what `rill sql` submits)",
        usage: "--statements SCRIPT",
        arguments: &["statements"],
        build,
    }
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    build_script(env, args.required("statements")?).map_err(|e| JobError::Sql(e.to_string()))
}

/// Plans `script` (DDL and `SET`, then one `INSERT` or query) into `env`.
pub fn build_script(env: &StreamEnv, script: &str) -> Result<(), SqlError> {
    let statements = parse_script(script)?;
    let Some((last, ddl)) = statements.split_last() else {
        return Err(SqlError::Validation("the script has no statement".into()));
    };
    let mut session = Session::new();
    for s in ddl {
        match &s.statement {
            Statement::Insert { .. } | Statement::Query(_) => {
                return Err(SqlError::Validation(
                    "a SQL job runs one INSERT (or query), its last statement".into(),
                ))
            }
            _ => {
                session.execute(s)?;
            }
        }
    }
    if let Some(interval) = session.catalog().option("execution.checkpointing.interval") {
        let d = parse_duration(interval).ok_or_else(|| {
            SqlError::Validation(format!(
                "'execution.checkpointing.interval' = '{interval}' is not a duration (e.g. '10 s', '500 ms', '1 min')"
            ))
        })?;
        if !d.is_zero() {
            env.enable_checkpointing(d);
        }
    }
    let plan = match &last.statement {
        Statement::Insert { table, .. } => {
            let name = session
                .catalog()
                .option("pipeline.name")
                .map_or_else(|| format!("insert-into_{table}"), str::to_string);
            env.set_job_name(&name);
            session.plan(&last.statement)?
        }
        Statement::Query(_) => printed(
            session.plan(&last.statement)?,
            session.catalog().option(RESULT_FORMAT),
        ),
        _ => {
            return Err(SqlError::Validation(
                "a SQL job's last statement is an INSERT or a query".into(),
            ))
        }
    };
    lower_insert(&plan, env)
}

/// The session option `rill sql --json` sets: a query's rows as changelog JSON lines. The
/// SQL Gateway sets it to [`COLLECT`] for the queries it runs.
pub const RESULT_FORMAT: &str = "rill.sql-client.result-format";

/// The [`RESULT_FORMAT`] of a query whose rows the SQL Gateway fetches (the `collect` sink).
pub const COLLECT: &str = "collect";

/// A query's plan written to standard output by the `print` connector (as JSON lines when
/// `format` is `json`), or, when `format` is [`COLLECT`], to the `collect` connector.
fn printed(plan: Plan, format: Option<&str>) -> Plan {
    let mut options: std::collections::BTreeMap<String, String> = match format {
        Some(COLLECT) => [("connector".to_string(), COLLECT.to_string())].into(),
        _ => [("connector".to_string(), "print".to_string())].into(),
    };
    if let Some(f) = format.filter(|f| *f != COLLECT) {
        options.insert("format".into(), f.to_string());
    }
    let table = TableDef {
        name: "collect".into(),
        columns: plan
            .schema
            .fields
            .iter()
            .map(|f| TableColumn {
                field: f.clone(),
                kind: ColumnKind::Physical {
                    data_type: f.data_type.clone(),
                    nullable: f.nullable,
                },
            })
            .collect(),
        watermark: None,
        primary_key: vec![],
        options,
        partition_keys: vec![],
    };
    let (schema, mode) = (plan.schema.clone(), plan.mode);
    Plan {
        node: Node::Sink {
            input: Box::new(plan),
            table: Arc::new(table),
        },
        schema,
        mode,
    }
}

/// A duration as Flink's options write them: `500 ms`, `10 s`, `10s`, `2 min`, `1 h`, or
/// bare milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (n, unit) = number_and_unit(text)?;
    let ms = match unit.as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "min" | "m" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(ms)?))
}

/// A memory size as Flink's options write it: `128MB`, `64 kb`, `1024` (bytes); binary units.
pub fn parse_memory_size(text: &str) -> Option<u64> {
    let (n, unit) = number_and_unit(text)?;
    let shift = match unit.as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// `10 s` as `(10, "s")`: the leading digits and the rest, trimmed and lower-cased.
fn number_and_unit(text: &str) -> Option<(u64, String)> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    Some((n.parse().ok()?, unit.trim().to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_flink_writes_them() {
        assert_eq!(parse_duration("10 s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2 min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn memory_sizes_read_as_flink_writes_them() {
        assert_eq!(parse_memory_size("128MB"), Some(128 << 20));
        assert_eq!(parse_memory_size("64 kb"), Some(64 << 10));
        assert_eq!(parse_memory_size("1000"), Some(1000));
        assert_eq!(parse_memory_size("lots"), None);
    }
}
