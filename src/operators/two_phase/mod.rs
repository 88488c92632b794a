//! A two-phase-commit file sink (Flink's `FileSink` with exactly-once semantics): records are
//! written as lines to a part file in progress; at a checkpoint the part file is closed and
//! becomes *pending* (its name is checkpointed); once the checkpoint completed it is
//! *committed* (renamed to its final name). The output directory's committed files hold every
//! record exactly once, whatever failures and restores happened.
//!
//! ## Files
//! - In progress: `.inprogress-<job>-<subtask>-<attempt>-<n>` (hidden; never part of the
//!   output). The attempt makes every name new: a restarted subtask never writes over a file
//!   of an earlier attempt, which may still wait to be committed.
//! - Committed: `part-<checkpoint>-<subtask>`, where `checkpoint` is the id of the checkpoint
//!   that closed it. Checkpoint ids only grow, also across restarts, so no two parts share a
//!   name.
//!
//! ## The end of the input
//! When the job checkpoints periodically, the end of the input closes the last parts but
//! commits nothing: the subtask waits for the final checkpoint (see
//! [`crate::actors::subtask`]), which commits them with any part still pending when it
//! completes. A part is thus committed only
//! by a completed checkpoint that holds the records after it (or the end), so a failure at any
//! point replays exactly what was not committed. Without periodic checkpoints the end of the
//! input commits every part at once (there is no checkpoint to restore from, and to wait for).
//!
//! ## Buckets and rolling
//! A record may name a *bucket*, a directory under the sink's (a partition of the SQL
//! filesystem sink, `dt=2015-07-15/hm=00%3A01`): each bucket has its own part in progress, and
//! its committed parts are `<bucket>/part-<checkpoint>-<subtask>`. A part also closes before the
//! checkpoint (it *rolls*) under a [`RollingPolicy`]: once it holds `file_size` bytes, once it is
//! `rollover` old, once no record came for `inactivity`, or when a new bucket needs a part and
//! [`MAX_OPEN_PARTS`] are open (the least recently written closes). A rolled part waits for
//! the next checkpoint like any other, named `part-<checkpoint>-<subtask>-<k>` (`k` ≥ 1 counts
//! the bucket's earlier parts of that checkpoint).
//!
//! ## Recovery
//! - The pending parts are union list state: every restored subtask sees all of them and
//!   commits them (the restored checkpoint completed, since it is being restored). A commit
//!   is a rename that is done already when only the committed name exists, so subtasks
//!   committing the same part concurrently, or again after a later failure, is harmless.
//! - In-progress files of earlier attempts (or jobs) that its index stands for (their subtask
//!   modulo the parallelism) and that are not pending are removed: their records come again
//!   from the restored sources. Files named before attempts were (older versions, whose
//!   pending parts were dealt out over the subtasks) are removed only when of another job.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::SinkFunction;
use crate::operators::{OperatorError, RuntimeContext, UserError};
use crate::state::{ListMode, OperatorSnapshot, RestoredState};

/// A part file closed at a checkpoint (or rolled before it), to be committed once it
/// completes. The names are relative to the sink's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The checkpoint whose completion commits it.
    pub checkpoint: u64,
    /// Its name while it waits.
    pub in_progress: String,
    /// Its name once committed.
    pub committed: String,
}

impl Pending {
    /// The bucket the part is in (`""` for the sink's own directory).
    pub fn bucket(&self) -> &str {
        self.in_progress.rsplit_once('/').map_or("", |(b, _)| b)
    }
}

/// The most parts a subtask keeps open at once, over all buckets.
pub const MAX_OPEN_PARTS: usize = 64;

const PENDING: &str = "pending";
const EPOCH: &str = "epoch";

/// What the sink writes of a record: a line, in a bucket.
pub trait PartLine: Send + 'static {
    /// The bucket: a relative directory under the sink's, `""` for the sink's own.
    fn bucket(&self) -> &str {
        ""
    }

    /// Writes the record's line, with its newline.
    fn write_line(&self, w: &mut impl Write) -> std::io::Result<()>;
}

impl<T: Display + Send + 'static> PartLine for T {
    fn write_line(&self, w: &mut impl Write) -> std::io::Result<()> {
        writeln!(w, "{self}")
    }
}

/// A line for a bucket (the partitioned SQL filesystem sink's record). The bucket is shared
/// by the records of one partition, not copied per record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketLine {
    /// The bucket (see [`PartLine::bucket`]).
    pub bucket: Arc<str>,
    /// The line, without its newline.
    pub line: String,
}

