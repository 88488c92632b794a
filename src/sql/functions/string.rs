//! String functions, by Flink's rules: positions count characters (code points) from 1, and a
//! `NULL` argument gives `NULL` except where noted (`CONCAT_WS` skips `NULL`s).

use crate::sql::functions::registry::{
    function, int, is_int, is_text, strict, text, Call, Resolver,
};
use crate::sql::functions::{FunctionError, ScalarFunction};
use crate::sql::types::{DataType, Value};

pub(crate) const FUNCTIONS: &[(&str, Resolver)] = &[
    ("LOWER", lower),
    ("UPPER", upper),
    ("SUBSTRING", substring),
    ("SUBSTR", substring),
    ("CHAR_LENGTH", char_length),
    ("CHARACTER_LENGTH", char_length),
    ("REPLACE", replace),
    ("SPLIT_INDEX", split_index),
    ("CONCAT", concat),
    ("CONCAT_WS", concat_ws),
    ("TRIM", trim),
    ("BTRIM", trim),
    ("LTRIM", trim),
    ("RTRIM", trim),
    ("INITCAP", initcap),
    ("LPAD", pad),
    ("RPAD", pad),
    ("POSITION", position),
    ("LOCATE", position),
    ("INSTR", position),
    ("REVERSE", reverse),
    ("REPEAT", repeat),
    ("SPLIT", split),
    ("LEFT", left_right),
    ("RIGHT", left_right),
];

type R = Result<ScalarFunction, FunctionError>;

fn string_to_string(call: &Call<'_>, f: fn(&str) -> String) -> R {
    call.check(1, 1, &[is_text], &format!("{}(STRING)", call.name))?;
    let name = call.name;
    Ok(strict(name, DataType::String, move |a| {
        Ok(Value::str(&f(text(name, a, 0)?)))
    }))
}

fn lower(call: &Call<'_>) -> R {
    string_to_string(call, str::to_lowercase)
}

fn upper(call: &Call<'_>) -> R {
    string_to_string(call, str::to_uppercase)
}

fn reverse(call: &Call<'_>) -> R {
    string_to_string(call, |s| s.chars().rev().collect())
}

