//! Issue 21: Nexmark's events, the same from the `nexmark` SQL connector and from the files
//! `rill nexmark generate` writes (which Flink reads): published queries run at parallelism 2
//! (q2 and q22 on both, q3, q17 and q21 on the connector; q2, q22 and q3 over the CSV files),
//! and their outputs equal what the test computes itself from the files' JSON lines.

mod common;

use std::path::Path;

use common::cli::{path, rill};
use common::sql::{nexmark_ddl as ddl, run_local_stdout};

const EVENTS: u64 = 20_000;

/// `rill nexmark generate --out OUT ARGS…`.
fn generate(out: &Path, args: &[&str]) -> common::cli::Outcome {
    let mut all = vec!["nexmark", "generate", "--out", path(out)];
    all.extend_from_slice(args);
    rill(&all, &[])
}

/// q2 and q22 as published, into CSV files under `out`.
fn queries(out: &Path) -> [(String, String); 2] {
    let sink = |name: &str, cols: &str| {
        format!(
            "CREATE TABLE {name} ({cols}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
            path(&out.join(name))
        )
    };
    [
        (
            "nexmark_q2".to_string(),
            sink("nexmark_q2", "auction BIGINT, price BIGINT")
                + "INSERT INTO nexmark_q2 SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;",
        ),
        (
            "nexmark_q22".to_string(),
            sink(
                "nexmark_q22",
                "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, dir1 VARCHAR, dir2 VARCHAR, dir3 VARCHAR",
            ) + "INSERT INTO nexmark_q22 SELECT auction, bidder, price, channel,
                   SPLIT_INDEX(url, '/', 3) as dir1, SPLIT_INDEX(url, '/', 4) as dir2, SPLIT_INDEX(url, '/', 5) as dir3 FROM bid;",
        ),
    ]
}

/// What q2 and q22 give, computed from the files' bids.
fn expected(files: &Path) -> [Vec<String>; 2] {
    let (mut q2, mut q22) = (Vec::new(), Vec::new());
    let mut events = 0;
    for e in std::fs::read_dir(files).expect("files").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("a file");
        for line in text.lines() {
            events += 1;
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            if v["event_type"] != 2 {
                continue;
            }
            let b = &v["bid"];
            let n = |k: &str| b[k].as_i64().expect("a number");
            let (auction, price) = (n("auction"), n("price"));
            if auction % 123 == 0 {
                q2.push(format!("{auction},{price}"));
            }
            let url = b["url"].as_str().expect("a url");
            let parts: Vec<&str> = url.split('/').collect();
            let dir = |i: usize| parts.get(i).copied().unwrap_or("");
            q22.push(format!(
                "{auction},{},{price},{},{},{},{}",
                n("bidder"),
                b["channel"].as_str().expect("a channel"),
                dir(3),
                dir(4),
                dir(5)
            ));
        }
    }
    assert_eq!(events, EVENTS, "the files hold every event");
    q2.sort_unstable();
    q22.sort_unstable();
    assert!(
        q2.len() > 10 && q22.len() > 15_000,
        "{} {}",
        q2.len(),
        q22.len()
    );
    [q2, q22]
}

/// The files' events as JSON values: people, auctions and bids.
fn events(files: &Path) -> [Vec<serde_json::Value>; 3] {
    let mut out: [Vec<serde_json::Value>; 3] = Default::default();
    for e in std::fs::read_dir(files).expect("files").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("a file");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let kind = v["event_type"].as_u64().expect("a kind") as usize;
            let key = ["person", "auction", "bid"][kind];
            out[kind].push(v[key].clone());
        }
    }
    out
}

fn int(v: &serde_json::Value, k: &str) -> i64 {
    v[k].as_i64().expect("a number")
}

fn text<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().expect("a string")
}

