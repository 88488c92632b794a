//! The socket text source: lines read from a TCP socket, split by a [`LineScanner`] whose
//! buffer is bounded whatever the peer sends.
//!
//! ## Bounds
//! The read buffer holds one unfinished line of at most `max_line_bytes` plus one read
//! ([`READ_CHUNK`]). The socket is read only when no whole line is left in the buffer, so a
//! peer that sends faster than the job takes lines fills the kernel's socket buffer, and TCP
//! slows it down: memory does not grow with the peer's speed.
//!
//! ## Long lines
//! A line longer than `max_line_bytes` (without its line break) follows the source's
//! [`DecodePolicy`]: `Fail` fails the job, naming the source, the peer and the bytes read of
//! the line; `Skip` drops the line up to its line break (its bytes are dropped as they come,
//! never held), counts it, and logs the count at the first skipped line, each time the count
//! doubles, and when the source closes. A line that is not valid UTF-8 is dropped with a
//! warning, whatever the policy: a live stream has no offset to report.
//!
//! ## Scanning
//! Each byte is searched for a line break once: the scanner remembers how far it searched the
//! unfinished line, and a line's bytes are moved at most once (to the buffer's front, before a
//! read).

use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::api::{Collector, SourceFunction, SourcePoll};
use crate::operators::text_file_source::DecodePolicy;
use crate::operators::{OperatorError, RuntimeContext, UserError};

/// The most bytes read from the socket at once.
pub const READ_CHUNK: usize = 64 * 1024;

/// The default longest line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// How a socket source treats its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// The longest line taken, in bytes without its line break.
    pub max_line_bytes: usize,
    /// What becomes of a longer line.
    pub on_long_line: DecodePolicy,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            on_long_line: DecodePolicy::Fail,
        }
    }
}

/// What the scanner found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned<'a> {
    /// A line, without its line break (`\n` or `\r\n`).
    Line(&'a [u8]),
    /// A line longer than the maximum, of at least `length` bytes: it is being dropped up to
    /// its line break, and is reported once.
    TooLong {
        /// Its bytes seen so far.
        length: u64,
    },
}

/// What a read into the scanner brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Fill {
    /// This many bytes.
    Bytes(usize),
    /// The end of the stream.
    End,
}

/// Splits a byte stream into lines in a buffer of at most `max_line + 1 + READ_CHUNK` bytes.
#[derive(Debug)]
pub struct LineScanner {
    buf: Vec<u8>,
    /// The first byte of the line being read.
    start: usize,
    /// Bytes from `start` already searched without finding a line break.
    searched: usize,
    max_line: usize,
    /// Dropping a line that is too long: its line break has not come yet.
    dropping: bool,
}

impl LineScanner {
    /// A scanner of lines of at most `max_line` bytes (at least 1).
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            searched: 0,
            max_line: max_line.max(1),
            dropping: false,
        }
    }

    /// Bytes held (for tests of the bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The most bytes the buffer ever holds.
    pub fn capacity_bound(&self) -> usize {
        self.max_line + 1 + READ_CHUNK
    }

    /// Reads once from `from` into the buffer. Call it when [`LineScanner::next_line`] has
    /// nothing more: the buffer then holds at most the unfinished line, so there is room.
    pub fn fill_from(&mut self, from: &mut impl Read) -> std::io::Result<Fill> {
        if self.start > 0 {
            // Whatever is left is one unfinished line: it moves to the front once, and no
            // byte before it is kept.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        let room = self.capacity_bound().saturating_sub(old).min(READ_CHUNK);
        if room == 0 {
            // Only when called with whole lines still buffered: nothing to read yet.
            return Ok(Fill::Bytes(0));
        }
        self.buf.resize(old + room, 0);
        let read = from.read(&mut self.buf[old..]);
        let n = *read.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        match read {
            Ok(0) => Ok(Fill::End),
            Ok(n) => Ok(Fill::Bytes(n)),
            Err(e) => Err(e),
        }
    }

    /// The next line, a line found too long, or `None` until more bytes come.
    pub fn next_line(&mut self) -> Option<Scanned<'_>> {
        loop {
            let from = self.start + self.searched;
            let Some(i) = self
                .buf
                .get(from..)
                .and_then(|b| b.iter().position(|&c| c == b'\n'))
            else {
                return self.unfinished();
            };
            let (line_start, end) = (self.start, from + i);
            self.start = end + 1;
            self.searched = 0;
            if std::mem::take(&mut self.dropping) {
                // The line break of a line already reported too long.
                continue;
            }
            let line = &self.buf[line_start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > self.max_line {
                return Some(Scanned::TooLong {
                    length: line.len() as u64,
                });
            }
            return Some(Scanned::Line(line));
        }
    }

    /// No line break after `start`: notes how far it searched, and drops a line that is
    /// already too long.
    fn unfinished(&mut self) -> Option<Scanned<'static>> {
        let pending = self.buf.len() - self.start;
        // A trailing `\r` may still be the start of a `\r\n` line break.
        let length = pending - usize::from(self.buf.last() == Some(&b'\r'));
        if self.dropping || length > self.max_line {
            self.start = self.buf.len();
            self.searched = 0;
            if std::mem::replace(&mut self.dropping, true) {
                return None;
            }
            return Some(Scanned::TooLong {
                length: pending as u64,
            });
        }
        self.searched = pending;
        None
    }

    /// At the end of the stream: the last line if it had no line break (`None` if it was
    /// being dropped).
    pub fn finish(&mut self) -> Option<Scanned<'_>> {
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let dropping = std::mem::take(&mut self.dropping);
        self.start = self.buf.len();
        self.searched = 0;
        if dropping || rest.is_empty() {
            return None;
        }
        let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
        Some(Scanned::Line(rest))
    }
}

