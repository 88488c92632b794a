//! Issue 20: time in SQL beyond event-time windows.
//!
//! - Interval joins and window joins, planned as Flink plans them and run on generated
//!   event-time input at parallelism 1 and 2. Each query's rows are checked against a
//!   nested-loop join computed here, and its changelog must hold only `+I` rows: a
//!   time-bounded join pads an outer row once it can no longer match and never retracts it.
//! - `PROCTIME()` attributes and windows of processing time, on a rate-limited `datagen`.

mod common;

use std::collections::BTreeMap;

use common::cli::path;
use common::sql::{changelog, epoch_millis, explain, final_rows, run_local_stdout};

/// A deterministic pseudo-random sequence.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % below) as i64
    }
}

/// `n` rows `(key, millis)`: keys below `keys`, times `i * step` plus up to 1.5 s of disorder
/// (less than the tables' 2 s watermark delay, so no row is late).
fn events(seed: u64, n: i64, keys: u64, step: i64) -> Vec<(i64, i64)> {
    let mut r = Lcg(seed);
    (0..n)
        .map(|i| (r.next(keys), i * step + r.next(1500)))
        .collect()
}

fn write_events(file: &std::path::Path, rows: &[(i64, i64)]) {
    let text: String = rows.iter().map(|(k, t)| format!("{k},{t}\n")).collect();
    std::fs::write(file, text).expect("events");
}

/// Two event tables `a(k, t)` and `b(k, t)`, with a rowtime `ts` from `t` (milliseconds).
fn tables(a: &std::path::Path, b: &std::path::Path) -> String {
    let table = |name: &str, file: &std::path::Path| {
        format!(
            "CREATE TABLE {name} (k BIGINT, t BIGINT, ts AS TO_TIMESTAMP_LTZ(t, 3),
               WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
            path(file)
        )
    };
    format!("{}\n{}", table("a", a), table("b", b))
}

/// The rows of `a JOIN b ON a.k = b.k AND lower <= a.t - b.t <= upper` (`a.k, a.t, b.k, b.t`),
/// with `a`'s and `b`'s unmatched rows padded as `kind` preserves them.
fn nested_loop(
    a: &[(i64, i64)],
    b: &[(i64, i64)],
    kind: &str,
    matches: impl Fn(&(i64, i64), &(i64, i64)) -> bool,
    show: impl Fn(Option<&(i64, i64)>, Option<&(i64, i64)>) -> String,
) -> BTreeMap<String, u64> {
    let mut rows = BTreeMap::new();
    let mut add = |r: String| *rows.entry(r).or_insert(0) += 1;
    for x in a {
        let mut any = false;
        for y in b.iter().filter(|y| matches(x, y)) {
            any = true;
            add(show(Some(x), Some(y)));
        }
        if !any && (kind == "LEFT" || kind == "FULL") {
            add(show(Some(x), None));
        }
    }
    if kind == "RIGHT" || kind == "FULL" {
        for y in b.iter().filter(|y| !a.iter().any(|x| matches(x, y))) {
            add(show(None, Some(y)));
        }
    }
    rows
}

fn text(row: Option<&(i64, i64)>) -> String {
    row.map_or_else(|| "NULL, NULL".into(), |(k, t)| format!("{k}, {t}"))
}

