//! `CAST(x AS t)`: which casts Flink allows ([`can_cast`]) and what they do ([`cast`]).
//!
//! ## Flink's rules kept here
//! - Narrowing between integer types wraps (Java's `(int) longValue`); a `DOUBLE` to an
//!   integer saturates at `INT`/`BIGINT` first (Java's `(int) d`), `NaN` becoming 0.
//! - A `DECIMAL` result that does not fit its precision is `NULL` (`DecimalData.fromBigDecimal`).
//! - Text to a number, `BOOLEAN`, `DATE` or timestamp that does not parse is an error (Flink
//!   1.15+, without the legacy cast behaviour).
//! - Numbers convert to and from `TIMESTAMP_LTZ` as seconds since the epoch; to and from
//!   `TIMESTAMP` they do not.

use crate::sql::functions::calendar::{self, MILLIS_PER_DAY};
use crate::sql::functions::decimal::{self, DecimalIssue};
use crate::sql::functions::text::{integer_fits, java_double, java_parse_double, to_text};
use crate::sql::functions::EvalError;
use crate::sql::types::{DataType, Value};

/// Whether Flink allows `CAST(x AS to)` for `x` of type `from`.
pub fn can_cast(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    if from == to || matches!(from, T::Null) || matches!(to, T::String) {
        return true;
    }
    let exact = |t: &DataType| t.is_integer() || matches!(t, T::Decimal { .. });
    match (from, to) {
        (T::String, t) => !matches!(t, T::Interval | T::Row(_) | T::Array(_) | T::Null),
        (a, b) if a.is_numeric() && b.is_numeric() => true,
        (T::Boolean, b) => b.is_numeric(),
        (a, T::Boolean) => exact(a),
        (T::Date, b) => b.is_timestamp(),
        (a, T::Date) => a.is_timestamp(),
        (a, b) if a.is_timestamp() && b.is_timestamp() => true,
        (a, T::TimestampLtz { .. }) => a.is_numeric(),
        (T::TimestampLtz { .. }, b) => exact(b),
        (T::Row(a), T::Row(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| can_cast(&x.data_type, &y.data_type))
        }
        (T::Array(a), T::Array(b)) => can_cast(a, b),
        _ => false,
    }
}

fn failure(v: &Value, from: &DataType, to: &DataType, reason: &str) -> EvalError {
    EvalError::Cast {
        value: to_text(v, from),
        to: to.to_string(),
        reason: reason.to_string(),
    }
}

