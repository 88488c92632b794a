//! `shuffle [--records N] [--payload pair|string|large] [--record-bytes B]
//! [--partition rebalance|hash] [--sink-rate R] [--output DIR]`: moves the numbers 1..=N
//! through one exchange and counts them at the sink; the job behind the shuffle benchmark and
//! the network backpressure and large-record tests.
//!
//! - `pair` sends `(x, x * 7)` as `(u64, u64)`; `string` sends `x` as a 100-byte string (20
//!   digits and 80 filler bytes), so the payload is fixed and known.
//! - `large` sends `x` as a string of B bytes (`--record-bytes`, default 100 KiB, at least 30):
//!   its 20 digits, B in 10 digits, then letters that depend on `x`. The sink checks every
//!   byte and counts a record that is not exactly what was sent as 0, so the sum shows it. The
//!   map that makes the records is named `Large records`.
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

use crate::api::{Data, DataStream, Key, RuntimeMode, SinkFunction, StreamEnv};
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::{OperatorError, RuntimeContext, UserError};

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "shuffle",
        description: "numbers as (u64,u64) or 100-byte strings through one exchange to a counting sink",
        usage: "[--records N] [--payload pair|string|large] [--record-bytes B] [--partition rebalance|hash] [--sink-rate R] [--output DIR]",
        arguments: &["records", "payload", "record-bytes", "partition", "sink-rate", "output"],
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

/// The default size of a `large` record: 100 KiB.
pub const LARGE_RECORD_BYTES: usize = 100 * 1024;

/// Digits, then the length: where the letters of a `large` record start.
const LARGE_HEADER: usize = 30;

/// The 26 letters a `large` record of `x` repeats after its header.
fn large_pattern(x: u64) -> [u8; 26] {
    let mut p = [0u8; 26];
    for (i, b) in p.iter_mut().enumerate() {
        *b = b'a' + (((x % 26) as usize + i) % 26) as u8;
    }
    p
}

/// The `large` payload of `x`: `bytes` bytes (at least the 30 of the header).
pub fn large_record(x: u64, bytes: usize) -> String {
    let bytes = bytes.max(LARGE_HEADER);
    let mut s = String::with_capacity(bytes);
    s.push_str(&format!("{x:020}{bytes:010}"));
    let pattern = large_pattern(x);
    // Only ASCII letters were written.
    let pattern = std::str::from_utf8(&pattern).unwrap_or_default();
    while s.len() + pattern.len() <= bytes {
        s.push_str(pattern);
    }
    s.push_str(&pattern[..bytes - s.len()]);
    s
}

/// The number a `large` record carries, or 0 unless every byte is as [`large_record`] made it.
fn large_value(s: &str) -> u64 {
    let (Some(x), Some(len)) = (
        s.get(..20).and_then(|d| d.parse::<u64>().ok()),
        s.get(20..LARGE_HEADER)
            .and_then(|d| d.parse::<usize>().ok()),
    ) else {
        return 0;
    };
    let pattern = large_pattern(x);
    let letters_ok = s.as_bytes()[LARGE_HEADER..]
        .chunks(pattern.len())
        .all(|c| c == &pattern[..c.len()]);
    if s.len() == len && letters_ok {
        x
    } else {
        0
    }
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
        "pair" => exchange(
            numbers
                .map(|x| (x, x.wrapping_mul(7)))
                .name("Pair")
                .slot_sharing_group("source"),
            hash,
            |t: &(u64, u64)| t.0,
            CountingSink::new(output, rate, |t: &(u64, u64)| t.0),
        ),
        "string" => exchange(
            numbers
                .map(string_record)
                .name("String")
                .slot_sharing_group("source"),
            hash,
            |s: &String| s.clone(),
            CountingSink::new(output, rate, |s: &String| string_value(s)),
        ),
        "large" => {
            let bytes: usize = args.parse_or("record-bytes", LARGE_RECORD_BYTES)?;
            exchange(
                numbers
                    .map(move |x| large_record(x, bytes))
                    .name("Large records")
                    .slot_sharing_group("source"),
                hash,
                // The number identifies a record: no need to hash all of it.
                |s: &String| s.get(..20).unwrap_or_default().to_string(),
                CountingSink::new(output, rate, |s: &String| large_value(s)),
            )
        }
        other => return Err(bad("payload", other, "expected pair, string or large")),
    }
    Ok(())
}

/// Sends `records` through the exchange (by `key` when `hash`, else round robin) to `sink`,
/// in the slot sharing group `sink`.
fn exchange<T: Data, K: Key>(
    records: DataStream<T>,
    hash: bool,
    key: impl Fn(&T) -> K + Send + Sync + 'static,
    sink: CountingSink<T>,
) {
    let exchanged = if hash {
        records.key_by(key).as_stream()
    } else {
        records.rebalance()
    };
    exchanged.add_sink("Count", sink).slot_sharing_group("sink");
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

    #[test]
    fn large_records_have_their_size_and_any_changed_byte_shows() {
        for (x, bytes) in [(1, 30), (7, 31), (123, 1000), (u64::MAX, 100 * 1024)] {
            let s = large_record(x, bytes);
            assert_eq!(s.len(), bytes);
            assert_eq!(large_value(&s), x);
            let mut changed = s.clone().into_bytes();
            if let Some(b) = changed.last_mut() {
                *b = b'#';
            }
            let changed = String::from_utf8(changed).expect("ascii");
            assert_eq!(large_value(&changed), 0);
            assert_eq!(large_value(&s[..bytes - 1]), 0);
        }
        assert_eq!(&large_record(2, 34)[28..], "34cdef");
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
