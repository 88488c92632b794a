//! (h) Nexmark: the published queries (`bench/nexmark/queries/`, from the nexmark project,
//! Apache-2.0) over the `nexmark` connector's events (or the same events from the JSON files
//! `rill nexmark generate` wrote, which Flink reads in the side-by-side run), each run as the `sql` job into its
//! published `blackhole` sink on one mini cluster; per query: events, seconds (submission to
//! end), events/s, events/s per core (over the parallelism, at most this machine's cores), and
//! the process's peak RSS while it ran.
//!
//! The texts change only where Rill's connectors differ, as the benchmark allows:
//! - `ddl_gen.sql`: its `WITH` clause names the `nexmark` connector, the event count and rate
//!   (or the `filesystem` connector, the files' directory and `json`);
//!   `ddl_views.sql`: `${NEXMARK_TABLE}` is `datagen`.
//! - q13: the side input is a file this run writes (10,000 lines `i,i`), read by its published
//!   legacy DDL (`connector.type`, `connector.path`, `format.type`).
//! - q14: `count_char(extra, 'c')`, a UDF in the reference jar, is the built-in expression
//!   `CHAR_LENGTH(extra) - CHAR_LENGTH(REPLACE(extra, 'c', ''))`, and its `CREATE FUNCTION`
//!   goes (as Flink runs it from PyPI; `examples/sql_udf.rs` registers it as a Rust function).
//! - q10: its partitioned filesystem sink writes under this run's temporary directory
//!   (`q10-output`, removed after the query) instead of `${NEXMARK_DIR}/data/output/…`.
//! - Not run: q6 (Flink does not support it either: an OVER window on an updating input).

use std::path::{Path, PathBuf};
use std::time::Instant;

use actix::System;
use serde::Serialize;

use crate::bench::bench_cluster;
use crate::graph::job_graph::SubmitOptions;
use crate::graph::JobStatus;
use crate::jobs::JobRegistry;

/// The published queries, by name.
pub const QUERIES: [(&str, &str); 24] = [
    ("q0", include_str!("../../bench/nexmark/queries/q0.sql")),
    ("q1", include_str!("../../bench/nexmark/queries/q1.sql")),
    ("q2", include_str!("../../bench/nexmark/queries/q2.sql")),
    ("q3", include_str!("../../bench/nexmark/queries/q3.sql")),
    ("q4", include_str!("../../bench/nexmark/queries/q4.sql")),
    ("q5", include_str!("../../bench/nexmark/queries/q5.sql")),
    ("q6", include_str!("../../bench/nexmark/queries/q6.sql")),
    ("q7", include_str!("../../bench/nexmark/queries/q7.sql")),
    ("q8", include_str!("../../bench/nexmark/queries/q8.sql")),
    ("q9", include_str!("../../bench/nexmark/queries/q9.sql")),
    ("q10", include_str!("../../bench/nexmark/queries/q10.sql")),
    ("q11", include_str!("../../bench/nexmark/queries/q11.sql")),
    ("q12", include_str!("../../bench/nexmark/queries/q12.sql")),
    ("q13", include_str!("../../bench/nexmark/queries/q13.sql")),
    ("q14", include_str!("../../bench/nexmark/queries/q14.sql")),
    ("q15", include_str!("../../bench/nexmark/queries/q15.sql")),
    ("q16", include_str!("../../bench/nexmark/queries/q16.sql")),
    ("q17", include_str!("../../bench/nexmark/queries/q17.sql")),
    ("q18", include_str!("../../bench/nexmark/queries/q18.sql")),
    ("q19", include_str!("../../bench/nexmark/queries/q19.sql")),
    ("q20", include_str!("../../bench/nexmark/queries/q20.sql")),
    ("q21", include_str!("../../bench/nexmark/queries/q21.sql")),
    ("q22", include_str!("../../bench/nexmark/queries/q22.sql")),
    ("q23", include_str!("../../bench/nexmark/queries/q23.sql")),
];

const DDL_GEN: &str = include_str!("../../bench/nexmark/queries/ddl_gen.sql");
const DDL_VIEWS: &str = include_str!("../../bench/nexmark/queries/ddl_views.sql");

