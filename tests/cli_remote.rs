//! The CLI against a running cluster: `rill local --rest 127.0.0.1:0` serves the REST API, and
//! `rill run` (submitting over REST), `rill list` and `rill cancel` talk to it, with their exit
//! codes (0 finished, 1 failed/cancelled/unreachable, 2 rejected) and one-line errors.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::cli::{finish, path, rill, rill_command, Killed, LocalCluster, Outcome, LIMIT};
use common::{get_ok, wait_for_job};

/// The id in `Job has been submitted with JobID <id>`.
fn submitted_id(stdout: &str) -> String {
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID "))
        .unwrap_or_else(|| panic!("no job id in {stdout:?}"))
        .trim()
        .to_string();
    assert_eq!(id.len(), 32, "{id}");
    id
}

/// Asserts `code` and exactly one line on stderr containing `needle`.
fn assert_one_line_error(o: &Outcome, code: i32, needle: &str) {
    assert_eq!(o.code, Some(code), "stderr: {}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {:?}", o.stderr);
    assert!(lines[0].contains(needle), "{:?} lacks {needle:?}", lines[0]);
}

#[test]
fn run_follows_a_remote_job_and_exits_by_its_outcome() {
    let cluster = LocalCluster::start();
    let url = cluster.url.as_str();
    let dir = common::temp_dir("cli-remote-run");

    let out = dir.join("partitioners.txt");
    let o = rill(
        &[
            "run",
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
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let id = submitted_id(&o.stdout);
    assert!(
        o.stderr.contains(&format!("Job {id} FINISHED")),
        "{}",
        o.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("output").trim_end(),
        format!("records=32 sum={}", 1000 * 1001)
    );
    assert_eq!(get_ok(&format!("{url}/jobs/{id}"))["state"], "FINISHED");

    let bad = dir.join("bad.txt");
    let mut bytes = b"good words\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(&bad, bytes).expect("write");
    let o = rill(
        &[
            "run",
            "--jobmanager-rest",
            url,
            "wordcount",
            "--input",
            path(&bad),
            "--output",
            path(&dir.join("counts.txt")),
        ],
        &[],
    );
    assert_eq!(o.code, Some(1), "the job fails: {}", o.stderr);
    assert!(o.stderr.contains("FAILED"), "{}", o.stderr);
    assert!(
        o.stderr.contains("not valid UTF-8"),
        "the cause: {}",
        o.stderr
    );

    // Rejected submissions: the server's message as one line, exit 2.
    assert_one_line_error(
        &rill(&["run", "--jobmanager-rest", url, "nosuch"], &[]),
        2,
        "unknown job 'nosuch'",
    );
    assert_one_line_error(
        &rill(
            &[
                "run",
                "--jobmanager-rest",
                url,
                "wordcount",
                "--input",
                path(&dir.join("absent.txt")),
                "--output",
                "o",
            ],
            &[],
        ),
        2,
        "does not exist",
    );
    assert_one_line_error(
        &rill(
            &[
                "run",
                "--jobmanager-rest",
                url,
                "partitioners",
                "--bogus",
                "1",
            ],
            &[],
        ),
        2,
        "unknown argument '--bogus'",
    );
    assert_one_line_error(
        &rill(
            &["run", "--jobmanager-rest", url, "-p", "0", "partitioners"],
            &[],
        ),
        2,
        "at least 1",
    );

    // RILL_REST names the cluster when the flag is absent; --detached returns at once.
    let o = rill(
        &["run", "--detached", "partitioners", "--count", "10"],
        &[("RILL_REST", url)],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let id = submitted_id(&o.stdout);
    wait_for_job(url, &id, LIMIT, |j| j["state"] == "FINISHED");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn list_and_cancel_manage_the_jobs_of_a_running_cluster() {
    let cluster = LocalCluster::start();
    let url = cluster.url.as_str();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let (conn_tx, conn_rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(b"to be\n");
            let _ = conn_tx.send(conn);
        }
    });

    // An attached `rill run` of an unbounded job, followed until it is cancelled.
    let mut attached = rill_command(
        &[
            "run",
            "--jobmanager-rest",
            url,
            "socket-wordcount",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ],
        &[],
    )
    .spawn()
    .expect("rill run starts");
    let stdout = attached.stdout.take().expect("stdout");
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = line_tx.send(line);
        }
    });
    let attached = Killed(attached);
    let id = submitted_id(&line_rx.recv_timeout(LIMIT).expect("rill run prints the id"));
    let _conn = conn_rx.recv_timeout(LIMIT).expect("the job connects");
    wait_for_job(url, &id, LIMIT, |j| j["state"] == "RUNNING");

    let o = rill(&["list", "--jobmanager-rest", url], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let row = o
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed: {}", o.stdout));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, [id.as_str(), "RUNNING", "socket-wordcount"]);

    let start = Instant::now();
    let o = rill(&["cancel", "--jobmanager-rest", url, &id], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(o.stdout.trim(), format!("Job {id} CANCELED"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // The attached run sees the cancellation and exits 1.
    let o = finish(attached, Duration::from_secs(10), "attached rill run");
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("Job {id} CANCELED")),
        "{}",
        o.stderr
    );

    let o = rill(&["list"], &[("RILL_REST", url)]);
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("CANCELED")),
        "{}",
        o.stdout
    );
    assert_one_line_error(
        &rill(&["cancel", "--jobmanager-rest", url, &id], &[]),
        2,
        "already reached the terminal status CANCELED",
    );
    assert_one_line_error(
        &rill(
            &[
                "cancel",
                "--jobmanager-rest",
                url,
                "0123456789abcdef0123456789abcdef",
            ],
            &[],
        ),
        2,
        "no job 0123456789abcdef0123456789abcdef",
    );
    assert_one_line_error(
        &rill(&["cancel", "--jobmanager-rest", url, "not-an-id"], &[]),
        2,
        "invalid job id",
    );
}

#[test]
fn an_unreachable_cluster_is_one_line_and_exit_1() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["run", "--jobmanager-rest", &url, "partitioners"],
        vec!["list", "--jobmanager-rest", &url],
        vec!["cancel", "--jobmanager-rest", &url, "00ff"],
    ] {
        assert_one_line_error(&rill(&args, &[]), 1, "cannot reach the JobManager");
    }
    assert_one_line_error(
        &rill(&["list"], &[("RILL_REST", url.as_str())]),
        1,
        &format!("cannot reach the JobManager's REST API at {url}"),
    );
}
