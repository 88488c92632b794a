//! Partition paths (the module's Paths and Reading sections): a value escaped into its
//! `k=v` directory and back, and the files of a partitioned table with their directories'
//! values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::connectors::format::{decoder, LineDecoder};
use crate::connectors::RowLayout;
use crate::sql::catalog::TableDef;
use crate::sql::functions::parse_text;
use crate::sql::statement::ColumnKind;
use crate::sql::types::{DataType, Value};
use crate::sql::SqlError;

use super::bad;

/// Flink's name for a partition whose value is `NULL` or empty.
pub(super) const DEFAULT_PARTITION: &str = "__DEFAULT_PARTITION__";

/// Whether Flink escapes `c` in a partition path.
fn escaped(c: char) -> bool {
    c < ' ' || c == '\u{7f}' || "\"#%'*/:=?\\{[]^".contains(c)
}

/// `k=v` with `v` escaped.
pub(super) fn push_part(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push('=');
    for c in value.chars() {
        if escaped(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
}

/// A partition's values, unescaped, by key, in path order.
pub type PartitionValues = Vec<(String, String)>;

/// The values of partition path `path` (`k1=v1/k2=v2`).
pub fn partition_values(path: &str) -> PartitionValues {
    path.split('/')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect()
}

fn unescape(v: &str) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut rest = v.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let hex = tail
            .get(..2)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(x)) => {
                out.push(x);
                rest = tail.get(2..).unwrap_or_default();
            }
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The visible files under `dir`'s partition directories (`k=v`, nested), each with its
/// partition's values by key, in path order.
fn walk(dir: &Path) -> std::io::Result<Vec<(PathBuf, PartitionValues)>> {
    let mut out = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), Vec::new())];
    while let Some((d, values)) = dirs.pop() {
        for entry in std::fs::read_dir(&d)?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                // Only partition directories; their depth is the partition keys' count.
                if let Some((k, v)) = name.split_once('=').filter(|_| values.len() < 16) {
                    let mut deeper = values.clone();
                    deeper.push((k.to_string(), unescape(v)));
                    dirs.push((entry.path(), deeper));
                }
            } else {
                out.push((entry.path(), values.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The files of the partitioned table `table` under `dir`, as its sink writes them, each with
/// the decoder of its lines: the file holds the columns that are not partition columns; the
/// partition columns take the values of the file's directories (`partition.default-name` is
/// `NULL`), before the computed columns are evaluated.
pub fn partition_files(
    table: &TableDef,
    dir: &Path,
    layout: &RowLayout,
) -> Result<Vec<(PathBuf, LineDecoder)>, SqlError> {
    let schema = table.physical_schema();
    let mut keys = Vec::new();
    for k in &table.partition_keys {
        let ordinal = schema
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(k))
            .ok_or_else(|| {
                bad(
                    table,
                    format!("the partition column '{k}' is not a physical column"),
                )
            })?;
        let data_type = schema.fields.get(ordinal).map(|f| f.data_type.clone());
        keys.push((ordinal, k.as_str(), data_type.unwrap_or(DataType::String)));
    }
    let is_key = |ordinal: usize| keys.iter().any(|(o, _, _)| *o == ordinal);
    // The table the files hold: its columns without the partition columns.
    let mut ordinal = 0;
    let file_table = TableDef {
        columns: table
            .columns
            .iter()
            .filter(|c| {
                if !matches!(c.kind, ColumnKind::Physical { .. }) {
                    return true;
                }
                ordinal += 1;
                !is_key(ordinal - 1)
            })
            .cloned()
            .collect(),
        partition_keys: Vec::new(),
        ..table.clone()
    };
    let file_physical: Vec<(usize, bool)> = layout
        .physical
        .iter()
        .enumerate()
        .filter(|(o, _)| !is_key(*o))
        .map(|(_, p)| *p)
        .collect();
    let default_name = table
        .option("partition.default-name")
        .unwrap_or(DEFAULT_PARTITION);
    let files = walk(dir).map_err(|e| bad(table, format!("cannot list {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for (file, values) in files {
        let mut constants = Vec::new();
        for (o, name, t) in &keys {
            let Some(&(pos, _)) = layout.physical.get(*o) else {
                continue;
            };
            let text = values.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
            let v = match text.map(|(_, v)| v.as_str()) {
                None => Value::Null,
                Some(v) if v == default_name => Value::Null,
                Some(v) => parse_text(v, t).map_err(|e| {
                    bad(
                        table,
                        format!("{}: the partition value {name}='{v}': {e}", file.display()),
                    )
                })?,
            };
            constants.push((pos, v));
        }
        let finish = layout.finish.clone();
        let file_layout = RowLayout {
            physical: file_physical.clone(),
            finish: Arc::new(move |row: &mut Vec<Value>| {
                for (pos, v) in &constants {
                    if let Some(slot) = row.get_mut(*pos) {
                        *slot = v.clone();
                    }
                }
                finish(row)
            }),
            ..layout.clone()
        };
        out.push((file, decoder(&file_table, &file_layout)?));
    }
    Ok(out)
}
