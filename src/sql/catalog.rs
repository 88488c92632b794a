//! The session's catalog: the tables and views its DDL declared, and its `SET` options.
//! Names match case-insensitively (Flink's are case-sensitive; a name that differs only in
//! case is refused at `CREATE`, so no lookup is ambiguous).

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlparser::ast;

use crate::sql::functions::udf::{self, ScalarUdf};
use crate::sql::statement::{ColumnKind, CreateTable};
use crate::sql::types::{DataType, Field, Schema};
use crate::sql::SqlError;

/// A column of a table.
#[derive(Debug, Clone)]
pub struct TableColumn {
    /// Name and type.
    pub field: Field,
    /// Physical, computed or metadata.
    pub kind: ColumnKind,
}

/// A table declared by `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Its name as declared.
    pub name: String,
    /// Every column, in declared order.
    pub columns: Vec<TableColumn>,
    /// The rowtime column and the watermark expression.
    pub watermark: Option<(String, ast::Expr)>,
    /// `PRIMARY KEY` columns.
    pub primary_key: Vec<String>,
    /// `WITH` options, keys as written.
    pub options: BTreeMap<String, String>,
    /// `PARTITIONED BY` columns (physical ones), in order.
    pub partition_keys: Vec<String>,
}

impl TableDef {
    /// The physical columns (what the connector reads and writes), in order.
    pub fn physical_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .filter(|c| matches!(c.kind, ColumnKind::Physical { .. }))
                .map(|c| c.field.clone())
                .collect(),
        )
    }

    /// An option's value. `connector`, `path` and `format` are also read from the keys of
    /// Flink's older descriptor options (`connector.type`, `connector.path`, `format.type`).
    pub fn option(&self, key: &str) -> Option<&str> {
        let legacy = match key {
            "connector" => Some("connector.type"),
            "path" => Some("connector.path"),
            "format" => Some("format.type"),
            _ => None,
        };
        self.options
            .get(key)
            .or_else(|| legacy.and_then(|k| self.options.get(k)))
            .map(String::as_str)
    }

    /// The `connector` option.
    pub fn connector(&self) -> Result<&str, SqlError> {
        self.option("connector").ok_or_else(|| SqlError::Connector {
            table: self.name.clone(),
            message: "the WITH clause has no 'connector' option".into(),
        })
    }
}

/// A view declared by `CREATE VIEW`.
#[derive(Debug, Clone)]
pub struct ViewDef {
    /// Its name as declared.
    pub name: String,
    /// Names given to its columns (empty: the query's).
    pub columns: Vec<String>,
    /// Its query.
    pub query: ast::Query,
}

/// A table or a view.
#[derive(Debug, Clone)]
pub enum CatalogEntry {
    /// A table.
    Table(Arc<TableDef>),
    /// A view.
    View(Arc<ViewDef>),
}

