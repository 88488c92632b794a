//! Observability across real processes: a JobManager and two TaskManager processes (each
//! serving its own `/metrics`) run a keyed shuffle across both. `/actors` gathers every node's
//! actors with supervision, data (between processes, with rates) and control edges;
//! `/taskmanagers/{id}/logs` reads a TaskManager's log over RPC; each TaskManager's `/metrics`
//! passes promtool and a real Prometheus scrapes the JobManager and both TaskManagers;
//! `/actors/stream` feeds two readers at once, resumes from `Last-Event-ID`, and drops a client
//! that stops reading while the JobManager's memory stays bounded.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::graph::job_graph::SubmitOptions;
use rill::launch::ProcessCluster;
use serde_json::Value;

const SECRET: &str = "test-secret-observability";

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        "[jobmanager]\nactors_stream_interval_ms = 100\n[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 5000\n",
    )
    .expect("config");
    p
}

/// A JobManager and two TaskManagers, each TaskManager serving `/metrics` on the returned
/// address.
fn cluster(dir: &Path) -> (ProcessCluster, Vec<String>) {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let mut c =
        ProcessCluster::start_logged(exe, Some(&config(dir)), SECRET, &[], Some((&logs, "info")))
            .expect("job manager");
    let mut metrics = Vec::new();
    for _ in 0..2 {
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        c.add_task_manager_with(2, SECRET, &["--metrics", &addr])
            .expect("task manager");
        metrics.push(addr);
    }
    c.wait_registered(2, Duration::from_secs(30))
        .expect("registered");
    (c, metrics)
}

fn get_text(url: &str) -> String {
    ureq::get(url)
        .timeout(Duration::from_secs(10))
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .into_string()
        .expect("text")
}

/// The sum of the samples of `family` whose labels contain `filter`.
fn sample_sum(text: &str, family: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Each actor's node, by path.
fn nodes_by_path(actors: &Value) -> BTreeMap<String, String> {
    actors["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .map(|a| {
            (
                a["path"].as_str().expect("path").to_string(),
                a["node"].as_str().expect("node").to_string(),
            )
        })
        .collect()
}

/// A data edge between subtasks of different processes that has carried buffers at a rate,
/// if there is one.
fn cross_node_data_edge(actors: &Value) -> Option<Value> {
    let node = nodes_by_path(actors);
    actors["edges"].as_array()?.iter().find_map(|e| {
        let (from, to) = (e["from"].as_str()?, e["to"].as_str()?);
        let crosses = e["kind"] == "data" && node.get(from) != node.get(to);
        let moving =
            e["flow"]["buffers_per_second"].as_f64()? > 0.0 && e["flow"]["credits"].as_u64()? > 0;
        (crosses && moving).then(|| e.clone())
    })
}

/// An `/actors/stream` client on a plain socket.
struct StreamClient {
    reader: BufReader<TcpStream>,
}

impl StreamClient {
    fn connect(rest: &str, last_id: Option<u64>) -> Self {
        let mut s = TcpStream::connect(rest).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let resume = last_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET /actors/stream HTTP/1.1\r\nHost: {rest}\r\nAccept: text/event-stream\r\n{resume}\r\n"
        )
        .expect("request");
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            if header.trim().is_empty() {
                break;
            }
        }
        Self { reader }
    }

    /// The next event: its id, kind and data (chunked transfer lines are skipped: only
    /// `id:`, `event:` and `data:` lines are read).
    fn next_event(&mut self) -> (u64, String, Value) {
        let (mut id, mut kind, mut data) = (None, None, None);
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("an event line");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str::<Value>(v).expect("event data is JSON"));
            }
            if let (Some(i), Some(k), Some(d)) = (id, &kind, &data) {
                return (i, k.clone(), d.clone());
            }
        }
    }
}

