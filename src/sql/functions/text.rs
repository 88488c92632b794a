//! Values as text and back: Flink's `CAST(x AS STRING)` output ([`to_text`]), Java's
//! `Double.toString`, and the text of CSV and JSON fields ([`parse_text`]).

use crate::sql::functions::calendar;
use crate::sql::functions::decimal::{self, DecimalIssue};
use crate::sql::functions::EvalError;
use crate::sql::types::{DataType, Value};

/// Flink's `CAST(v AS STRING)` of a value of type `ty`; `NULL` prints as `NULL`.
///
/// `BOOLEAN` is `TRUE`/`FALSE`; `DOUBLE` and `FLOAT` follow Java's `Double.toString` and
/// `Float.toString`; `DECIMAL(p, s)` has exactly `s` fraction digits; timestamps print with
/// exactly their precision's fraction digits; `ROW` is `(a, b)` and `ARRAY` is `[a, b]`.
pub fn to_text(v: &Value, ty: &DataType) -> String {
    match (v, ty) {
        (Value::Null, _) => "NULL".to_string(),
        (Value::Bool(b), _) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        (Value::Int(i), _) => i.to_string(),
        (Value::Double(d), DataType::Float) => java_float(*d as f32),
        (Value::Double(d), _) => java_double(*d),
        (Value::Decimal(u), DataType::Decimal { scale, .. }) => decimal::to_string(*u, *scale),
        (Value::Decimal(u), _) => decimal::to_string(*u, 0),
        (Value::Str(s), _) => s.to_string(),
        (Value::Date(d), _) => format_date(*d),
        (Value::Timestamp(ms), DataType::Timestamp { precision })
        | (Value::Timestamp(ms), DataType::TimestampLtz { precision }) => {
            format_timestamp(*ms, *precision)
        }
        (Value::Timestamp(ms), _) => format_timestamp(*ms, 3),
        (Value::Interval(ms), _) => format_interval(*ms),
        (Value::Row(values), _) => {
            let fields: Vec<&DataType> = match ty {
                DataType::Row(fields) => fields.iter().map(|f| &f.data_type).collect(),
                _ => Vec::new(),
            };
            let items = values
                .iter()
                .enumerate()
                .map(|(i, v)| to_text(v, fields.get(i).copied().unwrap_or(&DataType::Null)));
            format!("({})", items.collect::<Vec<_>>().join(", "))
        }
        (Value::Array(values), _) => {
            let element = match ty {
                DataType::Array(t) => t.as_ref(),
                _ => &DataType::Null,
            };
            let items = values.iter().map(|v| to_text(v, element));
            format!("[{}]", items.collect::<Vec<_>>().join(", "))
        }
    }
}

/// Java's `Double.toString`: the shortest digits that read back to the same `double`, in
/// plain notation for 10⁻³ ≤ |v| < 10⁷ and as `d.dddE±n` outside it.
pub(crate) fn java_double(v: f64) -> String {
    java_text(v, format!("{v:e}"))
}

/// Java's `Float.toString`, as [`java_double`] but with a `float`'s shortest digits.
pub(crate) fn java_float(v: f32) -> String {
    java_text(f64::from(v), format!("{v:e}"))
}

/// `v` in Java's text, given its shortest digits in Rust's `{:e}` form.
fn java_text(v: f64, digits: String) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    java_layout(&digits, v == 0.0, v.abs() >= 1e-3 && v.abs() < 1e7)
}