/// Calcite's `INITCAP`: a word is a run of ASCII letters and digits; its first letter goes to
/// upper case and the rest to lower case.
fn initcap(call: &Call<'_>) -> R {
    string_to_string(call, |s| {
        let mut start = true;
        s.chars()
            .map(|c| {
                let out = if !c.is_ascii_alphanumeric() {
                    start = true;
                    return c;
                } else if start {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                start = false;
                out
            })
            .collect()
    })
}

/// `SUBSTRING(s, pos[, len])` as Flink's `substringSQL`: `pos` 0 is the first character, a
/// negative `pos` counts from the end, a negative `len` gives `NULL`.
fn substring(call: &Call<'_>) -> R {
    call.check(
        2,
        3,
        &[is_text, is_int, is_int],
        &format!("{}(STRING, INT[, INT])", call.name),
    )?;
    let name = call.name;
    Ok(strict(name, DataType::String, move |a| {
        let s = text(name, a, 0)?;
        let pos = int(name, a, 1)?;
        let len = if a.len() > 2 {
            Some(int(name, a, 2)?)
        } else {
            None
        };
        if len.is_some_and(|l| l < 0) {
            return Ok(Value::Null);
        }
        let count = s.chars().count() as i64;
        let start = match pos {
            p if p > 0 => p - 1,
            p if p < 0 => count + p,
            _ => 0,
        };
        if start < 0 || start >= count {
            return Ok(Value::str(""));
        }
        let take = len.map_or(count - start, |l| l.min(count - start));
        let out: String = s.chars().skip(start as usize).take(take as usize).collect();
        Ok(Value::str(&out))
    }))
}

fn char_length(call: &Call<'_>) -> R {
    call.check(1, 1, &[is_text], &format!("{}(STRING)", call.name))?;
    let name = call.name;
    Ok(strict(name, DataType::Int, move |a| {
        Ok(Value::Int(text(name, a, 0)?.chars().count() as i64))
    }))
}

fn replace(call: &Call<'_>) -> R {
    call.check(3, 3, &[is_text], "REPLACE(STRING, STRING, STRING)")?;
    Ok(strict("REPLACE", DataType::String, |a| {
        let (s, from, to) = (
            text("REPLACE", a, 0)?,
            text("REPLACE", a, 1)?,
            text("REPLACE", a, 2)?,
        );
        Ok(Value::str(&s.replace(from, to)))
    }))
}

/// `SPLIT_INDEX(s, delimiter, index)`: the 0-based `index`th piece, `NULL` when out of range
/// (commons-lang `splitByWholeSeparatorPreserveAllTokens`, so an empty `s` has no pieces).
fn split_index(call: &Call<'_>) -> R {
    call.check(
        3,
        3,
        &[is_text, is_text, is_int],
        "SPLIT_INDEX(STRING, STRING, INT)",
    )?;
    Ok(strict("SPLIT_INDEX", DataType::String, |a| {
        let (s, delimiter, index) = (
            text("SPLIT_INDEX", a, 0)?,
            text("SPLIT_INDEX", a, 1)?,
            int("SPLIT_INDEX", a, 2)?,
        );
        let Ok(index) = usize::try_from(index) else {
            return Ok(Value::Null);
        };
        if s.is_empty() {
            return Ok(Value::Null);
        }
        let piece = if delimiter.is_empty() {
            s.split(char::is_whitespace).nth(index)
        } else {
            s.split(delimiter).nth(index)
        };
        Ok(piece.map_or(Value::Null, Value::str))
    }))
}

/// `CONCAT(a, …)`: `NULL` if any argument is.
fn concat(call: &Call<'_>) -> R {
    call.check(1, usize::MAX, &[is_text], "CONCAT(STRING, …)")?;
    Ok(strict("CONCAT", DataType::String, |a| {
        let mut out = String::new();
        for i in 0..a.len() {
            out.push_str(text("CONCAT", a, i)?);
        }
        Ok(Value::str(&out))
    }))
}

/// `CONCAT_WS(separator, a, …)`: `NULL` only if the separator is; `NULL` arguments are skipped.
fn concat_ws(call: &Call<'_>) -> R {
    call.check(2, usize::MAX, &[is_text], "CONCAT_WS(STRING, STRING, …)")?;
    Ok(function("CONCAT_WS", DataType::String, |a| {
        let Some(Value::Str(sep)) = a.first() else {
            return Ok(Value::Null);
        };
        let parts: Vec<&str> = a.iter().skip(1).filter_map(Value::as_str).collect();
        Ok(Value::str(&parts.join(sep)))
    }))
}

/// `TRIM(s[, characters])`, `LTRIM`, `RTRIM`: removes spaces (or any of `characters`) from
/// both ends, the start, or the end.
fn trim(call: &Call<'_>) -> R {
    call.check(
        1,
        2,
        &[is_text],
        &format!("{}(STRING[, STRING])", call.name),
    )?;
    let name = call.name;
    let (left, right) = match name {
        "LTRIM" => (true, false),
        "RTRIM" => (false, true),
        _ => (true, true),
    };
    Ok(strict(name, DataType::String, move |a| {
        let s = text(name, a, 0)?;
        let set: Vec<char> = if a.len() > 1 {
            text(name, a, 1)?.chars().collect()
        } else {
            vec![' ']
        };
        let in_set = |c: char| set.contains(&c);
        let s = if left {
            s.trim_start_matches(in_set)
        } else {
            s
        };
        let s = if right { s.trim_end_matches(in_set) } else { s };
        Ok(Value::str(s))
    }))
}

/// `LPAD(s, len, pad)` and `RPAD`: `NULL` for a negative `len` or an empty `pad`; a longer `s`
/// is cut to `len` characters.
fn pad(call: &Call<'_>) -> R {
    call.check(
        3,
        3,
        &[is_text, is_int, is_text],
        &format!("{}(STRING, INT, STRING)", call.name),
    )?;
    let name = call.name;
    let on_left = name == "LPAD";
    Ok(strict(name, DataType::String, move |a| {
        let (s, len, fill) = (text(name, a, 0)?, int(name, a, 1)?, text(name, a, 2)?);
        let Ok(len) = usize::try_from(len) else {
            return Ok(Value::Null);
        };
        if fill.is_empty() {
            return Ok(Value::Null);
        }
        if len > 1 << 30 {
            return Err(crate::sql::functions::EvalError::Argument {
                function: name.into(),
                reason: format!("the result would be {len} characters long"),
            });
        }
        let body: Vec<char> = s.chars().take(len).collect();
        let padding: String = fill.chars().cycle().take(len - body.len()).collect();
        let body: String = body.into_iter().collect();
        Ok(Value::str(&if on_left {
            padding + &body
        } else {
            body + &padding
        }))
    }))
}

/// `POSITION(needle IN s)` (the planner passes `needle, s`), `LOCATE(needle, s[, from])`,
/// `INSTR(s, needle)`: 1-based character position, 0 when absent.
fn position(call: &Call<'_>) -> R {
    let name = call.name;
    let max = if name == "LOCATE" { 3 } else { 2 };
    call.check(
        2,
        max,
        &[is_text, is_text, is_int],
        &format!(
            "{name}(STRING, STRING{})",
            if max == 3 { "[, INT]" } else { "" }
        ),
    )?;
    let (needle_at, hay_at) = if name == "INSTR" { (1, 0) } else { (0, 1) };
    Ok(strict(name, DataType::Int, move |a| {
        let (needle, hay) = (text(name, a, needle_at)?, text(name, a, hay_at)?);
        let from = if a.len() > 2 { int(name, a, 2)? } else { 1 };
        if from < 1 {
            return Ok(Value::Int(0));
        }
        let skip = usize::try_from(from - 1).unwrap_or(usize::MAX);
        let mut starts = hay
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(hay.len()));
        let Some(start) = starts.nth(skip) else {
            return Ok(Value::Int(0));
        };
        let found = hay
            .get(start..)
            .and_then(|rest| rest.find(needle))
            .map(|b| {
                from + hay
                    .get(start..start + b)
                    .map_or(0, |p| p.chars().count() as i64)
            });
        Ok(Value::Int(found.unwrap_or(0)))
    }))
}