/// `CAST(v AS to)` of `v` of type `from`; `NULL` stays `NULL`.
pub fn cast(v: &Value, from: &DataType, to: &DataType) -> Result<Value, EvalError> {
    use DataType as T;
    if v.is_null() {
        return Ok(Value::Null);
    }
    if from == to {
        return Ok(v.clone());
    }
    let unsupported = || failure(v, from, to, "no such cast");
    match to {
        T::String => Ok(Value::str(&to_text(v, from))),
        T::Boolean => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Int(i) => Ok(Value::Bool(*i != 0)),
            Value::Decimal(d) => Ok(Value::Bool(*d != 0)),
            Value::Double(d) => Ok(Value::Bool(*d != 0.0)),
            Value::Str(s) => string_to_bool(s).ok_or_else(|| failure(v, from, to, "not a boolean")),
            _ => Err(unsupported()),
        },
        T::TinyInt | T::SmallInt | T::Int | T::BigInt => {
            let i = match v {
                Value::Int(i) => *i,
                Value::Bool(b) => i64::from(*b),
                Value::Double(d) => return Ok(Value::Int(double_to_integer(*d, to))),
                Value::Decimal(d) => (d / pow10(scale_of(from))) as i64,
                Value::Timestamp(ms) if matches!(from, T::TimestampLtz { .. }) => {
                    ms.div_euclid(1000)
                }
                Value::Str(s) => {
                    let i = string_to_i64(s).ok_or_else(|| failure(v, from, to, "not a number"))?;
                    if !integer_fits(i, to) {
                        return Err(failure(v, from, to, "out of range"));
                    }
                    i
                }
                _ => return Err(unsupported()),
            };
            Ok(Value::Int(wrap_integer(i, to)))
        }
        T::Float | T::Double => {
            let d = match v {
                Value::Int(i) => *i as f64,
                Value::Double(d) => *d,
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::Decimal(d) => decimal_to_f64(*d, scale_of(from)),
                Value::Str(s) => {
                    java_parse_double(s).ok_or_else(|| failure(v, from, to, "not a number"))?
                }
                _ => return Err(unsupported()),
            };
            Ok(Value::Double(if matches!(to, T::Float) {
                f64::from(d as f32)
            } else {
                d
            }))
        }
        T::Decimal { precision, scale } => {
            let parsed = match v {
                Value::Int(i) => decimal::rescale(i128::from(*i), 0, *scale)
                    .ok_or(DecimalIssue::Overflow)
                    .and_then(|d| {
                        if decimal::fits(d, *precision) {
                            Ok(d)
                        } else {
                            Err(DecimalIssue::Overflow)
                        }
                    }),
                Value::Bool(b) => decimal::parse(if *b { "1" } else { "0" }, *precision, *scale),
                Value::Decimal(d) => decimal::rescale(*d, scale_of(from), *scale)
                    .filter(|d| decimal::fits(*d, *precision))
                    .ok_or(DecimalIssue::Overflow),
                Value::Double(d) if d.is_finite() => {
                    decimal::parse(&java_double(*d), *precision, *scale)
                }
                Value::Double(_) => return Err(failure(v, from, to, "not a finite number")),
                Value::Str(s) => decimal::parse(s.trim(), *precision, *scale),
                _ => return Err(unsupported()),
            };
            match parsed {
                Ok(d) => Ok(Value::Decimal(d)),
                Err(DecimalIssue::Overflow) => Ok(Value::Null),
                Err(DecimalIssue::Syntax) => Err(failure(v, from, to, "not a number")),
            }
        }
        T::Date => match v {
            Value::Date(d) => Ok(Value::Date(*d)),
            Value::Timestamp(ms) => i32::try_from(ms.div_euclid(MILLIS_PER_DAY))
                .map(Value::Date)
                .map_err(|_| failure(v, from, to, "out of range")),
            Value::Str(s) => calendar::parse_date(s)
                .map(Value::Date)
                .ok_or_else(|| failure(v, from, to, "not a valid date")),
            _ => Err(unsupported()),
        },
        T::Timestamp { precision } | T::TimestampLtz { precision } => {
            let ms = match v {
                Value::Timestamp(ms) => *ms,
                Value::Date(d) => i64::from(*d) * MILLIS_PER_DAY,
                Value::Str(s) => crate::sql::functions::text::parse_timestamp(s)
                    .ok()
                    .or_else(|| calendar::parse_timestamp(s, true))
                    .ok_or_else(|| failure(v, from, to, "not a valid timestamp"))?,
                Value::Int(secs) => secs
                    .checked_mul(1000)
                    .ok_or_else(|| failure(v, from, to, "out of range"))?,
                Value::Double(secs) if secs.is_finite() => (secs * 1000.0) as i64,
                Value::Decimal(d) => decimal_millis_down(*d, scale_of(from))
                    .and_then(|ms| i64::try_from(ms).ok())
                    .ok_or_else(|| failure(v, from, to, "out of range"))?,
                _ => return Err(unsupported()),
            };
            Ok(Value::Timestamp(truncate_to_precision(ms, *precision)))
        }
        T::Interval => match v {
            Value::Interval(ms) => Ok(Value::Interval(*ms)),
            _ => Err(unsupported()),
        },
        T::Row(fields) => match (v, from) {
            (Value::Row(values), T::Row(from_fields)) if values.len() == fields.len() => {
                let cast_fields = values
                    .iter()
                    .zip(from_fields.iter().zip(fields))
                    .map(|(v, (f, t))| cast(v, &f.data_type, &t.data_type))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Row(cast_fields.into()))
            }
            _ => Err(unsupported()),
        },
        T::Array(element) => match (v, from) {
            (Value::Array(values), T::Array(from_element)) => {
                let items = values
                    .iter()
                    .map(|v| cast(v, from_element, element))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Array(items.into()))
            }
            _ => Err(unsupported()),
        },
        T::Null => Err(unsupported()),
    }
}

