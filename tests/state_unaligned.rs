//! Issue 5: unaligned checkpoints. Under heavy backpressure (an operator far slower than its
//! source) aligned barriers wait behind every queued buffer and their checkpoints time out,
//! while unaligned barriers overtake the queues and their checkpoints complete, holding the
//! overtaken records; a job restored from one processes each of those records exactly once.
//!
//! The verdicts do not rest on this machine's speed: the slow operator waits at a gate (in a
//! slot of its own) until its source is backpressured, so every queue is full before a barrier
//! can pass; in the aligned run it never opens (no aligned barrier can get through), and the
//! runs last until the checkpoints they wait for have an outcome, not for a fixed time.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use rill::api::StreamEnv;
use rill::checkpoint::coordinator::CheckpointStats;
use rill::checkpoint::storage::{self, checkpoint_ids};
use rill::checkpoint::CheckpointSettings;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::ids::JobId;
use rill::operators::sinks::{CollectSink, DiscardSink};
use rill::operators::sources::Generated;

const KEYS: u64 = 100;

/// The checkpoint timeout of the backpressure runs. An unaligned checkpoint waits for the
/// slow operator to finish the buffer it is processing (up to about 0.4 s) at its source's
/// slot and at its own; about 1 s on this machine, over 2 s when the machine is busy.
const TIMEOUT_MS: u64 = 4_000;

/// Checkpoints every `interval_ms`, failing after `timeout_ms`, with failures tolerated (the
/// job must go on while aligned checkpoints time out); unaligned when `unaligned` is set, after
/// an alignment timeout of `aligned_timeout_ms`.
fn settings(
    interval_ms: u64,
    timeout_ms: u64,
    unaligned: bool,
    aligned_timeout_ms: u64,
) -> CheckpointSettings {
    CheckpointSettings {
        interval: Some(Duration::from_millis(interval_ms)),
        timeout: Duration::from_millis(timeout_ms),
        tolerable_failures: 1_000,
        retained: 2,
        retain_on_cancellation: true,
        unaligned,
        aligned_timeout: Duration::from_millis(aligned_timeout_ms),
        ..CheckpointSettings::default()
    }
}

/// Sleeps 1 ms every `every` records: an operator that processes about `1000 * every` records
/// a second.
fn slow(i: u64, every: u64) {
    if i % every == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Holds the slow operator back (its thread waits) until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<AtomicBool>);

