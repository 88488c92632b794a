//! The statements of a SQL script as the parser hands them to the planner: Flink's DDL in Rill's
//! own types, queries and expressions in `sqlparser`'s tree.

use sqlparser::ast;

use crate::sql::types::DataType;

/// One parsed statement, with where it starts in the script.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// The statement.
    pub statement: Statement,
    /// Its text, as written (without the closing `;`).
    pub text: String,
    /// The line it starts on (1-based).
    pub line: u64,
}

/// A statement of Flink's SQL.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name (…) WITH (…)`.
    CreateTable(Box<CreateTable>),
    /// `CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name [(cols)] AS query`.
    CreateView {
        /// The view's name.
        name: String,
        /// Column names given after the name (empty: the query's).
        columns: Vec<String>,
        /// The query.
        query: Box<ast::Query>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS 'identifier'
    /// [LANGUAGE JAVA|SCALA|RUST]`: names a Rust function registered in the binary.
    CreateFunction {
        /// The name it is called by.
        name: String,
        /// The registered function's identifier.
        identifier: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP [TEMPORARY [SYSTEM]] FUNCTION [IF EXISTS] name`.
    DropFunction {
        /// The name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `DROP [TEMPORARY] TABLE|VIEW [IF EXISTS] name`.
    Drop {
        /// A view rather than a table.
        view: bool,
        /// The name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `INSERT INTO|OVERWRITE table [(cols)] query`.
    Insert {
        /// The sink table.
        table: String,
        /// The target columns (empty: all, in order).
        columns: Vec<String>,
        /// The query whose rows are written.
        query: Box<ast::Query>,
        /// `INSERT OVERWRITE`.
        overwrite: bool,
    },
    /// A query (`SELECT …`, `VALUES …`, `WITH …`).
    Query(Box<ast::Query>),
    /// `SET` (lists the settings) or `SET 'key' = 'value'`.
    Set {
        /// The key and value, or none to list.
        pair: Option<(String, String)>,
    },
    /// `RESET` (all) or `RESET 'key'`.
    Reset {
        /// The key, or none for all.
        key: Option<String>,
    },
    /// `EXPLAIN [PLAN FOR] statement` (a query or an insert).
    Explain(Box<Statement>),
    /// `SHOW TABLES`.
    ShowTables,
    /// `SHOW VIEWS`.
    ShowViews,
    /// `SHOW FUNCTIONS`.
    ShowFunctions,
    /// `DESCRIBE name` / `DESC name`.
    Describe(String),
}

/// `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// The table's name.
    pub name: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The columns, in order.
    pub columns: Vec<ColumnDef>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<WatermarkDef>,
    /// `PRIMARY KEY (…) NOT ENFORCED`.
    pub primary_key: Vec<String>,
    /// `WITH ('key' = 'value', …)`, in order.
    pub options: Vec<(String, String)>,
    /// `PARTITIONED BY (…)` columns.
    pub partition_keys: Vec<String>,
}

/// A column of `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Its name.
    pub name: String,
    /// Physical, computed or metadata.
    pub kind: ColumnKind,
    /// `COMMENT '…'`.
    pub comment: Option<String>,
}

/// What a column of `CREATE TABLE` is.
#[derive(Debug, Clone)]
pub enum ColumnKind {
    /// Read from (and written to) the connector: `name TYPE [NOT NULL]`.
    Physical {
        /// Its type.
        data_type: DataType,
        /// Unless `NOT NULL`.
        nullable: bool,
    },
    /// `name AS expr`: computed from the physical columns on read.
    Computed(Box<ast::Expr>),
    /// `name TYPE METADATA [FROM 'key'] [VIRTUAL]`.
    Metadata {
        /// Its type.
        data_type: DataType,
        /// The metadata key, if not the column's name.
        key: Option<String>,
        /// `VIRTUAL`: read only.
        is_virtual: bool,
    },
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone)]
pub struct WatermarkDef {
    /// The rowtime column.
    pub column: String,
    /// The watermark expression over the row.
    pub expr: ast::Expr,
}

/// A table argument of a window table-valued function: `TABLE name [PARTITION BY cols]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableArgument {
    /// The table or view.
    pub name: String,
    /// `PARTITION BY` columns (`SESSION` only).
    pub partition_by: Vec<String>,
}
