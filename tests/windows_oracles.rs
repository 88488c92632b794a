//! Issue 4's acceptance against Flink: the bundled `windowed-count` job must write, byte for
//! byte, what Flink 2.3 wrote for tumbling (1 s), sliding (10 s / 2 s) and session (200 ms gap)
//! windows over the oracle inputs, at parallelism 1, 2 and 4. The oracle outputs are copied
//! from `shared/oracles/` into `tests/data/oracles/`; the inputs are regenerated here by the
//! same formula as the oracle's generator.

mod common;

use std::time::Duration;

use rill::bench::events::EventSpec;
use rill::graph::JobStatus;

fn check(kind: &str, spec: EventSpec, rows: usize) {
    let dir = common::temp_dir(&format!("window-{kind}"));
    let input = dir.join("events.csv");
    spec.write_csv(&input, 1_000_000).expect("input written");
    let expected = common::oracle(kind);
    assert_eq!(expected.lines().count(), rows, "the oracle's row count");
    for p in [1, 2, 4] {
        let output = dir.join(format!("out-{p}.csv"));
        let args = [
            "--input",
            input.to_str().expect("utf8"),
            "--output",
            output.to_str().expect("utf8"),
            "--kind",
            kind,
        ];
        let result = common::run_registered(
            common::cluster(2, 4),
            Duration::from_secs(120),
            "windowed-count",
            &args,
            p,
        );
        assert_eq!(
            result.status,
            JobStatus::Finished,
            "{kind} p={p}: {:?}",
            result.failure
        );
        let got = std::fs::read_to_string(&output).expect("output written");
        assert!(
            got == expected,
            "{kind} at parallelism {p}: {} lines, the oracle has {}; first difference at line {:?}",
            got.lines().count(),
            rows,
            got.lines().zip(expected.lines()).position(|(a, b)| a != b)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tumbling_windows_match_flink() {
    check("tumble", EventSpec::EVENTS, 101_100);
}

#[test]
fn sliding_windows_match_flink() {
    check("slide", EventSpec::EVENTS, 51_004);
}

#[test]
fn session_windows_match_flink() {
    check("session", EventSpec::SESSIONS, 50_500);
}
