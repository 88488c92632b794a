//! The `json` format's reader for a [`FlatScan`](super::FlatScan) of a `filesystem` table:
//! one pass over a line straight into the scan's flat row, each field read where the row
//! wants it (`bid.price` from inside the `bid` object), so no `ROW` is made and the fields
//! nobody reads are only checked. A pushed filter `column = constant` on a top-level integer
//! column is applied while reading: a line it drops is only checked past that field, not
//! decoded.

use super::format::DecodeError;
use super::json_decode::{plain_key, value, Parser, Plan};
use super::{FieldSlot, RowLayout};
use crate::sql::expr::Expr;
use crate::sql::types::{DataType, Field, Value};

/// What becomes of one field of an object.
enum Target {
    /// Checked, not decoded.
    Skip,
    /// Decoded into the row at this position.
    Slot(usize, Plan),
    /// An object (of this `ROW` type) whose fields go into the row.
    Nested(FlatReader, DataType),
}

/// Reads objects into a flat row.
pub(super) struct FlatReader {
    fields: Vec<(String, Target)>,
}

/// A line's filter: a top-level integer field (of the first 64) and the value it must hold.
struct Keep {
    field: usize,
    plan: Plan,
    equals: i64,
}

/// The most top-level columns a filter may be applied on while reading: their set is a
/// 64-bit mask.
const KEEP_COLUMNS: usize = 64;

/// Reads a table's lines into a flat row, with its pushed filters.
pub(super) struct FlatLineReader {
    top: FlatReader,
    keeps: Vec<Keep>,
    /// The fields of `keeps`, a bit each.
    need: u64,
    /// The row's width.
    width: usize,
}

/// The row a line is read into: made, `width` NULLs, at its first value, so that a line the
/// filter drops before any value is read costs no allocation.
struct Out<'r> {
    values: &'r mut Vec<Value>,
    width: usize,
}

impl Out<'_> {
    fn put(&mut self, pos: usize, v: Value) {
        if self.values.is_empty() {
            self.values.resize_with(self.width, || Value::Null);
        }
        if let Some(slot) = self.values.get_mut(pos) {
            *slot = v;
        }
    }
}

impl FlatReader {
    /// The reader of objects of `fields` for the row's slots: `whole` the fields read whole
    /// (index, position), `nested` the deeper ones (path into `fields`, position).
    fn new(fields: &[Field], whole: &[(usize, usize)], nested: &[(&[usize], usize)]) -> Self {
        let targets = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let target = if let Some((_, pos)) = whole.iter().find(|(c, _)| *c == i) {
                    Target::Slot(*pos, Plan::of(&f.data_type))
                } else {
                    let inner: Vec<(&[usize], usize)> = nested
                        .iter()
                        .filter(|(path, _)| path.first() == Some(&i))
                        .map(|(path, pos)| (&path[1..], *pos))
                        .collect();
                    match (&f.data_type, inner.is_empty()) {
                        (_, true) => Target::Skip,
                        (DataType::Row(inner_fields), false) => {
                            let whole: Vec<(usize, usize)> = inner
                                .iter()
                                .filter(|(p, _)| p.len() == 1)
                                .map(|(p, pos)| (p[0], *pos))
                                .collect();
                            let deeper: Vec<(&[usize], usize)> =
                                inner.into_iter().filter(|(p, _)| p.len() > 1).collect();
                            Target::Nested(
                                FlatReader::new(inner_fields, &whole, &deeper),
                                f.data_type.clone(),
                            )
                        }
                        // A path into a field that is no ROW reads nothing.
                        (_, false) => Target::Skip,
                    }
                };
                (f.name.clone(), target)
            })
            .collect();
        Self { fields: targets }
    }

    /// The field named by the key at `p` (tried at `guess` first: fields usually come in
    /// order), the cursor after the key.
    fn key(&self, p: &mut Parser<'_>, guess: usize) -> Result<Option<usize>, DecodeError> {
        if let Some((name, _)) = self.fields.get(guess) {
            if plain_key(name) && p.key_is(name) {
                return Ok(Some(guess));
            }
        }
        let key = p.string()?;
        Ok(self.fields.iter().position(|(n, _)| *n == key))
    }

    /// Reads the object at `p` into `row`. With `keeps`, stops decoding where a field of
    /// theirs holds another value, and answers `false` then and where one is missing or NULL
    /// (`need`: their fields' bits).
    fn object(
        &self,
        p: &mut Parser<'_>,
        row: &mut Out<'_>,
        keeps: &[Keep],
        need: u64,
    ) -> Result<bool, DecodeError> {
        p.expect(b'{', "'{' (a JSON object)")?;
        p.ws();
        let mut met = 0u64;
        if p.eat(b'}') {
            return Ok(need == 0);
        }
        let mut guess = 0;
        loop {
            p.ws();
            let found = self.key(p, guess)?;
            p.ws();
            p.expect(b':', "':' after a key")?;
            p.ws();
            match found.and_then(|i| self.fields.get(i).map(|f| (i, &f.1))) {
                Some((i, target)) => {
                    guess = i + 1;
                    if let Some(k) = keeps.iter().find(|k| k.field == i) {
                        let v = value(p, &k.plan)?;
                        if keeps
                            .iter()
                            .any(|k| k.field == i && v != Value::Int(k.equals))
                        {
                            skip_rest(p)?;
                            return Ok(false);
                        }
                        met |= 1 << i;
                        if let Target::Slot(pos, _) = target {
                            row.put(*pos, v);
                        }
                    } else {
                        self.field(p, target, row)?;
                    }
                }
                None => p.skip_value(0)?,
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            p.expect(b'}', "',' or '}' in an object")?;
            return Ok(met == need);
        }
    }

    fn field(
        &self,
        p: &mut Parser<'_>,
        target: &Target,
        row: &mut Out<'_>,
    ) -> Result<(), DecodeError> {
        match target {
            Target::Skip => p.skip_value(0)?,
            Target::Slot(pos, plan) => {
                row.put(*pos, value(p, plan)?);
            }
            Target::Nested(inner, t) => match p.peek() {
                // A NULL ROW: its fields are NULL.
                Some(b'n') => p.skip_value(0)?,
                Some(b'{') => {
                    inner.object(p, row, &[], 0)?;
                }
                // Not an object: what the whole-ROW reader says of it.
                _ => {
                    value(p, &Plan::of(t))?;
                }
            },
        }
        Ok(())
    }
}

