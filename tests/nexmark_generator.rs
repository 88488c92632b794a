//! Issue 21: Nexmark's events, the same from the `nexmark` SQL connector and from the files
//! `rill nexmark generate` writes (which Flink reads): two published queries (q2, q22) run on
//! both at parallelism 2, and their outputs equal what the test computes itself from the
//! files' JSON lines.

mod common;

use std::path::Path;

use common::cli::{path, rill};
use common::sql::run_local_stdout;

const EVENTS: u64 = 20_000;

/// Nexmark's `ddl_gen.sql` (its `WITH` clause given) and `ddl_views.sql`.
fn ddl(with: &str) -> String {
    format!(
        "CREATE TABLE datagen (
            event_type int,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
        ) WITH ({with});
        CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra
        FROM datagen WHERE event_type = 2;\n"
    )
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

#[test]
fn the_connector_and_the_generated_files_give_the_same_query_results() {
    let dir = common::temp_dir("nexmark-generator");
    let files = dir.join("events");
    let events = EVENTS.to_string();
    let o = rill(
        &[
            "nexmark",
            "generate",
            "--events",
            &events,
            "--splits",
            "3",
            "--out",
            path(&files),
        ],
        &[],
    );
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

    let bad = rill(
        &[
            "nexmark",
            "generate",
            "--events",
            "10",
            "--out",
            path(&files),
            "--format",
            "csv",
        ],
        &[],
    );
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("not supported: --format csv"),
        "{}",
        bad.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
