//! Reads one statement of a script, dispatched on its first words; everything but
//! `CREATE TABLE` (see `ddl`) is here.

use sqlparser::ast::{Ident, ObjectName};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, Word};

use super::{ddl, error_at, not_supported, Failure, PResult};
use crate::sql::statement::Statement;

/// Parses the statement at the parser's position, up to (not including) its `;`.
pub(super) fn parse_statement(p: &mut Parser<'_>) -> PResult<Statement> {
    let first = p.peek_token();
    let at = first.span.start;
    let keyword = match &first.token {
        Token::LParen => return query(p),
        Token::Word(Word {
            keyword,
            quote_style: None,
            ..
        }) => *keyword,
        other => return Err(not_supported(at, other)),
    };
    match keyword {
        Keyword::SELECT | Keyword::WITH | Keyword::VALUES => query(p),
        Keyword::CREATE => create(p, at),
        Keyword::DROP => drop(p, at),
        Keyword::INSERT => insert(p, at),
        Keyword::SET => set(p),
        Keyword::RESET => reset(p),
        Keyword::EXPLAIN => explain(p, at),
        Keyword::SHOW => show(p, at),
        Keyword::DESCRIBE | Keyword::DESC => {
            p.advance_token();
            Ok(Statement::Describe(name(p)?))
        }
        _ => Err(not_supported(at, first.token.to_string().to_uppercase())),
    }
}

fn query(p: &mut Parser<'_>) -> PResult<Statement> {
    Ok(Statement::Query(p.parse_query()?))
}

/// Whether the next token starts a query.
fn at_query(p: &Parser<'_>) -> bool {
    match &p.peek_token_ref().token {
        Token::LParen => true,
        Token::Word(w) => {
            w.quote_style.is_none()
                && matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES)
        }
        _ => false,
    }
}

/// `CREATE [TEMPORARY] TABLE …` or `CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name [(cols)]
/// [COMMENT '…'] AS query`.
fn create(p: &mut Parser<'_>, at: Location) -> PResult<Statement> {
    p.advance_token();
    let temporary = p.parse_keyword(Keyword::TEMPORARY);
    let system = temporary && p.parse_keyword(Keyword::SYSTEM);
    if p.parse_keyword(Keyword::FUNCTION) {
        return create_function(p);
    }
    if system {
        return Err(unknown_after(p, at, "CREATE TEMPORARY SYSTEM", "FUNCTION"));
    }
    if p.parse_keyword(Keyword::TABLE) {
        return Ok(Statement::CreateTable(Box::new(ddl::parse_create_table(
            p,
        )?)));
    }
    if !p.parse_keyword(Keyword::VIEW) {
        let head = if temporary {
            "CREATE TEMPORARY"
        } else {
            "CREATE"
        };
        return Err(unknown_after(p, at, head, "TABLE, VIEW or FUNCTION"));
    }
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = name(p)?;
    let columns = if p.consume_token(&Token::LParen) {
        let columns = p.parse_comma_separated(Parser::parse_identifier)?;
        p.expect_token(&Token::RParen)?;
        columns.into_iter().map(|c| c.value).collect()
    } else {
        Vec::new()
    };
    if p.parse_keyword(Keyword::COMMENT) {
        p.parse_literal_string()?;
    }
    p.expect_keyword(Keyword::AS)?;
    let query = p.parse_query()?;
    Ok(Statement::CreateView {
        name,
        columns,
        query,
        if_not_exists,
    })
}

/// `… FUNCTION [IF NOT EXISTS] name AS 'identifier' [LANGUAGE JAVA|SCALA|RUST]`, after
/// `CREATE [TEMPORARY [SYSTEM]]`. Every function is Rust, registered in the binary: a Java or
/// Scala one is its port, registered under the class name.
fn create_function(p: &mut Parser<'_>) -> PResult<Statement> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = name(p)?;
    p.expect_keyword(Keyword::AS)?;
    let identifier = p.parse_literal_string()?;
    if p.parse_keyword(Keyword::LANGUAGE) {
        let at = p.peek_token_ref().span.start;
        let language = p.parse_identifier()?.value.to_uppercase();
        if !matches!(language.as_str(), "JAVA" | "SCALA" | "RUST") {
            return Err(not_supported(
                at,
                format!("LANGUAGE {language} (functions are Rust, registered in the binary)"),
            ));
        }
    }
    if p.peek_keyword(Keyword::USING) {
        let at = p.peek_token_ref().span.start;
        return Err(not_supported(
            at,
            "USING JAR (Rill runs no JVM: register the function in Rust with ScalarUdf)",
        ));
    }
    Ok(Statement::CreateFunction {
        name,
        identifier,
        if_not_exists,
    })
}

/// `DROP [TEMPORARY] TABLE|VIEW [IF EXISTS] name` or `DROP [TEMPORARY [SYSTEM]] FUNCTION [IF
/// EXISTS] name`.
fn drop(p: &mut Parser<'_>, at: Location) -> PResult<Statement> {
    p.advance_token();
    // Every table and view lives for the session only, so `TEMPORARY` changes nothing.
    let temporary = p.parse_keyword(Keyword::TEMPORARY);
    let _system = temporary && p.parse_keyword(Keyword::SYSTEM);
    if p.parse_keyword(Keyword::FUNCTION) {
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        return Ok(Statement::DropFunction {
            name: name(p)?,
            if_exists,
        });
    }
    let view = match p.parse_one_of_keywords(&[Keyword::TABLE, Keyword::VIEW]) {
        Some(Keyword::VIEW) => true,
        Some(_) => false,
        None => {
            return Err(unknown_after(p, at, "DROP", "TABLE, VIEW or FUNCTION"));
        }
    };
    let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    Ok(Statement::Drop {
        view,
        name: name(p)?,
        if_exists,
    })
}

