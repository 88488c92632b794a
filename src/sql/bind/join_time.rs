//! Recognizing the joins Flink bounds in time, so that their state ends with the watermark:
//!
//! - A **window join**: both sides are windowed the same way (a window TVF, or a window
//!   aggregate over one) and `ON` equates their `window_start`s and their `window_end`s
//!   (through projections that keep the columns, renamed or not).
//! - An **interval join**: `ON` bounds one side's rowtime by the other's from below and from
//!   above, as `l.t BETWEEN r.t - INTERVAL … AND r.t + INTERVAL …`, or with `>=`, `>`, `<=`,
//!   `<` and the sides in either order.
//!
//! Both need append-only inputs; any other join stays a regular one.

use crate::sql::expr::{CmpOp, Expr};
use crate::sql::functions::ArithOp;
use crate::sql::plan::{ChangelogMode, JoinTime, Node, Plan, WindowKind, WindowProperty};
use crate::sql::types::{TimeAttribute, Value};

/// The time bound of a join of `left` and `right` on `left_keys = right_keys` and `rest`
/// (conjuncts over the joined row, whose first `left.schema.len()` columns are the left's).
pub fn join_time(
    left: &Plan,
    right: &Plan,
    (left_keys, right_keys): (&[usize], &[usize]),
    rest: &[Expr],
) -> Option<JoinTime> {
    if left.mode != ChangelogMode::Append || right.mode != ChangelogMode::Append {
        return None;
    }
    window_join(left, right, left_keys, right_keys).or_else(|| interval_join(left, right, rest))
}

fn window_join(
    left: &Plan,
    right: &Plan,
    left_keys: &[usize],
    right_keys: &[usize],
) -> Option<JoinTime> {
    let mut starts = false;
    let mut ends = None;
    for (l, r) in left_keys.iter().zip(right_keys) {
        let (Some((lp, lw)), Some((rp, rw))) = (window_column(left, *l), window_column(right, *r))
        else {
            continue;
        };
        if lw != rw || matches!(lw, WindowKind::Session { .. }) || lp != rp {
            continue;
        }
        match lp {
            WindowProperty::Start => starts = true,
            WindowProperty::End => ends = Some((*l, *r)),
            WindowProperty::Time => {}
        }
    }
    match (starts, ends) {
        (true, Some((left_end, right_end))) => Some(JoinTime::Window {
            left_end,
            right_end,
        }),
        _ => None,
    }
}

/// Which window property column `col` of `plan` is, and of which windows (of event time: a
/// window join fires by the watermark).
fn window_column(plan: &Plan, col: usize) -> Option<(WindowProperty, WindowKind)> {
    match &plan.node {
        Node::Filter { input, .. } => window_column(input, col),
        Node::Project { input, exprs } => match exprs.get(col)? {
            Expr::Column { index, .. } => window_column(input, *index),
            _ => None,
        },
        Node::WindowTvf {
            input,
            window,
            proctime: false,
            ..
        } => {
            let property = match col.checked_sub(input.schema.len())? {
                0 => WindowProperty::Start,
                1 => WindowProperty::End,
                2 => WindowProperty::Time,
                _ => return None,
            };
            Some((property, *window))
        }
        Node::WindowAggregate {
            window,
            keys,
            properties,
            proctime: false,
            ..
        } => {
            let property = properties.get(col.checked_sub(keys.len())?)?;
            Some((*property, *window))
        }
        _ => None,
    }
}

fn interval_join(left: &Plan, right: &Plan, rest: &[Expr]) -> Option<JoinTime> {
    let nl = left.schema.len();
    let rowtime = |plan: &Plan, c: usize| {
        plan.schema.fields.get(c).and_then(|f| f.time) == Some(TimeAttribute::Rowtime)
    };
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    let mut times = None;
    for c in rest {
        let Some(bound) = time_bound(c, nl) else {
            continue;
        };
        if !rowtime(left, bound.left) || !rowtime(right, bound.right) {
            continue;
        }
        if *times.get_or_insert((bound.left, bound.right)) != (bound.left, bound.right) {
            return None;
        }
        if let Some(lo) = bound.lower {
            lower = Some(lower.map_or(lo, |x| x.max(lo)));
        }
        if let Some(hi) = bound.upper {
            upper = Some(upper.map_or(hi, |x| x.min(hi)));
        }
    }
    let ((left_time, right_time), lower, upper) = (times?, lower?, upper?);
    Some(JoinTime::Interval {
        left_time,
        right_time,
        lower,
        upper,
    })
}

/// `left.time - right.time` bounded by one comparison.
struct Bound {
    left: usize,
    right: usize,
    lower: Option<i64>,
    upper: Option<i64>,
}

/// A comparison of a left column and a right one, each plus or minus a constant interval,
/// as a bound of their difference.
fn time_bound(e: &Expr, nl: usize) -> Option<Bound> {
    let Expr::Compare(op, a, b) = e else {
        return None;
    };
    let ((ca, oa), (cb, ob)) = (shifted_column(a)?, shifted_column(b)?);
    // ca + oa  op  cb + ob   ⇔   ca - cb  op  ob - oa
    let (op, left, right, c) = match (ca < nl, cb < nl) {
        (true, false) => (*op, ca, cb - nl, ob.checked_sub(oa)?),
        // cb - ca  op'  oa - ob with op' the mirror of op
        (false, true) => (mirror(*op)?, cb, ca - nl, oa.checked_sub(ob)?),
        _ => return None,
    };
    let (lower, upper) = match op {
        CmpOp::GtEq => (Some(c), None),
        CmpOp::Gt => (Some(c.checked_add(1)?), None),
        CmpOp::LtEq => (None, Some(c)),
        CmpOp::Lt => (None, Some(c.checked_sub(1)?)),
        _ => return None,
    };
    Some(Bound {
        left,
        right,
        lower,
        upper,
    })
}

/// `x op y` ⇔ `y mirror(op) x`.
fn mirror(op: CmpOp) -> Option<CmpOp> {
    Some(match op {
        CmpOp::GtEq => CmpOp::LtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Lt => CmpOp::Gt,
        _ => return None,
    })
}

/// `column`, `column + INTERVAL …` or `column - INTERVAL …`: the column and the shift in
/// milliseconds.
fn shifted_column(e: &Expr) -> Option<(usize, i64)> {
    match e {
        Expr::Column { index, .. } => Some((*index, 0)),
        Expr::Arith(op, x, y, _) => {
            let (Expr::Column { index, .. }, Expr::Literal(Value::Interval(ms), _)) =
                (x.as_ref(), y.as_ref())
            else {
                return None;
            };
            match op {
                ArithOp::Add => Some((*index, *ms)),
                ArithOp::Sub => Some((*index, ms.checked_neg()?)),
                _ => None,
            }
        }
        _ => None,
    }
}
