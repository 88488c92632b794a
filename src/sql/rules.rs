//! Rewrites of a bound plan that keep its results and lower its cost.
//!
//! - **Predicate push-down**: a filter moves below projections (reading the projected
//!   expressions instead), below a window TVF when it does not read the window's columns
//!   (so the TVF can fuse with its `GROUP BY`), and into each input of a `UNION ALL`; adjacent
//!   filters merge. Only deterministic predicates over deterministic projections move.
//! - **Projection merging**: a projection of a projection becomes one.
//! - **Column pruning**: a scan parses only the physical columns some node above it reads
//!   ([`required_columns`]).

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
        } if reads_below(&predicate, inner.schema.len()) => Plan {
            node: Node::WindowTvf {
                input: Box::new(filter(*inner, predicate)),
                window,
                time_col,
                partition_by,
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
    let Plan { node, schema, mode } = plan;
    let node = match node {
        Node::Project { input, exprs } => {
            let input = optimize(*input);
            match input.node {
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
            }
        }
        Node::Filter { input, predicate } => Node::Filter {
            input: Box::new(optimize(*input)),
            predicate,
        },
        Node::WindowTvf {
            input,
            window,
            time_col,
            partition_by,
        } => Node::WindowTvf {
            input: Box::new(optimize(*input)),
            window,
            time_col,
            partition_by,
        },
        Node::WindowAggregate {
            input,
            window,
            time_col,
            keys,
            properties,
            aggs,
        } => Node::WindowAggregate {
            input: Box::new(optimize(*input)),
            window,
            time_col,
            keys,
            properties,
            aggs,
        },
        Node::Aggregate { input, keys, aggs } => Node::Aggregate {
            input: Box::new(optimize(*input)),
            keys,
            aggs,
        },
        Node::Unnest { input, array } => Node::Unnest {
            input: Box::new(optimize(*input)),
            array,
        },
        Node::Union { inputs } => Node::Union {
            inputs: inputs.into_iter().map(optimize).collect(),
        },
        Node::Sink { input, table } => Node::Sink {
            input: Box::new(optimize(*input)),
            table,
        },
        leaf @ (Node::Scan { .. } | Node::Values { .. }) => leaf,
    };
    Plan { node, schema, mode }
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
