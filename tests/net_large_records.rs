//! Large records across processes: a JobManager and two TaskManagers as `rill` processes on
//! loopback, the `shuffle` job's `large` payload made on one TaskManager and checked byte for
//! byte on the other. Records of 100 KiB and of 10 MiB arrive whole (buffers are cut by bytes,
//! so a buffer never holds thousands of them); a record over the data frame limit fails the
//! job once, with a message naming the operator and the size, and no restart.

mod common;

use std::path::Path;
use std::time::Duration;

use rill::graph::job_graph::SubmitOptions;
use rill::graph::RestartStrategy;
use rill::launch::ProcessCluster;

const SECRET: &str = "test-secret-large-9c1e";

/// A JobManager and two TaskManagers of one slot each: at parallelism 1 the source (with the
/// map that makes the records) runs on one TaskManager and the sink on the other.
fn cluster() -> ProcessCluster {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    ProcessCluster::start(exe, None, SECRET, &[1, 1]).expect("cluster")
}

/// Runs `shuffle --payload large` with `n` records of `bytes` bytes across the two
/// TaskManagers and checks that every record arrived exactly as sent.
fn large_records_cross_processes(name: &str, n: u64, bytes: usize) {
    let dir = common::temp_dir(name);
    let c = cluster();
    let out = dir.join("out");
    let job = c
        .submit(
            "shuffle",
            &[
                "--records",
                &n.to_string(),
                "--payload",
                "large",
                "--record-bytes",
                &bytes.to_string(),
                "--output",
                out.to_str().expect("path"),
            ],
            1,
        )
        .expect("submitted");
    let d = c
        .wait_end(&job, Duration::from_secs(180))
        .expect("job ends");
    assert_eq!(d["state"], "FINISHED", "{d}");
    let ids = common::vertex_ids(&d);
    let sources = c.placement(&job, &ids[0]).expect("placement");
    let sinks = c.placement(&job, &ids[1]).expect("placement");
    assert!(sources.is_disjoint(&sinks), "{sources:?} {sinks:?}");
    // Every byte crossed the network.
    let written = d["vertices"][0]["metrics"]["write-bytes"]
        .as_u64()
        .expect("write-bytes");
    assert!(written >= n * bytes as u64, "{written} bytes written");
    // The sink counts a record that is not byte for byte what was sent as 0.
    let line = std::fs::read_to_string(out.join("1")).expect("sink output");
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    assert_eq!(
        (field("records="), field("sum=")),
        (n, n * (n + 1) / 2),
        "{line}"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn records_of_100_kib_cross_processes_whole() {
    // 100 MiB in all: under a record-counted buffer, one frame over the limit.
    large_records_cross_processes("large-100k", 1000, 100 * 1024);
}

#[test]
fn records_of_10_mib_cross_processes_whole() {
    // Under a record-counted buffer, one poll of 12 records and a 120 MiB frame.
    large_records_cross_processes("large-10m", 12, 10 << 20);
}

#[test]
fn a_record_over_the_frame_limit_fails_the_job_once_naming_operator_and_size() {
    const BYTES: usize = 70_000_000;
    const { assert!(BYTES > rill::net::remote::DATA_FRAME_LIMIT) };
    let c = cluster();
    // A strategy that would restart many times: the failure must not use it.
    let options = SubmitOptions {
        restart_strategy: Some(RestartStrategy::fixed_delay(10, Duration::from_millis(100))),
        ..SubmitOptions::default()
    };
    let job = c
        .submit_with(
            "shuffle",
            &[
                "--records",
                "3",
                "--payload",
                "large",
                "--record-bytes",
                &BYTES.to_string(),
            ],
            1,
            options,
        )
        .expect("submitted");
    let d = c
        .wait_end(&job, Duration::from_secs(120))
        .expect("job ends");
    assert_eq!(d["state"], "FAILED", "{d}");
    let failure = d["failure"].as_str().expect("a failure cause");
    assert!(failure.contains("Large records"), "{failure}");
    let size: u64 = failure
        .split("a record of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record size in {failure}"));
    assert!(
        (BYTES as u64..BYTES as u64 + 64).contains(&size),
        "{failure}"
    );
    assert!(
        failure.contains(&rill::net::remote::DATA_FRAME_LIMIT.to_string()),
        "{failure}"
    );
    // Once: no restart, one failure in the history (others only as its concurrent ones).
    // A restart would take 100 ms; the job stays as it ended.
    std::thread::sleep(Duration::from_millis(500));
    let d = c.get(&format!("/jobs/{job}")).expect("job");
    assert_eq!(d["state"], "FAILED", "{d}");
    assert_eq!(
        d["num-restarts"],
        0,
        "{d}\n{}",
        c.get(&format!("/jobs/{job}/exceptions"))
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    let ex = c
        .get(&format!("/jobs/{job}/exceptions"))
        .expect("exceptions");
    let entries = ex["exceptionHistory"]["entries"]
        .as_array()
        .expect("entries");
    assert_eq!(entries.len(), 1, "{ex}");
    assert_eq!(entries[0]["jobStatus"], "FAILING", "{ex}");
    eprintln!("the job failed once: {failure}");
    assert!(
        entries[0]["stacktrace"]
            .as_str()
            .is_some_and(|s| s.contains("Large records") && s.contains("a record of")),
        "{ex}"
    );
}
