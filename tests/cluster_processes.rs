//! A real cluster: a JobManager and TaskManagers as separate `rill` processes on loopback,
//! talking over QUIC, with jobs submitted over REST. Every process is killed when its guard
//! drops, so a failing test leaves nothing behind.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SECRET: &str = "test-secret-5f2a";

/// A child process killed (SIGKILL) on drop; its stdout lines arrive on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(args: &[&str], secret: &str) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rill"))
            .args(args)
            .env("RILL_CLUSTER_SECRET", secret)
            .env("RILL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rill starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Proc { child, lines }
    }

    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?} within {limit:?}"),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port")
        .port()
}

/// A settings file with fast heartbeats.
fn config(dir: &Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        "[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1500\nrpc_timeout_ms = 2000\n",
    )
    .expect("config");
    p
}

struct Cluster {
    jm: Proc,
    tms: Vec<Proc>,
    rpc: String,
    rest: String,
    config: PathBuf,
}

fn cluster(dir: &Path, tms: usize) -> Cluster {
    let config = config(dir);
    let rpc = format!("127.0.0.1:{}", free_udp_port());
    let cfg = config.to_str().expect("utf-8").to_string();
    let jm = Proc::start(
        &[
            "jobmanager",
            "--bind",
            &rpc,
            "--rest",
            "127.0.0.1:0",
            "--config",
            &cfg,
        ],
        SECRET,
    );
    let line = jm.wait_for("REST API listening on http://", Duration::from_secs(20));
    let rest = line
        .split("http://")
        .nth(1)
        .expect("url")
        .trim()
        .to_string();
    let mut c = Cluster {
        jm,
        tms: Vec::new(),
        rpc,
        rest,
        config,
    };
    for _ in 0..tms {
        c.add_tm(SECRET);
    }
    c.wait_registered(tms);
    c
}

impl Cluster {
    fn add_tm(&mut self, secret: &str) {
        let cfg = self.config.to_str().expect("utf-8").to_string();
        self.tms.push(Proc::start(
            &[
                "taskmanager",
                "--jobmanager",
                &self.rpc,
                "--slots",
                "2",
                "--config",
                &cfg,
            ],
            secret,
        ));
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let body = ureq::get(&format!("http://{}{path}", self.rest))
            .timeout(Duration::from_secs(5))
            .call()
            .expect("GET")
            .into_string()
            .expect("body");
        serde_json::from_str(&body).expect("JSON")
    }

    fn wait_registered(&self, n: usize) {
        let end = Instant::now() + Duration::from_secs(20);
        while self.get("/overview")["taskmanagers"] != n {
            assert!(Instant::now() < end, "{n} TaskManagers never registered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn submit(&self, job: &str, args: &[&str], p: usize) -> String {
        let body = serde_json::json!({"job": job, "args": args, "parallelism": p});
        let r: serde_json::Value = ureq::post(&format!("http://{}/jobs", self.rest))
            .send_json(body)
            .expect("POST")
            .into_json()
            .expect("JSON");
        r["jobid"].as_str().expect("jobid").to_string()
    }

    fn wait_end(&self, job: &str, limit: Duration) -> serde_json::Value {
        let end = Instant::now() + limit;
        loop {
            let d = self.get(&format!("/jobs/{job}"));
            if matches!(
                d["state"].as_str(),
                Some("FINISHED" | "FAILED" | "CANCELED")
            ) {
                return d;
            }
            assert!(
                Instant::now() < end,
                "job {job} still {} after {limit:?}",
                d["state"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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
fn wordcount_across_two_taskmanagers_equals_the_local_result() {
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
    assert_eq!(std::fs::read_to_string(&out).expect("output"), expected);
    // Both TaskManagers ran subtasks: 4 slots were needed and each has 2.
    assert_eq!(c.get("/overview")["slots-total"], 4);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_taskmanager_with_the_wrong_secret_is_refused() {
    let dir = common::temp_dir("cluster-secret");
    let mut c = cluster(&dir, 1);
    c.add_tm("not-the-secret");
    let refused = c.tms.last().expect("tm");
    refused.wait_for("authentication", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.get("/overview")["taskmanagers"], 1, "never registered");
    assert_eq!(c.get("/overview")["slots-total"], 2, "never offered slots");
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
    c.tms[1].kill();
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
    c.jm.kill();
    let cfg = c.config.to_str().expect("utf-8").to_string();
    c.jm = Proc::start(
        &[
            "jobmanager",
            "--bind",
            &c.rpc,
            "--rest",
            "127.0.0.1:0",
            "--config",
            &cfg,
        ],
        SECRET,
    );
    let line =
        c.jm.wait_for("REST API listening on http://", Duration::from_secs(20));
    c.rest = line
        .split("http://")
        .nth(1)
        .expect("url")
        .trim()
        .to_string();
    c.wait_registered(2);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}
