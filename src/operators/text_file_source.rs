//! The text file source: the lines of a file, split across subtasks by byte ranges, each line
//! made a record by a parser.
//!
//! ## Undecodable input
//! A line that is not valid UTF-8, or that the parser rejects, follows the source's
//! [`DecodePolicy`]: `Fail` (the default) fails the job with the file and byte offset of the
//! line; `Skip` drops the line, counts it, and logs the count when the source ends.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{Collector, Data, SourceFunction, SourcePoll};
use crate::operators::sources::{dealt_ranges, Ranges};
use crate::operators::{OperatorError, RuntimeContext, UserError};
use crate::state::{OperatorSnapshot, RestoredState};

/// What a text source does with a line that is not valid UTF-8 (a file source) or longer than
/// its maximum (a socket source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodePolicy {
    /// Fail the job, naming the file and the line's byte offset.
    #[default]
    Fail,
    /// Drop the line and count it.
    Skip,
}

impl std::str::FromStr for DecodePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            other => Err(format!("unknown policy '{other}' (expected fail or skip)")),
        }
    }
}

/// Turns a line (without its line break) into a record, `None` for a line a pushed filter
/// drops, or says why it is not one.
pub type LineParser<T> = Arc<dyn Fn(&str) -> Result<Option<T>, String> + Send + Sync>;

/// How much of a file one range is: subtasks take turns at the file's ranges.
const CHUNK: u64 = 1 << 20;

/// The lines of a text file, each made a record by a parser (by default the line itself).
/// The file is cut into ranges of a mebibyte, dealt to the subtasks in turn: subtask `i` of
/// `p` reads ranges `i`, `i + p`, `i + 2p`, … in order, each the lines that start in it (a line
/// crossing a range's end belongs to the range it starts in), so every line is read exactly
/// once. The readers of a file thus move through it side by side: where its lines are in time
/// order, their watermarks stay a range apart, where `p` equal parts would put the last
/// subtask's whole part ahead of the first's, and the windows downstream would hold everything
/// between. Lines are parsed from a reused buffer: a parser that needs no copy of the line
/// makes none.
pub struct TextFileSource<T = String> {
    path: PathBuf,
    policy: DecodePolicy,
    parse: LineParser<T>,
    reader: Option<BufReader<File>>,
    /// Byte ranges of whole lines still to read (`next` is the next line's first byte).
    ranges: Ranges,
    line: Vec<u8>,
    skipped: u64,
    name: String,
    chunk: u64,
}

impl TextFileSource<String> {
    /// Reads `path` with `policy` for undecodable lines.
    pub fn new(path: PathBuf, policy: DecodePolicy) -> Self {
        Self::parsed(
            path,
            policy,
            Arc::new(|line: &str| Ok(Some(line.to_string()))),
        )
    }
}

impl<T> TextFileSource<T> {
    /// Reads `path`, making each line a record with `parse`; `policy` says what becomes of a
    /// line that is not UTF-8 or that `parse` rejects.
    pub fn parsed(path: PathBuf, policy: DecodePolicy, parse: LineParser<T>) -> Self {
        Self {
            path,
            policy,
            parse,
            reader: None,
            ranges: Ranges::default(),
            line: Vec::new(),
            skipped: 0,
            name: "text file".into(),
            chunk: CHUNK,
        }
    }

    /// Moves the reader to the first line that starts in the current range: a range may start
    /// inside a line, which belongs to the range before (a restored range starts at a line).
    fn enter_range(&mut self) -> Result<(), UserError> {
        let start = self.ranges.next;
        let result = match self.reader.as_mut() {
            None => return Ok(()),
            Some(reader) if start == 0 => reader.seek(SeekFrom::Start(0)).map(|_| 0),
            Some(reader) => {
                self.line.clear();
                // The byte before a line's first byte is a newline.
                reader
                    .seek(SeekFrom::Start(start - 1))
                    .and_then(|_| reader.read_until(b'\n', &mut self.line))
                    .map(|n| start - 1 + n as u64)
            }
        };
        self.ranges.next = result.map_err(|e| self.io(&e))?;
        Ok(())
    }

    fn io(&self, e: &std::io::Error) -> UserError {
        Box::new(OperatorError::io(&self.name, self.path.display(), e))
    }
}

