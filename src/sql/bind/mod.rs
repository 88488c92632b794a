//! The binder: statements → logical plans, resolving names against the catalog and types as
//! it goes, so that every error names what was there (the tables, the columns, the types that
//! met).

pub mod aggregate;
pub mod expr;
mod group_window;
pub mod join;
mod join_time;
pub mod literal;
mod lookup;
pub mod rank;
mod scan;
pub mod window;
mod with;

use sqlparser::ast;

use crate::sql::bind::aggregate::{bind_aggregate, project};
use crate::sql::bind::expr::{ExprBinder, Scope, ScopeColumn};
use crate::sql::catalog::{Catalog, CatalogEntry};
use crate::sql::expr::Expr;
use crate::sql::functions::udf::SessionFunctions;
use crate::sql::plan::{ChangelogMode, Node, Plan};
use crate::sql::types::{DataType, Field, Schema};
use crate::sql::SqlError;

/// Binds queries against a catalog.
pub struct Binder<'a> {
    /// The tables and views.
    pub catalog: &'a Catalog,
    /// Views being expanded (to refuse a view that names itself).
    expanding: std::cell::RefCell<Vec<String>>,
    /// The catalog's functions, resolvable while this binder lives.
    _functions: SessionFunctions,
}

impl<'a> Binder<'a> {
    /// A binder over `catalog`.
    pub fn new(catalog: &'a Catalog) -> Self {
        Self {
            catalog,
            expanding: Default::default(),
            _functions: SessionFunctions::enter(catalog.functions()),
        }
    }

    /// Binds a query; the scope names its output columns.
    pub fn bind_query(&self, q: &ast::Query) -> Result<(Plan, Scope), SqlError> {
        if let Some(with) = &q.with {
            return self.bind_with(with, q);
        }
        if q.fetch.is_some() {
            return Err(SqlError::NotSupported("FETCH (write LIMIT n)".into()));
        }
        let limit = match &q.limit_clause {
            None => None,
            Some(ast::LimitClause::LimitOffset {
                limit: Some(n),
                offset: None,
                limit_by,
            }) if limit_by.is_empty() => Some(rank::limit_count(n)?),
            Some(other) => {
                return Err(SqlError::NotSupported(format!(
                    "{} (LIMIT n without OFFSET)",
                    other.to_string().trim()
                )))
            }
        };
        let order: &[ast::OrderByExpr] = match &q.order_by {
            None => &[],
            Some(ast::OrderBy {
                kind: ast::OrderByKind::Expressions(es),
                ..
            }) => es,
            Some(other) => return Err(SqlError::NotSupported(format!("{other}"))),
        };
        let (plan, scope) = self.bind_set_expr(&q.body)?;
        match limit {
            None if order.is_empty() => Ok((plan, scope)),
            None => Err(SqlError::NotSupported(
                "ORDER BY without LIMIT on a stream (add LIMIT n for a Top-N, or sort in the sink's consumer)".into(),
            )),
            Some(n) => rank::bind_limit(plan, scope, order, n),
        }
    }

