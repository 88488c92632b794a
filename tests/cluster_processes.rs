//! A real cluster: a JobManager and TaskManagers as separate `rill` processes on loopback,
//! talking over QUIC, with jobs submitted over REST. Every process is killed when its guard
//! drops, so a failing test leaves nothing behind.

mod common;

use std::net::{TcpStream, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-5f2a";

/// Records per network buffer in these clusters: small, so that the credit bound is small
/// beside the records a test sends.
const BUFFER_SIZE: usize = 1024;

/// A settings file with fast heartbeats and small buffers.
fn config(dir: &Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        format!(
            "[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1500\nrpc_timeout_ms = 2000\nbuffer_size = {BUFFER_SIZE}\n"
        ),
    )
    .expect("config");
    p
}

/// The launcher's cluster, with calls that fail the test instead of returning errors.
struct Cluster(ProcessCluster);

impl Deref for Cluster {
    type Target = ProcessCluster;
    fn deref(&self) -> &ProcessCluster {
        &self.0
    }
}

impl DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut ProcessCluster {
        &mut self.0
    }
}

fn cluster(dir: &Path, tms: usize) -> Cluster {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    Cluster(ProcessCluster::start(exe, Some(&config(dir)), SECRET, &vec![2; tms]).expect("cluster"))
}

impl Cluster {
    fn add_tm(&mut self, secret: &str) {
        self.0.add_task_manager(2, secret).expect("TaskManager");
    }

    fn get(&self, path: &str) -> serde_json::Value {
        self.0.get(path).expect("GET")
    }

    fn wait_registered(&self, n: usize) {
        self.0
            .wait_registered(n, Duration::from_secs(20))
            .expect("registered");
    }

    fn submit(&self, job: &str, args: &[&str], p: usize) -> String {
        self.0.submit(job, args, p).expect("submitted")
    }

    fn wait_end(&self, job: &str, limit: Duration) -> serde_json::Value {
        self.0.wait_end(job, limit).expect("job ends")
    }
}

fn words(path: &Path) -> String {
    let mut rng = 7u64;
    let mut text = String::new();
    for _ in 0..60_000 {
        for _ in 0..6 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(&format!("w{} ", (rng >> 33) % 3000));
        }
        text.push('\n');
    }
    std::fs::write(path, &text).expect("input");
    text
}

