//! Finding a function by name ([`resolve`]), checking its arguments, and the small helpers the
//! function modules share to build [`ScalarFunction`]s.

use std::sync::Arc;

use crate::sql::functions::{cond, math, random, regexp, string, time};
use crate::sql::functions::{EvalError, FunctionError, ScalarFunction};
use crate::sql::types::{DataType, Value};

/// A call being resolved: the canonical name, the argument types, and which arguments are
/// constants.
pub(crate) struct Call<'a> {
    pub name: &'static str,
    pub args: &'a [DataType],
    pub literals: &'a [Option<Value>],
}

impl Call<'_> {
    /// The arguments error for this call, naming the signatures it would accept.
    pub fn mismatch(&self, expected: &str) -> FunctionError {
        FunctionError::Arguments {
            name: self.name.to_string(),
            got: self
                .args
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            expected: expected.to_string(),
        }
    }

    /// Argument `i`'s type (`NULL` past the end, which a caller's arity check rules out).
    pub fn arg(&self, i: usize) -> &DataType {
        self.args.get(i).unwrap_or(&DataType::Null)
    }

    /// Argument `i`'s value when it is a constant (a constant `NULL` included).
    pub fn literal(&self, i: usize) -> Option<&Value> {
        self.literals.get(i).and_then(Option::as_ref)
    }

    /// Argument `i` when it is a constant string.
    pub fn literal_str(&self, i: usize) -> Option<&str> {
        self.literal(i).and_then(Value::as_str)
    }

    /// Argument `i` when it is a constant integer.
    pub fn literal_int(&self, i: usize) -> Option<i64> {
        match self.literal(i) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// Checks the argument count and that argument `i` satisfies `accepts[i]` (the last
    /// predicate repeats for variadic calls).
    pub fn check(
        &self,
        min: usize,
        max: usize,
        accepts: &[fn(&DataType) -> bool],
        expected: &str,
    ) -> Result<(), FunctionError> {
        let count_ok = self.args.len() >= min && self.args.len() <= max;
        let types_ok = self.args.iter().enumerate().all(|(i, t)| {
            accepts
                .get(i)
                .or(accepts.last())
                .is_some_and(|accept| accept(t))
        });
        if count_ok && types_ok {
            Ok(())
        } else {
            Err(self.mismatch(expected))
        }
    }
}

/// Resolves a function's upper-case name to a builder of its [`ScalarFunction`].
pub(crate) type Resolver = fn(&Call<'_>) -> Result<ScalarFunction, FunctionError>;

const TABLES: &[&[(&str, Resolver)]] = &[
    string::FUNCTIONS,
    regexp::FUNCTIONS,
    math::FUNCTIONS,
    time::FUNCTIONS,
    cond::FUNCTIONS,
    random::FUNCTIONS,
];

/// Resolves a call of `name` (any case) with arguments of types `args`; `literals[i]` is
/// `Some` when argument `i` is a constant, so that a regex or a date pattern is compiled once,
/// here, and a bad constant pattern is a plan-time error.
pub fn resolve(
    name: &str,
    args: &[DataType],
    literals: &[Option<Value>],
) -> Result<ScalarFunction, FunctionError> {
    // Registered Rust functions come before the built-in ones (as Flink's temporary system
    // functions do), and the names a session's `CREATE FUNCTION`s gave after them.
    if let Some(f) = super::udf::by_name(name) {
        return f.bind(name, args);
    }
    let upper = name.to_ascii_uppercase();
    let found = TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|(n, _)| *n == upper);
    match found {
        Some((name, resolver)) => resolver(&Call {
            name,
            args,
            literals,
        }),
        None => match super::udf::in_session(name) {
            Some(f) => f.bind(name, args),
            None => Err(FunctionError::Unknown {
                name: name.to_string(),
                similar: similar_names(&upper),
            }),
        },
    }
}

