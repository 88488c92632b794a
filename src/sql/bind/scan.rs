//! Binding a table's scan: its computed columns typed over its physical and metadata
//! columns, and its watermark over the whole row, which makes the watermark's column a
//! rowtime attribute.

use std::sync::Arc;

use crate::sql::bind::expr::{is_proctime, ExprBinder, Scope, ScopeColumn};
use crate::sql::catalog::TableDef;
use crate::sql::plan::{ChangelogMode, Node, Plan};
use crate::sql::statement::ColumnKind;
use crate::sql::types::{DataType, Schema, TimeAttribute};
use crate::sql::SqlError;

/// The scan of `table`: every column, computed ones evaluated, the watermark assigned.
pub fn bind_scan(table: Arc<TableDef>) -> Result<Plan, SqlError> {
    let mut fields: Vec<_> = table.columns.iter().map(|c| c.field.clone()).collect();
    // Computed columns see the physical and metadata columns only (as in Flink), at their
    // positions in the full row.
    let base = Scope {
        columns: table
            .columns
            .iter()
            .map(|c| ScopeColumn {
                qualifier: Some(table.name.clone()),
                field: match c.kind {
                    ColumnKind::Computed(_) => {
                        let mut f = c.field.clone();
                        // Unnameable: a computed column may not refer to another.
                        f.name = String::new();
                        f
                    }
                    _ => c.field.clone(),
                },
            })
            .collect(),
    };
    let binder = ExprBinder::new(&base);
    let mut computed = Vec::with_capacity(fields.len());
    for (i, c) in table.columns.iter().enumerate() {
        match &c.kind {
            ColumnKind::Computed(e) => {
                let x = binder.bind(e).map_err(|err| {
                    SqlError::Validation(format!(
                        "computed column '{}' of table '{}': {err}",
                        c.field.name, table.name
                    ))
                })?;
                fields[i].data_type = x.data_type();
                if is_proctime(&x) {
                    fields[i].time = Some(TimeAttribute::Proctime);
                    fields[i].nullable = false;
                }
                computed.push(Some(x));
            }
            _ => computed.push(None),
        }
    }
    let mut watermark = None;
    if let Some((col, e)) = &table.watermark {
        let scope = Scope::of(&fields, Some(&table.name));
        let i = scope.resolve(&[sqlparser::ast::Ident::new(col.clone())])?;
        let t = fields[i].data_type.clone();
        let ok = matches!(
            t,
            DataType::Timestamp { precision } | DataType::TimestampLtz { precision } if precision <= 3
        );
        if !ok {
            return Err(SqlError::Validation(format!(
                "Invalid data type of time field for watermark definition. The field must be of type TIMESTAMP(p) or TIMESTAMP_LTZ(p), the supported precision 'p' is from 0 to 3, but the time field type is {t}"
            )));
        }
        let x = ExprBinder::new(&scope).bind(e)?;
        if x.data_type() != t {
            return Err(SqlError::Type(format!(
                "the watermark expression {x} is {}, but its column '{}' is {t}",
                x.data_type(),
                fields[i].name
            )));
        }
        fields[i].time = Some(TimeAttribute::Rowtime);
        watermark = Some((i, x));
    }
    Ok(Plan {
        node: Node::Scan {
            table,
            computed,
            watermark,
        },
        schema: Schema::new(fields),
        mode: ChangelogMode::Append,
    })
}