/// Runs `script` at p=1 and p=2: its changelog must be only `+I` rows, ending in `want`.
fn check(dir: &std::path::Path, name: &str, script: &str, want: &BTreeMap<String, u64>) {
    assert!(!want.is_empty(), "{name}: no expected rows");
    if ["LEFT", "RIGHT", "FULL"].iter().any(|k| name.contains(k)) {
        assert!(
            want.keys().any(|r| r.contains("NULL")),
            "{name}: the input pads no row"
        );
    }
    for p in [1, 2] {
        let stdout = run_local_stdout(dir, &format!("{name}-{p}"), script, p);
        let kinds: Vec<&str> = changelog(&stdout).iter().map(|(k, _)| *k).collect();
        assert!(
            kinds.iter().all(|k| *k == "+I"),
            "{name} at p={p}: an append-only join emitted {:?}",
            kinds.iter().find(|k| **k != "+I")
        );
        let got = final_rows(&stdout);
        assert!(
            got == *want,
            "{name} at p={p}: {} rows, {} expected; first differences: {:?}",
            got.values().sum::<u64>(),
            want.values().sum::<u64>(),
            got.iter()
                .filter(|(r, n)| want.get(*r) != Some(n))
                .take(3)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn interval_joins_end_in_the_nested_loop_rows() {
    let dir = common::temp_dir("sql-interval-joins");
    let (fa, fb) = (dir.join("a.csv"), dir.join("b.csv"));
    let (a, b) = (events(7, 800, 25, 40), events(11, 500, 25, 64));
    write_events(&fa, &a);
    write_events(&fb, &b);
    let show = |x: Option<&(i64, i64)>, y: Option<&(i64, i64)>| format!("{}, {}", text(x), text(y));
    let queries = [
        // BETWEEN: -1 s <= a.t - b.t <= 2 s.
        (
            "FULL",
            "a.ts BETWEEN b.ts - INTERVAL '1' SECOND AND b.ts + INTERVAL '2' SECOND",
            (-1000, 2000),
        ),
        // Strict bounds written from the other side: -3 s < a.t - b.t < 1 s.
        (
            "INNER",
            "b.ts > a.ts - INTERVAL '1' SECOND AND b.ts < a.ts + INTERVAL '3' SECOND",
            (-2999, 999),
        ),
        (
            "RIGHT",
            "a.ts >= b.ts AND a.ts <= b.ts + INTERVAL '1' SECOND",
            (0, 1000),
        ),
    ];
    for (kind, bounds, (lower, upper)) in queries {
        let script = format!(
            "{}
             CREATE TABLE out (ak BIGINT, at BIGINT, bk BIGINT, bt BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT a.k, a.t, b.k, b.t FROM a {kind} JOIN b ON a.k = b.k AND {bounds};",
            tables(&fa, &fb)
        );
        let plan = explain(&script);
        let shown = format!(
            "IntervalJoin(joinType=[{}], windowBounds=[isRowTime=true, leftLowerBound={lower}, leftUpperBound={upper}",
            kind[..1].to_string() + &kind[1..].to_lowercase()
        );
        assert!(plan.contains(&shown), "{kind}: {plan}");
        let want = nested_loop(
            &a,
            &b,
            kind,
            |x, y| x.0 == y.0 && (lower..=upper).contains(&(x.1 - y.1)),
            show,
        );
        check(&dir, &format!("interval-{kind}"), &script, &want);
    }
    // A bound on one side only is a regular join, as in Flink.
    let regular = explain(&format!(
        "{}
         CREATE TABLE out (ak BIGINT, bk BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO out SELECT a.k, b.k FROM a JOIN b ON a.k = b.k AND a.ts >= b.ts;",
        tables(&fa, &fb)
    ));
    assert!(
        regular.contains("Join(joinType=[Inner]") && !regular.contains("IntervalJoin"),
        "{regular}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The 5 s tumbling window of `t`.
fn window(t: i64) -> i64 {
    t.div_euclid(5000)
}

#[test]
fn window_joins_end_in_the_nested_loop_rows() {
    let dir = common::temp_dir("sql-window-joins");
    let (fa, fb) = (dir.join("a.csv"), dir.join("b.csv"));
    let (a, b) = (events(3, 300, 30, 100), events(5, 500, 40, 60));
    write_events(&fa, &a);
    write_events(&fb, &b);
    let tumble = |t: &str| format!("TABLE(TUMBLE(TABLE {t}, DESCRIPTOR(ts), INTERVAL '5' SECOND))");

    // Nexmark q8's shape: two window aggregates joined on their keys and windows.
    let distinct = |rows: &[(i64, i64)]| {
        let mut per: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        for (k, t) in rows {
            *per.entry((*k, window(*t))).or_insert(0) += 1;
        }
        per.into_iter().collect::<Vec<_>>()
    };
    let (pa, pb) = (distinct(&a), distinct(&b));
    for kind in ["INNER", "FULL"] {
        let script = format!(
            "{}
             CREATE TABLE out (ak BIGINT, an BIGINT, bk BIGINT, bn BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT P.k, P.n, A.k, A.n
             FROM (SELECT k, COUNT(*) AS n, window_start AS starttime, window_end AS endtime
                   FROM {} GROUP BY k, window_start, window_end) P
             {kind} JOIN (SELECT k, COUNT(*) AS n, window_start AS starttime, window_end AS endtime
                   FROM {} GROUP BY k, window_start, window_end) A
             ON P.k = A.k AND P.starttime = A.starttime AND P.endtime = A.endtime;",
            tables(&fa, &fb),
            tumble("a"),
            tumble("b")
        );
        let plan = explain(&script);
        assert!(
            plan.contains(&format!(
                "WindowJoin(joinType=[{}]",
                kind[..1].to_string() + &kind[1..].to_lowercase()
            )),
            "{kind}: {plan}"
        );
        let want = nested_loop_windows(&pa, &pb, kind);
        check(&dir, &format!("window-agg-{kind}"), &script, &want);
    }

    // A window join of two window TVFs, row by row.
    let script = format!(
        "{}
         CREATE TABLE out (ak BIGINT, at BIGINT, bk BIGINT, bt BIGINT) WITH ('connector' = 'print');
         INSERT INTO out SELECT L.k, L.t, R.k, R.t
         FROM (SELECT * FROM {}) L LEFT JOIN (SELECT * FROM {}) R
         ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end;",
        tables(&fa, &fb),
        tumble("a"),
        tumble("b")
    );
    assert!(explain(&script).contains("WindowJoin(joinType=[Left]"));
    let show = |x: Option<&(i64, i64)>, y: Option<&(i64, i64)>| format!("{}, {}", text(x), text(y));
    let want = nested_loop(
        &a,
        &b,
        "LEFT",
        |x, y| x.0 == y.0 && window(x.1) == window(y.1),
        show,
    );
    check(&dir, "window-tvf-LEFT", &script, &want);
    std::fs::remove_dir_all(&dir).ok();
}

/// `((key, window), count)` rows of both sides joined on key and window: `ak, an, bk, bn`.
fn nested_loop_windows(
    a: &[((i64, i64), i64)],
    b: &[((i64, i64), i64)],
    kind: &str,
) -> BTreeMap<String, u64> {
    let flat = |rows: &[((i64, i64), i64)]| -> Vec<(i64, i64, i64)> {
        rows.iter().map(|((k, w), n)| (*k, *w, *n)).collect()
    };
    let (a, b) = (flat(a), flat(b));
    let show = |x: Option<&(i64, i64, i64)>| {
        x.map_or_else(|| "NULL, NULL".into(), |(k, _, n)| format!("{k}, {n}"))
    };
    let mut rows = BTreeMap::new();
    let mut add = |r: String| *rows.entry(r).or_insert(0) += 1;
    let matches = |x: &(i64, i64, i64), y: &(i64, i64, i64)| x.0 == y.0 && x.1 == y.1;
    for x in &a {
        let mut any = false;
        for y in b.iter().filter(|y| matches(x, y)) {
            any = true;
            add(format!("{}, {}", show(Some(x)), show(Some(y))));
        }
        if !any && kind == "FULL" {
            add(format!("{}, {}", show(Some(x)), show(None)));
        }
    }
    if kind == "FULL" {
        for y in b.iter().filter(|y| !a.iter().any(|x| matches(x, y))) {
            add(format!("{}, {}", show(None), show(Some(y))));
        }
    }
    rows
}

#[test]
fn processing_time_windows_count_the_rows_as_they_come() {
    let dir = common::temp_dir("sql-proctime");
    // 1,500 ids in sequence at 500 rows a second: about three seconds of processing time.
    let script = "CREATE TABLE gen (id BIGINT, pt AS PROCTIME())
           WITH ('connector' = 'datagen', 'rows-per-second' = '500', 'number-of-rows' = '1500',
                 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1500');
         CREATE VIEW v AS SELECT id, PROCTIME() AS p FROM gen;
         CREATE TABLE out (n BIGINT, s BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3)) WITH ('connector' = 'print');
         DESCRIBE v;
         INSERT INTO out SELECT COUNT(*), SUM(id), window_start, window_end
         FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(p), INTERVAL '1' SECOND))
         GROUP BY window_start, window_end;";
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let stdout = run_local_stdout(&dir, "proctime", script, 1);
    assert!(
        stdout.contains("TIMESTAMP_LTZ(3) *PROCTIME*"),
        "DESCRIBE shows the attribute: {stdout}"
    );
    let rows = changelog(&stdout);
    assert!(rows.len() >= 2, "at least two windows fired: {stdout}");
    // The rows arrive in id order, so each window holds the ids after the previous window's:
    // its sum is that of `n` consecutive ids. Windows are one second long, in order, of now.
    let (mut next_id, mut last_end) = (1_i64, None);
    for (kind, row) in rows {
        assert_eq!(kind, "+I", "{row}");
        let f: Vec<&str> = row.split(", ").collect();
        let (n, sum): (i64, i64) = (f[0].parse().expect("n"), f[1].parse().expect("sum"));
        let (ws, we) = (epoch_millis(f[2]), epoch_millis(f[3]));
        let want: i64 = (next_id..next_id + n).sum();
        assert_eq!(sum, want, "window {row}: the ids after {}", next_id - 1);
        next_id += n;
        assert_eq!((we - ws, ws % 1000), (1000, 0), "{row}");
        assert!(
            (started - 5_000..started + 60_000).contains(&ws),
            "{row}: a window of processing time (the test began at {started})"
        );
        // In order; a second in which no row came (a loaded machine can stall the source)
        // has no window, so windows need not be back to back.
        if let Some(end) = last_end {
            assert!(
                ws >= end,
                "windows in order: {row} after one ending at {end}"
            );
        }
        last_end = Some(we);
    }
    // The last window is still open when the input ends: as in Flink, pending processing-time
    // timers do not fire at the end of input, so its rows are not emitted.
    assert!((2..=1500).contains(&next_id), "{next_id}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn group_window_functions_end_in_the_computed_windows() {
    let dir = common::temp_dir("sql-group-windows");
    let (fa, fb) = (dir.join("a.csv"), dir.join("b.csv"));
    let a = events(13, 400, 6, 30);
    write_events(&fa, &a);
    write_events(&fb, &[]);
    let ts = |ms: i64| {
        let s = ms.div_euclid(1000);
        format!(
            "1970-01-01 {:02}:{:02}:{:02}.{:03}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            ms.rem_euclid(1000)
        )
    };
    // TUMBLE with HAVING and a WHERE below the window.
    let mut tumbles: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (k, t) in a.iter().filter(|(k, _)| *k < 4) {
        *tumbles.entry((*k, t.div_euclid(1000))).or_insert(0) += 1;
    }
    let want: BTreeMap<String, u64> = tumbles
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|((k, w), n)| {
            (
                format!("{k}, {n}, {}, {}", ts(w * 1000), ts(w * 1000 + 1000)),
                1,
            )
        })
        .collect();
    let script = format!(
        "{}
         CREATE TABLE out (k BIGINT, n BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3)) WITH ('connector' = 'print');
         INSERT INTO out SELECT k, COUNT(*), TUMBLE_START(ts, INTERVAL '1' SECOND), TUMBLE_END(ts, INTERVAL '1' SECOND)
         FROM a WHERE k < 4 GROUP BY TUMBLE(ts, INTERVAL '1' SECOND), k HAVING COUNT(*) > 1;",
        tables(&fa, &fb)
    );
    assert!(
        explain(&script).contains("WindowAggregate(groupBy=[$0], window=[TUMBLE(size=[1000 ms])]")
    );
    check(&dir, "tumble", &script, &want);

    // SESSION per key: a key's rows less than the gap apart share a session, which ends a gap
    // after its last row.
    let mut times: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (k, t) in &a {
        times.entry(*k).or_default().push(*t);
    }
    let mut want = BTreeMap::new();
    for (k, mut ts_of_k) in times {
        ts_of_k.sort_unstable();
        let mut session: Vec<i64> = Vec::new();
        for t in ts_of_k {
            if session.last().is_some_and(|last| t - last >= 1000) {
                let (first, last) = (session[0], session[session.len() - 1]);
                want.insert(
                    format!("{k}, {}, {}, {}", session.len(), ts(first), ts(last + 1000)),
                    1,
                );
                session.clear();
            }
            session.push(t);
        }
        let (first, last) = (session[0], session[session.len() - 1]);
        want.insert(
            format!("{k}, {}, {}, {}", session.len(), ts(first), ts(last + 1000)),
            1,
        );
    }
    assert!(want.len() > 6, "several sessions per key: {want:?}");
    let script = format!(
        "{}
         CREATE TABLE out (k BIGINT, n BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3)) WITH ('connector' = 'print');
         INSERT INTO out SELECT k, COUNT(*) AS n, SESSION_START(ts, INTERVAL '1' SECOND) AS s,
           SESSION_END(ts, INTERVAL '1' SECOND) AS e
         FROM a GROUP BY k, SESSION(ts, INTERVAL '1' SECOND);",
        tables(&fa, &fb)
    );
    check(&dir, "session", &script, &want);

    // An auxiliary function of another window is an error that names both.
    let bad = rill::sql::session::Session::new().execute_script(&format!(
        "{}
         CREATE TABLE out (k BIGINT, we TIMESTAMP(3)) WITH ('connector' = 'blackhole');
         INSERT INTO out SELECT k, TUMBLE_END(ts, INTERVAL '1' SECOND) FROM a
         GROUP BY k, HOP(ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND);",
        tables(&fa, &fb)
    ));
    let message = format!("{:?}", bad.err());
    assert!(
        message.contains("TUMBLE_END does not match the group window HOP"),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lookup_joins_end_in_the_looked_up_rows() {
    let dir = common::temp_dir("sql-lookup-joins");
    let (fa, fb, side) = (dir.join("a.csv"), dir.join("b.csv"), dir.join("side.csv"));
    let a = events(17, 600, 30, 20);
    write_events(&fa, &a);
    write_events(&fb, &[]);
    // Keys 0..7, two rows for the even ones; 7 matches no MOD(k, 8) but 7.
    let mut side_rows = Vec::new();
    for key in 0..7 {
        side_rows.push((key, format!("v{key}"), key * 10));
        if key % 2 == 0 {
            side_rows.push((key, format!("w{key}"), 1000 + key));
        }
    }
    let text: String = side_rows
        .iter()
        .map(|(k, v, n)| format!("{k},{v},{n}\n"))
        .collect();
    std::fs::write(&side, text).expect("side");
    for kind in ["INNER", "LEFT"] {
        let script = format!(
            "{}
             CREATE TABLE side (key BIGINT, v STRING, n BIGINT)
               WITH ('connector.type' = 'filesystem', 'connector.path' = 'file://{}', 'format.type' = 'csv');
             CREATE VIEW pa AS SELECT *, PROCTIME() AS pt FROM a;
             CREATE TABLE out (k BIGINT, t BIGINT, v STRING, n BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT pa.k, pa.t, s.v, s.n
             FROM pa {kind} JOIN side FOR SYSTEM_TIME AS OF pa.pt AS s
             ON MOD(pa.k, 8) = s.key AND s.n < pa.t;",
            tables(&fa, &fb),
            path(&side)
        );
        let plan = explain(&script);
        assert!(
            plan.contains(&format!(
                "LookupJoin(table=[side], joinType=[{}], lookup=[key=MOD(k, 8)]",
                kind[..1].to_string() + &kind[1..].to_lowercase()
            )),
            "{plan}"
        );
        let mut want = BTreeMap::new();
        for (k, t) in &a {
            let matches: Vec<_> = side_rows
                .iter()
                .filter(|(key, _, n)| *key == k % 8 && n < t)
                .collect();
            for (_, v, n) in &matches {
                *want.entry(format!("{k}, {t}, {v}, {n}")).or_insert(0) += 1;
            }
            if matches.is_empty() && kind == "LEFT" {
                *want.entry(format!("{k}, {t}, NULL, NULL")).or_insert(0) += 1;
            }
        }
        check(&dir, &format!("lookup-{kind}"), &script, &want);
    }
    // Errors: a rowtime, a table that cannot be looked up, a lookup outside a join.
    let session = |sql: &str| {
        let script = format!(
            "{}
             CREATE TABLE gen (key BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
             CREATE TABLE side (key BIGINT, v STRING, n BIGINT)
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
             CREATE TABLE out (k BIGINT) WITH ('connector' = 'blackhole');
             {sql}",
            tables(&fa, &fb),
            path(&side)
        );
        let outcome = rill::sql::session::Session::new().execute_script(&script);
        outcome.err().map(|e| e.to_string()).unwrap_or_default()
    };
    for (sql, message) in [
        (
            "INSERT INTO out SELECT a.k FROM a JOIN side FOR SYSTEM_TIME AS OF a.ts AS s ON a.k = s.key;",
            "not supported: an event-time temporal join",
        ),
        (
            "INSERT INTO out SELECT a.k FROM (SELECT *, PROCTIME() AS p FROM a) a JOIN gen FOR SYSTEM_TIME AS OF a.p AS g ON a.k = g.key;",
            "looking up the 'datagen' table 'gen' (lookup sources: filesystem)",
        ),
        (
            "INSERT INTO out SELECT a.k FROM (SELECT *, PROCTIME() AS p FROM a) a JOIN side FOR SYSTEM_TIME AS OF a.p AS s ON a.k > s.key;",
            "Temporal table join requires an equality condition on fields of table [side]",
        ),
        (
            "INSERT INTO out SELECT key FROM side FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01 00:00:00';",
            "outside a join",
        ),
    ] {
        let got = session(sql);
        assert!(got.contains(message), "{sql}: {got}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