/// q3, q21 (CSV lines, sorted) and q17 (its final rows as the print sink shows them), computed
/// from the events.
fn expected_more(files: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let [people, auctions, bids] = events(files);
    let mut q3: Vec<String> = auctions
        .iter()
        .filter(|a| int(a, "category") == 10)
        .flat_map(|a| {
            people
                .iter()
                .filter(move |p| int(p, "id") == int(a, "seller"))
                .filter(|p| ["OR", "ID", "CA"].contains(&text(p, "state")))
                .map(move |p| {
                    let (name, city, state) = (text(p, "name"), text(p, "city"), text(p, "state"));
                    format!("{name},{city},{state},{}", int(a, "id"))
                })
        })
        .collect();
    q3.sort_unstable();
    let mut q21 = Vec::new();
    let mut q17: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for b in &bids {
        let (auction, bidder, price) = (int(b, "auction"), int(b, "bidder"), int(b, "price"));
        let channel = text(b, "channel");
        let hot = ["apple", "google", "facebook", "baidu"]
            .iter()
            .position(|c| *c == channel.to_lowercase());
        let id = match hot {
            Some(i) => Some(i.to_string()),
            None => text(b, "url")
                .split_once("&channel_id=")
                .map(|(_, rest)| rest.split('&').next().unwrap_or("").to_string()),
        };
        if let Some(id) = id {
            q21.push(format!("{auction},{bidder},{price},{channel},{id}"));
        }
        q17.entry(auction).or_default().push(price);
    }
    q21.sort_unstable();
    // All 20,000 events fall on 2015-07-15 (two seconds at 10,000 a second).
    let q17 = q17
        .into_iter()
        .map(|(auction, prices)| {
            let n = prices.len() as i64;
            let rank = |lo: i64, hi: i64| prices.iter().filter(|p| (lo..hi).contains(*p)).count();
            let sum: i64 = prices.iter().sum();
            format!(
                "{auction}, 2015-07-15, {n}, {}, {}, {}, {}, {}, {}, {sum}",
                rank(i64::MIN, 10_000),
                rank(10_000, 1_000_000),
                rank(1_000_000, i64::MAX),
                prices.iter().min().copied().unwrap_or(0),
                prices.iter().max().copied().unwrap_or(0),
                sum / n
            )
        })
        .collect();
    (q3, q21, q17)
}

