//! The logical plan: a tree of relational operators, each with its output schema and its
//! changelog mode, which the binder builds from a query, the rules rewrite and the lowering
//! turns into DataStream operators.
//!
//! ## Changelog mode
//! As in Flink, each node says what kinds of rows it emits: *append-only* (`+I` only) or
//! *updating* (`+I`, `-U`, `+U`, `-D`). Scans, filters, projections and window aggregates of
//! append-only input are append-only; an unbounded `GROUP BY` is updating. A sink that can only
//! append (the filesystem connector) refuses an updating input at plan time.
//!
//! ## Time attributes
//! A rowtime column keeps its [`TimeAttribute`](crate::sql::types::TimeAttribute) through
//! filters and projections that pass it unchanged; any expression over it makes a plain
//! timestamp. A window table-valued function needs a rowtime descriptor, and its
//! `window_time` column is a rowtime again.

use std::fmt::{self, Write};
use std::sync::Arc;

use crate::sql::catalog::TableDef;
use crate::sql::expr::Expr;
use crate::sql::types::{DataType, Schema};

/// What kinds of rows a node emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangelogMode {
    /// `+I` only.
    Append,
    /// `+I`, `-U`, `+U`, `-D`.
    Updating,
}

impl ChangelogMode {
    /// Flink's notation in `EXPLAIN CHANGELOG_MODE`.
    pub fn flink_notation(self) -> &'static str {
        match self {
            ChangelogMode::Append => "I",
            ChangelogMode::Updating => "I,UB,UA,D",
        }
    }
}

/// A window table-valued function's windows (all sizes in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLE(…, size [, offset])`.
    Tumble {
        /// Window size.
        size: i64,
        /// Offset from the epoch.
        offset: i64,
    },
    /// `HOP(…, slide, size [, offset])`.
    Hop {
        /// How far each window starts after the previous one.
        slide: i64,
        /// Window size.
        size: i64,
        /// Offset from the epoch.
        offset: i64,
    },
    /// `CUMULATE(…, step, size)`: windows growing by `step` from each `size`-aligned start.
    Cumulate {
        /// Growth step.
        step: i64,
        /// Largest window.
        size: i64,
    },
    /// `SESSION(… PARTITION BY keys, …, gap)`.
    Session {
        /// Inactivity gap that closes a session.
        gap: i64,
    },
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |ms: i64| format!("{} ms", ms);
        match self {
            WindowKind::Tumble { size, .. } => write!(f, "TUMBLE(size=[{}])", s(*size)),
            WindowKind::Hop { slide, size, .. } => {
                write!(f, "HOP(slide=[{}], size=[{}])", s(*slide), s(*size))
            }
            WindowKind::Cumulate { step, size } => {
                write!(f, "CUMULATE(step=[{}], max_size=[{}])", s(*step), s(*size))
            }
            WindowKind::Session { gap } => write!(f, "SESSION(gap=[{}])", s(*gap)),
        }
    }
}

