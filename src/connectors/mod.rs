//! Connectors of SQL tables, named and configured as Flink's (`'connector' = 'filesystem'`,
//! `'format' = 'csv'`, …): sources that make rows, sinks that take them.
//!
//! | connector | source | sink |
//! |---|---|---|
//! | `filesystem` | a file or a directory of files (`path`), `csv`, `json` or `raw` lines, split across subtasks | part files in the `path` directory, committed by two-phase commit at checkpoints (exactly once) |
//! | `datagen` | generated rows: `sequence` or `random` fields, `number-of-rows`, `rows-per-second` | — |
//! | `nexmark` | Nexmark's events (people, auctions, bids) as the benchmark's table of three `ROW`s, deterministic for a `seed`, split across subtasks (see [`nexmark`]) | — |
//! | `socket` | lines from `hostname`:`port` (one subtask) until the peer closes | — |
//! | `print` | — | rows printed as `+I[a, b]` to the process's standard output (or changelog JSON with `'format' = 'json'`) |
//! | `blackhole` | — | rows discarded |
//! | `collect` | — | a query's rows kept in the TaskManager's process for the SQL Gateway to fetch (what a `SELECT` through the gateway or `rill sql --jobmanager-rest` writes to; see [`collect`]) |
//!
//! A source's rows get the table's computed columns, then (if the table declares one) its
//! watermark: each row's timestamp is its rowtime column, and the watermark is the largest
//! value of the watermark expression seen so far, emitted periodically.

pub mod collect;
mod datagen;
mod filesystem;
pub mod format;
pub mod json_decode;
mod json_flat;
pub mod nexmark;
pub mod partitions;
mod print;
mod socket;

use std::sync::Arc;

use crate::api::{DataStream, StreamEnv};
use crate::eventtime::{WatermarkGenerator, WatermarkOutput, WatermarkStrategy};
use crate::sql::catalog::TableDef;
use crate::sql::expr::{compile, Compiled, Expr};
use crate::sql::functions::{ArithOp, EvalError};
use crate::sql::plan::ChangelogMode;
use crate::sql::statement::ColumnKind;
use crate::sql::types::{Row, Schema, Value};
use crate::sql::SqlError;

/// Completes a row whose physical columns are set: evaluates its computed columns in order.
pub type RowFinisher = Arc<dyn Fn(&mut Vec<Value>) -> Result<(), EvalError> + Send + Sync>;

/// Where each physical column goes in the table's full row, and how the row is completed.
#[derive(Clone)]
pub struct RowLayout {
    /// The full row's width.
    pub width: usize,
    /// For each physical column, in order: its position in the full row and whether any
    /// node reads it (an unread column is not parsed).
    pub physical: Vec<(usize, bool)>,
    /// Fields of `ROW` columns read straight into the row (nested projection pushed into a
    /// source that can: see [`reads_fields`]); empty for the others.
    pub fields: Vec<FieldSlot>,
    /// Conjuncts of the filter above the scan, over the physical columns by ordinal: a
    /// source may skip rows they drop (the filter still runs, unless the source drops exactly
    /// those: [`filters_exactly`]).
    pub filters: Vec<Expr>,
    /// Evaluates the computed columns.
    pub finish: RowFinisher,
}

/// A field of a `ROW` column read into its own column of the scan's row.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSlot {
    /// The physical column's ordinal among the table's physical columns.
    pub column: usize,
    /// The fields into it, outermost first (never empty).
    pub path: Vec<usize>,
    /// Its position in the scan's row.
    pub pos: usize,
}

