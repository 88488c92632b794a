//! Parses a script of Flink's SQL into [`ParsedStatement`]s for the planner.
//!
//! ## How
//! One `sqlparser` [`Parser`] with [`RillDialect`] reads the whole script, so every error carries
//! the line and column of the script itself. Each statement is dispatched on its first words
//! (`statements`): `CREATE TABLE` goes to Rill's own DDL parser (`ddl`, Flink's syntax, which
//! `sqlparser` cannot read), types to `types`, and queries and expressions to `sqlparser`.
//!
//! ## Names
//! Unquoted identifiers keep their case as written; the planner matches them
//! case-insensitively. A qualified name in a statement (`cat.db.t`) keeps its last part (`t`):
//! Rill has one flat catalog, so `default_catalog.default_database.t` and `t` are one table.
//! Names inside queries stay as `sqlparser` read them.
//!
//! ## Limits
//! Nesting is bounded by `sqlparser`'s recursion limit (and the same depth for types): a deeply
//! nested input is an error, never a stack overflow.

mod ddl;
mod statements;
#[cfg(test)]
mod tests;
mod types;

use sqlparser::ast::Expr;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan};

pub use self::types::{convert_data_type, parse_data_type, TypeError};
use crate::sql::dialect::{decode_table_argument, RillDialect};
use crate::sql::statement::{ParsedStatement, TableArgument};

/// A statement that could not be parsed, and where in the script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQL parse error at line {line}, column {column}: {message}")]
pub struct ParseError {
    /// What is wrong (`Expected: ), found: events`, `not supported: GRANT`).
    pub message: String,
    /// The line (1-based).
    pub line: u64,
    /// The column (1-based, in characters).
    pub column: u64,
}

/// Parses a script: statements separated by `;` (the last one optional). Empty statements and
/// comments are skipped.
///
/// Statements: `CREATE [TEMPORARY] TABLE`, `CREATE [TEMPORARY] VIEW`, `DROP [TEMPORARY]
/// TABLE|VIEW`, `INSERT INTO|OVERWRITE`, queries (`SELECT`, `WITH`, `VALUES`, `(…)`), `SET
/// ['key' = 'value']`, `RESET ['key']`, `EXPLAIN [PLAN FOR] query|insert`, `SHOW
/// TABLES|VIEWS|FUNCTIONS`, `DESCRIBE|DESC name`; anything else is `not supported: <what>`.
pub fn parse_script(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    let dialect = RillDialect;
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| Failure::Sql(e).into_parse_error(None))?;
    let source = Source::new(sql);
    let mut parsed = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let first = parser.peek_token_ref();
        if first.token == Token::EOF {
            return Ok(parsed);
        }
        let start = first.span.start;
        let start_index = parser.index();
        let statement = statements::parse_statement(&mut parser)
            .and_then(|s| expect_statement_end(&parser).map(|()| s))
            .map_err(|f| f.into_parse_error(Some(&parser)))?;
        let end = last_token_end(&parser, start_index).unwrap_or(start);
        parsed.push(ParsedStatement {
            statement,
            text: source.slice(start, end).trim().to_string(),
            line: start.line,
        });
    }
}

/// Recognizes the table argument of a window TVF (`TABLE t`, `TABLE t PARTITION BY a, b`) in
/// the expression tree the dialect made of it (see `crate::sql::dialect` for the encoding). A
/// qualified table name keeps its last part.
pub fn table_argument(expr: &Expr) -> Option<TableArgument> {
    decode_table_argument(expr)
}

/// Why a statement failed while it was being parsed: `sqlparser`'s error (its position inside
/// its message), or Rill's own with its position.
#[derive(Debug)]
enum Failure {
    Sql(ParserError),
    At(ParseError),
}

impl From<ParserError> for Failure {
    fn from(e: ParserError) -> Self {
        Failure::Sql(e)
    }
}

type PResult<T> = Result<T, Failure>;

/// An error at `at`.
fn error_at(at: Location, message: impl Into<String>) -> Failure {
    Failure::At(ParseError {
        message: message.into(),
        line: at.line,
        column: at.column,
    })
}

/// `not supported: <what>` at `at`.
fn not_supported(at: Location, what: impl std::fmt::Display) -> Failure {
    error_at(at, format!("not supported: {what}"))
}

