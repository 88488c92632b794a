//! Literals as Flink types them: numbers, strings, intervals, and the units of `EXTRACT`.

use sqlparser::ast;

use crate::sql::expr::Expr;
use crate::sql::functions::TimeUnit;
use crate::sql::types::{DataType, Value};
use crate::sql::SqlError;

/// Types a literal as Flink does: an integer that fits `INT` is `INT`, else `BIGINT`; a number
/// with a point is `DECIMAL(p, s)`; with an exponent, `DOUBLE`.
pub fn literal(v: &ast::Value) -> Result<Expr, SqlError> {
    Ok(match v {
        ast::Value::Number(n, _) => number_literal(n)?,
        ast::Value::SingleQuotedString(s) => Expr::Literal(Value::str(s), DataType::String),
        ast::Value::Boolean(b) => Expr::Literal(Value::Bool(*b), DataType::Boolean),
        ast::Value::Null => Expr::Literal(Value::Null, DataType::Null),
        other => return Err(SqlError::NotSupported(format!("the literal {other}"))),
    })
}

fn number_literal(n: &str) -> Result<Expr, SqlError> {
    let bad = || SqlError::Type(format!("the number {n} is out of range"));
    if n.contains(['e', 'E']) {
        let v: f64 = n.parse().map_err(|_| bad())?;
        return Ok(Expr::Literal(Value::Double(v), DataType::Double));
    }
    if let Some((int, frac)) = n.split_once('.') {
        let digits = format!("{int}{frac}");
        let unscaled: i128 = digits.parse().map_err(|_| bad())?;
        let scale = u8::try_from(frac.len()).map_err(|_| bad())?;
        let precision = u8::try_from(
            digits
                .trim_start_matches('0')
                .len()
                .max(scale as usize)
                .max(1),
        )
        .map_err(|_| bad())?;
        if precision > 38 {
            return Err(bad());
        }
        return Ok(Expr::Literal(
            Value::Decimal(unscaled),
            DataType::Decimal { precision, scale },
        ));
    }
    let v: i64 = n.parse().map_err(|_| bad())?;
    let t = if i32::try_from(v).is_ok() {
        DataType::Int
    } else {
        DataType::BigInt
    };
    Ok(Expr::Literal(Value::Int(v), t))
}

/// An interval literal's length in milliseconds (`INTERVAL '0.2' SECOND`).
pub fn interval_millis(i: &ast::Interval) -> Result<i64, SqlError> {
    let text = match i.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
            other => return Err(SqlError::Type(format!("bad interval value {other}"))),
        },
        other => {
            return Err(SqlError::NotSupported(format!(
                "the interval value {other}"
            )))
        }
    };
    if i.last_field.is_some() {
        return Err(SqlError::NotSupported(format!(
            "the interval {i} (use one unit)"
        )));
    }
    use ast::DateTimeField as F;
    let unit: f64 = match &i.leading_field {
        Some(F::Millisecond | F::Milliseconds) => 1.0,
        Some(F::Second | F::Seconds) => 1000.0,
        Some(F::Minute | F::Minutes) => 60_000.0,
        Some(F::Hour | F::Hours) => 3_600_000.0,
        Some(F::Day | F::Days) => 86_400_000.0,
        Some(other) => {
            return Err(SqlError::NotSupported(format!(
                "the interval unit {other} (day-time intervals only)"
            )))
        }
        None => return Err(SqlError::Type(format!("the interval {i} has no unit"))),
    };
    let n: f64 = text
        .trim()
        .parse()
        .map_err(|_| SqlError::Type(format!("bad interval value '{text}'")))?;
    let ms = (n * unit).round();
    if !ms.is_finite() || ms.abs() > 9.0e15 {
        return Err(SqlError::Type(format!(
            "the interval '{text}' is out of range"
        )));
    }
    Ok(ms as i64)
}

/// The unit of `EXTRACT(unit FROM …)`.
pub fn time_unit(f: &ast::DateTimeField) -> Result<TimeUnit, SqlError> {
    use ast::DateTimeField as F;
    Ok(match f {
        F::Year | F::Years => TimeUnit::Year,
        F::Quarter => TimeUnit::Quarter,
        F::Month | F::Months => TimeUnit::Month,
        F::Week(_) | F::Weeks => TimeUnit::Week,
        F::Day | F::Days => TimeUnit::Day,
        F::DayOfWeek | F::Dow => TimeUnit::DayOfWeek,
        F::DayOfYear | F::Doy => TimeUnit::DayOfYear,
        F::Hour | F::Hours => TimeUnit::Hour,
        F::Minute | F::Minutes => TimeUnit::Minute,
        F::Second | F::Seconds => TimeUnit::Second,
        F::Millisecond | F::Milliseconds => TimeUnit::Millisecond,
        F::Epoch => TimeUnit::Epoch,
        other => return Err(SqlError::NotSupported(format!("EXTRACT({other} FROM …)"))),
    })
}
