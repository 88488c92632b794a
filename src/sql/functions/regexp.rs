//! Regular-expression functions (`REGEXP`, `REGEXP_EXTRACT`, `REGEXP_REPLACE`). Flink takes
//! Java patterns; most of their syntax is the `regex` crate's, and Java's POSIX classes
//! (`\p{Alpha}`, …) are translated. Lookaround and backreferences have no equivalent: such a
//! constant pattern is a plan-time error.
//!
//! As in Flink, a pattern that fails at run time gives `NULL` (`false` for `REGEXP`), and
//! `REGEXP_REPLACE`'s replacement is literal text (`Matcher.quoteReplacement`).

use std::cell::RefCell;
use std::sync::Arc;

use regex::{NoExpand, Regex};

use crate::sql::functions::registry::{int, is_int, is_text, strict, text, Call, Resolver};
use crate::sql::functions::{FunctionError, PatternError, ScalarFunction};
use crate::sql::types::{DataType, Value};

pub(crate) const FUNCTIONS: &[(&str, Resolver)] = &[
    ("REGEXP", regexp),
    ("REGEXP_EXTRACT", regexp_extract),
    ("REGEXP_REPLACE", regexp_replace),
];

/// Java's POSIX character classes, which Rust spells as ASCII classes.
const POSIX: &[(&str, &str)] = &[
    (r"\p{Lower}", "[[:lower:]]"),
    (r"\p{Upper}", "[[:upper:]]"),
    (r"\p{Alpha}", "[[:alpha:]]"),
    (r"\p{Digit}", "[[:digit:]]"),
    (r"\p{Alnum}", "[[:alnum:]]"),
    (r"\p{Punct}", "[[:punct:]]"),
    (r"\p{Space}", "[[:space:]]"),
    (r"\p{XDigit}", "[[:xdigit:]]"),
    (r"\p{ASCII}", "[[:ascii:]]"),
];

/// Compiles a Java pattern, or says why it cannot be.
pub(crate) fn compile(pattern: &str) -> Result<Regex, PatternError> {
    let mut translated = pattern.to_string();
    for (java, rust) in POSIX {
        translated = translated.replace(java, rust);
    }
    Ok(Regex::new(&translated)?)
}

/// A pattern argument: compiled once when constant, else compiled per distinct value (the
/// thread's last one kept, as rows usually repeat it).
#[derive(Clone)]
enum Pattern {
    Fixed(Arc<Regex>),
    PerRow,
}

/// The last non-constant pattern compiled, with its text.
type LastPattern = Option<(String, Arc<Regex>)>;

thread_local! {
    /// Per slot thread: no lock on the per-row path, and subtasks never wait on each other.
    static LAST_PATTERN: RefCell<LastPattern> = const { RefCell::new(None) };
}

impl Pattern {
    fn for_call(call: &Call<'_>, i: usize) -> Result<Self, FunctionError> {
        match call.literal_str(i) {
            Some(p) => compile(p)
                .map(|r| Pattern::Fixed(Arc::new(r)))
                .map_err(|reason| FunctionError::Arguments {
                    name: call.name.to_string(),
                    got: format!("'{p}'"),
                    expected: format!("a valid regular expression ({reason})"),
                }),
            None => Ok(Pattern::PerRow),
        }
    }

    /// The compiled pattern, or `None` when `text` does not compile.
    fn get(&self, text: &str) -> Option<Arc<Regex>> {
        match self {
            Pattern::Fixed(r) => Some(r.clone()),
            Pattern::PerRow => LAST_PATTERN.with(|slot| {
                let mut slot = slot.borrow_mut();
                if let Some((p, r)) = slot.as_ref() {
                    if p == text {
                        return Some(r.clone());
                    }
                }
                let r = Arc::new(compile(text).ok()?);
                *slot = Some((text.to_string(), r.clone()));
                Some(r)
            }),
        }
    }
}

type R = Result<ScalarFunction, FunctionError>;

/// `REGEXP(s, pattern)`: whether the pattern matches anywhere in `s` (Java's `find`).
fn regexp(call: &Call<'_>) -> R {
    call.check(2, 2, &[is_text], "REGEXP(STRING, STRING)")?;
    let pattern = Pattern::for_call(call, 1)?;
    Ok(strict("REGEXP", DataType::Boolean, move |a| {
        let (s, p) = (text("REGEXP", a, 0)?, text("REGEXP", a, 1)?);
        if p.is_empty() {
            return Ok(Value::Bool(false));
        }
        Ok(Value::Bool(pattern.get(p).is_some_and(|r| r.is_match(s))))
    }))
}

