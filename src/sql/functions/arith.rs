//! `+ - * / %`: result types as Flink infers them (including `LogicalTypeMerging`'s `DECIMAL`
//! rules) and the arithmetic itself.
//!
//! ## Flink's rules kept here
//! - Integers: `+ - * /` give the wider operand type, `%` gives the right operand's type
//!   (Calcite's `ARG1` for `MOD`); results wrap at that type's width, as Java's `int` and
//!   `long` do; `7 / 2` is 3; `/` or `%` by zero is [`EvalError::DivisionByZero`].
//! - `DOUBLE` with anything numeric is `DOUBLE` (IEEE: `1.0 / 0` is `Infinity`); `FLOAT` with
//!   an exact type is `FLOAT`.
//! - `DECIMAL` with `DECIMAL` or an integer (as `DECIMAL(10, 0)` for `INT`, …) follows
//!   `LogicalTypeMerging`; a result that overflows its type is `NULL`.
//! - Timestamps and dates move by day-time intervals; intervals scale by numbers.

use crate::sql::functions::calendar::MILLIS_PER_DAY;
use crate::sql::functions::cast::{decimal_to_f64, wrap_integer};
use crate::sql::functions::decimal::{self, MAX_PRECISION};
use crate::sql::functions::{EvalError, FunctionError};
use crate::sql::types::{DataType, Value};

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%` and `MOD`.
    Mod,
}

impl ArithOp {
    /// The operator as SQL writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

fn integer_rank(t: &DataType) -> u8 {
    match t {
        DataType::TinyInt => 1,
        DataType::SmallInt => 2,
        DataType::Int => 3,
        _ => 4,
    }
}

/// The wider of two integer types.
pub(crate) fn wider_integer(a: &DataType, b: &DataType) -> DataType {
    if integer_rank(a) >= integer_rank(b) {
        a.clone()
    } else {
        b.clone()
    }
}

/// A numeric exact type as `(precision, scale)`.
pub(crate) fn as_decimal(t: &DataType) -> Option<(u8, u8)> {
    match t {
        DataType::Decimal { precision, scale } => Some((*precision, *scale)),
        other => decimal::integer_precision(other).map(|p| (p, 0)),
    }
}

/// `LogicalTypeMerging.adjustPrecisionScale`: past 38 digits, keep the integer digits and
/// give up scale, but keep at least 6 (or the scale, if smaller).
fn adjust(precision: i32, scale: i32) -> DataType {
    let max = i32::from(MAX_PRECISION);
    let (p, s) = if precision <= max {
        (precision, scale)
    } else {
        let digits = precision - scale;
        (max, (max - digits).max(scale.min(6)))
    };
    DataType::Decimal {
        precision: u8::try_from(p.clamp(1, max)).unwrap_or(MAX_PRECISION),
        scale: u8::try_from(s.clamp(0, max)).unwrap_or(0),
    }
}

fn decimal_result(op: ArithOp, (p1, s1): (u8, u8), (p2, s2): (u8, u8)) -> DataType {
    let (p1, s1, p2, s2) = (i32::from(p1), i32::from(s1), i32::from(p2), i32::from(s2));
    match op {
        ArithOp::Add | ArithOp::Sub => {
            let s = s1.max(s2);
            adjust((p1 - s1).max(p2 - s2) + s + 1, s)
        }
        ArithOp::Mul => adjust(p1 + p2, s1 + s2),
        ArithOp::Div => {
            let s = 6.max(s1 + p2 + 1);
            adjust(p1 - s1 + s2 + s, s)
        }
        ArithOp::Mod => {
            let s = s1.max(s2);
            adjust((p1 - s1).min(p2 - s2) + s, s)
        }
    }
}

/// The type of `l op r`, or why the operator does not apply.
pub fn arithmetic_type(op: ArithOp, l: &DataType, r: &DataType) -> Result<DataType, FunctionError> {
    use DataType as T;
    let refuse = || FunctionError::Operator {
        op: op.symbol().to_string(),
        left: l.to_string(),
        right: r.to_string(),
    };
    let (l, r) = match (l, r) {
        (T::Null, T::Null) => return Err(refuse()),
        (T::Null, other) | (other, T::Null) => (other, other),
        _ => (l, r),
    };
    match (l, r) {
        (a, b) if a.is_numeric() && b.is_numeric() => Ok(match (a, b) {
            (T::Double, _) | (_, T::Double) => T::Double,
            (T::Float, T::Decimal { .. }) | (T::Decimal { .. }, T::Float) => T::Double,
            (T::Float, _) | (_, T::Float) => T::Float,
            (a, b) if a.is_integer() && b.is_integer() => {
                if op == ArithOp::Mod {
                    b.clone()
                } else {
                    wider_integer(a, b)
                }
            }
            (a, b) => match (as_decimal(a), as_decimal(b)) {
                (Some(x), Some(y)) => decimal_result(op, x, y),
                _ => return Err(refuse()),
            },
        }),
        (t, T::Interval) if t.is_timestamp() || matches!(t, T::Date) => match op {
            ArithOp::Add | ArithOp::Sub => Ok(t.clone()),
            _ => Err(refuse()),
        },
        (T::Interval, t) if (t.is_timestamp() || matches!(t, T::Date)) && op == ArithOp::Add => {
            Ok(t.clone())
        }
        (T::Interval, T::Interval) if matches!(op, ArithOp::Add | ArithOp::Sub) => Ok(T::Interval),
        (T::Interval, n) if n.is_numeric() && matches!(op, ArithOp::Mul | ArithOp::Div) => {
            Ok(T::Interval)
        }
        (n, T::Interval) if n.is_numeric() && op == ArithOp::Mul => Ok(T::Interval),
        _ => Err(refuse()),
    }
}

fn mismatch(op: ArithOp, l: &Value, r: &Value, out: &DataType) -> EvalError {
    EvalError::Argument {
        function: op.symbol().to_string(),
        reason: format!("operands {l:?} and {r:?} do not make a {out}"),
    }
}

fn to_f64(v: &Value, t: &DataType) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        Value::Decimal(d) => Some(decimal_to_f64(*d, as_decimal(t).map_or(0, |(_, s)| s))),
        _ => None,
    }
}

fn to_decimal(v: &Value, t: &DataType) -> Option<(i128, u8)> {
    match v {
        Value::Int(i) => Some((i128::from(*i), 0)),
        Value::Decimal(d) => Some((*d, as_decimal(t).map_or(0, |(_, s)| s))),
        _ => None,
    }
}

fn float_op(op: ArithOp, a: f64, b: f64) -> f64 {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Mod => a % b,
    }
}

/// `l op r` with the result type `out` (from [`arithmetic_type`]); `NULL` in gives `NULL` out.
pub fn arithmetic(
    op: ArithOp,
    l: &Value,
    lt: &DataType,
    r: &Value,
    rt: &DataType,
    out: &DataType,
) -> Result<Value, EvalError> {
    use DataType as T;
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    match out {
        t if t.is_integer() => match (l, r) {
            (Value::Int(a), Value::Int(b)) => {
                Ok(Value::Int(wrap_integer(integer_op(op, *a, *b)?, t)))
            }
            _ => Err(mismatch(op, l, r, out)),
        },
        T::Float => match (to_f64(l, lt), to_f64(r, rt)) {
            (Some(a), Some(b)) => {
                let v = float_op(op, f64::from(a as f32), f64::from(b as f32));
                Ok(Value::Double(f64::from(v as f32)))
            }
            _ => Err(mismatch(op, l, r, out)),
        },
        T::Double => match (to_f64(l, lt), to_f64(r, rt)) {
            (Some(a), Some(b)) => Ok(Value::Double(float_op(op, a, b))),
            _ => Err(mismatch(op, l, r, out)),
        },
        T::Decimal { precision, scale } => match (to_decimal(l, lt), to_decimal(r, rt)) {
            (Some(a), Some(b)) => decimal_op(op, a, b, *precision, *scale),
            _ => Err(mismatch(op, l, r, out)),
        },
        t if t.is_timestamp() => {
            let (ms, delta) = match (l, r) {
                (Value::Timestamp(ms), Value::Interval(d)) if op == ArithOp::Sub => {
                    (*ms, d.checked_neg())
                }
                (Value::Timestamp(ms), Value::Interval(d))
                | (Value::Interval(d), Value::Timestamp(ms)) => (*ms, Some(*d)),
                _ => return Err(mismatch(op, l, r, out)),
            };
            delta
                .and_then(|d| ms.checked_add(d))
                .map(Value::Timestamp)
                .ok_or_else(|| overflow(l, r, out))
        }
        T::Date => {
            let (days, delta) = match (l, r) {
                (Value::Date(d), Value::Interval(i)) if op == ArithOp::Sub => (*d, i.checked_neg()),
                (Value::Date(d), Value::Interval(i)) | (Value::Interval(i), Value::Date(d)) => {
                    (*d, Some(*i))
                }
                _ => return Err(mismatch(op, l, r, out)),
            };
            delta
                .and_then(|d| (i64::from(days) * MILLIS_PER_DAY).checked_add(d))
                .and_then(|ms| i32::try_from(ms.div_euclid(MILLIS_PER_DAY)).ok())
                .map(Value::Date)
                .ok_or_else(|| overflow(l, r, out))
        }
        T::Interval => interval_op(op, l, lt, r, rt).ok_or_else(|| overflow(l, r, out))?,
        _ => Err(mismatch(op, l, r, out)),
    }
}

fn overflow(l: &Value, r: &Value, out: &DataType) -> EvalError {
    EvalError::Overflow {
        value: format!("{l:?}, {r:?}"),
        to: out.to_string(),
    }
}

fn integer_op(op: ArithOp, a: i64, b: i64) -> Result<i64, EvalError> {
    Ok(match op {
        ArithOp::Add => a.wrapping_add(b),
        ArithOp::Sub => a.wrapping_sub(b),
        ArithOp::Mul => a.wrapping_mul(b),
        ArithOp::Div if b == 0 => return Err(EvalError::DivisionByZero),
        ArithOp::Div => a.wrapping_div(b),
        ArithOp::Mod if b == 0 => return Err(EvalError::DivisionByZero),
        ArithOp::Mod => a.wrapping_rem(b),
    })
}

fn decimal_op(
    op: ArithOp,
    (a, sa): (i128, u8),
    (b, sb): (i128, u8),
    precision: u8,
    scale: u8,
) -> Result<Value, EvalError> {
    let exact = match op {
        ArithOp::Add | ArithOp::Sub | ArithOp::Mod => {
            let common = sa.max(sb);
            match (
                decimal::rescale(a, sa, common),
                decimal::rescale(b, sb, common),
            ) {
                (Some(x), Some(y)) => match op {
                    ArithOp::Add => x.checked_add(y),
                    ArithOp::Sub => x.checked_sub(y),
                    _ if y == 0 => return Err(EvalError::DivisionByZero),
                    _ => x.checked_rem(y),
                }
                .and_then(|v| decimal::rescale(v, common, scale)),
                _ => None,
            }
        }
        ArithOp::Mul => {
            let down = (u32::from(sa) + u32::from(sb)).saturating_sub(u32::from(scale));
            decimal::mul_shift(a, b, down)
        }
        ArithOp::Div if b == 0 => return Err(EvalError::DivisionByZero),
        ArithOp::Div => decimal::div_shift(a, b, i32::from(scale) - i32::from(sa) + i32::from(sb)),
    };
    Ok(match exact {
        Some(v) if decimal::fits(v, precision) => Value::Decimal(v),
        _ => Value::Null,
    })
}

fn interval_op(
    op: ArithOp,
    l: &Value,
    lt: &DataType,
    r: &Value,
    rt: &DataType,
) -> Option<Result<Value, EvalError>> {
    let v = match (l, r, op) {
        (Value::Interval(a), Value::Interval(b), ArithOp::Add) => a.checked_add(*b)?,
        (Value::Interval(a), Value::Interval(b), ArithOp::Sub) => a.checked_sub(*b)?,
        (Value::Interval(a), Value::Int(n), ArithOp::Mul)
        | (Value::Int(n), Value::Interval(a), ArithOp::Mul) => a.checked_mul(*n)?,
        (Value::Interval(_), Value::Int(0), ArithOp::Div) => {
            return Some(Err(EvalError::DivisionByZero))
        }
        (Value::Interval(a), Value::Int(n), ArithOp::Div) => a.checked_div(*n)?,
        (Value::Interval(a), n, ArithOp::Mul) => (*a as f64 * to_f64(n, rt)?) as i64,
        (n, Value::Interval(a), ArithOp::Mul) => (*a as f64 * to_f64(n, lt)?) as i64,
        (Value::Interval(a), n, ArithOp::Div) => (*a as f64 / to_f64(n, rt)?) as i64,
        _ => return Some(Err(mismatch(op, l, r, &DataType::Interval))),
    };
    Some(Ok(Value::Interval(v)))
}

#[cfg(test)]
#[path = "arith_tests.rs"]
mod tests;
