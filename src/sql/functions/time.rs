//! Date and time functions: `EXTRACT` and its shorthands (`YEAR(ts)`, …), conversions between
//! text, epoch numbers and timestamps, `DATE_FORMAT`, and the clock (`NOW()`, …). The session
//! time zone is UTC.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::sql::functions::calendar::{self, MILLIS_PER_DAY};
use crate::sql::functions::cast::decimal_millis_down;
use crate::sql::functions::datefmt::{DatePattern, Dialect};
use crate::sql::functions::registry::{
    function, int, is_int, is_num, is_text, millis, strict, text, volatile, Call, Resolver,
};
use crate::sql::functions::{EvalError, FunctionError, ScalarFunction};
use crate::sql::types::{DataType, Value};

/// A field `EXTRACT` can take from a date or timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// The year.
    Year,
    /// 1–4.
    Quarter,
    /// 1–12.
    Month,
    /// ISO-8601 week of the year, 1–53.
    Week,
    /// Day of the month, 1–31.
    Day,
    /// Day of the year, 1–366 (`DOY`).
    DayOfYear,
    /// Day of the week, 1 = Sunday … 7 = Saturday (`DOW`).
    DayOfWeek,
    /// 0–23.
    Hour,
    /// 0–59.
    Minute,
    /// 0–59.
    Second,
    /// Milliseconds within the second, 0–999 (Flink's `MILLISECOND`).
    Millisecond,
    /// Seconds since the epoch.
    Epoch,
}

impl TimeUnit {
    /// The unit a SQL keyword names (`YEAR`, `DOY`, `DAYOFWEEK`, …; any case).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "YEAR" => TimeUnit::Year,
            "QUARTER" => TimeUnit::Quarter,
            "MONTH" => TimeUnit::Month,
            "WEEK" => TimeUnit::Week,
            "DAY" | "DAYOFMONTH" => TimeUnit::Day,
            "DOY" | "DAYOFYEAR" => TimeUnit::DayOfYear,
            "DOW" | "DAYOFWEEK" => TimeUnit::DayOfWeek,
            "HOUR" => TimeUnit::Hour,
            "MINUTE" => TimeUnit::Minute,
            "SECOND" => TimeUnit::Second,
            "MILLISECOND" => TimeUnit::Millisecond,
            "EPOCH" => TimeUnit::Epoch,
            _ => return None,
        })
    }
}

fn field(unit: TimeUnit, ms: i64) -> i64 {
    let days = ms.div_euclid(MILLIS_PER_DAY);
    let t = calendar::split(ms);
    match unit {
        TimeUnit::Year => t.year,
        TimeUnit::Quarter => i64::from(t.month.div_ceil(3)),
        TimeUnit::Month => i64::from(t.month),
        TimeUnit::Week => calendar::iso_week(days),
        TimeUnit::Day => i64::from(t.day),
        TimeUnit::DayOfYear => calendar::day_of_year(days),
        TimeUnit::DayOfWeek => calendar::day_of_week(days),
        TimeUnit::Hour => i64::from(t.hour),
        TimeUnit::Minute => i64::from(t.minute),
        TimeUnit::Second => i64::from(t.second),
        TimeUnit::Millisecond => i64::from(t.milli),
        TimeUnit::Epoch => ms.div_euclid(1000),
    }
}

/// `EXTRACT(unit FROM v)` for a `DATE` or timestamp `v` (a `BIGINT`); `NULL` stays `NULL`.
pub fn extract(unit: TimeUnit, v: &Value, ty: &DataType) -> Result<Value, EvalError> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Date(d) => Ok(Value::Int(field(unit, i64::from(*d) * MILLIS_PER_DAY))),
        Value::Timestamp(ms) => Ok(Value::Int(field(unit, *ms))),
        other => Err(EvalError::Argument {
            function: "EXTRACT".to_string(),
            reason: format!("{other:?} of type {ty} is not a date or timestamp"),
        }),
    }
}

pub(crate) const FUNCTIONS: &[(&str, Resolver)] = &[
    ("YEAR", shorthand),
    ("QUARTER", shorthand),
    ("MONTH", shorthand),
    ("WEEK", shorthand),
    ("DAYOFMONTH", shorthand),
    ("DAYOFYEAR", shorthand),
    ("DAYOFWEEK", shorthand),
    ("HOUR", shorthand),
    ("MINUTE", shorthand),
    ("SECOND", shorthand),
    ("TO_TIMESTAMP_LTZ", to_timestamp_ltz),
    ("TO_TIMESTAMP", to_timestamp),
    ("TO_DATE", to_date),
    ("DATE_FORMAT", date_format),
    ("UNIX_TIMESTAMP", unix_timestamp),
    ("FROM_UNIXTIME", from_unixtime),
    ("CURRENT_TIMESTAMP", clock),
    ("NOW", clock),
    ("LOCALTIMESTAMP", clock),
    ("CURRENT_ROW_TIMESTAMP", clock),
    ("PROCTIME", clock),
    ("CURRENT_DATE", clock),
];

