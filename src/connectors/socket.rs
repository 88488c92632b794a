//! The `socket` connector (Flink's, for demos and tests): one subtask connects to
//! `hostname`:`port` and reads lines in `format` (`csv`, `json` or `raw`) until the peer
//! closes the connection, which ends the table. `byte-delimiter` is the line break, `10` (the
//! only one supported). A line that does not decode fails the job, naming it; with
//! `csv.ignore-parse-errors` (or `json.…`) it is skipped and counted, the count logged at the
//! first skipped line, each time it doubles, and at the end.

use std::sync::Arc;

use crate::api::{Collector, DataStream, ProcessContext, ProcessFunction, StreamEnv};
use crate::connectors::format::{decoder, LineDecoder};
use crate::connectors::{required, RowLayout};
use crate::data::UserError;
use crate::sql::catalog::TableDef;
use crate::sql::types::Row;
use crate::sql::SqlError;

/// The rows of the lines read from the table's socket.
pub fn source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    layout: RowLayout,
) -> Result<DataStream<Row>, SqlError> {
    let bad = |message: String| SqlError::Connector {
        table: table.name.clone(),
        message,
    };
    let host = required(table, "hostname")?;
    let port_text = required(table, "port")?;
    let port: u16 = port_text
        .trim()
        .parse()
        .map_err(|_| bad(format!("'port' = '{port_text}' is not a port number")))?;
    match table.option("byte-delimiter") {
        None | Some("10") => {}
        Some(other) => {
            return Err(SqlError::NotSupported(format!(
                "'byte-delimiter' = '{other}' (lines end with 10, '\\n')"
            )))
        }
    }
    let skip = table.option("csv.ignore-parse-errors") == Some("true")
        || table.option("json.ignore-parse-errors") == Some("true");
    let decode = DecodeLines {
        decode: decoder(table, &layout)?,
        skip,
        skipped: 0,
        table: table.name.clone(),
    };
    Ok(env
        .socket_text_stream(host, port)
        .process(decode)
        .name(&format!(
            "Decode({})",
            table.option("format").unwrap_or("?")
        )))
}

/// Decodes each line into a row, failing or skipping a bad one.
#[derive(Clone)]
struct DecodeLines {
    decode: LineDecoder,
    skip: bool,
    skipped: u64,
    table: String,
}

impl ProcessFunction<String, Row> for DecodeLines {
    fn process_element(
        &mut self,
        line: String,
        _ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        match (self.decode)(&line) {
            Ok(row) => out.collect(row),
            Err(e) if self.skip => {
                self.skipped += 1;
                if self.skipped.is_power_of_two() {
                    tracing::warn!(table = %self.table, skipped = self.skipped, error = %e, "skipped lines that do not decode");
                }
            }
            Err(e) => {
                return Err(format!(
                    "table '{}': the line {line:?} does not decode: {e}",
                    self.table
                )
                .into())
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), UserError> {
        if self.skipped > 0 {
            tracing::warn!(table = %self.table, skipped = self.skipped, "skipped lines that do not decode");
        }
        Ok(())
    }
}
