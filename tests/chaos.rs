//! Issue 6: chaos. A JobManager and three TaskManagers of two slots each (processes) run the
//! bundled keyed, event-time windowed count over a few million events at parallelism 6, with
//! a checkpoint every 500 ms and the two-phase-commit file sink. The source is rate-limited so
//! that the bounded input lasts. A driver kills a random TaskManager with SIGKILL every few
//! seconds and starts a replacement, `KILLS` times; the job restarts by itself each time. When
//! it has finished, its committed output must equal a failure-free run's, byte for byte.
//!
//! `RILL_CHAOS_SEED` replays a run's choices (the seed is printed); `RILL_CHAOS_KILLS` asks
//! for more kills than the default ten (the input is sized for the default);
//! `RILL_CHAOS_CHECKPOINT_MS` sets another checkpoint interval than 500 ms (a shorter one puts
//! more checkpoints in flight when something happens).
//!
//! Every process's log (the JobMaster's checkpoints and restores, the sinks' pre-commits,
//! commits and restores) goes to `<target>/tmp/chaos-<seed>/`. When the output is not exact,
//! `report.txt` there says which windows are missing or committed twice, which part files
//! hold their neighbours, and what every part file holds; the logs are kept with it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::graph::job_graph::SubmitOptions;
use rill::graph::RestartStrategy;
use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-chaos";
/// Events in the input: a tumbling window per key and event-time second, 101 keys.
const EVENTS: u64 = 3_000_000;
/// Lines a second the chaos run's source reads: the input lasts about a minute.
const RATE: u64 = 50_000;
const KILLS: usize = 10;
const PARALLELISM: usize = 6;

/// Fast failure detection: a heartbeat every 100 ms, a TaskManager lost after 1 s of silence
/// (a killed one's connection usually closes at once).
fn config(dir: &Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        "[runtime]\nheartbeat_interval_ms = 100\nheartbeat_timeout_ms = 1000\nrpc_timeout_ms = 2000\n",
    )
    .expect("config");
    p
}

/// A xorshift generator for the driver's choices.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `[low, high)`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

fn windowed_count_args(input: &Path, output: &Path, sink: &str, rate: u64) -> Vec<String> {
    [
        "--input",
        &input.display().to_string(),
        "--output",
        &output.display().to_string(),
        "--kind",
        "tumble",
        "--sink",
        sink,
        "--rate",
        &rate.to_string(),
    ]
    .map(str::to_string)
    .to_vec()
}

fn details(c: &ProcessCluster, job: &str) -> serde_json::Value {
    c.get(&format!("/jobs/{job}")).expect("job details")
}