/// Why a query is not run, if it is not.
pub fn not_run(query: &str) -> Option<&'static str> {
    match query {
        "q6" => Some("an OVER window on an updating input (Flink does not support it either)"),
        _ => None,
    }
}

/// Which layer runs the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// The published SQL texts, as the `sql` job.
    Sql,
    /// The core queries (q0–q5, q7, q8) as DataStream jobs (the bundled `nexmark` job).
    #[value(name = "datastream")]
    DataStream,
}

/// The events each query reads.
#[derive(Debug, Clone)]
pub struct Load {
    /// Events per query.
    pub events: u64,
    /// Events per second of event time (`first-event.rate`).
    pub rate: u64,
    /// Read them from these files of JSON lines (`rill nexmark generate`'s, which Flink reads
    /// too) instead of the connector.
    pub files: Option<PathBuf>,
}

/// Query `name`'s script as it runs here: the generator's table and views, then the query
/// text adapted as the module says. `side_input` is q13's file.
pub fn script(name: &str, text: &str, load: &Load, side_input: &Path) -> String {
    let with = match &load.files {
        Some(dir) => format!(
            "'connector' = 'filesystem',\n    'path' = '{}',\n    'format' = 'json'",
            dir.display()
        ),
        None => format!(
            "'connector' = 'nexmark',\n    'first-event.rate' = '{r}',\n    'next-event.rate' = '{r}',\n    'events.num' = '{n}'",
            r = load.rate,
            n = load.events
        ),
    };
    let ddl = match (DDL_GEN.find("'connector' = 'nexmark'"), DDL_GEN.rfind(')')) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{with}\n{}", &DDL_GEN[..start], &DDL_GEN[end..])
        }
        _ => DDL_GEN.to_string(),
    };
    let views = DDL_VIEWS.replace("${NEXMARK_TABLE}", "datagen");
    let query = match name {
        "q10" => text.replace(
            "file://${NEXMARK_DIR}/data/output/${SUBMIT_TIME}/bid/",
            &format!("file://{}/", q10_output(side_input).display()),
        ),
        "q13" => text.replace(
            "file://${FLINK_HOME}/data/side_input.txt",
            &format!("file://{}", side_input.display()),
        ),
        "q14" => text
            .lines()
            .filter(|l| !l.trim_start().starts_with("CREATE FUNCTION"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                "count_char(extra, 'c')",
                "CHAR_LENGTH(extra) - CHAR_LENGTH(REPLACE(extra, 'c', ''))",
            ),
        _ => text.to_string(),
    };
    format!("{ddl};\n{views}\n{query}")
}

/// One query's figures.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// `q0` …
    pub query: String,
    /// Events generated.
    pub events: u64,
    /// Seconds from submission to the job's end.
    pub seconds: f64,
    /// Events over seconds.
    pub events_per_sec: f64,
    /// Events per second over the cores it ran on.
    pub events_per_sec_per_core: f64,
    /// The process's peak resident memory while it ran, bytes (none where unknown).
    pub peak_rss_bytes: Option<u64>,
    /// The job's parallelism.
    pub parallelism: usize,
    /// The layer that ran it.
    pub api: Api,
}

/// The process's peak RSS since the last reset (Linux's `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Starts measuring the peak RSS afresh (Linux: `5` into `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Where q10 writes: beside q13's side input, in the run's temporary directory.
fn q10_output(side_input: &Path) -> PathBuf {
    side_input
        .parent()
        .unwrap_or(Path::new("."))
        .join("q10-output")
}

/// The side input of q13: 10,000 lines `i,i`.
fn write_side_input(dir: &Path) -> Result<PathBuf, crate::Error> {
    let path = dir.join("side_input.txt");
    let text: String = (0..10_000).map(|i| format!("{i},{i}\n")).collect();
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| crate::data::OperatorError::io("q13's side input", path.display(), &e))?;
    Ok(path)
}

