//! The recent log lines of this process, kept in memory for `GET /jobmanager/logs`: every
//! line the process logs goes to stderr as before and into a ring bounded both in lines
//! ([`RING_LINES`]) and in bytes ([`RING_BYTES`]); the oldest lines leave first.
//!
//! [`Tee`] is the `tracing_subscriber` writer that does both; the CLI installs it.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The most lines the ring keeps.
pub const RING_LINES: usize = 2_000;
/// The most bytes of lines the ring keeps.
pub const RING_BYTES: usize = 1 << 20;

/// Recent lines, oldest first.
#[derive(Debug, Default)]
pub struct Ring {
    lines: VecDeque<String>,
    bytes: usize,
    dropped: u64,
}

impl Ring {
    /// Keeps `line`, dropping the oldest lines past the bounds (a line longer than the byte
    /// bound is cut to it).
    pub fn push(&mut self, line: &str) {
        let mut end = line.len().min(RING_BYTES);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes += end;
        self.lines.push_back(line[..end].to_string());
        while self.lines.len() > RING_LINES || self.bytes > RING_BYTES {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.len();
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// Bytes of the lines kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lines dropped to keep the bounds.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

fn ring() -> MutexGuard<'static, Ring> {
    static RING: OnceLock<Mutex<Ring>> = OnceLock::new();
    // A push leaves the ring consistent at every step: a poisoned lock is still usable.
    RING.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Keeps `line` in this process's ring.
pub fn push(line: &str) {
    ring().push(line);
}

/// This process's recent lines, oldest first, and their bytes.
pub fn recent() -> (Vec<String>, usize) {
    let r = ring();
    (r.lines().map(str::to_string).collect(), r.bytes())
}

/// A `tracing_subscriber` writer: each event goes to stderr and, line by line, into the ring.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tee;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Tee {
    type Writer = TeeEvent;

    fn make_writer(&'a self) -> Self::Writer {
        TeeEvent(Vec::new())
    }
}

/// One event being written: written through to stderr, kept in the ring when done.
#[derive(Debug)]
pub struct TeeEvent(Vec<u8>);

impl Write for TeeEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A full stderr (a closed terminal) must not stop the process from logging to its ring.
        let _ = std::io::stderr().write_all(buf);
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl Drop for TeeEvent {
    fn drop(&mut self) {
        let text = strip_colours(&String::from_utf8_lossy(&self.0));
        let mut r = ring();
        for line in text.lines().filter(|l| !l.is_empty()) {
            r.push(line);
        }
    }
}

/// `text` without the terminal's colour sequences (`ESC [ … letter`) that stderr gets.
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_within_its_bounds() {
        let mut r = Ring::default();
        for i in 0..RING_LINES + 10 {
            r.push(&format!("line {i}"));
        }
        assert_eq!(r.lines().count(), RING_LINES);
        assert_eq!(r.lines().next(), Some("line 10"));
        assert_eq!(r.dropped(), 10);
        let big = "x".repeat(RING_BYTES / 3);
        for _ in 0..4 {
            r.push(&big);
        }
        assert!(r.bytes() <= RING_BYTES, "{}", r.bytes());
        assert_eq!(r.lines().count(), 3);
        r.push(&"y".repeat(RING_BYTES + 5));
        assert_eq!(r.bytes(), RING_BYTES);
    }

    #[test]
    fn logged_events_reach_the_ring() {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Tee)
            .with_ansi(true)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(marker = "tee-test-7", "a line for the ring");
        });
        let (lines, bytes) = recent();
        assert!(bytes > 0);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("a line for the ring") && l.contains("tee-test-7")),
            "{lines:?}"
        );
        assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
        assert_eq!(
            strip_colours("\u{1b}[2mtime\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "time  WARN x"
        );
    }
}
