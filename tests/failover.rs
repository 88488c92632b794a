//! Failover: restart strategies decide whether a failed job runs again and after how long;
//! a restarted job restores its newest completed checkpoint; every failure is in the job's
//! exception history with what the job did about it.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::actors::dispatcher::RequestJobDetails;
use rill::actors::job_info::JobInfo;
use rill::actors::MiniCluster;
use rill::api::{Collector, KeyedContext, KeyedProcessFunction, StreamEnv};
use rill::checkpoint::CheckpointSettings;
use rill::graph::{ExecutionState, JobStatus, RestartStrategy};
use rill::ids::JobId;
use rill::operators::UserError;
use rill::state::ValueStateDescriptor;

const RECORDS: u64 = 2_000;
const FAIL_AT: u64 = 500;

/// What the failing function saw: failures it caused (with when), and when each attempt
/// first saw a record.
#[derive(Default)]
struct Trace {
    failures: AtomicU32,
    failed_at: Mutex<Vec<Instant>>,
    started_at: Mutex<Vec<Instant>>,
}

/// `RECORDS` numbers through a function that fails at `FAIL_AT` the first `fail` times it
/// gets there (`u32::MAX`: always), into a collecting sink.
fn failing_job(
    name: &str,
    fail: u32,
    trace: Arc<Trace>,
) -> (StreamEnv, rill::operators::sinks::CollectSink<u64>) {
    let env = StreamEnv::new(name);
    let out = env
        .sequence(1, RECORDS)
        .set_parallelism(1)
        .process(
            move |v: u64,
                  _ctx: &mut rill::api::ProcessContext<'_>,
                  out: &mut Collector<'_, u64>|
                  -> Result<(), UserError> {
                if v == 1 {
                    if let Ok(mut s) = trace.started_at.lock() {
                        s.push(Instant::now());
                    }
                }
                if v == FAIL_AT && trace.failures.load(Ordering::SeqCst) < fail {
                    trace.failures.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut f) = trace.failed_at.lock() {
                        f.push(Instant::now());
                    }
                    return Err(format!("failing on purpose at {v}").into());
                }
                out.collect(v);
                Ok(())
            },
        )
        .collect();
    (env, out)
}

async fn details(c: &MiniCluster, job: JobId) -> JobInfo {
    c.dispatcher()
        .send(RequestJobDetails { job_id: job })
        .await
        .expect("dispatcher answers")
        .expect("job known")
}

/// Runs `env` with `strategy` to its end; returns its final details.
async fn run_with(c: &MiniCluster, env: &StreamEnv, strategy: RestartStrategy) -> JobInfo {
    env.set_restart_strategy(strategy);
    let job = c.submit(env, None).await.expect("submitted");
    c.wait(job).await.expect("result");
    details(c, job).await
}

/// Runs `failing_job(name, fail)` with `strategy` to its end: its final details and trace.
async fn run_failing(
    c: &MiniCluster,
    name: &str,
    fail: u32,
    strategy: RestartStrategy,
) -> (JobInfo, Arc<Trace>) {
    let trace = Arc::new(Trace::default());
    let (env, _) = failing_job(name, fail, trace.clone());
    (run_with(c, &env, strategy).await, trace)
}

/// The gaps between each failure and the next attempt's first record.
fn restart_gaps(trace: &Trace) -> Vec<Duration> {
    let failed = trace.failed_at.lock().expect("lock").clone();
    let started = trace.started_at.lock().expect("lock").clone();
    failed
        .iter()
        .zip(started.iter().skip(1))
        .map(|(f, s)| s.saturating_duration_since(*f))
        .collect()
}

/// What each failure did; the job counted one restart per failure that restarted it.
fn outcomes(info: &JobInfo) -> Vec<JobStatus> {
    let o: Vec<JobStatus> = info.failures.exceptions.iter().map(|e| e.outcome).collect();
    let restarted = o.iter().filter(|s| **s == JobStatus::Restarting).count();
    assert_eq!(info.failures.restarts, restarted as u64, "{o:?}");
    o
}