impl PartLine for BucketLine {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn write_line(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(self.line.as_bytes())?;
        w.write_all(b"\n")
    }
}

/// When a part closes before its checkpoint (Flink's `sink.rolling-policy.*`); parts always
/// close at a checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollingPolicy {
    /// Once it holds this many bytes.
    pub file_size: Option<u64>,
    /// Once it is this old.
    pub rollover: Option<Duration>,
    /// Once no record came for this long.
    pub inactivity: Option<Duration>,
}

/// The fields of an in-progress file's name: `.inprogress-<job>-<subtask>-<attempt>-<n>`
/// (files written before attempts were named have no attempt).
struct InProgress<'a> {
    job: &'a str,
    subtask: usize,
    attempt: Option<u32>,
}

impl<'a> InProgress<'a> {
    fn parse(name: &'a str) -> Option<Self> {
        let fields: Vec<&str> = name.strip_prefix(".inprogress-")?.split('-').collect();
        let (job, subtask) = (fields.first()?, fields.get(1)?.parse().ok()?);
        let attempt = match fields.len() {
            3 => None,
            4 => Some(fields.get(2)?.parse().ok()?),
            _ => return None,
        };
        Some(Self {
            job,
            subtask,
            attempt,
        })
    }
}

/// A part being written.
struct OpenPart {
    writer: BufWriter<File>,
    /// Its in-progress name, relative to the sink's directory.
    name: String,
    bytes: u64,
    opened: Instant,
    written: Instant,
}

/// `name` in `bucket`.
fn in_bucket(bucket: &str, name: &str) -> String {
    if bucket.is_empty() {
        name.to_string()
    } else {
        format!("{bucket}/{name}")
    }
}

/// The two-phase-commit file sink.
pub struct TwoPhaseCommitFileSink<T> {
    dir: PathBuf,
    subtask: usize,
    parallelism: usize,
    job: String,
    attempt: u32,
    /// A final checkpoint follows the end of the input (it commits the last parts).
    final_checkpoint: bool,
    name: String,
    policy: RollingPolicy,
    /// The parts being written, by bucket.
    open: HashMap<String, OpenPart>,
    parts: u64,
    pending: Vec<Pending>,
    /// Buckets that parts were committed to since [`Self::take_committed_buckets`].
    committed_buckets: BTreeSet<String>,
    /// The id of the next checkpoint (names the parts closed before it).
    epoch: u64,
    /// Where parts are written while in progress when the sink's directory is in an object
    /// store (a local directory of this attempt; see [`files`]).
    staging: Option<PathBuf>,
    _t: PhantomData<fn(T)>,
}

impl<T> Clone for TwoPhaseCommitFileSink<T> {
    /// A copy not yet opened: each subtask has its own files.
    fn clone(&self) -> Self {
        Self::new(self.dir.clone()).with_rolling(self.policy)
    }
}