fn repeat(call: &Call<'_>) -> R {
    call.check(2, 2, &[is_text, is_int], "REPEAT(STRING, INT)")?;
    Ok(strict("REPEAT", DataType::String, |a| {
        let (s, n) = (text("REPEAT", a, 0)?, int("REPEAT", a, 1)?);
        let n = usize::try_from(n).unwrap_or(0);
        if s.len().saturating_mul(n) > 1 << 30 {
            return Err(crate::sql::functions::EvalError::Argument {
                function: "REPEAT".into(),
                reason: format!(
                    "the result would be {} bytes long",
                    s.len().saturating_mul(n)
                ),
            });
        }
        Ok(Value::str(&s.repeat(n)))
    }))
}

/// `SPLIT(s, delimiter)` → `ARRAY<STRING>`: an empty delimiter splits into characters.
fn split(call: &Call<'_>) -> R {
    call.check(2, 2, &[is_text], "SPLIT(STRING, STRING)")?;
    Ok(strict(
        "SPLIT",
        DataType::Array(Box::new(DataType::String)),
        |a| {
            let (s, delimiter) = (text("SPLIT", a, 0)?, text("SPLIT", a, 1)?);
            let parts: Vec<Value> = if delimiter.is_empty() {
                s.chars()
                    .map(|c| Value::str(c.encode_utf8(&mut [0; 4])))
                    .collect()
            } else {
                s.split(delimiter).map(Value::str).collect()
            };
            Ok(Value::Array(parts.into()))
        },
    ))
}

/// `LEFT(s, n)` and `RIGHT(s, n)`: the first or last `n` characters (none for `n` ≤ 0).
fn left_right(call: &Call<'_>) -> R {
    call.check(
        2,
        2,
        &[is_text, is_int],
        &format!("{}(STRING, INT)", call.name),
    )?;
    let name = call.name;
    Ok(strict(name, DataType::String, move |a| {
        let (s, n) = (text(name, a, 0)?, int(name, a, 1)?);
        let n = usize::try_from(n).unwrap_or(0);
        let out: String = if name == "LEFT" {
            s.chars().take(n).collect()
        } else {
            let count = s.chars().count();
            s.chars().skip(count.saturating_sub(n)).collect()
        };
        Ok(Value::str(&out))
    }))
}

#[cfg(test)]
mod tests {
    use crate::sql::functions::resolve;
    use crate::sql::types::{DataType, Value};

    fn call(name: &str, args: &[Value]) -> Value {
        let types: Vec<DataType> = args
            .iter()
            .map(|v| match v {
                Value::Str(_) => DataType::String,
                Value::Int(_) => DataType::Int,
                _ => DataType::Null,
            })
            .collect();
        let f = resolve(name, &types, &vec![None; args.len()]).expect("resolves");
        (f.eval)(args).expect("evaluates")
    }

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    #[test]
    fn case_and_length() {
        assert_eq!(call("LOWER", &[s("AbC")]), s("abc"));
        assert_eq!(call("UPPER", &[s("AbC")]), s("ABC"));
        assert_eq!(call("UPPER", &[Value::Null]), Value::Null);
        assert_eq!(call("CHAR_LENGTH", &[s("héllo")]), Value::Int(5));
        assert_eq!(call("CHARACTER_LENGTH", &[Value::Null]), Value::Null);
        assert_eq!(
            call("INITCAP", &[s("hello wORLD-foo 1st")]),
            s("Hello World-Foo 1st")
        );
        assert_eq!(call("REVERSE", &[s("abc")]), s("cba"));
    }

