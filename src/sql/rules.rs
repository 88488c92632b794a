//! Rewrites of a bound plan that keep its results and lower its cost.
//!
//! - **Predicate push-down**: a filter moves below projections (reading the projected
//!   expressions instead), below a window TVF when it does not read the window's columns
//!   (so the TVF can fuse with its `GROUP BY`), and into each input of a `UNION ALL`; adjacent
//!   filters merge. Only deterministic predicates over deterministic projections move.
//! - **Projection merging**: a projection of a projection becomes one.
//! - **Column pruning**: a scan parses only the physical columns some node above it reads
//!   ([`required_columns`]).
//! - **Local-global aggregation** ([`apply_options`]): an unbounded `GROUP BY` whose aggregates
//!   all merge (all of Rill's do) is split in two, as Flink's
//!   `table.optimizer.agg-phase-strategy` says: `TWO_PHASE` always, `ONE_PHASE` never, `AUTO`
//!   (the default) when `table.exec.mini-batch.enabled` is `true`. The local phase combines
//!   each buffer of rows per key before the shuffle (a buffer is Rill's mini-batch), so a hot
//!   key sends one partial row per buffer instead of every row.

use crate::sql::expr::Expr;
use crate::sql::plan::{Node, Plan};

/// A filter of `input` by `predicate`, pushed down as far as it goes.
pub fn filter(input: Plan, predicate: Expr) -> Plan {
    let schema = input.schema.clone();
    let mode = input.mode;
    if !predicate.is_deterministic() {
        return Plan {
            node: Node::Filter {
                input: Box::new(input),
                predicate,
            },
            schema,
            mode,
        };
    }
    match input.node {
        Node::Filter {
            input: inner,
            predicate: first,
        } => filter(*inner, conjunction(first, predicate)),
        Node::Project {
            input: inner,
            exprs,
        } if exprs.iter().all(Expr::is_deterministic) => {
            let pushed = predicate.map_columns(&|c| match c {
                Expr::Column { index, .. } => exprs[*index].clone(),
                other => other.clone(),
            });
            let below = filter(*inner, pushed);
            Plan {
                node: Node::Project {
                    input: Box::new(below),
                    exprs,
                },
                schema,
                mode,
            }
        }
        Node::WindowTvf {
            input: inner,
            window,
            time_col,
            partition_by,
            proctime,
        } if reads_below(&predicate, inner.schema.len()) => Plan {
            node: Node::WindowTvf {
                input: Box::new(filter(*inner, predicate)),
                window,
                time_col,
                partition_by,
                proctime,
            },
            schema,
            mode,
        },
        Node::Union { inputs } => Plan {
            node: Node::Union {
                inputs: inputs
                    .into_iter()
                    .map(|i| filter(i, predicate.clone()))
                    .collect(),
            },
            schema,
            mode,
        },
        Node::Rank {
            input,
            partition_by,
            order_by,
            limit,
            state_ttl_ms,
        } if rank_limit(&predicate, schema.len() - 1).is_some() => {
            let n = rank_limit(&predicate, schema.len() - 1).unwrap_or(0);
            Plan {
                node: Node::Rank {
                    input,
                    partition_by,
                    order_by,
                    limit: Some(limit.map_or(n, |l| l.min(n))),
                    state_ttl_ms,
                },
                schema,
                mode,
            }
        }
        node => Plan {
            node: Node::Filter {
                input: Box::new(Plan {
                    node,
                    schema: schema.clone(),
                    mode,
                }),
                predicate,
            },
            schema,
            mode,
        },
    }
}

/// The limit `rn <= N`, `rn < N` or `rn = 1` sets on the row number column `column`.
fn rank_limit(e: &Expr, column: usize) -> Option<u64> {
    use crate::sql::expr::CmpOp;
    use crate::sql::types::Value;
    let Expr::Compare(op, a, b) = e else {
        return None;
    };
    let (Expr::Column { index, .. }, Expr::Literal(Value::Int(n), _)) = (a.as_ref(), b.as_ref())
    else {
        return None;
    };
    if *index != column {
        return None;
    }
    let n = u64::try_from(*n).ok()?;
    match op {
        CmpOp::LtEq if n >= 1 => Some(n),
        CmpOp::Lt if n >= 2 => Some(n - 1),
        CmpOp::Eq if n == 1 => Some(1),
        _ => None,
    }
}

fn conjunction(a: Expr, b: Expr) -> Expr {
    let mut parts = Vec::new();
    for e in [a, b] {
        match e {
            Expr::And(es) => parts.extend(es),
            e => parts.push(e),
        }
    }
    Expr::And(parts)
}

/// Whether `e` reads only columns below `limit`.
fn reads_below(e: &Expr, limit: usize) -> bool {
    let mut cols = Vec::new();
    e.columns(&mut cols);
    cols.iter().all(|c| *c < limit)
}

