//! Issue 5: checkpoints taken while a job runs, and jobs restored from them — in one process
//! (the process-kill tests are in `state_recovery_processes.rs`). The checkpoint, savepoint,
//! rescale and fallback tests run twice (issue 22): on a local directory and on an S3 API
//! server (`common::s3`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use rill::api::{
    BroadcastContext, BroadcastProcessFunction, Collector, KeyedContext, KeyedProcessFunction,
    ProcessContext, ProcessFunction, ReadOnlyBroadcastContext, StreamEnv,
};
use rill::checkpoint::storage::{self, checkpoint_ids};
use rill::checkpoint::store;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::operators::sinks::CollectSink;
use rill::operators::sources::Generated;
use rill::operators::UserError;
use rill::state::{
    AggregatingStateDescriptor, ListMode, ListStateDescriptor, MapStateDescriptor,
    OperatorSnapshot, ReducingStateDescriptor, RestoredState, ValueStateDescriptor,
};
use rill::windowing::functions::AggregateFunction;

use common::checkpoints::*;

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
