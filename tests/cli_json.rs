//! The CLI's `--json` against a running cluster (`rill local --rest 127.0.0.1:0`): `list`,
//! `run`, `savepoint`, `stop` and `cancel` write JSON that parses and names the real job,
//! status and savepoint; failures are `{"errors":[…]}` with the usual exit codes. And `rill
//! run` with stdout piped shows its progress as plain lines, never redrawn.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::cli::{
    finish, path, rill, rill_command, stdout_lines, Killed, LocalCluster, Outcome, LIMIT,
};
use common::wait_for_job;
use serde_json::Value;

/// Every line of `stdout` parsed as one JSON document.
fn json_lines(o: &Outcome) -> Vec<Value> {
    o.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}: {o:?}")))
        .collect()
}

/// The one JSON document on stdout.
fn json(o: &Outcome) -> Value {
    let mut all = json_lines(o);
    assert_eq!(all.len(), 1, "one document: {:?}", o.stdout);
    all.remove(0)
}

/// Asserts `code` and `{"errors":[message]}` on stdout whose message contains `needle`.
fn assert_json_error(o: &Outcome, code: i32, needle: &str) {
    assert_eq!(o.code, Some(code), "{o:?}");
    let v = json(o);
    let errors = v["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{v}");
    let message = errors[0].as_str().expect("a message");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

/// A peer for the socket jobs: accepts one connection, sends `lines` and keeps it open.
fn socket_peer(lines: &'static [u8]) -> (String, mpsc::Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(lines);
            let _ = tx.send(conn);
        }
    });
    (port, rx)
}

/// The next line as JSON, failing after `limit`.
fn next_json(rx: &mpsc::Receiver<String>, limit: Duration) -> Value {
    let line = rx.recv_timeout(limit).expect("a line from rill run");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

/// The lines still to come until `rx`'s sender is gone (the process exited), failing after
/// `limit`.
fn drain(rx: &mpsc::Receiver<String>, limit: Duration) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut all = Vec::new();
    loop {
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(l) => all.push(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => return all,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("stdout still open: {all:?}"),
        }
    }
}

