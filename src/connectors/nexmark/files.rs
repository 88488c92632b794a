//! `rill nexmark generate`: the events of a configuration written as files that Flink's
//! `filesystem` connector reads over the benchmark's table (`ddl_gen.sql` with only its `WITH`
//! clause changed): one file per split, `part-<i>.json` or `part-<i>.csv`, one event per line,
//! timestamps in Flink's SQL format (`2015-07-15 00:00:00.000`).
//! - `json`: `{"event_type":2,"person":null,"auction":null,"bid":{…}}`.
//! - `csv` (Flink's `csv` format with its default options): `2,,,1000;2001;…` — the columns
//!   `event_type,person,auction,bid`, a `ROW` as its fields joined by `;` (Flink's
//!   `csv.array-element-delimiter`), an absent one empty (`NULL`). The generator's strings hold
//!   no `;`, `,` or quote.
//!
//! The events are dealt to the splits in blocks
//! of 65,536, as the `nexmark` source deals them to its subtasks: split `i` of `p` holds blocks
//! `i`, `i + p`, …, so the files hold every event once and each file spans the whole stretch
//! of event time (read side by side, their watermarks stay a block apart).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::connectors::nexmark::generator::{Event, Generator, NexmarkConfig};
use crate::connectors::nexmark::BLOCK;
use crate::operators::sources::{dealt_ranges, MAX_BLOCKS};
use crate::sql::functions::format_timestamp;

/// Why writing the files failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The settings cannot be followed.
    #[error("{0}")]
    Config(#[from] crate::connectors::nexmark::generator::ConfigError),
    /// A writer thread panicked.
    #[error("a writer thread panicked")]
    Panicked,
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The files' format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    /// JSON lines.
    #[default]
    Json,
    /// CSV lines, `ROW`s joined by `;`.
    Csv,
}

impl FileFormat {
    /// The format's name, as `'format'` and the files' extension.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        }
    }

    /// The format named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(FileFormat::Json),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }

    /// Appends event `e` as one line (without its newline).
    pub fn line(self, e: &Event, out: &mut String) {
        match self {
            FileFormat::Json => json_line(e, out),
            FileFormat::Csv => csv_line(e, out),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The files, in split order.
    pub files: Vec<PathBuf>,
    /// Their bytes, in all.
    pub bytes: u64,
}

/// Writes events `0..events` of `config` as `splits` files of `format` lines under `dir`, the
/// splits in parallel (a thread each, at most `threads` at once).
pub fn generate(
    config: &NexmarkConfig,
    events: u64,
    (splits, format): (usize, FileFormat),
    dir: &Path,
    threads: usize,
) -> Result<Written, GenerateError> {
    generate_in_blocks(config, events, (splits, format), dir, threads, BLOCK)
}

fn generate_in_blocks(
    config: &NexmarkConfig,
    events: u64,
    (splits, format): (usize, FileFormat),
    dir: &Path,
    threads: usize,
    block: u64,
) -> Result<Written, GenerateError> {
    config.check()?;
    let block = block.max(events / MAX_BLOCKS);
    let splits = splits.max(1);
    std::fs::create_dir_all(dir).map_err(|source| GenerateError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let generator = Generator::new(config.clone());
    let files: Vec<PathBuf> = (0..splits)
        .map(|i| dir.join(format!("part-{i}.{}", format.name())))
        .collect();
    let mut bytes = 0;
    for chunk in (0..splits).collect::<Vec<_>>().chunks(threads.max(1)) {
        let results: Vec<Result<u64, GenerateError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let (g, path) = (&generator, &files[i]);
                    let ranges = dealt_ranges(events, i, splits, block);
                    s.spawn(move || write_split(g, ranges, path, format))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(GenerateError::Panicked)))
                .collect()
        });
        for r in results {
            bytes += r?;
        }
    }
    Ok(Written { files, bytes })
}

fn write_split(
    g: &Generator,
    ranges: Vec<(u64, u64)>,
    path: &Path,
    format: FileFormat,
) -> Result<u64, GenerateError> {
    let io = |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut line = String::with_capacity(1024);
    let mut bytes = 0;
    for n in ranges.into_iter().flat_map(|(start, end)| start..end) {
        line.clear();
        format.line(&g.event(n), &mut line);
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(io)?;
        bytes += line.len() as u64;
    }
    out.flush().map_err(io)?;
    Ok(bytes)
}