/// Passes over the rest of the object whose field the cursor is after, checking it.
fn skip_rest(p: &mut Parser<'_>) -> Result<(), DecodeError> {
    loop {
        p.ws();
        if p.eat(b'}') {
            return Ok(());
        }
        p.expect(b',', "',' or '}' in an object")?;
        p.ws();
        p.string()?;
        p.ws();
        p.expect(b':', "':' after a key")?;
        p.ws();
        p.skip_value(1)?;
    }
}

impl FlatLineReader {
    /// The reader of `fields` (the table's physical columns) into `layout`'s row, applying
    /// its filters that [`applies`] takes.
    pub(super) fn new(fields: &[Field], layout: &RowLayout) -> Self {
        let whole: Vec<(usize, usize)> = layout
            .physical
            .iter()
            .enumerate()
            .filter(|(_, (_, needed))| *needed)
            .map(|(c, (pos, _))| (c, *pos))
            .collect();
        let paths: Vec<Vec<usize>> = layout
            .fields
            .iter()
            .map(|FieldSlot { column, path, .. }| {
                std::iter::once(*column)
                    .chain(path.iter().copied())
                    .collect()
            })
            .collect();
        let nested: Vec<(&[usize], usize)> = paths
            .iter()
            .zip(&layout.fields)
            .map(|(path, f)| (path.as_slice(), f.pos))
            .collect();
        let keeps: Vec<Keep> = layout
            .filters
            .iter()
            .filter_map(|f| applies(fields, f))
            .collect();
        Self {
            top: FlatReader::new(fields, &whole, &nested),
            need: keeps.iter().fold(0, |m, k| m | 1 << k.field),
            keeps,
            width: layout.width,
        }
    }

    /// The row `line` reads into, `None` where the filter drops it.
    pub(super) fn read(&self, line: &str) -> Result<Option<Vec<Value>>, DecodeError> {
        let mut p = Parser::new(line);
        let mut values = Vec::new();
        let mut row = Out {
            values: &mut values,
            width: self.width,
        };
        p.ws();
        let kept = self.top.object(&mut p, &mut row, &self.keeps, self.need)?;
        p.ws();
        if !p.at_end() {
            return Err(p.bad("trailing characters after the object").into());
        }
        if !kept {
            return Ok(None);
        }
        // A kept line with no field read: all NULL.
        values.resize_with(self.width, || Value::Null);
        Ok(Some(values))
    }
}

/// The filter a [`FlatLineReader`] applies for conjunct `filter` (over the physical columns
/// by ordinal): `column = constant` on a top-level integer column, one of the first 64.
fn applies(fields: &[Field], filter: &Expr) -> Option<Keep> {
    let (index, equals) = filter.int_equality()?;
    let f = fields.get(index).filter(|_| index < KEEP_COLUMNS)?;
    f.data_type.is_integer().then(|| Keep {
        field: index,
        plan: Plan::Scalar(f.data_type.clone()),
        equals,
    })
}