/// Lines read from a TCP socket; unbounded until the peer closes the connection.
pub struct SocketTextSource {
    host: String,
    port: u16,
    options: SocketOptions,
    stream: Option<TcpStream>,
    scanner: LineScanner,
    skipped: u64,
    cancelled: bool,
    name: String,
}

impl SocketTextSource {
    /// Connects to `host:port` when opened, with the default [`SocketOptions`].
    pub fn new(host: String, port: u16) -> Self {
        Self::with_options(host, port, SocketOptions::default())
    }

    /// Connects to `host:port` when opened.
    pub fn with_options(host: String, port: u16, options: SocketOptions) -> Self {
        Self {
            host,
            port,
            options,
            stream: None,
            scanner: LineScanner::new(options.max_line_bytes),
            skipped: 0,
            cancelled: false,
            name: "socket".into(),
        }
    }

    fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn too_long(&mut self, length: u64) -> Result<(), UserError> {
        match self.options.on_long_line {
            DecodePolicy::Fail => Err(Box::new(OperatorError::LineTooLong {
                operator: self.name.clone(),
                source_address: self.target(),
                length,
                max: self.options.max_line_bytes,
            })),
            DecodePolicy::Skip => {
                self.skipped += 1;
                if self.skipped.is_power_of_two() {
                    self.log_skipped();
                }
                Ok(())
            }
        }
    }

    fn log_skipped(&self) {
        tracing::warn!(source = %self.target(), skipped = self.skipped, max_line_bytes = self.options.max_line_bytes, "skipped lines longer than the maximum");
    }

    /// Takes what the scanner found; `false` when it has nothing more.
    fn take(
        &mut self,
        found: Option<Found>,
        out: &mut Collector<'_, String>,
    ) -> Result<bool, UserError> {
        match found {
            None => return Ok(false),
            Some(Found::Line(line)) => out.collect(line),
            Some(Found::Undecodable) => {
                tracing::warn!(source = %self.target(), "dropped a line that is not valid UTF-8")
            }
            Some(Found::TooLong(length)) => self.too_long(length)?,
        }
        Ok(true)
    }
}

/// What the scanner found, no longer borrowing its buffer.
enum Found {
    Line(String),
    Undecodable,
    TooLong(u64),
}

impl Found {
    fn of(scanned: Option<Scanned<'_>>) -> Option<Self> {
        Some(match scanned? {
            Scanned::Line(line) => match std::str::from_utf8(line) {
                Ok(s) => Self::Line(s.to_string()),
                Err(_) => Self::Undecodable,
            },
            Scanned::TooLong { length } => Self::TooLong(length),
        })
    }
}

