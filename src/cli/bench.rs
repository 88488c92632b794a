//! `rill bench`: its flags and which benchmark they run.

use std::process::ExitCode;

use crate::cli::EXIT_JOB_FAILED;

/// The benchmarks with flags of their own.
#[derive(clap::Subcommand, Debug)]
enum BenchCommand {
    /// (h) The published Nexmark queries over the `nexmark` connector's events (all but q6),
    /// one job each: events/s, per core, peak RSS.
    Nexmark(crate::cli::bench_nexmark::NexmarkBenchArgs),
}

/// `rill bench`'s flags: the default runs (a) and (b); one of `--shuffle`, `--windows`,
/// `--sql-aggregation`, `--state`, `--state-checkpoints`, `--recovery`, `--ha-takeover` runs
/// that one instead.
#[derive(clap::Args, Debug)]
pub(super) struct BenchArgs {
    /// A benchmark with flags of its own.
    #[command(subcommand)]
    command: Option<BenchCommand>,
    /// Records for the chained benchmark.
    #[arg(long, default_value_t = 200_000_000)]
    chained_records: u64,
    /// Records for the keyed benchmark.
    #[arg(long, default_value_t = 40_000_000)]
    keyed_records: u64,
    /// Runs of each.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Run (a), (b) and (d) without task metrics (busy/backpressured/idle time,
    /// watermarks, rates), to measure what they cost.
    #[arg(long)]
    no_task_metrics: bool,
    /// Run (c) instead: the shuffle between TaskManager processes over QUIC, beside the
    /// same job in one process.
    #[arg(long)]
    shuffle: bool,
    /// Records of `(u64, u64)` per shuffle run (a quarter as many 100-byte strings).
    #[arg(long, default_value_t = 40_000_000)]
    shuffle_records: u64,
    /// Run (d) instead: event-time tumbling windows per key, in memory and from CSV.
    #[arg(long)]
    windows: bool,
    /// Run (g) instead: an unbounded SQL GROUP BY on a skewed key at p=2, in one phase and
    /// in two (local-global).
    #[arg(long)]
    sql_aggregation: bool,
    /// Rows (g) aggregates.
    #[arg(long, default_value_t = 20_000_000)]
    sql_records: u64,
    /// Events per window run.
    #[arg(long, default_value_t = 20_000_000)]
    window_records: u64,
    /// The CSV file of (d) (written first if it does not exist).
    #[arg(long)]
    window_csv: Option<std::path::PathBuf>,
    /// Run (e) instead: a keyed running sum in ValueState, without and with checkpoints.
    #[arg(long)]
    state: bool,
    /// The backends (e) runs on (repeat the flag for several) [default: heap and rocksdb].
    #[arg(long = "state-backend", value_name = "BACKEND")]
    state_backends: Vec<crate::state::StateBackendKind>,
    /// Run (e)'s RocksDB checkpoint measurement instead: full vs incremental checkpoints
    /// of `--state-bytes` of state.
    #[arg(long)]
    state_checkpoints: bool,
    /// Run (f) instead: recovery time after a TaskManager process is killed.
    #[arg(long)]
    recovery: bool,
    /// Run (i) instead: HA takeover time after the leading JobManager is killed (needs
    /// `etcd` on the PATH; `--runs` takeovers).
    #[arg(long)]
    ha_takeover: bool,
    /// Keys of heap state in (f).
    #[arg(long, default_value_t = 20_000_000)]
    recovery_keys: u64,
    /// (f) kills once a completed checkpoint holds this many MB of state.
    #[arg(long, default_value_t = 100)]
    recovery_state_mb: u64,
    /// The heartbeat timeout of (f)'s cluster (detection takes about this long).
    #[arg(long, default_value_t = 2_000)]
    heartbeat_timeout_ms: u64,
    /// Bytes of state for `--state-checkpoints`.
    #[arg(long, default_value_t = 1 << 30)]
    state_bytes: u64,
    /// Where `--state-checkpoints` writes (a local directory or `s3://bucket/prefix`)
    /// [default: under the temp directory].
    #[arg(long, value_name = "LOCATION")]
    checkpoint_dir: Option<std::path::PathBuf>,
    /// Records per state run.
    #[arg(long, default_value_t = 10_000_000)]
    state_records: u64,
    /// Distinct keys of the state runs.
    #[arg(long, default_value_t = 1_000_000)]
    state_keys: u64,
    /// MiB of the cache in front of each RocksDB instance in the state runs (0: none).
    #[arg(long, default_value_t = crate::state::rocksdb::DEFAULT_CACHE_BYTES >> 20)]
    rocksdb_cache_mb: usize,
    /// Which inputs of (d) to run: in memory, from CSV, or both.
    #[arg(long, value_enum, default_value_t = crate::bench::windows::Inputs::Both)]
    window_input: crate::bench::windows::Inputs,
}

