//! Binding `GROUP BY` and aggregate calls: a projection computes the keys and the
//! aggregates' arguments, an aggregate node (windowed when the input is a window TVF grouped by
//! `window_start, window_end`, else an unbounded, updating one) computes them, and the
//! `SELECT` list and `HAVING` are bound over its output, where only grouped expressions and
//! aggregate calls may be named.

use sqlparser::ast;

use crate::sql::bind::expr::{is_proctime, normalized, ExprBinder, Scope};
use crate::sql::expr::Expr;
use crate::sql::plan::{AggCall, AggFunc, ChangelogMode, Node, Plan, WindowProperty};
use crate::sql::types::{DataType, Field, Schema, TimeAttribute};
use crate::sql::SqlError;

/// Whether `name` (upper case) is an aggregate function.
pub fn is_aggregate(name: &str) -> bool {
    matches!(name, "COUNT" | "SUM" | "MIN" | "MAX" | "AVG")
}

/// What the output of an aggregate offers to the `SELECT` list and `HAVING` bound over it.
pub struct AggContext {
    /// `(normalized GROUP BY item, its input column if a plain column, its output column)`.
    groups: Vec<(String, Option<usize>, Expr)>,
    /// `(normalized aggregate call, its output column)`.
    calls: Vec<(String, Expr)>,
}

impl AggContext {
    /// The output column `e` names, if it is a grouped expression or an aggregate call; an
    /// error if it names an input column that is not grouped.
    pub fn lookup(&self, e: &ast::Expr, input: &Scope) -> Result<Option<Expr>, SqlError> {
        let key = normalized(e);
        if let Some((_, x)) = self.calls.iter().find(|(k, _)| *k == key) {
            return Ok(Some(x.clone()));
        }
        if let Some((_, _, x)) = self.groups.iter().find(|(k, _, _)| *k == key) {
            return Ok(Some(x.clone()));
        }
        let parts = match e {
            ast::Expr::Identifier(id) => std::slice::from_ref(id),
            ast::Expr::CompoundIdentifier(ids) => ids.as_slice(),
            _ => return Ok(None),
        };
        let i = input.resolve(parts)?;
        match self.groups.iter().find(|(_, c, _)| *c == Some(i)) {
            Some((_, _, x)) => Ok(Some(x.clone())),
            None => Err(SqlError::Validation(format!(
                "Expression '{e}' is not being grouped"
            ))),
        }
    }
}

/// One aggregate call found in a `SELECT` list or `HAVING`, bound over the input.
struct FoundCall {
    key: String,
    func: AggFunc,
    distinct: bool,
    arg: Option<Expr>,
    filter: Option<Expr>,
}

