//! `RillDialect`: how `sqlparser` reads Flink's SQL — its identifiers, and the pieces of its
//! syntax that no built-in dialect has (window table-valued functions' `TABLE t` argument,
//! `TIMESTAMP WITH LOCAL TIME ZONE`).
//!
//! ## Table arguments
//! Flink passes a table to a window function as `TABLE name [PARTITION BY col, …]`
//! (`TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' SECOND)`). `sqlparser` has no expression
//! for it, so [`RillDialect::parse_prefix`] makes one:
//!
//! - `TABLE t` → `Expr::Prefixed { prefix: TABLE, value: t }`, where `t` is an
//!   `Expr::Identifier` or, if qualified, an `Expr::CompoundIdentifier`;
//! - `TABLE t PARTITION BY a, b` (or `PARTITION BY (a, b)`) →
//!   `Expr::Prefixed { prefix: TABLE, value: Expr::Tuple([t, a, b]) }`, each column an
//!   `Expr::Identifier`.
//!
//! The prefix is the unquoted identifier `TABLE`. Nothing else in this dialect builds an
//! `Expr::Prefixed` with that prefix (`sqlparser` makes them only for MySQL's `_charset'…'`
//! introducers, whose prefix starts with `_`), so [`decode_table_argument`] cannot mistake a user's
//! expression for one. The planner reads them through `crate::sql::parser::table_argument`.

use std::any::TypeId;

use sqlparser::ast::{DataType, Expr, Ident, ObjectName, ObjectNamePart, TypeModifier};
use sqlparser::dialect::{Dialect, GenericDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Word};

use crate::sql::statement::TableArgument;

/// The prefix that marks an encoded table argument.
const TABLE_PREFIX: &str = "TABLE";

/// Flink's SQL for `sqlparser`: backtick (or double-quote) quoted identifiers, `FILTER (WHERE …)`
/// after aggregates, `FOR SYSTEM_TIME AS OF`, and the table arguments of window table-valued
/// functions (see the module docs for how they are encoded).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RillDialect;

impl Dialect for RillDialect {
    /// `sqlparser` keeps some syntax Flink shares (`CROSS JOIN UNNEST(…) AS T(a)` as
    /// `TableFactor::UNNEST`) behind checks for named dialects; answering as the generic dialect
    /// opens them. Every hook below still applies, as they are this type's methods.
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    fn identifier_quote_style(&self, _identifier: &str) -> Option<char> {
        Some('`')
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser<'_>) -> Option<Result<Expr, ParserError>> {
        if !is_unquoted_keyword(&parser.peek_token_ref().token, Keyword::TABLE) {
            return None;
        }
        // `TABLE(` is a table function, not a table argument: leave it to the generic parser.
        if !matches!(parser.peek_nth_token_ref(1).token, Token::Word(_)) {
            return None;
        }
        parser.advance_token();
        Some(parse_table_argument(parser))
    }

    fn parse_data_type(&self, parser: &mut Parser<'_>) -> Option<Result<DataType, ParserError>> {
        local_time_zone_timestamp(parser).map(Ok)
    }
}

/// Parses what follows the `TABLE` keyword of a table argument: `name [PARTITION BY cols]`.
fn parse_table_argument(parser: &mut Parser<'_>) -> Result<Expr, ParserError> {
    let name = parser.parse_object_name(false)?;
    let mut parts: Vec<Ident> = Vec::with_capacity(name.0.len());
    for part in name.0 {
        match part {
            ObjectNamePart::Identifier(ident) => parts.push(ident),
            ObjectNamePart::Function(f) => {
                return Err(ParserError::ParserError(format!(
                    "Expected: a table name after TABLE, found: {}{}",
                    f.name, f.name.span.start
                )))
            }
        }
    }
    let table = if parts.len() == 1 {
        Expr::Identifier(parts.remove(0))
    } else {
        Expr::CompoundIdentifier(parts)
    };
    let value = if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
        let columns = if parser.consume_token(&Token::LParen) {
            let columns = parser.parse_comma_separated(Parser::parse_identifier)?;
            parser.expect_token(&Token::RParen)?;
            columns
        } else {
            unparenthesized_columns(parser)?
        };
        let mut items = vec![table];
        items.extend(columns.into_iter().map(Expr::Identifier));
        Expr::Tuple(items)
    } else {
        table
    };
    Ok(Expr::Prefixed {
        prefix: Ident::new(TABLE_PREFIX),
        value: Box::new(value),
    })
}

