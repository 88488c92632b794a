//! Issue 20's acceptance against Flink: the Flink SQL of `shared/oracles/README.md` (filter,
//! tumble, hop, session over the oracle event files), run by `rill sql --local -f`, writes what
//! Flink 2.3 wrote, at parallelism 1, 2 and 4 (after sorting, with window timestamps turned
//! into epoch milliseconds as the oracle files were). A word count by `GROUP BY` prints a
//! changelog whose final state is the exact counts, computed here independently.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::cli::{finish, path, rill_command, Killed};
use rill::bench::events::EventSpec;

const EVENTS_TABLE: &str = "CREATE TABLE events (
  ts_millis BIGINT, `key` STRING, `value` BIGINT,
  rt AS TO_TIMESTAMP_LTZ(ts_millis, 3),
  WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'csv');";

const WINDOW_SINK: &str = "CREATE TABLE sink (`key` STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), cnt BIGINT, total BIGINT)
WITH ('connector' = 'filesystem', 'path' = '{output}', 'format' = 'csv');";

/// Runs `script` with `rill sql --local -p p -f`, asserting it exits 0.
fn run_sql(dir: &Path, name: &str, script: &str, p: usize) -> common::cli::Outcome {
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, script).expect("script written");
    let p = p.to_string();
    let args = [
        "sql",
        "--local",
        "--taskmanagers",
        "2",
        "-p",
        &p,
        "-f",
        path(&file),
    ];
    let child = Killed(rill_command(&args, &[]).spawn().expect("rill starts"));
    let out = finish(
        child,
        Duration::from_secs(240),
        &format!("rill sql {name} p={p}"),
    );
    assert_eq!(
        out.code,
        Some(0),
        "rill sql {name} p={p}\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    out
}

fn check(kind: &str, spec: EventSpec, query: &str, rows: usize, windowed: bool) {
    let dir = common::temp_dir(&format!("sql-{kind}"));
    let input = dir.join("events.csv");
    spec.write_csv(&input, 1_000_000).expect("input written");
    let expected = common::oracle(kind);
    assert_eq!(expected.lines().count(), rows, "the oracle's row count");
    for p in [1, 2, 4] {
        let output = dir.join(format!("out-{p}"));
        let sink = if windowed {
            WINDOW_SINK.to_string()
        } else {
            "CREATE TABLE sink (`key` STRING, value2 BIGINT) WITH ('connector' = 'filesystem', 'path' = '{output}', 'format' = 'csv');".to_string()
        };
        let script = format!("{EVENTS_TABLE}\n{sink}\nINSERT INTO sink {query};\n")
            .replace("{input}", path(&input))
            .replace("{output}", path(&output));
        run_sql(&dir, kind, &script, p);
        let mut got: Vec<String> = common::committed_lines(&output)
            .into_iter()
            .map(|line| {
                if windowed {
                    common::sql::window_row_millis(&line)
                } else {
                    line
                }
            })
            .collect();
        got.sort_unstable();
        let got = got.iter().map(|l| format!("{l}\n")).collect::<String>();
        assert!(
            got == expected,
            "{kind} at parallelism {p}: {} lines, the oracle has {rows}; first difference at line {:?}",
            got.lines().count(),
            got.lines().zip(expected.lines()).position(|(a, b)| a != b)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn filter_matches_flink() {
    check(
        "filter",
        EventSpec::EVENTS,
        "SELECT `key`, `value` * 2 FROM events WHERE `value` % 3 = 0",
        340_000,
        false,
    );
}

#[test]
fn tumble_matches_flink() {
    check(
        "tumble",
        EventSpec::EVENTS,
        "SELECT `key`, window_start, window_end, COUNT(*), SUM(`value`)
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' SECOND))
         GROUP BY `key`, window_start, window_end",
        101_100,
        true,
    );
}

#[test]
fn hop_matches_flink() {
    check(
        "slide",
        EventSpec::EVENTS,
        "SELECT `key`, window_start, window_end, COUNT(*), SUM(`value`)
         FROM TABLE(HOP(TABLE events, DESCRIPTOR(rt), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
         GROUP BY `key`, window_start, window_end",
        51_004,
        true,
    );
}

#[test]
fn session_matches_flink() {
    check(
        "session",
        EventSpec::SESSIONS,
        "SELECT `key`, window_start, window_end, COUNT(*), SUM(`value`)
         FROM TABLE(SESSION(TABLE events PARTITION BY `key`, DESCRIPTOR(rt), INTERVAL '0.2' SECOND))
         GROUP BY `key`, window_start, window_end",
        50_500,
        true,
    );
}

/// Lines of 8–12 words of a Zipf-ish vocabulary, from a fixed seed.
fn words(lines: usize) -> Vec<String> {
    let mut x: u64 = 42;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..lines)
        .map(|_| {
            let n = 8 + next() % 5;
            (0..n)
                .map(|_| {
                    // Rank r with weight about 1/(r+1): skewed toward the first words.
                    let r = (next() % 1000) * (next() % 1000) / 1000;
                    format!("w{r}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn word_count_changelog_ends_in_the_exact_counts() {
    let dir = common::temp_dir("sql-wordcount");
    let input = dir.join("words.txt");
    let lines = words(20_000);
    std::fs::write(&input, lines.join("\n") + "\n").expect("input written");
    let mut expected: HashMap<String, i64> = HashMap::new();
    for l in &lines {
        for w in l.split(' ') {
            *expected.entry(w.to_string()).or_default() += 1;
        }
    }
    for (p, strategy) in [(1, "ONE_PHASE"), (2, "ONE_PHASE"), (2, "TWO_PHASE")] {
        let script = format!(
            "SET 'table.optimizer.agg-phase-strategy' = '{strategy}';
             CREATE TABLE lines (line STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'raw');
             CREATE TABLE counts (word STRING, cnt BIGINT) WITH ('connector' = 'print');
             INSERT INTO counts SELECT word, COUNT(*) FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS T(word) GROUP BY word;",
            path(&input)
        );
        let plan = common::sql::explain(&script);
        assert_eq!(
            plan.contains("LocalGroupAggregate"),
            strategy == "TWO_PHASE",
            "{strategy}: {plan}"
        );
        let out = run_sql(&dir, "wordcount", &script, p);
        let mut state: HashMap<String, i64> = HashMap::new();
        let mut kinds: HashMap<&str, usize> = HashMap::new();
        for (kind, body) in common::sql::changelog(&out.stdout) {
            let (word, count) = body.split_once(", ").expect("word, count");
            let count: i64 = count.parse().expect("a count");
            *kinds.entry(kind).or_default() += 1;
            match kind {
                "+I" | "+U" => {
                    let old = state.insert(word.to_string(), count);
                    assert!(old.is_none(), "{kind} of {word} while it holds {old:?}");
                }
                _ => {
                    let old = state.remove(word);
                    assert_eq!(
                        old,
                        Some(count),
                        "{kind}[{word}, {count}] retracts what it holds"
                    );
                }
            }
        }
        assert_eq!(
            state, expected,
            "final counts at parallelism {p}, {strategy}"
        );
        assert_eq!(kinds.get("+I"), Some(&expected.len()), "one +I per word");
        assert_eq!(kinds.get("-U"), kinds.get("+U"), "updates come in pairs");
        assert!(
            kinds.get("+U").copied().unwrap_or(0) > 0,
            "words seen twice update"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
