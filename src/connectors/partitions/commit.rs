//! The partitioned sink's two operators: `StreamingFileWriter`, the two-phase-commit file
//! sink that reports its committed partitions, and `PartitionCommitter` (see the parent
//! module).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{CommitPolicy, Trigger};
use crate::api::SinkFunction;
use crate::data::UserError;
use crate::eventtime::processing_time_now as now_ms;
use crate::eventtime::Timestamp;
use crate::operators::sinks::SinkOperator;
use crate::operators::two_phase::{commit_part, due, BucketLine, Pending, TwoPhaseCommitFileSink};
use crate::operators::{Batch, Operator, OperatorError, Output, RuntimeContext};
use crate::state::{ListMode, OperatorSnapshot, RestoredState, StateSnapshot};

/// What a writer subtask tells the committer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionCommitInfo {
    /// Partitions that parts were committed to.
    pub partitions: Vec<String>,
    /// At the writer's end, when a final checkpoint follows: its parts that this checkpoint
    /// commits.
    pub ending: Vec<Pending>,
}

/// The writer: the two-phase-commit file sink (run as any sink is), which also reports its
/// committed partitions.
pub(super) struct PartitionWriter {
    sink: SinkOperator<BucketLine, TwoPhaseCommitFileSink<BucketLine>>,
    check: Duration,
    next_check: Timestamp,
    /// Committed partitions not yet reported.
    report: BTreeSet<String>,
}

impl PartitionWriter {
    pub(super) fn new(
        name: &str,
        sink: TwoPhaseCommitFileSink<BucketLine>,
        check: Duration,
    ) -> Self {
        Self {
            sink: SinkOperator::new(name, sink),
            check,
            next_check: Timestamp::MAX,
            report: BTreeSet::new(),
        }
    }

    /// Sends the committed partitions not yet reported.
    fn send(&mut self, out: &mut Output<'_>, ending: Vec<Pending>) -> Result<(), OperatorError> {
        self.report
            .extend(self.sink.sink_mut().take_committed_buckets());
        if self.report.is_empty() && ending.is_empty() {
            return Ok(());
        }
        let info = PartitionCommitInfo {
            partitions: std::mem::take(&mut self.report).into_iter().collect(),
            ending,
        };
        out.emit(Batch::new(vec![info]))
    }
}

impl Operator for PartitionWriter {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), OperatorError> {
        self.next_check = now_ms().saturating_add(self.check.as_millis() as i64);
        self.sink.open(ctx)?;
        // Parts of a restored checkpoint were committed: their partitions are reported.
        self.report
            .extend(self.sink.sink_mut().take_committed_buckets());
        Ok(())
    }

    fn process_batch(
        &mut self,
        input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        self.sink.process_batch(input, batch, out)?;
        self.send(out, Vec::new())
    }

    fn process_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        self.send(out, Vec::new())?;
        out.emit_watermark(watermark)
    }

    fn end_input(&mut self, input: usize, out: &mut Output<'_>) -> Result<(), OperatorError> {
        self.sink.end_input(input, out)?;
        let sink = self.sink.sink_mut();
        let ending = if sink.has_final_checkpoint() {
            sink.pending().to_vec()
        } else {
            Vec::new()
        };
        self.send(out, ending)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        // A commit to report goes out at once.
        Some(if self.report.is_empty() {
            self.next_check
        } else {
            0
        })
    }

    fn on_processing_time(
        &mut self,
        now: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if now >= self.next_check {
            let rolled = self.sink.sink_mut().roll(Instant::now());
            rolled.map_err(|e| self.sink.error(e))?;
            self.next_check = now.saturating_add(self.check.as_millis() as i64);
        }
        self.send(out, Vec::new())
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), OperatorError> {
        self.sink.initialize_state(restored)
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<StateSnapshot, OperatorError> {
        self.sink.snapshot_state(checkpoint_id)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        self.sink.notify_checkpoint_complete(checkpoint_id)?;
        self.report
            .extend(self.sink.sink_mut().take_committed_buckets());
        Ok(())
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.sink.close()
    }
}

const WAITING: &str = "waiting";
const ENDING: &str = "ending";

/// The committer (one subtask): commits the partitions the writers report once their trigger
/// says they are complete.
#[derive(Clone)]
pub struct PartitionCommitter {
    dir: PathBuf,
    policy: Option<CommitPolicy>,
    /// Partitions with data not yet committed, with when their data was first reported.
    waiting: BTreeMap<String, Timestamp>,
    /// The writers' last parts, committed by the final checkpoint.
    ending: Vec<Pending>,
    watermark: Timestamp,
    ended: bool,
    final_checkpoint: bool,
    name: String,
}

impl PartitionCommitter {
    pub(super) fn new(dir: PathBuf, policy: Option<CommitPolicy>) -> Self {
        Self {
            dir,
            policy,
            waiting: BTreeMap::new(),
            ending: Vec::new(),
            watermark: Timestamp::MIN,
            ended: false,
            final_checkpoint: false,
            name: "PartitionCommitter".into(),
        }
    }