/// The vertex and checkpoint routes with subtasks in two processes: the rate-limited sink
/// holds its source back, and each subtask's checkpoint names the TaskManager it ran on.
fn vertex_routes_across_processes(base: &str, job: &str) {
    let details = common::get_ok(&format!("{base}/jobs/{job}"));
    let [source, sink] =
        <[String; 2]>::try_from(common::vertex_ids(&details)).expect("two vertices");
    let mut bp = Value::Null;
    for _ in 0..100 {
        bp = common::get_ok(&format!("{base}/jobs/{job}/vertices/{source}/backpressure"));
        if bp["backpressure-level"] == "high" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(bp["backpressure-level"], "high", "{bp}");
    assert_eq!(bp["subtasks"].as_array().map(Vec::len), Some(2), "{bp}");
    let sink_bp = common::get_ok(&format!("{base}/jobs/{job}/vertices/{sink}/backpressure"));
    assert_eq!(sink_bp["backpressure-level"], "ok", "{sink_bp}");
    let agg = common::get_ok(&format!(
        "{base}/jobs/{job}/vertices/{sink}/subtasks/metrics?get=numRecordsIn,numBytesIn&agg=sum"
    ));
    let sum = |id: &str| {
        agg.as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == id))
            .and_then(|m| m["sum"].as_f64())
            .unwrap_or(0.0)
    };
    assert!(
        sum("numRecordsIn") > 0.0 && sum("numBytesIn") > 0.0,
        "{agg}"
    );
    let wm = common::get_ok(&format!("{base}/jobs/{job}/vertices/{sink}/watermarks"));
    for id in ["0.currentInputWatermark", "1.currentInputWatermark"] {
        assert!(
            wm.as_array()
                .is_some_and(|w| w.iter().any(|m| m["id"] == id)),
            "{id}: {wm}"
        );
    }
    let plan = common::get_ok(&format!("{base}/jobs/{job}/plan"));
    assert_eq!(
        plan["plan"]["nodes"].as_array().map(Vec::len),
        Some(2),
        "{plan}"
    );

    let mut listing = Value::Null;
    for _ in 0..100 {
        listing = common::get_ok(&format!("{base}/jobs/{job}/checkpoints"));
        if listing["counts"]["completed"].as_u64() >= Some(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let id = listing["latest"]["completed"]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no completed checkpoint: {listing}"));
    let cp = common::get_ok(&format!("{base}/jobs/{job}/checkpoints/details/{id}"));
    assert_eq!(cp["num_acknowledged_subtasks"], 4, "{cp}");
    let mut placed = std::collections::BTreeSet::new();
    for v in [&source, &sink] {
        let d = common::get_ok(&format!(
            "{base}/jobs/{job}/checkpoints/details/{id}/subtasks/{v}"
        ));
        for s in d["subtasks"].as_array().expect("subtasks") {
            assert_eq!(s["status"], "completed", "{s}");
            assert!(
                s["ack_timestamp"].as_i64() >= cp["trigger_timestamp"].as_i64(),
                "{s}"
            );
            placed.insert(s["taskmanager"].as_str().expect("taskmanager").to_string());
        }
    }
    assert_eq!(
        placed.len(),
        2,
        "subtasks ran on both TaskManagers: {placed:?}"
    );
}

#[test]
fn actors_logs_and_metrics_across_a_jobmanager_and_two_taskmanagers() {
    let started = Instant::now();
    let dir = common::temp_dir("observability");
    let (mut c, tm_metrics) = cluster(&dir);
    let checkpoints = dir.join("checkpoints");
    let job = c
        .submit_with(
            "shuffle",
            &[
                "--records",
                "1000000000",
                "--partition",
                "hash",
                "--sink-rate",
                "200000",
            ],
            2,
            SubmitOptions {
                checkpoint_interval_ms: Some(500),
                checkpoint_dir: Some(checkpoints),
                ..SubmitOptions::default()
            },
        )
        .expect("submitted");
    let base = format!("http://{}", c.rest);

    // /actors: three nodes answered, and data flows between subtasks of two processes.
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(60) {
        let actors = common::get_ok(&format!("{base}/actors"));
        if let Some(edge) = cross_node_data_edge(&actors) {
            seen = Some((actors, edge));
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (actors, edge) = seen.expect("a data edge between processes with buffers flowing");
    let nodes = actors["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(nodes.iter().all(|n| n["status"] == "ok"), "{nodes:?}");
    assert_eq!(
        nodes.iter().filter(|n| n["role"] == "taskmanager").count(),
        2
    );
    let kinds_by_node: BTreeMap<String, Vec<String>> = actors["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .fold(BTreeMap::new(), |mut m, a| {
            m.entry(a["node"].as_str().unwrap_or_default().to_string())
                .or_insert_with(Vec::new)
                .push(a["kind"].as_str().unwrap_or_default().to_string());
            m
        });
    assert_eq!(kinds_by_node.len(), 3, "{kinds_by_node:?}");
    for kinds in kinds_by_node.values() {
        let has = |k: &str| kinds.iter().any(|x| x == k);
        assert!(
            (has("Dispatcher") && has("ResourceManager") && has("JobMaster"))
                || (has("TaskManager") && has("Slot") && has("Subtask")),
            "{kinds:?}"
        );
    }
    assert!(edge["flow"]["records"].as_u64() > Some(0), "{edge}");
    assert!(edge["channels"].as_u64() >= Some(1), "{edge}");
    let edges = actors["edges"].as_array().expect("edges");
    assert!(edges
        .iter()
        .any(|e| e["kind"] == "supervision"
            && e["to"].as_str().is_some_and(|t| t.contains("/subtask-"))));
    let jm_node = nodes
        .iter()
        .find(|n| n["role"] == "jobmanager")
        .and_then(|n| n["node"].as_str())
        .expect("the JobManager's node");
    let heartbeats = edges.iter().find(|e| {
        e["kind"] == "control"
            && e["from_node"] == jm_node
            && e["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["tag"] == "rill.tm.Heartbeat"))
    });
    assert!(
        heartbeats.is_some(),
        "the JobManager's heartbeats to a TaskManager: {edges:?}"
    );

    vertex_routes_across_processes(&base, &job);

    // A TaskManager's log, read over RPC.
    let tms = common::get_ok(&format!("{base}/taskmanagers"));
    let tm_id = tms["taskmanagers"][0]["id"]
        .as_str()
        .expect("a TaskManager id")
        .to_string();
    let logs = common::get_ok(&format!("{base}/taskmanagers/{tm_id}/logs"));
    assert_eq!(logs["logs"][0]["name"], "taskmanager.log", "{logs}");
    assert!(logs["logs"][0]["size"].as_u64() > Some(0), "{logs}");
    let text = get_text(&format!("{base}/taskmanagers/{tm_id}/logs/taskmanager.log"));
    assert!(text.contains("TaskManager metrics listening"), "{text}");
    let flink_path = get_text(&format!("{base}/taskmanagers/{tm_id}/log"));
    assert!(flink_path.contains("INFO"), "{flink_path}");
    common::assert_error(
        &common::http("GET", &format!("{base}/taskmanagers/nope/logs"), None),
        404,
        "no TaskManager",
    );
    common::assert_error(
        &common::http(
            "GET",
            &format!("{base}/taskmanagers/{tm_id}/logs/other.log"),
            None,
        ),
        404,
        "no log",
    );

    // Each TaskManager's own /metrics: its subtasks' counters grow; promtool accepts it.
    for addr in &tm_metrics {
        let url = format!("http://{addr}/metrics");
        let first = get_text(&url);
        assert!(
            first.contains("# TYPE rill_task_records_in_total counter"),
            "{first}"
        );
        assert!(
            first.contains("rill_taskmanager_slots{taskmanager="),
            "{first}"
        );
        assert!(first.contains("rill_actor_mailbox_length{"), "{first}");
        // A source's subtasks write records, a sink's read them: the sum grows on both.
        let moved = |text: &str| {
            sample_sum(text, "rill_task_records_in_total", "job_name=\"shuffle\"")
                + sample_sum(text, "rill_task_records_out_total", "job_name=\"shuffle\"")
        };
        let in1 = moved(&first);
        std::thread::sleep(Duration::from_millis(1500));
        let second = get_text(&url);
        let in2 = moved(&second);
        assert!(
            in2 > in1 && in1 > 0.0,
            "{addr}: records in and out {in1} then {in2}"
        );
        common::prometheus::promtool_accepts(&second);
    }

    // A real Prometheus scrapes the JobManager and both TaskManagers.
    let targets = [
        c.rest.as_str(),
        tm_metrics[0].as_str(),
        tm_metrics[1].as_str(),
    ];
    let answer = common::prometheus::scrape(&targets, "rill_process_threads", 3);
    for t in targets {
        assert!(
            answer.contains(&format!("\"instance\":\"{t}\"")),
            "{t}: {answer}"
        );
    }
    let tm_series = common::prometheus::scrape(
        &[tm_metrics[0].as_str(), tm_metrics[1].as_str()],
        "rill_task_records_out_total",
        1,
    );
    assert!(
        tm_series.contains("\"job_name\":\"shuffle\""),
        "{tm_series}"
    );

    // /actors/stream: two readers at once, a resume, and a client that stops reading.
    let rss_before = c.job_manager.rss_kib().expect("the JobManager's memory");
    let mut a = StreamClient::connect(&c.rest, None);
    let mut b = StreamClient::connect(&c.rest, None);
    let (a0, kind_a, snap) = a.next_event();
    assert_eq!(kind_a, "snapshot");
    assert!(
        snap["actors"].as_array().is_some_and(|x| x.len() > 5),
        "{snap}"
    );
    let (_, kind_b, _) = b.next_event();
    assert_eq!(kind_b, "snapshot");
    let (a1, kind, update) = a.next_event();
    assert_eq!(kind, "update");
    assert!(a1 > a0);
    assert!(update["edges"].as_array().is_some(), "{update}");
    let (b1, _, _) = b.next_event();
    assert!(b1 > a0);
    drop(b);
    let mut resumed = StreamClient::connect(&c.rest, Some(a1));
    let (r, kind, _) = resumed.next_event();
    assert_eq!(
        kind, "update",
        "a resumed client gets what it missed, not a snapshot"
    );
    assert!(r > a1 && r <= a1 + 8, "resumed at {r} after {a1}");

    let stalled = {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        sock.set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let addr: std::net::SocketAddr = c.rest.parse().expect("rest address");
        sock.connect(&addr.into()).expect("connect");
        let mut s: TcpStream = sock.into();
        write!(s, "GET /actors/stream HTTP/1.1\r\nHost: {}\r\n\r\n", c.rest).expect("request");
        s
    };
    let mut dropped = 0.0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        // The reader keeps up; the stalled client never reads.
        let _ = a.next_event();
        let _ = resumed.next_event();
        let m = get_text(&format!("{base}/metrics"));
        dropped = m
            .lines()
            .find_map(|l| l.strip_prefix("rill_rest_stream_dropped_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if dropped >= 1.0 {
            assert!(
                m.contains("rill_rest_stream_clients 2"),
                "the two readers still follow: {m}"
            );
            break;
        }
    }
    assert!(dropped >= 1.0, "the stalled client was never dropped");
    let (later, _, _) = a.next_event();
    assert!(later > r, "the reader keeps getting events");
    let rss_after = c.job_manager.rss_kib().expect("the JobManager's memory");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "the JobManager's memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    // The stalled client's socket, full, is closed by the server.
    let mut stalled = stalled;
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut sink = Vec::new();
    let _ = stalled.read_to_end(&mut sink);
    assert!(!sink.is_empty(), "the stalled client had events queued");

    let _ = common::http("PATCH", &format!("{base}/jobs/{job}?mode=cancel"), None);
    c.job_manager.kill();
    for tm in &mut c.task_managers {
        tm.kill();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