/// `a, b` after `PARTITION BY` without parentheses. The window function's next argument follows
/// the same comma, so the list takes a name only when a `,` or `)` comes right after it:
/// `PARTITION BY a, b, DESCRIPTOR(rt)` partitions by `a, b`.
fn unparenthesized_columns(parser: &mut Parser<'_>) -> Result<Vec<Ident>, ParserError> {
    let mut columns = vec![parser.parse_identifier()?];
    while parser.peek_token_ref().token == Token::Comma
        && matches!(parser.peek_nth_token_ref(1).token, Token::Word(_))
        && matches!(
            parser.peek_nth_token_ref(2).token,
            Token::Comma | Token::RParen
        )
    {
        parser.advance_token();
        columns.push(parser.parse_identifier()?);
    }
    Ok(columns)
}

/// Decodes a table argument made by [`RillDialect::parse_prefix`]; a qualified table name
/// keeps its last part, as every name in Rill's one flat catalog does.
pub(crate) fn decode_table_argument(expr: &Expr) -> Option<TableArgument> {
    let Expr::Prefixed { prefix, value } = expr else {
        return None;
    };
    if prefix.quote_style.is_some() || prefix.value != TABLE_PREFIX {
        return None;
    }
    let (table, columns): (&Expr, &[Expr]) = match value.as_ref() {
        Expr::Tuple(items) => {
            let (first, rest) = items.split_first()?;
            (first, rest)
        }
        other => (other, &[]),
    };
    let name = match table {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
        _ => return None,
    };
    let partition_by = columns
        .iter()
        .map(|c| match c {
            Expr::Identifier(ident) => Some(ident.value.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(TableArgument { name, partition_by })
}

/// Reads `TIMESTAMP [(p)] WITH LOCAL TIME ZONE`, which `sqlparser` does not know, as the type
/// Flink also spells `TIMESTAMP_LTZ(p)`: `DataType::Custom(TIMESTAMP_LTZ, [p])`. Anything else
/// is left untouched (`None`), so `TIMESTAMP '2020-01-01 00:00:00'` still reads as a literal.
fn local_time_zone_timestamp(parser: &mut Parser<'_>) -> Option<DataType> {
    if !is_unquoted_keyword(&parser.peek_token_ref().token, Keyword::TIMESTAMP) {
        return None;
    }
    let (precision, suffix_at) = match (
        &parser.peek_nth_token_ref(1).token,
        &parser.peek_nth_token_ref(2).token,
        &parser.peek_nth_token_ref(3).token,
    ) {
        (Token::LParen, Token::Number(p, _), Token::RParen) => (Some(p.clone()), 4),
        _ => (None, 1),
    };
    let suffix = [Keyword::WITH, Keyword::LOCAL, Keyword::TIME, Keyword::ZONE];
    let matches_suffix = suffix
        .iter()
        .enumerate()
        .all(|(i, kw)| is_unquoted_keyword(&parser.peek_nth_token_ref(suffix_at + i).token, *kw));
    if !matches_suffix {
        return None;
    }
    for _ in 0..suffix_at + suffix.len() {
        parser.advance_token();
    }
    let modifiers = precision
        .map(|p| vec![TypeModifier::Number(p, false)])
        .unwrap_or_default();
    Some(DataType::Custom(
        ObjectName::from(vec![Ident::new("TIMESTAMP_LTZ")]),
        modifiers,
    ))
}

/// Whether `token` is the keyword `kw`, written without quotes.
fn is_unquoted_keyword(token: &Token, kw: Keyword) -> bool {
    matches!(token, Token::Word(Word { keyword, quote_style: None, .. }) if *keyword == kw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::{
        FunctionArg, FunctionArgExpr, FunctionArguments, SetExpr, Statement, TableFactor,
    };

    fn parse_one(sql: &str) -> Statement {
        let mut statements = Parser::parse_sql(&RillDialect, sql).expect("parses");
        assert_eq!(statements.len(), 1);
        statements.remove(0)
    }

    fn cast_type(sql: &str) -> DataType {
        let Statement::Query(q) = parse_one(sql) else {
            panic!("not a query")
        };
        let SetExpr::Select(select) = *q.body else {
            panic!("not a select")
        };
        match &select.projection[0] {
            sqlparser::ast::SelectItem::UnnamedExpr(Expr::Cast { data_type, .. }) => {
                data_type.clone()
            }
            other => panic!("not a cast: {other:?}"),
        }
    }

    #[test]
    fn table_argument_in_a_window_function_is_encoded_and_decoded() {
        let Statement::Query(q) = parse_one(
            "SELECT * FROM TABLE(SESSION(TABLE db.events PARTITION BY `key`, k2, DESCRIPTOR(rt), INTERVAL '0.2' SECOND))",
        ) else {
            panic!("not a query")
        };
        let SetExpr::Select(select) = *q.body else {
            panic!("not a select")
        };
        let TableFactor::TableFunction {
            expr: Expr::Function(f),
            ..
        } = &select.from[0].relation
        else {
            panic!("not a table function: {:?}", select.from[0].relation)
        };
        let FunctionArguments::List(list) = &f.args else {
            panic!("no argument list")
        };
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = &list.args[0] else {
            panic!("unexpected argument {:?}", list.args[0])
        };
        assert_eq!(
            decode_table_argument(arg),
            Some(TableArgument {
                name: "events".into(),
                partition_by: vec!["key".into(), "k2".into()],
            })
        );
        assert_eq!(arg.to_string(), "TABLE (db.events, `key`, k2)");
    }

    #[test]
    fn ordinary_expressions_are_not_table_arguments() {
        let Statement::Query(q) = parse_one("SELECT _utf8'x', a FROM t") else {
            panic!()
        };
        let SetExpr::Select(select) = *q.body else {
            panic!()
        };
        for item in &select.projection {
            let sqlparser::ast::SelectItem::UnnamedExpr(e) = item else {
                panic!()
            };
            assert_eq!(decode_table_argument(e), None);
        }
    }

    #[test]
    fn timestamp_with_local_time_zone_is_timestamp_ltz() {
        let expected = DataType::Custom(
            ObjectName::from(vec![Ident::new("TIMESTAMP_LTZ")]),
            vec![TypeModifier::Number("3".into(), false)],
        );
        assert_eq!(
            cast_type("SELECT CAST(a AS TIMESTAMP(3) WITH LOCAL TIME ZONE)"),
            expected
        );
        assert_eq!(cast_type("SELECT CAST(a AS TIMESTAMP_LTZ(3))"), expected);
        assert_eq!(
            cast_type("SELECT CAST(a AS TIMESTAMP(3))"),
            DataType::Timestamp(Some(3), sqlparser::ast::TimezoneInfo::None)
        );
        // A typed literal is still a literal.
        let Statement::Query(q) = parse_one("SELECT TIMESTAMP '2020-01-01 00:00:00'") else {
            panic!()
        };
        assert_eq!(q.to_string(), "SELECT TIMESTAMP '2020-01-01 00:00:00'");
    }

    #[test]
    fn backticks_quote_reserved_words() {
        let Statement::Query(q) = parse_one("SELECT `key`, `value` FROM `table`") else {
            panic!()
        };
        assert_eq!(q.to_string(), "SELECT `key`, `value` FROM `table`");
    }
}