impl<T> TwoPhaseCommitFileSink<T> {
    /// A sink committing part files into the directory `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            subtask: 0,
            parallelism: 1,
            job: String::new(),
            attempt: 0,
            final_checkpoint: false,
            name: "two-phase-commit file sink".into(),
            policy: RollingPolicy::default(),
            open: HashMap::new(),
            parts: 0,
            pending: Vec::new(),
            committed_buckets: BTreeSet::new(),
            epoch: 1,
            staging: None,
            _t: PhantomData,
        }
    }

    /// Parts also close under `policy`.
    pub fn with_rolling(mut self, policy: RollingPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The buckets parts were committed to since the last call.
    pub fn take_committed_buckets(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.committed_buckets)
    }

    /// The parts waiting for a checkpoint to complete.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// Whether a final checkpoint follows the end of the input.
    pub fn has_final_checkpoint(&self) -> bool {
        self.final_checkpoint
    }

    fn io(&self, path: &Path, e: std::io::Error) -> UserError {
        Box::new(OperatorError::io(&self.name, path.display(), &e))
    }

    /// Closes `bucket`'s part (flushed and synced): it waits for the next checkpoint, which
    /// names it (see [`Self::name_closed`]).
    fn close_part(&mut self, bucket: &str) -> Result<(), UserError> {
        let Some(OpenPart {
            mut writer, name, ..
        }) = self.open.remove(bucket)
        else {
            return Ok(());
        };
        let path = self.local_path(&name);
        writer.flush().map_err(|e| self.io(&path, e))?;
        writer.get_ref().sync_all().map_err(|e| self.io(&path, e))?;
        drop(writer);
        self.publish(&name)?;
        self.pending.push(Pending {
            checkpoint: self.epoch,
            in_progress: name,
            committed: String::new(),
        });
        Ok(())
    }

    /// Closes every open part.
    fn close_all(&mut self) -> Result<(), UserError> {
        let mut buckets: Vec<String> = self.open.keys().cloned().collect();
        buckets.sort_unstable();
        for b in buckets {
            self.close_part(&b)?;
        }
        Ok(())
    }

    /// Gives the parts closed since the last checkpoint to checkpoint `checkpoint` and their
    /// committed names: in each bucket `part-<checkpoint>-<subtask>`, then `…-1`, `…-2` in the
    /// order they closed.
    fn name_closed(&mut self, checkpoint: u64) {
        let mut count: HashMap<String, u32> = HashMap::new();
        for p in self.pending.iter_mut().filter(|p| p.committed.is_empty()) {
            let bucket = p.bucket().to_string();
            let k = count.entry(bucket.clone()).or_default();
            let suffix = if *k == 0 {
                String::new()
            } else {
                format!("-{k}")
            };
            *k += 1;
            p.checkpoint = checkpoint;
            p.committed = in_bucket(
                &bucket,
                &format!("part-{checkpoint}-{}{suffix}", self.subtask),
            );
        }
    }

    /// Closes the parts the rolling policy says are done at `now`.
    pub fn roll(&mut self, now: Instant) -> Result<(), UserError> {
        let p = self.policy;
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, o)| {
                p.file_size.is_some_and(|n| o.bytes >= n)
                    || p.rollover
                        .is_some_and(|d| now.duration_since(o.opened) >= d)
                    || p.inactivity
                        .is_some_and(|d| now.duration_since(o.written) >= d)
            })
            .map(|(b, _)| b.clone())
            .collect();
        for b in due {
            self.close_part(&b)?;
        }
        Ok(())
    }

    /// `bucket`'s open part, opened now if it has none.
    fn part(&mut self, bucket: &str, now: Instant) -> Result<&mut OpenPart, UserError> {
        if !self.open.contains_key(bucket) && self.open.len() >= MAX_OPEN_PARTS {
            let idlest = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.written)
                .map(|(b, _)| b.clone());
            if let Some(b) = idlest {
                self.close_part(&b)?;
            }
        }
        let Self {
            open,
            dir,
            staging,
            job,
            subtask,
            attempt,
            parts,
            name: operator,
            ..
        } = self;
        match open.entry(bucket.to_string()) {
            std::collections::hash_map::Entry::Occupied(o) => Ok(o.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                let name = in_bucket(
                    bucket,
                    &format!(".inprogress-{job}-{subtask}-{attempt}-{parts}"),
                );
                *parts += 1;
                let path = staging.as_ref().unwrap_or(dir).join(&name);
                let io = |e: std::io::Error| -> UserError {
                    Box::new(OperatorError::io(operator, path.display(), &e))
                };
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io)?;
                }
                let f = File::create(&path).map_err(io)?;
                Ok(v.insert(OpenPart {
                    writer: BufWriter::with_capacity(256 * 1024, f),
                    name,
                    bytes: 0,
                    opened: now,
                    written: now,
                }))
            }
        }
    }

    /// Renames a closed part to its committed name (done already if only that exists).
    fn commit(&mut self, p: &Pending) -> Result<(), UserError> {
        commit_part(&self.dir, p).map_err(|e| self.io(&self.dir.join(&p.in_progress), e))?;
        tracing::debug!(subtask = self.subtask, attempt = self.attempt, checkpoint = p.checkpoint, from = %p.in_progress, to = %p.committed, "committed a part");
        self.committed_buckets.insert(p.bucket().to_string());
        Ok(())
    }

    /// Whether this subtask stands for the subtask that wrote in-progress file `name`.
    fn stands_for(&self, name: &str) -> bool {
        InProgress::parse(name).is_some_and(|f| f.subtask % self.parallelism.max(1) == self.subtask)
    }
}

