//! `key-stats --input FILE --output FILE [--sink sorted|2pc]`: statistics per key of CSV lines
//! `key,value` (an integer), kept in every kind of keyed state, written when the input ends
//! as one line per key, sorted bytewise:
//! `key,count,sum,max,classes,picked` where `classes` is `c:n` for each value class
//! `c = value mod 7` seen (`n` values in it) joined by `;` in class order, and `picked` the
//! values divisible by 97, in ascending order, joined by `;`.
//!
//! The count is a `ValueState`, the classes a `MapState`, the picked values a `ListState`, the
//! sum a `ReducingState` and the maximum an `AggregatingState`: the job shows each state type
//! surviving checkpoints and restores, on either state backend (`--state-backend`). A line
//! that is not `key,integer` fails the job with its text.

use std::path::PathBuf;

use crate::api::keyed_process::{KeyedContext, KeyedProcessFunction};
use crate::api::{Collector, StreamEnv};
use crate::jobs::windowed_count::SortedLinesSink;
use crate::jobs::{JobArgs, JobError, JobSpec, OutputSink};
use crate::operators::sources::DecodePolicy;
use crate::operators::two_phase::TwoPhaseCommitFileSink;
use crate::operators::UserError;
use crate::state::{
    AggregatingStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
    ValueStateDescriptor,
};
use crate::windowing::functions::AggregateFunction;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "key-stats",
        description: "per-key count, sum, max, value classes and picked values of key,value CSV lines, kept in every kind of keyed state",
        usage: "--input FILE --output FILE [--sink sorted|2pc]",
        arguments: &["input", "output", "sink"],
        build,
    }
}

/// Parses `key,value`.
pub fn parse(line: &str) -> Option<(String, i64)> {
    let (k, v) = line.split_once(',')?;
    Some((k.to_string(), v.trim().parse().ok()?))
}

/// The largest value added.
#[derive(Clone, Copy, Debug, Default)]
pub struct Max;

impl AggregateFunction<i64> for Max {
    type Acc = i64;
    type Out = i64;
    fn create_accumulator(&self) -> i64 {
        i64::MIN
    }
    fn add(&self, value: &i64, acc: &mut i64) {
        *acc = (*acc).max(*value);
    }
    fn get_result(&self, acc: &i64) -> i64 {
        *acc
    }
    fn merge(&self, acc: &mut i64, other: i64) {
        *acc = (*acc).max(other);
    }
}

/// Keeps each key's statistics in state; writes them when the input has ended.
#[derive(Clone)]
pub struct KeyStats {
    count: ValueStateDescriptor<u64>,
    classes: MapStateDescriptor<i64, u64>,
    picked: ListStateDescriptor<i64>,
    sum: ReducingStateDescriptor<i64>,
    max: AggregatingStateDescriptor<i64, Max>,
}

impl Default for KeyStats {
    fn default() -> Self {
        Self {
            count: ValueStateDescriptor::new("count"),
            classes: MapStateDescriptor::new("classes"),
            picked: ListStateDescriptor::new("picked"),
            sum: ReducingStateDescriptor::new("sum", |a, b| a + b),
            max: AggregatingStateDescriptor::new("max", Max),
        }
    }
}

impl KeyedProcessFunction<String, (String, i64), String> for KeyStats {
    fn process_element(
        &mut self,
        (_, v): (String, i64),
        ctx: &mut KeyedContext<'_, String>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), UserError> {
        let mut count = ctx.value_state(&self.count)?;
        let n = count.value()?.unwrap_or(0);
        count.update(n + 1)?;
        if n == 0 {
            // At the end of input (the final watermark), once per key.
            ctx.register_event_time_timer(i64::MAX - 1);
        }
        let mut classes = ctx.map_state(&self.classes)?;
        let class = v.rem_euclid(7);
        let c = classes.get(&class)?.unwrap_or(0);
        classes.put(class, c + 1)?;
        if v % 97 == 0 {
            ctx.list_state(&self.picked)?.add(v)?;
        }
        ctx.reducing_state(&self.sum)?.add(v)?;
        ctx.aggregating_state(&self.max)?.add(&v)?;
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), UserError> {
        let key = ctx.current_key().clone();
        let count = ctx.value_state(&self.count)?.value()?.unwrap_or(0);
        let sum = ctx.reducing_state(&self.sum)?.get()?.unwrap_or(0);
        let max = ctx.aggregating_state(&self.max)?.get()?.unwrap_or(i64::MIN);
        let mut classes = ctx.map_state(&self.classes)?.entries()?;
        classes.sort_unstable();
        let mut picked = ctx.list_state(&self.picked)?.get()?;
        picked.sort_unstable();
        out.collect(format_stats(&key, count, sum, max, &classes, &picked));
        Ok(())
    }
}

/// One output line.
pub fn format_stats(
    key: &str,
    count: u64,
    sum: i64,
    max: i64,
    classes: &[(i64, u64)],
    picked: &[i64],
) -> String {
    let classes: Vec<String> = classes.iter().map(|(c, n)| format!("{c}:{n}")).collect();
    let picked: Vec<String> = picked.iter().map(i64::to_string).collect();
    format!(
        "{key},{count},{sum},{max},{},{}",
        classes.join(";"),
        picked.join(";")
    )
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let input = args.input_file("input")?;
    let output = PathBuf::from(args.required("output")?);
    let sink = OutputSink::from_args("key-stats", args)?;
    let stats = env
        .read_text_file_parsed(input, DecodePolicy::Fail, |line: &str| {
            parse(line).ok_or_else(|| format!("not a key,value line: {line:?}"))
        })
        .key_by(|(k, _): &(String, i64)| k.clone())
        .process_keyed(KeyStats::default())
        .name("Key Stats")
        .uid("key-stats");
    match sink {
        OutputSink::Sorted => {
            stats
                .add_sink("Sorted Lines", SortedLinesSink::new(output))
                .set_parallelism(1);
        }
        OutputSink::TwoPhaseCommit => {
            stats.add_sink(
                "Two-Phase-Commit Files",
                TwoPhaseCommitFileSink::<String>::new(output),
            );
        }
    }
    Ok(())
}
