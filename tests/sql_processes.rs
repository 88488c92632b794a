//! Issue 20: a SQL job is a job like any other. Its window state survives a TaskManager killed
//! with SIGKILL (the job restarts from its checkpoint; the two-phase-commit filesystem sink
//! writes every window exactly once), and a savepoint of it restores at another parallelism.
//! The expected windows are computed here from the event formula, not by Rill.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rill::bench::events::EventSpec;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::RestartStrategy;
use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-sql";
const EVENTS: u64 = 3_000_000;

/// The windows, computed from the events' formula.
fn expected(n: u64) -> Vec<String> {
    let spec = EventSpec::EVENTS;
    let mut w: BTreeMap<(u64, i64), (u64, i64)> = BTreeMap::new();
    for i in 0..n {
        let (ts, key, value) = spec.event(i);
        let e = w.entry((key, ts - ts.rem_euclid(1000))).or_default();
        e.0 += 1;
        e.1 += value;
    }
    let mut lines: Vec<String> = w
        .into_iter()
        .map(|((k, start), (c, s))| format!("k{k},{start},{},{c},{s}", start + 1000))
        .collect();
    lines.sort_unstable();
    lines
}

/// A temporary directory with the events, the expected windows, and a cluster of a JobManager
/// and two TaskManagers of two slots.
fn setup(name: &str) -> (PathBuf, PathBuf, Vec<String>, ProcessCluster) {
    let dir = common::temp_dir(name);
    let input = dir.join("events.csv");
    EventSpec::EVENTS.write_csv(&input, EVENTS).expect("input");
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let config = common::fast_failure_config(&dir);
    let c = ProcessCluster::start(exe, Some(&config), SECRET, &[2, 2]).expect("cluster");
    (dir, input, expected(EVENTS), c)
}

fn assert_output(out: &Path, want: &[String]) {
    let mut got: Vec<String> = common::committed_lines(out)
        .iter()
        .map(|l| common::sql::window_row_millis(l))
        .collect();
    got.sort_unstable();
    assert_eq!(got.len(), want.len(), "windows missing or written twice");
    assert!(
        got == want,
        "the committed windows differ from the computed ones"
    );
}

#[test]
fn a_sql_job_survives_a_taskmanager_sigkill_with_exactly_once_output() {
    let (dir, input, want, mut c) = setup("sql-sigkill");
    let out = dir.join("out");
    let ck = dir.join("checkpoints");
    let sql = rill::bench::windows::sql_tumble(&input, &out);
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(50),
        checkpoint_dir: Some(ck.clone()),
        restart_strategy: Some(RestartStrategy::fixed_delay(3, Duration::from_millis(100))),
        ..SubmitOptions::default()
    };
    let job = c
        .submit_with("sql", &["--statements", &sql], 2, options)
        .expect("submitted");
    common::wait_for_a_checkpoint(&c, &job, &ck.join(&job));
    c.task_managers.remove(0).kill();
    c.add_task_manager(2, SECRET).expect("TaskManager");
    let d = c
        .wait_end(&job, Duration::from_secs(120))
        .expect("the job ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    assert!(
        d["num-restarts"].as_u64().unwrap_or(0) >= 1,
        "the kill restarted it: {d}"
    );
    assert_eq!(d["name"], "insert-into_sink", "{d}");
    assert_output(&out, &want);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_sql_job_stopped_with_a_savepoint_restores_at_another_parallelism() {
    let (dir, input, want, c) = setup("sql-savepoint");
    let out = dir.join("out");
    let sql = rill::bench::windows::sql_tumble(&input, &out);
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(100),
        checkpoint_dir: Some(dir.join("checkpoints")),
        restart_strategy: Some(RestartStrategy::None),
        ..SubmitOptions::default()
    };
    let job = c
        .submit_with("sql", &["--statements", &sql], 2, options)
        .expect("submitted");
    let path = common::stop_with_savepoint(&c, &job, &dir.join("savepoints"));
    let d = c
        .wait_end(&job, Duration::from_secs(30))
        .expect("the job ends");
    assert_eq!(d["state"], "CANCELED", "{d}");
    let before = common::committed_lines(&out).len();
    assert!(
        before < want.len(),
        "the stopped job had written everything"
    );

    let options = SubmitOptions {
        savepoint_path: Some(PathBuf::from(&path)),
        ..SubmitOptions::default()
    };
    let job2 = c
        .submit_with("sql", &["--statements", &sql], 4, options)
        .expect("submitted");
    let d = c
        .wait_end(&job2, Duration::from_secs(120))
        .expect("the job ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    let parallelism: Vec<u64> = d["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .filter_map(|v| v["parallelism"].as_u64())
        .collect();
    assert!(
        parallelism.contains(&4),
        "restored at parallelism 4: {parallelism:?}"
    );
    let stats = c.get(&format!("/jobs/{job2}/checkpoints")).expect("stats");
    assert_eq!(stats["counts"]["restored"], 1, "{stats}");
    assert_output(&out, &want);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}