/// A scan whose row is not the table's: each column is a physical column, a field of a
/// `ROW` column, or a computed column over those (Flink's projection pushdown with nested
/// fields, and filter pushdown, into a source that supports them).
#[derive(Clone, Debug, Default)]
pub struct FlatScan {
    /// The row's width.
    pub width: usize,
    /// The whole physical columns read: (table column, position).
    pub columns: Vec<(usize, usize)>,
    /// The fields read.
    pub fields: Vec<FieldSlot>,
    /// The computed columns, in order of evaluation: (position, expression over the row).
    pub computed: Vec<(usize, Expr)>,
    /// The watermark: (rowtime position, expression over the row).
    pub watermark: Option<(usize, Expr)>,
    /// As [`RowLayout::filters`].
    pub filters: Vec<Expr>,
}

/// Each of `table`'s columns' ordinal among its physical columns (`None`: not physical).
pub fn physical_ordinals(table: &TableDef) -> Vec<Option<usize>> {
    let mut n = 0;
    table
        .columns
        .iter()
        .map(|c| {
            matches!(c.kind, ColumnKind::Physical { .. }).then(|| {
                n += 1;
                n - 1
            })
        })
        .collect()
}

/// Whether `table`'s source drops exactly the rows conjunct `filter` (over the physical
/// columns by ordinal) drops, so that the filter need not run after it.
pub fn filters_exactly(table: &TableDef, filter: &Expr) -> bool {
    match table.connector() {
        Ok("nexmark") => nexmark::skips(table, filter),
        Ok("filesystem") if reads_fields(table) => {
            json_flat::filters_exactly(&table.physical_schema().fields, filter)
        }
        _ => false,
    }
}

/// Whether `table`'s source reads fields of its `ROW` columns into a [`FlatScan`] and uses
/// pushed filters: the `nexmark` connector, and the `filesystem` connector's unpartitioned
/// tables in the `json` format.
pub fn reads_fields(table: &TableDef) -> bool {
    match table.connector() {
        Ok("nexmark") => true,
        Ok("filesystem") => {
            table.option("format") == Some("json") && table.partition_keys.is_empty()
        }
        _ => false,
    }
}

fn layout(table: &TableDef, computed: &[Option<Expr>], needed: Option<&[bool]>) -> RowLayout {
    let physical = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.kind, ColumnKind::Physical { .. }))
        .map(|(i, _)| (i, needed.is_none_or(|n| n.get(i).copied().unwrap_or(true))))
        .collect();
    let steps: Vec<(usize, Compiled)> = computed
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().map(|e| (i, compile(e))))
        .collect();
    let finish = finisher(steps);
    RowLayout {
        width: table.columns.len(),
        physical,
        fields: Vec::new(),
        filters: Vec::new(),
        finish,
    }
}

/// The rows of a [`FlatScan`] of `table` (a table whose connector [`reads_fields`]).
pub fn flat_source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    scan: FlatScan,
) -> Result<DataStream<Row>, SqlError> {
    let ordinals = physical_ordinals(table);
    let mut physical: Vec<(usize, bool)> = vec![(0, false); ordinals.iter().flatten().count()];
    for (column, pos) in &scan.columns {
        if let Some(slot) = ordinals
            .get(*column)
            .copied()
            .flatten()
            .and_then(|o| physical.get_mut(o))
        {
            *slot = (*pos, true);
        }
    }
    let steps: Vec<(usize, Compiled)> = scan
        .computed
        .iter()
        .map(|(pos, e)| (*pos, compile(e)))
        .collect();
    let layout = RowLayout {
        width: scan.width,
        physical,
        fields: scan.fields,
        filters: scan.filters,
        finish: finisher(steps),
    };
    let strategy = strategy(table, scan.watermark.as_ref())?;
    let rows = match table.connector()? {
        "nexmark" => nexmark::source(env, table, layout)?,
        // Each file's readers get their own watermarks, as in `source`.
        "filesystem" if reads_fields(table) => {
            return filesystem::flat_source(env, table, layout, strategy.as_ref())
        }
        other => {
            return Err(SqlError::Connector {
                table: table.name.clone(),
                message: format!("the connector '{other}' cannot read fields of its rows"),
            })
        }
    };
    Ok(with_watermarks(rows, strategy))
}

