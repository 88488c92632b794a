//! Comparison across SQL types (`=`, `<`, …, with numbers of different types compared by
//! value) and the least restrictive common type that `CASE`, `COALESCE`, `UNION` and `IN` use.

use std::cmp::Ordering;

use crate::sql::functions::arith::{as_decimal, wider_integer};
use crate::sql::functions::calendar::MILLIS_PER_DAY;
use crate::sql::functions::cast::decimal_to_f64;
use crate::sql::functions::decimal::{self, MAX_PRECISION};
use crate::sql::types::{DataType, Field, Value};

/// Whether values of `l` and `r` can be compared: numbers with numbers, text with text,
/// dates and timestamps with each other, and rows and arrays element by element. Text does
/// not compare with numbers (Flink rejects `'1' = 1` without a cast).
pub fn comparable(l: &DataType, r: &DataType) -> bool {
    use DataType as T;
    let temporal = |t: &DataType| t.is_timestamp() || matches!(t, T::Date);
    match (l, r) {
        (T::Null, _) | (_, T::Null) => true,
        (a, b) if a.is_numeric() && b.is_numeric() => true,
        (a, b) if temporal(a) && temporal(b) => true,
        (T::String, T::String) | (T::Boolean, T::Boolean) | (T::Interval, T::Interval) => true,
        (T::Row(a), T::Row(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| comparable(&x.data_type, &y.data_type))
        }
        (T::Array(a), T::Array(b)) => comparable(a, b),
        _ => false,
    }
}

fn scale(t: &DataType) -> u8 {
    as_decimal(t).map_or(0, |(_, s)| s)
}