/// Every function's name, sorted (for `SHOW FUNCTIONS`).
pub fn function_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = TABLES
        .iter()
        .flat_map(|t| t.iter().map(|(n, _)| *n))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let value = (above + 1)
                .min(left + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

/// Up to three known names within a few edits of `name`, closest first.
fn similar_names(name: &str) -> Vec<String> {
    let limit = (name.len() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = function_names()
        .into_iter()
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= limit || (name.len() >= 3 && n.starts_with(name)))
        .collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// A deterministic function of `eval`.
pub(crate) fn function(
    name: &'static str,
    return_type: DataType,
    eval: impl Fn(&[Value]) -> Result<Value, EvalError> + Send + Sync + 'static,
) -> ScalarFunction {
    ScalarFunction {
        name,
        return_type,
        deterministic: true,
        eval: Arc::new(eval),
    }
}

/// A deterministic function whose result is `NULL` when any argument is.
pub(crate) fn strict(
    name: &'static str,
    return_type: DataType,
    eval: impl Fn(&[Value]) -> Result<Value, EvalError> + Send + Sync + 'static,
) -> ScalarFunction {
    function(name, return_type, move |args| {
        if args.iter().any(Value::is_null) {
            Ok(Value::Null)
        } else {
            eval(args)
        }
    })
}

/// The same function, marked as not deterministic.
pub(crate) fn volatile(mut f: ScalarFunction) -> ScalarFunction {
    f.deterministic = false;
    f
}

/// `STRING` or a bare `NULL`.
pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::String | DataType::Null)
}

/// An integer type or a bare `NULL`.
pub(crate) fn is_int(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

/// A numeric type or a bare `NULL`.
pub(crate) fn is_num(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Null)
}

/// Any type.
pub(crate) fn any(_: &DataType) -> bool {
    true
}

fn wrong_kind(function: &str, i: usize, v: Option<&Value>) -> EvalError {
    EvalError::Argument {
        function: function.to_string(),
        reason: format!("argument {} is {v:?}, not of its declared type", i + 1),
    }
}

/// Argument `i` as text.
pub(crate) fn text<'a>(function: &str, args: &'a [Value], i: usize) -> Result<&'a str, EvalError> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s),
        other => Err(wrong_kind(function, i, other)),
    }
}

/// Argument `i` as an integer.
pub(crate) fn int(function: &str, args: &[Value], i: usize) -> Result<i64, EvalError> {
    match args.get(i) {
        Some(Value::Int(v)) => Ok(*v),
        other => Err(wrong_kind(function, i, other)),
    }
}

/// Argument `i` as a timestamp's or date's milliseconds since the epoch.
pub(crate) fn millis(function: &str, args: &[Value], i: usize) -> Result<i64, EvalError> {
    match args.get(i) {
        Some(Value::Timestamp(ms)) => Ok(*ms),
        Some(Value::Date(d)) => Ok(i64::from(*d) * crate::sql::functions::calendar::MILLIS_PER_DAY),
        other => Err(wrong_kind(function, i, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_close_ones() {
        match resolve("uper", &[DataType::String], &[None]) {
            Err(FunctionError::Unknown { similar, .. }) => {
                assert_eq!(similar.first().map(String::as_str), Some("UPPER"))
            }
            other => panic!("expected an unknown function, got {other:?}"),
        }
        match resolve("REGEXP_EXTRAC", &[], &[]) {
            Err(FunctionError::Unknown { similar, .. }) => {
                assert!(similar.contains(&"REGEXP_EXTRACT".to_string()))
            }
            other => panic!("expected an unknown function, got {other:?}"),
        }
    }

    #[test]
    fn names_are_sorted_and_resolve_in_any_case() {
        let names = function_names();
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        for required in [
            "UPPER",
            "SUBSTRING",
            "DATE_FORMAT",
            "ROUND",
            "IFNULL",
            "UUID",
            "TO_TIMESTAMP_LTZ",
        ] {
            assert!(names.contains(&required), "{required}");
        }
        let f = resolve("upper", &[DataType::String], &[None]).expect("resolves");
        assert_eq!(f.name, "UPPER");
        let err = resolve("UPPER", &[DataType::Int], &[None]).err();
        assert!(
            matches!(err, Some(FunctionError::Arguments { .. })),
            "{err:?}"
        );
    }
}
