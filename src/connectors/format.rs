//! Row formats of the filesystem connector, with Flink's names and options: `csv`
//! (`csv.field-delimiter`, `csv.quote-character`, `csv.array-element-delimiter`,
//! `csv.ignore-parse-errors`), `json` (one object a line, fields by name) and `raw` (the whole
//! line as the table's one `STRING` column).
//!
//! ## Text of values
//! An empty CSV field is `NULL` for every type but `STRING`; values are written as Flink
//! casts them to `STRING` (timestamps as `yyyy-MM-dd HH:mm:ss.SSS`, UTC); a field holding the
//! delimiter, a quote or a line break is quoted, its quotes doubled. A `ROW` or an `ARRAY`
//! is one field, its elements joined by `csv.array-element-delimiter` (`;`), as Flink's `csv`
//! format writes and reads them (one level: an element is not itself a `ROW` or `ARRAY`).

use std::sync::Arc;

use crate::connectors::json_decode::ObjectReader;
use crate::connectors::json_flat::FlatLineReader;
use crate::connectors::RowLayout;
use crate::sql::catalog::TableDef;
use crate::sql::functions;
use crate::sql::types::{DataType, Row, Schema, Value};
use crate::sql::SqlError;

/// Why a line does not decode into a row (the source fails the job with it, or skips the line
/// under `*.ignore-parse-errors`).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A field's text is not a value of its column's type.
    #[error("'{text}' is not a {data_type}")]
    NotA {
        /// The field's text.
        text: String,
        /// The column's type.
        data_type: DataType,
    },
    /// A CSV line with the wrong number of fields.
    #[error("expected {expected} fields, got {got}")]
    FieldCount {
        /// The table's physical columns.
        expected: usize,
        /// The line's fields.
        got: usize,
    },
    /// A line that is not a JSON object.
    #[error(transparent)]
    Json(#[from] crate::connectors::json_decode::Malformed),
    /// A value that does not read as its type, or a computed column that fails.
    #[error(transparent)]
    Eval(#[from] crate::sql::functions::EvalError),
}

/// Turns one field's text into a value of its column's type: a plain enum, so the per-field
/// call is a match the compiler inlines, not a call through a pointer.
enum FieldDecoder {
    /// An integer type with its range.
    Int {
        lo: i64,
        hi: i64,
        data_type: DataType,
    },
    /// `STRING`: the text itself.
    Str,
    /// A CSV field holding a `ROW`'s fields, joined by `delimiter`.
    Row {
        fields: Vec<FieldDecoder>,
        delimiter: Arc<str>,
        data_type: DataType,
    },
    /// A CSV field holding an `ARRAY`'s elements, joined by `delimiter`.
    Array {
        element: Box<FieldDecoder>,
        delimiter: Arc<str>,
    },
    /// Any other type, through the text parser of casts.
    Other(DataType),
}

impl FieldDecoder {
    /// The decoder of a field of type `t`, a `ROW` or `ARRAY` split by `elements`.
    fn of(t: &DataType, elements: &Arc<str>) -> Self {
        let flat = |t: &DataType| FieldDecoder::of(t, &Arc::from(""));
        let (lo, hi) = match t {
            DataType::TinyInt => (i64::from(i8::MIN), i64::from(i8::MAX)),
            DataType::SmallInt => (i64::from(i16::MIN), i64::from(i16::MAX)),
            DataType::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
            DataType::BigInt => (i64::MIN, i64::MAX),
            DataType::String => return FieldDecoder::Str,
            DataType::Row(fields) if !elements.is_empty() => {
                return FieldDecoder::Row {
                    fields: fields.iter().map(|f| flat(&f.data_type)).collect(),
                    delimiter: elements.clone(),
                    data_type: t.clone(),
                }
            }
            DataType::Array(e) if !elements.is_empty() => {
                return FieldDecoder::Array {
                    element: Box::new(flat(e)),
                    delimiter: elements.clone(),
                }
            }
            other => return FieldDecoder::Other(other.clone()),
        };
        FieldDecoder::Int {
            lo,
            hi,
            data_type: t.clone(),
        }
    }

    /// Decodes `s` into `slot`: written in place, the value is not moved through the stack.
    #[inline]
    fn decode_into(&self, s: &str, slot: &mut Value) -> Result<(), DecodeError> {
        match self {
            FieldDecoder::Int { lo, hi, data_type } => {
                // Untrimmed first: the common field has no spaces around it.
                match s.parse::<i64>().or_else(|_| s.trim().parse::<i64>()) {
                    Ok(v) if (*lo..=*hi).contains(&v) => *slot = Value::Int(v),
                    _ => {
                        return Err(DecodeError::NotA {
                            text: s.to_string(),
                            data_type: data_type.clone(),
                        })
                    }
                }
            }
            FieldDecoder::Str => *slot = Value::str(s),
            FieldDecoder::Row {
                fields,
                delimiter,
                data_type,
            } => {
                let mut values = Vec::with_capacity(fields.len());
                let mut parts = s.split(&**delimiter);
                for (text, dec) in parts.by_ref().zip(fields) {
                    let mut v = Value::Null;
                    dec.decode_element(text, &mut v)?;
                    values.push(v);
                }
                if values.len() != fields.len() || parts.next().is_some() {
                    return Err(DecodeError::NotA {
                        text: s.to_string(),
                        data_type: data_type.clone(),
                    });
                }
                *slot = Value::Row(values.into());
            }
            FieldDecoder::Array { element, delimiter } => {
                let mut values = Vec::new();
                for text in s.split(&**delimiter) {
                    let mut v = Value::Null;
                    element.decode_element(text, &mut v)?;
                    values.push(v);
                }
                *slot = Value::Array(values.into());
            }
            FieldDecoder::Other(t) => *slot = functions::parse_text(s.trim(), t)?,
        }
        Ok(())
    }

    /// Decodes a `ROW`'s or `ARRAY`'s element: empty is `NULL` but for a `STRING`.
    fn decode_element(&self, s: &str, slot: &mut Value) -> Result<(), DecodeError> {
        if s.is_empty() && !matches!(self, FieldDecoder::Str) {
            return Ok(());
        }
        self.decode_into(s, slot)
    }
}

/// Decodes one line into a row of the table's layout.
pub type LineDecoder = Arc<dyn Fn(&str) -> Result<Row, DecodeError> + Send + Sync>;

/// The decoder of `format` for `table`.
pub fn decoder(table: &TableDef, layout: &RowLayout) -> Result<LineDecoder, SqlError> {
    let schema = table.physical_schema();
    let format = crate::connectors::required(table, "format")?;
    let bad = |message: String| SqlError::Connector {
        table: table.name.clone(),
        message,
    };
    let elements: Arc<str> = match format {
        "csv" => element_delimiter(table).into(),
        _ => "".into(),
    };
    if format == "csv" && elements.is_empty() {
        return Err(bad(
            "the option 'csv.array-element-delimiter' must not be empty".into(),
        ));
    }
    // Per physical column: its position in the row, its decoder unless pruned, and whether an
    // empty field is an empty string rather than NULL.
    let cols: Vec<(usize, Option<FieldDecoder>, bool)> = layout
        .physical
        .iter()
        .zip(&schema.fields)
        .map(|((pos, needed), f)| {
            (
                *pos,
                needed.then(|| FieldDecoder::of(&f.data_type, &elements)),
                f.data_type == DataType::String,
            )
        })
        .collect();
    let (width, finish) = (layout.width, layout.finish.clone());
    match format {
        "csv" => {
            let delimiter = single_char(table, "csv.field-delimiter", ',')?;
            let quote = single_char(table, "csv.quote-character", '"')?;
            Ok(Arc::new(move |line: &str| {
                let mut values = Vec::with_capacity(width);
                values.resize_with(width, || Value::Null);
                let mut n = 0;
                let mut failure = None;
                split_csv(line, delimiter, quote, |i, text| {
                    n = i + 1;
                    if let Some((pos, Some(dec), string)) = cols.get(i) {
                        if failure.is_none() {
                            if text.is_empty() && !string {
                                return;
                            }
                            if let Some(slot) = values.get_mut(*pos) {
                                if let Err(e) = dec.decode_into(text, slot) {
                                    failure = Some(e);
                                }
                            }
                        }
                    }
                });
                if let Some(e) = failure {
                    return Err(e);
                }
                if n != cols.len() {
                    return Err(DecodeError::FieldCount {
                        expected: cols.len(),
                        got: n,
                    });
                }
                finish(&mut values)?;
                Ok(Row::insert(values))
            }))
        }
        "json" => {
            let reader = ObjectReader::new(
                schema
                    .fields
                    .iter()
                    .zip(&cols)
                    .map(|(f, (_, dec, _))| {
                        (f.name.clone(), dec.as_ref().map(|_| f.data_type.clone()))
                    })
                    .collect(),
            );
            let positions: Vec<usize> = cols.iter().map(|(pos, _, _)| *pos).collect();
            Ok(Arc::new(move |line: &str| {
                let mut values = vec![Value::Null; width];
                reader.read(line, |i, v| {
                    if let Some(slot) = positions.get(i).and_then(|p| values.get_mut(*p)) {
                        *slot = v;
                    }
                })?;
                finish(&mut values)?;
                Ok(Row::insert(values))
            }))
        }
        "raw" => {
            if schema.len() != 1 || schema.fields[0].data_type != DataType::String {
                return Err(bad(format!(
                    "the 'raw' format needs exactly one STRING physical column, the table has {}",
                    schema.names()
                )));
            }
            let pos = cols.first().map_or(0, |(p, _, _)| *p);
            Ok(Arc::new(move |line: &str| {
                let mut values = vec![Value::Null; width];
                values[pos] = Value::str(line);
                finish(&mut values)?;
                Ok(Row::insert(values))
            }))
        }
        other => Err(bad(format!(
            "unknown format '{other}' (formats: csv, json, raw)"
        ))),
    }
}

/// Decodes one line into a flat row, `None` where a pushed filter drops it.
pub type FlatDecoder = Arc<dyn Fn(&str) -> Result<Option<Row>, DecodeError> + Send + Sync>;

/// The `json` decoder of `table`'s lines into `layout`, a flat row (see
/// [`super::json_flat`]).
pub fn flat_json_decoder(table: &TableDef, layout: &RowLayout) -> FlatDecoder {
    let reader = FlatLineReader::new(&table.physical_schema().fields, layout);
    let finish = layout.finish.clone();
    Arc::new(move |line: &str| {
        let Some(mut values) = reader.read(line)? else {
            return Ok(None);
        };
        finish(&mut values)?;
        Ok(Some(Row::insert(values)))
    })
}

/// What joins a `ROW`'s or `ARRAY`'s elements in a CSV field (Flink's
/// `csv.array-element-delimiter`).
fn element_delimiter(table: &TableDef) -> &str {
    table.option("csv.array-element-delimiter").unwrap_or(";")
}

fn single_char(table: &TableDef, key: &str, default: char) -> Result<char, SqlError> {
    match table.option(key) {
        None => Ok(default),
        Some(v) => {
            let v = if v == "\\t" { "\t" } else { v };
            let mut cs = v.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(SqlError::Connector {
                    table: table.name.clone(),
                    message: format!("the option '{key}' must be one character, got '{v}'"),
                }),
            }
        }
    }
}

