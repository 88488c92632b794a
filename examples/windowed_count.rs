//! `windowed-count --input FILE --output FILE --kind tumble|slide|session [--size-ms 1000]
//! [--slide-ms 2000] [--gap-ms 200] [--out-of-orderness-ms 1000] [--sink sorted|2pc]
//! [--rate N]`: event-time windows per key
//! over CSV lines `ts_millis,key,value`, writing one line per fired window,
//! `key,window_start_ms,window_end_ms,count,sum_of_value`, sorted bytewise.
//!
//! Timestamps are the first column; the watermark trails the largest timestamp seen by the
//! out-of-orderness. Windows are aligned to the epoch. Defaults: tumbling 1 s, sliding 10 s
//! every 2 s, sessions closed by a 200 ms gap (size and slide default per kind). A line that
//! is not `integer,key,integer` fails the job with its text. `--rate N` reads at most N lines a
//! second over all source subtasks (a bounded input that lasts, e.g. for failover tests); the
//! default 0 reads as fast as the job goes.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::{Collector, SinkFunction, StreamEnv};
use crate::eventtime::WatermarkStrategy;
use crate::jobs::OutputSink;
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::sources::DecodePolicy;
use crate::operators::two_phase::TwoPhaseCommitFileSink;
use crate::operators::{OperatorError, UserError};
use crate::windowing::assigners::TimeWindows;
use crate::windowing::functions::{AggregateFunction, WindowContext};
use crate::windowing::TimeWindow;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "windowed-count",
        description: "event-time window count and sum per key of ts,key,value CSV lines; sorted key,start,end,count,sum lines",
        usage: "--input FILE --output FILE --kind tumble|slide|session [--size-ms N] [--slide-ms N] [--gap-ms N] [--out-of-orderness-ms N] [--sink sorted|2pc] [--rate N]",
        arguments: &[
            "input",
            "output",
            "kind",
            "size-ms",
            "slide-ms",
            "gap-ms",
            "out-of-orderness-ms",
            "sink",
            "rate",
        ],
        build,
    }
}

/// One input event: timestamp (ms), key, value.
pub type Event = (i64, String, i64);

/// Parses `ts_millis,key,value`.
pub fn parse_event(line: &str) -> Option<Event> {
    let mut parts = line.splitn(3, ',');
    let ts = parts.next()?.parse().ok()?;
    let key = parts.next()?.to_string();
    let value = parts.next()?.parse().ok()?;
    Some((ts, key, value))
}

/// Counts and sums the values of a window's `(ts, key, value)` events, whatever the key type.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountSum;

impl<K: 'static> AggregateFunction<(i64, K, i64)> for CountSum {
    type Acc = (u64, i64);
    type Out = (u64, i64);
    fn create_accumulator(&self) -> (u64, i64) {
        (0, 0)
    }
    #[inline]
    fn add(&self, value: &(i64, K, i64), acc: &mut (u64, i64)) {
        acc.0 += 1;
        acc.1 += value.2;
    }
    fn get_result(&self, acc: &(u64, i64)) -> (u64, i64) {
        *acc
    }
    fn merge(&self, acc: &mut (u64, i64), other: (u64, i64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}

/// Formats a window's result as an output line.
pub fn format_window(
    key: &String,
    ctx: &mut WindowContext<'_, TimeWindow>,
    results: &[(u64, i64)],
    out: &mut Collector<'_, String>,
) -> Result<(), UserError> {
    let w = ctx.window();
    for (count, sum) in results {
        out.collect(format!("{key},{},{},{count},{sum}", w.start, w.end));
    }
    Ok(())
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let input = args.input_file("input")?;
    let output = PathBuf::from(args.required("output")?);
    let kind = args.required("kind")?.to_string();
    let ms = |name: &str, default: u64| -> Result<Duration, JobError> {
        Ok(Duration::from_millis(args.parse_or(name, default)?))
    };
    let assigner = match kind.as_str() {
        "tumble" => TimeWindows::tumbling_event_time(ms("size-ms", 1000)?),
        "slide" => TimeWindows::sliding_event_time(ms("size-ms", 10_000)?, ms("slide-ms", 2000)?),
        "session" => TimeWindows::event_time_session(ms("gap-ms", 200)?),
        other => {
            return Err(JobError::BadValue {
                job: "windowed-count".into(),
                arg: "kind".into(),
                value: other.into(),
                reason: "expected tumble, slide or session".into(),
            })
        }
    };
    let strategy =
        WatermarkStrategy::for_bounded_out_of_orderness(ms("out-of-orderness-ms", 1000)?)
            .with_timestamp_assigner(|e: &Event, _| e.0);
    let sink = OutputSink::from_args("windowed-count", args)?;
    let rate: u64 = args.parse_or("rate", 0)?;
    let mut events = env.read_text_file_parsed(input, DecodePolicy::Fail, |line: &str| {
        parse_event(line).ok_or_else(|| format!("not a ts,key,value line: {line:?}"))
    });
    if rate > 0 {
        events = events.rate_limit(rate as f64);
    }
    let lines = events
        .assign_timestamps_and_watermarks(strategy)
        .key_by_field(|e: &Event| &e.1)
        .window(assigner)
        .aggregate_with(CountSum, format_window);
    match sink {
        OutputSink::Sorted => {
            lines
                .add_sink("Sorted Lines", SortedLinesSink::new(output))
                .set_parallelism(1);
        }
        OutputSink::TwoPhaseCommit => {
            lines.add_sink(
                "Two-Phase-Commit Files",
                TwoPhaseCommitFileSink::<String>::new(output),
            );
        }
    }
    Ok(())
}

/// The name of the lines a [`SortedLinesSink`] holds, in checkpoints.
const LINES: &str = "lines";

/// Gathers lines and writes them sorted bytewise when the input ends. The lines gathered are
/// its checkpointed state, so a restored job writes every line, also those emitted before the
/// checkpoint.
#[derive(Clone)]
pub struct SortedLinesSink {
    path: PathBuf,
    lines: Vec<String>,
}

impl SortedLinesSink {
    /// A sink writing to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lines: Vec::new(),
        }
    }
}

impl SinkFunction<String> for SortedLinesSink {
    fn invoke(&mut self, line: String) -> Result<(), UserError> {
        self.lines.push(line);
        Ok(())
    }

    fn initialize_state(
        &mut self,
        restored: &crate::state::RestoredState,
    ) -> Result<(), UserError> {
        self.lines = restored.list(LINES)?;
        Ok(())
    }

    fn snapshot_state(
        &mut self,
        _checkpoint_id: u64,
        snapshot: &mut crate::state::OperatorSnapshot,
    ) -> Result<(), UserError> {
        snapshot.add_list(LINES, crate::state::ListMode::Split, &self.lines)?;
        Ok(())
    }

    fn invoke_batch(&mut self, lines: Vec<String>) -> Result<(), UserError> {
        self.lines.extend(lines);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        let io = |e: std::io::Error| -> UserError {
            Box::new(OperatorError::io("Sorted Lines", self.path.display(), &e))
        };
        self.lines.sort_unstable();
        let file = std::fs::File::create(&self.path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        for line in &self.lines {
            writeln!(w, "{line}").map_err(io)?;
        }
        w.flush().map_err(io)?;
        Ok(())
    }
}