/// Seconds (a `DECIMAL` at `scale`) as milliseconds, truncated toward zero.
pub(crate) fn decimal_millis_down(d: i128, scale: u8) -> Option<i128> {
    if scale <= 3 {
        decimal::rescale(d, scale, 3)
    } else {
        Some(d / pow10(scale - 3))
    }
}

fn pow10(n: u8) -> i128 {
    decimal::pow10(u32::from(n)).unwrap_or(i128::MAX)
}

fn scale_of(ty: &DataType) -> u8 {
    match ty {
        DataType::Decimal { scale, .. } => *scale,
        _ => 0,
    }
}

/// A `DECIMAL`'s unscaled value at `scale` as the nearest `f64`.
pub(crate) fn decimal_to_f64(unscaled: i128, scale: u8) -> f64 {
    // Through text, so that 0.1 is the double nearest 0.1 (as BigDecimal.doubleValue gives).
    decimal::to_string(unscaled, scale)
        .parse()
        .unwrap_or(f64::NAN)
}

/// Wraps an integer to `ty`'s width, as Java's narrowing casts do.
pub(crate) fn wrap_integer(v: i64, ty: &DataType) -> i64 {
    match ty {
        DataType::TinyInt => i64::from(v as i8),
        DataType::SmallInt => i64::from(v as i16),
        DataType::Int => i64::from(v as i32),
        _ => v,
    }
}

fn double_to_integer(d: f64, ty: &DataType) -> i64 {
    match ty {
        DataType::BigInt => d as i64,
        other => wrap_integer(i64::from(d as i32), other),
    }
}

/// Truncates milliseconds to `precision` fraction digits toward zero, as Flink's
/// `DateTimeUtils.truncate` does.
pub(crate) fn truncate_to_precision(ms: i64, precision: u8) -> i64 {
    match precision {
        0 => ms / 1000 * 1000,
        1 => ms / 100 * 100,
        2 => ms / 10 * 10,
        _ => ms,
    }
}

/// Flink's `BinaryStringDataUtil.toLong`: trimmed, an optional sign, digits, and an optional
/// fraction that is dropped (`'1.9'` is 1).
pub(crate) fn string_to_i64(s: &str) -> Option<i64> {
    let t = s.trim();
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let digits = int.strip_prefix(['+', '-']).unwrap_or(int);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    int.parse().ok()
}

