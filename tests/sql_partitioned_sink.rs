//! Issue 21, q10: a `PARTITIONED BY` filesystem table as Nexmark publishes it (partitions
//! `dt`/`hm`, csv, partition-time commit with a success file) written by `rill sql` at
//! parallelism 2, without and with periodic checkpoints. Every bid lands in the directory of
//! its minute, without its partition columns, once; every partition gets its `_SUCCESS`; read
//! back, the partition columns come from the directories. The expected partitions and lines
//! come from the files `rill nexmark generate` writes for the same events, read by the test
//! itself.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::cli::{path, rill};
use common::sql::{nexmark_ddl, run_local_stdout};

/// Three of the source's blocks of 65,536 events: both subtasks read some.
const EVENTS: u64 = 150_000;
/// Events per second of event time: 150,000 events span 250 s, so five `hm` partitions.
const RATE: u64 = 600;

/// The published q10, its path changed to `out`, over the connector's events (`RATE` a
/// second).
fn script(out: &Path, checkpoints: bool) -> String {
    let q10 = include_str!("../bench/nexmark/queries/q10.sql").replace(
        "file://${NEXMARK_DIR}/data/output/${SUBMIT_TIME}/bid/",
        &format!("file://{}", path(out)),
    );
    let set = if checkpoints {
        "SET 'execution.checkpointing.interval' = '200ms';\n"
    } else {
        ""
    };
    format!(
        "{set}{}{q10}",
        nexmark_ddl(&format!(
            "'connector' = 'nexmark', 'events.num' = '{EVENTS}', 'first-event.rate' = '{RATE}', 'next-event.rate' = '{RATE}'"
        ))
    )
}

/// The partitions q10 makes of the generated files' bids: `dt=…/hm=HH%3AMM` → sorted lines
/// `auction,bidder,price,dateTime,extra`.
fn expected(files: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(files).expect("files").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("a file");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            if v["event_type"] != 2 {
                continue;
            }
            let b = &v["bid"];
            let time = b["dateTime"].as_str().expect("dateTime");
            // `2015-07-15 00:01:02.345`: the date, and the hour and minute.
            let (dt, hm) = (&time[..10], &time[11..16]);
            let partition = format!("dt={dt}/hm={}", hm.replace(':', "%3A"));
            let fields = [
                b["auction"].to_string(),
                b["bidder"].to_string(),
                b["price"].to_string(),
                time.to_string(),
                b["extra"].as_str().expect("extra").to_string(),
            ];
            out.entry(partition).or_default().push(fields.join(","));
        }
    }
    for lines in out.values_mut() {
        lines.sort_unstable();
    }
    out
}

/// A partition's committed lines, sorted, and whether it has `_SUCCESS`.
type Partition = (Vec<String>, bool);

/// What q10 wrote: each partition's committed lines, sorted, and whether it has `_SUCCESS`;
/// and the writer subtasks that committed parts (`part-<checkpoint>-<subtask>[-<k>]`). Files
/// in progress (hidden) are not output.
fn written(dir: &Path) -> (BTreeMap<String, Partition>, BTreeSet<String>) {
    let mut writers = BTreeSet::new();
    let mut out = BTreeMap::new();
    for dt in std::fs::read_dir(dir).expect("output").flatten() {
        for hm in std::fs::read_dir(dt.path())
            .expect("dt partition")
            .flatten()
        {
            let partition = format!(
                "{}/{}",
                dt.file_name().to_string_lossy(),
                hm.file_name().to_string_lossy()
            );
            let (mut lines, mut success) = (Vec::new(), false);
            for f in std::fs::read_dir(hm.path())
                .expect("hm partition")
                .flatten()
            {
                let name = f.file_name().to_string_lossy().to_string();
                if name == "_SUCCESS" {
                    success = true;
                } else if name.starts_with("part-") {
                    writers.extend(name.split('-').nth(2).map(str::to_string));
                    let text = std::fs::read_to_string(f.path()).expect("part");
                    lines.extend(text.lines().map(str::to_string));
                }
            }
            lines.sort_unstable();
            out.insert(partition, (lines, success));
        }
    }
    (out, writers)
}

#[test]
fn q10_writes_each_bid_into_its_minute_and_commits_every_partition() {
    let dir = common::temp_dir("sql-partitioned-sink");
    let files = dir.join("events");
    let (events, rate) = (EVENTS.to_string(), RATE.to_string());
    let o = rill(
        &[
            "nexmark",
            "generate",
            "--events",
            &events,
            "--rate",
            &rate,
            "--out",
            path(&files),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let want = expected(&files);
    assert_eq!(want.len(), 5, "{:?}", want.keys().collect::<Vec<_>>());

    for checkpoints in [false, true] {
        let out = dir.join(format!("q10-{checkpoints}"));
        run_local_stdout(
            &dir,
            &format!("q10-{checkpoints}"),
            &script(&out, checkpoints),
            2,
        );
        let (got, writers) = written(&out);
        assert_eq!(
            writers.into_iter().collect::<Vec<_>>(),
            ["0", "1"],
            "both writer subtasks committed parts (checkpoints: {checkpoints})"
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "partitions (checkpoints: {checkpoints})"
        );
        for (partition, lines) in &want {
            let (got_lines, success) = &got[partition];
            assert!(
                got_lines == lines,
                "{partition} (checkpoints: {checkpoints}): {} lines, want {}; first {:?} vs {:?}",
                got_lines.len(),
                lines.len(),
                got_lines.first(),
                lines.first()
            );
            assert!(
                success,
                "{partition} has no _SUCCESS (checkpoints: {checkpoints})"
            );
        }
    }

    // Read back, the partition columns come from the directories: rows per partition, and
    // one bid's whole row.
    let out = dir.join("q10-false");
    let read = |select: &str| {
        format!(
            "CREATE TABLE q10 (auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3),
               extra VARCHAR, dt STRING, hm STRING) PARTITIONED BY (dt, hm)
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
             CREATE TABLE out (a VARCHAR, b VARCHAR, c BIGINT) WITH ('connector' = 'print');
             INSERT INTO out {select};",
            path(&out)
        )
    };
    let counts = common::sql::run_local(
        &dir,
        "read-counts",
        &read("SELECT dt, hm, COUNT(*) FROM q10 GROUP BY dt, hm"),
        2,
    );
    let want_counts: BTreeMap<String, u64> = want
        .iter()
        .map(|(p, lines)| {
            let (dt, hm) = p.split_once('/').expect("dt/hm");
            let hm = hm.trim_start_matches("hm=").replace("%3A", ":");
            (
                format!("{}, {hm}, {}", dt.trim_start_matches("dt="), lines.len()),
                1,
            )
        })
        .collect();
    assert_eq!(counts, want_counts);
    let (partition, lines) = want.iter().next().expect("a partition");
    let first = lines.first().expect("a bid");
    let auction: Vec<&str> = first.split(',').collect();
    let one = common::sql::run_local(
        &dir,
        "read-one",
        &read(&format!(
            "SELECT hm, CAST(`dateTime` AS STRING), bidder FROM q10 WHERE auction = {} AND bidder = {} AND price = {} AND CAST(`dateTime` AS STRING) = '{}'",
            auction[0], auction[1], auction[2], auction[3]
        )),
        2,
    );
    let hm = partition
        .rsplit_once("hm=")
        .map(|(_, h)| h.replace("%3A", ":"));
    assert_eq!(
        one.into_keys().collect::<Vec<_>>(),
        vec![format!(
            "{}, {}, {}",
            hm.unwrap_or_default(),
            auction[3],
            auction[1]
        )]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
