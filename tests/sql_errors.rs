//! Issue 20's bad-input classes: a syntax error names its line and column, an unknown table or
//! column names the ones that exist, a type error says which types met, an unsupported
//! construct says "not supported: …", a query the sink cannot take says why, and bad records
//! fail the job with where they are (or are skipped and counted when the table says so). No
//! input panics: random token soup is refused with an error.

mod common;

use std::time::Duration;

use common::cli::{finish, path, rill_command, Killed};
use proptest::prelude::*;
use rill::sql::session::Session;

const EVENTS: &str = "CREATE TABLE events (ts BIGINT, `key` STRING, `value` BIGINT, rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '1' SECOND) WITH ('connector' = 'filesystem', 'path' = '/nonexistent', 'format' = 'csv');
CREATE TABLE out_csv (`key` STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '/tmp/out', 'format' = 'csv');";

/// The error message of running `statement` after the events and sink tables were declared.
fn error_of(statement: &str) -> String {
    let mut s = Session::new();
    s.execute_script(EVENTS).expect("the tables are declared");
    match s.execute_script(statement) {
        Ok(_) => panic!("{statement} was accepted"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(message: &str, needles: &[&str]) {
    for n in needles {
        assert!(message.contains(n), "{n:?} not in {message:?}");
    }
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let e = error_of("SELECT `key`,\n  `value`\nFROM events WHERE (`value` > 3;");
    assert_contains(&e, &["line 3", "column", "SQL parse error"]);
    let e = error_of("SELEC 1");
    assert_contains(&e, &["line 1, column 1"]);
}

#[test]
fn an_unknown_table_names_the_tables_that_exist() {
    let e = error_of("SELECT * FROM evnts");
    assert_contains(&e, &["'evnts' not found", "events", "out_csv"]);
    let e = error_of("INSERT INTO nowhere SELECT `key`, `value` FROM events");
    assert_contains(&e, &["'nowhere' not found", "events"]);
}

#[test]
fn an_unknown_column_names_the_columns_in_scope() {
    let e = error_of("SELECT `kee` FROM events");
    assert_contains(&e, &["Column 'kee' not found", "ts, key, value, rt"]);
}

#[test]
fn type_errors_say_which_types_met() {
    let e = error_of("SELECT `key` + 1 FROM events");
    assert_contains(&e, &["STRING", "INT"]);
    let e = error_of("SELECT SUM(`key`) FROM events");
    assert_contains(&e, &["SUM needs a numeric argument", "STRING"]);
    let e = error_of("SELECT * FROM events WHERE `value`");
    assert_contains(&e, &["WHERE needs a BOOLEAN", "BIGINT"]);
    let e = error_of("INSERT INTO out_csv SELECT `key`, `key` FROM events");
    assert_contains(
        &e,
        &["column 'n' is BIGINT in the sink but the query gives STRING"],
    );
    let e = error_of("SELECT UPER(`key`) FROM events");
    assert_contains(&e, &["UPER", "UPPER"]);
}

#[test]
fn unsupported_constructs_say_not_supported() {
    let e = error_of("SELECT `key` FROM events ORDER BY `key`");
    assert_contains(&e, &["not supported: ORDER BY"]);
    let e = error_of("SELECT `key` FROM events LIMIT 3 OFFSET 2");
    assert_contains(&e, &["not supported: LIMIT 3 OFFSET 2"]);
    let e = error_of("GRANT SELECT ON events TO bob");
    assert_contains(&e, &["not supported"]);
}

#[test]
fn invalid_queries_say_what_is_wrong() {
    let e = error_of("SELECT `key`, ts FROM events GROUP BY `key`");
    assert_contains(&e, &["Expression 'ts' is not being grouped"]);
    let e = error_of(
        "SELECT window_start FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
    );
    assert_contains(
        &e,
        &["requires the timecol to be a time attribute", "BIGINT"],
    );
    let e = error_of("INSERT INTO out_csv SELECT `key`, COUNT(*) FROM events GROUP BY `key`");
    assert_contains(&e, &["doesn't support consuming update changes", "out_csv"]);
    let e = error_of("CREATE TABLE events (a INT) WITH ('connector' = 'datagen')");
    assert_contains(&e, &["'events' already exists"]);
    let e =
        error_of("CREATE TABLE t2 (a INT, WATERMARK FOR a AS a) WITH ('connector' = 'datagen')");
    assert_contains(&e, &["TIMESTAMP(p) or TIMESTAMP_LTZ(p)", "INT"]);
}

#[test]
fn bad_records_fail_the_job_with_their_place_or_are_skipped_and_counted() {
    let dir = common::temp_dir("sql-bad-records");
    let input = dir.join("events.csv");
    std::fs::write(
        &input,
        "1700000000000,k1,5\n1700000000001,k2,five\n1700000000002,k3,7\n",
    )
    .expect("input");
    let run = |ignore: bool, out: &str| {
        let script = format!(
            "CREATE TABLE events (ts BIGINT, `key` STRING, `value` BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'{});
             CREATE TABLE sink (`key` STRING, `value` BIGINT) WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
             INSERT INTO sink SELECT `key`, `value` FROM events;",
            path(&input),
            if ignore { ", 'csv.ignore-parse-errors' = 'true'" } else { "" }
        );
        let file = dir.join(format!("{ignore}.sql"));
        std::fs::write(&file, script).expect("script");
        let child = Killed(
            rill_command(&["sql", "--local", "-f", path(&file)], &[])
                .spawn()
                .expect("rill starts"),
        );
        finish(child, Duration::from_secs(60), "rill sql")
    };
    let out = dir.join("failed");
    let failed = run(false, path(&out));
    assert_eq!(failed.code, Some(1), "stderr: {}", failed.stderr);
    assert_contains(
        &failed.stderr,
        &["FAILED", "'five' is not a BIGINT", "events.csv"],
    );
    let out = dir.join("skipped");
    let skipped = run(true, path(&out));
    assert_eq!(skipped.code, Some(0), "stderr: {}", skipped.stderr);
    assert_eq!(common::committed_lines(&out), vec!["k1,5", "k3,7"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_script_that_does_not_parse_runs_nothing_and_exits_2() {
    let dir = common::temp_dir("sql-syntax");
    let file = dir.join("bad.sql");
    std::fs::write(
        &file,
        "CREATE TABLE t (a INT) WITH ('connector' = 'datagen');\nSELECT a FROM t WHERE;\n",
    )
    .expect("script");
    let child = Killed(
        rill_command(&["sql", "--local", "-f", path(&file)], &[])
            .spawn()
            .expect("rill"),
    );
    let out = finish(child, Duration::from_secs(30), "rill sql");
    assert_eq!(out.code, Some(2));
    assert_contains(&out.stderr, &["line 2, column"]);
    assert!(
        !out.stdout.contains("Submitting"),
        "nothing ran: {}",
        out.stdout
    );
    std::fs::remove_dir_all(&dir).ok();
}

const WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "TABLE",
    "TUMBLE",
    "(",
    ")",
    ",",
    "events",
    "`key`",
    "`value`",
    "COUNT",
    "*",
    "+",
    "'x'",
    "1",
    "0.5",
    "INTERVAL",
    "'1'",
    "SECOND",
    "DESCRIPTOR",
    "rt",
    "CAST",
    "AS",
    "BIGINT",
    "NULL",
    "AND",
    "OR",
    "NOT",
    "=",
    "<",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "INSERT",
    "INTO",
    "out_csv",
    "UNNEST",
    "SPLIT",
    "CROSS",
    "JOIN",
    "HAVING",
    "SUM",
    "DISTINCT",
    ";",
    "ROW<",
    ">",
    "ARRAY",
    "[",
    "]",
    "WATERMARK",
    "FOR",
    "CREATE",
    "VIEW",
    "SET",
    "'a'",
    "TIMESTAMP",
    "%",
    "/",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn token_soup_is_refused_or_planned_never_a_panic(tokens in proptest::collection::vec(0..WORDS.len(), 1..40)) {
        let text: Vec<&str> = tokens.iter().map(|i| WORDS[*i]).collect();
        let mut s = Session::new();
        s.execute_script(EVENTS).expect("the tables are declared");
        let _ = s.execute_script(&text.join(" "));
    }
}