/// The outcomes of `restarts` restarts and a last failure that fails the job.
fn gave_up_after(restarts: usize) -> Vec<JobStatus> {
    let mut o = vec![JobStatus::Restarting; restarts];
    o.push(JobStatus::Failing);
    o
}

fn attempts(info: &JobInfo) -> Vec<u32> {
    info.vertices
        .iter()
        .flat_map(|v| v.subtasks.iter().map(|s| s.attempt))
        .collect()
}

/// Runs `f` on a cluster of one TaskManager with two slots, within 60 s.
fn on_small_cluster<F, Fut>(f: F)
where
    F: FnOnce(Arc<MiniCluster>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    common::init_logging();
    common::with_cluster(common::cluster(1, 2), Duration::from_secs(60), f);
}

#[test]
fn fixed_delay_restarts_after_its_delay_and_the_job_finishes() {
    on_small_cluster(|c| async move {
        let trace = Arc::new(Trace::default());
        let (env, out) = failing_job("fixed-delay", 2, trace.clone());
        let info = run_with(
            &c,
            &env,
            RestartStrategy::fixed_delay(3, Duration::from_millis(300)),
        )
        .await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        assert_eq!(trace.failures.load(Ordering::SeqCst), 2);
        assert_eq!(outcomes(&info), vec![JobStatus::Restarting; 2]);
        for e in &info.failures.exceptions {
            assert_eq!(e.restart_delay, Some(Duration::from_millis(300)));
            assert_eq!(e.kind, rill::actors::job_info::FailureKind::TaskFailure);
            assert!(
                e.message.contains("failing on purpose at 500"),
                "{}",
                e.message
            );
            assert!(
                e.task.as_deref().is_some_and(|t| t.contains("(1/1)")),
                "{:?}",
                e.task
            );
        }
        // Every subtask runs its third attempt (numbers start at 0).
        assert!(
            attempts(&info).iter().all(|a| *a == 2),
            "{:?}",
            attempts(&info)
        );
        let gaps = restart_gaps(&trace);
        assert_eq!(gaps.len(), 2);
        for g in gaps {
            assert!(g >= Duration::from_millis(300), "restarted after {g:?}");
        }
        // Without checkpoints each attempt starts over: the last one delivers everything.
        let got = out.take();
        assert!(got.len() as u64 >= RECORDS);
        assert_eq!(got.iter().filter(|v| **v == RECORDS).count(), 1);
    });
}

#[test]
fn fixed_delay_gives_up_after_its_attempts() {
    on_small_cluster(|c| async move {
        let (info, trace) = run_failing(
            &c,
            "gives-up",
            u32::MAX,
            RestartStrategy::fixed_delay(2, Duration::from_millis(50)),
        )
        .await;
        assert_eq!(info.status, JobStatus::Failed);
        assert_eq!(trace.failures.load(Ordering::SeqCst), 3);
        assert_eq!(outcomes(&info), gave_up_after(2));
        let failure = info.failure.unwrap_or_default();
        assert!(failure.contains("failing on purpose"), "{failure}");
        assert!(failure.contains("fixed-delay"), "{failure}");
    });
}

#[test]
fn failure_rate_tolerates_spread_failures_and_gives_up_on_a_burst() {
    on_small_cluster(|c| async move {
        // Spread: each failure is alone in its 200 ms, since restarts wait 300 ms.
        let (info, trace) = run_failing(
            &c,
            "rate-spread",
            3,
            RestartStrategy::failure_rate(
                1,
                Duration::from_millis(200),
                Duration::from_millis(300),
            ),
        )
        .await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        assert_eq!(outcomes(&info), vec![JobStatus::Restarting; 3]);
        assert_eq!(trace.failures.load(Ordering::SeqCst), 3);
        // A burst: three failures within 10 s, two tolerated.
        let (info, trace) = run_failing(
            &c,
            "rate-burst",
            u32::MAX,
            RestartStrategy::failure_rate(2, Duration::from_secs(10), Duration::from_millis(20)),
        )
        .await;
        assert_eq!(info.status, JobStatus::Failed);
        assert_eq!(trace.failures.load(Ordering::SeqCst), 3);
        assert_eq!(outcomes(&info), gave_up_after(2));
    });
}