impl<T: Data> SourceFunction<T> for TextFileSource<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.name = ctx.operator_name.clone();
        let file = File::open(&self.path).map_err(|e| self.io(&e))?;
        let len = file.metadata().map_err(|e| self.io(&e))?.len();
        // Small, as a subtask reads a range and then seeks past the others' ranges.
        self.reader = Some(BufReader::with_capacity(64 * 1024, file));
        self.ranges.start(dealt_ranges(
            len,
            ctx.subtask_index,
            ctx.parallelism,
            self.chunk,
        ));
        self.enter_range()
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        self.ranges.restore(restored)
    }

    fn snapshot_state(&mut self, snapshot: &mut OperatorSnapshot) -> Result<(), UserError> {
        self.ranges.snapshot(snapshot)
    }

    fn poll_next(
        &mut self,
        out: &mut Collector<'_, T>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        // Lines read, kept or not, so that a turn whose lines a filter drops ends too.
        let mut lines = 0;
        while lines < max {
            if self.ranges.next >= self.ranges.end {
                if !self.ranges.advance() {
                    return Ok(SourcePoll::Finished);
                }
                self.enter_range()?;
                continue;
            }
            let Some(reader) = self.reader.as_mut() else {
                return Ok(SourcePoll::Finished);
            };
            self.line.clear();
            let n = match reader.read_until(b'\n', &mut self.line) {
                Ok(n) => n,
                Err(e) => return Err(self.io(&e)),
            };
            if n == 0 {
                return Ok(SourcePoll::Finished);
            }
            let offset = self.ranges.next;
            self.ranges.next += n as u64;
            lines += 1;
            let mut bytes = self.line.as_slice();
            if let Some(b) = bytes.strip_suffix(b"\n") {
                bytes = b.strip_suffix(b"\r").unwrap_or(b);
            }
            let parsed = match std::str::from_utf8(bytes) {
                Ok(line) => (self.parse)(line).map_err(|message| OperatorError::BadRecord {
                    operator: self.name.clone(),
                    path: self.path.display().to_string(),
                    offset,
                    message,
                }),
                Err(_) => Err(OperatorError::Undecodable {
                    operator: self.name.clone(),
                    path: self.path.display().to_string(),
                    offset,
                }),
            };
            match parsed {
                Ok(Some(record)) => out.collect(record),
                Ok(None) => {}
                Err(e) => match self.policy {
                    DecodePolicy::Fail => return Err(Box::new(e)),
                    DecodePolicy::Skip => self.skipped += 1,
                },
            }
        }
        Ok(SourcePoll::Ready)
    }

    fn close(&mut self) -> Result<(), UserError> {
        if self.skipped > 0 {
            tracing::warn!(path = %self.path.display(), skipped = self.skipped, "skipped lines that are not valid UTF-8 or not records");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_split(
        path: &std::path::Path,
        i: usize,
        p: usize,
        policy: DecodePolicy,
    ) -> Result<Vec<String>, UserError> {
        read_chunked(path, i, p, policy, CHUNK)
    }

    fn read_chunked(
        path: &std::path::Path,
        i: usize,
        p: usize,
        policy: DecodePolicy,
        chunk: u64,
    ) -> Result<Vec<String>, UserError> {
        let mut src = TextFileSource::new(path.to_path_buf(), policy);
        src.chunk = chunk;
        let mut ctx = RuntimeContext::standalone("text");
        ctx.subtask_index = i;
        ctx.parallelism = p;
        src.open(&ctx)?;
        let mut out = Vec::new();
        loop {
            let st = src.poll_next(&mut Collector::new(&mut out), 3)?;
            if st == SourcePoll::Finished {
                return Ok(out);
            }
        }
    }

    #[test]
    fn splits_read_every_line_exactly_once() {
        let dir = std::env::temp_dir().join(format!("rill-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.txt");
        let lines: Vec<String> = (0..200)
            .map(|i| "x".repeat(i % 17) + &i.to_string())
            .collect();
        std::fs::File::create(&path)
            .expect("create")
            .write_all((lines.join("\n") + "\n").as_bytes())
            .expect("write");
        // Ranges of one byte start and end inside lines, and on their newlines.
        for chunk in [1, 2, 7, 64, CHUNK] {
            for p in 1..=7 {
                let mut read: Vec<Vec<String>> = (0..p)
                    .map(|i| read_chunked(&path, i, p, DecodePolicy::Fail, chunk).expect("read"))
                    .collect();
                // Each subtask reads its lines in file order; together, every line once.
                let mut all: Vec<String> = read.concat();
                all.sort_by_key(|l| lines.iter().position(|x| x == l));
                assert_eq!(all, lines, "parallelism {p}, ranges of {chunk}");
                for r in &mut read {
                    let order: Vec<usize> = r
                        .iter()
                        .map(|l| lines.iter().position(|x| x == l).unwrap_or(usize::MAX))
                        .collect();
                    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
                }
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn subtasks_take_turns_at_the_ranges_of_a_file() {
        assert_eq!(dealt_ranges(10, 0, 2, 3), [(0, 3), (6, 9)]);
        assert_eq!(dealt_ranges(10, 1, 2, 3), [(3, 6), (9, 10)]);
        assert_eq!(dealt_ranges(10, 3, 4, 3), [(9, 10)]);
        assert_eq!(dealt_ranges(10, 4, 5, 3), []);
        assert_eq!(dealt_ranges(0, 0, 1, 3), []);
        assert_eq!(dealt_ranges(u64::MAX, 0, 1, u64::MAX), [(0, u64::MAX)]);
    }

    #[test]
    fn undecodable_lines_fail_or_are_skipped() {
        let dir = std::env::temp_dir().join(format!("rill-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("bad.txt");
        std::fs::write(&path, b"good\n\xff\xfebad\r\nalso good\n").expect("write");
        let err = read_split(&path, 0, 1, DecodePolicy::Fail).expect_err("must fail");
        assert!(err.to_string().contains("byte 5"), "{err}");
        assert_eq!(
            read_split(&path, 0, 1, DecodePolicy::Skip).expect("skip"),
            vec!["good", "also good"]
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
