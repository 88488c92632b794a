//! `rill run`'s progress: a snapshot of the job it follows, the one line that shows it, when
//! to show it, and where (redrawn in place on a terminal, plain lines or JSON lines otherwise).
//!
//! ## The line
//! `RUNNING 1m05s | in 1.2 M | out 3.4 M | 52.3 k rec/s | checkpoint 12, 3s ago`: the job's
//! status and how long it has run, records in and out summed over its vertices (Flink's
//! `read-records` and `write-records`: records that crossed an edge between vertices, so a job
//! of one chained vertex shows 0), the out-rate (`numRecordsOutPerSecond` summed the same way)
//! and the newest completed checkpoint. Numbers above 999 take an SI prefix (k, M, G, T).
//!
//! ## When
//! [`Style::Live`] redraws the line (carriage return, clear line) each time it is shown, about
//! once a second. [`Style::Plain`] and [`Style::Json`] write a line when the status changed
//! and otherwise at most every [`QUIET_EVERY`]; neither ever writes a carriage return.
//!
//! The formatting and the pacing are pure ([`line`], [`Throttle`]); [`Reporter`] only writes.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::graph::JobStatus;

/// How often a plain or JSON progress line is written while the status stays the same.
pub(super) const QUIET_EVERY: Duration = Duration::from_secs(5);
/// How often the followers take a snapshot.
pub(super) const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// Clears the terminal's current line: carriage return, then ANSI "erase line".
const CLEAR_LINE: &str = "\r\x1b[2K";

/// The newest completed checkpoint, as a snapshot saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct LastCheckpoint {
    /// Its id.
    pub(super) id: u64,
    /// How long ago it completed (ms).
    #[serde(rename = "age-ms", serialize_with = "millis")]
    pub(super) age: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a follower knows of the job at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct Snapshot {
    /// Its status.
    pub(super) state: JobStatus,
    /// How long it has run (ms in JSON, as Flink's `duration`).
    #[serde(rename = "duration", serialize_with = "millis")]
    pub(super) elapsed: Duration,
    /// Records read from network inputs, summed over its vertices.
    pub(super) records_in: u64,
    /// Records written to network outputs, summed over its vertices.
    pub(super) records_out: u64,
    /// Records out per second, summed over its vertices (unknown: `None`, JSON null).
    #[serde(rename = "records-out-per-second")]
    pub(super) out_rate: Option<f64>,
    /// The newest completed checkpoint (none yet, or the job does not checkpoint: null).
    pub(super) last_checkpoint: Option<LastCheckpoint>,
}

/// `n` in at most five characters and a prefix: `999`, `1.2 k`, `3.4 M`, `5.6 G`.
pub(super) fn count(n: u64) -> String {
    scaled(n as f64, 0)
}

/// A rate in records per second: `0.5 rec/s`, `52 rec/s`, `1.2 M rec/s`.
pub(super) fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        return "? rec/s".to_string();
    }
    let decimals = usize::from(per_second < 10.0 && per_second.fract() != 0.0);
    format!("{} rec/s", scaled(per_second, decimals))
}

/// `v` with one decimal and an SI prefix from 1000 up; below it with `small_decimals`.
fn scaled(v: f64, small_decimals: usize) -> String {
    if v < 999.5 {
        return format!("{v:.small_decimals$}");
    }
    let mut v = v / 1000.0;
    for prefix in ["k", "M", "G", "T"] {
        // 999.96 k prints as 1000.0 k: move up instead.
        if v < 999.95 {
            return format!("{v:.1} {prefix}");
        }
        v /= 1000.0;
    }
    format!("{:.1} P", v)
}

/// A duration to the second: `0s`, `59s`, `1m05s`, `2h03m`, `3d04h`.
pub(super) fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m{:02}s", s / 60, s % 60),
        3_600..=86_399 => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// The progress line of `s`, without a line break.
pub(super) fn line(s: &Snapshot) -> String {
    let rate = s.out_rate.map_or_else(|| "- rec/s".to_string(), rate);
    let checkpoint = match s.last_checkpoint {
        Some(c) => format!("checkpoint {}, {} ago", c.id, duration(c.age)),
        None => "no checkpoint".to_string(),
    };
    format!(
        "{} {} | in {} | out {} | {rate} | {checkpoint}",
        s.state,
        duration(s.elapsed),
        count(s.records_in),
        count(s.records_out),
    )
}