#[test]
fn exponential_delay_doubles_its_wait() {
    on_small_cluster(|c| async move {
        let (info, trace) = run_failing(
            &c,
            "exponential",
            3,
            RestartStrategy::ExponentialDelay {
                initial_ms: 100,
                max_ms: 10_000,
                multiplier: 2.0,
                reset_after_ms: 60_000,
                jitter: 0.0,
            },
        )
        .await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        let delays: Vec<u64> = info
            .failures
            .exceptions
            .iter()
            .filter_map(|e| e.restart_delay.map(|d| d.as_millis() as u64))
            .collect();
        assert_eq!(delays, vec![100, 200, 400]);
        let gaps = restart_gaps(&trace);
        assert_eq!(gaps.len(), 3);
        for (g, d) in gaps.iter().zip(&delays) {
            assert!(*g >= Duration::from_millis(*d), "waited {g:?}, not {d} ms");
        }
    });
}

#[test]
fn none_fails_at_the_first_failure_and_checkpointing_jobs_default_to_exponential_delay() {
    on_small_cluster(|c| async move {
        let (info, trace) = run_failing(&c, "none", 1, RestartStrategy::None).await;
        assert_eq!(info.status, JobStatus::Failed);
        assert_eq!(trace.failures.load(Ordering::SeqCst), 1);
        assert_eq!(outcomes(&info), vec![JobStatus::Failing]);
        assert_eq!(
            info.failure.as_deref(),
            Some("Source: Sequence -> Process -> Sink: Collect (1/1) failed: Process failed: failing on purpose at 500"),
        );
        // No strategy named, checkpointing on: Flink's exponential delay (1 s ± 10%).
        let trace = Arc::new(Trace::default());
        let (env, _) = failing_job("default", 1, trace.clone());
        let scratch = common::temp_dir("failover-default");
        env.set_checkpoint_settings(CheckpointSettings {
            interval: Some(Duration::from_millis(100)),
            dir: Some(scratch.clone()),
            ..CheckpointSettings::default()
        });
        let job = c.submit(&env, None).await.expect("submitted");
        c.wait(job).await.expect("result");
        let info = details(&c, job).await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        assert_eq!(outcomes(&info), vec![JobStatus::Restarting]);
        let d = info.failures.exceptions[0]
            .restart_delay
            .unwrap_or_default();
        assert!(
            d >= Duration::from_millis(900) && d <= Duration::from_millis(1100),
            "{d:?}"
        );
        let _ = std::fs::remove_dir_all(scratch);
    });
}

/// Counts records per key in `ValueState`, emitting each new count.
#[derive(Clone)]
struct Count(ValueStateDescriptor<u64>);

impl KeyedProcessFunction<u64, u64, (u64, u64)> for Count {
    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64>,
        out: &mut Collector<'_, (u64, u64)>,
    ) -> Result<(), UserError> {
        let mut s = ctx.value_state(&self.0)?;
        let n = s.value()?.unwrap_or(0) + 1;
        s.update(n)?;
        out.collect((v % 10, n));
        Ok(())
    }
}

