//! Binding what follows `FROM t`: `CROSS JOIN UNNEST(array)` and regular joins (`[INNER] JOIN`,
//! `LEFT`, `RIGHT`, `FULL [OUTER] JOIN … ON`). A regular join needs at least one equality
//! between a column of each side (its key); the rest of `ON` is a condition on the joined
//! row. Its output is the left side's columns then the right's; the rowtime of either side
//! becomes a plain timestamp (as in Flink's regular joins). A side may be an updating query
//! (an aggregate): its retractions retract the joined rows, and the join updates. A join of
//! append-only sides bounded in time (see [`join_time`]) is a window or interval join.

use sqlparser::ast;

use crate::sql::bind::expr::{ExprBinder, Scope, ScopeColumn};
use crate::sql::bind::join_time::join_time;
use crate::sql::bind::lookup::bind_lookup_join;
use crate::sql::expr::{CmpOp, Expr};
use crate::sql::plan::{ChangelogMode, JoinKind, Node, Plan};
use crate::sql::types::{DataType, Field, Schema};
use crate::sql::SqlError;

/// Binds one join of a `FROM` after `left`, whose columns `scope` names; `right` binds the
/// joined table factor.
pub fn bind_join(
    (left, scope): (Plan, Scope),
    join: &ast::Join,
    right: impl FnOnce(&ast::TableFactor) -> Result<(Plan, Scope), SqlError>,
) -> Result<(Plan, Scope), SqlError> {
    use ast::JoinOperator as J;
    let (kind, constraint) = match &join.join_operator {
        J::CrossJoin(_) | J::Inner(_) | J::Join(_)
            if matches!(join.relation, ast::TableFactor::UNNEST { .. }) =>
        {
            return unnest(left, scope, &join.relation);
        }
        J::Inner(c) | J::Join(c) => (JoinKind::Inner, c),
        J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
        J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
        J::FullOuter(c) => (JoinKind::Full, c),
        J::CrossJoin(_) => {
            return Err(SqlError::NotSupported(
                "CROSS JOIN of two tables (a join needs an equality between its sides)".into(),
            ))
        }
        other => return Err(SqlError::NotSupported(format!("the join {other:?}"))),
    };
    let on = match constraint {
        ast::JoinConstraint::On(e) => e,
        other => {
            return Err(SqlError::NotSupported(format!(
                "the join constraint {other:?} (write JOIN … ON)"
            )))
        }
    };
    if let ast::TableFactor::Table {
        version: Some(ast::TableVersion::ForSystemTimeAsOf(at)),
        ..
    } = &join.relation
    {
        let mut table = join.relation.clone();
        if let ast::TableFactor::Table { version, .. } = &mut table {
            *version = None;
        }
        return bind_lookup_join((left, scope), kind, on, at, right(&table)?);
    }
    let (right_plan, right_scope) = right(&join.relation)?;
    // An updating side's retractions retract its joined rows: the join updates too.
    let updating_input =
        left.mode != ChangelogMode::Append || right_plan.mode != ChangelogMode::Append;
    let nl = scope.columns.len();
    let mut both = scope.clone();
    both.columns.extend(right_scope.columns.iter().cloned());
    let condition = ExprBinder::new(&both).bind(on)?;
    if !matches!(condition.data_type(), DataType::Boolean) {
        return Err(SqlError::Type(format!(
            "ON needs a BOOLEAN, got {} in {condition}",
            condition.data_type()
        )));
    }
    let mut conjuncts = Vec::new();
    flatten_and(condition, &mut conjuncts);
    let (mut left_keys, mut right_keys, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for c in conjuncts {
        match equi_key(&c, nl) {
            Some((l, r)) => {
                let (lt, rt) = (
                    &both.columns[l].field.data_type,
                    &both.columns[r].field.data_type,
                );
                if lt != rt && !(lt.is_integer() && rt.is_integer()) {
                    return Err(SqlError::NotSupported(format!(
                        "join keys of different types ({} is {lt}, {} is {rt}); CAST one of them",
                        both.columns[l].field.name, both.columns[r].field.name
                    )));
                }
                left_keys.push(l);
                right_keys.push(r - nl);
            }
            None => rest.push(c),
        }
    }
    if left_keys.is_empty() {
        return Err(SqlError::NotSupported(format!(
            "a join without an equality between a column of each side ({on})"
        )));
    }
    // A window or interval join keeps its time conjuncts in the condition: their bounds only
    // tell when a row can no longer match.
    let time = join_time(&left, &right_plan, (&left_keys, &right_keys), &rest);
    let condition = match rest.len() {
        0 => None,
        1 => rest.pop(),
        _ => Some(Expr::And(rest)),
    };
    let (left_nullable, right_nullable) = match kind {
        JoinKind::Inner => (false, false),
        JoinKind::Left => (false, true),
        JoinKind::Right => (true, false),
        JoinKind::Full => (true, true),
    };
    let mut fields: Vec<Field> = Vec::with_capacity(both.columns.len());
    for (i, c) in both.columns.iter_mut().enumerate() {
        c.field.time = None;
        if (i < nl && left_nullable) || (i >= nl && right_nullable) {
            c.field.nullable = true;
        }
        fields.push(c.field.clone());
    }
    // A time-bounded outer join emits a padded row only once the row can no longer match.
    let mode = match kind {
        JoinKind::Inner if !updating_input => ChangelogMode::Append,
        _ if time.is_some() => ChangelogMode::Append,
        _ => ChangelogMode::Updating,
    };
    let plan = Plan {
        node: Node::Join {
            left: Box::new(left),
            right: Box::new(right_plan),
            kind,
            left_keys,
            right_keys,
            condition,
            state_ttl_ms: None,
            time,
        },
        schema: Schema::new(fields),
        mode,
    };
    Ok((plan, both))
}

/// The conjuncts of `e`.
pub(super) fn flatten_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(es) => es.into_iter().for_each(|e| flatten_and(e, out)),
        e => out.push(e),
    }
}

