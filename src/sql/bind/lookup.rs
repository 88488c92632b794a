//! Binding a lookup join: `FROM s JOIN t FOR SYSTEM_TIME AS OF s.proctime AS x ON …`, Flink's
//! processing-time temporal join. Each row of `s` looks up the rows of the table `t` whose
//! columns equal its key expressions (`ON f(s.a) = x.k AND …`); the rest of `ON` is a condition
//! on the joined row. `INNER` and `LEFT` joins are lookup joins; the output's changelog is the
//! input's, and the input's time attributes stay.

use sqlparser::ast;

use crate::sql::bind::expr::{ExprBinder, Scope};
use crate::sql::bind::join::flatten_and;
use crate::sql::expr::{CmpOp, Expr};
use crate::sql::plan::{JoinKind, Node, Plan};
use crate::sql::types::{Schema, TimeAttribute};
use crate::sql::SqlError;

/// The connectors whose tables can be looked up.
const LOOKUP_CONNECTORS: &[&str] = &["filesystem"];

/// Binds a join whose right side is `relation` `FOR SYSTEM_TIME AS OF at`.
pub fn bind_lookup_join(
    (left, scope): (Plan, Scope),
    kind: JoinKind,
    on: &ast::Expr,
    at: &ast::Expr,
    right: (Plan, Scope),
) -> Result<(Plan, Scope), SqlError> {
    if !matches!(kind, JoinKind::Inner | JoinKind::Left) {
        return Err(SqlError::NotSupported(format!(
            "a {kind:?} lookup join (FOR SYSTEM_TIME AS OF joins are INNER or LEFT)"
        )));
    }
    let at = ExprBinder::new(&scope).bind(at)?;
    match &at {
        Expr::Column { index, .. } => match scope.columns[*index].field.time {
            Some(TimeAttribute::Proctime) => {}
            Some(TimeAttribute::Rowtime) => {
                return Err(SqlError::NotSupported(format!(
                    "an event-time temporal join (FOR SYSTEM_TIME AS OF the rowtime {at}); a lookup join needs a PROCTIME() attribute"
                )))
            }
            None => return Err(not_a_time_attribute(&at)),
        },
        _ => return Err(not_a_time_attribute(&at)),
    }
    let (right_plan, right_scope) = right;
    let Node::Scan {
        table, computed, ..
    } = right_plan.node
    else {
        return Err(SqlError::NotSupported(
            "a lookup join on a view or a query (FOR SYSTEM_TIME AS OF takes a table)".into(),
        ));
    };
    let connector = table.connector()?;
    if !LOOKUP_CONNECTORS.contains(&connector) {
        return Err(SqlError::NotSupported(format!(
            "looking up the '{connector}' table '{}' (lookup sources: {})",
            table.name,
            LOOKUP_CONNECTORS.join(", ")
        )));
    }
    let nl = scope.columns.len();
    let mut both = scope.clone();
    both.columns.extend(right_scope.columns.iter().cloned());
    let condition = ExprBinder::new(&both).bind(on)?;
    let mut conjuncts = Vec::new();
    flatten_and(condition, &mut conjuncts);
    let (mut keys, mut rest) = (Vec::new(), Vec::new());
    for c in conjuncts {
        match lookup_key(&c, nl) {
            Some((e, col)) => {
                let (et, ct) = (e.data_type(), &both.columns[nl + col].field.data_type);
                if et != *ct && !(et.is_integer() && ct.is_integer()) {
                    return Err(SqlError::NotSupported(format!(
                        "a lookup key of another type ({e} is {et}, {} is {ct}); CAST one of them",
                        both.columns[nl + col].field.name
                    )));
                }
                keys.push((e, col));
            }
            None => rest.push(c),
        }
    }
    if keys.is_empty() {
        return Err(SqlError::Validation(format!(
            "Temporal table join requires an equality condition on fields of table [{}] ({on})",
            table.name
        )));
    }
    let condition = match rest.len() {
        0 => None,
        1 => rest.pop(),
        _ => Some(Expr::And(rest)),
    };
    let mut fields = left.schema.fields.clone();
    for (i, c) in both.columns.iter_mut().enumerate().skip(nl) {
        c.field.time = None;
        if kind == JoinKind::Left {
            c.field.nullable = true;
        }
        if let Some(f) = right_plan.schema.fields.get(i - nl) {
            let mut f = f.clone();
            f.time = None;
            f.nullable = c.field.nullable;
            fields.push(f);
        }
    }
    let mode = left.mode;
    let plan = Plan {
        node: Node::LookupJoin {
            input: Box::new(left),
            table,
            computed,
            kind,
            keys,
            condition,
        },
        schema: Schema::new(fields),
        mode,
    };
    Ok((plan, both))
}

fn not_a_time_attribute(at: &Expr) -> SqlError {
    SqlError::Validation(format!(
        "FOR SYSTEM_TIME AS OF needs a time attribute of the left side, got {at}"
    ))
}

/// `e = t.k` (either order) with `e` over the left's columns only: `e` and `k`'s position in
/// the table.
fn lookup_key(c: &Expr, nl: usize) -> Option<(Expr, usize)> {
    let Expr::Compare(CmpOp::Eq, a, b) = c else {
        return None;
    };
    let left_only = |e: &Expr| {
        let mut cols = Vec::new();
        e.columns(&mut cols);
        !cols.is_empty() && cols.iter().all(|c| *c < nl)
    };
    match (a.as_ref(), b.as_ref()) {
        (e, Expr::Column { index, .. }) | (Expr::Column { index, .. }, e)
            if *index >= nl && left_only(e) =>
        {
            Some((e.clone(), index - nl))
        }
        _ => None,
    }
}