    fn bind_set_expr(&self, body: &ast::SetExpr) -> Result<(Plan, Scope), SqlError> {
        match body {
            ast::SetExpr::Select(s) => self.bind_select(s),
            ast::SetExpr::Query(q) => self.bind_query(q),
            ast::SetExpr::SetOperation {
                op: ast::SetOperator::Union,
                set_quantifier: ast::SetQuantifier::All,
                left,
                right,
            } => {
                let (l, scope) = self.bind_set_expr(left)?;
                let (r, _) = self.bind_set_expr(right)?;
                if l.schema.len() != r.schema.len() {
                    return Err(SqlError::Validation(format!(
                        "UNION ALL of {} and {} columns",
                        l.schema.len(),
                        r.schema.len()
                    )));
                }
                for (a, b) in l.schema.fields.iter().zip(&r.schema.fields) {
                    if a.data_type != b.data_type {
                        return Err(SqlError::Type(format!(
                            "UNION ALL column '{}' is {} on the left and {} on the right",
                            a.name, a.data_type, b.data_type
                        )));
                    }
                }
                let mode = if l.mode == ChangelogMode::Append && r.mode == ChangelogMode::Append {
                    ChangelogMode::Append
                } else {
                    ChangelogMode::Updating
                };
                let schema = l.schema.clone();
                let mut inputs = match l.node {
                    Node::Union { inputs } => inputs,
                    _ => vec![l],
                };
                inputs.push(r);
                let scope = Scope::of(&schema.fields, None).with_names_of(&scope);
                Ok((
                    Plan {
                        node: Node::Union { inputs },
                        schema,
                        mode,
                    },
                    scope,
                ))
            }
            ast::SetExpr::SetOperation {
                op, set_quantifier, ..
            } => Err(SqlError::NotSupported(format!(
                "{op} {set_quantifier} (only UNION ALL)"
            ))),
            ast::SetExpr::Values(v) => self.bind_values(v),
            other => Err(SqlError::NotSupported(format!("the query {other}"))),
        }
    }

