//! Flink's `CREATE TABLE`, which `sqlparser` cannot read: columns (physical, computed,
//! metadata), `WATERMARK FOR`, `PRIMARY KEY … NOT ENFORCED` and `WITH` options.
//!
//! ## Rules (Flink's)
//! - A primary key must be `NOT ENFORCED`; its columns become `NOT NULL`.
//! - One watermark and one primary key at most; their columns must be declared (compared
//!   case-insensitively, as the planner compares names).
//! - `WITH` keys and values are string literals, kept in the order written.
//! - `PARTITIONED BY (…)` names declared physical columns, each once.
//! - `COMMENT`s on columns are kept; a table's `COMMENT` is dropped. `LIKE` and `AS query` are
//!   not supported.

use sqlparser::ast::Expr;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, Word};

use super::statements::name;
use super::types::parse_declared_type;
use super::{error_at, not_supported, PResult};
use crate::sql::statement::{ColumnDef, ColumnKind, CreateTable, WatermarkDef};

/// Flink's message for a primary key without `NOT ENFORCED`.
const ENFORCED_PRIMARY_KEY: &str =
    "Flink doesn't support ENFORCED mode for PRIMARY KEY constraint. \
    ENFORCED/NOT ENFORCED controls if the constraint checks are performed on the incoming/outgoing \
    data. Flink does not own the data therefore the only supported mode is the NOT ENFORCED mode";

/// A primary key as declared, with where, for errors about its columns.
struct PrimaryKey {
    columns: Vec<(String, Location)>,
}

/// Parses what follows `CREATE [TEMPORARY] TABLE`.
pub(super) fn parse_create_table(p: &mut Parser<'_>) -> PResult<CreateTable> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = name(p)?;
    let at = p.peek_token_ref().span.start;
    if p.parse_keyword(Keyword::LIKE) {
        return Err(not_supported(at, "CREATE TABLE … LIKE"));
    }
    if p.parse_keyword(Keyword::AS) {
        return Err(not_supported(at, "CREATE TABLE … AS"));
    }
    p.expect_token(&Token::LParen)?;
    let mut table = CreateTable {
        name,
        if_not_exists,
        columns: Vec::new(),
        watermark: None,
        primary_key: Vec::new(),
        options: Vec::new(),
        partition_keys: Vec::new(),
    };
    let mut primary_key: Option<PrimaryKey> = None;
    let mut watermark_at = None;
    loop {
        let at = p.peek_token_ref().span.start;
        if is_word(p, 0, "WATERMARK") && is_word(p, 1, "FOR") {
            if table.watermark.is_some() {
                return Err(error_at(
                    at,
                    "Multiple WATERMARK statements is not supported yet.",
                ));
            }
            p.advance_token();
            p.advance_token();
            watermark_at = Some(p.peek_token_ref().span.start);
            let column = p.parse_identifier()?.value;
            p.expect_keyword(Keyword::AS)?;
            let expr = p.parse_expr()?;
            table.watermark = Some(WatermarkDef { column, expr });
        } else if let Some(pk) = table_primary_key(p)? {
            set_primary_key(&mut primary_key, pk, at)?;
        } else {
            let (column, pk) = column(p)?;
            if pk {
                let pk = PrimaryKey {
                    columns: vec![(column.name.clone(), at)],
                };
                set_primary_key(&mut primary_key, pk, at)?;
            }
            table.columns.push(column);
        }
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    table_options(p, &mut table)?;
    check_watermark(&table, watermark_at)?;
    if let Some(pk) = primary_key {
        apply_primary_key(&mut table, pk)?;
    }
    Ok(table)
}

/// `[CONSTRAINT name] PRIMARY KEY (cols) NOT ENFORCED` as a table constraint, if one is next.
fn table_primary_key(p: &mut Parser<'_>) -> PResult<Option<PrimaryKey>> {
    let is_pk = p.peek_keyword(Keyword::PRIMARY)
        || (p.peek_keyword(Keyword::CONSTRAINT) && is_word(p, 2, "PRIMARY"));
    if !is_pk {
        return Ok(None);
    }
    if p.parse_keyword(Keyword::CONSTRAINT) {
        p.parse_identifier()?;
    }
    let at = p.peek_token_ref().span.start;
    p.expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])?;
    p.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    loop {
        let column_at = p.peek_token_ref().span.start;
        columns.push((p.parse_identifier()?.value, column_at));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    not_enforced(p, at)?;
    Ok(Some(PrimaryKey { columns }))
}

fn not_enforced(p: &mut Parser<'_>, at: Location) -> PResult<()> {
    if p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]) {
        Ok(())
    } else {
        Err(error_at(at, ENFORCED_PRIMARY_KEY))
    }
}

fn set_primary_key(slot: &mut Option<PrimaryKey>, pk: PrimaryKey, at: Location) -> PResult<()> {
    if slot.is_some() {
        return Err(error_at(at, "Duplicate primary key definition"));
    }
    *slot = Some(pk);
    Ok(())
}