/// Merges projections of projections, bottom up.
pub fn optimize(plan: Plan) -> Plan {
    let plan = plan.map_inputs(&mut optimize);
    match plan.node {
        Node::Project { input, exprs } => {
            let node = match input.node {
                Node::Project {
                    input: inner,
                    exprs: below,
                } if below.iter().all(Expr::is_deterministic) => Node::Project {
                    input: inner,
                    exprs: exprs
                        .iter()
                        .map(|e| {
                            e.map_columns(&|c| match c {
                                Expr::Column { index, .. } => below[*index].clone(),
                                other => other.clone(),
                            })
                        })
                        .collect(),
                },
                node => Node::Project {
                    input: Box::new(Plan {
                        node,
                        schema: input.schema,
                        mode: input.mode,
                    }),
                    exprs,
                },
            };
            Plan {
                node,
                schema: plan.schema,
                mode: plan.mode,
            }
        }
        node => Plan {
            node,
            schema: plan.schema,
            mode: plan.mode,
        },
    }
}

/// What the session's options ask of the plan's stateful nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanOptions {
    /// Unbounded aggregates in two phases.
    pub two_phase: bool,
    /// `table.exec.state.ttl` in milliseconds (none: state lives forever).
    pub state_ttl_ms: Option<u64>,
    /// `table.optimizer.distinct-agg.split.enabled`: the bucket count
    /// (`….split.bucket-num`) when `DISTINCT` aggregates are split.
    pub split_distinct: Option<i64>,
}

impl PlanOptions {
    /// The options from the session's `SET`s.
    pub fn from_session(
        option: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::sql::SqlError> {
        let bad = |key: &str, v: &str, expected: &str| {
            crate::sql::SqlError::Validation(format!("'{key}' = '{v}' (expected {expected})"))
        };
        let strategy =
            option("table.optimizer.agg-phase-strategy").unwrap_or_else(|| "AUTO".into());
        let two_phase = match strategy.to_uppercase().as_str() {
            "TWO_PHASE" => true,
            "ONE_PHASE" => false,
            "AUTO" => option("table.exec.mini-batch.enabled")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            _ => {
                return Err(bad(
                    "table.optimizer.agg-phase-strategy",
                    &strategy,
                    "AUTO, ONE_PHASE or TWO_PHASE",
                ))
            }
        };
        let state_ttl_ms = match option("table.exec.state.ttl") {
            None => None,
            Some(v) => {
                let d = crate::sql::job::parse_duration(&v)
                    .ok_or_else(|| bad("table.exec.state.ttl", &v, "a duration such as '1 h'"))?;
                u64::try_from(d.as_millis()).ok().filter(|ms| *ms > 0)
            }
        };
        let split = match option("table.optimizer.distinct-agg.split.enabled") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(bad(
                    "table.optimizer.distinct-agg.split.enabled",
                    &v,
                    "true or false",
                ))
            }
        };
        let buckets = match option("table.optimizer.distinct-agg.split.bucket-num") {
            None => crate::sql::split_distinct::DEFAULT_BUCKETS,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| {
                    bad(
                        "table.optimizer.distinct-agg.split.bucket-num",
                        &v,
                        "a positive number",
                    )
                })?,
        };
        Ok(Self {
            two_phase,
            state_ttl_ms,
            split_distinct: split.then_some(buckets),
        })
    }
}

/// Applies `options` to every aggregate, join and rank.
pub fn apply_options(plan: Plan, options: PlanOptions) -> Plan {
    let mut plan = plan.map_inputs(&mut |p| apply_options(p, options));
    match &mut plan.node {
        Node::Aggregate {
            two_phase,
            state_ttl_ms,
            ..
        } => {
            *two_phase = options.two_phase;
            *state_ttl_ms = options.state_ttl_ms;
        }
        Node::Join { state_ttl_ms, .. } | Node::Rank { state_ttl_ms, .. } => {
            *state_ttl_ms = options.state_ttl_ms;
        }
        _ => {}
    }
    match options.split_distinct {
        Some(buckets) => crate::sql::split_distinct::split(plan, buckets),
        None => plan,
    }
}

/// The columns of a scan's output that nodes above it read: what its source must parse (the
/// others are left `NULL`). `None` means every column.
pub fn required_columns(plan: &Plan) -> Option<Vec<bool>> {
    let Node::Project { input, exprs } = &plan.node else {
        return None;
    };
    let mut filters = Vec::new();
    let mut below = input.as_ref();
    while let Node::Filter { input, predicate } = &below.node {
        filters.push(predicate);
        below = input;
    }
    let Node::Scan {
        computed,
        watermark,
        ..
    } = &below.node
    else {
        return None;
    };
    let mut cols = Vec::new();
    exprs.iter().for_each(|e| e.columns(&mut cols));
    filters.iter().for_each(|e| e.columns(&mut cols));
    if let Some((c, e)) = watermark {
        cols.push(*c);
        e.columns(&mut cols);
    }
    // A computed column reads physical ones.
    let mut more = Vec::new();
    for c in &cols {
        if let Some(Some(e)) = computed.get(*c) {
            e.columns(&mut more);
        }
    }
    cols.extend(more);
    let mut needed = vec![false; below.schema.len()];
    for c in cols {
        if let Some(n) = needed.get_mut(c) {
            *n = true;
        }
    }
    Some(needed)
}
