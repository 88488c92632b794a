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

use std::fmt;
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

/// Which rows of a join survive without a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matches.
    Inner,
    /// Every left row, padded with `NULL`s until it matches.
    Left,
    /// Every right row, padded until it matches.
    Right,
    /// Both.
    Full,
}

/// What bounds a join in time, so that its state is dropped once the watermark passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinTime {
    /// Flink's window join: both sides' `window_start` and `window_end` are among the keys;
    /// a window's rows are joined, and dropped, when the watermark passes its end.
    Window {
        /// The left side's `window_end` column.
        left_end: usize,
        /// The right side's.
        right_end: usize,
    },
    /// Flink's interval join on rowtimes: a pair joins when
    /// `lower <= left.time - right.time <= upper` (milliseconds).
    Interval {
        /// The left side's rowtime column.
        left_time: usize,
        /// The right side's.
        right_time: usize,
        /// The least `left.time - right.time`.
        lower: i64,
        /// The greatest.
        upper: i64,
    },
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
        /// Windows of processing time (`DESCRIPTOR` of a `PROCTIME()` column), not event time.
        proctime: bool,
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
        /// Windows of processing time, not event time.
        proctime: bool,
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
        /// Local-global: each buffer is pre-aggregated per key before the shuffle, and the
        /// keyed stage merges the partial accumulators (Flink's two-phase aggregation).
        two_phase: bool,
        /// `table.exec.state.ttl`: how long a key's accumulators live after their last update.
        state_ttl_ms: Option<u64>,
    },
    /// A regular join on equal keys: every row of each side kept in keyed state, joined with
    /// the other side's rows of its key that meet the condition. Outer joins emit a padded row
    /// and retract it (`-D`) when the first match comes.
    Join {
        /// The left input.
        left: Box<Plan>,
        /// The right input.
        right: Box<Plan>,
        /// Inner or outer.
        kind: JoinKind,
        /// Key columns of the left input.
        left_keys: Vec<usize>,
        /// Key columns of the right input, pairwise equal to the left's.
        right_keys: Vec<usize>,
        /// The rest of `ON`, over the joined row.
        condition: Option<Expr>,
        /// `table.exec.state.ttl`: how long a row is kept after it was written.
        state_ttl_ms: Option<u64>,
        /// A window or interval join's time bound; `None` for a regular join.
        time: Option<JoinTime>,
    },
    /// A lookup join (Flink's processing-time temporal join, `JOIN t FOR SYSTEM_TIME AS OF
    /// left.proctime`): each input row looks up the rows of `table` whose key columns equal
    /// its key expressions, as the table is when the row comes. The input's columns, then the
    /// table's.
    LookupJoin {
        /// The input (the left side).
        input: Box<Plan>,
        /// The looked-up table.
        table: Arc<TableDef>,
        /// The table's computed columns, as its scan has them.
        computed: Vec<Option<Expr>>,
        /// Inner or left.
        kind: JoinKind,
        /// Each key: an expression over the input row, and the table's column it equals.
        keys: Vec<(Expr, usize)>,
        /// The rest of `ON`, over the joined row.
        condition: Option<Expr>,
    },
    /// `ROW_NUMBER() OVER (PARTITION BY … ORDER BY …)` limited to the first `limit` rows per
    /// partition (Top-N; deduplication is Top-1): the input's columns, then the row number.
    /// Emits `+I`, `-U`/`+U` and `-D` as rows enter, move within and leave the top.
    Rank {
        /// The input.
        input: Box<Plan>,
        /// Partition columns.
        partition_by: Vec<usize>,
        /// Order columns, each descending or not.
        order_by: Vec<(usize, bool)>,
        /// The most rows per partition, once a filter on the row number gave it.
        limit: Option<u64>,
        /// `table.exec.state.ttl`.
        state_ttl_ms: Option<u64>,
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
            Node::Join { left, right, .. } => vec![left, right],
            Node::Rank { input, .. } | Node::LookupJoin { input, .. } => vec![input],
        }
    }

    /// The same node with each input replaced by `f(input)`.
    pub fn map_inputs(self, f: &mut dyn FnMut(Plan) -> Plan) -> Plan {
        let Plan { node, schema, mode } = self;
        let mut one = |p: Box<Plan>| Box::new(f(*p));
        let node = match node {
            leaf @ (Node::Scan { .. } | Node::Values { .. }) => leaf,
            Node::Filter { input, predicate } => Node::Filter {
                input: one(input),
                predicate,
            },
            Node::Project { input, exprs } => Node::Project {
                input: one(input),
                exprs,
            },
            Node::WindowTvf {
                input,
                window,
                time_col,
                partition_by,
                proctime,
            } => Node::WindowTvf {
                input: one(input),
                window,
                time_col,
                partition_by,
                proctime,
            },
            Node::WindowAggregate {
                input,
                window,
                time_col,
                keys,
                properties,
                aggs,
                proctime,
            } => Node::WindowAggregate {
                input: one(input),
                window,
                time_col,
                keys,
                properties,
                aggs,
                proctime,
            },
            Node::Aggregate {
                input,
                keys,
                aggs,
                two_phase,
                state_ttl_ms,
            } => Node::Aggregate {
                input: one(input),
                keys,
                aggs,
                two_phase,
                state_ttl_ms,
            },
            Node::Join {
                left,
                right,
                kind,
                left_keys,
                right_keys,
                condition,
                state_ttl_ms,
                time,
            } => Node::Join {
                left: one(left),
                right: one(right),
                kind,
                left_keys,
                right_keys,
                condition,
                state_ttl_ms,
                time,
            },
            Node::Unnest { input, array } => Node::Unnest {
                input: one(input),
                array,
            },
            Node::LookupJoin {
                input,
                table,
                computed,
                kind,
                keys,
                condition,
            } => Node::LookupJoin {
                input: one(input),
                table,
                computed,
                kind,
                keys,
                condition,
            },
            Node::Rank {
                input,
                partition_by,
                order_by,
                limit,
                state_ttl_ms,
            } => Node::Rank {
                input: one(input),
                partition_by,
                order_by,
                limit,
                state_ttl_ms,
            },
            Node::Union { inputs } => Node::Union {
                inputs: inputs.into_iter().map(&mut *f).collect(),
            },
            Node::Sink { input, table } => Node::Sink {
                input: one(input),
                table,
            },
        };
        Plan { node, schema, mode }
    }
}