impl SourceFunction<String> for SocketTextSource {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.name = ctx.operator_name.clone();
        let target = self.target();
        let io = |e: std::io::Error| -> UserError {
            Box::new(OperatorError::io(&ctx.operator_name, &target, &e))
        };
        let addr = target
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| io(std::io::Error::new(ErrorKind::NotFound, "no address")))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
        stream.set_nonblocking(true).map_err(io)?;
        self.stream = Some(stream);
        Ok(())
    }

    fn poll_next(
        &mut self,
        out: &mut Collector<'_, String>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        if self.cancelled {
            return Ok(SourcePoll::Finished);
        }
        if self.stream.is_none() {
            return Ok(SourcePoll::Finished);
        }
        let (mut read, mut idle) = (false, false);
        loop {
            while out.len() < max {
                let found = Found::of(self.scanner.next_line());
                if !self.take(found, out)? {
                    break;
                }
            }
            // One read per poll, and only once the buffered lines are taken.
            if out.len() >= max || read {
                break;
            }
            read = true;
            let Some(stream) = self.stream.as_mut() else {
                break;
            };
            match self.scanner.fill_from(stream) {
                Ok(Fill::Bytes(_)) => {}
                Ok(Fill::End) => {
                    let rest = Found::of(self.scanner.finish());
                    self.take(rest, out)?;
                    self.stream = None;
                    return Ok(SourcePoll::Finished);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    idle = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => break,
                Err(e) => return Err(Box::new(OperatorError::io(&self.name, self.target(), &e))),
            }
        }
        Ok(if idle && out.is_empty() {
            SourcePoll::Idle
        } else {
            SourcePoll::Ready
        })
    }

    fn cancel(&mut self) {
        self.cancelled = true;
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn close(&mut self) -> Result<(), UserError> {
        if self.skipped > 0 {
            self.log_skipped();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line and too-long report of `input`, fed in pieces of `piece` bytes.
    fn scan(input: &[u8], max_line: usize, piece: usize) -> (Vec<String>, Vec<u64>, usize) {
        let mut s = LineScanner::new(max_line);
        let (mut lines, mut too_long, mut most) = (Vec::new(), Vec::new(), 0);
        let mut take = |found: Option<Scanned<'_>>| match found {
            Some(Scanned::Line(l)) => {
                lines.push(String::from_utf8_lossy(l).into_owned());
                true
            }
            Some(Scanned::TooLong { length }) => {
                too_long.push(length);
                true
            }
            None => false,
        };
        let mut pieces = input.chunks(piece.max(1));
        loop {
            while take(s.next_line()) {}
            most = most.max(s.buffered());
            let Some(mut p) = pieces.next() else {
                take(s.finish());
                return (lines, too_long, most);
            };
            assert_ne!(s.fill_from(&mut p).expect("read"), Fill::End);
            most = most.max(s.buffered());
        }
    }

    #[test]
    fn lines_come_whole_whatever_the_pieces() {
        let input = b"one\ntwo\r\n\nthree\nlast";
        for piece in [1, 2, 3, 5, 100] {
            let (lines, too_long, _) = scan(input, 10, piece);
            assert_eq!(
                lines,
                ["one", "two", "", "three", "last"],
                "pieces of {piece}"
            );
            assert!(too_long.is_empty());
        }
    }

    #[test]
    fn a_long_line_is_reported_once_and_dropped_up_to_its_line_break() {
        for piece in [1, 4, 7, 1000] {
            let (lines, too_long, _) = scan(b"ok\n0123456789abc\nnext\n", 10, piece);
            assert_eq!(lines, ["ok", "next"], "pieces of {piece}");
            assert_eq!(too_long.len(), 1, "pieces of {piece}: {too_long:?}");
            assert!(too_long[0] > 10, "{too_long:?}");
        }
        // A line of exactly the maximum is taken, also with `\r\n`.
        let (lines, too_long, _) = scan(b"0123456789\r\n0123456789", 10, 3);
        assert_eq!((lines, too_long), (vec!["0123456789".into(); 2], vec![]));
        // A too-long last line without a line break is not taken at the end either.
        let (lines, too_long, _) = scan(b"a\n0123456789abc", 10, 4);
        assert_eq!((lines, too_long.len()), (vec!["a".to_string()], 1));
    }

    #[test]
    fn the_buffer_stays_bounded_without_line_breaks() {
        let input = vec![b'x'; 10 * READ_CHUNK];
        let (lines, too_long, most) = scan(&input, 1000, READ_CHUNK);
        assert!(lines.is_empty());
        assert_eq!(too_long.len(), 1);
        assert!(most <= 1000 + 1 + READ_CHUNK, "{most} bytes held");
    }

    /// A line fed a byte at a time: after each byte, everything up to it is known to hold no
    /// line break, so the next search starts at the new byte.
    #[test]
    fn each_byte_is_searched_once() {
        let mut s = LineScanner::new(1 << 20);
        let line = vec![b'y'; 10_000];
        for b in line.chunks(1) {
            assert_eq!(s.fill_from(&mut &b[..]).expect("read"), Fill::Bytes(1));
            assert_eq!(s.next_line(), None);
            // Everything before the unfinished line's end was searched already.
            assert_eq!(s.searched, s.buf.len() - s.start);
        }
        assert_eq!(s.fill_from(&mut &b"\n"[..]).expect("read"), Fill::Bytes(1));
        assert_eq!(s.next_line(), Some(Scanned::Line(&line[..])));
    }
}