/// Calls `f(index, text)` for each field of a CSV line (quotes removed, doubled quotes
/// undoubled).
fn split_csv(line: &str, delimiter: char, quote: char, mut f: impl FnMut(usize, &str)) {
    let (mut start, mut i) = (0, 0);
    if delimiter.is_ascii() && quote.is_ascii() {
        // One pass over the bytes while no field starts with a quote (a quote can only open a
        // field); an ASCII delimiter never falls inside a multi-byte character.
        let (d, q, bytes) = (delimiter as u8, quote as u8, line.as_bytes());
        loop {
            if bytes.get(start) == Some(&q) {
                break;
            }
            match bytes[start..].iter().position(|&b| b == d) {
                Some(len) => {
                    f(i, &line[start..start + len]);
                    start += len + 1;
                    i += 1;
                }
                None => {
                    f(i, &line[start..]);
                    return;
                }
            }
        }
    }
    split_quoted(&line[start..], i, delimiter, quote, f);
}

/// The fields of `rest`, numbered from `i`, where one may be quoted.
fn split_quoted(
    rest: &str,
    mut i: usize,
    delimiter: char,
    quote: char,
    mut f: impl FnMut(usize, &str),
) {
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == quote {
                if chars.peek() == Some(&quote) {
                    field.push(quote);
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == quote {
            quoted = true;
        } else if c == delimiter {
            f(i, &field);
            field.clear();
            i += 1;
        } else {
            field.push(c);
        }
    }
    f(i, &field);
}

/// Encodes a row as one line.
pub type LineEncoder = Arc<dyn Fn(&Row) -> String + Send + Sync>;

/// The encoder of `format` for rows of `schema`.
pub fn encoder(table: &TableDef, schema: &Schema) -> Result<LineEncoder, SqlError> {
    let types: Vec<DataType> = schema.fields.iter().map(|f| f.data_type.clone()).collect();
    match crate::connectors::required(table, "format")? {
        "csv" => {
            let delimiter = single_char(table, "csv.field-delimiter", ',')?;
            let quote = single_char(table, "csv.quote-character", '"')?;
            let elements = element_delimiter(table).to_string();
            // Digits and '-' never need quotes unless the delimiter or quote is one of them.
            let plain_numbers = ![delimiter, quote]
                .iter()
                .any(|c| c.is_ascii_digit() || *c == '-');
            Ok(Arc::new(move |row: &Row| {
                let mut line = String::with_capacity(64);
                for (i, (v, t)) in row.values.iter().zip(&types).enumerate() {
                    if i > 0 {
                        line.push(delimiter);
                    }
                    match v {
                        Value::Null => {}
                        Value::Int(n) if plain_numbers => {
                            use std::fmt::Write;
                            let _ = write!(line, "{n}");
                        }
                        Value::Str(s) => push_csv_field(&mut line, s, delimiter, quote),
                        Value::Row(vs) | Value::Array(vs) => {
                            let text = joined_elements(vs, t, &elements);
                            push_csv_field(&mut line, &text, delimiter, quote);
                        }
                        v => push_csv_field(&mut line, &functions::to_text(v, t), delimiter, quote),
                    }
                }
                line
            }))
        }
        "json" => {
            let names = unique_names(schema.fields.iter().map(|f| f.name.as_str()));
            Ok(Arc::new(move |row: &Row| {
                let mut obj = serde_json::Map::new();
                for ((v, t), n) in row.values.iter().zip(&types).zip(&names) {
                    obj.insert(n.clone(), json_of(v, t));
                }
                serde_json::Value::Object(obj).to_string()
            }))
        }
        other => Err(SqlError::Connector {
            table: table.name.clone(),
            message: format!("unknown sink format '{other}' (formats: csv, json)"),
        }),
    }
}

/// Column names as keys of one JSON object: a name already taken gets the first free suffix
/// `0`, `1`, … (Flink's names for a query's repeated columns: `dateTime`, `dateTime0`), so no
/// column's value is lost.
pub fn unique_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    let mut out = Vec::new();
    for name in names {
        let mut unique = name.to_string();
        let mut i = 0;
        while !taken.insert(unique.to_lowercase()) {
            unique = format!("{name}{i}");
            i += 1;
        }
        out.push(unique);
    }
    out
}