/// Collects the aggregate calls of `e` into `out` (each once).
fn collect_calls(e: &ast::Expr, scope: &Scope, out: &mut Vec<FoundCall>) -> Result<(), SqlError> {
    let mut err = None;
    let _ = ast::visit_expressions(e, |x: &ast::Expr| {
        if let ast::Expr::Function(f) = x {
            let name = f.name.to_string().replace(['`', '"'], "").to_uppercase();
            if f.over.is_none() && is_aggregate(&name) {
                match found_call(f, &name, scope) {
                    Ok(c) => {
                        if !out.iter().any(|o| o.key == c.key) {
                            out.push(c);
                        }
                    }
                    Err(e) => err = Some(e),
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    err.map_or(Ok(()), Err)
}

fn found_call(f: &ast::Function, name: &str, scope: &Scope) -> Result<FoundCall, SqlError> {
    let key = normalized(&ast::Expr::Function(f.clone()));
    let binder = ExprBinder::new(scope);
    let (args, distinct) = match &f.args {
        ast::FunctionArguments::List(l) => (
            l.args.as_slice(),
            matches!(
                l.duplicate_treatment,
                Some(ast::DuplicateTreatment::Distinct)
            ),
        ),
        _ => (&[][..], false),
    };
    let (func, arg) = match (name, args) {
        ("COUNT", [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)]) | ("COUNT", []) => {
            (AggFunc::CountStar, None)
        }
        (_, [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a))]) => {
            let func = match name {
                "COUNT" => AggFunc::Count,
                "SUM" => AggFunc::Sum,
                "MIN" => AggFunc::Min,
                "MAX" => AggFunc::Max,
                _ => AggFunc::Avg,
            };
            (func, Some(binder.bind(a)?))
        }
        _ => {
            return Err(SqlError::Validation(format!(
                "{name} takes one argument, got {}",
                ast::Expr::Function(f.clone())
            )))
        }
    };
    if let Some(a) = &arg {
        let t = a.data_type();
        let numeric = t.is_numeric();
        if matches!(func, AggFunc::Sum | AggFunc::Avg) && !numeric {
            return Err(SqlError::Type(format!(
                "{name} needs a numeric argument, got {t} in {a}"
            )));
        }
    }
    let filter = match &f.filter {
        None => None,
        Some(w) => {
            let x = binder.bind(w)?;
            if !matches!(x.data_type(), DataType::Boolean) {
                return Err(SqlError::Type(format!(
                    "FILTER (WHERE …) needs a BOOLEAN, got {}",
                    x.data_type()
                )));
            }
            Some(x)
        }
    };
    Ok(FoundCall {
        key,
        func,
        distinct,
        arg,
        filter,
    })
}

/// The result type of `func` over `arg` (Flink's rules: `SUM` and `AVG` keep an integer
/// argument's type; a `DECIMAL` sum widens to precision 38).
pub fn result_type(func: AggFunc, arg: &DataType) -> DataType {
    match (func, arg) {
        (AggFunc::CountStar | AggFunc::Count, _) => DataType::BigInt,
        (AggFunc::Sum, DataType::Decimal { scale, .. }) => DataType::Decimal {
            precision: 38,
            scale: *scale,
        },
        (AggFunc::Avg, DataType::Decimal { scale, .. }) => DataType::Decimal {
            precision: 38,
            scale: (*scale).max(6),
        },
        (AggFunc::Sum | AggFunc::Avg, DataType::Float) => DataType::Double,
        (_, t) => t.clone(),
    }
}

/// A bound aggregate query: the node computing keys and aggregates, and how its output is named.
pub struct BoundAggregate {
    /// The aggregate node (its output: keys, window properties, aggregates).
    pub plan: Plan,
    /// What the `SELECT` list and `HAVING` may name.
    pub context: AggContext,
}

/// The windowing of the aggregate's input, when it is a window TVF.
pub struct WindowInput {
    /// The TVF's input (the aggregate is computed over it).
    pub base: Plan,
    /// The TVF node's fields besides the base's (`window_start`, `window_end`, `window_time`)
    /// start here in the scope.
    pub first_window_column: usize,
    /// The TVF (to rebuild a fused node).
    pub window: crate::sql::plan::WindowKind,
    /// Its rowtime column.
    pub time_col: usize,
    /// `PARTITION BY` columns of a session.
    pub partition_by: Vec<usize>,
    /// Windows of processing time.
    pub proctime: bool,
}

/// Where a `GROUP BY` item goes in the aggregate's output: a plain key (its position among
/// the keys) or a window property.
type KeySlot = Result<usize, WindowProperty>;

/// Binds the aggregate of `input` (whose columns `scope` names) grouped by `group_by`, with the
/// calls found in `exprs`.
pub fn bind_aggregate(
    input: Plan,
    scope: &Scope,
    group_by: &[ast::Expr],
    exprs: &[&ast::Expr],
) -> Result<BoundAggregate, SqlError> {
    // An unbounded aggregate takes retractions; windows are of append-only rows, as Flink's.
    if input.mode != ChangelogMode::Append && window_input(&input).is_some() {
        return Err(SqlError::NotSupported(
            "a window aggregate over an updating input".into(),
        ));
    }
    let binder = ExprBinder::new(scope);
    let keys: Vec<Expr> = group_by
        .iter()
        .map(|g| binder.bind(g))
        .collect::<Result<_, _>>()?;
    let mut calls = Vec::new();
    for e in exprs {
        collect_calls(e, scope, &mut calls)?;
    }
    let window = window_input(&input);
    let (plain_keys, properties, slots) = split_keys(&keys, window.as_ref());
    let (pre, agg_calls) = pre_projection(&plain_keys, &calls);
    let mut fields: Vec<Field> = plain_keys
        .iter()
        .enumerate()
        .map(|(i, k)| match k {
            Expr::Column { index, .. } => {
                let mut f = scope.columns[*index].field.clone();
                f.time = None;
                f
            }
            other => Field::new(format!("$f{i}"), other.data_type()),
        })
        .collect();
    let nkeys = fields.len();
    let fused = window.filter(|_| {
        properties.contains(&WindowProperty::Start) && properties.contains(&WindowProperty::End)
    });
    let (node, mode) = match fused {
        Some(w) => {
            check_window_grouping(&w, &plain_keys, &pre)?;
            fields.extend(property_fields(&w, &properties));
            let node = Node::WindowAggregate {
                input: Box::new(project(w.base, pre)?),
                window: w.window,
                time_col: w.time_col,
                keys: (0..nkeys).collect(),
                properties: properties.clone(),
                aggs: agg_calls.clone(),
                proctime: w.proctime,
            };
            (node, ChangelogMode::Append)
        }
        None => {
            if keys.len() != plain_keys.len() {
                return Err(SqlError::NotSupported(
                    "grouping by window columns without both window_start and window_end of one window TVF".into(),
                ));
            }
            let node = Node::Aggregate {
                input: Box::new(project(input, pre)?),
                keys: (0..nkeys).collect(),
                aggs: agg_calls.clone(),
                two_phase: false,
                state_ttl_ms: None,
            };
            (node, ChangelogMode::Updating)
        }
    };
    let first_agg = fields.len();
    for (i, a) in agg_calls.iter().enumerate() {
        let mut f = Field::new(format!("EXPR${i}"), a.data_type.clone());
        f.nullable = !matches!(a.func, AggFunc::Count | AggFunc::CountStar);
        fields.push(f);
    }
    let schema = Schema::new(fields);
    let col = |i: usize| {
        Expr::column(
            i,
            &schema.fields[i].name,
            schema.fields[i].data_type.clone(),
        )
    };
    let groups = group_by
        .iter()
        .zip(&keys)
        .zip(&slots)
        .map(|((g, k), slot)| {
            let input_col = match k {
                Expr::Column { index, .. } => Some(*index),
                _ => None,
            };
            let out = match slot {
                Ok(i) => col(*i),
                Err(p) => col(nkeys + properties.iter().position(|q| q == p).unwrap_or(0)),
            };
            (normalized(g), input_col, out)
        })
        .collect();
    let context = AggContext {
        groups,
        calls: calls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.clone(), col(first_agg + i)))
            .collect(),
    };
    Ok(BoundAggregate {
        plan: Plan { node, schema, mode },
        context,
    })
}

