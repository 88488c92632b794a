//! Issue 22: JobManager high availability on etcd, with real processes — a real etcd, two
//! JobManagers and two TaskManagers started with `--ha etcd://… --cluster-id NAME`, a
//! checkpointed windowed job whose two-phase-commit sink's committed output must equal the
//! failure-free run's byte for byte after the leader is killed (SIGKILL) or paused (SIGSTOP);
//! and etcd lost while running, etcd unreachable at start, a leader shut down on purpose.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::ha::HaCluster;
use common::s3::Storage;
use rill::rest::model::SubmitJobRequest;

const FAST_FAILURE: &str =
    "[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1500\nrpc_timeout_ms = 2000\n";
/// The input's events; the sources read at most [`RATE`] a second each, so that the job runs
/// across the takeovers.
const EVENTS: u64 = 3_000_000;
const RATE: &str = "100000";

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rill"))
}

struct Job {
    input: PathBuf,
    /// Where the two-phase-commit sink commits: a local directory or an S3 prefix.
    out: PathBuf,
}

impl Job {
    fn new(dir: &Path, out: PathBuf) -> Self {
        let input = dir.join("events.csv");
        rill::bench::events::EventSpec::EVENTS
            .write_csv(&input, EVENTS)
            .expect("input");
        Self { input, out }
    }

    fn request(&self, out: &Path, sink: &str, checkpoints: Option<&Path>) -> SubmitJobRequest {
        let mut args: Vec<String> = [
            "--input",
            self.input.to_str().expect("utf-8"),
            "--output",
            out.to_str().expect("utf-8"),
            "--kind",
            "tumble",
            "--sink",
            sink,
        ]
        .map(String::from)
        .to_vec();
        let mut options = rill::graph::job_graph::SubmitOptions::default();
        if let Some(dir) = checkpoints {
            args.extend(["--rate".to_string(), RATE.to_string()]);
            options.checkpoint_interval_ms = Some(200);
            options.checkpoint_dir = Some(dir.to_path_buf());
        }
        SubmitJobRequest {
            job: "windowed-count".into(),
            args,
            parallelism: Some(2),
            options,
        }
    }

    /// Runs the failure-free reference on the current leader and compares the committed
    /// output with it.
    fn assert_exactly_once(&self, c: &HaCluster) {
        let reference = c.dir.join("reference.csv");
        let job = c
            .client(c.wait_leader(Duration::from_secs(20)))
            .submit(&self.request(&reference, "sorted", None))
            .expect("reference submitted")
            .jobid;
        assert_eq!(
            c.wait_end(&job, Duration::from_secs(60))["state"],
            "FINISHED"
        );
        let want: Vec<String> = std::fs::read_to_string(&reference)
            .expect("reference")
            .lines()
            .map(str::to_string)
            .collect();
        let got = common::committed_lines(&self.out);
        assert_eq!(got.len(), want.len(), "lines missing or committed twice");
        assert!(
            got == want,
            "the committed output differs from the failure-free run's"
        );
    }
}

fn completed_checkpoints(c: &HaCluster, i: usize, job: &str) -> u64 {
    c.client(i)
        .get_json(&format!("/jobs/{job}/checkpoints"))
        .ok()
        .and_then(|v| v["counts"]["completed"].as_u64())
        .unwrap_or(0)
}

