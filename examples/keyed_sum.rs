//! `keyed-sum [--records N] [--keys K]`: a running sum per key in `ValueState` over N
//! generated records `(mix(i) % K, 1)`, the sums discarded. The job of the keyed-state
//! benchmark (e); the recovery benchmark runs it across TaskManager processes with K keys of
//! heap state and N large enough to outlast the measurement.

use crate::api::StreamEnv;
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::sinks::DiscardSink;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "keyed-sum",
        description: "a running sum per key in ValueState over generated records, discarded",
        usage: "[--records N] [--keys K]",
        arguments: &["records", "keys"],
        build,
    }
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let records: u64 = args.parse_or("records", 10_000_000)?;
    let keys: u64 = args.parse_or("keys", 1_000_000)?;
    crate::bench::state::pipeline(env, records, keys, DiscardSink::default());
    Ok(())
}