type R = Result<ScalarFunction, FunctionError>;

const LTZ3: DataType = DataType::TimestampLtz { precision: 3 };
const TS3: DataType = DataType::Timestamp { precision: 3 };
const DEFAULT_FORMAT: &str = "yyyy-MM-dd HH:mm:ss";
/// Flink's valid range of epoch milliseconds: 0000-01-01 to 9999-12-31 23:59:59.999.
const MIN_MILLIS: i64 = -62_167_219_200_000;
const MAX_MILLIS: i64 = 253_402_300_799_999;

fn is_temporal(t: &DataType) -> bool {
    t.is_timestamp() || matches!(t, DataType::Date | DataType::Null)
}

fn shorthand(call: &Call<'_>) -> R {
    let name = call.name;
    call.check(1, 1, &[is_temporal], &format!("{name}(TIMESTAMP | DATE)"))?;
    let unit =
        TimeUnit::from_name(name).ok_or_else(|| FunctionError::NotSupported(name.to_string()))?;
    Ok(strict(name, DataType::BigInt, move |a| {
        Ok(Value::Int(field(unit, millis(name, a, 0)?)))
    }))
}

/// A date pattern argument: compiled once when constant, per row otherwise.
#[derive(Clone)]
enum Format {
    Fixed(DatePattern),
    PerRow(Dialect),
}

impl Format {
    fn for_call(call: &Call<'_>, i: usize, dialect: Dialect) -> Result<Self, FunctionError> {
        match call.literal_str(i) {
            Some(p) => DatePattern::compile(p, dialect)
                .map(Format::Fixed)
                .map_err(|reason| FunctionError::Arguments {
                    name: call.name.to_string(),
                    got: format!("'{p}'"),
                    expected: format!("a valid date pattern ({reason})"),
                }),
            None if i < call.args.len() => Ok(Format::PerRow(dialect)),
            None => DatePattern::compile(DEFAULT_FORMAT, dialect)
                .map(Format::Fixed)
                .map_err(|e| FunctionError::NotSupported(e.to_string())),
        }
    }

    fn get(
        &self,
        function: &str,
        args: &[Value],
        i: usize,
    ) -> Result<std::borrow::Cow<'_, DatePattern>, EvalError> {
        match self {
            Format::Fixed(p) => Ok(std::borrow::Cow::Borrowed(p)),
            Format::PerRow(dialect) => {
                let p = text(function, args, i)?;
                DatePattern::compile(p, *dialect)
                    .map(std::borrow::Cow::Owned)
                    .map_err(|reason| EvalError::Argument {
                        function: function.to_string(),
                        reason: reason.to_string(),
                    })
            }
        }
    }
}

/// `TO_TIMESTAMP_LTZ(n, precision)`: epoch seconds (precision 0) or milliseconds (3) to a
/// `TIMESTAMP_LTZ(3)`; `NULL` outside years 0000–9999.
fn to_timestamp_ltz(call: &Call<'_>) -> R {
    call.check(2, 2, &[is_num, is_int], "TO_TIMESTAMP_LTZ(NUMERIC, 0 | 3)")?;
    if let Some(p) = call.literal_int(1) {
        if p != 0 && p != 3 {
            return Err(call.mismatch(
                "TO_TIMESTAMP_LTZ(NUMERIC, 0 | 3): precision 0 for seconds or 3 for milliseconds",
            ));
        }
    }
    let scale = match call.arg(0) {
        DataType::Decimal { scale, .. } => *scale,
        _ => 0,
    };
    // The usual event-time column, `TO_TIMESTAMP_LTZ(millis, 3)`: nothing to decide per row.
    if call.literal_int(1) == Some(3) && call.arg(0).is_integer() {
        return Ok(function("TO_TIMESTAMP_LTZ", LTZ3, |a| {
            Ok(match a.first() {
                Some(Value::Int(ms)) if (MIN_MILLIS..=MAX_MILLIS).contains(ms) => {
                    Value::Timestamp(*ms)
                }
                _ => Value::Null,
            })
        }));
    }
    Ok(strict("TO_TIMESTAMP_LTZ", LTZ3, move |a| {
        let precision = int("TO_TIMESTAMP_LTZ", a, 1)?;
        let seconds = match precision {
            0 => true,
            3 => false,
            other => {
                return Err(EvalError::Argument {
                    function: "TO_TIMESTAMP_LTZ".into(),
                    reason: format!(
                        "precision {other} is unsupported: 0 for seconds or 3 for milliseconds"
                    ),
                })
            }
        };
        let ms = match a.first() {
            Some(Value::Int(v)) if seconds => v.checked_mul(1000),
            Some(Value::Int(v)) => Some(*v),
            Some(Value::Double(v)) if seconds => Some((v * 1000.0) as i64),
            Some(Value::Double(v)) => Some(*v as i64),
            Some(Value::Decimal(v)) if seconds => decimal_millis_down(*v, scale)
                .map(|ms| ms / 1000 * 1000)
                .and_then(|ms| i64::try_from(ms).ok()),
            Some(Value::Decimal(v)) => decimal_millis_down(*v, scale.saturating_add(3))
                .and_then(|ms| i64::try_from(ms).ok()),
            _ => None,
        };
        Ok(ms
            .filter(|ms| (MIN_MILLIS..=MAX_MILLIS).contains(ms))
            .map_or(Value::Null, Value::Timestamp))
    }))
}

