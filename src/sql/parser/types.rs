//! Flink's SQL types as Rill's [`DataType`]: the type grammar of `CREATE TABLE` (and of
//! [`parse_data_type`]), and the conversion of the types `sqlparser` reads itself, as in `CAST`.
//!
//! ## Defaults (Flink's)
//! `DECIMAL` is `DECIMAL(10, 0)`, `DECIMAL(p)` is `DECIMAL(p, 0)`; `TIMESTAMP` and
//! `TIMESTAMP_LTZ` without a precision have precision 6. `VARCHAR(n)` and `CHAR(n)` are held as
//! `STRING`.

use sqlparser::ast::{self, ArrayElemTypeDef, ExactNumberInfo, TimezoneInfo, TypeModifier};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token};

use super::{error_at, Failure, PResult, ParseError};
use crate::sql::dialect::RillDialect;
use crate::sql::types::{DataType, Field};

/// How deep types may nest (`ARRAY<ARRAY<…>>`): as deep as `sqlparser` lets expressions nest.
const MAX_TYPE_DEPTH: usize = 50;

/// Why a type is not one Rill can hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// A type Rill does not have (yet), named as written.
    #[error("not supported: type {0}")]
    Unsupported(String),
    /// A precision outside the type's range.
    #[error(
        "{type_name} precision must be between {min} and {max} (both inclusive), found {found}"
    )]
    Precision {
        /// The type, as Flink names it in this message (`Decimal`, `Timestamp`).
        type_name: &'static str,
        /// The smallest precision allowed.
        min: u64,
        /// The largest precision allowed.
        max: u64,
        /// The precision written.
        found: u64,
    },
    /// A `DECIMAL` scale below zero or above its precision.
    #[error("Decimal scale must be between 0 and the precision {precision} (both inclusive), found {found}")]
    Scale {
        /// The decimal's precision.
        precision: u8,
        /// The scale written.
        found: i64,
    },
    /// A `ROW` with two fields of one name.
    #[error("Field names must be unique, found `{0}` twice")]
    DuplicateField(String),
}

/// A `sqlparser` type (as in `CAST(x AS …)`) as Rill's type.
pub fn convert_data_type(t: &ast::DataType) -> Result<DataType, TypeError> {
    use ast::DataType as S;
    Ok(match t {
        S::Boolean | S::Bool => DataType::Boolean,
        S::TinyInt(_) => DataType::TinyInt,
        S::SmallInt(_) | S::Int2(_) => DataType::SmallInt,
        S::Int(_) | S::Integer(_) | S::Int4(_) => DataType::Int,
        S::BigInt(_) | S::Int8(_) => DataType::BigInt,
        S::Float(ExactNumberInfo::None) | S::Real | S::Float4 => DataType::Float,
        S::Double(ExactNumberInfo::None) | S::DoublePrecision | S::Float8 | S::Float64 => {
            DataType::Double
        }
        S::Decimal(info) | S::Dec(info) | S::Numeric(info) => match info {
            ExactNumberInfo::None => decimal(None, None)?,
            ExactNumberInfo::Precision(p) => decimal(Some(*p), None)?,
            ExactNumberInfo::PrecisionAndScale(p, s) => decimal(Some(*p), Some(*s))?,
        },
        S::String(None)
        | S::Varchar(_)
        | S::Char(_)
        | S::Character(_)
        | S::CharacterVarying(_)
        | S::CharVarying(_) => DataType::String,
        S::Date => DataType::Date,
        S::Timestamp(p, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => timestamp(*p)?,
        S::Custom(name, modifiers) if is_timestamp_ltz(name) => match modifiers.as_slice() {
            [] => timestamp_ltz(None)?,
            [TypeModifier::Number(p, false)] => match p.parse::<u64>() {
                Ok(p) => timestamp_ltz(Some(p))?,
                Err(_) => return Err(TypeError::Unsupported(t.to_string())),
            },
            _ => return Err(TypeError::Unsupported(t.to_string())),
        },
        S::Array(ArrayElemTypeDef::AngleBracket(inner) | ArrayElemTypeDef::Parenthesis(inner)) => {
            DataType::Array(Box::new(convert_data_type(inner)?))
        }
        S::Struct(fields, _) => {
            let mut out: Vec<Field> = Vec::with_capacity(fields.len());
            for f in fields {
                let Some(name) = &f.field_name else {
                    return Err(TypeError::Unsupported(t.to_string()));
                };
                push_field(
                    &mut out,
                    Field::new(name.value.clone(), convert_data_type(&f.field_type)?),
                )?;
            }
            DataType::Row(out)
        }
        other => return Err(TypeError::Unsupported(other.to_string())),
    })
}

/// Parses a type as Flink writes it (`ROW<a INT, b STRING>`), alone in `text`. A trailing
/// `NOT NULL` is accepted; a [`DataType`] does not carry it.
pub fn parse_data_type(text: &str) -> Result<DataType, ParseError> {
    let dialect = RillDialect;
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| Failure::Sql(e).into_parse_error(None))?;
    let parsed = parse_declared_type(&mut parser).and_then(|(t, _)| {
        let next = parser.peek_token();
        if next.token == Token::EOF {
            Ok(t)
        } else {
            Err(error_at(
                next.span.start,
                format!("Expected: end of type, found: {}", next.token),
            ))
        }
    });
    parsed.map_err(|f| f.into_parse_error(Some(&parser)))
}

