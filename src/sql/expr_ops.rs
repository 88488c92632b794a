//! Arithmetic, comparisons and fields of `ROW` columns compiled into closures, with fast paths
//! for `BIGINT` columns and constants (part of [`super::compile`]).

use std::sync::Arc;

use super::{compile, CmpOp, Compiled, Expr};
use crate::sql::functions::{self, ArithOp};
use crate::sql::types::{DataType, Value};

pub(super) fn compile_arith(op: ArithOp, a: &Expr, b: &Expr, out: &DataType) -> Compiled {
    let (at, bt) = (a.data_type(), b.data_type());
    // BIGINT arithmetic on a column and a constant is the common case (`value * 2`): no
    // dispatch on types per row.
    if at == DataType::BigInt && bt == DataType::BigInt && *out == DataType::BigInt {
        if let (Expr::Column { index, .. }, Expr::Literal(Value::Int(k), _)) = (a, b) {
            let (i, k) = (*index, *k);
            let f: fn(i64, i64) -> Option<i64> = match op {
                ArithOp::Add => |x, y| Some(x.wrapping_add(y)),
                ArithOp::Sub => |x, y| Some(x.wrapping_sub(y)),
                ArithOp::Mul => |x, y| Some(x.wrapping_mul(y)),
                ArithOp::Div => |x, y| x.checked_div(y),
                ArithOp::Mod => |x, y| x.checked_rem(y),
            };
            if k != 0 || !matches!(op, ArithOp::Div | ArithOp::Mod) {
                return Arc::new(move |row| {
                    Ok(match row.get(i) {
                        Some(Value::Int(x)) => f(*x, k).map_or(Value::Null, Value::Int),
                        _ => Value::Null,
                    })
                });
            }
        }
    }
    if let Some(c) = decimal_times_integer(op, a, b, out) {
        return c;
    }
    let (ca, cb, out) = (compile(a), compile(b), out.clone());
    Arc::new(move |row| functions::arithmetic(op, &ca(row)?, &at, &cb(row)?, &bt, &out))
}

/// A `DECIMAL` constant times an integer column into the constant's scale (`0.908 * price`):
/// the product of the unscaled constant and the integer, read in place; NULL where it
/// overflows the result's precision, as [`functions::arithmetic`] gives.
fn decimal_times_integer(op: ArithOp, a: &Expr, b: &Expr, out: &DataType) -> Option<Compiled> {
    let DataType::Decimal { precision, scale } = *out else {
        return None;
    };
    let ((Expr::Literal(Value::Decimal(k), DataType::Decimal { scale: ks, .. }), column)
    | (column, Expr::Literal(Value::Decimal(k), DataType::Decimal { scale: ks, .. }))) = (a, b)
    else {
        return None;
    };
    let Expr::Column {
        index, data_type, ..
    } = column
    else {
        return None;
    };
    if op != ArithOp::Mul || *ks != scale || !data_type.is_integer() {
        return None;
    }
    let (i, k) = (*index, *k);
    Some(Arc::new(move |row| {
        Ok(match row.get(i) {
            Some(Value::Int(x)) => k
                .checked_mul(i128::from(*x))
                .filter(|v| functions::decimal::fits(*v, precision))
                .map_or(Value::Null, Value::Decimal),
            _ => Value::Null,
        })
    }))
}

pub(super) fn compile_compare(op: CmpOp, a: &Expr, b: &Expr) -> Compiled {
    let (at, bt) = (a.data_type(), b.data_type());
    if at.is_integer() && bt.is_integer() {
        // A column against a constant (`event_type = 2`): read in place.
        if let (Expr::Column { index, .. }, Expr::Literal(Value::Int(k), _)) = (a, b) {
            let (i, k) = (*index, *k);
            return Arc::new(move |row| {
                Ok(match row.get(i) {
                    Some(Value::Int(x)) => Value::Bool(op.holds(x.cmp(&k))),
                    _ => Value::Null,
                })
            });
        }
        let (ca, cb) = (compile(a), compile(b));
        return Arc::new(move |row| {
            Ok(match (ca(row)?, cb(row)?) {
                (Value::Int(x), Value::Int(y)) => Value::Bool(op.holds(x.cmp(&y))),
                _ => Value::Null,
            })
        });
    }
    let (ca, cb) = (compile(a), compile(b));
    Arc::new(move |row| {
        Ok(match functions::compare(&ca(row)?, &at, &cb(row)?, &bt) {
            Some(o) => Value::Bool(op.holds(o)),
            None => Value::Null,
        })
    })
}

/// `column.a.b…` as the column and the fields' indexes, if `e` is such a path.
pub fn field_path(e: &Expr) -> Option<(usize, Vec<usize>)> {
    match e {
        Expr::Column { index, .. } => Some((*index, Vec::new())),
        Expr::Call(f, args) if f.name == "FIELD" => {
            let [row, Expr::Literal(Value::Str(name), _)] = args.as_slice() else {
                return None;
            };
            let DataType::Row(fields) = row.data_type() else {
                return None;
            };
            let i = fields
                .iter()
                .position(|f| f.name.eq_ignore_ascii_case(name))?;
            let (column, mut path) = field_path(row)?;
            path.push(i);
            Some((column, path))
        }
        _ => None,
    }
}

/// `row.a.b` read in place: only the field itself is cloned.
pub(super) fn compile_field_path(e: &Expr) -> Compiled {
    let (column, path) = field_path(e).unwrap_or_default();
    Arc::new(move |row| {
        let mut v = row.get(column);
        for i in &path {
            v = match v {
                Some(Value::Row(fields)) => fields.get(*i),
                _ => None,
            };
        }
        Ok(v.cloned().unwrap_or(Value::Null))
    })
}