    #[test]
    fn substring_follows_flink() {
        assert_eq!(
            call("SUBSTRING", &[s("hello"), Value::Int(2), Value::Int(3)]),
            s("ell")
        );
        assert_eq!(
            call("SUBSTRING", &[s("hello"), Value::Int(0), Value::Int(2)]),
            s("he")
        );
        assert_eq!(call("SUBSTR", &[s("hello"), Value::Int(-3)]), s("llo"));
        assert_eq!(call("SUBSTRING", &[s("hello"), Value::Int(-10)]), s(""));
        assert_eq!(call("SUBSTRING", &[s("hello"), Value::Int(9)]), s(""));
        assert_eq!(
            call("SUBSTRING", &[s("hello"), Value::Int(2), Value::Int(-1)]),
            Value::Null
        );
        assert_eq!(
            call("SUBSTRING", &[Value::Null, Value::Int(2)]),
            Value::Null
        );
    }

    #[test]
    fn splitting_and_joining() {
        assert_eq!(
            call("SPLIT_INDEX", &[s("a,b,c"), s(","), Value::Int(1)]),
            s("b")
        );
        assert_eq!(
            call("SPLIT_INDEX", &[s("a,b,c"), s(","), Value::Int(3)]),
            Value::Null
        );
        assert_eq!(
            call("SPLIT_INDEX", &[s("a,b,c"), s(","), Value::Int(-1)]),
            Value::Null
        );
        assert_eq!(
            call("SPLIT_INDEX", &[s("a,,c"), s(","), Value::Int(1)]),
            s("")
        );
        assert_eq!(
            call("SPLIT_INDEX", &[Value::Null, s(","), Value::Int(1)]),
            Value::Null
        );
        assert_eq!(call("CONCAT", &[s("a"), s("b"), s("c")]), s("abc"));
        assert_eq!(call("CONCAT", &[s("a"), Value::Null]), Value::Null);
        assert_eq!(
            call("CONCAT_WS", &[s("-"), s("a"), Value::Null, s("c")]),
            s("a-c")
        );
        assert_eq!(call("CONCAT_WS", &[Value::Null, s("a")]), Value::Null);
        assert_eq!(call("REPLACE", &[s("aXbX"), s("X"), s("y")]), s("ayby"));
        assert_eq!(call("REPLACE", &[s("a"), Value::Null, s("y")]), Value::Null);
        assert_eq!(
            call("SPLIT", &[s("a,b"), s(",")]),
            Value::Array(vec![s("a"), s("b")].into())
        );
        assert_eq!(call("SPLIT", &[Value::Null, s(",")]), Value::Null);
    }

    #[test]
    fn trimming_padding_and_searching() {
        assert_eq!(call("TRIM", &[s("  a b  ")]), s("a b"));
        assert_eq!(call("LTRIM", &[s("  a  ")]), s("a  "));
        assert_eq!(call("RTRIM", &[s("  a  ")]), s("  a"));
        assert_eq!(call("TRIM", &[s("xxaxx"), s("x")]), s("a"));
        assert_eq!(call("TRIM", &[Value::Null]), Value::Null);
        assert_eq!(call("LPAD", &[s("hi"), Value::Int(5), s("ab")]), s("abahi"));
        assert_eq!(call("RPAD", &[s("hi"), Value::Int(5), s("ab")]), s("hiaba"));
        assert_eq!(call("LPAD", &[s("hello"), Value::Int(2), s("x")]), s("he"));
        assert_eq!(
            call("LPAD", &[s("hi"), Value::Int(-1), s("x")]),
            Value::Null
        );
        assert_eq!(call("RPAD", &[s("hi"), Value::Int(3), s("")]), Value::Null);
        assert_eq!(call("POSITION", &[s("lo"), s("hello")]), Value::Int(4));
        assert_eq!(call("POSITION", &[s("z"), s("hello")]), Value::Int(0));
        assert_eq!(
            call("LOCATE", &[s("l"), s("hello"), Value::Int(4)]),
            Value::Int(4)
        );
        assert_eq!(
            call("LOCATE", &[s("é"), s("héé"), Value::Int(3)]),
            Value::Int(3)
        );
        assert_eq!(call("INSTR", &[s("hello"), s("e")]), Value::Int(2));
        assert_eq!(call("POSITION", &[Value::Null, s("hello")]), Value::Null);
        assert_eq!(call("REPEAT", &[s("ab"), Value::Int(3)]), s("ababab"));
        assert_eq!(call("REPEAT", &[s("ab"), Value::Int(-1)]), s(""));
        assert_eq!(call("LEFT", &[s("hello"), Value::Int(2)]), s("he"));
        assert_eq!(call("RIGHT", &[s("hello"), Value::Int(2)]), s("lo"));
    }
}
