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

use rill::checkpoint::storage::{self, checkpoint_ids};
use rill::graph::job_graph::SubmitOptions;
use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-recovery";
const LINES: u64 = 1_500_000;

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        "[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1500\nrpc_timeout_ms = 2000\n",
    )
    .expect("config");
    p
}

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
    let mut c = ProcessCluster::start(exe, Some(&config(&dir)), SECRET, &[2]).expect("cluster");
    let ck = dir.join("checkpoints");
    let out = dir.join("counts.txt");
    let args = [
        "--input",
        input.to_str().expect("path"),
        "--output",
        out.to_str().expect("path"),
    ];
    let job = c
        .submit_with(
            "wordcount",
            &args,
            2,
            SubmitOptions {
                checkpoint_interval_ms: Some(50),
                checkpoint_dir: Some(ck.clone()),
                ..SubmitOptions::default()
            },
        )
        .expect("submitted");

    // Kill the TaskManager once a checkpoint completed.
    let job_dir = ck.join(&job);
    let start = Instant::now();
    loop {
        let done = checkpoint_ids(&job_dir).iter().any(|id| {
            storage::checkpoint_dir(&job_dir, *id)
                .join(storage::METADATA_FILE)
                .exists()
        });
        if done {
            break;
        }
        let state = c.get(&format!("/jobs/{job}")).expect("job")["state"].clone();
        assert_ne!(
            state, "FINISHED",
            "the job finished before any checkpoint completed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no checkpoint in 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    c.task_managers[0].kill();
    let d = c
        .wait_end(&job, Duration::from_secs(30))
        .expect("the job ends");
    assert_eq!(d["state"], "FAILED", "{d}");
    assert!(!out.exists(), "the killed job wrote its output");

    // A new TaskManager; the job again, from the dead job's newest checkpoint.
    c.add_task_manager(2, SECRET).expect("TaskManager");
    c.wait_registered(1, Duration::from_secs(20))
        .expect("registered");
    let restored = storage::resolve(&job_dir).expect("a retained checkpoint");
    let job2 = c
        .submit_with(
            "wordcount",
            &args,
            2,
            SubmitOptions {
                savepoint_path: Some(job_dir.clone()),
                ..SubmitOptions::default()
            },
        )
        .expect("submitted");
    let d = c
        .wait_end(&job2, Duration::from_secs(60))
        .expect("the job ends");
    assert_eq!(
        d["state"], "FINISHED",
        "restored from {:?}: {d}",
        restored.checkpoint.dir
    );
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
