//! A SQL session: runs a script's statements one by one against its catalog, as Flink's SQL
//! Client does. DDL and `SET` change the session; `SHOW`, `DESCRIBE` and `EXPLAIN` answer at
//! once; an `INSERT` (or a `SELECT`, written to the session's standard output) becomes a job
//! ([`SqlJob`]) that carries the session's DDL with it, so every node plans it alike.

use crate::sql::bind::Binder;
use crate::sql::catalog::Catalog;
use crate::sql::catalog::{CatalogEntry, ViewDef};
use crate::sql::parser::parse_script;
use crate::sql::plan::{ChangelogMode, Node, Plan};
use crate::sql::statement::{ParsedStatement, Statement};
use crate::sql::types::{DataType, Field, Schema};
use crate::sql::SqlError;

/// What running one statement gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The session changed (`CREATE`, `DROP`, `SET`, `RESET`).
    Done(String),
    /// A table to show (`SHOW TABLES`, `DESCRIBE`, `SET` listing).
    Table {
        /// Column names.
        header: Vec<String>,
        /// Rows.
        rows: Vec<Vec<String>>,
    },
    /// `EXPLAIN`'s text.
    Explain(String),
    /// A job to submit.
    Job(SqlJob),
}

/// A job made of SQL: the statements every node replays to plan it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlJob {
    /// The session's DDL and `SET` statements, then the one `INSERT`, as a script.
    pub script: String,
    /// The job's name (`insert-into_<table>` or `pipeline.name`).
    pub name: String,
    /// Whether its rows go to the submitting client's standard output (a `SELECT`).
    pub prints_rows: bool,
    /// A query's columns (none for an `INSERT`).
    pub columns: Vec<crate::sql::types::Field>,
    /// Where the script's last statement (the `INSERT` or query) starts.
    pub last_at: usize,
    /// `SET 'parallelism.default'`.
    pub parallelism: Option<usize>,
    /// `SET 'execution.savepoint.path'`: the savepoint it starts from.
    pub savepoint_path: Option<String>,
}

impl SqlJob {
    /// The arguments of the bundled `sql` job that runs it.
    pub fn args(&self) -> Vec<String> {
        vec!["--statements".into(), self.script.clone()]
    }

    /// The arguments of the `sql` job that writes a query's rows to the `collect` sink, for
    /// the SQL Gateway to fetch: the option is set just before the query, after the
    /// session's own statements.
    pub fn collect_args(&self) -> Vec<String> {
        let at = self.last_at.min(self.script.len());
        let (ddl, last) = self.script.split_at(at);
        let set = format!(
            "SET '{}' = '{}';\n",
            crate::sql::job::RESULT_FORMAT,
            crate::sql::job::COLLECT
        );
        vec!["--statements".into(), format!("{ddl}{set}{last}")]
    }
}

/// The tables, views and options of one client's session.
#[derive(Debug, Clone, Default)]
pub struct Session {
    catalog: Catalog,
    /// The DDL and `SET` texts so far, replayed by the jobs' nodes.
    ddl: Vec<String>,
}

