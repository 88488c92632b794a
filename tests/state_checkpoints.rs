//! Issue 5: checkpoints taken while a job runs, and jobs restored from them — in one process
//! (the process-kill tests are in `state_recovery_processes.rs`). The checkpoint, savepoint,
//! rescale and fallback tests run twice (issue 22): on a local directory and on an S3 API
//! server (`common::s3`).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use rill::api::{
    BroadcastContext, BroadcastProcessFunction, Collector, KeyedContext, KeyedProcessFunction,
    ProcessContext, ProcessFunction, ReadOnlyBroadcastContext, SourceFunction, SourcePoll,
    StreamEnv,
};
use rill::checkpoint::storage::{self, checkpoint_ids};
use rill::checkpoint::store;
use rill::checkpoint::CheckpointSettings;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::ids::JobId;
use rill::operators::sinks::CollectSink;
use rill::operators::sources::Generated;
use rill::operators::two_phase::TwoPhaseCommitFileSink;
use rill::operators::UserError;
use rill::state::{
    AggregatingStateDescriptor, ListMode, ListStateDescriptor, MapStateDescriptor,
    OperatorSnapshot, ReducingStateDescriptor, RestoredState, ValueStateDescriptor,
};
use rill::windowing::functions::AggregateFunction;

use common::s3::Storage;

const KEYS: u64 = 100;