/// A `ROW`'s or `ARRAY`'s elements as text joined by `delimiter`, a `NULL` empty.
fn joined_elements(values: &[Value], t: &DataType, delimiter: &str) -> String {
    let element_type = |i: usize| match t {
        DataType::Row(fields) => fields.get(i).map(|f| &f.data_type),
        DataType::Array(e) => Some(&**e),
        _ => None,
    };
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(delimiter);
        }
        match v {
            Value::Null => {}
            Value::Str(s) => out.push_str(s),
            // A typed plan gives every element its type; the container's is a fallback.
            v => out.push_str(&functions::to_text(v, element_type(i).unwrap_or(t))),
        }
    }
    out
}

/// Appends `text` as a CSV field: quoted, its quotes doubled, when it holds the delimiter, a
/// quote or a line break.
fn push_csv_field(line: &mut String, text: &str, delimiter: char, quote: char) {
    let quoted = if delimiter.is_ascii() && quote.is_ascii() {
        // A byte search (SIMD): a long field is scanned at memory speed.
        let b = text.as_bytes();
        memchr::memchr3(delimiter as u8, quote as u8, b'\n', b).is_some()
            || memchr::memchr(b'\r', b).is_some()
    } else {
        text.contains([delimiter, quote, '\n', '\r'])
    };
    if quoted {
        line.push(quote);
        for c in text.chars() {
            if c == quote {
                line.push(quote);
            }
            line.push(c);
        }
        line.push(quote);
    } else {
        line.push_str(text);
    }
}