/// Paces plain and JSON lines: one at each status change, else one every `every`.
#[derive(Debug)]
pub(super) struct Throttle {
    every: Duration,
    last: Option<(Instant, JobStatus)>,
}

impl Throttle {
    /// A throttle that lets a line through every `every` while the status stays.
    pub(super) fn new(every: Duration) -> Self {
        Self { every, last: None }
    }

    /// Whether a line for `state` is due at `now`; if so, counts it as written.
    pub(super) fn due(&mut self, state: JobStatus, now: Instant) -> bool {
        let due = match self.last {
            None => true,
            Some((at, last)) => last != state || now.saturating_duration_since(at) >= self.every,
        };
        if due {
            self.last = Some((now, state));
        }
        due
    }
}

/// How the progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// One line redrawn in place (a terminal).
    Live,
    /// Plain lines, paced by a [`Throttle`].
    Plain,
    /// JSON lines (`{"event":"progress",…}`), paced the same way.
    Json,
}

impl Style {
    /// Live on a terminal, else plain (or JSON when asked for).
    pub(super) fn pick(json: bool, terminal: bool) -> Self {
        match (json, terminal) {
            (true, _) => Self::Json,
            (false, true) => Self::Live,
            (false, false) => Self::Plain,
        }
    }
}

/// A progress event of `rill run --json`.
#[derive(Serialize)]
struct ProgressEvent<'a> {
    event: &'static str,
    jobid: &'a str,
    #[serde(flatten)]
    snapshot: &'a Snapshot,
}

/// Writes a job's progress to `out` in a [`Style`]. Write errors are ignored: the progress
/// must never stop the follower (a closed pipe included).
pub(super) struct Reporter<W: Write> {
    style: Style,
    out: W,
    throttle: Throttle,
    /// Whether a live line is on screen, unfinished.
    drawn: bool,
}

impl<W: Write> Reporter<W> {
    /// A reporter writing to `out`.
    pub(super) fn new(style: Style, out: W) -> Self {
        Self {
            style,
            out,
            throttle: Throttle::new(QUIET_EVERY),
            drawn: false,
        }
    }

    /// Shows `s` of job `jobid` as of `now` (plain and JSON lines only when due).
    pub(super) fn show(&mut self, jobid: &str, s: &Snapshot, now: Instant) {
        let _ = match self.style {
            Style::Live => {
                self.drawn = true;
                write!(self.out, "{CLEAR_LINE}{}", line(s))
            }
            Style::Plain if self.throttle.due(s.state, now) => writeln!(self.out, "{}", line(s)),
            Style::Json if self.throttle.due(s.state, now) => {
                let event = ProgressEvent {
                    event: "progress",
                    jobid,
                    snapshot: s,
                };
                match serde_json::to_string(&event) {
                    Ok(j) => writeln!(self.out, "{j}"),
                    Err(_) => Ok(()),
                }
            }
            Style::Plain | Style::Json => Ok(()),
        };
        let _ = self.out.flush();
    }

    /// Shows the job's last snapshot whatever the pacing, and ends a live line.
    pub(super) fn finish(&mut self, jobid: &str, s: &Snapshot) {
        // A final status is a change the throttle lets through; forget the pacing anyway.
        self.throttle = Throttle::new(QUIET_EVERY);
        self.show(jobid, s, Instant::now());
        self.end_line();
    }

