//! Binding window table-valued functions: `TUMBLE`, `HOP`, `CUMULATE` and `SESSION` over
//! `TABLE t`, with `DESCRIPTOR(rowtime)` and interval sizes, as Flink writes them.

use sqlparser::ast;

use crate::sql::bind::expr::Scope;
use crate::sql::bind::literal::interval_millis;
use crate::sql::bind::Binder;
use crate::sql::parser::table_argument;
use crate::sql::plan::{Node, Plan, WindowKind};
use crate::sql::types::{DataType, Field, Schema, TimeAttribute};
use crate::sql::SqlError;

/// Binds `TUMBLE(…)`, `HOP(…)`, `CUMULATE(…)` or `SESSION(…)` (the function inside
/// `FROM TABLE(…)`), named `alias` if given.
pub fn bind_window_tvf(
    binder: &Binder<'_>,
    f: &ast::Function,
    alias: Option<&str>,
) -> Result<(Plan, Scope), SqlError> {
    let name = f.name.to_string().to_uppercase();
    let args: Vec<&ast::Expr> = match &f.args {
        ast::FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(SqlError::NotSupported(format!(
                    "the argument {other} of {name} (pass arguments by position)"
                ))),
            })
            .collect::<Result<_, _>>()?,
        _ => vec![],
    };
    let usage = || {
        SqlError::Validation(format!(
            "{name} takes (TABLE t, DESCRIPTOR(rowtime), {}), got {f}",
            match name.as_str() {
                "TUMBLE" => "size [, offset]",
                "HOP" => "slide, size [, offset]",
                "CUMULATE" => "step, size",
                _ => "gap",
            }
        ))
    };
    let (table, descriptor, sizes) = match args.as_slice() {
        [t, d, rest @ ..] => (*t, *d, rest),
        _ => return Err(usage()),
    };
    let table = table_argument(table).ok_or_else(|| {
        SqlError::Validation(format!(
            "the first argument of {name} must be TABLE name, got {table}"
        ))
    })?;
    let (input, scope) = binder.bind_named(&table.name, Some(&table.name))?;
    let time_col = descriptor_column(descriptor, &scope)?;
    let proctime = time_attribute(&scope.columns[time_col].field)?;
    let sizes = sizes
        .iter()
        .map(|e| match e {
            ast::Expr::Interval(i) => interval_millis(i),
            other => Err(SqlError::Validation(format!(
                "{name} expects an interval literal, got {other}"
            ))),
        })
        .collect::<Result<Vec<i64>, _>>()?;
    let window = window_kind(&name, &sizes)?.ok_or_else(usage)?;
    let partition_by = table
        .partition_by
        .iter()
        .map(|c| scope.resolve(&[ast::Ident::new(c.clone())]))
        .collect::<Result<Vec<_>, _>>()?;
    if !partition_by.is_empty() && !matches!(window, WindowKind::Session { .. }) {
        return Err(SqlError::Validation(format!(
            "{name} takes no PARTITION BY"
        )));
    }
    let plan = window_tvf(input, window, time_col, partition_by, proctime);
    let scope = Scope::of(&plan.schema.fields, alias.or(Some(&table.name)));
    Ok((plan, scope))
}

/// Checks that `field` is a time attribute; whether it is one of processing time.
pub(super) fn time_attribute(field: &Field) -> Result<bool, SqlError> {
    match field.time {
        Some(t) => Ok(t == TimeAttribute::Proctime),
        None => Err(SqlError::Validation(format!(
            "The window function requires the timecol to be a time attribute type, but '{}' is {} (declare a WATERMARK for it, or use PROCTIME())",
            field.name, field.data_type
        ))),
    }
}

/// The window TVF node over `input`: its columns, then `window_start`, `window_end` and
/// `window_time`. Only `window_time` stays a time attribute, as in Flink.
pub(super) fn window_tvf(
    input: Plan,
    window: WindowKind,
    time_col: usize,
    partition_by: Vec<usize>,
    proctime: bool,
) -> Plan {
    let time_field = &input.schema.fields[time_col];
    let mut window_time = Field::new("window_time", time_field.data_type.clone());
    window_time.time = time_field.time;
    let mut fields = input.schema.fields.clone();
    fields.push(Field::new(
        "window_start",
        DataType::Timestamp { precision: 3 },
    ));
    fields.push(Field::new(
        "window_end",
        DataType::Timestamp { precision: 3 },
    ));
    fields.push(window_time);
    for f in fields.iter_mut().take(input.schema.len()) {
        f.time = None;
    }
    let mode = input.mode;
    Plan {
        node: Node::WindowTvf {
            input: Box::new(input),
            window,
            time_col,
            partition_by,
            proctime,
        },
        schema: Schema::new(fields),
        mode,
    }
}

/// The windows `name` (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`) makes of `sizes` (in
/// milliseconds); `None` when the sizes do not fit the function.
pub(super) fn window_kind(name: &str, sizes: &[i64]) -> Result<Option<WindowKind>, SqlError> {
    let positive = |what: &str, v: i64| {
        if v > 0 {
            Ok(v)
        } else {
            Err(SqlError::Validation(format!(
                "{name}'s {what} must be positive, got {v} ms"
            )))
        }
    };
    let window = match (name, sizes) {
        ("TUMBLE", [size]) => WindowKind::Tumble {
            size: positive("size", *size)?,
            offset: 0,
        },
        ("TUMBLE", [size, offset]) => WindowKind::Tumble {
            size: positive("size", *size)?,
            offset: *offset,
        },
        ("HOP", [slide, size]) => WindowKind::Hop {
            slide: positive("slide", *slide)?,
            size: positive("size", *size)?,
            offset: 0,
        },
        ("HOP", [slide, size, offset]) => WindowKind::Hop {
            slide: positive("slide", *slide)?,
            size: positive("size", *size)?,
            offset: *offset,
        },
        ("CUMULATE", [step, size]) => {
            let (step, size) = (positive("step", *step)?, positive("size", *size)?);
            if size % step != 0 {
                return Err(SqlError::Validation(format!(
                    "CUMULATE's max size ({size} ms) must be a multiple of its step ({step} ms)"
                )));
            }
            WindowKind::Cumulate { step, size }
        }
        ("SESSION", [gap]) => WindowKind::Session {
            gap: positive("gap", *gap)?,
        },
        _ => return Ok(None),
    };
    if let WindowKind::Hop { slide, size, .. } = window {
        if size % slide != 0 {
            return Err(SqlError::Validation(format!(
                "HOP's size ({size} ms) must be a multiple of its slide ({slide} ms)"
            )));
        }
    }
    Ok(Some(window))
}

fn descriptor_column(e: &ast::Expr, scope: &Scope) -> Result<usize, SqlError> {
    if let ast::Expr::Function(f) = e {
        if f.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") {
            if let ast::FunctionArguments::List(l) = &f.args {
                if let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(c))] =
                    l.args.as_slice()
                {
                    let parts = match c {
                        ast::Expr::Identifier(id) => vec![id.clone()],
                        ast::Expr::CompoundIdentifier(ids) => ids.clone(),
                        _ => vec![],
                    };
                    if !parts.is_empty() {
                        return scope.resolve(&parts);
                    }
                }
            }
        }
    }
    Err(SqlError::Validation(format!(
        "expected DESCRIPTOR(rowtime_column), got {e}"
    )))
}