/// A job named `name`, checkpointing every `checkpoint_ms` (when set) and keeping its last two
/// checkpoints, also when cancelled.
fn job_env(name: &str, checkpoint_ms: Option<u64>) -> StreamEnv {
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
fn pace(i: u64) {
    if i % 1000 == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A keyed running count over `n` generated records (key `i % 100`), slowed so that a run
/// lasts long enough to be checkpointed: every 1000th record waits 1 ms.
fn counting_job(n: u64, sink: CollectSink<(u64, u64)>, checkpoint_ms: Option<u64>) -> StreamEnv {
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
async fn submit_checkpointed(c: &MiniCluster, env: &StreamEnv, p: usize, dir: PathBuf) -> JobId {
    let options = SubmitOptions {
        checkpoint_dir: Some(dir),
        ..SubmitOptions::default()
    };
    c.submit_with(env, Some(p), &options)
        .await
        .expect("submitted")
}

/// Waits until the job's checkpoint directory holds a completed checkpoint.
async fn first_checkpoint(dir: &Path, job: JobId) -> PathBuf {
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
async fn checkpoint_then_cancel(c: &MiniCluster, env: &StreamEnv, p: usize, dir: &Path) -> PathBuf {
    let job = submit_checkpointed(c, env, p, dir.to_path_buf()).await;
    let job_dir = first_checkpoint(dir, job).await;
    c.cancel(job).await.expect("cancelled");
    let result = c.wait(job).await.expect("result");
    assert_eq!(result.status, JobStatus::Canceled);
    job_dir
}

/// Runs `env` at parallelism `p` restored from `path`; it must finish.
async fn run_restored(c: &MiniCluster, env: &StreamEnv, p: usize, path: PathBuf) {
    let result = common::run_from(c, env, p, path, SubmitOptions::default()).await;
    assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
}

/// The largest value per key (a running count's final value).
fn largest_per_key(rows: impl IntoIterator<Item = (u64, u64)>) -> HashMap<u64, u64> {
    let mut last: HashMap<u64, u64> = HashMap::new();
    for (k, v) in rows {
        let e = last.entry(k).or_default();
        *e = (*e).max(v);
    }
    last
}

/// Every key of the counting job counted all its `n / KEYS` records, once.
fn assert_exact_counts(rows: Vec<(u64, u64)>, n: u64, what: &str) {
    let last = largest_per_key(rows);
    assert_eq!(last.len() as u64, KEYS, "{what}");
    for (k, c) in last {
        assert_eq!(c, n / KEYS, "key {k}'s count, {what}");
    }
}

/// Runs `f` with a fresh cluster (one TaskManager of 4 slots) and a fresh directory, removed
/// afterwards.
fn on_cluster<F, Fut, T>(name: &str, limit: Duration, f: F) -> T
where
    F: FnOnce(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    on_storage(Storage::Local, name, limit, f)
}

/// Runs `f` with a fresh cluster and a fresh location on `storage`, removed afterwards.
fn on_storage<F, Fut, T>(storage: Storage, name: &str, limit: Duration, f: F) -> T
where
    F: FnOnce(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    common::init_logging();
    eprintln!("checkpoints on {storage:?}");
    let dir = storage.location(name);
    let d = dir.clone();
    let out = common::with_cluster(common::cluster(1, 4), limit, move |c| f(c, d));
    storage.clean(&dir);
    out
}

/// Runs `f` as [`on_storage`] does, once on each storage.
fn on_storages<F, Fut>(name: &str, limit: Duration, f: F)
where
    F: Fn(Arc<MiniCluster>, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for storage in Storage::ALL {
        on_storage(storage, name, limit, &f);
    }
}

/// Whether nothing is left at `location` (a directory or a prefix).
fn gone(location: &Path) -> bool {
    store::children(location).map_or(true, |c| c.is_empty())
}

/// Runs the counting job with checkpoints at parallelism `p1`, cancels it once a checkpoint
/// completed, then restores it at `p2` and runs it to its end: every key's final count is
/// exact, and the restored run processed less than the whole input.
async fn resume_at(cluster: &MiniCluster, n: u64, p1: usize, p2: usize, dir: &Path) {
    let env = counting_job(n, CollectSink::new(), Some(20));
    let job_dir = checkpoint_then_cancel(cluster, &env, p1, dir).await;
    let resolved = storage::resolve(&job_dir).expect("a retained checkpoint");
    assert!(resolved.checkpoint.metadata.state_size() > 0);

    let second = CollectSink::new();
    let env = counting_job(n, second.clone(), None);
    run_restored(cluster, &env, p2, job_dir).await;
    let updates = second.take();
    assert!(
        (updates.len() as u64) < n,
        "the restored run started over: {} updates for {n} records",
        updates.len()
    );
    assert_exact_counts(updates, n, &format!("after restoring {p1} -> {p2}"));
}

#[test]
fn a_keyed_count_resumes_from_its_checkpoint_with_exact_counts() {
    on_storages("resume", Duration::from_secs(120), |c, d| async move {
        resume_at(&c, 1_000_000, 2, 2, &d.join("same")).await;
    });
}

#[test]
fn a_checkpoint_restores_at_other_parallelisms() {
    on_storages("rescale", Duration::from_secs(180), |c, d| async move {
        for p2 in [1, 3, 4] {
            resume_at(&c, 1_000_000, 2, p2, &d.join(format!("to-{p2}"))).await;
        }
    });
}

/// The largest value seen (an aggregate function for the aggregating state).
#[derive(Clone)]
struct MaxOf;

impl AggregateFunction<u64> for MaxOf {
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, value: &u64, acc: &mut u64) {
        *acc = (*acc).max(*value);
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc = (*acc).max(other);
    }
}

/// Per key, everything the state types hold at the end of input: count (value), the values
/// `v % 1000 < 3` (list, sorted), how many values fell in each class `v % 7` (map, sorted),
/// the sum (reducing) and the largest value (aggregating).
type Summary = (u64, u64, Vec<u64>, Vec<(u64, u64)>, u64, u64);

/// Fills one state of each type per key, and reports them all from an event-time timer that
/// fires at the end of input (the timer is state too).
#[derive(Clone)]
struct AllStates {
    count: ValueStateDescriptor<u64>,
    picked: ListStateDescriptor<u64>,
    classes: MapStateDescriptor<u64, u64>,
    sum: ReducingStateDescriptor<u64>,
    max: AggregatingStateDescriptor<u64, MaxOf>,
}

impl AllStates {
    fn new() -> Self {
        Self {
            count: ValueStateDescriptor::new("count"),
            picked: ListStateDescriptor::new("picked"),
            classes: MapStateDescriptor::new("classes"),
            sum: ReducingStateDescriptor::new("sum", |a: u64, b: u64| a + b),
            max: AggregatingStateDescriptor::new("max", MaxOf),
        }
    }
}

impl KeyedProcessFunction<u64, (u64, u64), Summary> for AllStates {
    fn process_element(
        &mut self,
        (_, v): (u64, u64),
        ctx: &mut KeyedContext<'_, u64>,
        _out: &mut Collector<'_, Summary>,
    ) -> Result<(), UserError> {
        let mut count = ctx.value_state(&self.count)?;
        let n = count.value()?.unwrap_or(0);
        count.update(n + 1)?;
        if v % 1000 < 3 {
            ctx.list_state(&self.picked)?.add(v)?;
        }
        let mut classes = ctx.map_state(&self.classes)?;
        let c = classes.get(&(v % 7))?.unwrap_or(0);
        classes.put(v % 7, c + 1)?;
        ctx.reducing_state(&self.sum)?.add(v)?;
        ctx.aggregating_state(&self.max)?.add(&v)?;
        ctx.register_event_time_timer(i64::MAX - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, u64>,
        out: &mut Collector<'_, Summary>,
    ) -> Result<(), UserError> {
        let key = *ctx.current_key();
        let count = ctx.value_state(&self.count)?.value()?.unwrap_or(0);
        let mut picked = ctx.list_state(&self.picked)?.get()?;
        picked.sort_unstable();
        let mut classes = ctx.map_state(&self.classes)?.entries()?;
        classes.sort_unstable();
        let sum = ctx.reducing_state(&self.sum)?.get()?.unwrap_or(0);
        let max = ctx.aggregating_state(&self.max)?.get()?.unwrap_or(0);
        out.collect((key, count, picked, classes, sum, max));
        Ok(())
    }
}

const STATE_KEYS: u64 = 50;

fn all_states_job(
    n: u64,
    sink: CollectSink<Summary>,
    checkpoint_ms: Option<u64>,
    read: Arc<AtomicU64>,
) -> StreamEnv {
    let env = job_env("all-states", checkpoint_ms);
    env.add_source("Numbers", Generated::new(n, |i| i))
        .map(move |i: u64| {
            read.fetch_add(1, Ordering::Relaxed);
            pace(i);
            (i % STATE_KEYS, i)
        })
        .key_by(|t: &(u64, u64)| t.0)
        .process_keyed(AllStates::new())
        .add_sink("Collect", sink);
    env
}

/// What every key's summary must be after all `n` records.
fn expected_summaries(n: u64) -> Vec<Summary> {
    (0..STATE_KEYS)
        .map(|k| {
            let vs: Vec<u64> = (0..n).filter(|i| i % STATE_KEYS == k).collect();
            let picked = vs.iter().copied().filter(|v| v % 1000 < 3).collect();
            let classes = (0..7)
                .map(|c| (c, vs.iter().filter(|v| *v % 7 == c).count() as u64))
                .filter(|(_, n)| *n > 0)
                .collect();
            let max = vs.iter().copied().max().unwrap_or(0);
            (k, vs.len() as u64, picked, classes, vs.iter().sum(), max)
        })
        .collect()
}

#[test]
fn every_state_type_and_the_timers_survive_a_restore_at_another_parallelism() {
    let n = 600_000;
    on_storages("all-states", Duration::from_secs(120), |c, d| async move {
        let env = all_states_job(n, CollectSink::new(), Some(20), Arc::default());
        let job_dir = checkpoint_then_cancel(&c, &env, 2, &d).await;
        let sink = CollectSink::new();
        let read = Arc::new(AtomicU64::new(0));
        let env = all_states_job(n, sink.clone(), None, read.clone());
        run_restored(&c, &env, 3, job_dir).await;
        let read = read.load(Ordering::Relaxed);
        assert!(read < n, "the restored run read all {n} records again");
        let mut summaries = sink.take();
        summaries.sort();
        assert_eq!(summaries, expected_summaries(n));
    });
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one_and_names_the_file() {
    let n = 1_000_000;
    on_storages("damaged", Duration::from_secs(120), |c, d| async move {
        let env = counting_job(n, CollectSink::new(), Some(20));
        let job = submit_checkpointed(&c, &env, 2, d.clone()).await;
        let job_dir = d.join(job.to_string());
        // Two retained checkpoints.
        let start = Instant::now();
        while checkpoint_ids(&job_dir)
            .iter()
            .filter(|id| {
                store::exists(&storage::checkpoint_dir(&job_dir, **id).join(storage::METADATA_FILE))
            })
            .count()
            < 2
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no two checkpoints in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        c.cancel(job).await.expect("cancelled");
        c.wait(job).await.expect("result");

        // Truncate a state file of the newest completed checkpoint (a newer one may have
        // been cut short by the cancellation: it has no _metadata).
        let ids: Vec<u64> = checkpoint_ids(&job_dir)
            .into_iter()
            .filter(|id| {
                store::exists(&storage::checkpoint_dir(&job_dir, *id).join(storage::METADATA_FILE))
            })
            .collect();
        let newest = storage::checkpoint_dir(&job_dir, ids[0]);
        let meta = storage::read_metadata(&newest).expect("metadata");
        let handle = meta
            .vertices
            .iter()
            .flat_map(|v| v.subtasks.iter().flatten())
            .next()
            .expect("a state file")
            .clone();
        let damaged = newest.join(&handle.file);
        let bytes = store::read(&damaged).expect("state file");
        store::write_atomically(&damaged, &bytes[..bytes.len() / 2]).expect("truncate");

        let resolved = storage::resolve(&newest).expect("falls back");
        assert!(resolved.checkpoint.metadata.checkpoint_id < ids[0]);
        let named = resolved.skipped[0].to_string();
        assert!(named.contains(&damaged.display().to_string()), "{named}");

        // The job restores from the newest valid checkpoint, exactly.
        let sink = CollectSink::new();
        let env = counting_job(n, sink.clone(), None);
        run_restored(&c, &env, 2, newest.clone()).await;
        assert_exact_counts(sink.take(), n, "after falling back");

        // With every checkpoint damaged the job fails, naming a damaged file.
        for id in checkpoint_ids(&job_dir) {
            let chk = storage::checkpoint_dir(&job_dir, id);
            store::write_atomically(&chk.join(storage::METADATA_FILE), b"RILLM").expect("damage");
        }
        let env = counting_job(n, CollectSink::new(), None);
        let result = common::run_from(&c, &env, 2, job_dir.clone(), SubmitOptions::default()).await;
        assert_eq!(result.status, JobStatus::Failed);
        let failure = result.failure.unwrap_or_default();
        assert!(
            failure.contains("cannot restore") && failure.contains("_metadata"),
            "{failure}"
        );
    });
}

/// Counts the records its subtask saw (operator state: the count, split on restore) and
/// keeps the subtask indices of the run it was restored from (union state: every subtask
/// gets all of them). Emits `(subtask, count so far, union entries)` per record.
#[derive(Clone, Default)]
struct Tally {
    count: u64,
    subtask: u64,
    union: Vec<u64>,
}

impl ProcessFunction<u64, (u64, u64, u64)> for Tally {
    fn open(&mut self, ctx: &rill::operators::RuntimeContext) -> Result<(), UserError> {
        self.subtask = ctx.subtask_index as u64;
        Ok(())
    }

    fn process_element(
        &mut self,
        _value: u64,
        _ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, (u64, u64, u64)>,
    ) -> Result<(), UserError> {
        self.count += 1;
        out.collect((self.subtask, self.count, self.union.len() as u64));
        Ok(())
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        self.count = restored.list::<u64>("count")?.iter().sum();
        self.union = restored.list("subtasks")?;
        Ok(())
    }

    fn snapshot_state(&mut self, _id: u64, s: &mut OperatorSnapshot) -> Result<(), UserError> {
        s.add_list("count", ListMode::Split, &[self.count])?;
        s.add_list("subtasks", ListMode::Union, &[self.subtask])?;
        Ok(())
    }
}

fn tally_job(n: u64, sink: CollectSink<(u64, u64, u64)>, checkpoint_ms: Option<u64>) -> StreamEnv {
    let env = job_env("tally", checkpoint_ms);
    env.add_source("Numbers", Generated::new(n, |i| i))
        .map(|i: u64| {
            pace(i);
            i
        })
        .rebalance()
        .process(Tally::default())
        .add_sink("Collect", sink);
    env
}

#[test]
fn operator_list_state_is_split_or_united_when_the_parallelism_changes() {
    let n = 1_000_000;
    on_storages(
        "operator-state",
        Duration::from_secs(120),
        |c, d| async move {
            let env = tally_job(n, CollectSink::new(), Some(20));
            let job_dir = checkpoint_then_cancel(&c, &env, 2, &d).await;
            let sink = CollectSink::new();
            let env = tally_job(n, sink.clone(), None);
            run_restored(&c, &env, 3, job_dir).await;
            let rows = sink.take();
            assert!((rows.len() as u64) < n, "the restored run started over");
            // Union state: every new subtask got both old subtasks' entries.
            assert!(
                rows.iter().all(|r| r.2 == 2),
                "union state not given whole to every subtask"
            );
            // Split state: the old counts were dealt out, none lost or doubled.
            let last = largest_per_key(rows.into_iter().map(|(s, count, _)| (s, count)));
            assert_eq!(last.values().sum::<u64>(), n, "{last:?}");
        },
    );
}

#[test]
fn bounded_jobs_checkpointing_constantly_still_finish() {
    on_storages("constant", Duration::from_secs(120), |c, d| async move {
        for run in 0..10 {
            let sink = CollectSink::new();
            let env = counting_job(20_000 + run * 1000, sink.clone(), Some(1));
            let job = submit_checkpointed(&c, &env, 2, d.clone()).await;
            let result = c.wait(job).await.expect("result");
            assert_eq!(
                result.status,
                JobStatus::Finished,
                "run {run}: {:?}",
                result.failure
            );
        }
    });
}

#[test]
fn a_savepoint_in_its_default_place_outlives_its_job_and_restores_it() {
    let n = 1_000_000;
    on_storages(
        "default-savepoint",
        Duration::from_secs(120),
        |c, d| async move {
            // Checkpointing on, so the job's checkpoint directory is removed when it is cancelled.
            let env = counting_job(n, CollectSink::new(), Some(1000));
            let mut settings = env.checkpoint_settings();
            settings.retain_on_cancellation = false;
            env.set_checkpoint_settings(settings);
            let job = submit_checkpointed(&c, &env, 2, d.clone()).await;
            let id = common::trigger_savepoint(&c, job).await;
            let location = common::savepoint_outcome(&c, job, id)
                .await
                .expect("the savepoint completes");
            c.cancel(job).await.expect("cancelled");
            c.wait(job).await.expect("result");
            assert!(
                gone(&d.join(job.to_string())),
                "the job's checkpoints are removed"
            );
            let location = PathBuf::from(location);
            assert!(location.starts_with(d.join("savepoints")), "{location:?}");
            assert!(
                store::exists(&location.join(storage::METADATA_FILE)),
                "the savepoint stays"
            );

            let sink = CollectSink::new();
            let env = counting_job(n, sink.clone(), None);
            run_restored(&c, &env, 2, location).await;
            assert_exact_counts(sink.take(), n, "after restoring the savepoint");
        },
    );
}

/// Stores broadcast rules `(key, threshold)`; answers each key with its rule.
#[derive(Clone)]
struct ApplyRules {
    rules: MapStateDescriptor<u64, u64>,
}

impl BroadcastProcessFunction<u64, (u64, u64), (u64, Option<u64>)> for ApplyRules {
    fn process_element(
        &mut self,
        key: u64,
        ctx: &mut ReadOnlyBroadcastContext<'_>,
        out: &mut Collector<'_, (u64, Option<u64>)>,
    ) -> Result<(), UserError> {
        let rules = ctx.broadcast_state(&self.rules)?;
        out.collect((key, rules.get(&key).copied()));
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        (key, threshold): (u64, u64),
        ctx: &mut BroadcastContext<'_>,
        _out: &mut Collector<'_, (u64, Option<u64>)>,
    ) -> Result<(), UserError> {
        ctx.broadcast_state(&self.rules)?.put(key, threshold);
        Ok(())
    }
}

/// Rules from `rules` records (`i % 50 → (i % 50) * 10`), keys `i % 50` from `keys` records,
/// both paced so that the job stays up to be checkpointed, through
/// `ApplyRules`; the sources' uids carry `tag`, so runs with other inputs share only the
/// broadcast operator's state.
fn rules_job(tag: &str, rules: u64, keys: u64, sink: CollectSink<(u64, Option<u64>)>) -> StreamEnv {
    let env = job_env("broadcast-rules", Some(20));
    let rule_stream = env
        .add_source("Rules", Generated::new(rules, |i| i))
        .uid(&format!("rules-{tag}"))
        .map(|i: u64| {
            pace(i);
            (i % 50, (i % 50) * 10)
        });
    env.add_source("Keys", Generated::new(keys, |i| i))
        .uid(&format!("keys-{tag}"))
        .map(|i: u64| {
            pace(i);
            i % 50
        })
        .connect_broadcast(&rule_stream.broadcast_stream())
        .process(ApplyRules {
            rules: MapStateDescriptor::new("rules"),
        })
        .uid("apply-rules")
        .add_sink("Collect", sink);
    env
}

/// Broadcast state: checkpointed at parallelism 2 after the rules arrived, restored at 3
/// with no rules coming: every instance answers every key from the restored rules.
#[test]
fn broadcast_state_is_restored_whole_into_every_instance_at_another_parallelism() {
    on_storages(
        "broadcast-state",
        Duration::from_secs(60),
        |c, dir| async move {
            let env = rules_job("first", 1_000_000, 1_000_000, CollectSink::new());
            let job_dir = checkpoint_then_cancel(&c, &env, 2, &dir).await;

            let sink = CollectSink::new();
            let env = rules_job("second", 0, 3_000, sink.clone());
            let options = SubmitOptions {
                allow_non_restored_state: true,
                ..SubmitOptions::default()
            };
            let result = common::run_from(&c, &env, 3, job_dir, options).await;
            assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
            let answers = sink.take();
            assert_eq!(answers.len(), 3_000);
            for (key, rule) in answers {
                assert_eq!(rule, Some(key * 10), "key {key}");
            }
        },
    );
}

/// Emits `0..n`, then stays idle until a checkpoint took its position at the end, and ends
/// with the poll right after it: the end of the input reaches the sinks right behind that
/// checkpoint's barrier, before the checkpoint can have completed.
#[derive(Clone)]
struct EndsRightAfterACheckpoint {
    n: u64,
    next: u64,
    checkpointed_at_end: bool,
}

impl SourceFunction<u64> for EndsRightAfterACheckpoint {
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, u64>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        if self.next == self.n {
            return Ok(if self.checkpointed_at_end {
                SourcePoll::Finished
            } else {
                SourcePoll::Idle
            });
        }
        let end = (self.next + max as u64).min(self.n);
        for i in self.next..end {
            out.collect(i);
        }
        self.next = end;
        Ok(SourcePoll::Ready)
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        if let Some(next) = restored.list::<u64>("next")?.first() {
            self.next = *next;
        }
        Ok(())
    }

    fn snapshot_state(&mut self, snapshot: &mut OperatorSnapshot) -> Result<(), UserError> {
        snapshot.add_list("next", ListMode::Split, &[self.next])?;
        self.checkpointed_at_end |= self.next == self.n;
        Ok(())
    }
}

/// Issue 16's lost output, step by step: a two-phase-commit sink closed a part at checkpoint
/// N (pending until N completes); the end of the input came right behind N's barrier. The
/// subtasks used to finish at once, so N's notification found no sink to commit the part, and
/// when a source had finished before N reached it, N was aborted and no later checkpoint
/// came: the part's records were never committed. Now the subtasks wait for the final
/// checkpoint. Once with the sink chained to the source, once behind a network shuffle.
#[test]
fn records_a_sink_received_before_the_end_of_input_are_all_committed() {
    on_cluster(
        "final-checkpoint",
        Duration::from_secs(60),
        |c, d| async move {
            const N: u64 = 10_000;
            let env = job_env("ends-right-after-a-checkpoint", Some(20));
            let numbers = env.add_source(
                "Numbers",
                EndsRightAfterACheckpoint {
                    n: N,
                    next: 0,
                    checkpointed_at_end: false,
                },
            );
            let (chained, shuffled) = (d.join("chained"), d.join("shuffled"));
            numbers.add_sink(
                "Chained",
                TwoPhaseCommitFileSink::<u64>::new(chained.clone()),
            );
            numbers
                .rebalance()
                .map(|i: u64| i)
                .set_parallelism(2)
                .add_sink(
                    "Shuffled",
                    TwoPhaseCommitFileSink::<u64>::new(shuffled.clone()),
                )
                .set_parallelism(2);
            let job = submit_checkpointed(&c, &env, 1, d.join("checkpoints")).await;
            let result = c.wait(job).await.expect("result");
            assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
            let mut want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
            want.sort_unstable();
            for out in [chained, shuffled] {
                let got = common::committed_lines(&out);
                assert_eq!(
                    got.len(),
                    want.len(),
                    "records committed in {}",
                    out.display()
                );
                assert!(got == want, "{} holds other records", out.display());
                let leftovers: Vec<String> = std::fs::read_dir(&out)
                    .expect("output")
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| !n.starts_with("part-"))
                    .collect();
                assert!(leftovers.is_empty(), "uncommitted files: {leftovers:?}");
            }
            // The final checkpoint holds the sources at their end: a job restored from it
            // replays nothing.
            let job_dir = d.join("checkpoints").join(job.to_string());
            let finals = common::completed_checkpoints(&job_dir);
            assert!(!finals.is_empty(), "the final checkpoint is retained");
            let again = common::run_from(&c, &env, 1, job_dir, SubmitOptions::default()).await;
            assert_eq!(again.status, JobStatus::Finished, "{:?}", again.failure);
            for out in [d.join("chained"), d.join("shuffled")] {
                assert!(
                    common::committed_lines(&out) == want,
                    "{} changed after a restore from the final checkpoint",
                    out.display()
                );
            }
        },
    );
}

/// Stop-with-savepoint, draining (`rill stop --drain`): the sources stop at the savepoint's
/// barrier after the maximum watermark, end once it completed, and the job FINISHES with every
/// record before the barrier committed by its two-phase-commit sink, none after it. (The
/// sources used to go on: the stop was never handed to them.)
#[test]
fn a_drained_stop_finishes_the_job_with_exactly_what_came_before_its_savepoint() {
    on_cluster("stop-drain", Duration::from_secs(60), |c, d| async move {
        let env = job_env("stopped-with-drain", Some(50));
        let out = d.join("out");
        env.add_source("Numbers", Generated::new(u64::MAX, |i| i))
            .map(|i: u64| {
                pace(i);
                i
            })
            .add_sink("Committed", TwoPhaseCommitFileSink::<u64>::new(out.clone()));
        let job = submit_checkpointed(&c, &env, 2, d.join("checkpoints")).await;
        first_checkpoint(&d.join("checkpoints"), job).await;
        let id = common::trigger_savepoint_with(&c, job, Some(true)).await;
        let path = common::savepoint_outcome(&c, job, id)
            .await
            .expect("the savepoint completes");
        let result = c.wait(job).await.expect("result");
        assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
        // Each source subtask's range, from its start: a prefix, once each, nothing after.
        let mut got: Vec<u64> = common::committed_lines(&out)
            .iter()
            .map(|l| l.parse().expect("a number"))
            .collect();
        got.sort_unstable();
        let (low, high): (Vec<u64>, Vec<u64>) = got.iter().partition(|&&i| i < u64::MAX / 4);
        assert!(!low.is_empty() && !high.is_empty(), "both subtasks wrote");
        let high_start = high[0];
        assert!(
            high_start >= u64::MAX / 2 - 1,
            "the second range starts at {high_start}"
        );
        for (range, start) in [(low, 0), (high, high_start)] {
            let n = range.len() as u64;
            assert!(
                range.iter().copied().eq(start..start + n),
                "records from {start}: {n} records, not a gapless prefix"
            );
        }
        // The savepoint holds the sources where they stopped: restored from it, the job
        // starts after the last committed record of each range.
        assert!(std::path::Path::new(&path)
            .join(storage::METADATA_FILE)
            .exists());
    });
}
