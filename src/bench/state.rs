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
use crate::bench::{bench_cluster_with, measure, BenchResult};
use crate::checkpoint::CheckpointSettings;
use crate::data::UserError;
use crate::jobs::JobRegistry;
use crate::operators::sinks::DiscardSink;
use crate::operators::sources::Generated;
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
    pipeline(&env, n, keys, sink);
    env
}

/// Adds the running sum to `env`: `n` records `(mix(i) % keys, 1)` → key_by → running sum
/// in `ValueState` → `sink` (also the bundled `keyed-sum` job).
pub fn pipeline(env: &StreamEnv, n: u64, keys: u64, sink: DiscardSink) {
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
}

/// Runs (e) `runs` times per setting, for each backend in `backends`, with RocksDB caches of
/// `cache_bytes` (see `RuntimeConfig::rocksdb_cache_bytes`).
pub fn run(
    n: u64,
    keys: u64,
    runs: usize,
    backends: &[StateBackendKind],
    cache_bytes: usize,
) -> Result<Vec<BenchResult>, crate::Error> {
    let backends = backends.to_vec();
    System::new().block_on(async move {
        let runtime = crate::config::RuntimeConfig {
            rocksdb_cache_bytes: cache_bytes,
            ..Default::default()
        };
        let cluster = bench_cluster_with(JobRegistry::default(), runtime).await?;
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

/// (e) RocksDB checkpoints of about `bytes` of state (values of 1 KiB, one per key): the time
/// and size of a full snapshot (a savepoint: every entry read and written in the canonical
/// form), of a first incremental checkpoint (every SST file uploaded), and of a second one
/// after 1% of the keys changed (only the new files uploaded). Times cover the barrier's
/// synchronous part (RocksDB's checkpoint: memtable flush and hard links) and the writing,
/// to `storage` (a local directory or `s3://…`; default: under the temp directory).
pub fn run_checkpoint_sizes(
    bytes: u64,
    storage: Option<std::path::PathBuf>,
) -> Result<Vec<String>, String> {
    use crate::checkpoint::storage::{write_subtask_state, StateHandle, SubtaskSnapshot};
    use crate::checkpoint::SnapshotKind;
    use crate::ids::VertexId;
    use crate::state::{KeyedStateBackend, SnapshotTarget, StateSnapshot};
    use std::time::Instant;

    let root = std::env::temp_dir().join(format!("rill-bench-rocksdb-{}", std::process::id()));
    let mut ctx = crate::operators::RuntimeContext::standalone("bench");
    ctx.state_backend = StateBackendKind::RocksDb;
    ctx.local_state_dir = root.join("local");
    let out = storage.unwrap_or_else(|| root.join("checkpoints"));
    let result = (|| {
        let mut backend = KeyedStateBackend::<u64>::for_context(&ctx).map_err(|e| e.to_string())?;
        let d = ValueStateDescriptor::<String>::new("values");
        let keys = (bytes / 1024).max(1);
        let value =
            |k: u64, round: u64| format!("{:0>1024}", k.wrapping_mul(31).wrapping_add(round));
        let started = Instant::now();
        for k in 0..keys {
            let mut cell = backend.value_state(&d, &k).map_err(|e| e.to_string())?;
            cell.update(value(k, 0)).map_err(|e| e.to_string())?;
        }
        let mut lines = vec![format!(
            "(e) RocksDB state: {keys} keys of 1 KiB written in {:.1} s",
            started.elapsed().as_secs_f64()
        )];
        let take = |backend: &mut KeyedStateBackend<u64>,
                    kind: SnapshotKind,
                    dir: std::path::PathBuf|
         -> Result<(StateHandle, f64), String> {
            let started = Instant::now();
            let mut snap = StateSnapshot::default();
            backend.snapshot(&mut snap).map_err(|e| e.to_string())?;
            let target = SnapshotTarget { kind, dir };
            let op = snap.complete(&target).map_err(|e| e.to_string())?;
            let subtask = SubtaskSnapshot {
                operators: vec![("bench".to_string(), op)],
                ..SubtaskSnapshot::default()
            };
            let handle = write_subtask_state(&target.dir, VertexId(0), 0, &subtask)
                .map_err(|e| e.to_string())?;
            Ok((handle, started.elapsed().as_secs_f64()))
        };
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        let (full, t) = take(&mut backend, SnapshotKind::Savepoint, out.join("savepoint"))?;
        lines.push(format!(
            "(e) RocksDB full snapshot (savepoint): {t:.2} s, {:.0} MiB written",
            mb(full.checkpointed_size())
        ));
        let (one, t) = take(
            &mut backend,
            SnapshotKind::Checkpoint,
            out.join("job").join("chk-1"),
        )?;
        lines.push(format!(
            "(e) RocksDB first incremental checkpoint: {t:.2} s, {:.0} MiB written of {:.0} MiB state",
            mb(one.checkpointed_size()),
            mb(one.full_size())
        ));
        for k in (0..keys).step_by(100) {
            let mut cell = backend.value_state(&d, &k).map_err(|e| e.to_string())?;
            cell.update(value(k, 1)).map_err(|e| e.to_string())?;
        }
        let (two, t) = take(
            &mut backend,
            SnapshotKind::Checkpoint,
            out.join("job").join("chk-2"),
        )?;
        lines.push(format!(
            "(e) RocksDB second incremental checkpoint (1% of keys changed): {t:.2} s, {:.1} MiB written of {:.0} MiB state",
            mb(two.checkpointed_size()),
            mb(two.full_size())
        ));
        lines.push(format!("(e) written to {}", out.display()));
        Ok(lines)
    })();
    let _ = crate::checkpoint::store::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&root);
    result
}