/// `TO_TIMESTAMP(s[, format])`: text to `TIMESTAMP(3)`, `NULL` when it does not parse. With a
/// format that fails, Flink falls back to `yyyy-[M]M-[d]d[ HH:mm:ss[.f]]`, and so does this.
fn to_timestamp(call: &Call<'_>) -> R {
    call.check(1, 2, &[is_text], "TO_TIMESTAMP(STRING[, STRING])")?;
    let format = if call.args.len() > 1 {
        Some(Format::for_call(call, 1, Dialect::DateTimeFormatter)?)
    } else {
        None
    };
    Ok(strict("TO_TIMESTAMP", TS3, move |a| {
        let s = text("TO_TIMESTAMP", a, 0)?;
        let parsed = match &format {
            Some(f) => f.get("TO_TIMESTAMP", a, 1)?.parse(s),
            None => None,
        };
        let fallback = || {
            calendar::parse_timestamp(s, false).or_else(|| {
                calendar::parse_date(s)
                    .filter(|_| !s.trim().contains(' '))
                    .map(|d| i64::from(d) * MILLIS_PER_DAY)
            })
        };
        Ok(parsed
            .or_else(fallback)
            .map_or(Value::Null, Value::Timestamp))
    }))
}

/// `TO_DATE(s[, format])`: text to `DATE`, `NULL` when it does not parse.
fn to_date(call: &Call<'_>) -> R {
    call.check(1, 2, &[is_text], "TO_DATE(STRING[, STRING])")?;
    let format = if call.args.len() > 1 {
        Some(Format::for_call(call, 1, Dialect::SimpleDateFormat)?)
    } else {
        None
    };
    Ok(strict("TO_DATE", DataType::Date, move |a| {
        let s = text("TO_DATE", a, 0)?;
        let days = match &format {
            Some(f) => f
                .get("TO_DATE", a, 1)?
                .parse(s)
                .and_then(|ms| i32::try_from(ms.div_euclid(MILLIS_PER_DAY)).ok()),
            None => calendar::parse_date(s),
        };
        Ok(days.map_or(Value::Null, Value::Date))
    }))
}

/// `DATE_FORMAT(timestamp, format)` (`DateTimeFormatter` letters) or `DATE_FORMAT(string,
/// format)` (the string read as `yyyy-MM-dd HH:mm:ss`, `SimpleDateFormat` letters; `NULL` if it
/// does not parse).
fn date_format(call: &Call<'_>) -> R {
    let from_text = matches!(call.arg(0), DataType::String);
    call.check(
        2,
        2,
        &[|t| is_temporal(t) || is_text(t), is_text],
        "DATE_FORMAT(TIMESTAMP | STRING, STRING)",
    )?;
    let dialect = if from_text {
        Dialect::SimpleDateFormat
    } else {
        Dialect::DateTimeFormatter
    };
    let format = Format::for_call(call, 1, dialect)?;
    let input = DatePattern::compile(DEFAULT_FORMAT, Dialect::SimpleDateFormat)
        .map_err(|e| FunctionError::NotSupported(e.to_string()))?;
    Ok(strict("DATE_FORMAT", DataType::String, move |a| {
        let ms = match a.first() {
            Some(Value::Str(s)) => match input.parse(s) {
                Some(ms) => ms,
                None => return Ok(Value::Null),
            },
            _ => millis("DATE_FORMAT", a, 0)?,
        };
        Ok(Value::str(&format.get("DATE_FORMAT", a, 1)?.format(ms)))
    }))
}

