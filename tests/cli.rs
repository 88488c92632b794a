//! The `rill` binary as a user meets it: exit codes, one-line messages for bad input, `jobs`,
//! `plan` and `run --local` of the bundled jobs, and the decode policy for bad input lines.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished `rill` process left.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args`, killing it (and failing the test) after `limit`.
fn rill(args: &[&str], limit: Duration) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rill starts");
    let (mut out, mut err) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rill {args:?} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        code: status.code(),
        stdout: readers.0.join().expect("stdout reader"),
        stderr: readers.1.join().expect("stderr reader"),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Asserts exit code 2 and exactly one line on stderr containing `needle`.
fn assert_usage_error(o: &Outcome, needle: &str) {
    assert_eq!(o.code, Some(2), "stderr: {}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {:?}", o.stderr);
    assert!(lines[0].contains(needle), "{:?} lacks {needle:?}", lines[0]);
}

#[test]
fn bad_input_prints_one_line_and_exits_2() {
    let dir = common::temp_dir("cli-usage");
    let input = dir.join("in.txt");
    std::fs::write(&input, "a b\n").expect("write");
    let out = dir.join("out.txt");

    assert_usage_error(
        &rill(&["run", "--local", "nosuch"], LIMIT),
        "unknown job 'nosuch'",
    );
    assert_usage_error(
        &rill(
            &["run", "--local", "wordcount", "--input", path(&input)],
            LIMIT,
        ),
        "missing argument --output",
    );
    assert_usage_error(
        &rill(
            &[
                "run",
                "--local",
                "wordcount",
                "--input",
                path(&dir.join("absent.txt")),
                "--output",
                path(&out),
            ],
            LIMIT,
        ),
        "does not exist",
    );
    assert_usage_error(
        &rill(
            &[
                "run",
                "--local",
                "wordcount",
                "--input",
                path(&input),
                "--output",
                path(&out),
                "--bogus",
                "1",
            ],
            LIMIT,
        ),
        "unknown argument '--bogus'",
    );
    assert_usage_error(
        &rill(
            &[
                "run",
                "--local",
                "wordcount",
                "--input",
                path(&input),
                "--output",
                path(&out),
                "--on-bad-line",
                "maybe",
            ],
            LIMIT,
        ),
        "on-bad-line",
    );
    assert_usage_error(
        &rill(&["run", "--local", "-p", "0", "partitioners"], LIMIT),
        "at least 1",
    );
    assert_usage_error(&rill(&["plan", "nosuch"], LIMIT), "unknown job");
    // A bad command line (clap's own message may take several lines, but the code is 2).
    assert_eq!(rill(&["frobnicate"], LIMIT).code, Some(2));
    assert!(!out.exists(), "no job ran, so no output");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn jobs_lists_every_bundled_job_with_its_usage() {
    let o = rill(&["jobs"], LIMIT);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    for (job, usage) in [
        ("wordcount", "--input FILE --output FILE"),
        ("socket-wordcount", "--host HOST --port PORT"),
        (
            "socket-window-wordcount",
            "--host HOST --port PORT [--size-ms 2000] [--slide-ms 1000]",
        ),
        ("partitioners", "[--count N]"),
    ] {
        let line = o
            .stdout
            .lines()
            .find(|l| l.contains(&format!("rill run --local {job} ")))
            .unwrap_or_else(|| panic!("no usage line for {job}: {}", o.stdout));
        assert!(line.contains(usage), "{line}");
    }
}

#[test]
fn plan_prints_the_chained_job_graph_as_json() {
    let dir = common::temp_dir("cli-plan");
    let input = dir.join("in.txt");
    std::fs::write(&input, "a b\n").expect("write");
    let o = rill(
        &[
            "plan",
            "-p",
            "3",
            "wordcount",
            "--input",
            path(&input),
            "--output",
            path(&dir.join("o")),
        ],
        LIMIT,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let plan: serde_json::Value = serde_json::from_str(&o.stdout).expect("JSON");
    let vertices = plan["vertices"].as_array().expect("vertices");
    let ops: Vec<Vec<&str>> = vertices
        .iter()
        .map(|v| {
            v["operators"]
                .as_array()
                .expect("operators")
                .iter()
                .map(|o| o.as_str().expect("name"))
                .collect()
        })
        .collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert_eq!(
        ops[0],
        [format!("Source: {}", path(&input)).as_str(), "Tokenizer"]
    );
    assert_eq!(ops[1], ["Keyed Aggregation (sum)"]);
    assert_eq!(ops[2], ["Sink: Sorted Text File"]);
    let par: Vec<u64> = vertices
        .iter()
        .map(|v| v["parallelism"].as_u64().expect("parallelism"))
        .collect();
    assert_eq!(
        par,
        [3, 3, 1],
        "submission parallelism below the sink's own"
    );
    let edges: Vec<&str> = plan["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["partitioner"].as_str().expect("partitioner"))
        .collect();
    assert_eq!(edges, ["HASH", "REBALANCE"]);
    assert_eq!(plan["edges"][0]["source"], vertices[0]["id"]);
    assert_eq!(plan["edges"][0]["target"], vertices[1]["id"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_local_runs_bundled_jobs_to_their_end() {
    let dir = common::temp_dir("cli-run");
    let out = dir.join("partitioners.txt");
    let o = rill(
        &[
            "run",
            "--local",
            "-p",
            "2",
            "partitioners",
            "--count",
            "1000",
            "--output",
            path(&out),
        ],
        LIMIT,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.contains("FINISHED"), "{}", o.stderr);
    let text = std::fs::read_to_string(&out).expect("output");
    assert_eq!(text.trim_end(), format!("records=32 sum={}", 1000 * 1001));

    let input = dir.join("words.txt");
    std::fs::write(&input, "the cat\nThe dog, the END\n").expect("write");
    let counts = dir.join("counts.txt");
    let o = rill(
        &[
            "run",
            "--local",
            "-p",
            "2",
            "--taskmanagers",
            "2",
            "wordcount",
            "--input",
            path(&input),
            "--output",
            path(&counts),
        ],
        LIMIT,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(&counts).expect("counts"),
        "cat,1\ndog,1\nend,1\nthe,3\n"
    );

    // The same through the two-phase-commit sink, checkpointing: a directory of committed
    // part files whose sorted lines are the counts.
    let parts = dir.join("parts");
    let o = rill(
        &[
            "run",
            "--local",
            "-p",
            "2",
            "--checkpoint-interval-ms",
            "20",
            "--checkpoint-dir",
            path(&dir.join("ck")),
            "wordcount",
            "--input",
            path(&input),
            "--output",
            path(&parts),
            "--sink",
            "2pc",
        ],
        LIMIT,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let mut lines: Vec<String> = std::fs::read_dir(&parts)
        .expect("parts")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .expect("part")
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    assert_eq!(lines, ["cat,1", "dog,1", "end,1", "the,3"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn undecodable_lines_fail_the_job_or_are_skipped_by_policy() {
    let dir = common::temp_dir("cli-utf8");
    let input = dir.join("bad.txt");
    let mut bytes = b"good words\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b' ', b'x', b'\n']);
    bytes.extend_from_slice(b"more words\n");
    std::fs::write(&input, bytes).expect("write");
    let counts = dir.join("counts.txt");
    let args = |policy: &'static str| {
        vec![
            "run".to_string(),
            "--local".into(),
            "wordcount".into(),
            "--input".into(),
            path(&input).into(),
            "--output".into(),
            path(&counts).into(),
            "--on-bad-line".into(),
            policy.into(),
        ]
    };

    let fail = args("fail");
    let fail: Vec<&str> = fail.iter().map(String::as_str).collect();
    let o = rill(&fail, LIMIT);
    assert_eq!(o.code, Some(1), "the job fails: {}", o.stderr);
    assert!(o.stderr.contains("FAILED"), "{}", o.stderr);
    assert!(
        o.stderr.contains("the line at byte 11 is not valid UTF-8"),
        "the cause names the line: {}",
        o.stderr
    );

    let skip = args("skip");
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    let o = rill(&skip, LIMIT);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(&counts).expect("counts"),
        "good,1\nmore,1\nwords,2\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs a socket job at parallelism 2 fed "to be or not\nto be\n" by a peer that keeps the
/// connection open for `hold`; returns each word's printed counts, in order.
fn socket_job_counts(job: &str, hold: std::time::Duration) -> BTreeMap<String, Vec<u64>> {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let feeder = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("rill connects");
        conn.write_all(b"to be or not\nto be\n").expect("send");
        // Closing the connection ends the (otherwise unbounded) source.
        std::thread::sleep(hold);
    });
    let o = rill(
        &[
            "run",
            "--local",
            "-p",
            "2",
            job,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ],
        LIMIT,
    );
    feeder.join().expect("feeder");
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in o.stdout.lines() {
        let (prefix, rec) = line
            .split_once("> ")
            .expect("a `N> ` prefix at parallelism 2");
        assert!(prefix == "1" || prefix == "2", "{line}");
        // Debug form of ("word", n)
        let rec = rec.trim_start_matches("(\"").trim_end_matches(')');
        let (word, n) = rec.split_once("\", ").expect("(word, count)");
        counts
            .entry(word.to_string())
            .or_default()
            .push(n.parse().expect("count"));
    }
    counts
}

fn word_counts(expected: &[(&str, &[u64])]) -> BTreeMap<String, Vec<u64>> {
    expected
        .iter()
        .map(|(w, c)| (w.to_string(), c.to_vec()))
        .collect()
}

#[test]
fn socket_window_wordcount_prints_each_window_of_the_sliding_two_seconds() {
    // Both 2 s windows covering the words end within 2 s of their arrival; the peer stays
    // a little longer. The two lines arrive together: every word is in the same two windows,
    // each of which counts it fully.
    let counts = socket_job_counts(
        "socket-window-wordcount",
        std::time::Duration::from_millis(2_600),
    );
    let expected = word_counts(&[
        ("be", &[2, 2]),
        ("not", &[1, 1]),
        ("or", &[1, 1]),
        ("to", &[2, 2]),
    ]);
    assert_eq!(counts, expected);
}

#[test]
fn socket_wordcount_prints_running_counts_with_subtask_prefixes() {
    let counts = socket_job_counts("socket-wordcount", std::time::Duration::ZERO);
    let expected = word_counts(&[
        ("be", &[1, 2]),
        ("not", &[1]),
        ("or", &[1]),
        ("to", &[1, 2]),
    ]);
    assert_eq!(counts, expected);
}
