//! The REST API against a mini cluster in this process: every endpoint's status codes and key
//! fields, the life of submitted jobs (finished, failed, cancelled), JSON 4xx errors for bad
//! requests, and a server that survives garbage and truncated requests.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{assert_error, get_ok, http, wait_for_job};
use rill::actors::MiniCluster;
use rill::jobs::JobRegistry;
use rill::rest::RestHandle;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// A mini cluster and its REST server on their own thread and actix System; dropping it stops
/// both.
struct TestServer {
    base: String,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(task_managers: usize, slots: usize) -> Self {
        common::init_logging();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix::System::new().block_on(async move {
                let registry = Arc::new(JobRegistry::bundled());
                let cluster =
                    MiniCluster::start(common::cluster(task_managers, slots), registry.clone())
                        .await
                        .expect("cluster starts");
                let handle = RestHandle::new(
                    cluster.dispatcher().clone(),
                    cluster.resource_manager().clone(),
                    registry,
                    cluster.default_parallelism(),
                );
                let bind = "127.0.0.1:0".parse().expect("address");
                let (server, addr) = rill::rest::serve(bind, handle).expect("REST server binds");
                let server_handle = server.handle();
                actix::spawn(async move {
                    let _ = server.await;
                });
                let _ = addr_tx.send(addr);
                let _ = stop_rx.await;
                server_handle.stop(false).await;
                cluster.shutdown();
            })
        });
        let addr = addr_rx.recv_timeout(LIMIT).expect("the REST server starts");
        Self {
            base: format!("http://{addr}"),
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Submits `body` and returns the new job's id.
    fn submit(&self, body: Value) -> String {
        let a = http("POST", &self.url("/jobs"), Some(&body.to_string()));
        assert_eq!(a.status, 202, "{}", a.json);
        let id = a.json["jobid"].as_str().expect("jobid").to_string();
        assert_eq!(id.len(), 32, "{id}");
        assert_eq!(a.json["jobUrl"], format!("/jobs/{id}"));
        id
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn state_is(state: &'static str) -> impl Fn(&Value) -> bool {
    move |j| j["state"] == state
}

fn vertex_tasks(job: &Value, state: &str) -> Vec<u64> {
    job["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| v["tasks"][state].as_u64().expect("a count"))
        .collect()
}

#[test]
fn overview_and_taskmanagers_describe_the_cluster() {
    let s = TestServer::start(2, 3);
    let o = get_ok(&s.url("/overview"));
    assert_eq!(o["taskmanagers"], 2);
    assert_eq!(o["slots-total"], 6);
    assert_eq!(o["slots-available"], 6);
    for k in [
        "jobs-running",
        "jobs-finished",
        "jobs-cancelled",
        "jobs-failed",
    ] {
        assert_eq!(o[k], 0, "{k}");
    }
    assert_eq!(o["rill-version"], env!("CARGO_PKG_VERSION"));

    let tms = get_ok(&s.url("/taskmanagers"));
    let tms = tms["taskmanagers"].as_array().expect("taskmanagers");
    assert_eq!(tms.len(), 2);
    for tm in tms {
        assert_eq!(tm["slotsNumber"], 3);
        assert_eq!(tm["freeSlots"], 3);
        assert!(tm["registrationTime"].as_i64().expect("time") > 0);
        // In the JobManager's process: no data port.
        assert_eq!(tm["dataPort"], -1);
        let id = tm["id"].as_str().expect("id");
        let detail = get_ok(&s.url(&format!("/taskmanagers/{id}")));
        assert_eq!(detail["id"], id);
        assert_eq!(detail["slotsNumber"], 3);
        assert_eq!(detail["allocatedSlots"], json!([]));
    }
    assert_error(
        &http("GET", &s.url("/taskmanagers/no-such-tm"), None),
        404,
        "no TaskManager no-such-tm",
    );
    let jobs = get_ok(&s.url("/jobs"));
    assert_eq!(jobs, json!({"jobs": []}));
    assert_eq!(get_ok(&s.url("/jobs/overview")), json!({"jobs": []}));
}

#[test]
fn a_submitted_job_runs_to_finished_and_shows_in_every_view() {
    let s = TestServer::start(2, 2);
    let dir = common::temp_dir("rest-finished");
    let out = dir.join("partitioners.txt");
    let id = s.submit(json!({
        "job": "partitioners",
        "args": ["--count", "1000", "--output", out.to_str().expect("utf-8 path")],
        "parallelism": 2,
    }));
    let j = wait_for_job(&s.base, &id, LIMIT, state_is("FINISHED"));
    assert_eq!(j["jid"], id.as_str());
    assert_eq!(j["name"], "partitioners");
    assert_eq!(j["failure"], Value::Null);
    let start = j["start-time"].as_i64().expect("start");
    let end = j["end-time"].as_i64().expect("end");
    assert!(start > 0 && end >= start, "{start} {end}");
    assert_eq!(j["duration"].as_i64().expect("duration"), end - start);
    let vertices = j["vertices"].as_array().expect("vertices");
    assert_eq!(vertices.len(), 8, "{j}");
    assert_eq!(vertices[0]["name"], "Source: Sequence -> Forward Map");
    assert_eq!(vertices[7]["name"], "Sink: Summary");
    for v in vertices {
        assert_eq!(v["status"], "FINISHED", "{v}");
        assert_eq!(v["tasks"]["FINISHED"], v["parallelism"], "{v}");
        assert_eq!(v["id"].as_str().expect("id").len(), 32);
    }
    let parallelism: Vec<u64> = vertices
        .iter()
        .map(|v| v["parallelism"].as_u64().expect("p"))
        .collect();
    assert_eq!(parallelism, [2, 2, 2, 2, 2, 2, 2, 1]);
    assert_eq!(j["status-counts"]["FINISHED"], 8);
    // I/O counters: the source's 1000 numbers go out, the 32 sums come into the sink, and
    // nothing is serialized inside one process.
    assert_eq!(vertices[0]["metrics"]["read-records"], 0);
    assert_eq!(vertices[0]["metrics"]["write-records"], 1000);
    assert_eq!(vertices[1]["metrics"]["read-records"], 1000);
    assert_eq!(vertices[7]["metrics"]["read-records"], 32);
    assert_eq!(vertices[7]["metrics"]["write-records"], 0);
    for v in vertices {
        assert_eq!(v["metrics"]["write-bytes"], 0, "{v}");
        assert_eq!(v["metrics"]["read-bytes"], 0, "{v}");
    }
    let v0 = vertices[0]["id"].as_str().expect("id");
    let sub = get_ok(&s.url(&format!("/jobs/{id}/vertices/{v0}")));
    assert_eq!(sub["id"], v0);
    assert_eq!(sub["parallelism"], 2);
    let subtasks = sub["subtasks"].as_array().expect("subtasks");
    assert_eq!(subtasks.len(), 2);
    let mut out_records = 0;
    for (i, t) in subtasks.iter().enumerate() {
        assert_eq!(t["subtask"], i);
        assert_eq!(t["status"], "FINISHED");
        assert!(t["taskmanager-id"].is_string(), "{t}");
        out_records += t["metrics"]["write-records"].as_u64().expect("records");
    }
    assert_eq!(out_records, 1000);
    assert_error(
        &http("GET", &s.url(&format!("/jobs/{id}/vertices/nope")), None),
        404,
        "has no vertex nope",
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("output").trim_end(),
        format!("records=32 sum={}", 1000 * 1001)
    );

    let overview = get_ok(&s.url("/jobs/overview"));
    let entry = &overview["jobs"][0];
    assert_eq!(entry["jid"], id.as_str());
    assert_eq!(entry["state"], "FINISHED");
    assert_eq!(entry["end-time"], end);
    assert_eq!(entry["tasks"]["finished"], 15);
    assert_eq!(entry["tasks"]["total"], 15);
    assert_eq!(
        get_ok(&s.url("/jobs")),
        json!({"jobs": [{"id": id, "status": "FINISHED"}]})
    );
    let ex = get_ok(&s.url(&format!("/jobs/{id}/exceptions")));
    assert_eq!(ex["root-exception"], Value::Null);
    assert_eq!(ex["exceptionHistory"]["entries"], json!([]));

    let o = get_ok(&s.url("/overview"));
    assert_eq!(o["jobs-finished"], 1);
    assert_eq!(o["jobs-running"], 0);
    // Cancelling a job that has ended is a conflict, as in Flink.
    assert_error(
        &http("PATCH", &s.url(&format!("/jobs/{id}?mode=cancel")), None),
        409,
        "FINISHED",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_job_reports_its_cause_in_details_and_exceptions() {
    let s = TestServer::start(1, 2);
    let dir = common::temp_dir("rest-failed");
    let input = dir.join("bad.txt");
    let mut bytes = b"good words\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(&input, bytes).expect("write");
    let id = s.submit(json!({
        "job": "wordcount",
        "args": ["--input", input.to_str().expect("utf-8"),
                 "--output", dir.join("o.txt").to_str().expect("utf-8")],
    }));
    let j = wait_for_job(&s.base, &id, LIMIT, state_is("FAILED"));
    let cause = j["failure"].as_str().expect("a failure cause");
    assert!(cause.contains("not valid UTF-8"), "{cause}");
    assert!(
        vertex_tasks(&j, "FAILED").iter().sum::<u64>() >= 1,
        "a failed subtask: {j}"
    );
    assert_eq!(j["vertices"][0]["status"], "FAILED");
    let ex = get_ok(&s.url(&format!("/jobs/{id}/exceptions")));
    assert_eq!(ex["root-exception"], cause);
    assert!(
        ex["timestamp"].as_i64().expect("timestamp") >= j["start-time"].as_i64().expect("start")
    );
    assert_eq!(ex["exceptionHistory"]["entries"][0]["stacktrace"], cause);
    let o = get_ok(&s.url("/overview"));
    assert_eq!(o["jobs-failed"], 1);
    assert_eq!(
        get_ok(&s.url("/jobs/overview"))["jobs"][0]["state"],
        "FAILED"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn patch_cancels_an_unbounded_job_within_seconds() {
    let s = TestServer::start(2, 2);
    // The job reads from this socket; the test keeps the connection open, so it never ends
    // by itself.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (conn_tx, conn_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.write_all(b"to be or not to be\n");
            let _ = conn_tx.send(conn);
        }
    });
    let id = s.submit(json!({
        "job": "socket-wordcount",
        "args": ["--host", "127.0.0.1", "--port", port.to_string()],
        "parallelism": 2,
    }));
    // A vertex is RUNNING once one of its subtasks runs: wait for every subtask, so that the
    // task counts below are all running.
    let running = wait_for_job(&s.base, &id, LIMIT, |j| {
        j["state"] == "RUNNING"
            && j["vertices"].as_array().is_some_and(|vs| {
                vs.iter()
                    .all(|v| v["status"] == "RUNNING" && v["tasks"]["RUNNING"] == v["parallelism"])
            })
    });
    let _conn = conn_rx.recv_timeout(LIMIT).expect("the job connects");
    assert_eq!(running["end-time"], -1);
    assert_eq!(
        running["vertices"][0]["tasks"]["RUNNING"], 1,
        "the socket source is not parallel"
    );

    let entry = get_ok(&s.url("/jobs/overview"))["jobs"][0].clone();
    assert_eq!(entry["state"], "RUNNING");
    assert_eq!(entry["end-time"], -1);
    assert_eq!(entry["tasks"]["running"], entry["tasks"]["total"]);
    let o = get_ok(&s.url("/overview"));
    assert_eq!(o["jobs-running"], 1);
    assert_eq!(o["slots-available"], 2, "two of four slots are taken");
    let tms = get_ok(&s.url("/taskmanagers"));
    let holders: Vec<&Value> = tms["taskmanagers"]
        .as_array()
        .expect("taskmanagers")
        .iter()
        .filter(|t| t["freeSlots"] != t["slotsNumber"])
        .collect();
    assert!(!holders.is_empty());
    let tm = holders[0]["id"].as_str().expect("id");
    let detail = get_ok(&s.url(&format!("/taskmanagers/{tm}")));
    assert_eq!(detail["allocatedSlots"][0]["jobId"], id.as_str());

    let start = Instant::now();
    let a = http("PATCH", &s.url(&format!("/jobs/{id}?mode=cancel")), None);
    assert_eq!(a.status, 202, "{}", a.json);
    assert_eq!(a.json, json!({}));
    let j = wait_for_job(&s.base, &id, Duration::from_secs(5), state_is("CANCELED"));
    assert!(start.elapsed() < Duration::from_secs(5));
    for v in j["vertices"].as_array().expect("vertices") {
        assert_eq!(v["status"], "CANCELED", "{v}");
        assert_eq!(v["tasks"]["CANCELED"], v["parallelism"], "{v}");
    }
    assert!(j["end-time"].as_i64().expect("end") >= j["start-time"].as_i64().expect("start"));
    assert_eq!(j["failure"], Value::Null);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let o = get_ok(&s.url("/overview"));
        if o["slots-available"] == 4 {
            assert_eq!(o["jobs-cancelled"], 1);
            assert_eq!(o["jobs-running"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "slots not freed: {o}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_requests_get_json_4xx_errors() {
    let s = TestServer::start(1, 1);
    let post = |body: &str| http("POST", &s.url("/jobs"), Some(body));
    let dir = common::temp_dir("rest-bad");
    let missing = dir.join("absent.txt");
    let missing = missing.to_str().expect("utf-8");

    assert_error(&post("{\"job\":"), 400, "invalid request body");
    assert_error(&post(""), 400, "invalid request body");
    assert_error(&post("[1, 2]"), 400, "invalid request body");
    assert_error(&post("{}"), 400, "missing field `job`");
    assert_error(&post(r#"{"job": 5}"#), 400, "invalid type");
    assert_error(
        &post(r#"{"job": "partitioners", "parallelism": "two"}"#),
        400,
        "invalid type",
    );
    assert_error(
        &post(r#"{"job": "partitioners", "args": "--count"}"#),
        400,
        "invalid type",
    );
    assert_error(
        &post(r#"{"job": "partitioners", "jobs": 1}"#),
        400,
        "unknown field `jobs`",
    );
    assert_error(&post(r#"{"job": "nosuch"}"#), 400, "unknown job 'nosuch'");
    assert_error(
        &post(r#"{"job": "wordcount", "args": ["--bogus", "1"]}"#),
        400,
        "unknown argument '--bogus'",
    );
    assert_error(
        &post(r#"{"job": "partitioners", "args": ["--count", "ten"]}"#),
        400,
        "bad value 'ten'",
    );
    assert_error(
        &post(
            &json!({"job": "wordcount", "args": ["--input", missing, "--output", "o"]}).to_string(),
        ),
        400,
        "does not exist",
    );
    assert_error(
        &post(r#"{"job": "partitioners", "parallelism": 0}"#),
        400,
        "at least 1",
    );
    assert_error(
        &post(r#"{"job": "partitioners", "parallelism": 100000}"#),
        400,
        "max parallelism",
    );
    let huge = json!({"job": "partitioners", "args": ["x".repeat(100_000)]}).to_string();
    assert_error(&post(&huge), 413, "too large");

    let unknown = "0123456789abcdef0123456789abcdef";
    assert_error(
        &http("GET", &s.url(&format!("/jobs/{unknown}")), None),
        404,
        "no job",
    );
    assert_error(
        &http("GET", &s.url(&format!("/jobs/{unknown}/exceptions")), None),
        404,
        "no job",
    );
    assert_error(
        &http(
            "PATCH",
            &s.url(&format!("/jobs/{unknown}?mode=cancel")),
            None,
        ),
        404,
        "no job",
    );
    assert_error(
        &http("GET", &s.url("/jobs/not-a-job"), None),
        400,
        "invalid job id",
    );
    assert_error(
        &http("PATCH", &s.url("/jobs/xyz?mode=cancel"), None),
        400,
        "invalid job id",
    );
    assert_error(
        &http("PATCH", &s.url(&format!("/jobs/{unknown}?mode=stop")), None),
        400,
        "unsupported mode 'stop'",
    );
    assert_error(
        &http("PATCH", &s.url(&format!("/jobs/{unknown}")), None),
        400,
        "missing query parameter 'mode'",
    );
    assert_error(&http("GET", &s.url("/nope"), None), 404, "Not found: /nope");
    assert_error(&http("GET", &s.url("/web/nope.js"), None), 404, "Not found");
    assert_error(
        &http("GET", &s.url("/web/../Cargo.toml"), None),
        404,
        "Not found",
    );
    assert_error(&http("GET", &s.url("/jobs/a/b/c"), None), 404, "Not found");
    assert_error(&http("DELETE", &s.url("/jobs"), None), 405, "DELETE");
    assert_error(&http("POST", &s.url("/overview"), Some("{}")), 405, "POST");

    // Nothing was submitted, and the server still answers.
    assert_eq!(get_ok(&s.url("/jobs")), json!({"jobs": []}));
    assert_eq!(get_ok(&s.url("/overview/"))["taskmanagers"], 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes `bytes` on a fresh connection (the server may close it at any point), then reads
/// whatever comes back until the server closes or 5 s pass.
fn raw_exchange(addr: SocketAddr, bytes: &[u8], half_close: bool) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = c.write_all(bytes);
    if half_close {
        let _ = c.shutdown(std::net::Shutdown::Write);
    }
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    answer
}

#[test]
fn garbage_and_truncated_requests_do_not_crash_the_server() {
    let s = TestServer::start(1, 1);
    let alive = || assert_eq!(get_ok(&s.url("/overview"))["taskmanagers"], 1);

    let mut rng = rill::util::FastRng::new(42);
    let garbage: Vec<u8> = (0..64 * 1024).map(|_| rng.next_u64() as u8).collect();
    let answer = raw_exchange(s.addr, &garbage, true);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    alive();

    // A TLS ClientHello's first bytes to a plain HTTP port.
    raw_exchange(
        s.addr,
        &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc],
        true,
    );
    alive();

    // A request head cut short, and one cut short with the connection left open meanwhile.
    raw_exchange(s.addr, b"GET /overview HTTP/1.1\r\nHost: 127", true);
    let mut dangling = TcpStream::connect(s.addr).expect("connect");
    dangling
        .write_all(b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"job\":")
        .expect("write");
    alive();
    drop(dangling);

    // A body shorter than its Content-Length, then the writer hangs up.
    raw_exchange(
        s.addr,
        b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"job\": \"partitio",
        true,
    );
    alive();

    // An oversized header and a nonsense request line.
    let mut big = b"GET /overview HTTP/1.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 200 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let answer = raw_exchange(s.addr, &big, true);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    let answer = raw_exchange(s.addr, b"\x00\x01 / HTTP/9.9\r\n\r\n", true);
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"));
    alive();

    // Bytes that are not JSON as a body get a JSON 400.
    let answer = raw_exchange(
        s.addr,
        b"POST /jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00{",
        false,
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains("{\"errors\":[\"invalid request body"),
        "{text}"
    );
    alive();
    assert_eq!(get_ok(&s.url("/jobs")), json!({"jobs": []}));
}