/// `REGEXP_EXTRACT(s, pattern[, group])`: the group (0: the whole match) of the first match;
/// `NULL` when nothing matches, the group did not take part, or there is no such group.
fn regexp_extract(call: &Call<'_>) -> R {
    call.check(
        2,
        3,
        &[is_text, is_text, is_int],
        "REGEXP_EXTRACT(STRING, STRING[, INT])",
    )?;
    let pattern = Pattern::for_call(call, 1)?;
    if let (Pattern::Fixed(r), Some(g)) = (&pattern, call.literal_int(2)) {
        if g < 0 || g as usize >= r.captures_len() {
            return Err(call.mismatch(&format!("a group index from 0 to {}", r.captures_len() - 1)));
        }
    }
    Ok(strict("REGEXP_EXTRACT", DataType::String, move |a| {
        let (s, p) = (text("REGEXP_EXTRACT", a, 0)?, text("REGEXP_EXTRACT", a, 1)?);
        let group = if a.len() > 2 {
            int("REGEXP_EXTRACT", a, 2)?
        } else {
            0
        };
        let Ok(group) = usize::try_from(group) else {
            return Ok(Value::Null);
        };
        let found = pattern.get(p).and_then(|r| {
            r.captures(s)
                .and_then(|c| c.get(group).map(|m| Value::str(m.as_str())))
        });
        Ok(found.unwrap_or(Value::Null))
    }))
}

/// `REGEXP_REPLACE(s, pattern, replacement)`: every match replaced by the literal replacement.
fn regexp_replace(call: &Call<'_>) -> R {
    call.check(3, 3, &[is_text], "REGEXP_REPLACE(STRING, STRING, STRING)")?;
    let pattern = Pattern::for_call(call, 1)?;
    Ok(strict("REGEXP_REPLACE", DataType::String, move |a| {
        let f = "REGEXP_REPLACE";
        let (s, p, with) = (text(f, a, 0)?, text(f, a, 1)?, text(f, a, 2)?);
        Ok(pattern.get(p).map_or(Value::Null, |r| {
            Value::str(&r.replace_all(s, NoExpand(with)))
        }))
    }))
}

#[cfg(test)]
mod tests {
    use crate::sql::functions::{resolve, FunctionError};
    use crate::sql::types::{DataType, Value};

    fn run(name: &str, args: &[Value], constant: bool) -> Value {
        let types: Vec<DataType> = args
            .iter()
            .map(|v| {
                if matches!(v, Value::Int(_)) {
                    DataType::Int
                } else {
                    DataType::String
                }
            })
            .collect();
        let literals: Vec<Option<Value>> =
            args.iter().map(|v| constant.then(|| v.clone())).collect();
        let f = resolve(name, &types, &literals).expect("resolves");
        (f.eval)(args).expect("evaluates")
    }

    #[test]
    fn extract_takes_a_group() {
        let args = [
            Value::str("foothebar"),
            Value::str("foo(.*?)(bar)"),
            Value::Int(2),
        ];
        assert_eq!(run("REGEXP_EXTRACT", &args, true), Value::str("bar"));
        assert_eq!(run("REGEXP_EXTRACT", &args, false), Value::str("bar"));
        let args = [
            Value::str("foothebar"),
            Value::str("foo(.*?)(bar)"),
            Value::Int(1),
        ];
        assert_eq!(run("REGEXP_EXTRACT", &args, true), Value::str("the"));
        let args = [Value::str("abc"), Value::str("x(y)")];
        assert_eq!(run("REGEXP_EXTRACT", &args, true), Value::Null);
        let args = [Value::Null, Value::str("x(y)")];
        assert_eq!(run("REGEXP_EXTRACT", &args, false), Value::Null);
        let args = [Value::str("a1b22"), Value::str("\\p{Digit}+")];
        assert_eq!(run("REGEXP_EXTRACT", &args, true), Value::str("1"));
    }

    #[test]
    fn bad_constant_patterns_fail_at_plan_time() {
        let err = resolve(
            "REGEXP_EXTRACT",
            &[DataType::String, DataType::String],
            &[None, Some(Value::str("(a"))],
        );
        assert!(matches!(err, Err(FunctionError::Arguments { .. })));
        let err = resolve(
            "REGEXP",
            &[DataType::String, DataType::String],
            &[None, Some(Value::str("a(?=b)"))],
        );
        assert!(err.is_err());
        let err = resolve(
            "REGEXP_EXTRACT",
            &[DataType::String, DataType::String, DataType::Int],
            &[None, Some(Value::str("a(b)")), Some(Value::Int(2))],
        );
        assert!(err.is_err());
        // Not constant: a bad pattern is NULL at run time, as in Flink.
        assert_eq!(
            run(
                "REGEXP_EXTRACT",
                &[Value::str("a"), Value::str("(a")],
                false
            ),
            Value::Null
        );
    }

    #[test]
    fn match_and_replace() {
        assert_eq!(
            run(
                "REGEXP",
                &[Value::str("abc123"), Value::str("[0-9]+")],
                true
            ),
            Value::Bool(true)
        );
        assert_eq!(
            run("REGEXP", &[Value::str("abc"), Value::str("[0-9]+")], false),
            Value::Bool(false)
        );
        assert_eq!(
            run("REGEXP", &[Value::str("abc"), Value::Null], false),
            Value::Null
        );
        let args = [Value::str("a1b22"), Value::str("[0-9]+"), Value::str("$")];
        assert_eq!(run("REGEXP_REPLACE", &args, true), Value::str("a$b$"));
        let args = [Value::str("a1"), Value::Null, Value::str("x")];
        assert_eq!(run("REGEXP_REPLACE", &args, false), Value::Null);
    }
}
