//! The `print` and `blackhole` sink connectors.

use std::io::Write;
use std::sync::Arc;

use crate::api::{DataStream, SinkFunction};
use crate::data::UserError;
use crate::operators::RuntimeContext;
use crate::sql::catalog::TableDef;
use crate::sql::functions;
use crate::sql::types::{DataType, Row, Schema, Value};
use crate::sql::SqlError;

/// Prints rows as Flink's `print` connector does: `[identifier:][subtask> ]+I[a, b]`. With
/// `'format' = 'json'` (Rill's, what `rill sql --json` sets for a query) a row is a line of
/// changelog JSON, `{"op":"+I","data":{"a":1,"b":"x"}}`, without a prefix.
pub fn print_sink(
    table: &Arc<TableDef>,
    schema: &Schema,
    stream: DataStream<Row>,
) -> Result<(), SqlError> {
    let json = match table.option("format") {
        None => None,
        Some("json") => Some(crate::connectors::format::encoder(table, schema)?),
        Some(other) => {
            return Err(SqlError::Connector {
                table: table.name.clone(),
                message: format!("the print connector's format '{other}' (formats: json)"),
            })
        }
    };
    let sink = PrintRows {
        json,
        identifier: table.option("print-identifier").map(str::to_string),
        types: schema
            .fields
            .iter()
            .map(|f| f.data_type.clone())
            .collect::<Vec<_>>()
            .into(),
        prefix: String::new(),
        standard_error: table.option("standard-error") == Some("true"),
    };
    stream
        .add_sink(&format!("Sink: {}", table.name), sink)
        .name(&format!("Sink: {}[print]", table.name));
    Ok(())
}

/// A row as the `print` connector shows it: `+I[a, b]` (`NULL` for nulls).
pub fn print_row(row: &Row, types: &[DataType]) -> String {
    let fields: Vec<String> = row
        .values
        .iter()
        .zip(types)
        .map(|(v, t)| match v {
            Value::Null => "NULL".to_string(),
            Value::Str(s) => s.to_string(),
            v => functions::to_text(v, t),
        })
        .collect();
    format!("{}[{}]", row.kind.short(), fields.join(", "))
}

#[derive(Clone)]
struct PrintRows {
    /// Rows as JSON objects, for changelog JSON lines.
    json: Option<crate::connectors::format::LineEncoder>,
    identifier: Option<String>,
    types: Arc<[DataType]>,
    prefix: String,
    standard_error: bool,
}

impl SinkFunction<Row> for PrintRows {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        let subtask = if ctx.parallelism > 1 {
            format!("{}> ", ctx.subtask_index + 1)
        } else {
            String::new()
        };
        self.prefix = match &self.identifier {
            Some(id) => format!("{id}:{subtask}"),
            None => subtask,
        };
        Ok(())
    }

    fn invoke(&mut self, row: Row) -> Result<(), UserError> {
        self.invoke_batch(vec![row])
    }

    fn invoke_batch(&mut self, rows: Vec<Row>) -> Result<(), UserError> {
        let mut text = String::new();
        for r in &rows {
            match &self.json {
                Some(encode) => {
                    text.push_str("{\"op\":\"");
                    text.push_str(r.kind.short());
                    text.push_str("\",\"data\":");
                    text.push_str(&encode(r));
                    text.push('}');
                }
                None => {
                    text.push_str(&self.prefix);
                    text.push_str(&print_row(r, &self.types));
                }
            }
            text.push('\n');
        }
        if self.standard_error {
            std::io::stderr().lock().write_all(text.as_bytes())?;
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Discards rows (the `blackhole` connector).
#[derive(Clone, Copy, Debug)]
pub struct Blackhole;

impl SinkFunction<Row> for Blackhole {
    fn invoke(&mut self, _row: Row) -> Result<(), UserError> {
        Ok(())
    }

    fn invoke_batch(&mut self, _rows: Vec<Row>) -> Result<(), UserError> {
        Ok(())
    }
}
