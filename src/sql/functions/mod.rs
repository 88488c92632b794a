//! SQL value semantics as Flink defines them: casts and text, arithmetic and comparison, and
//! the library of scalar functions the planner resolves calls against.
//!
//! ## Rules
//! - A `NULL` argument gives a `NULL` result, unless the function's documentation says
//!   otherwise (`CONCAT_WS`, `IFNULL`, `IF`, …).
//! - Work that depends only on types or constants (type checks, regex compilation, date
//!   pattern parsing) is done once in [`resolve`]; the [`ScalarEval`] it returns only
//!   computes, row by row.
//! - Bad input is an [`EvalError`], never a panic; a call that cannot type-check is a
//!   [`FunctionError`] at plan time.
//! - The session time zone is UTC: `TIMESTAMP` and `TIMESTAMP_LTZ` print alike.
//! - Integer arithmetic wraps at the result type's width, as Flink's generated Java does;
//!   `DECIMAL` arithmetic that overflows its result type gives `NULL`, as Flink's
//!   `DecimalData.fromBigDecimal` does.

mod arith;
mod calendar;
mod cast;
mod compare;
mod cond;
mod datefmt;
pub(crate) mod decimal;
mod like;
mod math;
mod random;
mod regexp;
mod registry;
mod string;
mod text;
mod time;
pub mod udf;

use std::fmt;
use std::sync::Arc;

use crate::sql::types::{DataType, Value};

pub use arith::{arithmetic, arithmetic_type, ArithOp};
pub use cast::{can_cast, cast};
pub use compare::{common_type, comparable, compare};
pub(crate) use datefmt::{DatePattern, Dialect};
pub use like::{like, LikePattern};
pub use registry::{function_names, resolve};
pub(crate) use text::integer_fits;
pub use text::{format_date, format_timestamp, parse_date, parse_text, parse_timestamp, to_text};
pub use time::{extract, TimeUnit};

/// Why evaluating failed at run time: bad input, never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// An exact division or modulo by zero (Java's `ArithmeticException: / by zero`).
    #[error("division by zero")]
    DivisionByZero,
    /// A value does not fit its type where Flink fails rather than wraps or gives `NULL`.
    #[error("numeric overflow: {value} does not fit {to}")]
    Overflow {
        /// The value, as text.
        value: String,
        /// The type it had to fit.
        to: String,
    },
    /// A value cannot be cast (or read from text) as a type.
    #[error("cannot cast '{value}' to {to}: {reason}")]
    Cast {
        /// The value, as text.
        value: String,
        /// The target type.
        to: String,
        /// Why not.
        reason: String,
    },
    /// A function was given an argument it cannot use (a non-constant regex that does not
    /// compile, a value of the wrong kind from a mistyped plan).
    #[error("{function}: {reason}")]
    Argument {
        /// The function.
        function: String,
        /// What was wrong.
        reason: String,
    },
}

/// Why a date pattern or a regular expression does not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    /// A quoted literal is not closed.
    #[error("unterminated quote in '{0}'")]
    UnterminatedQuote(String),
    /// A letter that is no date field.
    #[error("unknown pattern letter '{letter}' in '{pattern}'")]
    UnknownLetter {
        /// The letter.
        letter: char,
        /// The pattern.
        pattern: String,
    },
    /// More fraction digits than nanoseconds have.
    #[error("too many 'S' (at most 9) in '{0}'")]
    TooManyFractionDigits(String),
    /// The regular expression does not compile.
    #[error(transparent)]
    Regex(#[from] regex::Error),
}

/// Why a call or an operator does not type-check (plan time).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunctionError {
    /// No function has this name.
    #[error("no function named {name}{}", suggest(.similar))]
    Unknown {
        /// The name as written.
        name: String,
        /// Known names close to it.
        similar: Vec<String>,
    },
    /// The function exists but not for these argument types (or constants).
    #[error("cannot apply {name} to ({got}); expected {expected}")]
    Arguments {
        /// The function.
        name: String,
        /// The argument types given, comma-separated.
        got: String,
        /// The signatures it accepts.
        expected: String,
    },
    /// An operator does not apply to these operand types.
    #[error("cannot apply '{op}' to {left} and {right}")]
    Operator {
        /// The operator (`+`, `<`, …).
        op: String,
        /// The left operand's type.
        left: String,
        /// The right operand's type.
        right: String,
    },
    /// Flink has it, Rill does not (yet).
    #[error("not supported: {0}")]
    NotSupported(String),
}

fn suggest(similar: &[String]) -> String {
    if similar.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", similar.join(", "))
    }
}