/// The `GROUP BY` keys split into plain keys and the window properties they name (each once,
/// in the order named), with where each item goes.
fn split_keys(
    keys: &[Expr],
    window: Option<&WindowInput>,
) -> (Vec<Expr>, Vec<WindowProperty>, Vec<KeySlot>) {
    let (mut plain, mut properties, mut slots) = (Vec::new(), Vec::new(), Vec::new());
    for k in keys {
        let property = match (window, k) {
            (Some(w), Expr::Column { index, .. }) if *index >= w.first_window_column => {
                Some(match index - w.first_window_column {
                    0 => WindowProperty::Start,
                    1 => WindowProperty::End,
                    _ => WindowProperty::Time,
                })
            }
            _ => None,
        };
        match property {
            Some(p) => {
                slots.push(Err(p));
                if !properties.contains(&p) {
                    properties.push(p);
                }
            }
            None => {
                slots.push(Ok(plain.len()));
                plain.push(k.clone());
            }
        }
    }
    (plain, properties, slots)
}

/// The projection below the aggregate (the keys, then each call's argument and filter) and
/// the calls over its columns.
fn pre_projection(keys: &[Expr], calls: &[FoundCall]) -> (Vec<Expr>, Vec<AggCall>) {
    let mut pre: Vec<Expr> = keys.to_vec();
    let mut agg_calls = Vec::with_capacity(calls.len());
    for c in calls {
        let mut column_of = |e: &Option<Expr>| {
            e.as_ref().map(|e| {
                pre.push(e.clone());
                pre.len() - 1
            })
        };
        let arg = column_of(&c.arg);
        let filter = column_of(&c.filter);
        let arg_type = c.arg.as_ref().map_or(DataType::BigInt, Expr::data_type);
        agg_calls.push(AggCall {
            func: c.func,
            arg,
            arg_type: arg_type.clone(),
            distinct: c.distinct,
            filter,
            data_type: result_type(c.func, &arg_type),
        });
    }
    (pre, agg_calls)
}

