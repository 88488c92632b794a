//! Binding Flink's Top-N and deduplication:
//! `SELECT … FROM (SELECT …, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM t)
//! WHERE rn <= N`. The `ROW_NUMBER()` item makes a [`Node::Rank`] (its input's columns, then the
//! row number); the outer `WHERE rn <= N` (or `rn < N`, `rn = 1`) becomes its limit when the
//! filter is pushed down ([`crate::sql::rules::filter`]). A `ROW_NUMBER()` left without a limit
//! is refused when the plan is lowered.

use sqlparser::ast;

use crate::sql::bind::expr::{ExprBinder, Scope, ScopeColumn};
use crate::sql::expr::Expr;
use crate::sql::plan::{ChangelogMode, Node, Plan};
use crate::sql::types::{DataType, Field, Schema};
use crate::sql::SqlError;

/// The name of the row number column inside a plan (the `SELECT` item names it for users).
pub const RANK_COLUMN: &str = "$row_number";

/// The `SELECT` item that is `ROW_NUMBER() OVER (…)`, if any: its position and its function.
pub fn rank_item(
    items: &[(ast::Expr, Option<String>)],
) -> Result<Option<(usize, &ast::Function)>, SqlError> {
    let mut found = None;
    for (i, (e, _)) in items.iter().enumerate() {
        if let ast::Expr::Function(f) = e {
            if f.over.is_some() {
                let name = f.name.to_string().to_uppercase();
                if name != "ROW_NUMBER" {
                    return Err(SqlError::NotSupported(format!(
                        "the window function {name}(…) OVER (…) (ROW_NUMBER is supported, for Top-N and deduplication)"
                    )));
                }
                if found.is_some() {
                    return Err(SqlError::NotSupported(
                        "two ROW_NUMBER() items in one SELECT".into(),
                    ));
                }
                found = Some((i, f));
            }
        }
    }
    Ok(found)
}

/// The rank of `input` (whose columns `scope` names) by `f`'s window: its plan and its scope,
/// the row number last.
pub fn bind_rank(input: Plan, scope: &Scope, f: &ast::Function) -> Result<(Plan, Scope), SqlError> {
    if input.mode != ChangelogMode::Append {
        return Err(SqlError::NotSupported(
            "ROW_NUMBER() over an updating input".into(),
        ));
    }
    let spec = match &f.over {
        Some(ast::WindowType::WindowSpec(spec)) => spec,
        _ => {
            return Err(SqlError::NotSupported(
                "a named window (write OVER (PARTITION BY … ORDER BY …))".into(),
            ))
        }
    };
    if spec.window_frame.is_some() {
        return Err(SqlError::NotSupported(
            "a window frame on ROW_NUMBER()".into(),
        ));
    }
    let binder = ExprBinder::new(scope);
    let column = |e: &ast::Expr, what: &str| -> Result<usize, SqlError> {
        match binder.bind(e)? {
            Expr::Column { index, .. } => Ok(index),
            other => Err(SqlError::NotSupported(format!(
                "an expression ({other}) in {what} of ROW_NUMBER(); name a column"
            ))),
        }
    };
    let partition_by = spec
        .partition_by
        .iter()
        .map(|e| column(e, "PARTITION BY"))
        .collect::<Result<Vec<_>, _>>()?;
    if spec.order_by.is_empty() {
        return Err(SqlError::Validation(
            "ROW_NUMBER() needs an ORDER BY".into(),
        ));
    }
    let mut order_by = Vec::with_capacity(spec.order_by.len());
    for o in &spec.order_by {
        let descending = match o.options.sort {
            Some(ast::OrderBySort::Desc) => true,
            Some(ast::OrderBySort::Asc) | None => false,
            Some(ast::OrderBySort::Using(_)) => {
                return Err(SqlError::NotSupported("ORDER BY … USING".into()))
            }
        };
        order_by.push((column(&o.expr, "ORDER BY")?, descending));
    }
    let mut fields = input.schema.fields.clone();
    let mut rank = Field::new(RANK_COLUMN, DataType::BigInt);
    rank.nullable = false;
    fields.push(rank.clone());
    for f in fields.iter_mut() {
        f.time = None;
    }
    let mut scope = scope.clone();
    scope.columns.push(ScopeColumn {
        qualifier: None,
        field: rank,
    });
    Ok((
        Plan {
            node: Node::Rank {
                input: Box::new(input),
                partition_by,
                order_by,
                limit: None,
                state_ttl_ms: None,
            },
            schema: Schema::new(fields),
            mode: ChangelogMode::Updating,
        },
        scope,
    ))
}

/// The `SELECT` item standing for the row number column.
pub fn rank_column_item() -> ast::Expr {
    let mut id = ast::Ident::new(RANK_COLUMN);
    id.quote_style = Some('`');
    ast::Expr::Identifier(id)
}

/// The row count of `LIMIT n`: a non-negative integer literal.
pub fn limit_count(n: &ast::Expr) -> Result<u64, SqlError> {
    match n {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(text, _) => text.parse().ok(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| SqlError::Validation(format!("LIMIT takes a row count, got {n}")))
}

/// `query ORDER BY … LIMIT n`: a Top-N over the whole stream (a rank without partition, its
/// row number not kept), updated as rows enter the top. Without `ORDER BY`, the first `n`
/// rows. `ORDER BY` names output columns, by name or position.
pub fn bind_limit(
    plan: Plan,
    scope: Scope,
    order: &[ast::OrderByExpr],
    limit: u64,
) -> Result<(Plan, Scope), SqlError> {
    let binder = ExprBinder::new(&scope);
    let width = plan.schema.len();
    let mut order_by = Vec::with_capacity(order.len());
    for o in order {
        let descending = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
        let column = match &o.expr {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|p| (1..=width).contains(p))
                    .map(|p| p - 1)
                    .ok_or_else(|| {
                        SqlError::Validation(format!(
                            "ORDER BY {n}: the position must be between 1 and {width}"
                        ))
                    })?,
                _ => return Err(order_column(&o.expr)),
            },
            e => match binder.bind(e)? {
                Expr::Column { index, .. } => index,
                _ => return Err(order_column(&o.expr)),
            },
        };
        order_by.push((column, descending));
    }
    let mut fields = plan.schema.fields.clone();
    for f in fields.iter_mut() {
        f.time = None;
    }
    let mut ranked = fields.clone();
    ranked.push(Field::new(RANK_COLUMN, DataType::BigInt));
    let rank = Plan {
        node: Node::Rank {
            input: Box::new(plan),
            partition_by: vec![],
            order_by,
            limit: Some(limit),
            state_ttl_ms: None,
        },
        schema: Schema::new(ranked.clone()),
        mode: ChangelogMode::Updating,
    };
    let exprs = ranked
        .iter()
        .take(width)
        .enumerate()
        .map(|(index, f)| Expr::Column {
            index,
            name: f.name.clone(),
            data_type: f.data_type.clone(),
        })
        .collect();
    let plan = Plan {
        node: Node::Project {
            input: Box::new(rank),
            exprs,
        },
        schema: Schema::new(fields),
        mode: ChangelogMode::Updating,
    };
    Ok((plan, scope))
}

fn order_column(e: &ast::Expr) -> SqlError {
    SqlError::NotSupported(format!(
        "ORDER BY the expression {e} (name an output column, or its position)"
    ))
}
