//! The `filesystem` sink of a `PARTITIONED BY` table, as Flink's: each row goes into the
//! directory of its partition, `k1=v1/k2=v2` under the table's `path`, without its partition
//! columns; a committer then marks each partition done once its data is all there.
//!
//! ## The job
//! `StreamingFileWriter` (the sink's parallelism) writes the rows through the two-phase-commit
//! file sink, a bucket per partition; after a checkpoint commits its parts it tells
//! `PartitionCommitter` (one subtask, every writer's watermark) which partitions got data.
//! The committer commits a partition by its policy (`success-file`: an empty `_SUCCESS` file
//! in its directory) when its trigger says the partition is complete:
//! - `partition-time`: the watermark passed the partition's time (from its values, by
//!   `partition.time-extractor.timestamp-pattern` and `…timestamp-formatter`) plus
//!   `sink.partition-commit.delay`;
//! - `process-time` (the default): the delay passed since the partition's first data was
//!   committed, checked as data or watermarks arrive.
//!
//! At the end of the input every partition with data is committed. When a final checkpoint
//! follows the end, the writers' last parts commit only when it completes, after the writers'
//! outputs ended: a writer sends those parts to the committer at its end instead, and the
//! committer commits them itself (a commit is idempotent) when the checkpoint completes,
//! before it commits their partitions.
//!
//! ## Paths
//! A value is written as Flink casts it to `STRING`; the characters Flink escapes in a
//! partition path (`"#%'*/:=?\{[]^`, DEL and control characters) become `%XX`; a `NULL` or
//! empty value is `partition.default-name` (`__DEFAULT_PARTITION__`).
//!
//! ## Rolling
//! `sink.rolling-policy.file-size` (128MB), `…rollover-interval` (30 min) and
//! `…inactivity-interval` (30 min) close parts early, checked as rows come and every
//! `…check-interval` (1 min); parts close at every checkpoint anyway.
//!
//! ## Reading
//! The source reads the visible files under the partition directories; a file's partition
//! columns take its directories' values (see [`partition_files`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Collector, DataStream, ProcessContext, ProcessFunction};
use crate::connectors::format::LineEncoder;
use crate::data::UserError;
use crate::operators::two_phase::{BucketLine, RollingPolicy, TwoPhaseCommitFileSink};
use crate::sql::catalog::TableDef;
use crate::sql::functions::{to_text, DatePattern, Dialect};
use crate::sql::job::{parse_duration, parse_memory_size};
use crate::sql::types::{DataType, Row, Value};
use crate::sql::SqlError;

pub(super) fn bad(table: &TableDef, message: String) -> SqlError {
    SqlError::Connector {
        table: table.name.clone(),
        message,
    }
}

/// A duration option, or its default.
fn duration(table: &TableDef, key: &str, default: Duration) -> Result<Duration, SqlError> {
    match table.option(key) {
        None => Ok(default),
        Some(v) => parse_duration(v).ok_or_else(|| {
            bad(
                table,
                format!("the option '{key}' is not a duration: '{v}' (e.g. '30 min', '10 s')"),
            )
        }),
    }
}

/// The sink's rolling policy and how often it is checked (`sink.rolling-policy.*`).
pub fn rolling_policy(table: &TableDef) -> Result<(RollingPolicy, Duration), SqlError> {
    let size = match table.option("sink.rolling-policy.file-size") {
        None => 128 << 20,
        Some(v) => parse_memory_size(v).ok_or_else(|| {
            bad(
                table,
                format!("the option 'sink.rolling-policy.file-size' is not a memory size: '{v}' (e.g. '128MB')"),
            )
        })?,
    };
    let minutes = |n: u64| Duration::from_secs(60 * n);
    let policy = RollingPolicy {
        file_size: Some(size),
        rollover: Some(duration(
            table,
            "sink.rolling-policy.rollover-interval",
            minutes(30),
        )?),
        inactivity: Some(duration(
            table,
            "sink.rolling-policy.inactivity-interval",
            minutes(30),
        )?),
    };
    let check = duration(table, "sink.rolling-policy.check-interval", minutes(1))?;
    Ok((policy, check.max(Duration::from_millis(1))))
}

/// When a partition is complete (`sink.partition-commit.trigger`).
#[derive(Clone)]
enum Trigger {
    /// Its first data was committed `delay` ago.
    ProcessTime,
    /// The watermark passed its time plus `delay`.
    PartitionTime(TimeExtractor),
}

/// A partition's time from its values (`partition.time-extractor.*`).
#[derive(Clone)]
struct TimeExtractor {
    /// `$dt $hm:00`; without it, the first value.
    pattern: Option<String>,
    formatter: Arc<DatePattern>,
    /// The default formatter also reads a bare date (`yyyy-MM-dd`).
    date: Option<Arc<DatePattern>>,
}