    /// Commits the waiting partitions that are complete (all of them once `all`).
    fn commit_ready(&mut self, all: bool) -> Result<(), UserError> {
        let Some(policy) = &self.policy else {
            self.waiting.clear();
            return Ok(());
        };
        let now = now_ms();
        let mut done = Vec::new();
        for (partition, first) in &self.waiting {
            let ready = all
                || match &policy.trigger {
                    Trigger::ProcessTime => now >= first.saturating_add(policy.delay_ms),
                    Trigger::PartitionTime(extract) => {
                        let Some(t) = extract.time_of(partition) else {
                            return Err(format!(
                                "cannot extract a time from partition '{partition}' (check 'partition.time-extractor.timestamp-pattern' and '…timestamp-formatter')"
                            )
                            .into());
                        };
                        self.watermark > t.saturating_add(policy.delay_ms)
                    }
                };
            if ready {
                let file = self.dir.join(partition).join(&policy.success_file);
                crate::checkpoint::store::write_atomically(&file, b"").map_err(|e| {
                    Box::new(OperatorError::io(&self.name, file.display(), &e)) as UserError
                })?;
                tracing::debug!(partition = %partition, "committed a partition");
                done.push(partition.clone());
            }
        }
        for p in done {
            self.waiting.remove(&p);
        }
        Ok(())
    }
}

impl SinkFunction<PartitionCommitInfo> for PartitionCommitter {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.final_checkpoint = ctx.final_checkpoint;
        self.name = ctx.operator_name.clone();
        Ok(())
    }

    fn invoke(&mut self, value: PartitionCommitInfo) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, values: Vec<PartitionCommitInfo>) -> Result<(), UserError> {
        let now = now_ms();
        for info in values {
            for p in info.partitions {
                self.waiting.entry(p).or_insert(now);
            }
            self.ending.extend(info.ending);
        }
        self.commit_ready(false)
    }

    fn write_watermark(&mut self, watermark: Timestamp) -> Result<(), UserError> {
        self.watermark = watermark;
        self.commit_ready(false)
    }

    /// The end of the input: the writers have committed everything, unless a final checkpoint
    /// follows (then its completion does).
    fn finish(&mut self) -> Result<(), UserError> {
        self.ended = true;
        if self.ending.is_empty() {
            self.commit_ready(true)?;
        }
        Ok(())
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        let waiting: Vec<(String, Timestamp)> = restored.list(WAITING)?;
        self.waiting = waiting.into_iter().collect();
        self.ending = restored.list(ENDING)?;
        Ok(())
    }

    fn snapshot_state(
        &mut self,
        _checkpoint: u64,
        snapshot: &mut OperatorSnapshot,
    ) -> Result<(), UserError> {
        let waiting: Vec<(String, Timestamp)> =
            self.waiting.iter().map(|(p, t)| (p.clone(), *t)).collect();
        snapshot.add_list(WAITING, ListMode::Union, &waiting)?;
        snapshot.add_list(ENDING, ListMode::Union, &self.ending)?;
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), UserError> {
        for p in &due(&mut self.ending, checkpoint_id) {
            commit_part(&self.dir, p).map_err(|e| {
                Box::new(OperatorError::io(
                    &self.name,
                    self.dir.join(&p.in_progress).display(),
                    &e,
                )) as UserError
            })?;
            self.waiting
                .entry(p.bucket().to_string())
                .or_insert_with(now_ms);
        }
        self.commit_ready(self.ended && self.ending.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::TimeExtractor;
    use super::*;
    use crate::sql::functions::{DatePattern, Dialect};

    /// q10's commit: `partition-time`, a minute's delay, a success file.
    #[test]
    fn a_partition_commits_once_the_watermark_passes_its_time_and_delay() {
        let dir = std::env::temp_dir().join(format!("rill-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let compile = |p| Arc::new(DatePattern::compile(p, Dialect::DateTimeFormatter).expect(p));
        let policy = CommitPolicy {
            success_file: "_SUCCESS".into(),
            trigger: Trigger::PartitionTime(TimeExtractor {
                pattern: Some("$dt $hm:00".into()),
                formatter: compile("yyyy-MM-dd HH:mm:ss"),
                date: None,
            }),
            delay_ms: 60_000,
        };
        let (p0, p1) = ("dt=2015-07-15/hm=00%3A00", "dt=2015-07-15/hm=00%3A01");
        for p in [p0, p1] {
            std::fs::create_dir_all(dir.join(p)).expect("partition dir");
        }
        let mut c = PartitionCommitter::new(dir.clone(), Some(policy));
        c.invoke(PartitionCommitInfo {
            partitions: vec![p0.into(), p1.into()],
            ending: Vec::new(),
        })
        .expect("takes the report");
        let done = |p: &str| dir.join(p).join("_SUCCESS").exists();
        // 00:00 + 1 min is 1_436_918_460_000.
        c.write_watermark(1_436_918_460_000).expect("watermark");
        assert!(!done(p0), "the watermark must pass the time and delay");
        c.write_watermark(1_436_918_460_001).expect("watermark");
        assert!(done(p0) && !done(p1));
        // The end of the input commits what is left.
        c.finish().expect("ends");
        assert!(done(p1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
