//! Issue 5: state survives a TaskManager process killed with SIGKILL. A JobManager and a
//! TaskManager run as processes; the bundled word count checkpoints every 50 ms; once a
//! checkpoint completed the TaskManager is killed, a new one joins, and the job is submitted
//! again from the dead job's checkpoint directory. Its output must be the exact counts, and it
//! must have read only what the checkpoint had not.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::checkpoint::storage;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::RestartStrategy;
use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-recovery";
const LINES: u64 = 1_500_000;

/// Writes `LINES` lines of 8 words drawn from 5000; returns the exact counts.
fn words(path: &Path) -> BTreeMap<String, u64> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
    let mut counts = BTreeMap::new();
    let mut rng = 11u64;
    let mut line = String::new();
    for _ in 0..LINES {
        line.clear();
        for _ in 0..8 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = format!("w{}", (rng >> 33) % 5000);
            line.push_str(&word);
            line.push(' ');
            *counts.entry(word).or_default() += 1;
        }
        line.push('\n');
        w.write_all(line.as_bytes()).expect("write");
    }
    w.flush().expect("flush");
    counts
}

/// Waits until `job` completed a checkpoint (it must not finish first), waits `delay` more,
/// then kills the cluster's first TaskManager with SIGKILL (and drops it from the cluster);
/// the job must then fail.
fn kill_after_a_checkpoint(c: &mut ProcessCluster, job: &str, job_dir: &Path, delay: Duration) {
    common::wait_for_a_checkpoint(c, job, job_dir);
    std::thread::sleep(delay);
    let state = c.get(&format!("/jobs/{job}")).expect("job")["state"].clone();
    assert_eq!(
        state, "RUNNING",
        "the job ended before its TaskManager was killed"
    );
    c.task_managers.remove(0).kill();
    let d = c
        .wait_end(job, Duration::from_secs(30))
        .expect("the job ends");
    assert_eq!(d["state"], "FAILED", "{d}");
}

/// Waits until `job` completed a checkpoint; it must not finish first.
/// Submits `job` with `args` at parallelism 2, checkpointing every 50 ms under `ck` (and
/// restoring from `restore` if given); returns its id and its checkpoint directory.
fn submit_checkpointing(
    c: &ProcessCluster,
    job: &str,
    args: &[&str],
    ck: &Path,
    restore: Option<PathBuf>,
) -> (String, PathBuf) {
    let options = SubmitOptions {
        savepoint_path: restore,
        ..SubmitOptions::default()
    };
    submit_checkpointing_with(c, job, args, ck, options)
}

/// [`submit_checkpointing`] with further submission options.
fn submit_checkpointing_with(
    c: &ProcessCluster,
    job: &str,
    args: &[&str],
    ck: &Path,
    options: SubmitOptions,
) -> (String, PathBuf) {
    // These jobs are restored by hand: no restart strategy of their own.
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(50),
        checkpoint_dir: Some(ck.to_path_buf()),
        restart_strategy: options
            .restart_strategy
            .clone()
            .or(Some(RestartStrategy::None)),
        ..options
    };
    let id = c.submit_with(job, args, 2, options).expect("submitted");
    let job_dir = ck.join(&id);
    (id, job_dir)
}

/// Starts a TaskManager in place of a killed one and waits until it is registered.
fn replace_task_manager(c: &mut ProcessCluster) {
    c.add_task_manager(2, SECRET).expect("TaskManager");
    c.wait_registered(1, Duration::from_secs(20))
        .expect("registered");
}

/// Runs `job` with `args` at parallelism 2 restored from `path` (without checkpointing); it
/// must finish. Returns its details.
fn run_restored(c: &ProcessCluster, job: &str, args: &[&str], path: PathBuf) -> serde_json::Value {
    run_restored_with(c, job, args, 2, path, SubmitOptions::default())
}