/// Parses a type and its nullability (`NOT NULL` / `NULL`; nullable unless `NOT NULL`).
pub(super) fn parse_declared_type(parser: &mut Parser<'_>) -> PResult<(DataType, bool)> {
    let mut types = TypeParser {
        parser,
        pending_gt: 0,
        depth: 0,
    };
    let declared = types.nullable_type()?;
    if types.pending_gt > 0 {
        let at = types.parser.get_current_token().span.start;
        return Err(error_at(at, "unmatched > after a data type"));
    }
    Ok(declared)
}

/// A recursive-descent reader of types over the statement's tokens.
struct TypeParser<'p, 'a> {
    parser: &'p mut Parser<'a>,
    /// `>` still owed from a `>>` token that closed two type lists at once (`ARRAY<ARRAY<INT>>`).
    pending_gt: usize,
    depth: usize,
}

impl TypeParser<'_, '_> {
    fn nullable_type(&mut self) -> PResult<(DataType, bool)> {
        let data_type = self.data_type()?;
        // Within a `>>` the next token is a closing bracket, not a `NOT NULL`.
        let nullable = if self.pending_gt > 0 {
            true
        } else if self.parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            false
        } else {
            let _null = self.parser.parse_keyword(Keyword::NULL);
            true
        };
        Ok((data_type, nullable))
    }

    fn data_type(&mut self) -> PResult<DataType> {
        if self.depth >= MAX_TYPE_DEPTH {
            let at = self.parser.peek_token_ref().span.start;
            return Err(error_at(at, "data type nested too deeply"));
        }
        self.depth += 1;
        let result = self.data_type_inner();
        self.depth -= 1;
        result
    }

    fn data_type_inner(&mut self) -> PResult<DataType> {
        let token = self.parser.next_token();
        let at = token.span.start;
        let name = match &token.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            other => {
                return Err(error_at(
                    at,
                    format!("Expected: a data type, found: {other}"),
                ));
            }
        };
        let checked = |r: Result<DataType, TypeError>| r.map_err(|e| error_at(at, e.to_string()));
        match name.as_str() {
            "BOOLEAN" => Ok(DataType::Boolean),
            "TINYINT" => Ok(DataType::TinyInt),
            "SMALLINT" => Ok(DataType::SmallInt),
            "INT" | "INTEGER" => Ok(DataType::Int),
            "BIGINT" => Ok(DataType::BigInt),
            "FLOAT" | "REAL" => Ok(DataType::Float),
            "DOUBLE" => {
                let _precision = self.parser.parse_keyword(Keyword::PRECISION);
                Ok(DataType::Double)
            }
            "DECIMAL" | "DEC" | "NUMERIC" => {
                let (precision, scale) = self.precision_and_scale()?;
                checked(decimal(precision, scale))
            }
            "STRING" => Ok(DataType::String),
            "VARCHAR" | "CHAR" => {
                self.optional_precision()?;
                Ok(DataType::String)
            }
            "DATE" => Ok(DataType::Date),
            "TIMESTAMP" => {
                let precision = self.optional_precision()?;
                let p = &mut *self.parser;
                if p.parse_keywords(&[Keyword::WITH, Keyword::LOCAL, Keyword::TIME, Keyword::ZONE])
                {
                    checked(timestamp_ltz(precision))
                } else if p.parse_keywords(&[Keyword::WITH, Keyword::TIME, Keyword::ZONE]) {
                    checked(Err(TypeError::Unsupported(
                        "TIMESTAMP WITH TIME ZONE".into(),
                    )))
                } else {
                    let _without =
                        p.parse_keywords(&[Keyword::WITHOUT, Keyword::TIME, Keyword::ZONE]);
                    checked(timestamp(precision))
                }
            }
            "TIMESTAMP_LTZ" => {
                let precision = self.optional_precision()?;
                checked(timestamp_ltz(precision))
            }
            "ROW" => self.row(at),
            "ARRAY" => {
                self.parser.expect_token(&Token::Lt)?;
                // An element's nullability has no place in Rill's `ARRAY` type; it is dropped.
                let (element, _) = self.nullable_type()?;
                self.expect_gt()?;
                Ok(DataType::Array(Box::new(element)))
            }
            other => checked(Err(TypeError::Unsupported(other.to_string()))),
        }
    }

    /// `ROW<name type, …>` or `ROW(name type, …)`; each field may end in a description string.
    fn row(&mut self, at: Location) -> PResult<DataType> {
        let angle = if self.parser.consume_token(&Token::Lt) {
            true
        } else {
            self.parser.expect_token(&Token::LParen)?;
            false
        };
        let mut fields = Vec::new();
        loop {
            let name = self.parser.parse_identifier()?;
            let (data_type, nullable) = self.nullable_type()?;
            if self.pending_gt == 0 {
                if let Token::SingleQuotedString(_) = self.parser.peek_token_ref().token {
                    self.parser.advance_token();
                }
            }
            let field = Field {
                nullable,
                ..Field::new(name.value, data_type)
            };
            push_field(&mut fields, field).map_err(|e| error_at(at, e.to_string()))?;
            if self.pending_gt == 0 && self.parser.consume_token(&Token::Comma) {
                continue;
            }
            if angle {
                self.expect_gt()?;
            } else {
                self.parser.expect_token(&Token::RParen)?;
            }
            return Ok(DataType::Row(fields));
        }
    }

    fn expect_gt(&mut self) -> PResult<()> {
        if self.pending_gt > 0 {
            self.pending_gt -= 1;
            return Ok(());
        }
        if self.parser.consume_token(&Token::Gt) {
            return Ok(());
        }
        if self.parser.consume_token(&Token::ShiftRight) {
            self.pending_gt += 1;
            return Ok(());
        }
        let next = self.parser.peek_token();
        Err(error_at(
            next.span.start,
            format!("Expected: >, found: {}", next.token),
        ))
    }

    fn optional_precision(&mut self) -> PResult<Option<u64>> {
        if !self.parser.consume_token(&Token::LParen) {
            return Ok(None);
        }
        let precision = self.parser.parse_literal_uint()?;
        self.parser.expect_token(&Token::RParen)?;
        Ok(Some(precision))
    }

    fn precision_and_scale(&mut self) -> PResult<(Option<u64>, Option<i64>)> {
        if !self.parser.consume_token(&Token::LParen) {
            return Ok((None, None));
        }
        let precision = self.parser.parse_literal_uint()?;
        let scale = if self.parser.consume_token(&Token::Comma) {
            let at = self.parser.peek_token_ref().span.start;
            let scale = self.parser.parse_literal_uint()?;
            Some(
                i64::try_from(scale)
                    .map_err(|_| error_at(at, format!("scale {scale} out of range")))?,
            )
        } else {
            None
        };
        self.parser.expect_token(&Token::RParen)?;
        Ok((Some(precision), scale))
    }
}

