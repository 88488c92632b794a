//! `shuffle [--records N] [--payload pair|string] [--partition rebalance|hash]
//! [--sink-rate R] [--output DIR]`: moves the numbers 1..=N through one exchange and counts
//! them at the sink; the job behind the shuffle benchmark and the network backpressure test.
//!
//! - `pair` sends `(x, x * 7)` as `(u64, u64)`; `string` sends `x` as a 100-byte string (20
//!   digits and 80 filler bytes), so the payload is fixed and known.
//! - The source (with the map that builds the payload) is in the slot sharing group `source`,
//!   the sink in `sink`. Groups take slots in order and the JobMaster orders slots by
//!   TaskManager, so with two TaskManagers of P slots each at parallelism P every source runs
//!   on one TaskManager and every sink on the other: all records cross processes.
//! - `--sink-rate R` holds each sink subtask to at most R records per second (0, the default,
//!   means as fast as it can), to make a slow consumer.
//! - Each sink subtask writes `records=R sum=S watermark=W after=A` to `DIR/<subtask + 1>`, or
//!   prints it with its `<subtask + 1>> ` prefix: S is the sum of the numbers it received, W
//!   the last watermark it saw (the sources end with the maximum, `i64::MAX`) and A how many
//!   records had arrived when it came (all of them, since a watermark follows the records
//!   sent before it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::api::{RuntimeMode, SinkFunction, StreamEnv};
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::{OperatorError, RuntimeContext, UserError};

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "shuffle",
        description: "numbers as (u64,u64) or 100-byte strings through one exchange to a counting sink",
        usage: "[--records N] [--payload pair|string] [--partition rebalance|hash] [--sink-rate R] [--output DIR]",
        arguments: &["records", "payload", "partition", "sink-rate", "output"],
        build,
    }
}

/// Bytes of a `string` record.
pub const STRING_PAYLOAD: usize = 100;

/// The `string` payload of `x`: its 20 decimal digits, then filler up to 100 bytes.
pub fn string_record(x: u64) -> String {
    const FILLER: &str =
        "................................................................................";
    let mut digits = [b'0'; 20];
    let mut v = x;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let mut s = String::with_capacity(STRING_PAYLOAD);
    // Only ASCII digits were written.
    s.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    s.push_str(&FILLER[..STRING_PAYLOAD - digits.len()]);
    s
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let records: u64 = args.parse_or("records", 10_000_000)?;
    let rate: u64 = args.parse_or("sink-rate", 0)?;
    let output = args.get("output").map(PathBuf::from);
    let bad = |arg: &str, value: &str, reason: &str| JobError::BadValue {
        job: "shuffle".into(),
        arg: arg.into(),
        value: value.into(),
        reason: reason.into(),
    };
    let hash = match args.get("partition").unwrap_or("rebalance") {
        "rebalance" => false,
        "hash" => true,
        other => return Err(bad("partition", other, "expected rebalance or hash")),
    };
    env.set_runtime_mode(RuntimeMode::Batch);
    let numbers = env.sequence(1, records).slot_sharing_group("source");
    match args.get("payload").unwrap_or("pair") {
        "pair" => {
            let pairs = numbers
                .map(|x| (x, x.wrapping_mul(7)))
                .name("Pair")
                .slot_sharing_group("source");
            let exchanged = if hash {
                pairs.key_by(|t: &(u64, u64)| t.0).as_stream()
            } else {
                pairs.rebalance()
            };
            exchanged
                .add_sink(
                    "Count",
                    CountingSink::new(output, rate, |t: &(u64, u64)| t.0),
                )
                .slot_sharing_group("sink");
        }
        "string" => {
            let strings = numbers
                .map(string_record)
                .name("String")
                .slot_sharing_group("source");
            let exchanged = if hash {
                strings.key_by(|s: &String| s.clone()).as_stream()
            } else {
                strings.rebalance()
            };
            exchanged
                .add_sink(
                    "Count",
                    CountingSink::new(output, rate, |s: &String| string_value(s)),
                )
                .slot_sharing_group("sink");
        }
        other => return Err(bad("payload", other, "expected pair or string")),
    }
    Ok(())
}

/// The number a `string` record carries (0 for a malformed one, which the sum then exposes).
fn string_value(s: &str) -> u64 {
    s.get(..20).and_then(|d| d.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_records_are_100_bytes_and_carry_their_number() {
        for x in [0, 7, 1234567890, u64::MAX] {
            let s = string_record(x);
            assert_eq!(s.len(), STRING_PAYLOAD);
            assert_eq!(string_value(&s), x);
        }
        assert_eq!(&string_record(42)[..22], "00000000000000000042..");
    }
}

/// Counts and sums what it receives, at most `rate` records per second.
#[derive(Clone)]
struct CountingSink<T> {
    output: Option<PathBuf>,
    rate: u64,
    value: fn(&T) -> u64,
    records: u64,
    sum: u64,
    subtask: usize,
    started: Option<Instant>,
    watermark: Option<(i64, u64)>,
}

impl<T> CountingSink<T> {
    fn new(output: Option<PathBuf>, rate: u64, value: fn(&T) -> u64) -> Self {
        Self {
            output,
            rate,
            value,
            records: 0,
            sum: 0,
            subtask: 0,
            started: None,
            watermark: None,
        }
    }

    /// Sleeps until `records` are due at `rate` per second since the first record.
    fn throttle(&mut self) {
        if self.rate == 0 {
            return;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = Duration::from_secs_f64(self.records as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

impl<T: Send + 'static> SinkFunction<T> for CountingSink<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.subtask = ctx.subtask_index;
        Ok(())
    }

    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.records += 1;
        self.sum = self.sum.wrapping_add((self.value)(&value));
        Ok(())
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        for v in values {
            self.invoke(v)?;
        }
        self.throttle();
        Ok(())
    }

    fn write_watermark(&mut self, watermark: i64) -> Result<(), UserError> {
        self.watermark = Some((watermark, self.records));
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        let (w, after) = self.watermark.unwrap_or((i64::MIN, 0));
        let line = format!(
            "records={} sum={} watermark={w} after={after}",
            self.records, self.sum
        );
        match &self.output {
            Some(dir) => {
                let path = dir.join((self.subtask + 1).to_string());
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, line + "\n"))
                    .map_err(|e| {
                        Box::new(OperatorError::io("Count", path.display(), &e)) as UserError
                    })
            }
            None => {
                println!("{}> {line}", self.subtask + 1);
                Ok(())
            }
        }
    }
}