    /// Ends a live line on screen, so that what follows starts on a line of its own.
    pub(super) fn end_line(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let _ = writeln!(self.out);
            let _ = self.out.flush();
        }
    }

    /// The writer (for tests).
    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(state: JobStatus) -> Snapshot {
        Snapshot {
            state,
            elapsed: Duration::from_secs(65),
            records_in: 1_234_567,
            records_out: 999,
            out_rate: Some(52_345.0),
            last_checkpoint: Some(LastCheckpoint {
                id: 12,
                age: Duration::from_millis(3_400),
            }),
        }
    }

    #[test]
    fn counts_take_an_si_prefix_above_999() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1.0 k"),
            (1_234, "1.2 k"),
            (999_949, "999.9 k"),
            (999_960, "1.0 M"),
            (1_250_000, "1.2 M"),
            (3_400_000_000, "3.4 G"),
            (7_000_000_000_000, "7.0 T"),
            (u64::MAX, "18446.7 P"),
        ];
        for (n, want) in cases {
            assert_eq!(count(n), want, "{n}");
        }
    }

    #[test]
    fn rates_are_records_per_second_with_a_prefix() {
        assert_eq!(rate(0.0), "0 rec/s");
        assert_eq!(rate(0.5), "0.5 rec/s");
        assert_eq!(rate(52.0), "52 rec/s");
        assert_eq!(rate(52.4), "52 rec/s");
        assert_eq!(rate(1_234_567.0), "1.2 M rec/s");
        assert_eq!(rate(f64::NAN), "? rec/s");
        assert_eq!(rate(-1.0), "? rec/s");
    }

    #[test]
    fn durations_show_two_units_at_most() {
        let s = Duration::from_secs;
        assert_eq!(duration(Duration::from_millis(999)), "0s");
        assert_eq!(duration(s(59)), "59s");
        assert_eq!(duration(s(65)), "1m05s");
        assert_eq!(duration(s(3_599)), "59m59s");
        assert_eq!(duration(s(3_600 * 2 + 180)), "2h03m");
        assert_eq!(duration(s(86_400 * 3 + 3_600 * 4 + 59)), "3d04h");
    }

    #[test]
    fn the_line_shows_state_records_rate_and_checkpoint() {
        assert_eq!(
            line(&snapshot(JobStatus::Running)),
            "RUNNING 1m05s | in 1.2 M | out 999 | 52.3 k rec/s | checkpoint 12, 3s ago"
        );
        let mut s = snapshot(JobStatus::Created);
        s.out_rate = None;
        s.last_checkpoint = None;
        s.elapsed = Duration::ZERO;
        assert_eq!(
            line(&s),
            "CREATED 0s | in 1.2 M | out 999 | - rec/s | no checkpoint"
        );
    }

    #[test]
    fn the_throttle_passes_status_changes_and_one_line_per_period() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = Throttle::new(Duration::from_secs(5));
        assert!(t.due(JobStatus::Created, at(0)), "the first line");
        assert!(t.due(JobStatus::Running, at(100)), "a status change");
        assert!(!t.due(JobStatus::Running, at(1_000)));
        assert!(!t.due(JobStatus::Running, at(5_099)));
        assert!(t.due(JobStatus::Running, at(5_100)), "a period passed");
        assert!(!t.due(JobStatus::Running, at(6_000)));
        assert!(t.due(JobStatus::Finished, at(6_001)), "another change");
    }

    #[test]
    fn live_lines_are_redrawn_and_ended_once() {
        let mut r = Reporter::new(Style::Live, Vec::new());
        let t0 = Instant::now();
        r.show("ab", &snapshot(JobStatus::Running), t0);
        r.show("ab", &snapshot(JobStatus::Running), t0);
        r.finish("ab", &snapshot(JobStatus::Finished));
        let out = String::from_utf8(r.into_inner()).expect("utf-8");
        assert_eq!(out.matches(CLEAR_LINE).count(), 3);
        assert!(out.ends_with("checkpoint 12, 3s ago\n"), "{out:?}");
        assert_eq!(out.matches('\n').count(), 1, "{out:?}");
    }

    #[test]
    fn plain_lines_are_paced_and_never_carry_a_carriage_return() {
        let mut r = Reporter::new(Style::Plain, Vec::new());
        let t0 = Instant::now();
        for ms in (0..10_000).step_by(1_000) {
            r.show(
                "ab",
                &snapshot(JobStatus::Running),
                t0 + Duration::from_millis(ms),
            );
        }
        r.finish("ab", &snapshot(JobStatus::Finished));
        let out = String::from_utf8(r.into_inner()).expect("utf-8");
        assert!(!out.contains('\r'), "{out:?}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "at 0 s, 5 s and the end: {out:?}");
        assert!(lines[2].starts_with("FINISHED 1m05s"), "{out:?}");
    }

    #[test]
    fn json_events_carry_the_snapshot_under_flink_like_names() {
        let mut r = Reporter::new(Style::Json, Vec::new());
        r.finish("ab", &snapshot(JobStatus::Running));
        let out = String::from_utf8(r.into_inner()).expect("utf-8");
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({
                "event": "progress",
                "jobid": "ab",
                "state": "RUNNING",
                "duration": 65_000,
                "records-in": 1_234_567,
                "records-out": 999,
                "records-out-per-second": 52_345.0,
                "last-checkpoint": {"id": 12, "age-ms": 3_400},
            })
        );
    }
}
