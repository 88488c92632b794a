//! Throughput benchmarks, run by `cargo bench` and `rill bench`:
//! (a) source → map → filter → sink, chained, parallelism 1, records `(u64, u64)`;
//! (b) source → key_by → keyed running count → sink, parallelism 2, through the in-process
//!     exchange.
//! Each is run several times on one mini cluster; the median is reported.
//! (c), the shuffle between TaskManager processes, is in [`shuffle`].

pub mod events;
pub mod nexmark;
pub mod recovery;
pub mod shuffle;
pub mod sql;
pub mod state;
pub mod takeover;
pub mod windows;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::System;

use crate::actors::dispatcher::JobResult;
use crate::actors::{MiniCluster, MiniClusterConfig};
use crate::api::StreamEnv;
use crate::graph::JobStatus;
use crate::jobs::JobRegistry;
use crate::operators::sinks::DiscardSink;

/// The source of benchmarks (a) and (b).
pub type PairSource = crate::operators::sources::Generated<(u64, u64), fn(u64) -> (u64, u64)>;

/// `(i, i * 7)` pairs.
pub fn pairs(n: u64) -> PairSource {
    crate::operators::sources::Generated::new(n, |i| (i, i.wrapping_mul(7)))
}

/// One benchmark's figures.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// What was measured.
    pub name: String,
    /// Records per run.
    pub records: u64,
    /// Records per second of each run.
    pub runs: Vec<f64>,
}

/// The median of `v` (0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl BenchResult {
    /// A result of no run yet.
    pub fn new(name: String, records: u64) -> Self {
        Self {
            name,
            records,
            runs: Vec::new(),
        }
    }

    /// The median of the runs.
    pub fn median(&self) -> f64 {
        median(&self.runs)
    }
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|r| format!("{:.2}", r / 1e6))
            .collect();
        write!(
            f,
            "{}: median {:.2} M records/s over {} runs of {} records (runs: {} M/s)",
            self.name,
            self.median() / 1e6,
            self.runs.len(),
            self.records,
            runs.join(", ")
        )
    }
}

fn chained(n: u64, sink: DiscardSink) -> StreamEnv {
    let env = StreamEnv::new("bench-chained");
    env.set_parallelism(1);
    env.add_source("Pairs", pairs(n))
        .map(|(a, b): (u64, u64)| (a ^ b, b.wrapping_add(a)))
        .filter(|t: &(u64, u64)| t.1 & 7 != 7)
        .add_sink("Discard", sink);
    env
}

fn keyed(n: u64, sink: DiscardSink) -> StreamEnv {
    let env = StreamEnv::new("bench-keyed");
    env.set_parallelism(2);
    env.add_source("Pairs", pairs(n))
        .map(|(a, _): (u64, u64)| (a % 10_000, 1u64))
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .add_sink("Discard", sink);
    env
}

/// Whether the in-process benchmarks run with task metrics (`rill bench --no-task-metrics`
/// turns them off, to measure what they cost in one build).
static TASK_METRICS: AtomicBool = AtomicBool::new(true);

/// Runs the in-process benchmarks with task metrics on or off.
pub fn set_task_metrics(on: bool) {
    TASK_METRICS.store(on, Ordering::Relaxed);
}

/// The cluster the in-process benchmarks run on: one TaskManager of 2 slots.
pub(crate) async fn bench_cluster(registry: JobRegistry) -> Result<MiniCluster, crate::Error> {
    let runtime = crate::config::RuntimeConfig {
        task_metrics: TASK_METRICS.load(Ordering::Relaxed),
        ..crate::config::RuntimeConfig::default()
    };
    bench_cluster_with(registry, runtime).await
}

/// As [`bench_cluster`], with `runtime` settings.
pub(crate) async fn bench_cluster_with(
    registry: JobRegistry,
    runtime: crate::config::RuntimeConfig,
) -> Result<MiniCluster, crate::Error> {
    let config = MiniClusterConfig {
        task_managers: 1,
        slots_per_task_manager: 2,
        runtime,
        ..MiniClusterConfig::default()
    };
    Ok(MiniCluster::start(config, Arc::new(registry)).await?)
}

/// Runs a benchmark job `runs` times: each run's rate is `records` over its time from
/// submission to end. `run_once` submits and waits; a run that does not finish, or whose
/// sink saw nothing, fails the benchmark.
pub(crate) async fn measure<F, Fut>(
    name: &str,
    records: u64,
    runs: usize,
    mut run_once: F,
) -> Result<BenchResult, crate::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(JobResult, Option<u64>), crate::Error>>,
{
    let mut r = BenchResult::new(name.to_string(), records);
    for _ in 0..runs {
        let start = Instant::now();
        let (result, seen) = run_once().await?;
        let secs = start.elapsed().as_secs_f64();
        let problem = match (result.status, seen) {
            (JobStatus::Finished, Some(0)) => Some("its sink saw no record".to_string()),
            (JobStatus::Finished, _) => None,
            (status, _) => Some(format!("it ended {status:?}: {:?}", result.failure)),
        };
        if let Some(message) = problem {
            return Err(crate::data::OperatorError::Failed {
                operator: name.into(),
                message: format!("benchmark job failed: {message}"),
            }
            .into());
        }
        r.runs.push(records as f64 / secs);
    }
    Ok(r)
}

/// Runs both benchmarks `runs` times with `chained_records` and `keyed_records` records.
pub fn run(
    chained_records: u64,
    keyed_records: u64,
    runs: usize,
) -> Result<Vec<BenchResult>, crate::Error> {
    System::new().block_on(async move {
        let cluster = bench_cluster(JobRegistry::default()).await?;
        let mut results = Vec::new();
        for (name, n, build) in [
            (
                "(a) source -> map -> filter -> sink, chained, p=1",
                chained_records,
                chained as fn(u64, DiscardSink) -> StreamEnv,
            ),
            (
                "(b) source -> key_by -> keyed running count -> sink, p=2",
                keyed_records,
                keyed,
            ),
        ] {
            let cluster = &cluster;
            results.push(
                measure(name, n, runs, || async move {
                    let count = Arc::new(AtomicU64::new(0));
                    let env = build(n, DiscardSink::counting(count.clone()));
                    let result = cluster.execute(&env, None).await?;
                    Ok((result, Some(count.load(Ordering::Relaxed))))
                })
                .await?,
            );
        }
        cluster.shutdown();
        Ok(results)
    })
}