impl Failure {
    /// The error with its position: from `sqlparser`'s message where it has one, else where
    /// `parser` stopped (errors at the end of input, and the recursion limit, carry none).
    fn into_parse_error(self, parser: Option<&Parser<'_>>) -> ParseError {
        let message = match self {
            Failure::At(e) => return e,
            Failure::Sql(ParserError::ParserError(m) | ParserError::TokenizerError(m)) => m,
            Failure::Sql(ParserError::RecursionLimitExceeded) => {
                "nested too deeply (recursion limit exceeded)".to_string()
            }
        };
        let (message, at) = split_location(&message);
        let message = friendly(message);
        let at = match (at, parser) {
            (Some(at), Some(parser)) => at_found_token(parser, at, &message),
            (Some(at), None) => at,
            (None, Some(parser)) => stopped_at(parser),
            (None, None) => Location { line: 1, column: 1 },
        };
        ParseError {
            message,
            line: at.line,
            column: at.column,
        }
    }
}

/// Splits `sqlparser`'s `"… at Line: L, Column: C"` into the message and the position.
fn split_location(message: &str) -> (&str, Option<Location>) {
    let Some(i) = message.rfind(" at Line: ") else {
        return (message, None);
    };
    let position = &message[i + " at Line: ".len()..];
    let parsed = position
        .split_once(", Column: ")
        .and_then(|(line, column)| {
            Some(Location {
                line: line.trim().parse().ok()?,
                column: column.trim().parse().ok()?,
            })
        });
    match parsed {
        Some(at) => (&message[..i], Some(at)),
        None => (message, None),
    }
}

/// `sqlparser`'s message in the form all of Rill's take (`Expected: …, found: …`).
fn friendly(message: &str) -> String {
    let message = message.trim();
    let message = match message.strip_prefix("Expected ") {
        Some(rest) => format!("Expected: {rest}"),
        None => message.to_string(),
    };
    match message.strip_suffix("found: EOF") {
        Some(head) => format!("{head}found: end of input"),
        None => message,
    }
}

/// Where the token a message says was found starts. `sqlparser` sometimes reports the position
/// of the token after it (when it read the token before giving up, as with `SELECT a, FROM t`).
fn at_found_token(parser: &Parser<'_>, at: Location, message: &str) -> Location {
    let Some((_, found)) = message.rsplit_once(", found: ") else {
        return at;
    };
    let tokens = (0..)
        .map(|i| parser.token_at(i))
        .take_while(|t| t.token != Token::EOF)
        .filter(|t| !matches!(t.token, Token::Whitespace(_)));
    let mut previous: Option<&TokenWithSpan> = None;
    for token in tokens {
        if token.span.start == at {
            return match previous {
                Some(p) if token.token.to_string() != found && p.token.to_string() == found => {
                    p.span.start
                }
                _ => at,
            };
        }
        previous = Some(token);
    }
    at
}

/// Where `parser` stands: its next token, or the end of the last token before the end of input.
fn stopped_at(parser: &Parser<'_>) -> Location {
    let next = parser.peek_token_ref();
    if next.token != Token::EOF && next.span.start.line > 0 {
        return next.span.start;
    }
    last_token_end(parser, 0).unwrap_or(Location { line: 1, column: 1 })
}

/// The end of the last token (not whitespace or comment) read since `from`.
fn last_token_end(parser: &Parser<'_>, from: usize) -> Option<Location> {
    (from..parser.index())
        .rev()
        .map(|i| parser.token_at(i))
        .find(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF) && t.span.end.line > 0)
        .map(|t| t.span.end)
}

/// A statement ends at `;` or at the end of the script.
fn expect_statement_end(parser: &Parser<'_>) -> PResult<()> {
    let next = parser.peek_token_ref();
    match next.token {
        Token::SemiColon | Token::EOF => Ok(()),
        ref other => Err(error_at(
            next.span.start,
            format!("Expected: ; or end of input, found: {other}"),
        )),
    }
}

/// The script's text, addressed by `sqlparser`'s locations (lines and columns in characters).
struct Source<'s> {
    text: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> Source<'s> {
    fn new(text: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, line_starts }
    }

    fn offset(&self, at: Location) -> usize {
        let line = usize::try_from(at.line).unwrap_or(usize::MAX).max(1);
        let Some(&line_start) = self.line_starts.get(line - 1) else {
            return self.text.len();
        };
        let column = usize::try_from(at.column).unwrap_or(usize::MAX).max(1);
        self.text[line_start..]
            .char_indices()
            .nth(column - 1)
            .map_or(self.text.len(), |(i, _)| line_start + i)
    }

    fn slice(&self, from: Location, to: Location) -> &'s str {
        let (a, b) = (self.offset(from), self.offset(to));
        self.text.get(a..b.max(a)).unwrap_or_default()
    }
}