impl TimeExtractor {
    /// Partition `path`'s time, ms since the epoch (UTC).
    fn time_of(&self, path: &str) -> Option<i64> {
        let mut values = partition_values(path);
        let text = match &self.pattern {
            None => values.first()?.1.clone(),
            Some(p) => {
                // Longer keys first, so `$d` does not take `$dt`'s place.
                values.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
                values
                    .iter()
                    .fold(p.clone(), |t, (k, v)| t.replace(&format!("${k}"), v))
            }
        };
        self.formatter
            .parse(&text)
            .or_else(|| self.date.as_ref()?.parse(&text))
    }
}

/// What the committer does with a complete partition.
#[derive(Clone)]
struct CommitPolicy {
    /// The file written into it (`sink.partition-commit.success-file.name`).
    success_file: String,
    trigger: Trigger,
    delay_ms: i64,
}

/// The partition columns of `table` among `names` (the sink's columns): their positions.
fn partition_positions(table: &TableDef, names: &[&str]) -> Result<Vec<usize>, SqlError> {
    table
        .partition_keys
        .iter()
        .map(|k| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(k))
                .ok_or_else(|| bad(table, format!("the partition column '{k}' is not written")))
        })
        .collect()
}

fn commit_policy(table: &TableDef) -> Result<Option<CommitPolicy>, SqlError> {
    let Some(kinds) = table.option("sink.partition-commit.policy.kind") else {
        return Ok(None);
    };
    for kind in kinds.split(',').map(str::trim) {
        match kind {
            "success-file" => {}
            "metastore" | "custom" => {
                return Err(bad(
                    table,
                    format!("the partition commit policy '{kind}' is not supported (policies: success-file)"),
                ))
            }
            other => {
                return Err(bad(
                    table,
                    format!("unknown partition commit policy '{other}' (policies: success-file)"),
                ))
            }
        }
    }
    let zone = table
        .option("sink.partition-commit.watermark-time-zone")
        .unwrap_or("UTC");
    if !zone.eq_ignore_ascii_case("UTC") {
        return Err(bad(
            table,
            format!("the option 'sink.partition-commit.watermark-time-zone' = '{zone}' is not supported (only UTC)"),
        ));
    }
    let trigger = match table
        .option("sink.partition-commit.trigger")
        .unwrap_or("process-time")
    {
        "process-time" => Trigger::ProcessTime,
        "partition-time" => {
            let pattern = table.option("partition.time-extractor.timestamp-pattern");
            let formatter = table.option("partition.time-extractor.timestamp-formatter");
            let compile = |p: &str| {
                DatePattern::compile(p, Dialect::DateTimeFormatter)
                    .map(Arc::new)
                    .map_err(|e| bad(table, format!("the timestamp formatter '{p}': {e}")))
            };
            Trigger::PartitionTime(TimeExtractor {
                pattern: pattern.map(str::to_string),
                formatter: compile(formatter.unwrap_or("yyyy-MM-dd HH:mm:ss"))?,
                date: match formatter {
                    None => Some(compile("yyyy-MM-dd")?),
                    Some(_) => None,
                },
            })
        }
        other => {
            return Err(bad(
                table,
                format!("unknown 'sink.partition-commit.trigger' '{other}' (triggers: process-time, partition-time)"),
            ))
        }
    };
    let delay = duration(table, "sink.partition-commit.delay", Duration::ZERO)?;
    Ok(Some(CommitPolicy {
        success_file: table
            .option("sink.partition-commit.success-file.name")
            .unwrap_or("_SUCCESS")
            .to_string(),
        trigger,
        delay_ms: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
    }))
}

/// Turns rows into lines in their partitions' buckets; rows of one partition share its path.
#[derive(Clone)]
struct ToBucketLine {
    encode: LineEncoder,
    /// The partition columns: position, name and type.
    keys: Arc<[(usize, String, DataType)]>,
    /// Per column, whether the line holds it (it is not a partition column).
    data: Arc<[bool]>,
    default_name: Arc<str>,
    last: Option<(Vec<Value>, Arc<str>)>,
}

impl ToBucketLine {
    /// The bucket of a row whose partition columns hold `values` (kept as the last one's).
    fn bucket(&mut self, values: Vec<Value>) -> Arc<str> {
        let mut path = String::new();
        for ((_, name, t), v) in self.keys.iter().zip(&values) {
            if !path.is_empty() {
                path.push('/');
            }
            let text = match v {
                Value::Null => String::new(),
                Value::Str(s) => s.to_string(),
                v => to_text(v, t),
            };
            let text = if text.is_empty() {
                &self.default_name
            } else {
                text.as_str()
            };
            push_part(&mut path, name, text);
        }
        let path: Arc<str> = path.into();
        self.last = Some((values, path.clone()));
        path
    }
}