#[test]
fn a_restarted_job_resumes_from_its_newest_checkpoint() {
    common::init_logging();
    const N: u64 = 200_000;
    let dir = common::temp_dir("failover-restore");
    let (watch, scratch) = (dir.clone(), dir.clone());
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(90),
        |c| async move {
            let failed = Arc::new(AtomicU32::new(0));
            let first_seen = Arc::new(AtomicU64::new(0));
            let (f, seen) = (failed.clone(), first_seen.clone());
            let env = StreamEnv::new("restore");
            env.set_parallelism(2);
            env.set_checkpoint_settings(CheckpointSettings {
                interval: Some(Duration::from_millis(50)),
                dir: Some(dir.clone()),
                ..CheckpointSettings::default()
            });
            env.set_restart_strategy(RestartStrategy::fixed_delay(1, Duration::from_millis(10)));
            let out = env
                .sequence(1, N)
                .set_parallelism(1)
                .map(move |v: u64| {
                    if v == 1 {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    // Slow enough for checkpoints to complete while it runs.
                    if v % 500 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    v
                })
                .set_parallelism(1)
                .process(
                    move |v: u64,
                          _ctx: &mut rill::api::ProcessContext<'_>,
                          out: &mut Collector<'_, u64>|
                          -> Result<(), UserError> {
                        // Fail once, past the middle, as soon as a checkpoint completed.
                        if v > N / 2
                            && v % 1_000 == 0
                            && f.load(Ordering::SeqCst) == 0
                            && has_completed_checkpoint(&watch)
                        {
                            f.fetch_add(1, Ordering::SeqCst);
                            return Err("failing once on purpose".into());
                        }
                        out.collect(v);
                        Ok(())
                    },
                )
                .set_parallelism(1)
                .key_by(|v: &u64| v % 10)
                .process_keyed(Count(ValueStateDescriptor::new("count")))
                .collect();
            let job = c.submit(&env, None).await.expect("submitted");
            c.wait(job).await.expect("result");
            let info = details(&c, job).await;
            assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
            assert_eq!(failed.load(Ordering::SeqCst), 1, "the job never failed");
            assert_eq!(outcomes(&info), vec![JobStatus::Restarting]);
            // Restored, the source went on from its checkpointed position: record 1 was read once.
            assert_eq!(first_seen.load(Ordering::SeqCst), 1);
            // Each key's final count is exact: state and positions came from the same checkpoint.
            let mut last = [0u64; 10];
            for (k, n) in out.take() {
                last[k as usize] = last[k as usize].max(n);
            }
            assert_eq!(last, [N / 10; 10]);
        },
    );
    let _ = std::fs::remove_dir_all(scratch);
}

/// Whether any checkpoint under `dir` completed (its `_metadata` exists).
fn has_completed_checkpoint(dir: &std::path::Path) -> bool {
    let Ok(jobs) = std::fs::read_dir(dir) else {
        return false;
    };
    jobs.flatten()
        .any(|job| !common::completed_checkpoints(&job.path()).is_empty())
}

/// Two independent pipelines: A fails once, B counts to `N` slowly.
fn two_pipelines(
    trace: Arc<Trace>,
    failover: rill::graph::FailoverStrategy,
) -> (StreamEnv, rill::operators::sinks::CollectSink<u64>) {
    const N: u64 = 100_000;
    let env = StreamEnv::new("two-pipelines");
    env.set_failover_strategy(failover);
    env.set_restart_strategy(RestartStrategy::fixed_delay(1, Duration::from_millis(50)));
    env.sequence(1, RECORDS)
        .process(
            move |v: u64,
                  _ctx: &mut rill::api::ProcessContext<'_>,
                  out: &mut Collector<'_, u64>|
                  -> Result<(), UserError> {
                if v == FAIL_AT && trace.failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err("pipeline A fails once".into());
                }
                out.collect(v);
                Ok(())
            },
        )
        .collect();
    let b = env
        .sequence(1, N)
        .map(|v: u64| {
            if v % 1_000 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            v
        })
        .collect();
    (env, b)
}

/// The attempt numbers of the vertices whose name contains `part`.
fn attempts_of(info: &JobInfo, part: &str) -> Vec<u32> {
    info.vertices
        .iter()
        .filter(|v| v.name.contains(part))
        .flat_map(|v| v.subtasks.iter().map(|s| s.attempt))
        .collect()
}

#[test]
fn region_failover_restarts_only_the_failed_pipeline() {
    on_small_cluster(|c| async move {
        let trace = Arc::new(Trace::default());
        let (env, b) = two_pipelines(trace.clone(), rill::graph::FailoverStrategy::Region);
        let job = c.submit(&env, None).await.expect("submitted");
        c.wait(job).await.expect("result");
        let info = details(&c, job).await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        assert_eq!(trace.failures.load(Ordering::SeqCst), 2, "A failed once");
        assert_eq!(outcomes(&info), vec![JobStatus::Restarting]);
        assert_eq!(info.failures.exceptions[0].restarted_subtasks, Some(1));
        assert_eq!(attempts_of(&info, "Process"), vec![1]);
        assert_eq!(attempts_of(&info, "Map"), vec![0], "B was restarted");
        // B ran once, uninterrupted: every number exactly once.
        let got = b.take();
        assert_eq!(got.len(), 100_000);
        assert_eq!(got.iter().sum::<u64>(), 100_000 * 100_001 / 2);

        // The same failure with full failover restarts B too.
        let trace = Arc::new(Trace::default());
        let (env, _) = two_pipelines(trace.clone(), rill::graph::FailoverStrategy::Full);
        let job = c.submit(&env, None).await.expect("submitted");
        c.wait(job).await.expect("result");
        let info = details(&c, job).await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        assert_eq!(info.failures.exceptions[0].restarted_subtasks, Some(2));
        assert_eq!(attempts_of(&info, "Process"), vec![1]);
        assert_eq!(attempts_of(&info, "Map"), vec![1]);
    });
}