/// Flink's text to `BOOLEAN`: `t`, `true`, `y`, `yes`, `1` and `f`, `false`, `n`, `no`, `0`,
/// in any case, trimmed.
pub(crate) fn string_to_bool(s: &str) -> Option<Value> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "1" => Some(Value::Bool(true)),
        "f" | "false" | "n" | "no" | "0" => Some(Value::Bool(false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: Value, from: DataType, to: DataType) -> Result<Value, EvalError> {
        cast(&v, &from, &to)
    }

    #[test]
    fn text_to_numbers() {
        assert_eq!(
            c(Value::str(" 42 "), DataType::String, DataType::Int),
            Ok(Value::Int(42))
        );
        assert_eq!(
            c(Value::str("1.9"), DataType::String, DataType::Int),
            Ok(Value::Int(1))
        );
        let err = c(Value::str("abc"), DataType::String, DataType::Int);
        assert_eq!(
            err,
            Err(EvalError::Cast {
                value: "abc".into(),
                to: "INT".into(),
                reason: "not a number".into()
            })
        );
        assert!(c(Value::str("300"), DataType::String, DataType::TinyInt).is_err());
        assert_eq!(
            c(Value::str("yes"), DataType::String, DataType::Boolean),
            Ok(Value::Bool(true))
        );
        assert!(c(Value::str("maybe"), DataType::String, DataType::Boolean).is_err());
        let dec = DataType::Decimal {
            precision: 4,
            scale: 1,
        };
        assert_eq!(
            c(Value::str("12.35"), DataType::String, dec.clone()),
            Ok(Value::Decimal(124))
        );
        assert_eq!(
            c(Value::str("12345"), DataType::String, dec),
            Ok(Value::Null)
        );
    }

    #[test]
    fn numbers_narrow_like_java() {
        assert_eq!(
            c(Value::Int(300), DataType::Int, DataType::TinyInt),
            Ok(Value::Int(44))
        );
        assert_eq!(
            c(Value::Double(1e20), DataType::Double, DataType::Int),
            Ok(Value::Int(i64::from(i32::MAX)))
        );
        assert_eq!(
            c(Value::Double(-2.7), DataType::Double, DataType::BigInt),
            Ok(Value::Int(-2))
        );
        assert_eq!(
            c(Value::Double(f64::NAN), DataType::Double, DataType::Int),
            Ok(Value::Int(0))
        );
        let dec = DataType::Decimal {
            precision: 5,
            scale: 2,
        };
        assert_eq!(
            c(Value::Decimal(-1299), dec.clone(), DataType::Int),
            Ok(Value::Int(-12))
        );
        assert_eq!(
            c(Value::Decimal(1250), dec.clone(), DataType::Double),
            Ok(Value::Double(12.5))
        );
        assert_eq!(
            c(Value::Double(0.125), DataType::Double, dec.clone()),
            Ok(Value::Decimal(13))
        );
        assert_eq!(c(Value::Int(1000), DataType::Int, dec), Ok(Value::Null));
        assert_eq!(
            c(Value::Double(0.1), DataType::Double, DataType::Float),
            Ok(Value::Double(f64::from(0.1f32)))
        );
    }

    #[test]
    fn dates_and_timestamps() {
        let ts = DataType::Timestamp { precision: 3 };
        assert_eq!(
            c(
                Value::str("2023-11-14 22:13:20.123"),
                DataType::String,
                ts.clone()
            ),
            Ok(Value::Timestamp(1_700_000_000_123))
        );
        assert_eq!(
            c(
                Value::Timestamp(1_700_000_000_123),
                ts.clone(),
                DataType::Date
            ),
            Ok(Value::Date(19_675))
        );
        assert_eq!(
            c(Value::Timestamp(-1), ts.clone(), DataType::Date),
            Ok(Value::Date(-1))
        );
        assert_eq!(
            c(
                Value::Timestamp(1_700_000_000_123),
                ts.clone(),
                DataType::Timestamp { precision: 0 }
            ),
            Ok(Value::Timestamp(1_700_000_000_000))
        );
        let ltz = DataType::TimestampLtz { precision: 3 };
        assert_eq!(
            c(Value::Int(1_700_000_000), DataType::BigInt, ltz.clone()),
            Ok(Value::Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            c(
                Value::Timestamp(1_700_000_000_999),
                ltz.clone(),
                DataType::BigInt
            ),
            Ok(Value::Int(1_700_000_000))
        );
        assert_eq!(
            c(
                Value::Timestamp(1_700_000_000_123),
                ts.clone(),
                DataType::String
            ),
            Ok(Value::str("2023-11-14 22:13:20.123"))
        );
        assert!(c(Value::str("nope"), DataType::String, DataType::Date).is_err());
        assert!(!can_cast(&DataType::BigInt, &ts));
        assert!(can_cast(&DataType::BigInt, &ltz));
        assert!(can_cast(&DataType::Int, &DataType::String));
        assert!(!can_cast(&DataType::Date, &DataType::Int));
        assert_eq!(
            c(Value::Null, DataType::String, DataType::Int),
            Ok(Value::Null)
        );
    }
}