/// A column, and whether it declared itself the primary key.
fn column(p: &mut Parser<'_>) -> PResult<(ColumnDef, bool)> {
    let name = p.parse_identifier()?.value;
    if p.parse_keyword(Keyword::AS) {
        let expr: Expr = p.parse_expr()?;
        let comment = comment(p)?;
        return Ok((
            ColumnDef {
                name,
                kind: ColumnKind::Computed(Box::new(expr)),
                comment,
            },
            false,
        ));
    }
    let (data_type, nullable) = parse_declared_type(p)?;
    let mut kind = ColumnKind::Physical {
        data_type,
        nullable,
    };
    let mut primary_key = false;
    let mut comment_text = None;
    loop {
        let at = p.peek_token_ref().span.start;
        if p.parse_keyword(Keyword::METADATA) {
            let ColumnKind::Physical { data_type, .. } = kind else {
                return Err(error_at(at, "METADATA declared twice"));
            };
            let key = if p.parse_keyword(Keyword::FROM) {
                Some(p.parse_literal_string()?)
            } else {
                None
            };
            let is_virtual = p.parse_keyword(Keyword::VIRTUAL);
            kind = ColumnKind::Metadata {
                data_type,
                key,
                is_virtual,
            };
        } else if p.peek_keyword(Keyword::PRIMARY) || p.peek_keyword(Keyword::CONSTRAINT) {
            if p.parse_keyword(Keyword::CONSTRAINT) {
                p.parse_identifier()?;
            }
            let at = p.peek_token_ref().span.start;
            p.expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])?;
            not_enforced(p, at)?;
            if primary_key {
                return Err(error_at(at, "Duplicate primary key definition"));
            }
            primary_key = true;
        } else if p.peek_keyword(Keyword::COMMENT) {
            if comment_text.is_some() {
                return Err(error_at(at, "COMMENT declared twice"));
            }
            comment_text = comment(p)?;
        } else {
            break;
        }
    }
    Ok((
        ColumnDef {
            name,
            kind,
            comment: comment_text,
        },
        primary_key,
    ))
}

/// `COMMENT '…'`, if next.
fn comment(p: &mut Parser<'_>) -> PResult<Option<String>> {
    if p.parse_keyword(Keyword::COMMENT) {
        Ok(Some(p.parse_literal_string()?))
    } else {
        Ok(None)
    }
}

/// What may follow the column list: `COMMENT '…'`, `WITH (…)`.
fn table_options(p: &mut Parser<'_>, table: &mut CreateTable) -> PResult<()> {
    comment(p)?;
    if p.parse_keyword(Keyword::PARTITIONED) {
        p.expect_keyword(Keyword::BY)?;
        p.expect_token(&Token::LParen)?;
        loop {
            let column_at = p.peek_token_ref().span.start;
            let column = p.parse_identifier()?.value;
            let declared = table
                .columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&column));
            match declared {
                None => {
                    return Err(error_at(
                        column_at,
                        format!("Partition column '{column}' not defined in the table schema."),
                    ))
                }
                Some(c) if !matches!(c.kind, ColumnKind::Physical { .. }) => {
                    return Err(error_at(
                        column_at,
                        format!("Partition column '{column}' must be a physical column."),
                    ))
                }
                Some(_) => {}
            }
            if table
                .partition_keys
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&column))
            {
                return Err(error_at(
                    column_at,
                    format!("Partition column '{column}' is listed twice."),
                ));
            }
            table.partition_keys.push(column);
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    if p.parse_keyword(Keyword::WITH) {
        p.expect_token(&Token::LParen)?;
        loop {
            let key = string_literal(p, "option key")?;
            p.expect_token(&Token::Eq)?;
            let value = string_literal(p, "option value")?;
            table.options.push((key, value));
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
    }
    let at = p.peek_token_ref().span.start;
    if p.parse_keyword(Keyword::LIKE) {
        return Err(not_supported(at, "CREATE TABLE … LIKE"));
    }
    Ok(())
}

fn string_literal(p: &mut Parser<'_>, what: &str) -> PResult<String> {
    let next = p.next_token();
    match next.token {
        Token::SingleQuotedString(s) => Ok(s),
        other => Err(error_at(
            next.span.start,
            format!("Expected: a string literal as {what}, found: {other}"),
        )),
    }
}

fn check_watermark(table: &CreateTable, at: Option<Location>) -> PResult<()> {
    let (Some(watermark), Some(at)) = (&table.watermark, at) else {
        return Ok(());
    };
    if table
        .columns
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(&watermark.column))
    {
        Ok(())
    } else {
        Err(error_at(
            at,
            format!(
                "The rowtime attribute field '{}' is not defined in the table schema",
                watermark.column
            ),
        ))
    }
}

/// Records the key and makes its physical columns `NOT NULL`, as Flink does.
fn apply_primary_key(table: &mut CreateTable, pk: PrimaryKey) -> PResult<()> {
    for (name, at) in pk.columns {
        let Some(column) = table
            .columns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(&name))
        else {
            return Err(error_at(
                at,
                format!("Could not create a PRIMARY KEY: column '{name}' does not exist"),
            ));
        };
        match &mut column.kind {
            ColumnKind::Physical { nullable, .. } => *nullable = false,
            _ => {
                return Err(error_at(
                    at,
                    format!("Could not create a PRIMARY KEY with column '{name}': a PRIMARY KEY must be declared on physical columns"),
                ))
            }
        }
        table.primary_key.push(name);
    }
    Ok(())
}

/// Whether the `n`th token ahead is the unquoted word `word` (which need not be a keyword of
/// `sqlparser`'s).
fn is_word(p: &Parser<'_>, n: usize, word: &str) -> bool {
    matches!(&p.peek_nth_token_ref(n).token, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(word))
}