/// A row's values as a JSON array, in column order (what the SQL Gateway returns for a query).
pub fn json_fields(row: &Row, types: &[DataType]) -> String {
    let fields: Vec<serde_json::Value> = row
        .values
        .iter()
        .zip(types)
        .map(|(v, t)| json_of(v, t))
        .collect();
    serde_json::Value::Array(fields).to_string()
}

fn json_of(v: &Value, t: &DataType) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.to_string()),
        other => J::String(functions::to_text(other, t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_csv(line, ',', '"', |i, f| {
            assert_eq!(i, out.len());
            out.push(f.to_string());
        });
        out
    }

    #[test]
    fn repeated_column_names_get_flinks_suffixes() {
        assert_eq!(
            unique_names(["dateTime", "extra", "dateTime", "datetime", "dateTime0"]),
            ["dateTime", "extra", "dateTime0", "datetime1", "dateTime00"]
        );
    }

    #[test]
    fn csv_fields_split_with_and_without_quotes() {
        assert_eq!(fields("1,k7,é✓"), ["1", "k7", "é✓"]);
        assert_eq!(fields(""), [""]);
        assert_eq!(fields("a,,"), ["a", "", ""]);
        // A quoted field after plain ones: the plain ones are not reported twice.
        assert_eq!(
            fields("1,\"a,b\",\"say \"\"hi\"\"\",x"),
            ["1", "a,b", "say \"hi\"", "x"]
        );
        assert_eq!(fields("\"q\""), ["q"]);
        // A quote inside a field (not at its start) is text.
        assert_eq!(fields("ab\"c,d"), ["ab\"c", "d"]);
        let mut tabs = Vec::new();
        split_csv("a\tb c\t'x\ty'", '\t', '\'', |_, f| {
            tabs.push(f.to_string())
        });
        assert_eq!(tabs, ["a", "b c", "x\ty"]);
    }

    #[test]
    fn csv_fields_that_need_quotes_get_them() {
        let mut line = String::new();
        push_csv_field(&mut line, "plain", ',', '"');
        line.push(',');
        push_csv_field(&mut line, "a,\"b\"", ',', '"');
        assert_eq!(line, "plain,\"a,\"\"b\"\"\"");
        assert_eq!(fields(&line), ["plain", "a,\"b\""]);
    }
}
