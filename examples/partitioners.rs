//! `partitioners [--count N] [--output FILE]`: sends the numbers 1..=N through every
//! partitioner (forward, rebalance, rescale, shuffle, custom, hash, broadcast, global) and writes
//! one line, `records=R sum=S`, from the single final subtask.
//!
//! Every partitioner but broadcast delivers each record exactly once, so the 16 per-key sums
//! reaching broadcast add up to N(N+1)/2; broadcast copies them to each of the 2 subtasks after
//! it, so the line reads `records=32 sum=N(N+1)`.

use std::io::Write;
use std::path::PathBuf;

use crate::api::{RuntimeMode, SinkFunction, StreamEnv};
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::{OperatorError, UserError};

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "partitioners",
        description: "numbers through every partitioner; writes records=R sum=S",
        usage: "[--count N] [--output FILE]",
        arguments: &["count", "output"],
        build,
    }
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let count: u64 = args.parse_or("count", 100_000)?;
    let output = args.get("output").map(PathBuf::from);
    env.set_runtime_mode(RuntimeMode::Batch);
    env.sequence(1, count)
        .map(|x| x)
        .name("Forward Map")
        .rebalance()
        .map(|x| x)
        .name("After Rebalance")
        .rescale()
        .map(|x| x)
        .name("After Rescale")
        .shuffle()
        .filter(|_| true)
        .name("After Shuffle")
        .partition_custom(|k: &u64, n| (*k as usize) % n, |x: &u64| *x)
        .map(|x| (x % 16, x))
        .name("After Custom")
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .broadcast()
        .map(|t| t.1)
        .name("After Broadcast")
        .set_parallelism(2)
        .global()
        .add_sink(
            "Summary",
            Summary {
                output,
                records: 0,
                sum: 0,
            },
        )
        .set_parallelism(1);
    Ok(())
}

#[derive(Clone)]
struct Summary {
    output: Option<PathBuf>,
    records: u64,
    sum: u64,
}

impl SinkFunction<u64> for Summary {
    fn invoke(&mut self, value: u64) -> Result<(), UserError> {
        self.records += 1;
        self.sum += value;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        let line = format!("records={} sum={}", self.records, self.sum);
        match &self.output {
            Some(p) => std::fs::write(p, line + "\n")
                .map_err(|e| Box::new(OperatorError::io("Summary", p.display(), &e)) as UserError),
            None => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                Ok(())
            }
        }
    }
}
