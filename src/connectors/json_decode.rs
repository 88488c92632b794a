//! The `json` format's reader: one pass over a line's bytes, directed by the table's types,
//! straight into [`Value`]s. Fields are matched by name (a field where the schema puts it is
//! found first); unknown and pruned fields are skipped without being decoded; a string
//! without escapes is copied once. What it accepts and refuses is what a JSON parser would,
//! and each value converts as Flink's `json` format converts it:
//! - `null` is `NULL` for every type, and a missing field too;
//! - a number is an integer type's value (in range), a `FLOAT`/`DOUBLE`'s, or any other
//!   type's through its text (`DECIMAL`);
//! - a string is a `STRING`, or any other type's value through its text (timestamps,
//!   numbers in quotes);
//! - an object is a `ROW` (fields by name), an array an `ARRAY`, `true`/`false` a `BOOLEAN`.

use crate::connectors::format::DecodeError;
use crate::sql::functions;
use crate::sql::types::{DataType, Value};

/// What a line is not, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid JSON at byte {at}: {what}")]
pub struct Malformed {
    /// The byte offset in the line.
    pub at: usize,
    /// What was expected or found.
    pub what: &'static str,
}

/// How to read a value of a type: planned once per table, so nothing is looked up per line.
pub(super) enum Plan {
    /// A `ROW`: an object, its fields by name.
    Row(ObjectReader),
    /// An `ARRAY`.
    Array(Box<Plan>),
    /// Any other type.
    Scalar(DataType),
}

impl Plan {
    pub(super) fn of(t: &DataType) -> Self {
        match t {
            DataType::Row(fields) => Plan::Row(ObjectReader::new(
                fields
                    .iter()
                    .map(|f| (f.name.clone(), Some(f.data_type.clone())))
                    .collect(),
            )),
            DataType::Array(et) => Plan::Array(Box::new(Plan::of(et))),
            t => Plan::Scalar(t.clone()),
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Plan::Row(r) => DataType::Row(
                r.fields
                    .iter()
                    .map(|(n, p)| {
                        crate::sql::types::Field::new(
                            n,
                            p.as_ref().map_or(DataType::Null, Plan::data_type),
                        )
                    })
                    .collect(),
            ),
            Plan::Array(p) => DataType::Array(Box::new(p.data_type())),
            Plan::Scalar(t) => t.clone(),
        }
    }
}

/// The fields of an object to read: their names and how to read each (`None`: skipped).
pub struct ObjectReader {
    fields: Vec<(String, Option<Plan>)>,
}

impl ObjectReader {
    /// A reader of objects with `fields`; a field of type `None` is skipped.
    pub fn new(fields: Vec<(String, Option<DataType>)>) -> Self {
        Self {
            fields: fields
                .into_iter()
                .map(|(n, t)| (n, t.as_ref().map(Plan::of)))
                .collect(),
        }
    }

    /// Reads the line, one JSON object, giving `put` each wanted field's index (in the
    /// reader's order) and value; fields absent from the line are not given.
    pub fn read(&self, line: &str, put: impl FnMut(usize, Value)) -> Result<(), DecodeError> {
        let mut p = Parser {
            s: line,
            b: line.as_bytes(),
            at: 0,
        };
        p.ws();
        self.object(&mut p, put)?;
        p.ws();
        if p.at != p.b.len() {
            return Err(p.bad("trailing characters after the object").into());
        }
        Ok(())
    }

