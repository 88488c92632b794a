//! `rill bench nexmark`: the published Nexmark queries over the `nexmark` connector, one job
//! each, with their figures (see [`crate::bench::nexmark`]).

use std::process::ExitCode;

use crate::bench::nexmark::{not_run, run, Api, Load, QueryResult, QUERIES};
use crate::cli::{EXIT_JOB_FAILED, EXIT_USAGE};
use crate::graph::job_graph::SubmitOptions;

/// `rill bench nexmark`'s flags.
#[derive(clap::Args, Debug)]
pub(super) struct NexmarkBenchArgs {
    /// The queries, `q0,q1,…`, or `all` (every one Rill runs: all but q6).
    #[arg(long, default_value = "all")]
    queries: String,
    /// Events per query.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Events per second of event time (the connector's `first-event.rate`; the reference
    /// runs use 10 M).
    #[arg(long, default_value_t = 10_000_000)]
    rate: u64,
    /// The jobs' parallelism.
    #[arg(short, long, default_value_t = 2)]
    parallelism: usize,
    /// Where keyed state lives: heap or rocksdb.
    #[arg(long)]
    state_backend: Option<crate::state::StateBackendKind>,
    /// Take a checkpoint every N ms (0: none).
    #[arg(long, value_name = "N")]
    checkpoint_interval_ms: Option<u64>,
    /// Read the events from this directory of JSON lines (`rill nexmark generate`'s; give
    /// their number as --events) instead of generating them.
    #[arg(long, value_name = "DIR")]
    files: Option<std::path::PathBuf>,
    /// Which layer runs the queries: the published SQL (`sql`), or the core ones (q0–q5, q7,
    /// q8) written with the DataStream API (`datastream`, the bundled `nexmark` job) over the
    /// same generator.
    #[arg(long, value_enum, default_value = "sql")]
    api: Api,
    /// One JSON object per query (`query`, `events`, `seconds`, `events_per_sec`, …).
    #[arg(long)]
    json: bool,
}

fn line(r: &QueryResult) -> String {
    format!(
        "{}{}: {} events in {:.2} s, {:.2} M events/s, {:.2} M events/s per core, peak RSS {} (p={})",
        r.query,
        if r.api == Api::DataStream {
            " (DataStream)"
        } else {
            ""
        },
        r.events,
        r.seconds,
        r.events_per_sec / 1e6,
        r.events_per_sec_per_core / 1e6,
        r.peak_rss_bytes.map_or_else(
            || "unknown".to_string(),
            |b| format!("{} MB", b / 1_000_000)
        ),
        r.parallelism
    )
}

pub(super) fn bench_nexmark(a: NexmarkBenchArgs) -> ExitCode {
    let datastream = crate::jobs::nexmark::QUERIES;
    let names: Vec<String> = if a.queries.trim() == "all" {
        QUERIES
            .iter()
            .map(|(q, _)| q.to_string())
            .filter(|q| not_run(q).is_none())
            .filter(|q| a.api == Api::Sql || datastream.contains(&q.as_str()))
            .collect()
    } else {
        a.queries
            .split(',')
            .map(|q| q.trim().to_lowercase())
            .collect()
    };
    for q in &names {
        if !QUERIES.iter().any(|(n, _)| n == q) {
            eprintln!("rill: no Nexmark query {q:?} (q0 … q23)");
            return ExitCode::from(EXIT_USAGE);
        }
        if let Some(why) = not_run(q) {
            eprintln!("rill: {q} does not run: {why}");
            return ExitCode::from(EXIT_USAGE);
        }
        if a.api == Api::DataStream && !datastream.contains(&q.as_str()) {
            eprintln!(
                "rill: {q} has no DataStream version (those are {})",
                datastream.join(", ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if a.api == Api::DataStream && a.files.is_some() {
        eprintln!("rill: --files reads the events through SQL's filesystem connector; the DataStream queries generate them");
        return ExitCode::from(EXIT_USAGE);
    }
    if a.parallelism == 0 || a.events == 0 || a.rate == 0 {
        eprintln!("rill: --parallelism, --events and --rate must be at least 1");
        return ExitCode::from(EXIT_USAGE);
    }
    let options = SubmitOptions {
        state_backend: a.state_backend,
        checkpoint_interval_ms: a.checkpoint_interval_ms.filter(|ms| *ms > 0),
        ..SubmitOptions::default()
    };
    let load = Load {
        events: a.events,
        rate: a.rate,
        files: a.files,
    };
    let json = a.json;
    let printed = run(&names, &load, a.api, a.parallelism, &options, |r| {
        if json {
            match serde_json::to_string(r) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("rill: {e}"),
            }
        } else {
            println!("{}", line(r));
        }
    });
    match printed {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rill: benchmark failed: {e}");
            ExitCode::from(EXIT_JOB_FAILED)
        }
    }
}