/// Refuses what a window aggregate cannot compute: window columns inside the keys or the
/// aggregates' arguments, and a session whose `PARTITION BY` is not its keys.
fn check_window_grouping(w: &WindowInput, keys: &[Expr], pre: &[Expr]) -> Result<(), SqlError> {
    for e in pre {
        let mut cols = Vec::new();
        e.columns(&mut cols);
        if cols.iter().any(|c| *c >= w.first_window_column) {
            return Err(SqlError::NotSupported(format!(
                "the window columns inside an aggregate's argument or a computed key ({e})"
            )));
        }
    }
    if let crate::sql::plan::WindowKind::Session { .. } = w.window {
        let mut keyed: Vec<usize> = keys
            .iter()
            .filter_map(|k| match k {
                Expr::Column { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        keyed.sort_unstable();
        let mut part = w.partition_by.clone();
        part.sort_unstable();
        if keyed != part || keyed.len() != keys.len() {
            return Err(SqlError::NotSupported(
                "a SESSION window whose PARTITION BY columns differ from its GROUP BY keys".into(),
            ));
        }
    }
    Ok(())
}

/// The output fields of the window properties: `window_start`, `window_end` (`TIMESTAMP(3)`)
/// and `window_time` (a rowtime of the descriptor's type).
fn property_fields(w: &WindowInput, properties: &[WindowProperty]) -> Vec<Field> {
    let time_field = &w.base.schema.fields[w.time_col];
    let time_type = time_field.data_type.clone();
    properties
        .iter()
        .map(|p| match p {
            WindowProperty::Start => {
                Field::new("window_start", DataType::Timestamp { precision: 3 })
            }
            WindowProperty::End => Field::new("window_end", DataType::Timestamp { precision: 3 }),
            WindowProperty::Time => {
                let mut f = Field::new("window_time", time_type.clone());
                f.time = time_field.time;
                f
            }
        })
        .collect()
}

/// The window TVF directly under an aggregate, if it is one.
fn window_input(input: &Plan) -> Option<WindowInput> {
    match &input.node {
        Node::WindowTvf {
            input: base,
            window,
            time_col,
            partition_by,
            proctime,
        } => Some(WindowInput {
            proctime: *proctime,
            first_window_column: base.schema.len(),
            base: (**base).clone(),
            window: *window,
            time_col: *time_col,
            partition_by: partition_by.clone(),
        }),
        _ => None,
    }
}

/// `input` projected to `exprs` (names `$f0…`; a plain column keeps its field).
pub fn project(input: Plan, exprs: Vec<Expr>) -> Result<Plan, SqlError> {
    let fields = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| match e {
            Expr::Column { index, .. } => input.schema.fields[*index].clone(),
            other => {
                let mut f = Field::new(format!("$f{i}"), other.data_type());
                if is_proctime(other) {
                    f.time = Some(TimeAttribute::Proctime);
                    f.nullable = false;
                }
                f
            }
        })
        .collect();
    let mode = input.mode;
    Ok(Plan {
        node: Node::Project {
            input: Box::new(input),
            exprs,
        },
        schema: Schema::new(fields),
        mode,
    })
}