    /// Reads one object at `p`, giving each wanted field's value to `put`.
    fn object(
        &self,
        p: &mut Parser<'_>,
        mut put: impl FnMut(usize, Value),
    ) -> Result<(), DecodeError> {
        p.expect(b'{', "'{' (a JSON object)")?;
        p.ws();
        if p.eat(b'}') {
            return Ok(());
        }
        let mut guess = 0;
        loop {
            p.ws();
            // The field expected next, matched in place (no scan for the key's end).
            let found = match self.fields.get(guess) {
                Some((name, _)) if plain_key(name) && p.key_is(name) => Some(guess),
                _ => {
                    let key = p.string()?;
                    self.find(&key, guess)
                }
            };
            p.ws();
            p.expect(b':', "':' after a key")?;
            p.ws();
            match found.and_then(|i| self.fields[i].1.as_ref().map(|t| (i, t))) {
                Some((i, t)) => {
                    let v = value(p, t)?;
                    put(i, v);
                    guess = i + 1;
                }
                None => p.skip_value(0)?,
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            p.expect(b'}', "',' or '}' in an object")?;
            return Ok(());
        }
    }

    /// The field named `key`, looked for at `guess` first (fields usually come in order).
    fn find(&self, key: &str, guess: usize) -> Option<usize> {
        if self.fields.get(guess).is_some_and(|(n, _)| n == key) {
            return Some(guess);
        }
        self.fields.iter().position(|(n, _)| n == key)
    }
}

/// The value at `p` as `plan` reads it.
pub(super) fn value(p: &mut Parser<'_>, plan: &Plan) -> Result<Value, DecodeError> {
    let start = p.at;
    let scalar = match plan {
        Plan::Scalar(t) => Some(t),
        _ => None,
    };
    let not_this = |p: &Parser<'_>| not_a(&p.s[start..p.at], &plan.data_type());
    match p.peek() {
        Some(b'n') => {
            p.word("null")?;
            Ok(Value::Null)
        }
        Some(b't') | Some(b'f') => {
            let b = if p.peek() == Some(b't') {
                p.word("true")?;
                true
            } else {
                p.word("false")?;
                false
            };
            match scalar {
                Some(DataType::Boolean) => Ok(Value::Bool(b)),
                _ => Err(not_this(p)),
            }
        }
        Some(b'"') => {
            let s = p.string()?;
            match scalar {
                Some(DataType::String) => Ok(Value::str(&s)),
                Some(t) => Ok(functions::parse_text(&s, t)?),
                None => Err(not_this(p)),
            }
        }
        Some(b'{') => {
            let Plan::Row(reader) = plan else {
                p.skip_value(0)?;
                return Err(not_this(p));
            };
            let mut values = vec![Value::Null; reader.fields.len()];
            reader.object(p, |i, v| values[i] = v)?;
            Ok(Value::Row(values.into()))
        }
        Some(b'[') => {
            let Plan::Array(et) = plan else {
                p.skip_value(0)?;
                return Err(not_this(p));
            };
            p.at += 1;
            let mut items = Vec::new();
            p.ws();
            if !p.eat(b']') {
                loop {
                    p.ws();
                    items.push(value(p, et)?);
                    p.ws();
                    if p.eat(b',') {
                        continue;
                    }
                    p.expect(b']', "',' or ']' in an array")?;
                    break;
                }
            }
            Ok(Value::Array(items.into()))
        }
        Some(b'-' | b'0'..=b'9') => {
            let (text, integral) = p.number()?;
            match scalar {
                Some(t) => number(text, integral, t),
                None => Err(not_this(p)),
            }
        }
        _ => Err(p.bad("a value").into()),
    }
}

/// A JSON number's `text` as type `t`.
fn number(text: &str, integral: bool, t: &DataType) -> Result<Value, DecodeError> {
    match t {
        t if t.is_integer() => match text.parse::<i64>() {
            Ok(v) if integral && functions::integer_fits(v, t) => Ok(Value::Int(v)),
            _ => Err(not_a(text, t)),
        },
        DataType::Double => text
            .parse::<f64>()
            .map(Value::Double)
            .map_err(|_| not_a(text, t)),
        DataType::Float => text
            .parse::<f32>()
            .map(|f| Value::Double(f64::from(f)))
            .map_err(|_| not_a(text, t)),
        t => Ok(functions::parse_text(text, t)?),
    }
}

/// Whether `name` is written in JSON as itself between quotes (nothing to escape).
pub(super) fn plain_key(name: &str) -> bool {
    !name.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20)
}

fn not_a(text: &str, t: &DataType) -> DecodeError {
    DecodeError::NotA {
        text: text.chars().take(100).collect(),
        data_type: t.clone(),
    }
}