/// The tables, views, functions and options of a session.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
    options: BTreeMap<String, String>,
    /// `CREATE FUNCTION`s: the registered Rust functions they name, by lower-case name.
    functions: BTreeMap<String, Arc<ScalarUdf>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a table. Types of computed columns are resolved by the planner, which calls
    /// [`Catalog::set_column_type`].
    pub fn create_table(&mut self, t: &CreateTable) -> Result<(), SqlError> {
        let key = t.name.to_lowercase();
        if self.entries.contains_key(&key) {
            return if t.if_not_exists {
                Ok(())
            } else {
                Err(SqlError::AlreadyExists(t.name.clone()))
            };
        }
        let mut seen = std::collections::HashSet::new();
        let mut columns = Vec::with_capacity(t.columns.len());
        for c in &t.columns {
            if !seen.insert(c.name.to_lowercase()) {
                return Err(SqlError::Validation(format!(
                    "table '{}' declares column '{}' twice",
                    t.name, c.name
                )));
            }
            let (data_type, nullable) = match &c.kind {
                ColumnKind::Physical {
                    data_type,
                    nullable,
                } => (data_type.clone(), *nullable),
                ColumnKind::Metadata { data_type, .. } => (data_type.clone(), true),
                // Typed when the planner resolves the expression.
                ColumnKind::Computed(_) => (DataType::Null, true),
            };
            columns.push(TableColumn {
                field: Field {
                    name: c.name.clone(),
                    data_type,
                    nullable,
                    time: None,
                },
                kind: c.kind.clone(),
            });
        }
        for k in &t.primary_key {
            if !seen.contains(&k.to_lowercase()) {
                return Err(SqlError::Validation(format!(
                    "primary key column '{k}' is not a column of table '{}'",
                    t.name
                )));
            }
        }
        let watermark = match &t.watermark {
            None => None,
            Some(w) => {
                if !seen.contains(&w.column.to_lowercase()) {
                    return Err(SqlError::Validation(format!(
                        "the watermark's rowtime column '{}' is not a column of table '{}' (columns: {})",
                        w.column,
                        t.name,
                        columns.iter().map(|c| c.field.name.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                Some((w.column.clone(), w.expr.clone()))
            }
        };
        let def = TableDef {
            name: t.name.clone(),
            columns,
            watermark,
            primary_key: t.primary_key.clone(),
            options: t.options.iter().cloned().collect(),
            partition_keys: t.partition_keys.clone(),
        };
        self.entries.insert(key, CatalogEntry::Table(Arc::new(def)));
        Ok(())
    }

    /// Declares a view, replacing a table or view of its name (a `WITH` expression's).
    pub fn replace_view(&mut self, view: ViewDef) {
        self.entries
            .insert(view.name.to_lowercase(), CatalogEntry::View(Arc::new(view)));
    }

    /// Declares a view.
    pub fn create_view(&mut self, view: ViewDef, if_not_exists: bool) -> Result<(), SqlError> {
        let key = view.name.to_lowercase();
        if self.entries.contains_key(&key) {
            return if if_not_exists {
                Ok(())
            } else {
                Err(SqlError::AlreadyExists(view.name))
            };
        }
        self.entries.insert(key, CatalogEntry::View(Arc::new(view)));
        Ok(())
    }

    /// Replaces a table's definition (its computed columns typed).
    pub fn replace_table(&mut self, def: TableDef) {
        self.entries
            .insert(def.name.to_lowercase(), CatalogEntry::Table(Arc::new(def)));
    }

    /// `CREATE FUNCTION name AS 'identifier'`: names the Rust function registered under
    /// `identifier` in this binary.
    pub fn create_function(
        &mut self,
        name: &str,
        identifier: &str,
        if_not_exists: bool,
    ) -> Result<(), SqlError> {
        let key = name.to_lowercase();
        if self.functions.contains_key(&key) {
            return if if_not_exists {
                Ok(())
            } else {
                Err(SqlError::AlreadyExists(format!("function {name}")))
            };
        }
        let Some(f) = udf::by_identifier(identifier) else {
            let known = udf::identifiers();
            return Err(SqlError::Validation(format!(
                "Function class '{identifier}' of function '{name}' is not registered in this binary (registered: {}); register a Rust ScalarUdf with that identifier through rill::cli::main_with",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        };
        self.functions.insert(key, f);
        Ok(())
    }

    /// `DROP FUNCTION name`.
    pub fn drop_function(&mut self, name: &str, if_exists: bool) -> Result<(), SqlError> {
        if self.functions.remove(&name.to_lowercase()).is_none() && !if_exists {
            return Err(SqlError::Validation(format!(
                "Function '{name}' does not exist (created: {})",
                self.functions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// The functions `CREATE FUNCTION` named, by lower-case name.
    pub fn functions(&self) -> &BTreeMap<String, Arc<ScalarUdf>> {
        &self.functions
    }

    /// Drops a table or view.
    pub fn drop(&mut self, name: &str, view: bool, if_exists: bool) -> Result<(), SqlError> {
        let key = name.to_lowercase();
        match self.entries.get(&key) {
            Some(CatalogEntry::View(_)) if view => {}
            Some(CatalogEntry::Table(_)) if !view => {}
            _ if if_exists => return Ok(()),
            _ => return Err(self.unknown(name)),
        }
        self.entries.remove(&key);
        Ok(())
    }

    /// The table or view `name`.
    pub fn get(&self, name: &str) -> Result<&CatalogEntry, SqlError> {
        self.entries
            .get(&name.to_lowercase())
            .ok_or_else(|| self.unknown(name))
    }

    /// The table `name` (not a view).
    pub fn table(&self, name: &str) -> Result<Arc<TableDef>, SqlError> {
        match self.get(name)? {
            CatalogEntry::Table(t) => Ok(t.clone()),
            CatalogEntry::View(_) => Err(SqlError::Validation(format!(
                "'{name}' is a view; only a table can be written to"
            ))),
        }
    }

    fn unknown(&self, name: &str) -> SqlError {
        SqlError::UnknownTable {
            name: name.to_string(),
            known: self.names().join(", "),
        }
    }

    /// The names of the tables and views, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries
            .values()
            .map(|e| match e {
                CatalogEntry::Table(t) => t.name.clone(),
                CatalogEntry::View(v) => v.name.clone(),
            })
            .collect()
    }

    /// The names of the tables (not views), sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.entries
            .values()
            .filter_map(|e| match e {
                CatalogEntry::Table(t) => Some(t.name.clone()),
                CatalogEntry::View(_) => None,
            })
            .collect()
    }

    /// The names of the views, sorted.
    pub fn view_names(&self) -> Vec<String> {
        self.entries
            .values()
            .filter_map(|e| match e {
                CatalogEntry::View(v) => Some(v.name.clone()),
                CatalogEntry::Table(_) => None,
            })
            .collect()
    }

    /// Sets an option (`SET 'key' = 'value'`).
    pub fn set(&mut self, key: &str, value: &str) {
        self.options.insert(key.to_string(), value.to_string());
    }

    /// Removes one option, or all (`RESET`).
    pub fn reset(&mut self, key: Option<&str>) {
        match key {
            Some(k) => {
                self.options.remove(k);
            }
            None => self.options.clear(),
        }
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// Every option set.
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }
}
