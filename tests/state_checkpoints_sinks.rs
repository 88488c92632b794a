//! Issue 16: the two-phase-commit file sink and the end of input behind the final checkpoint,
//! and a drained stop with a savepoint (split from `state_checkpoints.rs`; the sink writes to
//! local paths, so these run on a local checkpoint directory only).

mod common;

use std::time::Duration;

use rill::api::{Collector, SourceFunction, SourcePoll};
use rill::checkpoint::storage;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::JobStatus;
use rill::operators::sources::Generated;
use rill::operators::two_phase::TwoPhaseCommitFileSink;
use rill::operators::UserError;
use rill::state::{ListMode, OperatorSnapshot, RestoredState};

use common::checkpoints::*;

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
    on_storages(
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
                let leftovers: Vec<String> = rill::checkpoint::store::files(&out)
                    .expect("output")
                    .into_iter()
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
