//! The `filesystem` connector: reads a file, or every visible file of a directory (of a
//! partitioned table: of its partition directories), as lines of its format, each file split
//! across the source's subtasks by byte ranges; writes part files into its `path` directory
//! (its partitions' directories) through the two-phase-commit file sink, so what a checkpoint
//! committed is there exactly once.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{DataStream, StreamEnv};
use crate::connectors::format::{decoder, encoder, flat_json_decoder, FlatDecoder, LineDecoder};
use crate::connectors::partitions::{partition_files, partitioned_sink, rolling_policy};
use crate::connectors::{required, RowLayout};
use crate::eventtime::WatermarkStrategy;
use crate::operators::sources::DecodePolicy;
use crate::operators::two_phase::TwoPhaseCommitFileSink;
use crate::sql::catalog::TableDef;
use crate::sql::types::{DataType, Row, Schema};
use crate::sql::SqlError;

/// The rows of the table's files, each file's given its own timestamps and watermarks by
/// `watermarks` (if the table has a watermark).
pub fn source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    layout: RowLayout,
    watermarks: Option<&WatermarkStrategy<Row>>,
) -> Result<DataStream<Row>, SqlError> {
    let files = decoded_files(table, &layout)?.into_iter().map(|(f, d)| {
        let parse: FlatDecoder = Arc::new(move |line: &str| d(line).map(Some));
        (f, parse)
    });
    Ok(union_of_files(env, table, files, watermarks))
}

/// The rows of a [`FlatScan`](super::FlatScan) of the table's files (an unpartitioned `json`
/// table, see [`super::reads_fields`]): each line read straight into the scan's row, the
/// lines its pushed filters drop left out; watermarks per file as in [`source`].
pub fn flat_source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    layout: RowLayout,
    watermarks: Option<&WatermarkStrategy<Row>>,
) -> Result<DataStream<Row>, SqlError> {
    let decode = flat_json_decoder(table, &layout);
    let files = files(table)?.into_iter().map(|f| (f, decode.clone()));
    Ok(union_of_files(env, table, files, watermarks))
}

/// The union of `files`' rows, each file read by its own source with its parser and given
/// its own watermarks; a line that does not decode fails the job, or is skipped with
/// `*.ignore-parse-errors`.
fn union_of_files(
    env: &StreamEnv,
    table: &TableDef,
    files: impl Iterator<Item = (PathBuf, FlatDecoder)>,
    watermarks: Option<&WatermarkStrategy<Row>>,
) -> DataStream<Row> {
    let policy = match table
        .option("csv.ignore-parse-errors")
        .or(table.option("json.ignore-parse-errors"))
    {
        Some("true") => DecodePolicy::Skip,
        _ => DecodePolicy::Fail,
    };
    let mut streams = files.map(|(f, d)| {
        // The text source takes its parser's message as text, with the file and offset added.
        let rows = env.read_text_file_filtered(f, policy, move |line: &str| {
            d(line).map_err(|e| e.to_string())
        });
        match watermarks {
            Some(w) => rows.assign_timestamps_and_watermarks(w.clone()),
            None => rows,
        }
    });
    let Some(first) = streams.next() else {
        // An empty directory: no rows.
        return env
            .from_elements(Vec::<Row>::new())
            .name(&format!("Source: {}", table.name));
    };
    streams.fold(first, |acc, s| acc.union(&s))
}

/// The table's files, each with the decoder of its lines (of a partitioned table: its
/// partitions' files, see [`partition_files`]).
fn decoded_files(
    table: &TableDef,
    layout: &RowLayout,
) -> Result<Vec<(PathBuf, LineDecoder)>, SqlError> {
    if !table.partition_keys.is_empty() {
        return partition_files(table, &local_path(table)?, layout);
    }
    let decode = decoder(table, layout)?;
    Ok(files(table)?
        .into_iter()
        .map(|f| (f, decode.clone()))
        .collect())
}

/// The table's `path` (a `file://` URI names a local path).
fn local_path(table: &TableDef) -> Result<PathBuf, SqlError> {
    let path = required(table, "path")?;
    Ok(PathBuf::from(path.strip_prefix("file://").unwrap_or(path)))
}

/// The table's files: its `path`, or the visible files of the directory it names, in order.
fn files(table: &TableDef) -> Result<Vec<PathBuf>, SqlError> {
    let path = local_path(table)?;
    let bad = |message: String| SqlError::Connector {
        table: table.name.clone(),
        message,
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| bad(format!("cannot list {}: {e}", path.display())))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
            })
            .collect();
        files.sort();
        Ok(files)
    } else if path.is_file() {
        Ok(vec![path])
    } else {
        Err(bad(format!("the path {} does not exist", path.display())))
    }
}

/// Every row of the table's files, read now (a lookup join's cache). A line that does not
/// decode is an error naming its file and line, or is skipped with `*.ignore-parse-errors`.
pub fn all_rows(table: &TableDef, layout: RowLayout) -> Result<Vec<Row>, SqlError> {
    let skip = table.option("csv.ignore-parse-errors") == Some("true")
        || table.option("json.ignore-parse-errors") == Some("true");
    let bad = |message: String| SqlError::Connector {
        table: table.name.clone(),
        message,
    };
    let mut rows = Vec::new();
    for (file, decode) in decoded_files(table, &layout)? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            match decode(line) {
                Ok(row) => rows.push(row),
                Err(_) if skip => {}
                Err(e) => return Err(bad(format!("{}:{}: {e}", file.display(), n + 1))),
            }
        }
    }
    Ok(rows)
}

/// Writes rows of `schema` as lines into part files of the table's directory (of a
/// partitioned table: into its partitions' directories, see [`super::partitions`]).
pub fn sink(
    table: &Arc<TableDef>,
    schema: &Schema,
    stream: DataStream<Row>,
) -> Result<(), SqlError> {
    let path = local_path(table)?;
    if !table.partition_keys.is_empty() {
        // The rows come in the table's column order; its names say which are partitions.
        let columns = table.physical_schema();
        let names: Vec<&str> = columns.fields.iter().map(|f| f.name.as_str()).collect();
        let types: Vec<DataType> = columns.fields.iter().map(|f| f.data_type.clone()).collect();
        let data_encoder = |data: &[usize]| {
            let fields = data
                .iter()
                .filter_map(|i| columns.fields.get(*i).cloned())
                .collect();
            encoder(table, &Schema::new(fields))
        };
        return partitioned_sink(table, (&names, &types), data_encoder, path, stream);
    }
    let (policy, _) = rolling_policy(table)?;
    let encode = encoder(table, schema)?;
    stream
        .map(move |r: Row| encode(&r))
        .name(&format!(
            "Encode({})",
            table.option("format").unwrap_or("?")
        ))
        .add_sink(
            &format!("Sink: {}", table.name),
            TwoPhaseCommitFileSink::<String>::new(path).with_rolling(policy),
        )
        .name(&format!("Sink: {}[filesystem]", table.name));
    Ok(())
}
