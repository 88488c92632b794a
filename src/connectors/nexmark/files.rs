//! `rill nexmark generate`: the events of a configuration written as files that Flink's
//! `filesystem` connector reads with `'format' = 'json'` over the benchmark's table
//! (`ddl_gen.sql` with only its `WITH` clause changed): one file per split, `part-<i>.json`,
//! one event per line, `{"event_type":2,"person":null,"auction":null,"bid":{…}}`, timestamps in
//! Flink's SQL format (`2015-07-15 00:00:00.000`). The events are dealt to the splits in blocks
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

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The files, in split order.
    pub files: Vec<PathBuf>,
    /// Their bytes, in all.
    pub bytes: u64,
}

/// Writes events `0..events` of `config` as `splits` files of JSON lines under `dir`, the
/// splits in parallel (a thread each, at most `threads` at once).
pub fn generate(
    config: &NexmarkConfig,
    events: u64,
    splits: usize,
    dir: &Path,
    threads: usize,
) -> Result<Written, GenerateError> {
    generate_in_blocks(config, events, splits, dir, threads, BLOCK)
}

fn generate_in_blocks(
    config: &NexmarkConfig,
    events: u64,
    splits: usize,
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
        .map(|i| dir.join(format!("part-{i}.json")))
        .collect();
    let mut bytes = 0;
    for chunk in (0..splits).collect::<Vec<_>>().chunks(threads.max(1)) {
        let results: Vec<Result<u64, GenerateError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let (g, path) = (&generator, &files[i]);
                    let ranges = dealt_ranges(events, i, splits, block);
                    s.spawn(move || write_split(g, ranges, path))
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

fn write_split(g: &Generator, ranges: Vec<(u64, u64)>, path: &Path) -> Result<u64, GenerateError> {
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
        json_line(&g.event(n), &mut line);
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

/// Event `e` as one JSON line (without its newline) of the benchmark's table.
pub fn json_line(e: &Event, out: &mut String) {
    use Field::{Int, Text, Time};
    out.push_str("{\"event_type\":");
    out.push_str(&e.kind().to_string());
    let (mut person, mut auction, mut bid) =
        ("null".to_string(), "null".to_string(), "null".to_string());
    match e {
        Event::Person(p) => {
            person.clear();
            object(
                &mut person,
                &[
                    ("id", Int(p.id)),
                    ("name", Text(&p.name)),
                    ("emailAddress", Text(&p.email_address)),
                    ("creditCard", Text(&p.credit_card)),
                    ("city", Text(&p.city)),
                    ("state", Text(&p.state)),
                    ("dateTime", Time(p.date_time)),
                    ("extra", Text(&p.extra)),
                ],
            );
        }
        Event::Auction(a) => {
            auction.clear();
            object(
                &mut auction,
                &[
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
            );
        }
        Event::Bid(b) => {
            bid.clear();
            object(
                &mut bid,
                &[
                    ("auction", Int(b.auction)),
                    ("bidder", Int(b.bidder)),
                    ("price", Int(b.price)),
                    ("channel", Text(&b.channel)),
                    ("url", Text(&b.url)),
                    ("dateTime", Time(b.date_time)),
                    ("extra", Text(&b.extra)),
                ],
            );
        }
    }
    for (name, v) in [("person", person), ("auction", auction), ("bid", bid)] {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        out.push_str(&v);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_hold_every_event_once_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("rill-nexmark-files-{}", std::process::id()));
        let config = NexmarkConfig::default();
        let w = generate_in_blocks(&config, 1000, 3, &dir, 2, 7).expect("written");
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