/// Waits until JobManager `i` completed a checkpoint of `job` (which must still run).
fn wait_for_a_checkpoint(c: &HaCluster, i: usize, job: &str) {
    let start = Instant::now();
    while completed_checkpoints(c, i, job) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no checkpoint in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a JobManager other than `old` leads and runs every subtask of `job`; returns
/// the new leader and how long it took.
fn wait_takeover(c: &HaCluster, old: usize, job: &str, since: Instant) -> (usize, Duration) {
    loop {
        if let Some(l) = c.leader().filter(|&l| l != old) {
            if c.all_running(l, job) {
                return (l, since.elapsed());
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "no JobManager ran {job} again within 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_standby_takes_over_twice_and_the_committed_output_is_exactly_once() {
    let dir = common::temp_dir("ha-takeover");
    // Checkpoints and the committed output both under prefixes of an S3 API server.
    let s3 = common::s3::shared();
    let job = Job::new(&dir, Storage::S3.location("ha-output"));
    let settings = format!("{FAST_FAILURE}{}", s3.settings());
    let mut c = HaCluster::start(exe(), &dir, &settings, 2, &[2, 2]);
    let checkpoints = Storage::S3.location("ha-takeover");

    // Submitted through the standby, which forwards it to the leader.
    let leader = c.wait_leader(Duration::from_secs(10));
    let standby = 1 - leader;
    let id = c
        .client(standby)
        .submit(&job.request(&job.out, "2pc", Some(&checkpoints)))
        .expect("submitted through the standby")
        .jobid;
    let overview = c.get(standby, "/jobs/overview");
    assert!(
        overview.to_string().contains(&id),
        "the standby's REST API answers for the leader: {overview}"
    );

    let mut leader = leader;
    let mut takeovers = Vec::new();
    for round in 0..2 {
        wait_for_a_checkpoint(&c, leader, &id);
        let killed = Instant::now();
        c.kill_job_manager(leader);
        if round == 1 {
            // The second time a TaskManager dies with the leader.
            c.task_managers[0].kill();
            c.add_task_manager(2);
        }
        let (next, took) = wait_takeover(&c, leader, &id, killed);
        eprintln!("takeover {}: JobManager {leader} killed, JobManager {next} runs the job again after {took:?}", round + 1);
        takeovers.push(took);
        // The killed JobManager comes back as a standby.
        c.add_job_manager();
        leader = next;
    }
    let d = c.wait_end(&id, Duration::from_secs(120));
    assert_eq!(d["state"], "FINISHED", "{d}");
    job.assert_exactly_once(&c);
    eprintln!("takeover times (kill → every subtask RUNNING): {takeovers:?}");
    Storage::S3.clean(&checkpoints);
    Storage::S3.clean(&job.out);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_paused_leader_is_fenced_and_exits_when_it_resumes() {
    let dir = common::temp_dir("ha-fencing");
    let job = Job::new(&dir, dir.join("out"));
    let mut c = HaCluster::start(exe(), &dir, FAST_FAILURE, 2, &[2, 2]);
    let checkpoints = dir.join("checkpoints");
    let old = c.wait_leader(Duration::from_secs(10));
    let id = c
        .client(old)
        .submit(&job.request(&job.out, "2pc", Some(&checkpoints)))
        .expect("submitted")
        .jobid;
    wait_for_a_checkpoint(&c, old, &id);

    let paused_at = Instant::now();
    let log = |c: &HaCluster| -> String {
        let mut all = String::new();
        for e in std::fs::read_dir(&c.dir).expect("dir").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name == format!("jobmanager-{}.log", old + 1) {
                all = std::fs::read_to_string(e.path()).expect("log");
            }
        }
        all
    };
    let old_process = &c.job_managers[old].as_ref().expect("running").process;
    old_process.signal("STOP").expect("SIGSTOP");
    let (new, took) = wait_takeover(&c, old, &id, paused_at);
    eprintln!("the leader paused; JobManager {new} runs the job after {took:?}");
    // Let the new leader complete checkpoints of its own before the old one wakes up.
    let before = completed_checkpoints(&c, new, &id);
    while completed_checkpoints(&c, new, &id) < before + 2 {
        assert!(
            paused_at.elapsed() < Duration::from_secs(60),
            "no checkpoints after the takeover"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let logged_before = log(&c).len();

    let status = c.wait_job_manager_exit(
        old,
        Some("CONT"),
        Duration::from_secs(15),
        "the resumed JobManager exits",
    );
    assert_eq!(status.code(), Some(rill::cluster::EXIT_LOST_LEADERSHIP));
    let after = log(&c)[logged_before..].to_string();
    assert!(after.contains("lost the lead"), "{after}");
    for acted in ["checkpoint completed", "TaskManager registered"] {
        assert!(
            !after.contains(acted),
            "the fenced JobManager acted ({acted}):\n{after}"
        );
    }

    let d = c.wait_end(&id, Duration::from_secs(120));
    assert_eq!(d["state"], "FINISHED", "{d}");
    job.assert_exactly_once(&c);
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unreachable_etcd_is_a_start_error_naming_its_endpoints() {
    let port = rill::launch::free_tcp_port().expect("a free port");
    let ha = format!("etcd://127.0.0.1:{port},127.0.0.2:1");
    for role in [
        vec![
            "jobmanager",
            "--rest",
            "127.0.0.1:0",
            "--bind",
            "127.0.0.1:0",
        ],
        vec!["taskmanager"],
    ] {
        let out = std::process::Command::new(exe())
            .args(&role)
            .args(["--ha", &ha, "--cluster-id", "x", "--secret", "s"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{role:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "etcd is unavailable at http://127.0.0.1:{port},http://127.0.0.2:1"
            )),
            "{role:?}: {stderr}"
        );
    }
    let out = std::process::Command::new(exe())
        .args(["jobmanager", "--ha", "etcd://127.0.0.1:1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cluster-id"));
}

#[test]
fn a_leader_that_loses_etcd_steps_down_and_the_standby_says_no_one_leads() {
    let dir = common::temp_dir("ha-etcd-lost");
    let mut c = HaCluster::start(exe(), &dir, FAST_FAILURE, 2, &[]);
    let leader = c.wait_leader(Duration::from_secs(10));
    let standby = 1 - leader;
    let redirect = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .get(&format!(
            "http://{}/overview",
            c.job_managers[standby].as_ref().expect("running").rest
        ))
        .call()
        .expect("answers");
    assert_eq!(redirect.status(), 307);
    let leader_rest = &c.job_managers[leader].as_ref().expect("running").rest;
    assert_eq!(
        redirect.header("location"),
        Some(format!("http://{leader_rest}/overview").as_str())
    );

    let lost = Instant::now();
    c.etcd.stop();
    let status = c.wait_job_manager_exit(
        leader,
        None,
        Duration::from_secs(20),
        "the leader steps down",
    );
    eprintln!(
        "the leader stepped down {:?} after etcd was lost",
        lost.elapsed()
    );
    assert_eq!(status.code(), Some(rill::cluster::EXIT_LOST_LEADERSHIP));

    let rest = &c.job_managers[standby].as_ref().expect("running").rest;
    let start = Instant::now();
    loop {
        match ureq::get(&format!("http://{rest}/overview")).call() {
            Err(ureq::Error::Status(503, r)) => {
                let body = r.into_string().expect("body");
                assert!(body.contains("no JobManager leads cluster"), "{body}");
                break;
            }
            other => assert!(
                start.elapsed() < Duration::from_secs(20),
                "the standby still answers {:?}",
                other.map(|r| r.status())
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// A leader stopped on purpose (SIGINT, Ctrl-C) gives the lead up: with a lease of 30 s the
/// standby leads long before the lease could have expired, and the stopped one exits 0.
#[test]
fn a_leader_shut_down_hands_over_without_waiting_for_its_lease() {
    let dir = common::temp_dir("ha-resign");
    let settings = format!("{FAST_FAILURE}[ha]\nlease_ttl_s = 30\n");
    let mut c = HaCluster::start(exe(), &dir, &settings, 2, &[]);
    let leader = c.wait_leader(Duration::from_secs(10));
    let stopped = Instant::now();
    let status = c.wait_job_manager_exit(
        leader,
        Some("INT"),
        Duration::from_secs(10),
        "the leader shuts down",
    );
    assert!(status.success(), "{status}");
    let next = c.wait_leader(Duration::from_secs(10));
    assert_ne!(next, leader);
    eprintln!(
        "the standby leads {:?} after the leader was told to stop (lease: 30 s)",
        stopped.elapsed()
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// The leader key carries the addresses the other nodes dial: `--advertise IP` with the
/// bound ports. An unspecified bind address without `--advertise` is refused before
/// anything binds.
#[test]
fn a_jobmanager_advertises_the_address_the_others_reach_it_at() {
    let etcd = common::etcd::EtcdServer::start();
    let ha = format!("etcd://{}", etcd.endpoint());
    let out = std::process::Command::new(exe())
        .args(["jobmanager", "--bind", "0.0.0.0:1", "--rest", "127.0.0.1:0"])
        .args(["--ha", &ha, "--cluster-id", "adv", "--secret", "s"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("give --advertise IP"), "{stderr}");

    let port = rill::launch::free_udp_port().expect("port");
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["jobmanager", "--bind", &bind, "--rest", "127.0.0.1:0"];
    args.extend([
        "--advertise",
        "127.0.0.2",
        "--ha",
        &ha,
        "--cluster-id",
        "adv",
    ]);
    let jm = rill::launch::ChildProcess::start(exe(), &args, &[("RILL_CLUSTER_SECRET", "s")])
        .expect("starts");
    let settings = rill::ha::HaSettings::parse(&ha, Some("adv"))
        .expect("valid")
        .expect("etcd");
    let retrieval = rill::ha::LeaderRetrieval::new(settings.connect().expect("etcd"), &settings);
    let start = Instant::now();
    let (info, _) = loop {
        if let Some(l) = retrieval.leader().expect("etcd answers") {
            break l;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no leader");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(info.rpc.to_string(), format!("127.0.0.2:{port}"));
    assert!(info.rest.starts_with("http://127.0.0.2:"), "{info:?}");
    drop(jm);
}