fn finisher(steps: Vec<(usize, Compiled)>) -> RowFinisher {
    Arc::new(move |row: &mut Vec<Value>| {
        for (i, c) in &steps {
            let v = c(row)?;
            if let Some(slot) = row.get_mut(*i) {
                *slot = v;
            }
        }
        Ok(())
    })
}

/// Every row of `table` now, with its computed columns: what a lookup join looks up.
pub fn lookup_rows(table: &TableDef, computed: &[Option<Expr>]) -> Result<Vec<Row>, SqlError> {
    let layout = layout(table, computed, None);
    match table.connector()? {
        "filesystem" => filesystem::all_rows(table, layout),
        other => Err(SqlError::Connector {
            table: table.name.clone(),
            message: format!(
                "the connector '{other}' cannot be looked up (lookup sources: filesystem)"
            ),
        }),
    }
}

/// The rows of `table`'s source, with computed columns and watermark; `needed` marks the
/// columns some node reads (`None`: all).
pub fn source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    computed: &[Option<Expr>],
    watermark: Option<&(usize, Expr)>,
    needed: Option<Vec<bool>>,
) -> Result<DataStream<Row>, SqlError> {
    let layout = layout(table, computed, needed.as_deref());
    let strategy = strategy(table, watermark)?;
    only_filesystem_partitions(table, table.connector()?)?;
    let rows = match table.connector()? {
        // Each file's readers get their own watermarks (Flink's per-split watermarks), so
        // that alignment can pause the one that runs ahead.
        "filesystem" => return filesystem::source(env, table, layout, strategy.as_ref()),
        "datagen" => datagen::source(env, table, layout)?,
        "socket" => socket::source(env, table, layout)?,
        "nexmark" => nexmark::source(env, table, layout)?,
        other => {
            return Err(SqlError::Connector {
                table: table.name.clone(),
                message: format!(
                    "the connector '{other}' cannot be read (sources: filesystem, datagen, socket, nexmark)"
                ),
            })
        }
    };
    Ok(with_watermarks(rows, strategy))
}

/// The watermark strategy of a scan whose rowtime is column `watermark.0` of its row.
fn strategy(
    table: &TableDef,
    watermark: Option<&(usize, Expr)>,
) -> Result<Option<WatermarkStrategy<Row>>, SqlError> {
    let Some((col, expr)) = watermark else {
        return Ok(None);
    };
    let col = *col;
    let strategy =
        watermark_strategy(expr).with_timestamp_assigner(move |r: &Row, previous| {
            match r.values.get(col) {
                Some(Value::Timestamp(t)) => *t,
                _ => previous,
            }
        });
    Ok(Some(scan_watermark_options(table, strategy)?))
}

fn with_watermarks(
    rows: DataStream<Row>,
    strategy: Option<WatermarkStrategy<Row>>,
) -> DataStream<Row> {
    match strategy {
        None => rows,
        Some(s) => rows.assign_timestamps_and_watermarks(s),
    }
}

/// A source table's watermark options, as Flink's: `scan.watermark.idle-timeout`, and
/// `scan.watermark.alignment.group` with `….max-drift` (required with a group) and
/// `….update-interval` (1 s unless set).
fn scan_watermark_options(
    table: &TableDef,
    mut strategy: WatermarkStrategy<Row>,
) -> Result<WatermarkStrategy<Row>, SqlError> {
    let duration = |key: &str| -> Result<Option<std::time::Duration>, SqlError> {
        table
            .option(key)
            .map(|v| {
                crate::sql::job::parse_duration(v).ok_or_else(|| SqlError::Connector {
                    table: table.name.clone(),
                    message: format!(
                        "'{key}' = '{v}' is not a duration (such as '500 ms', '1 min')"
                    ),
                })
            })
            .transpose()
    };
    if let Some(idle) = duration("scan.watermark.idle-timeout")? {
        strategy = strategy.with_idleness(idle);
    }
    if let Some(group) = table.option("scan.watermark.alignment.group") {
        let drift =
            duration("scan.watermark.alignment.max-drift")?.ok_or_else(|| SqlError::Connector {
                table: table.name.clone(),
                message:
                    "'scan.watermark.alignment.group' needs 'scan.watermark.alignment.max-drift'"
                        .into(),
            })?;
        let every = duration("scan.watermark.alignment.update-interval")?
            .unwrap_or(crate::eventtime::alignment::WatermarkAlignment::DEFAULT_UPDATE_INTERVAL);
        strategy = strategy.with_watermark_alignment_every(group, drift, every);
    }
    Ok(strategy)
}