#[test]
fn wordcount_across_two_taskmanagers_equals_the_exact_and_parallelism_1_results() {
    let dir = common::temp_dir("cluster-wc");
    let input = dir.join("words.txt");
    let text = words(&input);
    let c = cluster(&dir, 2);
    let out = dir.join("counts.txt");
    let job = c.submit(
        "wordcount",
        &[
            "--input",
            input.to_str().expect("p"),
            "--output",
            out.to_str().expect("p"),
        ],
        4,
    );
    let d = c.wait_end(&job, Duration::from_secs(60));
    assert_eq!(d["state"], "FINISHED", "{d}");
    let mut expected = std::collections::BTreeMap::<&str, u64>::new();
    for w in text.split_whitespace() {
        *expected.entry(w).or_default() += 1;
    }
    let expected: String = expected.iter().map(|(w, n)| format!("{w},{n}\n")).collect();
    let distributed = std::fs::read_to_string(&out).expect("output");
    assert_eq!(distributed, expected);
    // The keyed exchange crossed processes: its subtasks ran on both TaskManagers and
    // received serialized buffers.
    let ids = common::vertex_ids(&d);
    assert_eq!(ids.len(), 3, "source+tokenizer, keyed sum, sink: {d}");
    assert_eq!(placement(&c, &job, &ids[1]).len(), 2);
    let read_bytes = d["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| v["metrics"]["read-bytes"].as_u64().expect("read-bytes"))
        .sum::<u64>();
    assert!(read_bytes > 0, "no buffer crossed processes: {d}");

    // The same job at parallelism 1 gives the same file.
    let out1 = dir.join("counts-p1.txt");
    let job1 = c.submit(
        "wordcount",
        &[
            "--input",
            input.to_str().expect("p"),
            "--output",
            out1.to_str().expect("p"),
        ],
        1,
    );
    let d1 = c.wait_end(&job1, Duration::from_secs(60));
    assert_eq!(d1["state"], "FINISHED", "{d1}");
    assert_eq!(std::fs::read_to_string(&out1).expect("output"), distributed);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_taskmanager_with_the_wrong_secret_is_refused() {
    let dir = common::temp_dir("cluster-secret");
    let mut c = cluster(&dir, 1);
    c.add_tm("not-the-secret");
    let refused = c.task_managers.last().expect("tm");
    refused
        .wait_for("authentication", Duration::from_secs(10))
        .expect("refusal logged");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.get("/overview")["taskmanagers"], 1, "never registered");
    assert_eq!(c.get("/overview")["slots-total"], 2, "never offered slots");
    // The registered one shows its data port and a recent heartbeat (every 200 ms here).
    let tms = c.get("/taskmanagers");
    let tm = &tms["taskmanagers"][0];
    assert!(tm["dataPort"].as_i64().expect("port") > 0, "{tm}");
    let age = tm["timeSinceLastHeartbeat"].as_u64().expect("age");
    assert!(age < 1500, "last heartbeat {age} ms ago");
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_killed_taskmanager_is_declared_lost_and_its_job_fails_naming_it() {
    let dir = common::temp_dir("cluster-kill");
    let mut c = cluster(&dir, 2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    // An unbounded job over both TaskManagers.
    let job = c.submit(
        "socket-wordcount",
        &["--host", "127.0.0.1", "--port", &port],
        4,
    );
    let (_conn, _) = listener.accept().expect("the source connects");
    let end = Instant::now() + Duration::from_secs(20);
    while c.get(&format!("/jobs/{job}"))["state"] != "RUNNING" {
        assert!(Instant::now() < end, "never RUNNING");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed_at = Instant::now();
    c.task_managers[1].kill();
    let d = c.wait_end(&job, Duration::from_secs(20));
    let detected = killed_at.elapsed();
    assert_eq!(d["state"], "FAILED", "{d}");
    let failure = d["failure"].as_str().unwrap_or_default().to_string();
    assert!(
        failure.contains("TaskManager taskmanager-") && failure.contains("lost"),
        "{failure}"
    );
    // Within the heartbeat timeout (1.5 s) plus one heartbeat round and slack.
    assert!(detected < Duration::from_secs(5), "took {detected:?}");
    // The JobManager stays healthy and runs the next job on the remaining TaskManager.
    assert_eq!(c.get("/overview")["taskmanagers"], 1);
    let out = dir.join("p.txt");
    let job = c.submit(
        "partitioners",
        &["--count", "1000", "--output", out.to_str().expect("p")],
        2,
    );
    assert_eq!(
        c.wait_end(&job, Duration::from_secs(30))["state"],
        "FINISHED"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_taskmanager_bound_to_all_interfaces_works_with_an_advertised_address() {
    let dir = common::temp_dir("cluster-advertise");
    let mut c = cluster(&dir, 1);
    // Without --advertise an unspecified bind is refused with a clear message.
    c.0.add_task_manager_with(2, SECRET, &["--bind", "0.0.0.0:0"])
        .expect("started");
    c.task_managers
        .last()
        .expect("tm")
        .wait_for("needs --advertise", Duration::from_secs(10))
        .expect("refusal");
    c.task_managers.pop();
    c.0.add_task_manager_with(
        2,
        SECRET,
        &["--bind", "0.0.0.0:0", "--advertise", "127.0.0.1"],
    )
    .expect("started");
    c.wait_registered(2);
    let tms = c.get("/taskmanagers");
    for tm in tms["taskmanagers"].as_array().expect("list") {
        assert!(tm["dataPort"].as_i64().expect("port") > 0, "{tm}");
    }
    // 4 subtasks per vertex over both TaskManagers: data flows both ways between them.
    let out = dir.join("p.txt");
    let job = c.submit(
        "partitioners",
        &["--count", "5000", "--output", out.to_str().expect("p")],
        4,
    );
    let d = c.wait_end(&job, Duration::from_secs(60));
    assert_eq!(d["state"], "FINISHED", "{d}");
    assert_eq!(
        std::fs::read_to_string(&out).expect("output").trim(),
        format!("records=32 sum={}", 5000 * 5001)
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn garbage_on_the_rpc_port_does_not_crash_the_jobmanager() {
    let dir = common::temp_dir("cluster-garbage");
    let mut c = cluster(&dir, 1);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let mut rng = 99u64;
    for len in [1usize, 7, 64, 1200, 1500, 65_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                (rng >> 56) as u8
            })
            .collect();
        let _ = sock.send_to(&bytes, &c.rpc);
    }
    // A QUIC-looking long header, truncated.
    let _ = sock.send_to(&[0xc0, 0, 0, 0, 1, 8, 1, 2, 3], &c.rpc);
    // Raw bytes and a truncated request on the REST port.
    if let Ok(mut s) = TcpStream::connect(&c.rest) {
        use std::io::Write;
        let _ = s.write_all(
            b"\x00\xffGARBAGE\r\n\r\nPOST /jobs HTTP/1.1\r\nContent-Length: 999\r\n\r\n{\"jo",
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.get("/overview")["taskmanagers"], 1);
    // A new TaskManager still gets in.
    c.add_tm(SECRET);
    c.wait_registered(2);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn taskmanagers_register_again_after_the_jobmanager_restarts() {
    let dir = common::temp_dir("cluster-restart");
    let mut c = cluster(&dir, 2);
    c.restart_job_manager().expect("JobManager restarts");
    c.wait_registered(2);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// The TaskManagers a vertex's subtasks ran on.
fn placement(c: &Cluster, job: &str, vertex: &str) -> std::collections::BTreeSet<String> {
    c.0.placement(job, vertex).expect("placement")
}

#[test]
fn a_slow_sink_on_one_taskmanager_slows_the_source_on_the_other() {
    const N: u64 = 300_000;
    let dir = common::temp_dir("cluster-backpressure");
    let c = cluster(&dir, 2);
    let out = dir.join("out");
    // Two sink subtasks at 40,000 records/s each: about 3.8 s for what the source could
    // produce in a few milliseconds.
    let job = c.submit(
        "shuffle",
        &[
            "--records",
            &N.to_string(),
            "--sink-rate",
            "40000",
            "--output",
            out.to_str().expect("p"),
        ],
        2,
    );
    // 2 sources × 2 sinks over rebalance: 4 channels into 2 input gates.
    let config = rill::config::RuntimeConfig {
        buffer_size: BUFFER_SIZE,
        ..rill::config::RuntimeConfig::default()
    };
    let bound = config.max_in_flight_records(4, 2) as u64;
    // Bytes serialized and not yet received are on the wire, sent only against credit: at
    // most the credits (exclusive per channel, floating per gate) in buffers, each at most
    // `BUFFER_SIZE` pairs of at most 19 bytes (MessagePack: array header and two u64s) and
    // its frame header.
    let buffers = u64::from(4 * config.exclusive_credits + 2 * config.floating_credits);
    let bytes_bound = buffers * (BUFFER_SIZE as u64 * 19 + 64);
    let mut max_bytes_in_flight = 0u64;
    let (mut samples, mut max_in_flight, mut ahead_checked) = (0, 0u64, 0);
    let end = Instant::now() + Duration::from_secs(60);
    let last = loop {
        let d = c.get(&format!("/jobs/{job}"));
        if matches!(
            d["state"].as_str(),
            Some("FINISHED" | "FAILED" | "CANCELED")
        ) {
            break d;
        }
        assert!(Instant::now() < end, "job still {} after 60 s", d["state"]);
        if d["state"] == "RUNNING" {
            let emitted = d["vertices"][0]["metrics"]["write-records"]
                .as_u64()
                .expect("write-records");
            let consumed = d["vertices"][1]["metrics"]["read-records"]
                .as_u64()
                .expect("read-records");
            max_in_flight = max_in_flight.max(emitted.saturating_sub(consumed));
            let sent = d["vertices"][0]["metrics"]["write-bytes"]
                .as_u64()
                .unwrap_or(0);
            let received = d["vertices"][1]["metrics"]["read-bytes"]
                .as_u64()
                .unwrap_or(0);
            max_bytes_in_flight = max_bytes_in_flight.max(sent.saturating_sub(received));
            samples += 1;
            if consumed > 0 && consumed < N / 2 {
                // The source is held back: it has not run ahead of the slow sink.
                assert!(emitted < N, "source done while the sink is at {consumed}");
                ahead_checked += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(last["state"], "FINISHED", "{last}");
    assert!(samples >= 10, "only {samples} samples while running");
    assert!(
        ahead_checked >= 3,
        "only {ahead_checked} samples in the first half"
    );
    assert!(
        max_in_flight <= bound,
        "{max_in_flight} records in flight, bound {bound}"
    );
    assert!(
        max_bytes_in_flight <= bytes_bound,
        "{max_bytes_in_flight} bytes in flight, bound {bytes_bound} ({buffers} buffers)"
    );
    assert!(
        max_in_flight >= 2 * config.buffer_size as u64,
        "the sink never held the source back ({max_in_flight} in flight at most)"
    );
    // Every record crossed: the sources ran on one TaskManager, the sinks on the other.
    let ids = common::vertex_ids(&last);
    let (sources, sinks) = (placement(&c, &job, &ids[0]), placement(&c, &job, &ids[1]));
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sinks.len(), 1, "{sinks:?}");
    assert!(sources.is_disjoint(&sinks), "{sources:?} {sinks:?}");
    let (src, snk) = (
        &last["vertices"][0]["metrics"],
        &last["vertices"][1]["metrics"],
    );
    assert_eq!(src["write-records"], N);
    assert_eq!(snk["read-records"], N);
    assert_eq!(src["write-bytes"], snk["read-bytes"]);
    // MessagePack takes at least 3 bytes for a pair (array header and two integers).
    assert!(
        src["write-bytes"].as_u64().expect("bytes") >= N * 3,
        "{src}"
    );
    // Nothing lost or duplicated on the way.
    let (mut records, mut sum) = (0u64, 0u64);
    for i in 1..=2 {
        let line = std::fs::read_to_string(out.join(i.to_string())).expect("sink output");
        let line = line.trim();
        let field = |k: &str| -> i64 {
            line.split(' ')
                .find_map(|f| f.strip_prefix(k))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {k} in {line}"))
        };
        records += field("records=") as u64;
        sum += field("sum=") as u64;
        // The sources' end-of-input watermark crossed QUIC in-band, after every record.
        assert_eq!(field("watermark="), i64::MAX, "{line}");
        assert_eq!(field("after="), field("records="), "{line}");
    }
    assert_eq!((records, sum), (N, N * (N + 1) / 2));
    eprintln!("backpressure across processes: at most {max_in_flight} of {N} records in flight (bound {bound}), at most {max_bytes_in_flight} bytes (bound {bytes_bound}), {samples} samples");
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// Records keep their timestamps, and watermarks flow, across TaskManager processes: the
/// tumbling-window job at parallelism 4 over two TaskManagers writes Flink's oracle output.
#[test]
fn event_time_windows_across_two_taskmanagers_match_flink() {
    let dir = common::temp_dir("cluster-windows");
    let input = dir.join("events.csv");
    rill::bench::events::EventSpec::EVENTS
        .write_csv(&input, 1_000_000)
        .expect("input");
    let c = cluster(&dir, 2);
    let out = dir.join("windows.csv");
    let job = c.submit(
        "windowed-count",
        &[
            "--input",
            input.to_str().expect("p"),
            "--output",
            out.to_str().expect("p"),
            "--kind",
            "tumble",
        ],
        4,
    );
    let d = c.wait_end(&job, Duration::from_secs(120));
    assert_eq!(d["state"], "FINISHED", "{d}");
    let ids = common::vertex_ids(&d);
    assert_eq!(
        placement(&c, &job, &ids[1]).len(),
        2,
        "windows on both: {d}"
    );
    let oracle = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oracles/tumble_1m.csv.gz"))
        .output()
        .expect("gzip");
    let got = std::fs::read(&out).expect("output");
    assert!(
        got == oracle.stdout,
        "the distributed result differs from Flink's"
    );
    std::fs::remove_dir_all(&dir).ok();
}