fn compare_decimals(a: i128, sa: u8, b: i128, sb: u8) -> Ordering {
    let common = sa.max(sb);
    match (
        decimal::rescale(a, sa, common),
        decimal::rescale(b, sb, common),
    ) {
        (Some(x), Some(y)) => x.cmp(&y),
        // Scaling up overflowed i128, so that side's magnitude exceeds any 38-digit value
        // at the common scale: its sign decides.
        (None, _) => {
            if a < 0 {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (_, None) => {
            if b < 0 {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

/// How `l` (of type `lt`) compares with `r` (of type `rt`); `None` if either is `NULL` or
/// either is a `NaN` (as Java's `<` on doubles is false both ways).
pub fn compare(l: &Value, lt: &DataType, r: &Value, rt: &DataType) -> Option<Ordering> {
    match (l, r) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
        (Value::Int(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
        (Value::Double(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Decimal(a), Value::Decimal(b)) => {
            Some(compare_decimals(*a, scale(lt), *b, scale(rt)))
        }
        (Value::Int(a), Value::Decimal(b)) => {
            Some(compare_decimals(i128::from(*a), 0, *b, scale(rt)))
        }
        (Value::Decimal(a), Value::Int(b)) => {
            Some(compare_decimals(*a, scale(lt), i128::from(*b), 0))
        }
        (Value::Decimal(a), Value::Double(b)) => decimal_to_f64(*a, scale(lt)).partial_cmp(b),
        (Value::Double(a), Value::Decimal(b)) => a.partial_cmp(&decimal_to_f64(*b, scale(rt))),
        (Value::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::Timestamp(a), Value::Timestamp(b)) | (Value::Interval(a), Value::Interval(b)) => {
            Some(a.cmp(b))
        }
        (Value::Date(a), Value::Timestamp(b)) => Some((i64::from(*a) * MILLIS_PER_DAY).cmp(b)),
        (Value::Timestamp(a), Value::Date(b)) => Some(a.cmp(&(i64::from(*b) * MILLIS_PER_DAY))),
        (Value::Row(a), Value::Row(b)) => {
            let types = |t: &DataType, n: usize| -> Vec<DataType> {
                match t {
                    DataType::Row(fields) => fields.iter().map(|f| f.data_type.clone()).collect(),
                    _ => vec![DataType::Null; n],
                }
            };
            let (ta, tb) = (types(lt, a.len()), types(rt, b.len()));
            lexicographic(a.iter().zip(&ta), b.iter().zip(&tb), a.len().cmp(&b.len()))
        }
        (Value::Array(a), Value::Array(b)) => {
            let element = |t: &DataType| match t {
                DataType::Array(e) => e.as_ref().clone(),
                _ => DataType::Null,
            };
            let (ea, eb) = (element(lt), element(rt));
            lexicographic(
                a.iter().map(|v| (v, &ea)),
                b.iter().map(|v| (v, &eb)),
                a.len().cmp(&b.len()),
            )
        }
        _ => None,
    }
}

fn lexicographic<'a>(
    a: impl Iterator<Item = (&'a Value, &'a DataType)>,
    b: impl Iterator<Item = (&'a Value, &'a DataType)>,
    lengths: Ordering,
) -> Option<Ordering> {
    for ((x, xt), (y, yt)) in a.zip(b) {
        match compare(x, xt, y, yt)? {
            Ordering::Equal => {}
            other => return Some(other),
        }
    }
    Some(lengths)
}

/// The least restrictive type both `a` and `b` convert to, or `None` if there is none.
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType as T;
    if a == b {
        return Some(a.clone());
    }
    Some(match (a, b) {
        (T::Null, t) | (t, T::Null) => t.clone(),
        (x, y) if x.is_integer() && y.is_integer() => wider_integer(x, y),
        (x, y) if x.is_numeric() && y.is_numeric() => match (x, y) {
            (T::Double, _) | (_, T::Double) => T::Double,
            (T::Float, T::Decimal { .. }) | (T::Decimal { .. }, T::Float) => T::Double,
            (T::Float, _) | (_, T::Float) => T::Float,
            _ => {
                let ((p1, s1), (p2, s2)) = (as_decimal(x)?, as_decimal(y)?);
                let s = s1.max(s2);
                let digits = (p1 - s1).max(p2 - s2);
                let precision = (digits + s).min(MAX_PRECISION);
                T::Decimal {
                    precision,
                    scale: s.min(precision),
                }
            }
        },
        (T::Date, t @ (T::Timestamp { .. } | T::TimestampLtz { .. }))
        | (t @ (T::Timestamp { .. } | T::TimestampLtz { .. }), T::Date) => t.clone(),
        (T::Timestamp { precision: p }, T::Timestamp { precision: q }) => T::Timestamp {
            precision: *p.max(q),
        },
        (
            T::Timestamp { precision: p } | T::TimestampLtz { precision: p },
            T::Timestamp { precision: q } | T::TimestampLtz { precision: q },
        ) => T::TimestampLtz {
            precision: *p.max(q),
        },
        (T::Row(x), T::Row(y)) if x.len() == y.len() => {
            let fields = x
                .iter()
                .zip(y)
                .map(|(f, g)| {
                    let mut field =
                        Field::new(f.name.clone(), common_type(&f.data_type, &g.data_type)?);
                    field.nullable = f.nullable || g.nullable;
                    Some(field)
                })
                .collect::<Option<Vec<_>>>()?;
            T::Row(fields)
        }
        (T::Array(x), T::Array(y)) => T::Array(Box::new(common_type(x, y)?)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_across_types() {
        let dec2 = DataType::Decimal {
            precision: 5,
            scale: 2,
        };
        assert_eq!(
            compare(&Value::Int(1), &DataType::Int, &Value::Decimal(100), &dec2),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare(
                &Value::Decimal(150),
                &dec2,
                &Value::Double(1.4),
                &DataType::Double
            ),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(
                &Value::Int(2),
                &DataType::Int,
                &Value::Double(2.5),
                &DataType::Double
            ),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(&Value::Null, &DataType::Int, &Value::Int(1), &DataType::Int),
            None
        );
        assert_eq!(
            compare(
                &Value::Double(f64::NAN),
                &DataType::Double,
                &Value::Double(1.0),
                &DataType::Double
            ),
            None
        );
        let big = DataType::Decimal {
            precision: 38,
            scale: 0,
        };
        let fine = DataType::Decimal {
            precision: 38,
            scale: 30,
        };
        assert_eq!(
            compare(
                &Value::Decimal(10i128.pow(37)),
                &big,
                &Value::Decimal(5),
                &fine
            ),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(
                &Value::str("a"),
                &DataType::String,
                &Value::str("b"),
                &DataType::String
            ),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(
                &Value::Date(1),
                &DataType::Date,
                &Value::Timestamp(MILLIS_PER_DAY),
                &DataType::Timestamp { precision: 3 }
            ),
            Some(Ordering::Equal)
        );
        assert!(!comparable(&DataType::String, &DataType::Int));
        assert!(comparable(&DataType::Null, &DataType::Int));
    }

    #[test]
    fn common_types_are_least_restrictive() {
        use DataType::*;
        assert_eq!(common_type(&Int, &BigInt), Some(BigInt));
        assert_eq!(common_type(&Null, &String), Some(String));
        assert_eq!(common_type(&Int, &Double), Some(Double));
        assert_eq!(
            common_type(
                &Int,
                &Decimal {
                    precision: 5,
                    scale: 2
                }
            ),
            Some(Decimal {
                precision: 12,
                scale: 2
            })
        );
        assert_eq!(
            common_type(&Date, &Timestamp { precision: 3 }),
            Some(Timestamp { precision: 3 })
        );
        assert_eq!(common_type(&String, &Int), None);
        assert_eq!(
            common_type(&Array(Box::new(Int)), &Array(Box::new(BigInt))),
            Some(Array(Box::new(BigInt)))
        );
    }
}