/// Takes the parts of `pending` that checkpoint `checkpoint`'s completion commits.
pub fn due(pending: &mut Vec<Pending>, checkpoint: u64) -> Vec<Pending> {
    let (done, waiting) = std::mem::take(pending)
        .into_iter()
        .partition(|p| p.checkpoint <= checkpoint);
    *pending = waiting;
    done
}

impl<T: PartLine> SinkFunction<T> for TwoPhaseCommitFileSink<T> {
    fn open(&mut self, ctx: &RuntimeContext) -> Result<(), UserError> {
        self.subtask = ctx.subtask_index;
        self.parallelism = ctx.parallelism;
        self.job = ctx.job_id.to_string();
        self.attempt = ctx.attempt;
        self.final_checkpoint = ctx.final_checkpoint;
        self.name = ctx.operator_name.clone();
        crate::checkpoint::store::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        self.stage()?;
        tracing::debug!(subtask = self.subtask, attempt = self.attempt, epoch = self.epoch, pending = ?self.pending, "opened");
        self.remove_abandoned()?;
        // Restored pending parts belong to a completed checkpoint: commit them.
        for p in std::mem::take(&mut self.pending) {
            self.commit(&p)?;
        }
        Ok(())
    }

    fn invoke(&mut self, value: T) -> Result<(), UserError> {
        self.invoke_batch(vec![value])
    }

    fn invoke_batch(&mut self, values: Vec<T>) -> Result<(), UserError> {
        let now = Instant::now();
        let mut values = values.into_iter().peekable();
        while let Some(first) = values.next() {
            // A run of records of one bucket goes to its part in one lookup.
            let bucket = first.bucket().to_string();
            let part = self.part(&bucket, now)?;
            let mut w = CountingWriter {
                inner: &mut part.writer,
                bytes: 0,
            };
            let mut written = first.write_line(&mut w);
            while written.is_ok() {
                match values.next_if(|v| v.bucket() == bucket) {
                    Some(v) => written = v.write_line(&mut w),
                    None => break,
                }
            }
            part.bytes += w.bytes;
            part.written = now;
            let full = part.bytes;
            if let Err(e) = written {
                let name = part.name.clone();
                return Err(self.io(&self.dir.join(name), e));
            }
            if self.policy.file_size.is_some_and(|n| full >= n) {
                self.close_part(&bucket)?;
            }
        }
        Ok(())
    }

    /// The end of input: the last parts close; the final checkpoint commits them. Without
    /// periodic checkpoints there is none: every part is committed now.
    fn finish(&mut self) -> Result<(), UserError> {
        self.close_all()?;
        self.unstage();
        self.name_closed(self.epoch);
        if self.final_checkpoint {
            return Ok(());
        }
        for p in std::mem::take(&mut self.pending) {
            self.commit(&p)?;
        }
        Ok(())
    }

    fn initialize_state(&mut self, restored: &RestoredState) -> Result<(), UserError> {
        self.pending = restored.list(PENDING)?;
        let epochs: Vec<u64> = restored.list(EPOCH)?;
        self.epoch = epochs
            .into_iter()
            .chain(self.pending.iter().map(|p| p.checkpoint + 1))
            .max()
            .unwrap_or(1);
        Ok(())
    }

    /// Pre-commit: the open parts close and, with those rolled since the last checkpoint,
    /// become pending for this checkpoint.
    fn snapshot_state(
        &mut self,
        checkpoint: u64,
        snapshot: &mut OperatorSnapshot,
    ) -> Result<(), UserError> {
        self.close_all()?;
        self.name_closed(checkpoint);
        // Parts closed and named at the end of the input wait for this checkpoint too.
        for p in self
            .pending
            .iter_mut()
            .filter(|p| p.checkpoint >= self.epoch)
        {
            p.checkpoint = checkpoint;
        }
        tracing::debug!(
            subtask = self.subtask,
            attempt = self.attempt,
            checkpoint,
            pending = self.pending.len(),
            "pre-committed"
        );
        self.epoch = checkpoint + 1;
        snapshot.add_list(PENDING, ListMode::Union, &self.pending)?;
        snapshot.add_list(EPOCH, ListMode::Union, &[self.epoch])?;
        Ok(())
    }

    /// Commit: every part pending for this checkpoint or an earlier one.
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), UserError> {
        for p in &due(&mut self.pending, checkpoint_id) {
            self.commit(p)?;
        }
        Ok(())
    }
}

/// Counts the bytes written through it.
struct CountingWriter<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;

mod files;

pub use files::commit_part;
