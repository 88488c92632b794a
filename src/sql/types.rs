//! SQL's data: types ([`DataType`]), values ([`Value`]), rows with their changelog kind
//! ([`Row`], [`RowKind`]) and schemas ([`Schema`], [`Field`]).
//!
//! ## Representation
//! - Every integer type is held as `i64` ([`Value::Int`]) and every approximate number as `f64`
//!   ([`Value::Double`]); the [`DataType`] says which SQL type it is, and casts and arithmetic
//!   narrow where SQL does.
//! - A `DECIMAL(p, s)` is its unscaled value ([`Value::Decimal`]); the scale is the type's.
//! - Timestamps (`TIMESTAMP(3)`, `TIMESTAMP_LTZ(3)`) are milliseconds since the epoch, UTC
//!   ([`Value::Timestamp`]); the session time zone is UTC, as in Flink's oracles. Precision
//!   above 3 is accepted in DDL and held at milliseconds.
//! - Strings are [`Text`] (`SmolStr`): up to 23 bytes inline in the value (no allocation to
//!   decode, clone or drop a short key), longer ones shared, so a clone does not copy them;
//!   a `Text` hashes, orders and serializes as its `str`.
//! - Values hash and compare by their bits (a `DOUBLE` NaN equals itself), so any row can key
//!   state.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The string of a value: inline up to 23 bytes, shared above.
pub use smol_str::SmolStr as Text;

/// What a row is in a changelog (Flink's `RowKind`): an insert, the two halves of an update,
/// or a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum RowKind {
    /// `+I`: a new row.
    #[default]
    Insert,
    /// `-U`: the row an update retracts.
    UpdateBefore,
    /// `+U`: the row an update adds.
    UpdateAfter,
    /// `-D`: a row removed.
    Delete,
}

impl RowKind {
    /// Flink's short form: `+I`, `-U`, `+U`, `-D`.
    pub fn short(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row adds to the result (`+I`, `+U`) rather than retracts from it.
    pub fn is_addition(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// A SQL type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT`.
    TinyInt,
    /// `SMALLINT`.
    SmallInt,
    /// `INT` / `INTEGER`.
    Int,
    /// `BIGINT`.
    BigInt,
    /// `FLOAT` / `REAL`.
    Float,
    /// `DOUBLE`.
    Double,
    /// `DECIMAL(precision, scale)`.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// `STRING`, `VARCHAR(n)`, `CHAR(n)`: all held as strings.
    String,
    /// `DATE`: days since the epoch.
    Date,
    /// `TIMESTAMP(p)`: a wall-clock time (held in milliseconds, UTC).
    Timestamp {
        /// The declared precision (0–9); values are held at milliseconds.
        precision: u8,
    },
    /// `TIMESTAMP_LTZ(p)`: an instant (held in milliseconds since the epoch).
    TimestampLtz {
        /// The declared precision (0–9); values are held at milliseconds.
        precision: u8,
    },
    /// A day-time interval, in milliseconds (`INTERVAL '1' SECOND`).
    Interval,
    /// `ROW<name type, …>`.
    Row(Vec<Field>),
    /// `ARRAY<type>`.
    Array(Box<DataType>),
    /// The type of a bare `NULL` literal, before it meets another type.
    Null,
}

impl DataType {
    /// Whether the type is an exact or approximate number.
    pub fn is_numeric(&self) -> bool {
        self.is_integer()
            || matches!(
                self,
                DataType::Float | DataType::Double | DataType::Decimal { .. }
            )
    }

    /// Whether the type is an integer type.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt
        )
    }

    /// Whether the type is a timestamp (with or without local time zone).
    pub fn is_timestamp(&self) -> bool {
        matches!(
            self,
            DataType::Timestamp { .. } | DataType::TimestampLtz { .. }
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::TinyInt => f.write_str("TINYINT"),
            DataType::SmallInt => f.write_str("SMALLINT"),
            DataType::Int => f.write_str("INT"),
            DataType::BigInt => f.write_str("BIGINT"),
            DataType::Float => f.write_str("FLOAT"),
            DataType::Double => f.write_str("DOUBLE"),
            DataType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            DataType::String => f.write_str("STRING"),
            DataType::Date => f.write_str("DATE"),
            DataType::Timestamp { precision } => write!(f, "TIMESTAMP({precision})"),
            DataType::TimestampLtz { precision } => write!(f, "TIMESTAMP_LTZ({precision})"),
            DataType::Interval => f.write_str("INTERVAL SECOND(3)"),
            DataType::Row(fields) => {
                f.write_str("ROW<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{}` {}", field.name, field.data_type)?;
                }
                f.write_str(">")
            }
            DataType::Array(t) => write!(f, "ARRAY<{t}>"),
            DataType::Null => f.write_str("NULL"),
        }
    }
}

/// Whether a timestamp column is a time attribute, and which (Flink's `*ROWTIME*`,
/// `*PROCTIME*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeAttribute {
    /// Event time: the column a `WATERMARK` is declared for, and what keeps it one.
    Rowtime,
    /// Processing time: `PROCTIME()`.
    Proctime,
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// The column's name, as declared (matched case-insensitively when unquoted).
    pub name: String,
    /// Its type.
    pub data_type: DataType,
    /// Whether it may be `NULL`.
    pub nullable: bool,
    /// Whether it is a time attribute.
    pub time: Option<TimeAttribute>,
}

impl Field {
    /// A nullable column that is not a time attribute.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Self {
            name: name.into(),
            data_type,
            nullable: true,
            time: None,
        }
    }
}

/// The columns of a table or a plan node's output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Schema {
    /// The columns, in order.
    pub fields: Vec<Field>,
}