fn push_field(fields: &mut Vec<Field>, field: Field) -> Result<(), TypeError> {
    if fields.iter().any(|f| f.name == field.name) {
        return Err(TypeError::DuplicateField(field.name));
    }
    fields.push(field);
    Ok(())
}

fn is_timestamp_ltz(name: &ast::ObjectName) -> bool {
    matches!(name.0.as_slice(), [part] if part.as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("TIMESTAMP_LTZ")))
}

fn decimal(precision: Option<u64>, scale: Option<i64>) -> Result<DataType, TypeError> {
    let precision = precision.unwrap_or(10);
    let p = u8::try_from(precision)
        .ok()
        .filter(|p| (1..=38).contains(p))
        .ok_or(TypeError::Precision {
            type_name: "Decimal",
            min: 1,
            max: 38,
            found: precision,
        })?;
    let scale = scale.unwrap_or(0);
    let s = u8::try_from(scale)
        .ok()
        .filter(|s| *s <= p)
        .ok_or(TypeError::Scale {
            precision: p,
            found: scale,
        })?;
    Ok(DataType::Decimal {
        precision: p,
        scale: s,
    })
}

fn timestamp_precision(precision: Option<u64>) -> Result<u8, TypeError> {
    let precision = precision.unwrap_or(6);
    u8::try_from(precision)
        .ok()
        .filter(|p| *p <= 9)
        .ok_or(TypeError::Precision {
            type_name: "Timestamp",
            min: 0,
            max: 9,
            found: precision,
        })
}

fn timestamp(precision: Option<u64>) -> Result<DataType, TypeError> {
    Ok(DataType::Timestamp {
        precision: timestamp_precision(precision)?,
    })
}

fn timestamp_ltz(precision: Option<u64>) -> Result<DataType, TypeError> {
    Ok(DataType::TimestampLtz {
        precision: timestamp_precision(precision)?,
    })
}