/// Runs `queries` once each over `load` at parallelism `p` with `options`, calling `report`
/// with each query's figures as it ends.
pub fn run(
    queries: &[String],
    load: &Load,
    api: Api,
    p: usize,
    options: &SubmitOptions,
    mut report: impl FnMut(&QueryResult),
) -> Result<Vec<QueryResult>, crate::Error> {
    let dir = std::env::temp_dir().join(format!("rill-bench-nexmark-{}", std::process::id()));
    let side_input = write_side_input(&dir)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let result = System::new().block_on(async {
        let cluster = bench_cluster(JobRegistry::bundled()).await?;
        let mut results = Vec::new();
        for name in queries {
            let Some((_, text)) = QUERIES.iter().find(|(q, _)| q == name) else {
                continue;
            };
            let (job, args) = match api {
                Api::Sql => (
                    "sql",
                    vec![
                        "--statements".to_string(),
                        script(name, text, load, &side_input),
                    ],
                ),
                Api::DataStream => (
                    "nexmark",
                    ["--query", name, "--events", &load.events.to_string()]
                        .into_iter()
                        .map(String::from)
                        .chain(["--rate".to_string(), load.rate.to_string()])
                        .collect(),
                ),
            };
            reset_peak_rss();
            let start = Instant::now();
            let job = cluster
                .submit_registered_with(job, &args, Some(p), options)
                .await?;
            let end = cluster.wait(job).await?;
            let seconds = start.elapsed().as_secs_f64();
            std::fs::remove_dir_all(q10_output(&side_input)).ok();
            if end.status != JobStatus::Finished {
                return Err(crate::data::OperatorError::Failed {
                    operator: name.clone(),
                    message: format!("the query's job ended {:?}: {:?}", end.status, end.failure),
                }
                .into());
            }
            let events_per_sec = load.events as f64 / seconds;
            let r = QueryResult {
                query: name.clone(),
                events: load.events,
                seconds,
                events_per_sec,
                events_per_sec_per_core: events_per_sec / p.min(cores).max(1) as f64,
                peak_rss_bytes: peak_rss(),
                parallelism: p,
                api,
            };
            report(&r);
            results.push(r);
        }
        cluster.shutdown();
        Ok::<_, crate::Error>(results)
    });
    std::fs::remove_dir_all(&dir).ok();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_connector_and_adapt_only_what_they_must() {
        let load = Load {
            events: 1000,
            rate: 10_000_000,
            files: None,
        };
        let side = Path::new("/tmp/side_input.txt");
        for (name, text) in QUERIES {
            let s = script(name, text, &load, side);
            assert!(s.contains("'connector' = 'nexmark'"), "{name}");
            assert!(s.contains("'events.num' = '1000'"), "{name}");
            assert!(s.contains("WATERMARK FOR `dateTime`"), "{name}");
            assert!(!s.contains("${NEXMARK_TABLE}"), "{name}");
            if not_run(name).is_none() {
                assert!(!s.contains("${"), "{name}: {s}");
            }
        }
        let q14 = QUERIES.iter().find(|(q, _)| *q == "q14").map(|(_, t)| *t);
        let q14 = script("q14", q14.unwrap_or_default(), &load, side);
        assert!(
            !q14.contains("count_char") && !q14.contains("CREATE FUNCTION"),
            "{q14}"
        );
        let q13 = QUERIES.iter().find(|(q, _)| *q == "q13").map(|(_, t)| *t);
        let q13 = script("q13", q13.unwrap_or_default(), &load, side);
        assert!(q13.contains("file:///tmp/side_input.txt"), "{q13}");
        let q10 = QUERIES.iter().find(|(q, _)| *q == "q10").map(|(_, t)| *t);
        let q10 = script("q10", q10.unwrap_or_default(), &load, side);
        assert!(q10.contains("'path' = 'file:///tmp/q10-output/'"), "{q10}");
        let files = Load {
            files: Some(PathBuf::from("/data/nexmark")),
            ..load
        };
        let q0 = script("q0", QUERIES[0].1, &files, side);
        assert!(
            q0.contains("'path' = '/data/nexmark'") && !q0.contains("'nexmark'"),
            "{q0}"
        );
    }
}