/// Lays out Rust's shortest scientific form (`-1.25e-5`) the way Java does.
fn java_layout(scientific: &str, zero: bool, plain: bool) -> String {
    let negative = scientific.starts_with('-');
    let mut out = String::from(if negative { "-" } else { "" });
    if zero {
        out.push_str("0.0");
        return out;
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (first, rest) = digits.split_at(1.min(digits.len()));
    if plain {
        if exponent >= 0 {
            let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
            if digits.len() > int_len {
                let (int, frac) = digits.split_at(int_len);
                out.push_str(int);
                out.push('.');
                out.push_str(frac);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            let zeros = usize::try_from(-exponent - 1).unwrap_or(0);
            out.extend(std::iter::repeat_n('0', zeros));
            out.push_str(&digits);
        }
    } else {
        out.push_str(first);
        out.push('.');
        out.push_str(if rest.is_empty() { "0" } else { rest });
        out.push('E');
        out.push_str(&exponent.to_string());
    }
    out
}

/// Java's `Double.parseDouble` (surrounding whitespace ignored, `NaN`, `Infinity`, an `f` or
/// `d` suffix allowed).
pub(crate) fn java_parse_double(text: &str) -> Option<f64> {
    let t = text.trim();
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let negative = t.starts_with('-');
    match unsigned {
        "NaN" => return Some(f64::NAN),
        "Infinity" => {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        _ => {}
    }
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let t = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    t.parse().ok()
}

/// `yyyy-MM-dd` of days since the epoch.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = calendar::civil_from_days(i64::from(days));
    format!("{}-{m:02}-{d:02}", year_text(y))
}

fn year_text(y: i64) -> String {
    if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    }
}

/// `yyyy-MM-dd HH:mm:ss[.f…]` of milliseconds since the epoch (UTC), with exactly `precision`
/// fraction digits (none for 0), as Flink casts a `TIMESTAMP(precision)` to a string. Digits
/// past the declared precision are truncated, as Flink truncates the value itself.
pub fn format_timestamp(ms: i64, precision: u8) -> String {
    let t = calendar::split(ms);
    // Written digit by digit: sinks format a timestamp per row, and `format!` costs several
    // times more.
    let mut out = String::with_capacity(32);
    if (0..=9999).contains(&t.year) {
        push_digits(&mut out, t.year as u32, 4);
    } else {
        out.push_str(&year_text(t.year));
    }
    for (sep, v) in [
        ('-', t.month),
        ('-', t.day),
        (' ', t.hour),
        (':', t.minute),
        (':', t.second),
    ] {
        out.push(sep);
        push_digits(&mut out, v, 2);
    }
    if precision > 0 {
        out.push('.');
        let mut fraction = String::with_capacity(9);
        push_digits(&mut fraction, t.milli, 3);
        fraction.push_str("000000");
        out.push_str(
            fraction
                .get(..usize::from(precision.min(9)))
                .unwrap_or(&fraction),
        );
    }
    out
}

/// Appends `v` as exactly `width` decimal digits (zero-padded; `v` fits).
fn push_digits(out: &mut String, v: u32, width: u32) {
    for i in (0..width).rev() {
        let d = (v / 10u32.pow(i)) % 10;
        out.push(char::from(b'0' + d as u8));
    }
}

/// Flink's text of a day-time interval: `+1 02:03:04.005` (`DateTimeUtils.formatIntervalDayTime`).
pub(crate) fn format_interval(ms: i64) -> String {
    let sign = if ms >= 0 { '+' } else { '-' };
    let v = ms.unsigned_abs();
    let (millis, v) = (v % 1000, v / 1000);
    let (s, v) = (v % 60, v / 60);
    let (m, v) = (v % 60, v / 60);
    let (h, d) = (v % 24, v / 24);
    format!("{sign}{d} {h:02}:{m:02}:{s:02}.{millis:03}")
}

fn text_error(text: &str, ty: &DataType, reason: &str) -> EvalError {
    EvalError::Cast {
        value: text.to_string(),
        to: ty.to_string(),
        reason: reason.to_string(),
    }
}

/// Days since the epoch of a date's text (`DATE '2023-11-14'`, `CAST(s AS DATE)`).
pub fn parse_date(text: &str) -> Result<i32, EvalError> {
    calendar::parse_date(text).ok_or_else(|| text_error(text, &DataType::Date, "not a valid date"))
}

/// Milliseconds since the epoch of a timestamp's text: `yyyy-MM-dd[ HH:mm[:ss[.f…]]]`, with
/// a space or `T` between date and time (`TIMESTAMP '…'`, `CAST(s AS TIMESTAMP)`).
pub fn parse_timestamp(text: &str) -> Result<i64, EvalError> {
    let date_only = calendar::parse_date(text)
        .filter(|_| !text.trim().contains([' ', 'T']))
        .map(|d| i64::from(d) * calendar::MILLIS_PER_DAY);
    date_only
        .or_else(|| calendar::parse_timestamp(text, false))
        .ok_or_else(|| {
            text_error(
                text,
                &DataType::Timestamp { precision: 3 },
                "not a valid timestamp",
            )
        })
}

/// The value of a CSV or JSON field's text, by the rules of Flink's `csv` format: numbers are
/// trimmed and range-checked, `BOOLEAN` is `true` only for `true` in any case (Java's
/// `Boolean.parseBoolean`: any other text is `false`), `DECIMAL` rounds extra fraction digits
/// `HALF_UP` and rejects too many integer digits, timestamps accept a space or `T` before the
/// time (and a trailing `Z` for `TIMESTAMP_LTZ`), strings are taken as they are.
pub fn parse_text(text: &str, ty: &DataType) -> Result<Value, EvalError> {
    let trimmed = text.trim();
    match ty {
        DataType::String => Ok(Value::str(text)),
        DataType::Boolean => Ok(Value::Bool(trimmed.eq_ignore_ascii_case("true"))),
        DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt => {
            let v: i64 = trimmed
                .parse()
                .map_err(|_| text_error(text, ty, "not an integer"))?;
            if integer_fits(v, ty) {
                Ok(Value::Int(v))
            } else {
                Err(text_error(text, ty, "out of range"))
            }
        }
        DataType::Float => java_parse_double(trimmed)
            .map(|d| Value::Double(f64::from(d as f32)))
            .ok_or_else(|| text_error(text, ty, "not a number")),
        DataType::Double => java_parse_double(trimmed)
            .map(Value::Double)
            .ok_or_else(|| text_error(text, ty, "not a number")),
        DataType::Decimal { precision, scale } => match decimal::parse(trimmed, *precision, *scale)
        {
            Ok(v) => Ok(Value::Decimal(v)),
            Err(DecimalIssue::Syntax) => Err(text_error(text, ty, "not a number")),
            Err(DecimalIssue::Overflow) => Err(text_error(text, ty, "too many digits")),
        },
        DataType::Date => calendar::parse_date(trimmed)
            .map(Value::Date)
            .ok_or_else(|| text_error(text, ty, "not a valid date")),
        DataType::Timestamp { .. } => calendar::parse_timestamp(trimmed, false)
            .map(Value::Timestamp)
            .ok_or_else(|| text_error(text, ty, "not a valid timestamp")),
        DataType::TimestampLtz { .. } => calendar::parse_timestamp(trimmed, true)
            .map(Value::Timestamp)
            .ok_or_else(|| text_error(text, ty, "not a valid timestamp")),
        DataType::Interval | DataType::Row(_) | DataType::Array(_) | DataType::Null => Err(
            text_error(text, ty, "this type has no text form in a field"),
        ),
    }
}

/// Whether `v` is in the range of integer type `ty` (any other type: true).
pub(crate) fn integer_fits(v: i64, ty: &DataType) -> bool {
    match ty {
        DataType::TinyInt => i8::try_from(v).is_ok(),
        DataType::SmallInt => i16::try_from(v).is_ok(),
        DataType::Int => i32::try_from(v).is_ok(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::types::Field;

    #[test]
    fn doubles_print_as_java_does() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (1234567.0, "1234567.0"),
            (1.0e7, "1.0E7"),
            (1.0e10, "1.0E10"),
            (1.5e-5, "1.5E-5"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (123456789.125, "1.23456789125E8"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::MAX, "1.7976931348623157E308"),
        ];
        for (v, text) in cases {
            assert_eq!(java_double(v), text, "{v}");
        }
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(1.0e10), "1.0E10");
        assert_eq!(
            to_text(&Value::Double(f64::from(0.1f32)), &DataType::Float),
            "0.1"
        );
    }

    #[test]
    fn values_print_as_flink_casts_them() {
        assert_eq!(to_text(&Value::Bool(true), &DataType::Boolean), "TRUE");
        assert_eq!(to_text(&Value::Null, &DataType::Int), "NULL");
        let dec = DataType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(to_text(&Value::Decimal(500), &dec), "5.00");
        assert_eq!(to_text(&Value::Date(19_675), &DataType::Date), "2023-11-14");
        let ts3 = DataType::Timestamp { precision: 3 };
        assert_eq!(
            to_text(&Value::Timestamp(1_700_000_000_000), &ts3),
            "2023-11-14 22:13:20.000"
        );
        assert_eq!(
            format_timestamp(1_700_000_000_123, 0),
            "2023-11-14 22:13:20"
        );
        assert_eq!(
            format_timestamp(1_700_000_000_123, 6),
            "2023-11-14 22:13:20.123000"
        );
        assert_eq!(format_timestamp(-1, 3), "1969-12-31 23:59:59.999");
        assert_eq!(
            to_text(&Value::Interval(93_784_005), &DataType::Interval),
            "+1 02:03:04.005"
        );
        let row = DataType::Row(vec![
            Field::new("a", DataType::Int),
            Field::new("b", DataType::String),
        ]);
        let v = Value::Row(vec![Value::Int(1), Value::str("abc")].into());
        assert_eq!(to_text(&v, &row), "(1, abc)");
        let arr = DataType::Array(Box::new(DataType::Int));
        let v = Value::Array(vec![Value::Int(1), Value::Null].into());
        assert_eq!(to_text(&v, &arr), "[1, NULL]");
    }

    #[test]
    fn field_text_parses_by_csv_rules() {
        assert_eq!(parse_text(" 42 ", &DataType::Int), Ok(Value::Int(42)));
        assert!(parse_text("3000000000", &DataType::Int).is_err());
        assert_eq!(
            parse_text("3000000000", &DataType::BigInt),
            Ok(Value::Int(3_000_000_000))
        );
        assert!(matches!(
            parse_text("abc", &DataType::Int),
            Err(EvalError::Cast { .. })
        ));
        assert_eq!(
            parse_text("TRUE", &DataType::Boolean),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            parse_text("yes", &DataType::Boolean),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            parse_text("1.5e3", &DataType::Double),
            Ok(Value::Double(1500.0))
        );
        assert_eq!(
            parse_text("NaN", &DataType::Double),
            Ok(Value::Double(f64::NAN))
        );
        assert!(parse_text("inf", &DataType::Double).is_err());
        let dec = DataType::Decimal {
            precision: 5,
            scale: 2,
        };
        assert_eq!(parse_text("1.235", &dec), Ok(Value::Decimal(124)));
        assert!(parse_text("1234.5", &dec).is_err());
        assert_eq!(
            parse_text("2023-11-14", &DataType::Date),
            Ok(Value::Date(19_675))
        );
        let ts = DataType::Timestamp { precision: 3 };
        assert_eq!(
            parse_text("2023-11-14 22:13:20.5", &ts),
            Ok(Value::Timestamp(1_700_000_000_500))
        );
        assert_eq!(
            parse_text("2023-11-14T22:13:20", &ts),
            Ok(Value::Timestamp(1_700_000_000_000))
        );
        let ltz = DataType::TimestampLtz { precision: 3 };
        assert_eq!(
            parse_text("2023-11-14T22:13:20Z", &ltz),
            Ok(Value::Timestamp(1_700_000_000_000))
        );
        assert_eq!(parse_text(" a ", &DataType::String), Ok(Value::str(" a ")));
        assert_eq!(parse_timestamp("2023-11-14"), Ok(1_699_920_000_000));
    }
}
