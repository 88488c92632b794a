//! Helpers of the checkpoint tests (`state_checkpoints*.rs`): a paced keyed count, submitting
//! with checkpoints, waiting for one, restoring, and running on each checkpoint storage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use rill::api::StreamEnv;
use rill::checkpoint::storage::{self, checkpoint_ids};
use rill::checkpoint::store;
use rill::checkpoint::CheckpointSettings;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::ids::JobId;
use rill::operators::sinks::CollectSink;
use rill::operators::sources::Generated;

use super::s3::Storage;

pub const KEYS: u64 = 100;

/// A job named `name`, checkpointing every `checkpoint_ms` (when set) and keeping its last two
/// checkpoints, also when cancelled.
pub fn job_env(name: &str, checkpoint_ms: Option<u64>) -> StreamEnv {
    let env = StreamEnv::new(name);
    if let Some(ms) = checkpoint_ms {
        env.set_checkpoint_settings(CheckpointSettings {
            interval: Some(Duration::from_millis(ms)),
            retain_on_cancellation: true,
            retained: 2,
            ..CheckpointSettings::default()
        });
    }
    env
}

/// Slows a generated stream so that a run lasts long enough to be checkpointed: every 1000th
/// record waits 1 ms.
pub fn pace(i: u64) {
    if i % 1000 == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A keyed running count over `n` generated records (key `i % 100`), slowed so that a run
/// lasts long enough to be checkpointed: every 1000th record waits 1 ms.
pub fn counting_job(
    n: u64,
    sink: CollectSink<(u64, u64)>,
    checkpoint_ms: Option<u64>,
) -> StreamEnv {
    let env = job_env("keyed-count", checkpoint_ms);
    env.add_source("Numbers", Generated::new(n, |i| i))
        .map(|i: u64| {
            pace(i);
            (i % KEYS, 1u64)
        })
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .add_sink("Collect", sink);
    env
}

/// Submits `env` at parallelism `p` with its checkpoints under `dir`.
pub async fn submit_checkpointed(
    c: &MiniCluster,
    env: &StreamEnv,
    p: usize,
    dir: PathBuf,
) -> JobId {
    let options = SubmitOptions {
        checkpoint_dir: Some(dir),
        ..SubmitOptions::default()
    };
    c.submit_with(env, Some(p), &options)
        .await
        .expect("submitted")
}

/// Waits until the job's checkpoint directory holds a completed checkpoint.
pub async fn first_checkpoint(dir: &Path, job: JobId) -> PathBuf {
    let job_dir = dir.join(job.to_string());
    let start = Instant::now();
    loop {
        if let Some(id) = checkpoint_ids(&job_dir).first() {
            let chk = storage::checkpoint_dir(&job_dir, *id);
            if store::exists(&chk.join(storage::METADATA_FILE)) {
                return job_dir;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no checkpoint completed in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `env` at parallelism `p` with checkpoints under `dir`, cancels it once a checkpoint
/// completed, and returns its checkpoint directory.
pub async fn checkpoint_then_cancel(
    c: &MiniCluster,
    env: &StreamEnv,
    p: usize,
    dir: &Path,
) -> PathBuf {
    let job = submit_checkpointed(c, env, p, dir.to_path_buf()).await;
    let job_dir = first_checkpoint(dir, job).await;
    c.cancel(job).await.expect("cancelled");
    let result = c.wait(job).await.expect("result");
    assert_eq!(result.status, JobStatus::Canceled);
    job_dir
}

/// Runs `env` at parallelism `p` restored from `path`; it must finish.
pub async fn run_restored(c: &MiniCluster, env: &StreamEnv, p: usize, path: PathBuf) {
    let result = super::run_from(c, env, p, path, SubmitOptions::default()).await;
    assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
}

/// The largest value per key (a running count's final value).
pub fn largest_per_key(rows: impl IntoIterator<Item = (u64, u64)>) -> HashMap<u64, u64> {
    let mut last: HashMap<u64, u64> = HashMap::new();
    for (k, v) in rows {
        let e = last.entry(k).or_default();
        *e = (*e).max(v);
    }
    last
}

/// Every key of the counting job counted all its `n / KEYS` records, once.
pub fn assert_exact_counts(rows: Vec<(u64, u64)>, n: u64, what: &str) {
    let last = largest_per_key(rows);
    assert_eq!(last.len() as u64, KEYS, "{what}");
    for (k, c) in last {
        assert_eq!(c, n / KEYS, "key {k}'s count, {what}");
    }
}

/// Runs `f` with a fresh cluster (one TaskManager of 4 slots) and a fresh directory, removed
/// afterwards.
pub fn on_cluster<F, Fut, T>(name: &str, limit: Duration, f: F) -> T
where
    F: FnOnce(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    on_storage(Storage::Local, name, limit, f)
}

/// Runs `f` with a fresh cluster and a fresh location on `storage`, removed afterwards.
pub fn on_storage<F, Fut, T>(storage: Storage, name: &str, limit: Duration, f: F) -> T
where
    F: FnOnce(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    super::init_logging();
    eprintln!("checkpoints on {storage:?}");
    let dir = storage.location(name);
    let d = dir.clone();
    let out = super::with_cluster(super::cluster(1, 4), limit, move |c| f(c, d));
    storage.clean(&dir);
    out
}

/// Runs `f` as [`on_storage`] does, once on each storage.
pub fn on_storages<F, Fut>(name: &str, limit: Duration, f: F)
where
    F: Fn(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for storage in Storage::ALL {
        on_storage(storage, name, limit, &f);
    }
}

/// Whether nothing is left at `location` (a directory or a prefix).
pub fn gone(location: &Path) -> bool {
    store::children(location).map_or(true, |c| c.is_empty())
}