/// The watermark of a SQL `WATERMARK FOR c AS expr`: the largest `expr` seen. `c - INTERVAL`
/// (the usual form) is computed from the timestamp alone.
fn watermark_strategy(expr: &Expr) -> WatermarkStrategy<Row> {
    if let Expr::Arith(ArithOp::Sub, a, b, _) = expr {
        if let (Expr::Column { .. }, Expr::Literal(Value::Interval(delay), _)) = (&**a, &**b) {
            let delay = *delay;
            return WatermarkStrategy::for_generator(move || {
                Box::new(SqlWatermarks {
                    max: i64::MIN,
                    of: WatermarkOf::Delay(delay),
                })
            });
        }
    }
    let c = compile(expr);
    WatermarkStrategy::for_generator(move || {
        Box::new(SqlWatermarks {
            max: i64::MIN,
            of: WatermarkOf::Expr(c.clone()),
        })
    })
}

enum WatermarkOf {
    Delay(i64),
    Expr(Compiled),
}

/// Emits the largest watermark expression value seen, periodically (Flink's SQL watermark
/// assigner).
struct SqlWatermarks {
    max: i64,
    of: WatermarkOf,
}

impl WatermarkGenerator<Row> for SqlWatermarks {
    fn on_event(&mut self, row: &Row, timestamp: i64, _out: &mut dyn WatermarkOutput) {
        let w = match &self.of {
            WatermarkOf::Delay(d) => Some(timestamp.saturating_sub(*d)),
            // A row whose watermark expression fails or is NULL moves nothing.
            WatermarkOf::Expr(c) => match c(&row.values) {
                Ok(Value::Timestamp(t)) => Some(t),
                _ => None,
            },
        };
        if let Some(w) = w {
            self.max = self.max.max(w);
        }
    }

    fn on_periodic_emit(&mut self, out: &mut dyn WatermarkOutput) {
        if self.max > i64::MIN {
            out.emit_watermark(self.max);
        }
    }
}

/// Writes `stream` (of `schema`'s rows, in `mode`) into `table`.
pub fn sink(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    schema: &Schema,
    mode: ChangelogMode,
    stream: DataStream<Row>,
) -> Result<(), SqlError> {
    let _ = env;
    check_sink_mode(table, mode)?;
    let connector = table.connector()?;
    only_filesystem_partitions(table, connector)?;
    match connector {
        "filesystem" => filesystem::sink(table, schema, stream),
        "print" => print::print_sink(table, schema, stream),
        "blackhole" => {
            stream
                .add_sink(&format!("Sink: {}", table.name), print::Blackhole)
                .name(&format!("Sink: {}[blackhole]", table.name));
            Ok(())
        }
        "collect" => {
            let types = schema.fields.iter().map(|f| f.data_type.clone()).collect();
            stream
                .add_sink(
                    &format!("Sink: {}", table.name),
                    collect::CollectRows::new(types),
                )
                .name(&format!("Sink: {}[collect]", table.name));
            Ok(())
        }
        other => Err(SqlError::Connector {
            table: table.name.clone(),
            message: format!(
                "the connector '{other}' cannot be written (sinks: filesystem, print, blackhole, collect)"
            ),
        }),
    }
}