#[test]
fn a_job_whose_slots_never_come_fails_after_the_slot_timeout() {
    let mut config = common::cluster(1, 2);
    config.runtime.slot_request_timeout = Duration::from_millis(300);
    common::with_cluster(config, Duration::from_secs(30), |c| async move {
        let env = StreamEnv::new("too-wide");
        env.set_parallelism(4);
        env.add_source(
            "G",
            rill::operators::sources::Generated::new(10, |i: u64| i),
        )
        .collect();
        let started = Instant::now();
        let r = c.execute(&env, None).await.expect("result");
        assert_eq!(r.status, JobStatus::Failed);
        assert!(started.elapsed() >= Duration::from_millis(300));
        let failure = r.failure.unwrap_or_default();
        assert!(
            failure.contains("could not acquire the 4 slots the job needs within 300ms"),
            "{failure}"
        );
    });
}

/// A savepoint in flight when the job restarts is aborted with the restart as its reason (it
/// is neither left pending nor counted as a failed checkpoint, which would fail a job that
/// tolerates none), and a savepoint taken after the restart completes.
#[test]
fn a_savepoint_in_flight_when_the_job_restarts_fails_and_a_later_one_completes() {
    use rill::graph::job_graph::SubmitOptions;
    use rill::operators::sinks::DiscardSink;
    use rill::operators::sources::Generated;
    use std::sync::atomic::AtomicBool;
    common::init_logging();
    let dir = common::temp_dir("savepoint-restart");
    let d = dir.clone();
    // Small output queues: the slow operator's input backs up and an aligned barrier waits
    // behind it for seconds.
    let mut config = common::cluster(1, 2);
    config.runtime.outbox_capacity = 8;
    common::with_cluster(config, Duration::from_secs(90), |c| async move {
        let slow = Arc::new(AtomicBool::new(true));
        let fail = Arc::new(AtomicBool::new(false));
        let env = StreamEnv::new("savepoint during a restart");
        env.set_checkpoint_settings(CheckpointSettings {
            interval: Some(Duration::from_secs(3600)),
            ..CheckpointSettings::default()
        });
        env.set_restart_strategy(RestartStrategy::fixed_delay(3, Duration::from_millis(100)));
        let (s, f) = (slow.clone(), fail.clone());
        env.add_source("Numbers", Generated::new(u64::MAX, |i| i))
            .rebalance()
            .process(
                move |i: u64,
                      _ctx: &mut rill::api::ProcessContext<'_>,
                      out: &mut Collector<'_, u64>|
                      -> Result<(), UserError> {
                    if f.swap(false, Ordering::SeqCst) {
                        return Err("failing on purpose during a savepoint".into());
                    }
                    if s.load(Ordering::SeqCst) && i % 10 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    out.collect(i);
                    Ok(())
                },
            )
            .add_sink("Discard", DiscardSink::counting(Default::default()));
        let options = SubmitOptions {
            checkpoint_dir: Some(d),
            ..SubmitOptions::default()
        };
        let job = c
            .submit_with(&env, Some(1), &options)
            .await
            .expect("submitted");

        let first = common::trigger_savepoint(&c, job).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            common::savepoint_status(&c, job, first).await,
            None,
            "the savepoint's barrier waits behind the backed-up input"
        );
        fail.store(true, Ordering::SeqCst);
        let why = common::savepoint_outcome(&c, job, first)
            .await
            .expect_err("the restart aborts the savepoint");
        assert!(why.contains("restarts"), "{why}");

        slow.store(false, Ordering::SeqCst);
        let second = common::trigger_savepoint(&c, job).await;
        let location = common::savepoint_outcome(&c, job, second)
            .await
            .expect("the savepoint after the restart completes");
        assert!(
            std::path::Path::new(&location)
                .join(rill::checkpoint::storage::METADATA_FILE)
                .exists(),
            "{location}"
        );
        let info = details(&c, job).await;
        assert_eq!(info.status, JobStatus::Running, "{:?}", info.failure);
        assert_eq!(outcomes(&info), vec![JobStatus::Restarting]);
        c.cancel(job).await.expect("cancelled");
        c.wait(job).await.expect("result");
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// Terminates the TaskManager that job details name `name`.
fn terminate(c: &MiniCluster, name: &str) {
    let id = c
        .task_manager_ids()
        .iter()
        .find(|t| t.to_string() == name)
        .cloned()
        .expect("a TaskManager of the cluster");
    assert!(c.terminate_task_manager(&id));
}

/// Region failover also when a TaskManager is lost: pipeline A and pipeline B (a keyed count)
/// run in their own slot sharing groups on TaskManagers of one slot each, a third TaskManager
/// spare. The TaskManager running B is terminated: only B restarts, in the spare slot,
/// restored from its newest checkpoint, while A runs on untouched.
#[test]
fn a_lost_taskmanager_restarts_only_the_region_it_ran() {
    common::init_logging();
    const NA: u64 = 40_000;
    const N: u64 = 200_000;
    let dir = common::temp_dir("failover-region-tm");
    let (watch, scratch) = (dir.clone(), dir.clone());
    let mut config = common::cluster(3, 1);
    config.runtime.heartbeat_interval = Duration::from_millis(50);
    common::with_cluster(config, Duration::from_secs(90), |c| async move {
        let env = StreamEnv::new("two pipelines, a TaskManager lost");
        env.set_checkpoint_settings(CheckpointSettings {
            interval: Some(Duration::from_millis(50)),
            dir: Some(dir.clone()),
            ..CheckpointSettings::default()
        });
        env.set_restart_strategy(RestartStrategy::fixed_delay(3, Duration::from_millis(10)));
        env.set_failover_strategy(rill::graph::FailoverStrategy::Region);
        // A: about 4 s.
        let a = env
            .sequence(1, NA)
            .map(|v: u64| {
                if v % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                v
            })
            .name("Pipeline A")
            .collect();
        // B: about 2 s, in its own slot.
        let b = env
            .sequence(1, N)
            .slot_sharing_group("b")
            .map(|v: u64| {
                if v % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                v
            })
            .name("Pipeline B")
            .key_by(|v: &u64| v % 10)
            .process_keyed(Count(ValueStateDescriptor::new("count")))
            .name("Pipeline B count")
            .collect();
        let job = c.submit(&env, Some(1)).await.expect("submitted");
        // Once a checkpoint completed while B runs, terminate B's TaskManager.
        let end = Instant::now() + Duration::from_secs(20);
        let (lost, a_tm) = loop {
            let info = details(&c, job).await;
            let tm_of = |part: &str| {
                info.vertices
                    .iter()
                    .filter(|v| v.name.contains(part))
                    .flat_map(|v| v.subtasks.iter())
                    .find_map(|s| s.task_manager.clone())
            };
            let b_running = info
                .vertices
                .iter()
                .filter(|v| v.name.contains("Pipeline B"))
                .all(|v| {
                    v.subtasks
                        .iter()
                        .all(|s| s.state == ExecutionState::Running)
                });
            if let (true, true, Some(b_tm), Some(a_tm)) = (
                b_running,
                has_completed_checkpoint(&watch),
                tm_of("Pipeline B"),
                tm_of("Pipeline A"),
            ) {
                break (b_tm, a_tm);
            }
            assert!(Instant::now() < end, "no checkpoint while B runs: {info:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_ne!(lost, a_tm, "A and B share a TaskManager");
        terminate(&c, &lost);

        c.wait(job).await.expect("result");
        let info = details(&c, job).await;
        assert_eq!(info.status, JobStatus::Finished, "{:?}", info.failure);
        assert_eq!(outcomes(&info), vec![JobStatus::Restarting]);
        let e = &info.failures.exceptions[0];
        assert_eq!(e.kind, rill::actors::job_info::FailureKind::TaskManagerLost);
        assert_eq!(e.restarted_subtasks, Some(2), "B's two subtasks");
        assert_eq!(attempts_of(&info, "Pipeline A"), vec![0]);
        assert_eq!(attempts_of(&info, "Pipeline B"), vec![1, 1]);
        // B runs again on the spare TaskManager.
        for v in info
            .vertices
            .iter()
            .filter(|v| v.name.contains("Pipeline B"))
        {
            let tm = v.subtasks[0].task_manager.clone().unwrap_or_default();
            assert!(tm != lost && tm != a_tm, "{} on {tm}", v.name);
        }
        // A ran once, uninterrupted: every number exactly once.
        let mut got = a.take();
        got.sort_unstable();
        assert_eq!(got, (1..=NA).collect::<Vec<u64>>());
        // B's counts are exact: state and positions came from the same checkpoint.
        let mut last = [0u64; 10];
        for (k, n) in b.take() {
            last[k as usize] = last[k as usize].max(n);
        }
        assert_eq!(last, [N / 10; 10]);
    });
    let _ = std::fs::remove_dir_all(scratch);
}

/// A restarted region whose lost slot is never replaced fails the job over as a whole after
/// the slot request timeout; with no slots for the whole job either, the job fails, saying so.
#[test]
fn a_region_whose_lost_slot_never_comes_back_fails_the_job_over() {
    common::init_logging();
    let mut config = common::cluster(2, 1);
    config.runtime.heartbeat_interval = Duration::from_millis(50);
    config.runtime.slot_request_timeout = Duration::from_millis(300);
    common::with_cluster(config, Duration::from_secs(60), |c| async move {
        let env = StreamEnv::new("no spare slot");
        env.set_restart_strategy(RestartStrategy::fixed_delay(3, Duration::from_millis(10)));
        env.set_failover_strategy(rill::graph::FailoverStrategy::Region);
        // Two endless pipelines in their own slot sharing groups: one slot each.
        for (name, group) in [("A", "a"), ("B", "b")] {
            env.add_source(
                name,
                rill::operators::sources::Generated::new(u64::MAX, |i| i),
            )
            .slot_sharing_group(group)
            .map(|v: u64| {
                std::thread::sleep(Duration::from_millis(1));
                v
            })
            .add_sink(
                "Discard",
                rill::operators::sinks::DiscardSink::counting(Default::default()),
            );
        }
        let job = c.submit(&env, Some(1)).await.expect("submitted");
        let end = Instant::now() + Duration::from_secs(20);
        let b_tm = loop {
            let info = details(&c, job).await;
            let b = info
                .vertices
                .iter()
                .find(|v| v.name.contains("Source: B"))
                .and_then(|v| v.subtasks.first())
                .filter(|s| s.state == ExecutionState::Running)
                .and_then(|s| s.task_manager.clone());
            if let Some(tm) = b {
                break tm;
            }
            assert!(Instant::now() < end, "B never ran: {info:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        terminate(&c, &b_tm);
        c.wait(job).await.expect("result");
        let info = details(&c, job).await;
        assert_eq!(info.status, JobStatus::Failed);
        let kinds: Vec<_> = info
            .failures
            .exceptions
            .iter()
            .map(|e| (e.kind, e.outcome))
            .collect();
        use rill::actors::job_info::FailureKind;
        assert_eq!(
            kinds,
            vec![
                (FailureKind::TaskManagerLost, JobStatus::Restarting),
                (FailureKind::JobFailure, JobStatus::Restarting),
            ],
            "{:?}",
            info.failures.exceptions
        );
        assert!(
            info.failures.exceptions[1]
                .message
                .contains("could not acquire the slots of a lost TaskManager within 300ms"),
            "{}",
            info.failures.exceptions[1].message
        );
        let failure = info.failure.unwrap_or_default();
        assert!(
            failure.contains("could not acquire the 2 slots the job needs within 300ms"),
            "{failure}"
        );
    });
}