#[test]
fn the_connector_and_the_generated_files_give_the_same_query_results() {
    let dir = common::temp_dir("nexmark-generator");
    let files = dir.join("events");
    let events = EVENTS.to_string();
    let o = generate(&files, &["--events", &events, "--splits", "3"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("in 3 files"), "{}", o.stdout);
    let want = expected(&files);

    let sources = [
        (
            "files",
            format!(
                "'connector' = 'filesystem', 'path' = '{}', 'format' = 'json'",
                path(&files)
            ),
        ),
        (
            "connector",
            format!("'connector' = 'nexmark', 'events.num' = '{EVENTS}'"),
        ),
    ];
    for (source, with) in sources {
        let out = dir.join(source);
        for ((name, query), want) in queries(&out).into_iter().zip(&want) {
            let script = ddl(&with) + &query;
            run_local_stdout(&dir, &format!("{source}-{name}"), &script, 2);
            let got = common::committed_lines(&out.join(&name));
            assert!(
                &got == want,
                "{name} from the {source}: {} rows, want {}; first {:?} vs {:?}",
                got.len(),
                want.len(),
                got.first(),
                want.first()
            );
        }
    }

    // q3 (a join), q21 (REGEXP_EXTRACT) and q17 (an updating aggregate) on the connector.
    let (q3, q21, q17) = expected_more(&files);
    assert!(
        q3.len() > 5 && q21.len() > 15_000 && q17.len() > 50,
        "{} {} {}",
        q3.len(),
        q21.len(),
        q17.len()
    );
    let connector = ddl(&format!(
        "'connector' = 'nexmark', 'events.num' = '{EVENTS}'"
    ));
    let out_more = dir.join("more");
    let out = out_more.clone();
    let csv = |name: &str, cols: &str| {
        format!(
            "CREATE TABLE {name} ({cols}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
            path(&out_more.join(name))
        )
    };
    let q3_sql = csv(
        "nexmark_q3",
        "name VARCHAR, city VARCHAR, state VARCHAR, id BIGINT",
    ) + "INSERT INTO nexmark_q3 SELECT P.name, P.city, P.state, A.id
           FROM auction AS A INNER JOIN person AS P on A.seller = P.id
           WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');";
    let q21_sql = csv(
        "nexmark_q21",
        "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, channel_id VARCHAR",
    ) + "INSERT INTO nexmark_q21 SELECT auction, bidder, price, channel,
             CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
                  WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
                  ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
           FROM bid WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) is not null or
             lower(channel) in ('apple', 'google', 'facebook', 'baidu');";
    for (name, sql, want) in [
        ("nexmark_q3", q3_sql.clone(), &q3),
        ("nexmark_q21", q21_sql, &q21),
    ] {
        run_local_stdout(&dir, name, &(connector.clone() + &sql), 2);
        let got = common::committed_lines(&out.join(name));
        assert!(
            &got == want,
            "{name}: {} rows, want {}; first {:?} vs {:?}",
            got.len(),
            want.len(),
            got.first(),
            want.first()
        );
    }
    let q17_sql = "CREATE TABLE nexmark_q17 (auction BIGINT, `day` VARCHAR, total_bids BIGINT, rank1_bids BIGINT,
           rank2_bids BIGINT, rank3_bids BIGINT, min_price BIGINT, max_price BIGINT, avg_price BIGINT, sum_price BIGINT)
         WITH ('connector' = 'print');
         INSERT INTO nexmark_q17 SELECT auction, DATE_FORMAT(`dateTime`, 'yyyy-MM-dd') as `day`, count(*) AS total_bids,
           count(*) filter (where price < 10000) AS rank1_bids,
           count(*) filter (where price >= 10000 and price < 1000000) AS rank2_bids,
           count(*) filter (where price >= 1000000) AS rank3_bids,
           min(price) AS min_price, max(price) AS max_price, avg(price) AS avg_price, sum(price) AS sum_price
         FROM bid GROUP BY auction, DATE_FORMAT(`dateTime`, 'yyyy-MM-dd');";
    let stdout = run_local_stdout(&dir, "nexmark_q17", &(connector + q17_sql), 2);
    let got: Vec<String> = common::sql::final_rows(&stdout).into_keys().collect();
    let mut want17 = q17.clone();
    want17.sort_unstable();
    assert!(
        got == want17,
        "q17: {} rows, want {}; first {:?} vs {:?}",
        got.len(),
        want17.len(),
        got.first(),
        want17.first()
    );

    // The same events as CSV files (Flink's `csv` format, a ROW as one field of `;`-joined
    // values) give the same results: q2 and q22 read bids, q3 persons and auctions.
    let csv_files = dir.join("events-csv");
    let o = generate(
        &csv_files,
        &["--events", &events, "--splits", "3", "--format", "csv"],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let first = std::fs::read_to_string(csv_files.join("part-0.csv")).expect("part-0.csv");
    assert!(
        first
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("0,") && l.ends_with(",,") && l.split(';').count() == 8),
        "the first event is a person: {:?}",
        first.lines().next()
    );
    let from_csv = ddl(&format!(
        "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
        path(&csv_files)
    ));
    let out = dir.join("csv");
    for ((name, query), want) in queries(&out).into_iter().zip(&want) {
        run_local_stdout(
            &dir,
            &format!("csv-{name}"),
            &(from_csv.clone() + &query),
            2,
        );
        let got = common::committed_lines(&out.join(&name));
        assert!(
            &got == want,
            "{name} from CSV files: {} rows, want {}",
            got.len(),
            want.len()
        );
    }
    let q3_csv = q3_sql.replace(path(&out_more), path(&out));
    run_local_stdout(&dir, "csv-nexmark_q3", &(from_csv + &q3_csv), 2);
    let got = common::committed_lines(&out.join("nexmark_q3"));
    assert!(
        got == q3,
        "q3 from CSV files: {} rows, want {}",
        got.len(),
        q3.len()
    );

    let bad = generate(&files, &["--events", "10", "--format", "avro"]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("unknown --format avro"),
        "{}",
        bad.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