/// [`run_restored`] at parallelism `p`, with further submission options.
fn run_restored_with(
    c: &ProcessCluster,
    job: &str,
    args: &[&str],
    p: usize,
    path: PathBuf,
    options: SubmitOptions,
) -> serde_json::Value {
    let options = SubmitOptions {
        savepoint_path: Some(path),
        ..options
    };
    let id = c.submit_with(job, args, p, options).expect("submitted");
    let d = c
        .wait_end(&id, Duration::from_secs(60))
        .expect("the job ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    d
}

/// The `write-records` of the job's first vertex (the source and tokenizer).
fn source_records(d: &serde_json::Value) -> u64 {
    d["vertices"][0]["metrics"]["read-records"]
        .as_u64()
        .zip(d["vertices"][0]["metrics"]["write-records"].as_u64())
        .map(|(_, w)| w)
        .expect("metrics")
}

#[test]
fn word_counts_are_exact_after_the_taskmanager_is_killed_and_the_job_restored() {
    let dir = common::temp_dir("recovery");
    let input = dir.join("words.txt");
    let expected = words(&input);
    let total_words: u64 = expected.values().sum();
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let mut c = ProcessCluster::start(exe, Some(&common::fast_failure_config(&dir)), SECRET, &[2])
        .expect("cluster");
    let ck = dir.join("checkpoints");
    let out = dir.join("counts.txt");
    let args = [
        "--input",
        input.to_str().expect("path"),
        "--output",
        out.to_str().expect("path"),
    ];
    let (job, job_dir) = submit_checkpointing(&c, "wordcount", &args, &ck, None);

    // Kill the TaskManager once a checkpoint completed.
    kill_after_a_checkpoint(&mut c, &job, &job_dir, Duration::ZERO);
    assert!(!out.exists(), "the killed job wrote its output");

    // A new TaskManager; the job again, from the dead job's newest checkpoint.
    replace_task_manager(&mut c);
    let restored = storage::resolve(&job_dir).expect("a retained checkpoint");
    let d = run_restored(&c, "wordcount", &args, job_dir.clone());
    let got = std::fs::read_to_string(&out).expect("output");
    let want: String = expected.iter().map(|(w, n)| format!("{w},{n}\n")).collect();
    assert!(got == want, "the counts differ from the exact ones");
    let words_after_restore = source_records(&d);
    eprintln!(
        "restored from checkpoint {}: {words_after_restore} of {total_words} words tokenized after the restore",
        restored.checkpoint.metadata.checkpoint_id
    );
    assert!(
        words_after_restore < total_words,
        "the restored job tokenized {words_after_restore} of {total_words} words: it started over"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `rill ARGS` against the cluster's REST API; returns its stdout (panics on failure).
fn rill(c: &ProcessCluster, args: &[&str]) -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let out = std::process::Command::new(exe)
        .args(args)
        .env("RILL_REST", format!("http://{}", c.rest))
        .output()
        .expect("rill runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "rill {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_job_stopped_with_a_savepoint_resumes_from_it_with_exact_counts() {
    let dir = common::temp_dir("stop-savepoint");
    let input = dir.join("words.txt");
    let expected = words(&input);
    let total_words: u64 = expected.values().sum();
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let c = ProcessCluster::start(exe, Some(&common::fast_failure_config(&dir)), SECRET, &[2])
        .expect("cluster");
    let out = dir.join("counts.txt");
    let args = [
        "--input",
        input.to_str().expect("path"),
        "--output",
        out.to_str().expect("path"),
    ];
    let job = c.submit("wordcount", &args, 2).expect("submitted");
    // `rill stop` needs every subtask running: it is retried until it is accepted.
    let path = common::stop_with_savepoint(&c, &job, &dir.join("savepoints"));
    let d = c
        .wait_end(&job, Duration::from_secs(30))
        .expect("the job ends");
    assert_eq!(d["state"], "CANCELED", "stopped without draining: {d}");
    assert!(!out.exists(), "the stopped job wrote its output");
    let stats = c.get(&format!("/jobs/{job}/checkpoints")).expect("stats");
    assert_eq!(
        stats["latest"]["savepoint"]["external_path"], path,
        "{stats}"
    );
    assert_eq!(stats["counts"]["completed"], 1, "{stats}");

    // A savepoint is self-contained: moved elsewhere, it still restores.
    let moved = dir.join("moved-savepoint");
    std::fs::rename(&path, &moved).expect("the savepoint moves");
    let path = moved.display().to_string();

    // `rill list` still knows the job; the savepoint restores it.
    assert!(rill(&c, &["list"]).contains(&job));
    let d = run_restored(&c, "wordcount", &args, PathBuf::from(&path));
    let job2 = d["jid"].as_str().expect("job id").to_string();
    let got = std::fs::read_to_string(&out).expect("output");
    let want: String = expected.iter().map(|(w, n)| format!("{w},{n}\n")).collect();
    assert!(got == want, "the counts differ from the exact ones");
    assert!(
        source_records(&d) < total_words,
        "the restored job started over"
    );
    let stats = c.get(&format!("/jobs/{job2}/checkpoints")).expect("stats");
    assert_eq!(stats["counts"]["restored"], 1, "{stats}");
    assert_eq!(
        stats["latest"]["restored"]["external_path"], path,
        "{stats}"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn windowed_counts_are_exact_after_the_taskmanager_is_killed_and_the_job_restored() {
    let n = 4_000_000;
    let w = WindowRuns::new("recovery-windows", n);
    let mut c = w.cluster(&[2]);
    let (a, r) = (w.args(&w.out), w.args(&w.reference));
    let (a, r) = (strs(&a), strs(&r));
    let dir = w.dir.clone();
    let ck = dir.join("checkpoints");
    let (job, job_dir) = submit_checkpointing(&c, "windowed-count", &a, &ck, None);
    kill_after_a_checkpoint(&mut c, &job, &job_dir, Duration::ZERO);

    replace_task_manager(&mut c);
    let d = run_restored(&c, "windowed-count", &a, job_dir);
    let read = d["vertices"][0]["metrics"]["write-records"]
        .as_u64()
        .expect("metrics");
    assert!(
        read < n,
        "the restored job read {read} of {n} events: it started over"
    );

    w.assert_same_as_reference(&c, &r, 2);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue 6: no hand-made restore. A job over two TaskManagers (4 slots) loses one to
/// SIGKILL; it restarts by itself (fixed delay), waits for slots, takes those of a replacement
/// TaskManager when it registers, restores the newest checkpoint and ends with the same
/// windows as a run without failure. The failure is in its exception history.
#[test]
fn a_job_restarts_on_a_replacement_taskmanager_after_one_is_killed() {
    let w = WindowRuns::new("failover-processes", 4_000_000);
    let mut c = w.cluster(&[2, 2]);
    let (a, r) = (w.args(&w.out), w.args(&w.reference));
    let (a, r) = (strs(&a), strs(&r));
    let dir = w.dir.clone();
    let ck = dir.join("checkpoints");
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(50),
        checkpoint_dir: Some(ck.clone()),
        restart_strategy: Some(RestartStrategy::fixed_delay(3, Duration::from_millis(100))),
        ..SubmitOptions::default()
    };
    let job = c
        .submit_with("windowed-count", &a, 4, options)
        .expect("submitted");
    common::wait_for_a_checkpoint(&c, &job, &ck.join(&job));
    let state = |c: &ProcessCluster| c.get(&format!("/jobs/{job}")).expect("job")["state"].clone();
    assert_eq!(state(&c), "RUNNING", "the job ended too early");
    let killed_at = Instant::now();
    c.task_managers.remove(0).kill();
    let wait_for = |c: &ProcessCluster, want: &str| {
        let end = Instant::now() + Duration::from_secs(30);
        while state(c) != want {
            assert!(Instant::now() < end, "never {want}: {}", state(c));
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(&c, "RESTARTING");
    let detected = killed_at.elapsed();
    // Two slots are gone: the restarted job waits for the replacement's.
    c.add_task_manager(2, SECRET).expect("TaskManager");
    let added_at = Instant::now();
    wait_for(&c, "RUNNING");
    // RUNNING again once its subtasks run (the job is RUNNING while it waits for slots).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let d = c.get(&format!("/jobs/{job}")).expect("job");
        let vertices = d["vertices"].as_array().cloned().unwrap_or_default();
        if !vertices.is_empty()
            && vertices
                .iter()
                .all(|v| v["status"] == "RUNNING" || v["status"] == "FINISHED")
        {
            break;
        }
        assert!(Instant::now() < end, "subtasks never running again: {d}");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "TaskManager loss detected after {:.2} s; every subtask running again {:.2} s after the replacement started",
        detected.as_secs_f64(),
        added_at.elapsed().as_secs_f64()
    );
    let d = c
        .wait_end(&job, Duration::from_secs(120))
        .expect("the job ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    assert_eq!(d["num-restarts"], 1, "{d}");
    let attempts: Vec<u64> = d["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .flat_map(|v| {
            c.get(&format!(
                "/jobs/{job}/vertices/{}",
                v["id"].as_str().unwrap_or_default()
            ))
            .ok()
        })
        .flat_map(|v| v["subtasks"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["attempt"].as_u64())
        .collect();
    assert!(
        !attempts.is_empty() && attempts.iter().all(|a| *a == 1),
        "{attempts:?}"
    );
    let ex = c
        .get(&format!("/jobs/{job}/exceptions"))
        .expect("exceptions");
    // One failure restarted the job. The JobManager's heartbeat or a surviving subtask's
    // broken channel may report it first; the other reports come with it.
    let entries = ex["exceptionHistory"]["entries"]
        .as_array()
        .expect("entries");
    assert_eq!(entries.len(), 1, "{ex}");
    assert_eq!(entries[0]["jobStatus"], "RESTARTING", "{ex}");
    let concurrent = entries[0]["concurrentExceptions"].as_array();
    assert!(
        std::iter::once(&entries[0])
            .chain(concurrent.into_iter().flatten())
            .any(|e| e["exceptionName"] == "TaskManagerLost"
                && e["stacktrace"].as_str().is_some_and(|s| s.contains("lost"))),
        "{ex}"
    );

    w.assert_same_as_reference(&c, &r, 4);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// The windowed-count runs of the process tests: `n` events written once under a scratch
/// directory, the output of the run under test and of a reference run without failure.
struct WindowRuns {
    dir: PathBuf,
    input: PathBuf,
    out: PathBuf,
    reference: PathBuf,
}

impl WindowRuns {
    fn new(name: &str, n: u64) -> Self {
        let dir = common::temp_dir(name);
        let input = dir.join("events.csv");
        rill::bench::events::EventSpec::EVENTS
            .write_csv(&input, n)
            .expect("input");
        Self {
            out: dir.join("out.csv"),
            reference: dir.join("reference.csv"),
            input,
            dir,
        }
    }

    /// A JobManager and TaskManagers of `slots` slots each.
    fn cluster(&self, slots: &[usize]) -> ProcessCluster {
        let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
        ProcessCluster::start(
            exe,
            Some(&common::fast_failure_config(&self.dir)),
            SECRET,
            slots,
        )
        .expect("cluster")
    }

    /// Tumbling windows over the events into `output`.
    fn args(&self, output: &Path) -> Vec<String> {
        let (i, o) = (self.input.display(), output.display());
        [
            "--input",
            &i.to_string(),
            "--output",
            &o.to_string(),
            "--kind",
            "tumble",
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// Runs the job without failure (`reference` are its args) at parallelism `p`; the run
    /// under test must have written exactly the same windows.
    fn assert_same_as_reference(&self, c: &ProcessCluster, reference: &[&str], p: usize) {
        let job = c.submit("windowed-count", reference, p).expect("submitted");
        let d = c
            .wait_end(&job, Duration::from_secs(120))
            .expect("the job ends");
        assert_eq!(d["state"], "FINISHED", "{d}");
        let (got, want) = (
            std::fs::read_to_string(&self.out).expect("output"),
            std::fs::read_to_string(&self.reference).expect("reference"),
        );
        assert_eq!(got.lines().count(), want.lines().count());
        assert!(got == want, "the windows differ from the reference run's");
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn two_phase_commit_output_is_exactly_once_across_repeated_kills() {
    let dir = common::temp_dir("exactly-once");
    let input = dir.join("events.csv");
    let n = 4_000_000;
    rill::bench::events::EventSpec::EVENTS
        .write_csv(&input, n)
        .expect("input");
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let mut c = ProcessCluster::start(exe, Some(&common::fast_failure_config(&dir)), SECRET, &[2])
        .expect("cluster");
    let (out, reference) = (dir.join("out"), dir.join("reference.csv"));
    let job_args = |o: &Path, sink: &str| {
        vec![
            "--input".to_string(),
            input.display().to_string(),
            "--output".to_string(),
            o.display().to_string(),
            "--kind".to_string(),
            "tumble".to_string(),
            "--sink".to_string(),
            sink.to_string(),
        ]
    };
    let (a, r) = (job_args(&out, "2pc"), job_args(&reference, "sorted"));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let r: Vec<&str> = r.iter().map(String::as_str).collect();

    let ck = dir.join("checkpoints");
    let mut restore_from: Option<PathBuf> = None;
    let mut kills = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    while kills < 3 {
        let (job, job_dir) = submit_checkpointing(&c, "windowed-count", &a, &ck, restore_from);
        // Kill at a random moment after this run's first checkpoint.
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis((rng >> 33) % 200);
        kill_after_a_checkpoint(&mut c, &job, &job_dir, delay);
        kills += 1;
        // Two-phase commit: nothing is committed beyond the newest completed checkpoint.
        let latest = storage::resolve(&job_dir)
            .expect("a retained checkpoint")
            .checkpoint
            .metadata
            .checkpoint_id;
        for e in std::fs::read_dir(&out).expect("output dir").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(epoch) = name.strip_prefix("part-").and_then(|r| r.split('-').next()) {
                let epoch: u64 = epoch.parse().expect("epoch");
                assert!(
                    epoch <= latest,
                    "{name} committed, the newest checkpoint is {latest}"
                );
            }
        }
        replace_task_manager(&mut c);
        restore_from = Some(job_dir);
    }
    let restore_from = restore_from.expect("a run was killed");
    run_restored(&c, "windowed-count", &a, restore_from);

    let job = c.submit("windowed-count", &r, 2).expect("submitted");
    let d = c
        .wait_end(&job, Duration::from_secs(60))
        .expect("the job ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    let want: Vec<String> = std::fs::read_to_string(&reference)
        .expect("reference")
        .lines()
        .map(str::to_string)
        .collect();
    let got = common::committed_lines(&out);
    eprintln!(
        "{kills} kills; {} committed lines, {} expected",
        got.len(),
        want.len()
    );
    assert_eq!(got.len(), want.len(), "lines missing or written twice");
    assert!(
        got == want,
        "the committed output differs from the failure-free run's"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes `lines` lines `key,value` over `keys` keys; returns the key-stats job's exact output.
fn key_values(path: &Path, lines: u64, keys: u64) -> String {
    #[derive(Default)]
    struct Stats {
        count: u64,
        sum: i64,
        max: i64,
        classes: BTreeMap<i64, u64>,
        picked: Vec<i64>,
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    let mut rng = 29u64;
    for _ in 0..lines {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = format!("key{}", (rng >> 33) % keys);
        let value = ((rng >> 13) % 20_001) as i64 - 10_000;
        writeln!(w, "{key},{value}").expect("write");
        let s = stats.entry(key).or_insert(Stats {
            max: i64::MIN,
            ..Stats::default()
        });
        s.count += 1;
        s.sum += value;
        s.max = s.max.max(value);
        *s.classes.entry(value.rem_euclid(7)).or_default() += 1;
        if value % 97 == 0 {
            s.picked.push(value);
        }
    }
    w.flush().expect("flush");
    let mut out: Vec<String> = stats
        .into_iter()
        .map(|(k, mut s)| {
            s.picked.sort_unstable();
            let classes: Vec<String> = s.classes.iter().map(|(c, n)| format!("{c}:{n}")).collect();
            let picked: Vec<String> = s.picked.iter().map(|v| v.to_string()).collect();
            format!(
                "{k},{},{},{},{},{}",
                s.count,
                s.sum,
                s.max,
                classes.join(";"),
                picked.join(";")
            )
        })
        .collect();
    out.sort_unstable();
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// Value, list, map, reducing and aggregating state, on the heap and in RocksDB: the job is
/// killed with its TaskManager after a checkpoint, restored (RocksDB: from its incremental
/// checkpoint, at parallelism 1, so two instances merge), and every key's every statistic
/// must be exact. (RocksDB's input is smaller: the test binaries are not fully optimized.)
/// RocksDB's incremental checkpoints go to a local directory and to an S3 API server (the
/// processes reach it through the settings file's `[s3]` section).
#[test]
fn every_state_type_is_exact_after_the_taskmanager_is_killed_on_both_backends() {
    use common::s3::Storage;
    use rill::state::StateBackendKind;
    let dir = common::temp_dir("all-states");
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let config = common::fast_failure_config(&dir);
    let settings = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, settings + &common::s3::shared().settings()).expect("config");
    let mut c = ProcessCluster::start(exe, Some(&config), SECRET, &[2]).expect("cluster");
    for (backend, storage, lines, restore_p) in [
        (StateBackendKind::Heap, Storage::Local, 2_000_000, 2),
        (StateBackendKind::RocksDb, Storage::Local, 300_000, 1),
        (StateBackendKind::RocksDb, Storage::S3, 300_000, 1),
    ] {
        let input = dir.join(format!("values-{backend}.csv"));
        let expected = key_values(&input, lines, 20_000);
        let ck = match storage {
            Storage::Local => dir.join(format!("checkpoints-{backend}")),
            Storage::S3 => storage.location(&format!("checkpoints-{backend}")),
        };
        let out = dir.join(format!("stats-{backend}-{storage:?}.txt"));
        let args = [
            "--input",
            input.to_str().expect("path"),
            "--output",
            out.to_str().expect("path"),
        ];
        let options = SubmitOptions {
            state_backend: Some(backend),
            ..SubmitOptions::default()
        };
        let (job, job_dir) =
            submit_checkpointing_with(&c, "key-stats", &args, &ck, options.clone());
        kill_after_a_checkpoint(&mut c, &job, &job_dir, Duration::ZERO);
        assert!(!out.exists(), "the killed job wrote its output");
        replace_task_manager(&mut c);
        let restored = storage::resolve(&job_dir).expect("a retained checkpoint");
        let rocks_files = restored
            .checkpoint
            .metadata
            .vertices
            .iter()
            .flat_map(|v| v.subtasks.iter().flatten())
            .map(|h| h.shared.len())
            .sum::<usize>();
        assert_eq!(
            rocks_files > 0,
            backend == StateBackendKind::RocksDb,
            "{backend}: {rocks_files} RocksDB files in the checkpoint"
        );
        let d = run_restored_with(&c, "key-stats", &args, restore_p, job_dir, options);
        let got = std::fs::read_to_string(&out).expect("output");
        assert_eq!(got.lines().count(), expected.lines().count(), "{backend}");
        assert!(
            got == expected,
            "{backend}: the statistics differ from the exact ones"
        );
        let after = source_records(&d);
        eprintln!(
            "{backend} on {storage:?}: restored from checkpoint {} ({rocks_files} RocksDB files); {after} of {lines} records read after the restore",
            restored.checkpoint.metadata.checkpoint_id
        );
        assert!(after < lines, "{backend}: the restored job started over");
        storage.clean(&ck);
    }
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}