/// The job with id `id` in `rill list --json`'s answer.
fn listed(url: &str, id: &str) -> Value {
    let o = rill(&["list", "--json", "--jobmanager-rest", url], &[]);
    assert_eq!(o.code, Some(0), "{o:?}");
    let v = json(&o);
    v["jobs"]
        .as_array()
        .expect("a jobs array")
        .iter()
        .find(|j| j["jid"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {v}"))
        .clone()
}

/// Asserts a savepoint directory with its metadata under `dir`.
fn assert_savepoint(location: &Value, dir: &Path) {
    let location = Path::new(location.as_str().expect("a location"));
    assert!(location.starts_with(dir), "{location:?} not under {dir:?}");
    assert!(
        location.join("_metadata").is_file(),
        "no _metadata in {location:?}"
    );
}

#[test]
fn list_run_savepoint_stop_and_cancel_answer_json() {
    let cluster = LocalCluster::start();
    let url = cluster.url.as_str();
    let dir = common::temp_dir("cli-json");

    let o = rill(&["list", "--json", "--jobmanager-rest", url], &[]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(json(&o), serde_json::json!({ "jobs": [] }));

    // A bounded job: submitted, (progress), end, all JSON lines.
    let out = dir.join("partitioners.txt");
    let o = rill(
        &[
            "run",
            "--json",
            "--jobmanager-rest",
            url,
            "-p",
            "2",
            "partitioners",
            "--count",
            "1000",
            "--output",
            path(&out),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let events = json_lines(&o);
    let first = &events[0];
    assert_eq!(first["event"], "submitted", "{first}");
    let id = first["jobid"].as_str().expect("a job id").to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(first["jobUrl"], format!("/jobs/{id}"), "{first}");
    let last = events.last().expect("events");
    assert_eq!(last["event"], "end", "{last}");
    assert_eq!(last["job"]["jid"], id.as_str(), "{last}");
    assert_eq!(last["job"]["state"], "FINISHED", "{last}");
    assert_eq!(last["job"]["name"], "partitioners", "{last}");
    for e in &events[1..events.len() - 1] {
        assert_eq!(e["event"], "progress", "{e}");
        assert_eq!(e["jobid"], id.as_str(), "{e}");
    }
    assert!(
        o.stderr.trim().is_empty(),
        "nothing for people: {:?}",
        o.stderr
    );
    let job = listed(url, &id);
    assert_eq!(
        (&job["state"], &job["name"]),
        (&"FINISHED".into(), &"partitioners".into())
    );

    // An unbounded job that checkpoints, followed by an attached `rill run --json`.
    let (port, conn) = socket_peer(b"to be or not\nto be\n");
    let checkpoints = dir.join("checkpoints");
    let mut attached = Killed(
        rill_command(
            &[
                "run",
                "--json",
                "--jobmanager-rest",
                url,
                "--checkpoint-interval-ms",
                "200",
                "--checkpoint-dir",
                path(&checkpoints),
                "socket-wordcount",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
            ],
            &[],
        )
        .spawn()
        .expect("rill run starts"),
    );
    let lines = stdout_lines(&mut attached);
    let submitted = next_json(&lines, LIMIT);
    assert_eq!(submitted["event"], "submitted", "{submitted}");
    let id = submitted["jobid"].as_str().expect("a job id").to_string();
    let _conn = conn.recv_timeout(LIMIT).expect("the job connects");

    // Progress events until one shows the words counted and a completed checkpoint.
    let start = Instant::now();
    let progress = loop {
        let e = next_json(&lines, LIMIT);
        assert_eq!(e["event"], "progress", "{e}");
        assert_eq!(e["jobid"], id.as_str(), "{e}");
        if e["state"] == "RUNNING" && e["last-checkpoint"].is_object() && e["records-out"] == 6 {
            break e;
        }
        assert!(start.elapsed() < LIMIT, "no such progress yet: {e}");
    };
    assert_eq!(
        progress["records-in"], 6,
        "the six words crossed the key_by: {progress}"
    );
    assert!(progress["records-out-per-second"].is_number(), "{progress}");
    assert!(
        progress["duration"].as_u64().expect("ms") >= 1,
        "{progress}"
    );
    let checkpoint = &progress["last-checkpoint"];
    assert!(checkpoint["id"].as_u64().expect("an id") >= 1, "{progress}");
    assert!(checkpoint["age-ms"].is_u64(), "{progress}");
    assert_eq!(listed(url, &id)["state"], "RUNNING");

    let target = dir.join("savepoint");
    let o = rill(
        &[
            "savepoint",
            "--json",
            "--jobmanager-rest",
            url,
            &id,
            path(&target),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let v = json(&o);
    assert_eq!(v["jobid"], id.as_str(), "{v}");
    assert_savepoint(&v["location"], &target);

    let target = dir.join("stop");
    let o = rill(
        &[
            "stop",
            "--json",
            "--jobmanager-rest",
            url,
            &id,
            "--savepoint",
            path(&target),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let v = json(&o);
    assert_eq!(v["jobid"], id.as_str(), "{v}");
    assert_eq!(v["state"], "CANCELED", "stopped without draining: {v}");
    assert_savepoint(&v["location"], &target);

    // The attached run ends with the job's final status, and exit 1 (not FINISHED).
    let rest = drain(&lines, LIMIT);
    let end: Value = serde_json::from_str(rest.last().expect("an end event")).expect("JSON");
    assert_eq!(end["event"], "end", "{end}");
    assert_eq!(end["job"]["jid"], id.as_str(), "{end}");
    assert_eq!(end["job"]["state"], "CANCELED", "{end}");
    let o = finish(attached, LIMIT, "attached rill run --json");
    assert_eq!(o.code, Some(1), "{o:?}");
    assert_eq!(listed(url, &id)["state"], "CANCELED");

    // Failures: `{"errors":[…]}` on stdout, exit 2 for a rejected request, 1 for no cluster.
    assert_json_error(
        &rill(&["cancel", "--json", "--jobmanager-rest", url, &id], &[]),
        2,
        "already reached the terminal status CANCELED",
    );
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_json_error(
        &rill(
            &["savepoint", "--json", "--jobmanager-rest", url, unknown],
            &[],
        ),
        2,
        &format!("no job {unknown}"),
    );
    assert_json_error(
        &rill(
            &["stop", "--json", "--jobmanager-rest", url, "not-an-id"],
            &[],
        ),
        2,
        "invalid job id",
    );
    assert_json_error(
        &rill(&["run", "--json", "--jobmanager-rest", url, "nosuch"], &[]),
        2,
        "unknown job 'nosuch'",
    );
    let free = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    assert_json_error(
        &rill(
            &["list", "--json"],
            &[("RILL_REST", &format!("http://127.0.0.1:{free}"))],
        ),
        1,
        "cannot reach the JobManager",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cancel_answers_json_with_the_final_status() {
    let cluster = LocalCluster::start();
    let url = cluster.url.as_str();
    let (port, conn) = socket_peer(b"to be\n");
    let o = rill(
        &[
            "run",
            "--json",
            "--detached",
            "--jobmanager-rest",
            url,
            "socket-wordcount",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let v = json(&o);
    assert_eq!(v["event"], "submitted", "{v}");
    let id = v["jobid"].as_str().expect("a job id").to_string();
    let _conn = conn.recv_timeout(LIMIT).expect("the job connects");
    wait_for_job(url, &id, LIMIT, |j| j["state"] == "RUNNING");
    let o = rill(&["cancel", "--json", "--jobmanager-rest", url, &id], &[]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(
        json(&o),
        serde_json::json!({ "jobid": id, "state": "CANCELED" })
    );
}

#[test]
fn run_with_stdout_piped_prints_plain_progress_lines() {
    let cluster = LocalCluster::start();
    let url = cluster.url.as_str();
    let dir = common::temp_dir("cli-progress");
    let (port, conn) = socket_peer(b"to be or not\nto be\n");
    let mut attached = Killed(
        rill_command(
            &[
                "run",
                "--jobmanager-rest",
                url,
                "--checkpoint-interval-ms",
                "200",
                "--checkpoint-dir",
                path(&dir),
                "socket-wordcount",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
            ],
            &[],
        )
        .spawn()
        .expect("rill run starts"),
    );
    let lines = stdout_lines(&mut attached);
    let first = lines.recv_timeout(LIMIT).expect("the id");
    let id = first
        .strip_prefix("Job has been submitted with JobID ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_string();
    let _conn = conn.recv_timeout(LIMIT).expect("the job connects");
    let start = Instant::now();
    // The line 5 s after the first RUNNING one shows a checkpoint (one every 200 ms).
    let running: Vec<String> = (0..2)
        .map(|_| loop {
            let l = lines.recv_timeout(LIMIT).expect("a progress line");
            if l.starts_with("RUNNING ") {
                break l;
            }
        })
        .collect();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4),
        "same-status lines are paced: two in {elapsed:?}"
    );
    assert!(
        running[1].contains(" | in 6 | out 6 | ") && running[1].contains("checkpoint "),
        "{running:?}"
    );
    let o = rill(&["cancel", "--jobmanager-rest", url, &id], &[]);
    assert_eq!(o.code, Some(0), "{o:?}");
    let rest = drain(&lines, LIMIT);
    let o = finish(attached, LIMIT, "attached rill run");
    assert_eq!(o.code, Some(1), "{o:?}");
    let last = rest.last().expect("a final progress line");
    assert!(last.starts_with("CANCELED "), "{rest:?}");
    for l in running.iter().chain(&rest) {
        assert!(!l.contains('\r') && !l.contains('\x1b'), "{l:?}");
        assert_eq!(l.matches(" | ").count(), 4, "{l:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