/// Runs the benchmark the flags pick and prints its results.
pub(super) fn bench(args: BenchArgs) -> ExitCode {
    let BenchArgs {
        command,
        chained_records,
        keyed_records,
        runs,
        no_task_metrics,
        shuffle,
        shuffle_records,
        windows,
        sql_aggregation,
        sql_records,
        window_records,
        window_csv,
        state,
        state_backends,
        state_checkpoints,
        recovery,
        ha_takeover,
        recovery_keys,
        recovery_state_mb,
        heartbeat_timeout_ms,
        state_bytes,
        checkpoint_dir,
        state_records,
        state_keys,
        rocksdb_cache_mb,
        window_input,
    } = args;
    crate::bench::set_task_metrics(!no_task_metrics);
    if let Some(BenchCommand::Nexmark(a)) = command {
        return crate::cli::bench_nexmark::bench_nexmark(a);
    }
    let lines = if state_checkpoints {
        crate::bench::state::run_checkpoint_sizes(state_bytes, checkpoint_dir)
    } else if ha_takeover {
        crate::bench::takeover::run(runs.max(1)).map_err(|e| format!("(i) HA takeover: {e}"))
    } else if recovery {
        crate::bench::recovery::run(
            recovery_keys,
            recovery_state_mb.saturating_mul(1_000_000),
            runs,
            std::time::Duration::from_millis(heartbeat_timeout_ms),
        )
    } else if state {
        let backends = if state_backends.is_empty() {
            vec![
                crate::state::StateBackendKind::Heap,
                crate::state::StateBackendKind::RocksDb,
            ]
        } else {
            state_backends
        };
        let cache = rocksdb_cache_mb.saturating_mul(1 << 20);
        crate::bench::state::run(state_records, state_keys, runs.max(1), &backends, cache)
            .map_err(|e| e.to_string())
            .map(|rs| rs.iter().map(ToString::to_string).collect::<Vec<_>>())
    } else if sql_aggregation {
        crate::bench::sql::run(sql_records, runs.max(1))
            .map_err(|e| e.to_string())
            .map(|rs| rs.iter().map(ToString::to_string).collect::<Vec<_>>())
    } else if windows {
        let csv = window_csv.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("rill-events-{window_records}.csv"))
        });
        crate::bench::windows::run(window_records, runs.max(1), &csv, window_input)
            .map_err(|e| e.to_string())
            .map(|rs| rs.iter().map(ToString::to_string).collect::<Vec<_>>())
    } else if shuffle {
        std::env::current_exe()
            .map_err(|e| e.to_string())
            .and_then(|exe| {
                crate::bench::shuffle::run(&exe, shuffle_records, runs.max(1))
                    .map_err(|e| e.to_string())
            })
            .map(|rs| rs.iter().map(ToString::to_string).collect::<Vec<_>>())
    } else {
        crate::bench::run(chained_records, keyed_records, runs.max(1))
            .map_err(|e| e.to_string())
            .map(|rs| rs.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    match lines {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rill: benchmark failed: {e}");
            ExitCode::from(EXIT_JOB_FAILED)
        }
    }
}