/// A window property a window aggregate emits after its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowProperty {
    /// `window_start`.
    Start,
    /// `window_end`.
    End,
    /// `window_time` (`window_end - 1`, a rowtime).
    Time,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT(*)`.
    CountStar,
    /// `COUNT(x)`: non-null values.
    Count,
    /// `SUM(x)`.
    Sum,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `AVG(x)`.
    Avg,
}

impl AggFunc {
    /// Its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::CountStar | AggFunc::Count => "COUNT",
            AggFunc::Sum => "SUM",
            AggFunc::Min => "MIN",
            AggFunc::Max => "MAX",
            AggFunc::Avg => "AVG",
        }
    }
}

/// One aggregate call over the aggregate node's input columns.
#[derive(Debug, Clone, PartialEq)]
pub struct AggCall {
    /// The function.
    pub func: AggFunc,
    /// Its argument column (none for `COUNT(*)`).
    pub arg: Option<usize>,
    /// The argument's type.
    pub arg_type: DataType,
    /// `DISTINCT`.
    pub distinct: bool,
    /// `FILTER (WHERE …)`: a boolean column of the input.
    pub filter: Option<usize>,
    /// The result's type.
    pub data_type: DataType,
}

impl fmt::Display for AggCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.func.name())?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        match self.arg {
            Some(a) => write!(f, "${a}")?,
            None => f.write_str("*")?,
        }
        f.write_str(")")?;
        if let Some(c) = self.filter {
            write!(f, " FILTER ${c}")?;
        }
        Ok(())
    }
}

/// A plan node with its output.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What it does.
    pub node: Node,
    /// Its output columns.
    pub schema: Schema,
    /// What kinds of rows it emits.
    pub mode: ChangelogMode,
}

/// A relational operator.
#[derive(Debug, Clone)]
pub enum Node {
    /// Reads a table: its physical columns from the connector, then its computed columns,
    /// then (if declared) the watermark.
    Scan {
        /// The table.
        table: Arc<TableDef>,
        /// Per column of the table: the expression of a computed column over the columns
        /// before it, `None` for a physical or metadata column.
        computed: Vec<Option<Expr>>,
        /// The rowtime column and the watermark expression over the row.
        watermark: Option<(usize, Expr)>,
    },
    /// Constant rows (`VALUES`).
    Values {
        /// The rows.
        rows: Vec<Vec<Expr>>,
    },
    /// Keeps the rows whose predicate is `TRUE`.
    Filter {
        /// The input.
        input: Box<Plan>,
        /// The predicate.
        predicate: Expr,
    },
    /// Computes new columns.
    Project {
        /// The input.
        input: Box<Plan>,
        /// One expression per output column.
        exprs: Vec<Expr>,
    },
    /// A window TVF not fused with an aggregate: each row with its windows' `window_start`,
    /// `window_end`, `window_time` appended (a row per window).
    WindowTvf {
        /// The input.
        input: Box<Plan>,
        /// The windows.
        window: WindowKind,
        /// The rowtime descriptor column.
        time_col: usize,
        /// `PARTITION BY` columns (a session's).
        partition_by: Vec<usize>,
    },
    /// A window TVF fused with its `GROUP BY window_start, window_end, keys…`: emits one row per
    /// key and window when the watermark passes the window's end: the keys, the window
    /// properties, then the aggregates.
    WindowAggregate {
        /// The input.
        input: Box<Plan>,
        /// The windows.
        window: WindowKind,
        /// The rowtime descriptor column of the TVF's input (informational: records carry
        /// their rowtime as their timestamp from the scan on).
        time_col: usize,
        /// Key columns of the input.
        keys: Vec<usize>,
        /// Window properties emitted after the keys.
        properties: Vec<WindowProperty>,
        /// The aggregates.
        aggs: Vec<AggCall>,
    },
    /// An unbounded `GROUP BY`: the keys then the aggregates, updated with each input row
    /// (`+I` the first time, then `-U` of the previous result and `+U` of the new one).
    Aggregate {
        /// The input.
        input: Box<Plan>,
        /// Key columns of the input.
        keys: Vec<usize>,
        /// The aggregates.
        aggs: Vec<AggCall>,
    },
    /// `CROSS JOIN UNNEST(array)`: each row once per element, the element appended.
    Unnest {
        /// The input.
        input: Box<Plan>,
        /// The array expression over the input.
        array: Expr,
    },
    /// `UNION ALL`.
    Union {
        /// The inputs, of one schema.
        inputs: Vec<Plan>,
    },
    /// Writes into a table.
    Sink {
        /// The input, with the table's physical columns.
        input: Box<Plan>,
        /// The table.
        table: Arc<TableDef>,
    },
}

impl Plan {
    /// The node's inputs.
    pub fn inputs(&self) -> Vec<&Plan> {
        match &self.node {
            Node::Scan { .. } | Node::Values { .. } => vec![],
            Node::Filter { input, .. }
            | Node::Project { input, .. }
            | Node::WindowTvf { input, .. }
            | Node::WindowAggregate { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Unnest { input, .. }
            | Node::Sink { input, .. } => vec![input],
            Node::Union { inputs } => inputs.iter().collect(),
        }
    }

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
        for i in self.inputs() {
            i.explain_into(out, depth + 1);
        }
    }
}
