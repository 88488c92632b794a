//! (e) Issue 5's keyed-state benchmark: a running sum per key through `ValueState` (the state
//! API of keyed process functions) over `n` records with `keys` distinct keys, on the heap
//! and the RocksDB backends, without checkpoints at parallelism 1 and 2, and with a checkpoint
//! every second at parallelism 2 (the cost of checkpointing is the ratio of the last two).
//!
//! Records/s are input records over the job's wall time, on one mini cluster with one
//! TaskManager of 2 slots. Checkpoints are written under the system's temp directory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::System;

use crate::api::{Collector, KeyedContext, KeyedProcessFunction, StreamEnv};
use crate::bench::{bench_cluster, measure, BenchResult};
use crate::checkpoint::CheckpointSettings;
use crate::jobs::JobRegistry;
use crate::operators::sinks::DiscardSink;
use crate::operators::sources::Generated;
use crate::operators::UserError;
use crate::state::{StateBackendKind, ValueStateDescriptor};

/// Adds each record's value to its key's sum in a `ValueState`, and emits the new sum.
#[derive(Clone)]
pub struct RunningSum {
    sum: ValueStateDescriptor<u64>,
}

impl KeyedProcessFunction<u64, (u64, u64), (u64, u64)> for RunningSum {
    fn process_element(
        &mut self,
        (key, value): (u64, u64),
        ctx: &mut KeyedContext<'_, u64>,
        out: &mut Collector<'_, (u64, u64)>,
    ) -> Result<(), UserError> {
        let mut sum = ctx.value_state(&self.sum)?;
        let s = sum.value()?.unwrap_or(0) + value;
        sum.update(s)?;
        out.collect((key, s));
        Ok(())
    }
}

/// The job: `n` records `(mix(i) % keys, 1)` → key_by → running sum in `ValueState` → discard.
pub fn job(
    n: u64,
    keys: u64,
    p: usize,
    backend: StateBackendKind,
    checkpoint: Option<Duration>,
    sink: DiscardSink,
) -> StreamEnv {
    let env = StreamEnv::new("bench-state");
    env.set_parallelism(p);
    env.set_state_backend(backend);
    if let Some(interval) = checkpoint {
        env.set_checkpoint_settings(CheckpointSettings {
            interval: Some(interval),
            dir: Some(std::env::temp_dir().join("rill-bench-checkpoints")),
            ..CheckpointSettings::default()
        });
    }
    let keys = keys.max(1);
    env.add_source(
        "Records",
        Generated::new(n, move |i: u64| {
            // A multiplicative mix spreads consecutive records over the keys.
            (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys, 1u64)
        }),
    )
    .key_by(|r: &(u64, u64)| r.0)
    .process_keyed(RunningSum {
        sum: ValueStateDescriptor::new("sum"),
    })
    .add_sink("Discard", sink);
    env
}

/// Runs (e) `runs` times per setting, for each backend in `backends`.
pub fn run(
    n: u64,
    keys: u64,
    runs: usize,
    backends: &[StateBackendKind],
) -> Result<Vec<BenchResult>, crate::Error> {
    let backends = backends.to_vec();
    System::new().block_on(async move {
        let cluster = bench_cluster(JobRegistry::default()).await?;
        let cluster = &cluster;
        let mut results = Vec::new();
        let settings = backends.iter().flat_map(|b| {
            [
                (
                    *b,
                    1,
                    None,
                    format!("(e) keyed running sum in ValueState, {b}, p=1"),
                ),
                (
                    *b,
                    2,
                    None,
                    format!("(e) keyed running sum in ValueState, {b}, p=2"),
                ),
                (
                    *b,
                    2,
                    Some(Duration::from_secs(1)),
                    format!("(e) keyed running sum in ValueState, {b}, p=2, checkpoint every 1 s"),
                ),
            ]
        });
        for (backend, p, checkpoint, name) in settings {
            results.push(
                measure(&name, n, runs, || async move {
                    let count = Arc::new(AtomicU64::new(0));
                    let sink = DiscardSink::counting(count.clone());
                    let env = job(n, keys, p, backend, checkpoint, sink);
                    let result = cluster.execute(&env, None).await?;
                    Ok((result, Some(count.load(Ordering::Relaxed))))
                })
                .await?,
            );
        }
        cluster.shutdown();
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join("rill-bench-checkpoints"));
        Ok(results)
    })
}