/// `PARTITIONED BY` is the filesystem connector's (as in Flink, where other connectors refuse
/// it).
fn only_filesystem_partitions(table: &TableDef, connector: &str) -> Result<(), SqlError> {
    if table.partition_keys.is_empty() || connector == "filesystem" {
        return Ok(());
    }
    Err(SqlError::Connector {
        table: table.name.clone(),
        message: format!(
            "the connector '{connector}' does not take PARTITIONED BY (partitioned tables: filesystem)"
        ),
    })
}

/// Refuses an updating query into a table whose connector only appends (checked when the
/// `INSERT` is planned, so the statement fails before any job starts).
pub fn check_sink_mode(table: &TableDef, mode: ChangelogMode) -> Result<(), SqlError> {
    let connector = table.connector()?;
    if connector == "filesystem" && mode != ChangelogMode::Append {
        return Err(SqlError::Validation(format!(
            "Table sink '{}' doesn't support consuming update changes (its connector '{connector}' only appends); the query is an updating one (an unbounded GROUP BY): write it to a 'print' or 'blackhole' table, or aggregate in windows",
            table.name
        )));
    }
    Ok(())
}

/// A required option of `table`.
pub(crate) fn required<'a>(table: &'a TableDef, key: &str) -> Result<&'a str, SqlError> {
    table.option(key).ok_or_else(|| SqlError::Connector {
        table: table.name.clone(),
        message: format!(
            "the '{}' connector needs the option '{key}'",
            table.option("connector").unwrap_or("?")
        ),
    })
}

/// An option parsed as `T`, or `default`.
pub(crate) fn parsed<T: std::str::FromStr>(
    table: &TableDef,
    key: &str,
    default: T,
) -> Result<T, SqlError> {
    match table.option(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| SqlError::Connector {
            table: table.name.clone(),
            message: format!("the option '{key}' = '{v}' is not valid"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(options: &[(&str, &str)]) -> TableDef {
        TableDef {
            name: "t".into(),
            columns: Vec::new(),
            watermark: None,
            primary_key: Vec::new(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            partition_keys: Vec::new(),
        }
    }

    fn strategy() -> WatermarkStrategy<Row> {
        WatermarkStrategy::for_monotonous_timestamps()
    }

    /// The error the options give, as text (empty if none).
    fn error_of(options: &[(&str, &str)]) -> String {
        scan_watermark_options(&table(options), strategy())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn watermark_alignment_options_read_as_flinks() {
        let t = table(&[
            ("scan.watermark.alignment.group", "g1"),
            ("scan.watermark.alignment.max-drift", "2 s"),
            ("scan.watermark.alignment.update-interval", "250ms"),
        ]);
        let s = scan_watermark_options(&t, strategy()).expect("valid");
        let a = s.alignment().expect("aligned");
        assert_eq!(a.group, "g1");
        assert_eq!(a.max_drift, std::time::Duration::from_secs(2));
        assert_eq!(a.update_interval, std::time::Duration::from_millis(250));
        // The update interval defaults to Flink's 1 s; without a group nothing aligns.
        let t = table(&[
            ("scan.watermark.alignment.group", "g1"),
            ("scan.watermark.alignment.max-drift", "1 min"),
        ]);
        let s = scan_watermark_options(&t, strategy()).expect("valid");
        assert_eq!(
            s.alignment().map(|a| a.update_interval),
            Some(std::time::Duration::from_secs(1))
        );
        let s = scan_watermark_options(&table(&[]), strategy()).expect("valid");
        assert!(s.alignment().is_none());
    }

    #[test]
    fn a_group_without_a_drift_or_a_bad_duration_is_an_error() {
        let e = error_of(&[("scan.watermark.alignment.group", "g")]);
        assert!(
            e.contains("needs 'scan.watermark.alignment.max-drift'"),
            "{e}"
        );
        let e = error_of(&[("scan.watermark.idle-timeout", "soon")]);
        assert!(
            e.contains("'scan.watermark.idle-timeout' = 'soon' is not a duration"),
            "{e}"
        );
    }
}