/// Whether the flat reader of a table with physical columns `fields` drops exactly the rows
/// conjunct `filter` drops.
pub(super) fn filters_exactly(fields: &[Field], filter: &Expr) -> bool {
    applies(fields, filter).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::expr::CmpOp;
    use std::sync::Arc;

    fn fields() -> Vec<Field> {
        let row = |fs: &[(&str, DataType)]| {
            DataType::Row(fs.iter().map(|(n, t)| Field::new(*n, t.clone())).collect())
        };
        vec![
            Field::new("event_type", DataType::Int),
            Field::new(
                "person",
                row(&[("id", DataType::BigInt), ("name", DataType::String)]),
            ),
            Field::new(
                "bid",
                row(&[
                    ("auction", DataType::BigInt),
                    ("price", DataType::BigInt),
                    ("extra", DataType::String),
                ]),
            ),
        ]
    }

    /// `bid.price`, `bid.extra`, `person.name` at 0..3, where `event_type = 2`.
    fn reader() -> FlatLineReader {
        let filter = Expr::Compare(
            CmpOp::Eq,
            Box::new(Expr::column(0, "event_type", DataType::Int)),
            Box::new(Expr::Literal(Value::Int(2), DataType::Int)),
        );
        assert!(filters_exactly(&fields(), &filter));
        let layout = RowLayout {
            width: 3,
            physical: vec![(0, false); 3],
            fields: [(2, 1), (2, 2), (1, 1)]
                .into_iter()
                .enumerate()
                .map(|(pos, (column, f))| FieldSlot {
                    column,
                    path: vec![f],
                    pos,
                })
                .collect(),
            filters: vec![filter],
            finish: Arc::new(|_: &mut Vec<Value>| Ok(())),
        };
        FlatLineReader::new(&fields(), &layout)
    }

    fn read(line: &str) -> Result<Option<Vec<Value>>, DecodeError> {
        reader().read(line)
    }

    #[test]
    fn fields_of_objects_go_straight_into_the_row() {
        let line =
            r#"{"event_type":2,"person":null,"bid":{"auction":7,"price":120,"extra":"a\"b"}}"#;
        assert_eq!(
            read(line).ok().flatten(),
            Some(vec![Value::Int(120), Value::str("a\"b"), Value::Null])
        );
        // Any order, unknown keys skipped, a missing field NULL.
        let line = r#" {"bid": {"x": [1, {"y": null}], "price": 5}, "z": "q", "event_type": 2} "#;
        assert_eq!(
            read(line).ok().flatten(),
            Some(vec![Value::Int(5), Value::Null, Value::Null])
        );
    }

    #[test]
    fn the_filter_drops_lines_as_it_reads_them_and_still_checks_them() {
        let person = r#"{"event_type":0,"person":{"id":1,"name":"Kate"},"bid":null}"#;
        assert_eq!(read(person).ok(), Some(None));
        // Missing or NULL: NULL = 2 is not true.
        assert_eq!(read(r#"{"bid":{"price":1}}"#).ok(), Some(None));
        assert_eq!(
            read(r#"{"event_type":null,"bid":{"price":1}}"#).ok(),
            Some(None)
        );
        // A dropped line that is not JSON past the filter's field is still an error.
        assert!(read(r#"{"event_type":0,"person":{"id":1,}"#).is_err());
        assert!(read(r#"{"event_type":0} trailing"#).is_err());
        // A value that is no INT, or a ROW that is no object, is an error.
        assert!(read(r#"{"event_type":"two"}"#).is_err());
        assert!(read(r#"{"event_type":2,"bid":5}"#).is_err());
    }

    #[test]
    fn only_integer_equalities_on_top_level_columns_are_applied() {
        let on = |index: usize, t: DataType, v: Value| {
            Expr::Compare(
                CmpOp::Eq,
                Box::new(Expr::Literal(v, t.clone())),
                Box::new(Expr::column(index, "c", t)),
            )
        };
        assert!(filters_exactly(
            &fields(),
            &on(0, DataType::Int, Value::Int(1))
        ));
        assert!(!filters_exactly(
            &fields(),
            &on(1, DataType::String, Value::str("x"))
        ));
        let less = Expr::Compare(
            CmpOp::Lt,
            Box::new(Expr::column(0, "event_type", DataType::Int)),
            Box::new(Expr::Literal(Value::Int(2), DataType::Int)),
        );
        assert!(!filters_exactly(&fields(), &less));
    }
}