/// `UNIX_TIMESTAMP()` is now in epoch seconds; `UNIX_TIMESTAMP(s[, format])` reads `s`
/// (`SimpleDateFormat`, default `yyyy-MM-dd HH:mm:ss`) and, as Flink does, gives
/// `-9223372036854775808` (`Long.MIN_VALUE`) when it does not parse.
fn unix_timestamp(call: &Call<'_>) -> R {
    call.check(0, 2, &[is_text], "UNIX_TIMESTAMP([STRING[, STRING]])")?;
    if call.args.is_empty() {
        return Ok(volatile(function(
            "UNIX_TIMESTAMP",
            DataType::BigInt,
            |_| Ok(Value::Int(now_millis() / 1000)),
        )));
    }
    let format = Format::for_call(call, 1, Dialect::SimpleDateFormat)?;
    Ok(strict("UNIX_TIMESTAMP", DataType::BigInt, move |a| {
        let s = text("UNIX_TIMESTAMP", a, 0)?;
        Ok(Value::Int(
            format
                .get("UNIX_TIMESTAMP", a, 1)?
                .parse(s)
                .map_or(i64::MIN, |ms| ms / 1000),
        ))
    }))
}

/// `FROM_UNIXTIME(seconds[, format])`: epoch seconds as text (`SimpleDateFormat`, default
/// `yyyy-MM-dd HH:mm:ss`).
fn from_unixtime(call: &Call<'_>) -> R {
    call.check(1, 2, &[is_int, is_text], "FROM_UNIXTIME(BIGINT[, STRING])")?;
    let format = Format::for_call(call, 1, Dialect::SimpleDateFormat)?;
    Ok(strict("FROM_UNIXTIME", DataType::String, move |a| {
        let ms = int("FROM_UNIXTIME", a, 0)?.wrapping_mul(1000);
        Ok(Value::str(&format.get("FROM_UNIXTIME", a, 1)?.format(ms)))
    }))
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The clock: `CURRENT_TIMESTAMP`, `NOW()`, `CURRENT_ROW_TIMESTAMP()` and `PROCTIME()` are
/// `TIMESTAMP_LTZ(3)`, `LOCALTIMESTAMP` is `TIMESTAMP(3)` (the same in UTC), `CURRENT_DATE` is
/// a `DATE`. Flink evaluates `CURRENT_TIMESTAMP` once per record in streaming mode, as here.
fn clock(call: &Call<'_>) -> R {
    let name = call.name;
    call.check(0, 0, &[], &format!("{name}()"))?;
    Ok(volatile(match name {
        "CURRENT_DATE" => function(name, DataType::Date, |_| {
            Ok(Value::Date(
                i32::try_from(now_millis().div_euclid(MILLIS_PER_DAY)).unwrap_or(i32::MAX),
            ))
        }),
        "LOCALTIMESTAMP" => function(name, TS3, |_| Ok(Value::Timestamp(now_millis()))),
        _ => function(name, LTZ3, |_| Ok(Value::Timestamp(now_millis()))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::functions::{resolve, to_text};

    fn run(name: &str, args: &[(Value, DataType)]) -> Value {
        let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
        let values: Vec<Value> = args.iter().map(|(v, _)| v.clone()).collect();
        let literals: Vec<Option<Value>> = values.iter().cloned().map(Some).collect();
        let f = resolve(name, &types, &literals).expect("resolves");
        (f.eval)(&values).expect("evaluates")
    }

    const TS: i64 = 1_700_000_000_123;

    #[test]
    fn date_format_and_epoch_conversions() {
        let ts = (Value::Timestamp(TS), TS3);
        let s = |v: &str| (Value::str(v), DataType::String);
        assert_eq!(
            run("DATE_FORMAT", &[ts.clone(), s("yyyy-MM-dd HH:mm:ss.SSS")]),
            Value::str("2023-11-14 22:13:20.123")
        );
        // The SQL literal 'yyyy-MM-dd''T''HH' is the pattern yyyy-MM-dd'T'HH.
        assert_eq!(
            run("DATE_FORMAT", &[ts.clone(), s("yyyy-MM-dd'T'HH")]),
            Value::str("2023-11-14T22")
        );
        assert_eq!(
            run("DATE_FORMAT", &[s("2023-11-14 22:13:20"), s("yyyy/MM/dd")]),
            Value::str("2023/11/14")
        );
        assert_eq!(
            run("DATE_FORMAT", &[(Value::Null, TS3), s("yyyy")]),
            Value::Null
        );
        assert!(resolve(
            "DATE_FORMAT",
            &[TS3, DataType::String],
            &[None, Some(Value::str("yyyy-bb"))]
        )
        .is_err());
        let ltz = run(
            "TO_TIMESTAMP_LTZ",
            &[
                (Value::Int(1_700_000_000_000), DataType::BigInt),
                (Value::Int(3), DataType::Int),
            ],
        );
        assert_eq!(to_text(&ltz, &LTZ3), "2023-11-14 22:13:20.000");
        let ltz = run(
            "TO_TIMESTAMP_LTZ",
            &[
                (Value::Int(1_700_000_000), DataType::BigInt),
                (Value::Int(0), DataType::Int),
            ],
        );
        assert_eq!(ltz, Value::Timestamp(1_700_000_000_000));
        assert_eq!(
            run(
                "TO_TIMESTAMP_LTZ",
                &[
                    (Value::Null, DataType::BigInt),
                    (Value::Int(3), DataType::Int)
                ]
            ),
            Value::Null
        );
        assert!(resolve(
            "TO_TIMESTAMP_LTZ",
            &[DataType::BigInt, DataType::Int],
            &[None, Some(Value::Int(6))]
        )
        .is_err());
        assert_eq!(
            run("TO_TIMESTAMP", &[s("2023-11-14 22:13:20")]),
            Value::Timestamp(1_700_000_000_000)
        );
        assert_eq!(
            run("TO_TIMESTAMP", &[s("14/11/2023 22"), s("dd/MM/yyyy HH")]),
            Value::Timestamp(1_699_999_200_000)
        );
        assert_eq!(run("TO_TIMESTAMP", &[s("garbage")]), Value::Null);
        assert_eq!(run("TO_DATE", &[s("2023-11-14")]), Value::Date(19_675));
        assert_eq!(
            run("UNIX_TIMESTAMP", &[s("2023-11-14 22:13:20")]),
            Value::Int(1_700_000_000)
        );
        assert_eq!(run("UNIX_TIMESTAMP", &[s("bad")]), Value::Int(i64::MIN));
        assert_eq!(
            run(
                "FROM_UNIXTIME",
                &[(Value::Int(1_700_000_000), DataType::BigInt)]
            ),
            Value::str("2023-11-14 22:13:20")
        );
        assert_eq!(
            run(
                "FROM_UNIXTIME",
                &[(Value::Int(0), DataType::BigInt), s("yyyy")]
            ),
            Value::str("1970")
        );
    }

    #[test]
    fn fields_of_dates_and_timestamps() {
        let ts = (Value::Timestamp(TS), TS3);
        let expect = [
            ("YEAR", 2023),
            ("QUARTER", 4),
            ("MONTH", 11),
            ("WEEK", 46),
            ("DAYOFMONTH", 14),
            ("DAYOFYEAR", 318),
            ("DAYOFWEEK", 3),
            ("HOUR", 22),
            ("MINUTE", 13),
            ("SECOND", 20),
        ];
        for (name, v) in expect {
            assert_eq!(
                run(name, std::slice::from_ref(&ts)),
                Value::Int(v),
                "{name}"
            );
        }
        assert_eq!(
            run("YEAR", &[(Value::Date(-1), DataType::Date)]),
            Value::Int(1969)
        );
        assert_eq!(run("HOUR", &[(Value::Null, TS3)]), Value::Null);
        assert_eq!(
            extract(TimeUnit::Millisecond, &Value::Timestamp(TS), &TS3),
            Ok(Value::Int(123))
        );
        assert_eq!(
            extract(TimeUnit::Epoch, &Value::Timestamp(TS), &TS3),
            Ok(Value::Int(1_700_000_000))
        );
        assert_eq!(
            extract(TimeUnit::Day, &Value::Date(19_675), &DataType::Date),
            Ok(Value::Int(14))
        );
        assert_eq!(
            extract(TimeUnit::Year, &Value::Null, &DataType::Date),
            Ok(Value::Null)
        );
        assert_eq!(TimeUnit::from_name("doy"), Some(TimeUnit::DayOfYear));
    }

    #[test]
    fn the_clock_is_volatile() {
        let f = resolve("NOW", &[], &[]).expect("resolves");
        assert!(!f.deterministic);
        assert_eq!(f.return_type, LTZ3);
        let Ok(Value::Timestamp(ms)) = (f.eval)(&[]) else {
            panic!("a timestamp")
        };
        assert!(ms > 1_700_000_000_000);
        let d = resolve("current_date", &[], &[]).expect("resolves");
        assert!(matches!((d.eval)(&[]), Ok(Value::Date(days)) if days > 19_000));
    }
}
