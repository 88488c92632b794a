//! Flink's older group window functions: `GROUP BY TUMBLE(ts, size)`, `HOP(ts, slide, size)`
//! or `SESSION(ts, gap)` beside the other keys, with `TUMBLE_START(…)`, `…_END`, `…_ROWTIME`
//! and `…_PROCTIME` in the `SELECT` list and `HAVING`.
//!
//! They are planned as the window TVF they mean: the `FROM` (after `WHERE`) gets a window TVF
//! node, the group window in `GROUP BY` becomes its `window_start, window_end`, and the
//! auxiliary functions its `window_start`, `window_end` and `window_time`. A `SESSION` is
//! partitioned by the other keys, as Flink's group sessions are per key.

use std::ops::ControlFlow;

use sqlparser::ast;

use crate::sql::bind::expr::{ExprBinder, Scope, ScopeColumn};
use crate::sql::bind::literal::interval_millis;
use crate::sql::bind::window::{time_attribute, window_kind, window_tvf};
use crate::sql::expr::Expr;
use crate::sql::plan::{Plan, WindowKind};
use crate::sql::SqlError;

/// The hidden names the window columns get in the query's scope.
const START: &str = "$window_start";
const END: &str = "$window_end";
const TIME: &str = "$window_time";

/// A `SELECT` with a group window, rewritten over a window TVF.
pub struct Rewritten {
    /// The `FROM` with the window TVF over it.
    pub plan: Plan,
    /// Its scope: the `FROM`'s columns, then the window's.
    pub scope: Scope,
    /// `GROUP BY`, the group window replaced by the window's start and end.
    pub group_by: Vec<ast::Expr>,
    /// The `SELECT` items, the auxiliary functions replaced by window columns.
    pub items: Vec<(ast::Expr, Option<String>)>,
    /// `HAVING`, rewritten.
    pub having: Option<ast::Expr>,
}

/// Rewrites a `SELECT` whose `GROUP BY` holds a group window function; `None` when none does.
pub fn rewrite(
    plan: &Plan,
    scope: &Scope,
    group_by: &[ast::Expr],
    items: &[(ast::Expr, Option<String>)],
    having: Option<&ast::Expr>,
) -> Result<Option<Rewritten>, SqlError> {
    let windows: Vec<(usize, &ast::Function, &'static str)> = group_by
        .iter()
        .enumerate()
        .filter_map(|(i, e)| group_window(e).map(|(f, name)| (i, f, name)))
        .collect();
    let (at, f, name) = match windows.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => {
            return Err(SqlError::NotSupported(
                "more than one group window in one GROUP BY".into(),
            ))
        }
    };
    let usage = || {
        SqlError::Validation(format!(
            "{name} takes (time_attribute, {}), got {f}",
            match name {
                "TUMBLE" => "size",
                "HOP" => "slide, size",
                _ => "gap",
            }
        ))
    };
    let args = arguments(f).ok_or_else(usage)?;
    let [time, sizes @ ..] = args.as_slice() else {
        return Err(usage());
    };
    let binder = ExprBinder::new(scope);
    let Expr::Column {
        index: time_col, ..
    } = binder.bind(time)?
    else {
        return Err(usage());
    };
    let proctime = time_attribute(&scope.columns[time_col].field)?;
    let sizes = sizes
        .iter()
        .map(|e| match e {
            ast::Expr::Interval(i) => interval_millis(i),
            _ => Err(usage()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let window = window_kind(name, &sizes)?.ok_or_else(usage)?;
    // A session is per key: partitioned by the other keys, which must then be columns.
    let mut partition_by = Vec::new();
    if matches!(window, WindowKind::Session { .. }) {
        for (i, k) in group_by.iter().enumerate().filter(|(i, _)| *i != at) {
            match binder.bind(k)? {
                Expr::Column { index, .. } => partition_by.push(index),
                _ => {
                    return Err(SqlError::NotSupported(format!(
                        "a SESSION group window beside the key expression {} (group by columns)",
                        group_by[i]
                    )))
                }
            }
        }
    }
    let plan = window_tvf(plan.clone(), window, time_col, partition_by, proctime);
    let mut scope = scope.clone();
    for (name, field) in [START, END, TIME]
        .into_iter()
        .zip(plan.schema.fields.iter().skip(scope.columns.len()).cloned())
    {
        let mut field = field;
        field.name = name.into();
        scope.columns.push(ScopeColumn {
            qualifier: None,
            field,
        });
    }
    let mut keys = group_by.to_vec();
    keys.splice(at..=at, [column(START), column(END)]);
    let mut items = items.to_vec();
    for (e, _) in &mut items {
        auxiliaries(e, name)?;
    }
    let having = match having {
        Some(h) => {
            let mut h = h.clone();
            auxiliaries(&mut h, name)?;
            Some(h)
        }
        None => None,
    };
    Ok(Some(Rewritten {
        plan,
        scope,
        group_by: keys,
        items,
        having,
    }))
}

/// `e` when it is a group window function call: the call and its name.
fn group_window(e: &ast::Expr) -> Option<(&ast::Function, &'static str)> {
    let ast::Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_uppercase();
    ["TUMBLE", "HOP", "SESSION"]
        .into_iter()
        .find(|n| *n == name)
        .map(|n| (f, n))
}

/// A call's positional arguments.
fn arguments(f: &ast::Function) -> Option<Vec<&ast::Expr>> {
    match &f.args {
        ast::FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn column(name: &str) -> ast::Expr {
    ast::Expr::Identifier(ast::Ident::with_quote('`', name))
}

/// Replaces `<window>_START(…)`, `_END`, `_ROWTIME` and `_PROCTIME` in `e` by the window's
/// columns; an auxiliary function of another kind of window is an error.
fn auxiliaries(e: &mut ast::Expr, window: &str) -> Result<(), SqlError> {
    let outcome = ast::visit_expressions_mut(e, |x| {
        let ast::Expr::Function(f) = x else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_uppercase();
        let Some((kind, aux)) = name.split_once('_') else {
            return ControlFlow::Continue(());
        };
        if !["TUMBLE", "HOP", "SESSION"].contains(&kind) {
            return ControlFlow::Continue(());
        }
        let target = match aux {
            "START" => START,
            "END" => END,
            "ROWTIME" | "PROCTIME" => TIME,
            _ => return ControlFlow::Continue(()),
        };
        if kind != window {
            return ControlFlow::Break(SqlError::Validation(format!(
                "{name} does not match the group window {window} of the GROUP BY"
            )));
        }
        *x = column(target);
        ControlFlow::Continue(())
    });
    match outcome {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}