    fn bind_values(&self, v: &ast::Values) -> Result<(Plan, Scope), SqlError> {
        let empty = Scope::default();
        let binder = ExprBinder::new(&empty);
        let mut rows = Vec::with_capacity(v.rows.len());
        let mut types: Vec<DataType> = Vec::new();
        for r in &v.rows {
            let row: Vec<Expr> = r
                .content
                .iter()
                .map(|e| binder.bind(e))
                .collect::<Result<_, _>>()?;
            if types.is_empty() {
                types = row.iter().map(Expr::data_type).collect();
            } else if row.len() != types.len() {
                return Err(SqlError::Validation(
                    "VALUES rows of different lengths".into(),
                ));
            } else {
                for (t, e) in types.iter_mut().zip(&row) {
                    if *t == DataType::Null {
                        *t = e.data_type();
                    } else if e.data_type() != *t && e.data_type() != DataType::Null {
                        *t = crate::sql::functions::common_type(t, &e.data_type()).ok_or_else(
                            || SqlError::Type(format!("VALUES mixes {t} and {}", e.data_type())),
                        )?;
                    }
                }
            }
            rows.push(row);
        }
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .zip(&types)
                    .map(|(e, t)| {
                        if e.data_type() == *t {
                            e
                        } else {
                            Expr::Cast(Box::new(e), t.clone())
                        }
                    })
                    .collect()
            })
            .collect();
        let fields: Vec<Field> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("EXPR${i}"), t.clone()))
            .collect();
        let schema = Schema::new(fields);
        let scope = Scope::of(&schema.fields, None);
        Ok((
            Plan {
                node: Node::Values { rows },
                schema,
                mode: ChangelogMode::Append,
            },
            scope,
        ))
    }

    fn bind_select(&self, s: &ast::Select) -> Result<(Plan, Scope), SqlError> {
        let mut where_in_join = false;
        let (mut plan, mut scope) = match s.from.as_slice() {
            [] => self.bind_values(&ast::Values {
                explicit_row: false,
                value_keyword: false,
                rows: vec![ast::Parens {
                    opening_token: ast::helpers::attached_token::AttachedToken::empty(),
                    content: vec![],
                    closing_token: ast::helpers::attached_token::AttachedToken::empty(),
                }],
            })?,
            [from] => self.bind_from(from)?,
            // `FROM a, b WHERE …` is `FROM a JOIN b ON …`: the WHERE becomes the join's
            // condition (its equalities between the sides the join's key).
            [a, b] if b.joins.is_empty() && s.selection.is_some() => {
                let join = ast::Join {
                    relation: b.relation.clone(),
                    global: false,
                    join_operator: ast::JoinOperator::Inner(ast::JoinConstraint::On(
                        s.selection.clone().unwrap_or(ast::Expr::Value(
                            ast::Value::Boolean(true).into(),
                        )),
                    )),
                };
                where_in_join = true;
                join::bind_join(self.bind_from(a)?, &join, |f| self.bind_factor(f))?
            }
            _ => {
                return Err(SqlError::NotSupported(
                    "a comma join of more than two tables, or without WHERE (write the joins with JOIN … ON)"
                        .into(),
                ))
            }
        };
        if let Some(w) = s.selection.as_ref().filter(|_| !where_in_join) {
            let p = ExprBinder::new(&scope).bind(w)?;
            if !matches!(p.data_type(), DataType::Boolean | DataType::Null) {
                return Err(SqlError::Type(format!(
                    "WHERE needs a BOOLEAN, got {} in {p}",
                    p.data_type()
                )));
            }
            plan = crate::sql::rules::filter(plan, p);
        }
        let mut items = self.select_items(&s.projection, &scope)?;
        let group_by: &[ast::Expr] = match &s.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs,
            other => return Err(SqlError::NotSupported(format!("{other}"))),
        };
        let mut having = s.having.clone();
        let windowed = group_window::rewrite(&plan, &scope, group_by, &items, having.as_ref())?;
        let windowed_keys;
        let group_by = match windowed {
            Some(w) => {
                (plan, scope, items, having) = (w.plan, w.scope, w.items, w.having);
                windowed_keys = w.group_by;
                windowed_keys.as_slice()
            }
            None => group_by,
        };
        if let Some((i, f)) = rank::rank_item(&items)? {
            if !group_by.is_empty() || having.is_some() {
                return Err(SqlError::NotSupported(
                    "ROW_NUMBER() beside GROUP BY in one SELECT (rank the aggregate in an outer query)"
                        .into(),
                ));
            }
            let f = f.clone();
            (plan, scope) = rank::bind_rank(plan, &scope, &f)?;
            let name = items[i].1.clone().unwrap_or_else(|| format!("EXPR${i}"));
            items[i] = (rank::rank_column_item(), Some(name));
        }
        let mut asts: Vec<&ast::Expr> = items.iter().map(|(e, _)| e).collect();
        if let Some(h) = &having {
            asts.push(h);
        }
        let has_agg = asts.iter().any(|e| contains_aggregate(e));
        let distinct = match &s.distinct {
            None | Some(ast::Distinct::All) => false,
            Some(ast::Distinct::Distinct) => true,
            Some(other) => return Err(SqlError::NotSupported(format!("{other}"))),
        };
        let (plan, out_scope) = if has_agg || !group_by.is_empty() {
            let bound = bind_aggregate(plan, &scope, group_by, &asts)?;
            let binder = ExprBinder {
                scope: &scope,
                agg: Some(&bound.context),
            };
            let mut plan = bound.plan;
            if let Some(h) = &having {
                let p = binder.bind(h)?;
                plan = crate::sql::rules::filter(plan, p);
            }
            let exprs = items
                .iter()
                .map(|(e, _)| binder.bind(e))
                .collect::<Result<Vec<_>, _>>()?;
            self.finish_projection(plan, exprs, &items)?
        } else {
            if having.is_some() {
                return Err(SqlError::Validation(
                    "HAVING without GROUP BY or aggregates".into(),
                ));
            }
            let binder = ExprBinder::new(&scope);
            let exprs = items
                .iter()
                .map(|(e, _)| binder.bind(e))
                .collect::<Result<Vec<_>, _>>()?;
            self.finish_projection(plan, exprs, &items)?
        };
        if distinct {
            // Over an updating input too: a row's count says when it is gone.
            let schema = plan.schema.clone();
            let keys = (0..schema.len()).collect();
            let plan = Plan {
                node: Node::Aggregate {
                    input: Box::new(plan),
                    keys,
                    aggs: vec![],
                    two_phase: false,
                    state_ttl_ms: None,
                },
                schema,
                mode: ChangelogMode::Updating,
            };
            return Ok((plan, out_scope));
        }
        Ok((plan, out_scope))
    }

    /// The `SELECT` list with wildcards expanded: each item's expression and output name.
    fn select_items(
        &self,
        items: &[ast::SelectItem],
        scope: &Scope,
    ) -> Result<Vec<(ast::Expr, Option<String>)>, SqlError> {
        let mut out = Vec::new();
        for item in items {
            match item {
                ast::SelectItem::UnnamedExpr(e) => out.push((e.clone(), None)),
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    out.push((expr.clone(), Some(alias.value.clone())))
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    return Err(SqlError::NotSupported(format!(
                        "{item} (one alias per item)"
                    )))
                }
                ast::SelectItem::Wildcard(_) => {
                    for c in &scope.columns {
                        out.push((column_ast(c), None));
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let q = kind.to_string().replace(['`', '"'], "");
                    let q = q.trim_end_matches(".*").to_string();
                    let mut any = false;
                    for c in &scope.columns {
                        if c.qualifier
                            .as_deref()
                            .is_some_and(|cq| cq.eq_ignore_ascii_case(&q))
                        {
                            out.push((column_ast(c), None));
                            any = true;
                        }
                    }
                    if !any {
                        return Err(SqlError::UnknownTable {
                            name: q,
                            known: scope
                                .columns
                                .iter()
                                .filter_map(|c| c.qualifier.clone())
                                .collect::<std::collections::BTreeSet<_>>()
                                .into_iter()
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Projects `plan` to `exprs`, naming each output column as Flink does (a column keeps its
    /// name, an alias names it, anything else is `EXPR$i`).
    fn finish_projection(
        &self,
        plan: Plan,
        exprs: Vec<Expr>,
        items: &[(ast::Expr, Option<String>)],
    ) -> Result<(Plan, Scope), SqlError> {
        let input_fields = plan.schema.fields.clone();
        let mut projected = project(plan, exprs.clone())?;
        for (i, ((e, alias), x)) in items.iter().zip(&exprs).enumerate() {
            let f = &mut projected.schema.fields[i];
            f.name = match (alias, x, e) {
                (Some(a), _, _) => a.clone(),
                (None, Expr::Column { index, .. }, _) => input_fields[*index].name.clone(),
                (None, _, ast::Expr::Identifier(id)) => id.value.clone(),
                // A field of a ROW column (`person.id`) is named by the field.
                (None, _, ast::Expr::CompoundIdentifier(ids)) if !ids.is_empty() => {
                    ids[ids.len() - 1].value.clone()
                }
                _ => format!("EXPR${i}"),
            };
        }
        let scope = Scope::of(&projected.schema.fields, None);
        Ok((projected, scope))
    }

    fn bind_from(&self, from: &ast::TableWithJoins) -> Result<(Plan, Scope), SqlError> {
        let mut bound = self.bind_factor(&from.relation)?;
        for j in &from.joins {
            bound = join::bind_join(bound, j, |f| self.bind_factor(f))?;
        }
        Ok(bound)
    }

    fn bind_factor(&self, f: &ast::TableFactor) -> Result<(Plan, Scope), SqlError> {
        match f {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                version,
                ..
            } => {
                if args.is_some() {
                    return Err(SqlError::NotSupported(format!("the table function {f}")));
                }
                if version.is_some() {
                    return Err(SqlError::NotSupported(format!(
                        "{f} outside a join (FOR SYSTEM_TIME AS OF is the right side of a lookup join)"
                    )));
                }
                let name = object_name(name);
                let (plan, scope) = self.bind_named(&name, Some(&name))?;
                Ok(aliased(plan, scope, alias.as_ref()))
            }
            ast::TableFactor::Derived {
                subquery, alias, ..
            } => {
                let (plan, scope) = self.bind_query(subquery)?;
                Ok(aliased(plan, scope, alias.as_ref()))
            }
            ast::TableFactor::TableFunction { expr, alias } => match expr {
                ast::Expr::Function(func) => {
                    let name = func.name.to_string().to_uppercase();
                    if !matches!(name.as_str(), "TUMBLE" | "HOP" | "CUMULATE" | "SESSION") {
                        return Err(SqlError::NotSupported(format!(
                            "the table function {name} (window TVFs: TUMBLE, HOP, CUMULATE, SESSION)"
                        )));
                    }
                    let a = alias.as_ref().map(|a| a.name.value.clone());
                    let (plan, scope) = window::bind_window_tvf(self, func, a.as_deref())?;
                    Ok(aliased(plan, scope, alias.as_ref()))
                }
                other => Err(SqlError::NotSupported(format!("TABLE({other})"))),
            },
            other => Err(SqlError::NotSupported(format!("FROM {other}"))),
        }
    }

    /// Binds the table or view `name`; its columns are qualified by `qualifier`.
    pub fn bind_named(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(Plan, Scope), SqlError> {
        match self.catalog.get(name)? {
            CatalogEntry::Table(t) => {
                let plan = scan::bind_scan(t.clone())?;
                let scope = Scope::of(&plan.schema.fields, qualifier);
                Ok((plan, scope))
            }
            CatalogEntry::View(v) => {
                let key = v.name.to_lowercase();
                if self.expanding.borrow().contains(&key) {
                    return Err(SqlError::Validation(format!(
                        "the view '{}' refers to itself",
                        v.name
                    )));
                }
                self.expanding.borrow_mut().push(key);
                let bound = self.bind_query(&v.query);
                self.expanding.borrow_mut().pop();
                let (mut plan, _) = bound?;
                if !v.columns.is_empty() {
                    if v.columns.len() != plan.schema.len() {
                        return Err(SqlError::Validation(format!(
                            "view '{}' names {} columns but its query has {}",
                            v.name,
                            v.columns.len(),
                            plan.schema.len()
                        )));
                    }
                    for (f, n) in plan.schema.fields.iter_mut().zip(&v.columns) {
                        f.name = n.clone();
                    }
                }
                let scope = Scope::of(&plan.schema.fields, qualifier);
                Ok((plan, scope))
            }
        }
    }
}

/// The last part of a possibly qualified name, unquoted.
pub fn object_name(n: &ast::ObjectName) -> String {
    n.0.last()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(id) => id.value.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn aliased(plan: Plan, mut scope: Scope, alias: Option<&ast::TableAlias>) -> (Plan, Scope) {
    let Some(a) = alias else {
        return (plan, scope);
    };
    let mut plan = plan;
    for (i, c) in scope.columns.iter_mut().enumerate() {
        c.qualifier = Some(a.name.value.clone());
        if let Some(n) = a.columns.get(i) {
            c.field.name = n.name.value.clone();
            plan.schema.fields[i].name = n.name.value.clone();
        }
    }
    (plan, scope)
}

fn column_ast(c: &ScopeColumn) -> ast::Expr {
    let mut id = ast::Ident::new(c.field.name.clone());
    id.quote_style = Some('`');
    match &c.qualifier {
        Some(q) => {
            let mut qi = ast::Ident::new(q.clone());
            qi.quote_style = Some('`');
            ast::Expr::CompoundIdentifier(vec![qi, id])
        }
        None => ast::Expr::Identifier(id),
    }
}

fn contains_aggregate(e: &ast::Expr) -> bool {
    let mut found = false;
    let _ = ast::visit_expressions(e, |x: &ast::Expr| {
        if let ast::Expr::Function(f) = x {
            let name = f.name.to_string().to_uppercase();
            if f.over.is_none() && aggregate::is_aggregate(&name) {
                found = true;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    found
}

impl Scope {
    /// This scope's columns renamed as `names`' (a union takes its left side's names).
    pub fn with_names_of(mut self, names: &Scope) -> Self {
        for (c, n) in self.columns.iter_mut().zip(&names.columns) {
            c.field.name = n.field.name.clone();
        }
        self
    }
}