/// Whether the job runs with every subtask RUNNING, after `restarts` restarts at least.
fn running_after(d: &serde_json::Value, restarts: u64) -> bool {
    let vertices = d["vertices"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    d["state"] == "RUNNING"
        && d["num-restarts"].as_u64().unwrap_or(0) >= restarts
        && !vertices.is_empty()
        && vertices.iter().all(|v| v["status"] == "RUNNING")
}

/// Waits (up to 60 s) until the job runs with every subtask RUNNING after `restarts`
/// restarts; it must not end meanwhile.
fn wait_running(c: &ProcessCluster, job: &str, restarts: u64) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let d = details(c, job);
        if running_after(&d, restarts) {
            return;
        }
        assert!(
            !matches!(
                d["state"].as_str(),
                Some("FINISHED" | "FAILED" | "CANCELED")
            ),
            "the job ended during the chaos: {d}"
        );
        assert!(
            Instant::now() < end,
            "not running again within 60 s after restart {restarts}: {d}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn committed_output_is_exact_while_taskmanagers_are_killed_at_random() {
    let seed = std::env::var("RILL_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let kills_wanted = std::env::var("RILL_CHAOS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS);
    let interval = std::env::var("RILL_CHAOS_CHECKPOINT_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    println!("chaos seed {seed} (RILL_CHAOS_SEED={seed} replays the driver's choices), checkpoints every {interval} ms");
    let mut choices = Choices(seed);

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{seed}"));
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifact directory");
    let dir = common::temp_dir("chaos");
    let input = dir.join("events.csv");
    rill::bench::events::EventSpec::EVENTS
        .write_csv(&input, EVENTS)
        .expect("input");
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let logs = (
        artifacts.as_path(),
        "warn,rill::actors::job_master=info,rill::operators::two_phase=debug",
    );
    let mut c =
        ProcessCluster::start_logged(exe, Some(&config(&dir)), SECRET, &[2, 2, 2], Some(logs))
            .expect("cluster");

    // The failure-free run: every window once, sorted.
    let reference = dir.join("reference.csv");
    let r = windowed_count_args(&input, &reference, "sorted", 0);
    let r: Vec<&str> = r.iter().map(String::as_str).collect();
    let job = c
        .submit("windowed-count", &r, PARALLELISM)
        .expect("submitted");
    let d = c
        .wait_end(&job, Duration::from_secs(180))
        .expect("the reference run ends");
    assert_eq!(d["state"], "FINISHED", "{d}");

    // The chaos run.
    let out = dir.join("out");
    let a = windowed_count_args(&input, &out, "2pc", RATE);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let ck = dir.join("checkpoints");
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(interval),
        checkpoint_dir: Some(ck.clone()),
        restart_strategy: Some(RestartStrategy::fixed_delay(
            1_000,
            Duration::from_millis(200),
        )),
        ..SubmitOptions::default()
    };
    let started = Instant::now();
    let job = c
        .submit_with("windowed-count", &a, PARALLELISM, options)
        .expect("submitted");
    wait_running(&c, &job, 0);
    let mut recoveries = Vec::new();
    while recoveries.len() < kills_wanted {
        std::thread::sleep(Duration::from_millis(choices.between(1_500, 3_500)));
        let d = details(&c, &job);
        // Restarts are counted when a failure is handled: the kill's must come on top.
        let before = d["num-restarts"].as_u64().unwrap_or(0);
        assert!(
            running_after(&d, before),
            "the job is not running before kill {}: {d}",
            recoveries.len() + 1
        );
        let victim = choices.between(0, c.task_managers.len() as u64) as usize;
        let killed_at = Instant::now();
        c.task_managers.remove(victim).kill();
        c.add_task_manager(2, SECRET)
            .expect("replacement TaskManager");
        wait_running(&c, &job, before + 1);
        recoveries.push(killed_at.elapsed());
    }
    let d = c
        .wait_end(&job, Duration::from_secs(300))
        .expect("the chaos run ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    let restarts = d["num-restarts"].as_u64().unwrap_or(0);
    let total: Duration = recoveries.iter().sum();
    let mut sorted = recoveries.clone();
    sorted.sort();
    println!(
        "{} kills, {restarts} restarts; recovery (SIGKILL to every subtask running again): total {:.2} s, median {:.2} s, max {:.2} s; the chaos run took {:.1} s",
        recoveries.len(),
        total.as_secs_f64(),
        sorted[sorted.len() / 2].as_secs_f64(),
        sorted[sorted.len() - 1].as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        restarts >= recoveries.len() as u64,
        "every kill restarts the job: {restarts} restarts"
    );
    let checkpoints = c
        .get(&format!("/jobs/{job}/checkpoints"))
        .expect("checkpoints");
    println!(
        "checkpoints: {} completed, {} failed",
        checkpoints["counts"]["completed"], checkpoints["counts"]["failed"]
    );

    let got = common::committed_lines(&out);
    let want = std::fs::read_to_string(&reference).expect("reference");
    let want: Vec<&str> = want.lines().collect();
    drop(c);
    if got != want {
        let report = artifacts.join("report.txt");
        std::fs::write(&report, diagnose(&got, &want, &out)).expect("report");
        panic!(
            "the committed output differs from the failure-free run's: {} windows committed, {} expected; see {} and the logs beside it",
            got.len(),
            want.len(),
            report.display()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(artifacts);
}

/// What went wrong, for the report: the windows missing or committed more than once (as
/// `key,start,…` lines), the part files holding the same key's neighbouring windows, and
/// every file in the output directory with its number of lines and window range.
fn diagnose(got: &[String], want: &[&str], out: &Path) -> String {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for l in want {
        *counts.entry(l).or_default() -= 1;
    }
    for l in got {
        *counts.entry(l.as_str()).or_default() += 1;
    }
    let wrong: Vec<(&str, i64)> = counts.into_iter().filter(|(_, n)| *n != 0).collect();
    // Which part holds each (key, window start); which uncommitted files hold each line.
    let mut holder: BTreeMap<(String, i64), BTreeSet<String>> = BTreeMap::new();
    let mut uncommitted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = String::new();
    let mut names: Vec<String> = std::fs::read_dir(out)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in &names {
        let text = std::fs::read_to_string(out.join(name)).unwrap_or_default();
        let starts: Vec<i64> = text
            .lines()
            .filter_map(|l| window_of(l).map(|w| w.1))
            .collect();
        let _ = writeln!(
            files,
            "{name}: {} lines, windows {:?}..{:?}",
            text.lines().count(),
            starts.iter().min(),
            starts.iter().max()
        );
        for l in text.lines() {
            if !name.starts_with("part-") {
                uncommitted
                    .entry(l.to_string())
                    .or_default()
                    .insert(name.clone());
            } else if let Some(w) = window_of(l) {
                holder.entry(w).or_default().insert(name.clone());
            }
        }
    }
    let mut r = String::new();
    let missing = wrong.iter().filter(|(_, n)| *n < 0).count();
    let _ = writeln!(
        r,
        "{missing} windows missing, {} committed more than once (n: committed minus expected)",
        wrong.len() - missing
    );
    for (line, n) in wrong.iter().take(200) {
        let _ = write!(r, "{n:+} {line}");
        if let Some(files) = uncommitted.get(*line) {
            let _ = write!(r, "; uncommitted in {files:?}");
        }
        if let Some((key, start)) = window_of(line) {
            let before = holder.range(..(key.clone(), start)).next_back();
            let after = holder.range((key.clone(), start + 1)..).next();
            for (what, near) in [("before", before), ("after", after)] {
                if let Some(((k, s), parts)) = near.filter(|((k, _), _)| *k == key) {
                    let _ = write!(r, "; {what}: {k},{s} in {parts:?}");
                }
            }
        }
        r.push('\n');
    }
    let _ = writeln!(r, "\nfiles in {}:\n{files}", out.display());
    r
}

/// The key and window start of a `key,start,end,count,sum` line.
fn window_of(line: &str) -> Option<(String, i64)> {
    let mut f = line.split(',');
    let key = f.next()?.to_string();
    Some((key, f.next()?.parse().ok()?))
}