/// `INSERT INTO|OVERWRITE name [(cols)] query`.
fn insert(p: &mut Parser<'_>, at: Location) -> PResult<Statement> {
    p.advance_token();
    let overwrite = match p.parse_one_of_keywords(&[Keyword::INTO, Keyword::OVERWRITE]) {
        Some(Keyword::OVERWRITE) => true,
        Some(_) => false,
        None => {
            let next = p.peek_token();
            return Err(error_at(
                next.span.start,
                format!("Expected: INTO or OVERWRITE, found: {}", next.token),
            ));
        }
    };
    let table = name(p)?;
    if p.peek_keyword(Keyword::PARTITION) {
        return Err(not_supported(at, "INSERT … PARTITION"));
    }
    let columns = if p.peek_token_ref().token == Token::LParen && !starts_query_in_parens(p) {
        p.advance_token();
        let columns = p.parse_comma_separated(Parser::parse_identifier)?;
        p.expect_token(&Token::RParen)?;
        columns.into_iter().map(|c| c.value).collect()
    } else {
        Vec::new()
    };
    let query = p.parse_query()?;
    Ok(Statement::Insert {
        table,
        columns,
        query,
        overwrite,
    })
}

/// Whether the `(` ahead opens a query (`INSERT INTO t (SELECT …)`) rather than a column list.
fn starts_query_in_parens(p: &Parser<'_>) -> bool {
    match &p.peek_nth_token_ref(1).token {
        Token::LParen => true,
        Token::Word(w) => {
            w.quote_style.is_none()
                && matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES)
        }
        _ => false,
    }
}

/// `SET` or `SET 'key' = 'value'`.
fn set(p: &mut Parser<'_>) -> PResult<Statement> {
    p.advance_token();
    if at_end(p) {
        return Ok(Statement::Set { pair: None });
    }
    let key = quoted(p, "a quoted key")?;
    p.expect_token(&Token::Eq)?;
    let value = quoted(p, "a quoted value")?;
    Ok(Statement::Set {
        pair: Some((key, value)),
    })
}

/// `RESET` or `RESET 'key'`.
fn reset(p: &mut Parser<'_>) -> PResult<Statement> {
    p.advance_token();
    if at_end(p) {
        return Ok(Statement::Reset { key: None });
    }
    Ok(Statement::Reset {
        key: Some(quoted(p, "a quoted key")?),
    })
}

/// `EXPLAIN [PLAN FOR] query|insert`.
fn explain(p: &mut Parser<'_>, at: Location) -> PResult<Statement> {
    p.advance_token();
    let _plan_for = p.parse_keywords(&[Keyword::PLAN, Keyword::FOR]);
    let inner_at = p.peek_token_ref().span.start;
    let inner = if at_query(p) {
        query(p)?
    } else if p.peek_keyword(Keyword::INSERT) {
        insert(p, inner_at)?
    } else {
        return Err(unknown_after(p, at, "EXPLAIN", "a query or INSERT"));
    };
    Ok(Statement::Explain(Box::new(inner)))
}

/// `SHOW TABLES|VIEWS|FUNCTIONS`.
fn show(p: &mut Parser<'_>, at: Location) -> PResult<Statement> {
    p.advance_token();
    match p.parse_one_of_keywords(&[Keyword::TABLES, Keyword::VIEWS, Keyword::FUNCTIONS]) {
        Some(Keyword::TABLES) => Ok(Statement::ShowTables),
        Some(Keyword::VIEWS) => Ok(Statement::ShowViews),
        Some(_) => Ok(Statement::ShowFunctions),
        None => Err(unknown_after(p, at, "SHOW", "TABLES, VIEWS or FUNCTIONS")),
    }
}

/// The error for what follows `head` (`SHOW`, `DROP`, …) when it is none of the forms Rill
/// reads: a word names a statement Rill does not support (`not supported: SHOW CATALOGS`);
/// anything else is a syntax error.
fn unknown_after(p: &Parser<'_>, at: Location, head: &str, expected: &str) -> Failure {
    let next = p.peek_token_ref();
    match &next.token {
        Token::Word(w) if w.quote_style.is_none() => {
            not_supported(at, format!("{head} {}", w.value.to_uppercase()))
        }
        Token::EOF => error_at(
            super::stopped_at(p),
            format!("Expected: {expected}, found: end of input"),
        ),
        other => error_at(
            next.span.start,
            format!("Expected: {expected}, found: {other}"),
        ),
    }
}

/// Whether the statement ends here.
fn at_end(p: &Parser<'_>) -> bool {
    matches!(p.peek_token_ref().token, Token::SemiColon | Token::EOF)
}

/// A single-quoted string literal.
fn quoted(p: &mut Parser<'_>, what: &str) -> PResult<String> {
    let next = p.next_token();
    match next.token {
        Token::SingleQuotedString(s) => Ok(s),
        other => Err(error_at(
            next.span.start,
            format!("Expected: {what}, found: {other}"),
        )),
    }
}

/// A table or view name; a qualified name keeps its last part (see the module docs).
pub(super) fn name(p: &mut Parser<'_>) -> PResult<String> {
    let at = p.peek_token_ref().span.start;
    let name = p.parse_object_name(false)?;
    last_part(&name).ok_or_else(|| error_at(at, format!("Expected: a name, found: {name}")))
}

fn last_part(name: &ObjectName) -> Option<String> {
    name.0.last()?.as_ident().map(|i: &Ident| i.value.clone())
}