impl Session {
    /// An empty session.
    pub fn new() -> Self {
        Self::default()
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Parses `script` and runs each statement, stopping at the first error.
    pub fn execute_script(&mut self, script: &str) -> Result<Vec<Outcome>, SqlError> {
        let statements = parse_script(script)?;
        statements.iter().map(|s| self.execute(s)).collect()
    }

    /// Runs one statement.
    pub fn execute(&mut self, s: &ParsedStatement) -> Result<Outcome, SqlError> {
        match &s.statement {
            Statement::CreateTable(t) => {
                self.catalog.create_table(t)?;
                // Type the computed columns and check the watermark now, so a bad table is
                // refused where it is declared.
                if let Err(e) = Binder::new(&self.catalog).bind_named(&t.name, None) {
                    let _ = self.catalog.drop(&t.name, false, true);
                    return Err(e);
                }
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::CreateView {
                name,
                columns,
                query,
                if_not_exists,
            } => {
                let view = ViewDef {
                    name: name.clone(),
                    columns: columns.clone(),
                    query: (**query).clone(),
                };
                let mut probe = self.catalog.clone();
                probe.create_view(view.clone(), *if_not_exists)?;
                Binder::new(&probe).bind_named(name, None)?;
                self.catalog = probe;
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::CreateFunction {
                name,
                identifier,
                if_not_exists,
            } => {
                self.catalog
                    .create_function(name, identifier, *if_not_exists)?;
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::DropFunction { name, if_exists } => {
                self.catalog.drop_function(name, *if_exists)?;
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::Drop {
                view,
                name,
                if_exists,
            } => {
                self.catalog.drop(name, *view, *if_exists)?;
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::Set { pair: Some((k, v)) } => {
                self.catalog.set(k, v);
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::Set { pair: None } => Ok(Outcome::Table {
                header: vec!["key".into(), "value".into()],
                rows: self
                    .catalog
                    .options()
                    .iter()
                    .map(|(k, v)| vec![k.clone(), v.clone()])
                    .collect(),
            }),
            Statement::Reset { key } => {
                self.catalog.reset(key.as_deref());
                self.ddl.push(s.text.clone());
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            Statement::ShowTables => Ok(list("table name", self.catalog.table_names())),
            Statement::ShowViews => Ok(list("view name", self.catalog.view_names())),
            Statement::ShowFunctions => {
                // Built-in, then registered in the binary, then created in the session.
                let mut names: Vec<String> = crate::sql::functions::function_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                names.extend(
                    crate::sql::functions::udf::signatures()
                        .into_iter()
                        .map(|s| s.to_lowercase()),
                );
                names.extend(self.catalog.functions().keys().cloned());
                Ok(list("function name", names))
            }
            Statement::Describe(name) => self.describe(name),
            Statement::Explain(inner) => {
                let plan = match inner.as_ref() {
                    Statement::Insert { .. } | Statement::Query(_) => self.plan(inner)?,
                    other => {
                        return Err(SqlError::NotSupported(format!(
                            "EXPLAIN of {}",
                            statement_kind(other)
                        )))
                    }
                };
                Ok(Outcome::Explain(format!(
                    "== Optimized Physical Plan ==\n{}",
                    plan.explain()
                )))
            }
            Statement::Insert { table, .. } => {
                self.plan(&s.statement)?;
                Ok(Outcome::Job(self.job(
                    &s.text,
                    &format!("insert-into_{table}"),
                    None,
                )))
            }
            Statement::Query(_) => {
                let plan = self.plan(&s.statement)?;
                Ok(Outcome::Job(self.job(
                    &s.text,
                    "collect",
                    Some(plan.schema),
                )))
            }
        }
    }

    fn job(&self, statement: &str, default_name: &str, query: Option<Schema>) -> SqlJob {
        let mut script = String::new();
        for d in &self.ddl {
            script.push_str(d);
            script.push_str(";\n");
        }
        let last_at = script.len();
        script.push_str(statement);
        script.push_str(";\n");
        SqlJob {
            script,
            name: self
                .catalog
                .option("pipeline.name")
                .unwrap_or(default_name)
                .to_string(),
            prints_rows: query.is_some(),
            columns: query.map(|q| q.fields).unwrap_or_default(),
            last_at,
            parallelism: self
                .catalog
                .option("parallelism.default")
                .and_then(|p| p.trim().parse().ok()),
            savepoint_path: self
                .catalog
                .option("execution.savepoint.path")
                .map(str::to_string),
        }
    }

    /// The submission options a job of this session starts with.
    pub fn submit_options(job: &SqlJob) -> crate::graph::job_graph::SubmitOptions {
        crate::graph::job_graph::SubmitOptions {
            savepoint_path: job.savepoint_path.as_ref().map(Into::into),
            ..Default::default()
        }
    }

    /// The optimized plan of an `INSERT` (ending in its sink) or a query.
    pub fn plan(&self, statement: &Statement) -> Result<Plan, SqlError> {
        let binder = Binder::new(&self.catalog);
        match statement {
            Statement::Insert {
                table,
                columns,
                query,
                overwrite,
            } => {
                if *overwrite {
                    return Err(SqlError::NotSupported(
                        "INSERT OVERWRITE on a stream".into(),
                    ));
                }
                let sink = self.catalog.table(table)?;
                let (plan, _) = binder.bind_query(query)?;
                let plan = self.optimize(plan)?;
                let target = sink.physical_schema();
                let plan = conform(plan, &target, columns, &sink.name)?;
                crate::connectors::check_sink_mode(&sink, plan.mode)?;
                let schema = plan.schema.clone();
                let mode = plan.mode;
                Ok(Plan {
                    node: Node::Sink {
                        input: Box::new(plan),
                        table: sink,
                    },
                    schema,
                    mode,
                })
            }
            Statement::Query(q) => {
                let (plan, _) = binder.bind_query(q)?;
                self.optimize(plan)
            }
            other => Err(SqlError::Validation(format!(
                "{} is not a query",
                statement_kind(other)
            ))),
        }
    }

    /// The rules, as the session's options configure them.
    fn optimize(&self, plan: Plan) -> Result<Plan, SqlError> {
        let option = |k: &str| self.catalog.option(k).map(str::to_string);
        let options = crate::sql::rules::PlanOptions::from_session(&option)?;
        Ok(crate::sql::rules::apply_options(
            crate::sql::rules::optimize(plan),
            options,
        ))
    }

    fn describe(&self, name: &str) -> Result<Outcome, SqlError> {
        let binder = Binder::new(&self.catalog);
        let (plan, _) = binder.bind_named(name, None)?;
        let (watermark, pk, exprs) = match self.catalog.get(name)? {
            CatalogEntry::Table(t) => (
                t.watermark.clone(),
                t.primary_key.clone(),
                t.columns
                    .iter()
                    .map(|c| match &c.kind {
                        crate::sql::statement::ColumnKind::Computed(e) => format!("AS {e}"),
                        crate::sql::statement::ColumnKind::Metadata {
                            key, is_virtual, ..
                        } => format!(
                            "METADATA{}{}",
                            key.as_ref()
                                .map(|k| format!(" FROM '{k}'"))
                                .unwrap_or_default(),
                            if *is_virtual { " VIRTUAL" } else { "" }
                        ),
                        _ => String::new(),
                    })
                    .collect::<Vec<_>>(),
            ),
            CatalogEntry::View(_) => (None, vec![], vec![String::new(); plan.schema.len()]),
        };
        let rows = plan
            .schema
            .fields
            .iter()
            .zip(exprs)
            .map(|(f, extra)| {
                let key = pk.iter().any(|k| k.eq_ignore_ascii_case(&f.name));
                let wm = watermark
                    .as_ref()
                    .filter(|(c, _)| c.eq_ignore_ascii_case(&f.name))
                    .map(|(_, e)| e.to_string())
                    .unwrap_or_default();
                vec![
                    f.name.clone(),
                    type_text(f),
                    if f.nullable && !key { "TRUE" } else { "FALSE" }.to_string(),
                    if key {
                        format!("PRI({})", pk.join(", "))
                    } else {
                        String::new()
                    },
                    extra,
                    wm,
                ]
            })
            .collect();
        Ok(Outcome::Table {
            header: ["name", "type", "null", "key", "extras", "watermark"]
                .map(String::from)
                .to_vec(),
            rows,
        })
    }
}

fn type_text(f: &Field) -> String {
    match f.time {
        Some(crate::sql::types::TimeAttribute::Rowtime) => format!("{} *ROWTIME*", f.data_type),
        Some(crate::sql::types::TimeAttribute::Proctime) => format!("{} *PROCTIME*", f.data_type),
        None => f.data_type.to_string(),
    }
}

fn list(header: &str, names: Vec<String>) -> Outcome {
    Outcome::Table {
        header: vec![header.into()],
        rows: names.into_iter().map(|n| vec![n]).collect(),
    }
}

fn statement_kind(s: &Statement) -> &'static str {
    match s {
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView { .. } => "CREATE VIEW",
        Statement::Drop { .. } => "DROP",
        Statement::CreateFunction { .. } => "CREATE FUNCTION",
        Statement::DropFunction { .. } => "DROP FUNCTION",
        Statement::Insert { .. } => "INSERT",
        Statement::Query(_) => "a query",
        Statement::Set { .. } => "SET",
        Statement::Reset { .. } => "RESET",
        Statement::Explain(_) => "EXPLAIN",
        Statement::ShowTables | Statement::ShowViews | Statement::ShowFunctions => "SHOW",
        Statement::Describe(_) => "DESCRIBE",
    }
}

/// The query's rows shaped as the sink's physical columns: named target columns placed,
/// others `NULL`, types widened where SQL widens implicitly; anything else is an error naming
/// the column and both types.
fn conform(plan: Plan, target: &Schema, columns: &[String], sink: &str) -> Result<Plan, SqlError> {
    use crate::sql::expr::Expr;
    let n = plan.schema.len();
    let positions: Vec<Option<usize>> = if columns.is_empty() {
        if n != target.len() {
            return Err(SqlError::Validation(format!(
                "Column types of query result and sink for '{sink}' do not match: the query has {n} columns ({}), the sink {} ({})",
                plan.schema.names(),
                target.len(),
                target.names()
            )));
        }
        (0..n).map(Some).collect()
    } else {
        if columns.len() != n {
            return Err(SqlError::Validation(format!(
                "INSERT INTO {sink} names {} columns but the query has {n}",
                columns.len()
            )));
        }
        let mut pos = vec![None; target.len()];
        for (i, c) in columns.iter().enumerate() {
            let t = target
                .fields
                .iter()
                .position(|f| f.name.eq_ignore_ascii_case(c))
                .ok_or_else(|| SqlError::UnknownColumn {
                    name: c.clone(),
                    known: target.names(),
                })?;
            pos[t] = Some(i);
        }
        pos
    };
    let mut exprs = Vec::with_capacity(target.len());
    for (f, p) in target.fields.iter().zip(&positions) {
        let e = match p {
            None => Expr::Literal(crate::sql::types::Value::Null, f.data_type.clone()),
            Some(i) => {
                let from = plan.schema.fields[*i].data_type.clone();
                let col = Expr::column(*i, &plan.schema.fields[*i].name, from.clone());
                if from == f.data_type || from == DataType::Null {
                    col
                } else if implicit(&from, &f.data_type) {
                    Expr::Cast(Box::new(col), f.data_type.clone())
                } else {
                    return Err(SqlError::Type(format!(
                        "Column types of query result and sink for '{sink}' do not match: column '{}' is {} in the sink but the query gives {from}",
                        f.name, f.data_type
                    )));
                }
            }
        };
        exprs.push(e);
    }
    let mode = plan.mode;
    let identity = positions.iter().enumerate().all(|(i, p)| *p == Some(i))
        && exprs.iter().all(|e| matches!(e, Expr::Column { .. }));
    if identity {
        return Ok(plan);
    }
    let mut projected = crate::sql::bind::aggregate::project(plan, exprs)?;
    for (f, t) in projected.schema.fields.iter_mut().zip(&target.fields) {
        f.name = t.name.clone();
    }
    projected.mode = mode;
    Ok(projected)
}

/// Whether `from` widens to `to` without an explicit cast (Flink's implicit casts).
fn implicit(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    let rank = |t: &DataType| match t {
        T::TinyInt => Some(1),
        T::SmallInt => Some(2),
        T::Int => Some(3),
        T::BigInt => Some(4),
        T::Float => Some(5),
        T::Double => Some(6),
        _ => None,
    };
    match (from, to) {
        (a, b) if rank(a).is_some() && rank(b).is_some() => rank(a) <= rank(b),
        (T::Decimal { .. }, T::Decimal { .. }) | (T::Decimal { .. }, T::Double) => true,
        (a, T::Decimal { .. }) if a.is_integer() => true,
        (
            T::Timestamp { .. } | T::TimestampLtz { .. },
            T::Timestamp { .. } | T::TimestampLtz { .. },
        ) => true,
        (_, T::String) => false,
        _ => false,
    }
}

/// A schema's changelog mode as Flink names it.
pub fn mode_name(mode: ChangelogMode) -> &'static str {
    mode.flink_notation()
}