impl Schema {
    /// A schema of `fields`.
    pub fn new(fields: Vec<Field>) -> Self {
        Self { fields }
    }

    /// How many columns.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The columns' names, comma-separated (for error messages).
    pub fn names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One SQL value.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub enum Value {
    /// `NULL`.
    #[default]
    Null,
    /// A `BOOLEAN`.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// `FLOAT` or `DOUBLE`.
    Double(f64),
    /// A `DECIMAL`'s unscaled value; the scale is its type's.
    Decimal(i128),
    /// A string.
    Str(Text),
    /// A `DATE`: days since the epoch.
    Date(i32),
    /// A timestamp: milliseconds since the epoch (UTC).
    Timestamp(i64),
    /// A day-time interval in milliseconds.
    Interval(i64),
    /// A `ROW`.
    Row(Arc<[Value]>),
    /// An `ARRAY`.
    Array(Arc<[Value]>),
}

impl Value {
    /// Whether the value is `NULL`.
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A string value.
    pub fn str(s: &str) -> Self {
        // Short strings straight inline (the common key), without `SmolStr::new`'s checks.
        if s.len() <= Text::INLINE_CAP {
            Value::Str(Text::new_inline(s))
        } else {
            Value::Str(Text::new(s))
        }
    }

    /// The integer, if it is one.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) | Value::Timestamp(v) | Value::Interval(v) => Some(*v),
            Value::Date(d) => Some(i64::from(*d)),
            _ => None,
        }
    }

    /// The string, if it is one.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if it is one (`NULL` is not).
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn discriminant(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Double(_) => 3,
            Value::Decimal(_) => 4,
            Value::Str(_) => 5,
            Value::Date(_) => 6,
            Value::Timestamp(_) => 7,
            Value::Interval(_) => 8,
            Value::Row(_) => 9,
            Value::Array(_) => 10,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
            (Value::Decimal(a), Value::Decimal(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Date(a), Value::Date(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Interval(a), Value::Interval(b)) => a == b,
            (Value::Row(a), Value::Row(b)) | (Value::Array(a), Value::Array(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u8(self.discriminant());
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(v) | Value::Timestamp(v) | Value::Interval(v) => v.hash(state),
            Value::Double(v) => v.to_bits().hash(state),
            Value::Decimal(v) => v.hash(state),
            Value::Str(s) => s.hash(state),
            Value::Date(d) => d.hash(state),
            Value::Row(vs) | Value::Array(vs) => vs.hash(state),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    /// SQL's order within one type; `NULL` sorts first (Flink's default for ascending order);
    /// values of different types (which a typed plan never compares) order by kind.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b))
            | (Value::Timestamp(a), Value::Timestamp(b))
            | (Value::Interval(a), Value::Interval(b)) => a.cmp(b),
            (Value::Double(a), Value::Double(b)) => a.total_cmp(b),
            (Value::Int(a), Value::Double(b)) => (*a as f64).total_cmp(b),
            (Value::Double(a), Value::Int(b)) => a.total_cmp(&(*b as f64)),
            (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::Row(a), Value::Row(b)) | (Value::Array(a), Value::Array(b)) => a.cmp(b),
            _ => match self.discriminant().cmp(&other.discriminant()) {
                Ordering::Equal => Ordering::Equal,
                o => o,
            },
        }
    }
}

/// A row: its values and its changelog kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Row {
    /// What the row is in a changelog.
    pub kind: RowKind,
    /// Its values, one per column of its schema.
    pub values: Vec<Value>,
}

impl Row {
    /// An insert row of `values`.
    pub fn insert(values: Vec<Value>) -> Self {
        Self {
            kind: RowKind::Insert,
            values,
        }
    }

    /// The same values with another kind.
    pub fn with_kind(mut self, kind: RowKind) -> Self {
        self.kind = kind;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_hash_and_compare_by_bits() {
        use std::collections::HashSet;
        let set: HashSet<Value> = [
            Value::Double(f64::NAN),
            Value::Double(f64::NAN),
            Value::Int(1),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
        assert!(Value::Null < Value::Int(-5));
        assert!(Value::str("a") < Value::str("b"));
    }

    #[test]
    fn types_print_as_flink_names_them() {
        let row = DataType::Row(vec![Field::new("a", DataType::Int)]);
        assert_eq!(row.to_string(), "ROW<`a` INT>");
        assert_eq!(
            DataType::Decimal {
                precision: 10,
                scale: 2
            }
            .to_string(),
            "DECIMAL(10, 2)"
        );
    }

    #[test]
    fn strings_hash_and_serialize_as_their_str_inline_or_shared() {
        use std::hash::{Hash, Hasher};
        let hash = |h: &dyn Fn(&mut crate::util::StableHasher)| {
            let mut s = crate::util::StableHasher::default();
            h(&mut s);
            s.finish()
        };
        // Key groups and savepoints written when strings were `Arc<str>` stay the same.
        for s in ["", "k7", &"x".repeat(23), &"é".repeat(40)] {
            let v = Value::str(s);
            let arc: Arc<str> = Arc::from(s);
            assert_eq!(
                hash(&|h| v.hash(h)),
                hash(&|h| Value::Str(Text::from(s)).hash(h))
            );
            let Value::Str(t) = &v else {
                panic!("a string")
            };
            assert_eq!(&**t, s);
            assert_eq!(hash(&|h| t.hash(h)), hash(&|h| arc.hash(h)));
            assert_eq!(
                rmp_serde::to_vec(t).expect("serializes"),
                rmp_serde::to_vec(&arc).expect("serializes")
            );
        }
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }
}
