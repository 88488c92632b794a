//! Issue 22: checkpoints on an object store that fails. The S3 API server (moto) is stopped
//! while a job checkpoints to it: the checkpoints fail (the job does not), and once it is
//! back a later checkpoint completes and can be restored. (A damaged object is covered by
//! `state_checkpoints.rs`, whose fallback test runs on S3 too.) Alone in its binary: it
//! points the process's object-store clients at a server of its own, which it stops.

mod common;

use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use rill::api::StreamEnv;
use rill::checkpoint::coordinator::CheckpointStats;
use rill::checkpoint::storage;
use rill::checkpoint::CheckpointSettings;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::ids::JobId;
use rill::operators::sinks::DiscardSink;
use rill::operators::sources::Generated;

use common::s3::S3Server;

/// Polls the job's checkpoint statistics until `done` holds (at most `limit`).
async fn wait_for(
    c: &MiniCluster,
    job: JobId,
    limit: Duration,
    what: &str,
    done: impl Fn(&CheckpointStats) -> bool,
) -> CheckpointStats {
    let start = Instant::now();
    loop {
        let s = common::checkpoint_stats(c, job).await;
        if done(&s) {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "{what} in {limit:?}: {:?}",
            s.counts
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A keyed count over an endless paced stream, checkpointing every 100 ms and tolerating any
/// number of failed checkpoints.
fn endless_job() -> StreamEnv {
    let env = StreamEnv::new("keyed-count-on-s3");
    env.set_checkpoint_settings(CheckpointSettings {
        interval: Some(Duration::from_millis(100)),
        timeout: Duration::from_secs(60),
        tolerable_failures: u32::MAX,
        ..CheckpointSettings::default()
    });
    env.add_source("Numbers", Generated::new(u64::MAX, |i| i))
        .map(|i: u64| {
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            (i % 100, 1u64)
        })
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .add_sink("Discard", DiscardSink::counting(Default::default()));
    env
}

#[test]
fn checkpoints_fail_while_the_object_store_is_down_and_succeed_once_it_is_back() {
    common::init_logging();
    let mut server = S3Server::start();
    server.configure();
    let port = server.port;
    let dir = server.prefix("outage");
    let d = dir.clone();
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(150),
        move |c| async move {
            let options = SubmitOptions {
                checkpoint_dir: Some(d.clone()),
                ..SubmitOptions::default()
            };
            let job = c
                .submit_with(&endless_job(), Some(2), &options)
                .await
                .expect("submitted");
            let before = wait_for(&c, job, Duration::from_secs(30), "no checkpoint", |s| {
                s.counts.completed > 0
            })
            .await;
            eprintln!("checkpoints before the outage: {:?}", before.counts);

            server.stop();
            let down = wait_for(
                &c,
                job,
                Duration::from_secs(60),
                "no checkpoint failed while the store was down",
                |s| s.counts.failed > before.counts.failed,
            )
            .await;
            let failed = down.latest.failed.clone().expect("a failed checkpoint");
            let reason = failed.failure.clone().unwrap_or_default();
            eprintln!("checkpoint {} failed: {reason}", failed.id);
            assert!(
                reason.contains(&d.display().to_string()),
                "the failure names the object: {reason}"
            );
            // Restoring meanwhile names the outage, not a missing checkpoint.
            let job_dir = d.join(job.to_string());
            let e = storage::resolve(&job_dir).expect_err("the store is down");
            let named = e.to_string();
            assert!(
                named.contains(&job_dir.display().to_string())
                    && named.contains("Error performing"),
                "{named}"
            );

            // The server comes back empty (moto keeps nothing): the next checkpoint is whole.
            let server = S3Server::start_on(port);
            let back = wait_for(
                &c,
                job,
                Duration::from_secs(60),
                "no checkpoint completed once the store was back",
                |s| {
                    s.latest
                        .completed
                        .as_ref()
                        .is_some_and(|r| r.id > failed.id)
                },
            )
            .await;
            let completed = back.latest.completed.clone().expect("completed");
            eprintln!(
                "checkpoint {} completed after the outage: {:?}",
                completed.id, back.counts
            );
            let resolved = storage::resolve(&job_dir).expect("the new checkpoint restores");
            assert!(resolved.checkpoint.metadata.checkpoint_id > failed.id);
            assert!(resolved.checkpoint.metadata.state_size() > 0);

            c.cancel(job).await.expect("cancelled");
            let result = c.wait(job).await.expect("result");
            assert_eq!(result.status, JobStatus::Canceled, "{:?}", result.failure);
            drop(server);
        },
    );
}
