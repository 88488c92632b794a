//! Issue 5: checkpoints taken while a job runs, and jobs restored from them — in one process
//! (the process-kill tests are in `state_recovery_processes.rs`).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use rill::api::StreamEnv;
use rill::checkpoint::storage::{self, checkpoint_ids};
use rill::checkpoint::CheckpointSettings;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::ids::JobId;
use rill::operators::sinks::CollectSink;
use rill::operators::sources::Generated;

const KEYS: u64 = 100;

/// A keyed running count over `n` generated records (key `i % 100`), slowed so that a run
/// lasts long enough to be checkpointed: every 1000th record waits 1 ms.
fn counting_job(n: u64, sink: CollectSink<(u64, u64)>, checkpoint_ms: Option<u64>) -> StreamEnv {
    let env = StreamEnv::new("keyed-count");
    if let Some(ms) = checkpoint_ms {
        env.set_checkpoint_settings(CheckpointSettings {
            interval: Some(Duration::from_millis(ms)),
            retain_on_cancellation: true,
            retained: 2,
            ..CheckpointSettings::default()
        });
    }
    env.add_source("Numbers", Generated::new(n, |i| i))
        .map(|i: u64| {
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            (i % KEYS, 1u64)
        })
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .add_sink("Collect", sink);
    env
}

/// Waits until the job's checkpoint directory holds a completed checkpoint.
async fn first_checkpoint(dir: &Path, job: JobId) -> PathBuf {
    let job_dir = dir.join(job.to_string());
    let start = Instant::now();
    loop {
        if let Some(id) = checkpoint_ids(&job_dir).first() {
            let chk = storage::checkpoint_dir(&job_dir, *id);
            if chk.join(storage::METADATA_FILE).exists() {
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

/// Runs the counting job with checkpoints at parallelism `p1`, cancels it once a checkpoint
/// completed, then restores it at `p2` and runs it to its end: every key's final count is
/// exact, and the restored run processed less than the whole input.
async fn resume_at(cluster: &MiniCluster, n: u64, p1: usize, p2: usize, dir: &Path) {
    let first = CollectSink::new();
    let env = counting_job(n, first.clone(), Some(20));
    let options = SubmitOptions {
        checkpoint_dir: Some(dir.to_path_buf()),
        ..SubmitOptions::default()
    };
    let job = cluster
        .submit_with(&env, Some(p1), &options)
        .await
        .expect("submitted");
    let job_dir = first_checkpoint(dir, job).await;
    cluster.cancel(job).await.expect("cancelled");
    let result = cluster.wait(job).await.expect("result");
    assert_eq!(result.status, JobStatus::Canceled);

    let resolved = storage::resolve(&job_dir).expect("a retained checkpoint");
    let restored_from = resolved.checkpoint.metadata.checkpoint_id;
    assert!(resolved.checkpoint.metadata.state_size() > 0);

    let second = CollectSink::new();
    let env = counting_job(n, second.clone(), None);
    let options = SubmitOptions {
        savepoint_path: Some(job_dir.clone()),
        ..SubmitOptions::default()
    };
    let job = cluster
        .submit_with(&env, Some(p2), &options)
        .await
        .expect("submitted");
    let result = cluster.wait(job).await.expect("result");
    assert_eq!(
        result.status,
        JobStatus::Finished,
        "restored from checkpoint {restored_from}: {:?}",
        result.failure
    );
    let updates = second.take();
    assert!(
        (updates.len() as u64) < n,
        "the restored run started over: {} updates for {n} records",
        updates.len()
    );
    let mut last: HashMap<u64, u64> = HashMap::new();
    for (k, c) in updates {
        let e = last.entry(k).or_default();
        *e = (*e).max(c);
    }
    assert_eq!(last.len() as u64, KEYS, "p {p1} -> {p2}");
    for (k, c) in last {
        assert_eq!(c, n / KEYS, "key {k}'s count after restoring {p1} -> {p2}");
    }
}

#[test]
fn a_keyed_count_resumes_from_its_checkpoint_with_exact_counts() {
    common::init_logging();
    let dir = common::temp_dir("resume");
    let d = dir.clone();
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(120),
        |c| async move {
            resume_at(&c, 1_000_000, 2, 2, &d.join("same")).await;
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_restores_at_other_parallelisms() {
    common::init_logging();
    let dir = common::temp_dir("rescale");
    let d = dir.clone();
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(180),
        |c| async move {
            for p2 in [1, 3, 4] {
                resume_at(&c, 1_000_000, 2, p2, &d.join(format!("to-{p2}"))).await;
            }
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}