/// `l = r` with `l` a left column and `r` a right one (either order): their positions.
fn equi_key(e: &Expr, nl: usize) -> Option<(usize, usize)> {
    let Expr::Compare(CmpOp::Eq, a, b) = e else {
        return None;
    };
    match (a.as_ref(), b.as_ref()) {
        (Expr::Column { index: x, .. }, Expr::Column { index: y, .. }) => {
            match (*x < nl, *y < nl) {
                (true, false) => Some((*x, *y)),
                (false, true) => Some((*y, *x)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `CROSS JOIN UNNEST(array) [AS t(name)]`: each row once per element, the element appended.
fn unnest(
    plan: Plan,
    mut scope: Scope,
    relation: &ast::TableFactor,
) -> Result<(Plan, Scope), SqlError> {
    let ast::TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset,
        ..
    } = relation
    else {
        return Err(SqlError::Validation("not an UNNEST".into()));
    };
    let [array] = array_exprs.as_slice() else {
        return Err(SqlError::NotSupported("UNNEST of several arrays".into()));
    };
    if *with_offset {
        return Err(SqlError::NotSupported("UNNEST … WITH OFFSET".into()));
    }
    let array = ExprBinder::new(&scope).bind(array)?;
    let element = match array.data_type() {
        DataType::Array(t) => *t,
        t => {
            return Err(SqlError::Type(format!(
                "UNNEST needs an ARRAY, got {t} in {array}"
            )))
        }
    };
    let (qualifier, name) = match alias {
        Some(a) => (
            Some(a.name.value.clone()),
            a.columns
                .first()
                .map(|c| c.name.value.clone())
                .unwrap_or_else(|| "f0".into()),
        ),
        None => (None, "f0".into()),
    };
    let mut fields = plan.schema.fields.clone();
    fields.push(Field::new(name.clone(), element.clone()));
    scope.columns.push(ScopeColumn {
        qualifier,
        field: Field::new(name, element),
    });
    let mode = plan.mode;
    let plan = Plan {
        node: Node::Unnest {
            input: Box::new(plan),
            array,
        },
        schema: Schema::new(fields),
        mode,
    };
    Ok((plan, scope))
}