impl Gate {
    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn pass(&self) {
        while !self.0.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A fast source (counting what it emitted into `emitted`), a rebalance, and an operator in a
/// slot of its own that waits at `gate`, then runs at about 10,000 records/s: its input queue
/// and its producer's output queue stay full (one buffer takes it about 0.4 s).
fn backpressured_job(
    checkpoints: CheckpointSettings,
    gate: &Gate,
    emitted: &Arc<AtomicU64>,
) -> StreamEnv {
    let env = StreamEnv::new("backpressured");
    env.set_checkpoint_settings(checkpoints);
    let (gate, emitted) = (gate.clone(), emitted.clone());
    env.add_source(
        "Numbers",
        Generated::new(u64::MAX, move |i| {
            emitted.store(i, Ordering::Relaxed);
            i
        }),
    )
    .rebalance()
    .map(move |i: u64| {
        gate.pass();
        slow(i, 10);
        i
    })
    .slot_sharing_group("slow")
    .add_sink("Discard", DiscardSink::counting(Default::default()));
    env
}

/// Runs the backpressured job with `checkpoints` at parallelism 1 until `done` holds for its
/// checkpoint statistics (60 s at most), cancels it, and returns the statistics. Its slow
/// operator's gate opens once the source is backpressured (it emitted nothing new for a
/// while), if `open` is set; else only to let the job be cancelled.
async fn run_until(
    c: &MiniCluster,
    checkpoints: CheckpointSettings,
    dir: &Path,
    open: bool,
    done: impl Fn(&CheckpointStats) -> bool,
) -> CheckpointStats {
    let (gate, emitted) = (Gate::default(), Arc::new(AtomicU64::new(0)));
    let env = backpressured_job(checkpoints, &gate, &emitted);
    let options = SubmitOptions {
        checkpoint_dir: Some(dir.to_path_buf()),
        ..SubmitOptions::default()
    };
    let job = c
        .submit_with(&env, Some(1), &options)
        .await
        .expect("submitted");
    let (mut last, mut still) = (u64::MAX, 0);
    while still < 5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = emitted.load(Ordering::Relaxed);
        still = if now == last && now > 0 { still + 1 } else { 0 };
        last = now;
    }
    if open {
        gate.open();
    }
    let start = Instant::now();
    let s = loop {
        let s = common::checkpoint_stats(c, job).await;
        if done(&s) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no outcome in 60 s: {}",
            summary(&s)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    gate.open();
    c.cancel(job).await.expect("cancelled");
    let result = c.wait(job).await.expect("result");
    assert_eq!(result.status, JobStatus::Canceled, "{:?}", result.failure);
    s
}

/// Runs `f` with a fresh cluster (one TaskManager of 4 slots whose output queues hold up to 8
/// buffers, so that a backpressured channel holds about 18 buffers) and a fresh directory,
/// removed afterwards.
fn on_cluster<F, Fut, T>(name: &str, limit: Duration, f: F) -> T
where
    F: FnOnce(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    common::init_logging();
    let dir = common::temp_dir(name);
    let d = dir.clone();
    let mut config = common::cluster(1, 4);
    config.runtime.outbox_capacity = 8;
    let out = common::with_cluster(config, limit, move |c| f(c, d));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn summary(s: &CheckpointStats) -> String {
    s.history
        .iter()
        .map(|r| {
            format!(
                "#{} {} {} ms, {} B in flight{}",
                r.id,
                r.status,
                r.duration_ms,
                r.persisted_data,
                r.failure
                    .as_ref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn unaligned_checkpoints_complete_under_backpressure_while_aligned_ones_time_out() {
    on_cluster(
        "unaligned-bp",
        Duration::from_secs(240),
        |c, dir| async move {
            // Aligned: a barrier waits behind every queued buffer, and the slow operator
            // never gets through them (its gate stays shut): its checkpoints time out.
            let aligned = settings(300, TIMEOUT_MS, false, 0);
            let a = run_until(&c, aligned, &dir.join("aligned"), false, |s| {
                s.counts.failed >= 2
            })
            .await;
            eprintln!("aligned: {}", summary(&a));
            assert_eq!(a.counts.completed, 0, "aligned: {}", summary(&a));
            assert!(a.counts.failed >= 1, "aligned: {}", summary(&a));
            assert!(
                a.history
                    .iter()
                    .filter(|r| r.status == "FAILED")
                    .all(|r| !r.is_unaligned && r.persisted_data == 0),
                "{}",
                summary(&a)
            );

            // Unaligned from the start: barriers overtake the queues.
            let unaligned = settings(300, TIMEOUT_MS, true, 0);
            let u = run_until(&c, unaligned, &dir.join("unaligned"), true, |s| {
                s.counts.completed >= 2
            })
            .await;
            eprintln!("unaligned: {}", summary(&u));
            assert!(u.counts.completed >= 2, "unaligned: {}", summary(&u));
            let completed: Vec<_> = u
                .history
                .iter()
                .filter(|r| r.status == "COMPLETED")
                .collect();
            assert!(
                completed
                    .iter()
                    .all(|r| r.is_unaligned && r.persisted_data > 0),
                "every unaligned checkpoint holds the records its barriers overtook: {}",
                summary(&u)
            );

            // Aligned first, unaligned once a subtask has not aligned 100 ms after the trigger.
            let switching = settings(300, TIMEOUT_MS, true, 100);
            let s = run_until(&c, switching, &dir.join("switching"), true, |s| {
                s.counts.completed >= 2
            })
            .await;
            eprintln!("aligned with a 100 ms timeout: {}", summary(&s));
            assert!(s.counts.completed >= 2, "switching: {}", summary(&s));
            assert!(
                s.history
                    .iter()
                    .filter(|r| r.status == "COMPLETED")
                    .all(|r| r.is_unaligned),
                "{}",
                summary(&s)
            );
        },
    );
}

/// A keyed running count over `n` records (key `i % 100`) whose counting operator is slowed
/// to about 100,000 records/s (so its input backs up), checkpointing unaligned when
/// `checkpoints` is set.
fn counting_job(
    n: u64,
    sink: CollectSink<(u64, u64)>,
    checkpoints: Option<CheckpointSettings>,
) -> StreamEnv {
    let env = StreamEnv::new("slow-keyed-count");
    if let Some(s) = checkpoints {
        env.set_checkpoint_settings(s);
    }
    env.add_source("Numbers", Generated::new(n, |i| i))
        .map(|i: u64| (i % KEYS, 1u64))
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .map(|t: (u64, u64)| {
            slow(t.1, 100);
            t
        })
        .add_sink("Collect", sink);
    env
}

/// Waits for a completed checkpoint that persisted in-flight records; returns the job's
/// checkpoint directory.
async fn checkpoint_with_in_flight_data(dir: &Path, job: JobId) -> PathBuf {
    let job_dir = dir.join(job.to_string());
    let start = Instant::now();
    loop {
        let found = checkpoint_ids(&job_dir).iter().any(|id| {
            storage::read_metadata(&storage::checkpoint_dir(&job_dir, *id))
                .is_ok_and(|m| m.persisted_size() > 0)
        });
        if found {
            return job_dir;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no unaligned checkpoint with in-flight data in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn in_flight_records_of_an_unaligned_checkpoint_are_processed_once_after_a_restore() {
    on_cluster(
        "unaligned-restore",
        Duration::from_secs(120),
        |c, dir| async move {
            let n = 600_000;
            let env = counting_job(n, CollectSink::new(), Some(settings(100, 10_000, true, 0)));
            let options = SubmitOptions {
                checkpoint_dir: Some(dir.clone()),
                ..SubmitOptions::default()
            };
            let job = c
                .submit_with(&env, Some(2), &options)
                .await
                .expect("submitted");
            let job_dir = checkpoint_with_in_flight_data(&dir, job).await;
            c.cancel(job).await.expect("cancelled");
            let result = c.wait(job).await.expect("result");
            assert_eq!(result.status, JobStatus::Canceled, "{:?}", result.failure);

            let restored = storage::resolve(&job_dir).expect("a retained checkpoint");
            let meta = &restored.checkpoint.metadata;
            eprintln!(
                "restoring checkpoint {}: {} B of state, {} B in flight",
                meta.checkpoint_id,
                meta.state_size(),
                meta.persisted_size()
            );
            assert!(
                meta.persisted_size() > 0,
                "the newest checkpoint holds no in-flight records"
            );

            // In-flight records belong to their subtasks' key groups: another parallelism is refused.
            let rescaled = counting_job(n, CollectSink::new(), None);
            let result =
                common::run_from(&c, &rescaled, 1, job_dir.clone(), SubmitOptions::default()).await;
            assert_eq!(result.status, JobStatus::Failed);
            let failure = result.failure.unwrap_or_default();
            assert!(
                failure.contains("restores only at that parallelism"),
                "{failure}"
            );

            let second = CollectSink::new();
            let env = counting_job(n, second.clone(), None);
            let result = common::run_from(&c, &env, 2, job_dir, SubmitOptions::default()).await;
            assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);

            // Each key counted every one of its records exactly once: after the restore its
            // counts go up by one from the restored count to n / KEYS, with no count seen twice
            // (a record replayed twice) and none missing (a record lost).
            let mut per_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for (k, count) in second.take() {
                per_key.entry(k).or_default().push(count);
            }
            assert_eq!(per_key.len() as u64, KEYS);
            let mut resumed: HashMap<u64, u64> = HashMap::new();
            for (k, mut counts) in per_key {
                counts.sort_unstable();
                let from = counts[0];
                let want: Vec<u64> = (from..=n / KEYS).collect();
                assert_eq!(counts, want, "key {k}'s counts after the restore");
                resumed.insert(k, from - 1);
            }
            let restored_total: u64 = resumed.values().sum();
            eprintln!("the restored state had counted {restored_total} of {n} records");
            assert!(restored_total > 0 && restored_total < n);
        },
    );
}