impl ProcessFunction<Row, BucketLine> for ToBucketLine {
    fn process_element(
        &mut self,
        row: Row,
        _ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, BucketLine>,
    ) -> Result<(), UserError> {
        // The line's values move on: nothing is cloned. A row of the last row's partition
        // takes its path as is; another's partition values move out to make its path.
        let Row { kind, mut values } = row;
        let same = self.last.as_ref().filter(|(last, _)| {
            self.keys
                .iter()
                .zip(last)
                .all(|((i, _, _), l)| values.get(*i) == Some(l))
        });
        let bucket = match same {
            Some((_, path)) => path.clone(),
            None => {
                let keys = self
                    .keys
                    .iter()
                    .map(|(i, _, _)| values.get_mut(*i).map(std::mem::take).unwrap_or_default())
                    .collect();
                self.bucket(keys)
            }
        };
        let data = Row {
            kind,
            values: values
                .into_iter()
                .zip(self.data.iter())
                .filter_map(|(v, keep)| keep.then_some(v))
                .collect(),
        };
        out.collect(BucketLine {
            bucket,
            line: (self.encode)(&data),
        });
        Ok(())
    }
}

/// Writes `stream`'s rows (columns `names` of types `types`) into `table`'s partitions, lines
/// made by `encoder` (given the non-partition columns).
pub fn partitioned_sink(
    table: &Arc<TableDef>,
    (names, types): (&[&str], &[DataType]),
    encoder: impl FnOnce(&[usize]) -> Result<LineEncoder, SqlError>,
    dir: PathBuf,
    stream: DataStream<Row>,
) -> Result<(), SqlError> {
    let positions = partition_positions(table, names)?;
    let data: Vec<usize> = (0..names.len())
        .filter(|i| !positions.contains(i))
        .collect();
    if data.is_empty() {
        return Err(bad(
            table,
            "every column is a partition column: the files would hold nothing".into(),
        ));
    }
    let keys: Vec<(usize, String, DataType)> = positions
        .iter()
        .zip(&table.partition_keys)
        .map(|(i, k)| {
            (
                *i,
                k.clone(),
                types.get(*i).cloned().unwrap_or(DataType::String),
            )
        })
        .collect();
    let (policy, check) = rolling_policy(table)?;
    let commit = commit_policy(table)?;
    let to_lines = ToBucketLine {
        encode: encoder(&data)?,
        keys: keys.into(),
        data: (0..names.len()).map(|i| !positions.contains(&i)).collect(),
        default_name: table
            .option("partition.default-name")
            .unwrap_or(DEFAULT_PARTITION)
            .into(),
        last: None,
    };
    let writer_dir = dir.clone();
    let infos: DataStream<PartitionCommitInfo> = stream
        .process(to_lines)
        .name(&format!(
            "Encode({})",
            table.option("format").unwrap_or("?")
        ))
        .transform("StreamingFileWriter", move |ctx| {
            Box::new(PartitionWriter::new(
                &ctx.operator_name,
                TwoPhaseCommitFileSink::new(writer_dir.clone()).with_rolling(policy),
                check,
            ))
        });
    infos
        .global()
        .add_sink("PartitionCommitter", PartitionCommitter::new(dir, commit))
        .name(&format!("PartitionCommitter: {}[filesystem]", table.name))
        .set_parallelism(1);
    Ok(())
}

mod commit;
mod paths;

pub use paths::{partition_files, partition_values, PartitionValues};
use paths::{push_part, DEFAULT_PARTITION};

pub use commit::PartitionCommitInfo;
use commit::{PartitionCommitter, PartitionWriter};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_escape_as_flink_does() {
        let mut p = String::new();
        push_part(&mut p, "hm", "00:01");
        assert_eq!(p, "hm=00%3A01");
        assert_eq!(
            partition_values("dt=2015-07-15/hm=00%3A01"),
            vec![
                ("dt".to_string(), "2015-07-15".to_string()),
                ("hm".to_string(), "00:01".to_string())
            ]
        );
        let mut q = String::new();
        push_part(&mut q, "k", "a/b=c%d e");
        assert_eq!(q, "k=a%2Fb%3Dc%25d e");
        assert_eq!(partition_values(&q)[0].1, "a/b=c%d e");
    }

    #[test]
    fn partition_times_come_from_the_pattern_or_the_first_value() {
        let compile = |p| Arc::new(DatePattern::compile(p, Dialect::DateTimeFormatter).expect(p));
        let with_pattern = TimeExtractor {
            pattern: Some("$dt $hm:00".into()),
            formatter: compile("yyyy-MM-dd HH:mm:ss"),
            date: None,
        };
        // 2015-07-15 00:01:00 UTC.
        assert_eq!(
            with_pattern.time_of("dt=2015-07-15/hm=00%3A01"),
            Some(1_436_918_460_000)
        );
        let first = TimeExtractor {
            pattern: None,
            formatter: compile("yyyy-MM-dd HH:mm:ss"),
            date: Some(compile("yyyy-MM-dd")),
        };
        assert_eq!(first.time_of("dt=2015-07-15/hm=x"), Some(1_436_918_400_000));
        assert_eq!(first.time_of("dt=soon"), None);
    }
}
