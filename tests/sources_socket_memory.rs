//! The socket source's memory under a hostile or fast peer: a JobManager and a TaskManager as
//! `rill` processes, `socket-window-wordcount` reading from a peer in this test, and the
//! TaskManager's resident memory (`VmRSS` in `/proc/<pid>/status`) sampled throughout.
//!
//! - A peer that never sends a line break: with `--on-long-line skip` the source drops the
//!   line as it comes, so hundreds of MiB pass through a TaskManager whose memory stays
//!   within a bound, and the job still counts the words of the lines after it; with the
//!   default policy the job fails, naming the source and the line's length.
//! - A peer that sends 1-byte lines as fast as it can: the source reads only when it has
//!   taken every buffered line, so the peer is slowed by TCP, not buffered in memory.

use std::io::{ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-socket-3d7b";

/// The most the TaskManager's resident memory may grow over its level before the peer sent
/// anything. The read buffer is bounded at about 1 MiB; the rest is slack for the allocator
/// and the job's in-flight buffers.
const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;

/// A JobManager and one TaskManager of one slot.
fn cluster() -> ProcessCluster {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    ProcessCluster::start(exe, None, SECRET, &[1]).expect("cluster")
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

/// Submits `socket-window-wordcount` reading from a fresh listener, with `extra` arguments;
/// returns the job's id and the connection the source opened.
fn submit_socket_job(c: &ProcessCluster, extra: &[&str]) -> (String, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut args = vec!["--host", "127.0.0.1", "--port", &port];
    args.extend(extra);
    let job = c
        .submit("socket-window-wordcount", &args, 1)
        .expect("submitted");
    listener.set_nonblocking(true).expect("nonblocking");
    let end = Instant::now() + Duration::from_secs(30);
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("the source did not connect: {e}"),
        }
    };
    conn.set_nonblocking(false).expect("blocking");
    conn.set_write_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    (job, conn)
}

/// Writes `chunk` over and over to `conn` until `total` bytes are written, `limit` passes or
/// the connection closes, while sampling `pid`'s resident memory; returns the bytes written
/// and the largest sample.
fn flood(conn: &mut TcpStream, chunk: &[u8], total: u64, limit: Duration, pid: u32) -> (u64, u64) {
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(Ordering::Acquire) {
                most = most.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            most.max(rss_kib(pid))
        })
    };
    let (end, mut written) = (Instant::now() + limit, 0u64);
    while written < total && Instant::now() < end {
        match conn.write(chunk) {
            Ok(n) => written += n as u64,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // The source closed the connection (its job failed): the caller checks.
            Err(_) => break,
        }
    }
    done.store(true, Ordering::Release);
    (written, sampler.join().expect("sampler"))
}

#[test]
fn a_peer_that_never_sends_a_line_break_is_skipped_in_bounded_memory() {
    const TOTAL: u64 = 512 << 20;
    let c = cluster();
    let (job, mut conn) = submit_socket_job(&c, &["--on-long-line", "skip"]);
    let tm = c.task_managers[0].id();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(tm);
    let (written, most) = flood(
        &mut conn,
        &[b'x'; 64 * 1024],
        TOTAL,
        Duration::from_secs(120),
        tm,
    );
    eprintln!(
        "no line break: {} MiB sent, TaskManager RSS {} MiB before, {} MiB at most",
        written >> 20,
        before >> 10,
        most >> 10
    );
    assert_eq!(written, TOTAL, "the source stopped reading");
    assert!(
        most <= before + RSS_GROWTH_BOUND_KIB,
        "RSS grew from {before} KiB to {most} KiB"
    );
    // The long line ends; the lines after it are counted, and the skipped line was logged.
    conn.write_all(b"\nhello hello world\n").expect("send");
    c.task_managers[0]
        .wait_for(
            "skipped lines longer than the maximum",
            Duration::from_secs(10),
        )
        .expect("the skipped line is logged");
    c.task_managers[0]
        .wait_for("(\"hello\", 2)", Duration::from_secs(10))
        .expect("the lines after the long one are counted");
    let d = c.get(&format!("/jobs/{job}")).expect("job");
    assert_eq!(d["state"], "RUNNING", "{d}");
}

#[test]
fn a_line_over_the_maximum_fails_the_job_naming_the_source_and_length() {
    let c = cluster();
    let (job, mut conn) = submit_socket_job(&c, &["--max-line-bytes", "100000"]);
    let tm = c.task_managers[0].id();
    let (written, _) = flood(
        &mut conn,
        &[b'x'; 64 * 1024],
        8 << 20,
        Duration::from_secs(10),
        tm,
    );
    assert!(written > 100_000, "{written}");
    let d = c
        .wait_end(&job, Duration::from_secs(60))
        .expect("the job ends");
    assert_eq!(d["state"], "FAILED", "{d}");
    let failure = d["failure"].as_str().expect("a failure cause");
    assert!(
        failure.contains("Source: Socket Stream") && failure.contains("more than 100000 bytes"),
        "{failure}"
    );
}

#[test]
fn a_peer_sending_one_byte_lines_at_full_speed_is_slowed_not_buffered() {
    let c = cluster();
    let (job, mut conn) = submit_socket_job(&c, &[]);
    let tm = c.task_managers[0].id();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(tm);
    let lines = b"a\n".repeat(32 * 1024);
    let (written, most) = flood(&mut conn, &lines, u64::MAX, Duration::from_secs(10), tm);
    eprintln!(
        "1-byte lines: {} MiB sent in 10 s, TaskManager RSS {} MiB before, {} MiB at most",
        written >> 20,
        before >> 10,
        most >> 10
    );
    // More than the sockets' buffers hold: the job took lines all along.
    assert!(written >= 16 << 20, "only {written} bytes were taken");
    assert!(
        most <= before + RSS_GROWTH_BOUND_KIB,
        "RSS grew from {before} KiB to {most} KiB"
    );
    c.task_managers[0]
        .wait_for("(\"a\", ", Duration::from_secs(10))
        .expect("the lines are counted");
    let d = c.get(&format!("/jobs/{job}")).expect("job");
    assert_eq!(d["state"], "RUNNING", "{d}");
}
