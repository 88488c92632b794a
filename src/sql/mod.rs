//! Flink's SQL on Rill: a script's statements are parsed (`sqlparser` with a Rill dialect and
//! Rill's own DDL parser in front), bound against the session's catalog into a typed logical
//! plan, rewritten by rules (predicate push-down, window fusion), and lowered onto the
//! DataStream API, so a SQL job is a job like any other: checkpointed, savepointed, restored,
//! rescaled.
//!
//! ## How a SQL job reaches the cluster
//! Every node runs the same binary and rebuilds a job's plan from its name and arguments. A
//! SQL job is the bundled job `sql` whose arguments are the script's DDL and `SET` statements
//! and its one `INSERT` ([`job`]); each node parses and plans them again, deterministically,
//! and the plan's fingerprint checks that they agree.
//!
//! ## Layout
//! - [`types`]: types, values, rows with their changelog kind.
//! - [`statement`], [`dialect`], [`parser`]: the script's statements.
//! - [`catalog`]: tables, views, options.
//! - [`expr`]: typed expressions and their compiled closures; [`functions`]: casts,
//!   arithmetic, scalar functions.
//! - [`bind`]: statements → [`plan`]; [`rules`]: rewrites.
//! - [`lower`]: plan → DataStream; [`session`]: a session running statements.

pub mod bind;
pub mod catalog;
pub mod dialect;
mod explain;
pub mod expr;
pub mod functions;
pub mod gateway;
pub mod job;
pub mod lower;
pub mod parser;
pub mod plan;
pub mod rules;
pub mod session;
pub mod split_distinct;
pub mod statement;
pub mod types;

use crate::sql::functions::FunctionError;
use crate::sql::parser::ParseError;

/// Why a SQL statement cannot be planned or run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SqlError {
    /// The text does not parse.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// No table or view of that name.
    #[error("Object '{name}' not found (tables and views: {known})")]
    UnknownTable {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// No column of that name in scope.
    #[error("Column '{name}' not found in any table (available: {known})")]
    UnknownColumn {
        /// The name asked for.
        name: String,
        /// The columns in scope.
        known: String,
    },
    /// A name that more than one table in scope has.
    #[error("Column '{0}' is ambiguous")]
    AmbiguousColumn(String),
    /// A table or view declared twice.
    #[error("Table or view '{0}' already exists")]
    AlreadyExists(String),
    /// A type Rill does not hold.
    #[error("{0}")]
    DataType(#[from] crate::sql::parser::TypeError),
    /// A call or operator whose argument types do not fit.
    #[error("{0}")]
    Function(#[from] FunctionError),
    /// Types that cannot meet, with what met.
    #[error("type error: {0}")]
    Type(String),
    /// A construct Rill does not run (yet).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A statement that is well-formed but invalid (e.g. a non-grouped column).
    #[error("{0}")]
    Validation(String),
    /// A table's connector options are wrong.
    #[error("table '{table}': {message}")]
    Connector {
        /// The table.
        table: String,
        /// What is wrong.
        message: String,
    },
}