/// A resolved function's body: the argument values of one row in, the result out.
pub type ScalarEval = Arc<dyn Fn(&[Value]) -> Result<Value, EvalError> + Send + Sync>;

/// A call resolved against the library: what it returns and how to compute it.
#[derive(Clone)]
pub struct ScalarFunction {
    /// The function's canonical (upper-case) name.
    pub name: &'static str,
    /// The result type.
    pub return_type: DataType,
    /// Whether the same arguments always give the same result (false for `RAND`, `NOW`, …),
    /// so the planner may fold constant calls only when true.
    pub deterministic: bool,
    /// Computes the result for one row's argument values.
    pub eval: ScalarEval,
}

impl fmt::Debug for ScalarFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScalarFunction")
            .field("name", &self.name)
            .field("return_type", &self.return_type)
            .field("deterministic", &self.deterministic)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_well() {
        let e = FunctionError::Unknown {
            name: "UPER".into(),
            similar: vec!["UPPER".into()],
        };
        assert_eq!(
            e.to_string(),
            "no function named UPER (did you mean UPPER?)"
        );
        let e = EvalError::Cast {
            value: "abc".into(),
            to: "INT".into(),
            reason: "not a number".into(),
        };
        assert_eq!(e.to_string(), "cannot cast 'abc' to INT: not a number");
    }

    #[test]
    fn hostile_input_never_panics() {
        let types = [
            DataType::Boolean,
            DataType::TinyInt,
            DataType::Int,
            DataType::BigInt,
            DataType::Float,
            DataType::Double,
            DataType::Decimal {
                precision: 38,
                scale: 10,
            },
            DataType::Decimal {
                precision: 5,
                scale: 2,
            },
            DataType::String,
            DataType::Date,
            DataType::Timestamp { precision: 0 },
            DataType::TimestampLtz { precision: 3 },
            DataType::Interval,
        ];
        let texts = [
            "",
            " ",
            "-",
            "+",
            ".",
            "e",
            "1e9223372036854775807",
            "1e-9223372036854775808",
            "99999999999999999999999999999999999999999",
            "-9223372036854775808",
            "NaN",
            "9999-12-31 23:59:59.999999999",
            "0000-01-01",
            "2023-13-01",
            "2023-1-1T1:2",
            "é",
            "2023-11-14T22:13:20Z",
        ];
        let values = [
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Double(f64::NAN),
            Value::Double(f64::MAX),
            Value::Double(-f64::MAX),
            Value::Decimal(10i128.pow(38) - 1),
            Value::Decimal(-(10i128.pow(38) - 1)),
            Value::Timestamp(i64::MIN),
            Value::Timestamp(i64::MAX),
            Value::Date(i32::MIN),
            Value::Interval(i64::MIN),
            Value::Bool(true),
        ];
        for t in &types {
            for text in texts {
                let _ = parse_text(text, t);
                let _ = cast(&Value::str(text), &DataType::String, t);
            }
            for v in &values {
                let _ = to_text(v, t);
                for u in &types {
                    let _ = cast(v, t, u);
                    let _ = compare(v, t, v, u);
                    for op in [
                        ArithOp::Add,
                        ArithOp::Sub,
                        ArithOp::Mul,
                        ArithOp::Div,
                        ArithOp::Mod,
                    ] {
                        if let Ok(out) = arithmetic_type(op, t, u) {
                            for w in &values {
                                let _ = arithmetic(op, v, t, w, u, &out);
                            }
                        }
                    }
                }
            }
        }
        let patterns = [
            "yyyy-MM-dd HH:mm:ss",
            "yyyyMMddHHmmssSSS",
            "D",
            "hh a",
            "SSSSSSSSS",
        ];
        for pattern in patterns {
            for lit in [Some(Value::str(pattern)), None] {
                let Ok(f) = resolve(
                    "TO_TIMESTAMP",
                    &[DataType::String, DataType::String],
                    &[None, lit],
                ) else {
                    continue;
                };
                for text in texts
                    .iter()
                    .chain(&["99999999999-99-99 99:99:99", "20231114221320999"])
                {
                    let _ = (f.eval)(&[Value::str(text), Value::str(pattern)]);
                }
            }
        }
        for name in function_names() {
            for args in [
                vec![],
                vec![Value::Int(i64::MIN)],
                vec![Value::str(""), Value::Int(i64::MAX)],
            ] {
                let types: Vec<DataType> = args
                    .iter()
                    .map(|v| {
                        if matches!(v, Value::Int(_)) {
                            DataType::BigInt
                        } else {
                            DataType::String
                        }
                    })
                    .collect();
                if let Ok(f) = resolve(name, &types, &vec![None; args.len()]) {
                    let _ = (f.eval)(&args);
                }
            }
        }
    }
}