/// The first byte of `b` that ends a string's plain run: a quote, a backslash or a control
/// character; eight bytes at a time (each test flags exactly the first such byte of a word).
fn special(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let words = b.chunks_exact(8);
    let tail = words.remainder().len();
    for (i, w) in words.enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let x = u64::from_le_bytes(word);
        let found = (zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let from = b.len() - tail;
    b[from..]
        .iter()
        .position(|c| *c == b'"' || *c == b'\\' || *c < 0x20)
        .map(|i| from + i)
}

/// How deep skipped arrays and objects may nest (a line cannot exhaust the stack).
const MAX_DEPTH: usize = 128;

pub(super) struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `line`.
    pub(super) fn new(line: &'a str) -> Self {
        Parser {
            s: line,
            b: line.as_bytes(),
            at: 0,
        }
    }

    /// Whether the whole line has been read.
    pub(super) fn at_end(&self) -> bool {
        self.at == self.b.len()
    }

    pub(super) fn bad(&self, what: &'static str) -> Malformed {
        Malformed { at: self.at, what }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    #[inline]
    pub(super) fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    #[inline]
    pub(super) fn eat(&mut self, c: u8) -> bool {
        let yes = self.peek() == Some(c);
        self.at += usize::from(yes);
        yes
    }

    pub(super) fn expect(&mut self, c: u8, what: &'static str) -> Result<(), Malformed> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.bad(what))
        }
    }

    /// Whether the string at the cursor is exactly `name` (then passed over).
    #[inline]
    pub(super) fn key_is(&mut self, name: &str) -> bool {
        let end = self.at + 1 + name.len();
        let yes = self.b.get(self.at) == Some(&b'"')
            && self.b.get(self.at + 1..end) == Some(name.as_bytes())
            && self.b.get(end) == Some(&b'"');
        if yes {
            self.at = end + 1;
        }
        yes
    }

    fn word(&mut self, w: &'static str) -> Result<(), Malformed> {
        if self.b[self.at..].starts_with(w.as_bytes()) {
            self.at += w.len();
            Ok(())
        } else {
            Err(self.bad("a value (null, true, false, a number, a string)"))
        }
    }

    /// A number's text, and whether it is integral (no fraction, no exponent).
    fn number(&mut self) -> Result<(&'a str, bool), Malformed> {
        let start = self.at;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let from = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at > from
        };
        if !digits(self) {
            return Err(self.bad("a digit"));
        }
        let mut integral = true;
        if self.eat(b'.') {
            integral = false;
            if !digits(self) {
                return Err(self.bad("a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integral = false;
            self.at += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !digits(self) {
                return Err(self.bad("a digit in an exponent"));
            }
        }
        Ok((&self.s[start..self.at], integral))
    }

    /// A string's contents, unescaped (borrowed when it has no escapes).
    pub(super) fn string(&mut self) -> Result<std::borrow::Cow<'a, str>, Malformed> {
        self.expect(b'"', "'\"' (a string)")?;
        let start = self.at;
        // The common string has no escape: find its end at once.
        let Some(len) = special(&self.b[start..]) else {
            self.at = self.b.len();
            return Err(self.bad("the end of a string"));
        };
        self.at = start + len;
        if self.peek().is_some_and(|c| c < 0x20) {
            return Err(self.bad("a control character in a string"));
        }
        if self.eat(b'"') {
            return Ok(std::borrow::Cow::Borrowed(&self.s[start..self.at - 1]));
        }
        let mut out = String::from(&self.s[start..self.at]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(std::borrow::Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            out.push(self.unicode()?);
                            continue;
                        }
                        _ => {
                            return Err(
                                self.bad("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
                            )
                        }
                    };
                    self.at += 1;
                    out.push(c);
                }
                Some(c) if c < 0x20 => return Err(self.bad("a control character in a string")),
                Some(_) => {
                    // Copy up to the next quote or escape at once (UTF-8 stays whole: both
                    // are ASCII).
                    let from = self.at;
                    while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                        self.at += 1;
                    }
                    out.push_str(&self.s[from..self.at]);
                }
                None => return Err(self.bad("the end of a string")),
            }
        }
    }

    /// The character of `XXXX` after `\u` (and a low surrogate's `\uXXXX` after a high one).
    fn unicode(&mut self) -> Result<char, Malformed> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return Err(self.bad("a low surrogate after a high one"));
            }
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.bad("a low surrogate after a high one"));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.bad("a Unicode scalar value"))
    }

    fn hex4(&mut self) -> Result<u32, Malformed> {
        let digits = self
            .s
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.bad("four hex digits"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.bad("four hex digits"))?;
        if digits.starts_with('+') {
            return Err(self.bad("four hex digits"));
        }
        self.at += 4;
        Ok(v)
    }

    /// Passes over one value, checking its syntax.
    pub(super) fn skip_value(&mut self, depth: usize) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return Err(self.bad("nesting deeper than 128"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'n') => self.word("null"),
            Some(b't') => self.word("true"),
            Some(b'f') => self.word("false"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            Some(open @ (b'{' | b'[')) => {
                self.at += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                self.ws();
                if self.eat(close) {
                    return Ok(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.expect(b':', "':' after a key")?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    return self.expect(close, "',' or the end of an array or object");
                }
            }
            _ => Err(self.bad("a value")),
        }
    }
}

#[cfg(test)]
#[path = "json_decode_tests.rs"]
mod tests;