/// Appends `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends the fields `(name, value)` as a JSON object; values are written by `f`.
fn object(out: &mut String, fields: &[(&str, Field<'_>)]) {
    out.push('{');
    for (i, (name, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, name);
        out.push(':');
        match v {
            Field::Int(n) => out.push_str(&n.to_string()),
            Field::Text(s) => string(out, s),
            Field::Time(ms) => string(out, &format_timestamp(*ms, 3)),
        }
    }
    out.push('}');
}

enum Field<'a> {
    Int(i64),
    Text(&'a str),
    Time(i64),
}

/// Event `e`'s column (1 person, 2 auction, 3 bid) and its fields, named as the table's.
fn fields(e: &Event) -> (usize, Vec<(&'static str, Field<'_>)>) {
    use Field::{Int, Text, Time};
    match e {
        Event::Person(p) => (
            1,
            vec![
                ("id", Int(p.id)),
                ("name", Text(&p.name)),
                ("emailAddress", Text(&p.email_address)),
                ("creditCard", Text(&p.credit_card)),
                ("city", Text(&p.city)),
                ("state", Text(&p.state)),
                ("dateTime", Time(p.date_time)),
                ("extra", Text(&p.extra)),
            ],
        ),
        Event::Auction(a) => (
            2,
            vec![
                ("id", Int(a.id)),
                ("itemName", Text(&a.item_name)),
                ("description", Text(&a.description)),
                ("initialBid", Int(a.initial_bid)),
                ("reserve", Int(a.reserve)),
                ("dateTime", Time(a.date_time)),
                ("expires", Time(a.expires)),
                ("seller", Int(a.seller)),
                ("category", Int(a.category)),
                ("extra", Text(&a.extra)),
            ],
        ),
        Event::Bid(b) => (
            3,
            vec![
                ("auction", Int(b.auction)),
                ("bidder", Int(b.bidder)),
                ("price", Int(b.price)),
                ("channel", Text(&b.channel)),
                ("url", Text(&b.url)),
                ("dateTime", Time(b.date_time)),
                ("extra", Text(&b.extra)),
            ],
        ),
    }
}

/// Event `e` as one JSON line (without its newline) of the benchmark's table.
pub fn json_line(e: &Event, out: &mut String) {
    out.push_str("{\"event_type\":");
    out.push_str(&e.kind().to_string());
    let (column, values) = fields(e);
    for (i, name) in ["person", "auction", "bid"].into_iter().enumerate() {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        if i + 1 == column {
            object(out, &values);
        } else {
            out.push_str("null");
        }
    }
    out.push('}');
}

/// Event `e` as one CSV line (without its newline) of the benchmark's table: its `ROW` column
/// as its fields joined by `;`, the other two empty.
pub fn csv_line(e: &Event, out: &mut String) {
    out.push_str(&e.kind().to_string());
    let (column, values) = fields(e);
    for i in 1..=3 {
        out.push(',');
        if i != column {
            continue;
        }
        for (n, (_, v)) in values.iter().enumerate() {
            if n > 0 {
                out.push(';');
            }
            match v {
                Field::Int(n) => out.push_str(&n.to_string()),
                Field::Text(s) => out.push_str(s),
                Field::Time(ms) => out.push_str(&format_timestamp(*ms, 3)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_hold_every_event_once_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("rill-nexmark-files-{}", std::process::id()));
        let config = NexmarkConfig::default();
        let w =
            generate_in_blocks(&config, 1000, (3, FileFormat::Json), &dir, 2, 7).expect("written");
        assert_eq!(w.files.len(), 3);
        let g = Generator::new(config);
        let mut seen = 0;
        for (i, f) in w.files.iter().enumerate() {
            let text = std::fs::read_to_string(f).expect("read");
            // Split i holds blocks i, i + 3, … of 7 events, in order.
            let mut numbers = (0..1000u64).filter(|n| (n / 7) % 3 == i as u64);
            for line in text.lines() {
                let n = numbers
                    .next()
                    .expect("no more lines than events of the split");
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
                let e = g.event(n);
                assert_eq!(v["event_type"], e.kind(), "{line}");
                if let Event::Bid(b) = &e {
                    assert_eq!(v["bid"]["price"], b.price);
                    assert_eq!(v["bid"]["url"], b.url.as_str());
                    assert_eq!(v["person"], serde_json::Value::Null);
                    assert_eq!(
                        v["bid"]["dateTime"],
                        format_timestamp(b.date_time, 3).as_str()
                    );
                }
                let mut expected = String::new();
                json_line(&e, &mut expected);
                assert_eq!(line, expected);
                seen += 1;
            }
            assert_eq!(numbers.next(), None, "every event of split {i}");
        }
        assert_eq!(seen, 1000, "every event once");
        assert_eq!(
            w.bytes,
            w.files
                .iter()
                .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
                .sum::<u64>()
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
