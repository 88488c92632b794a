//! Issue 20: a `SELECT`'s rows fetched through the SQL Gateway of a cluster whose TaskManagers
//! are processes of their own (the rows cross QUIC from each TaskManager's `collect` sinks to
//! the JobManager): an updating query's changelog, page by page with typed columns, whose
//! final state the test computes itself; `rill sql --jobmanager-rest` printing a query's rows
//! (`--json`); and an unbounded query whose sinks wait on an unread result, cancelled by
//! closing its operation.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::path;
use common::sql::gateway_statement;
use common::{assert_error, get_ok, http, wait_for_job};
use rill::launch::ProcessCluster;
use serde_json::Value;

const SECRET: &str = "test-secret-sql-gateway-query";

fn cluster() -> ProcessCluster {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    // Two TaskManagers of one slot: a query at parallelism 2 has a sink on each.
    ProcessCluster::start(exe, None, SECRET, &[1, 1]).expect("cluster")
}

fn open_session(base: &str) -> String {
    let opened = http(
        "POST",
        &format!("{base}/v1/sessions"),
        Some(r#"{"properties": {"parallelism.default": "2"}}"#),
    );
    assert_eq!(opened.status, 200, "{}", opened.json);
    opened.json["sessionHandle"]
        .as_str()
        .expect("a session")
        .to_string()
}

/// Fetches a query's pages until `EOS` (60 s at most): every page answered, and the URI that
/// answered the end.
fn fetch_all(base: &str, session: &str, op: &str) -> (Vec<Value>, String) {
    let start = Instant::now();
    let mut uri = format!("/v1/sessions/{session}/operations/{op}/result/0");
    let mut pages = Vec::new();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no end after {} pages",
            pages.len()
        );
        let page = get_ok(&format!("{base}{uri}"));
        let kind = page["resultType"]
            .as_str()
            .expect("a result type")
            .to_string();
        pages.push(page.clone());
        match kind.as_str() {
            "EOS" => return (pages, uri),
            "NOT_READY" => std::thread::sleep(Duration::from_millis(50)),
            other => assert_eq!(other, "PAYLOAD", "{page}"),
        }
        uri = page["nextResultUri"]
            .as_str()
            .expect("a next URI before the end")
            .to_string();
    }
}

#[test]
fn a_querys_rows_come_back_through_the_gateway_from_taskmanager_processes() {
    let dir = common::temp_dir("sql-gateway-query");
    // 3000 words over 7 distinct ones, counted here independently of Rill.
    let words: Vec<String> = (0..3000u64)
        .map(|i| format!("w{}", (i * i + 3 * i) % 7))
        .collect();
    let input = dir.join("words.csv");
    std::fs::write(&input, words.join("\n") + "\n").expect("input");
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for w in &words {
        *expected.entry(w.clone()).or_default() += 1;
    }
    let c = cluster();
    let base = format!("http://{}", c.rest);
    let session = open_session(&base);
    let create = format!(
        "CREATE TABLE words (w STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
        path(&input)
    );
    gateway_statement(&base, &session, &create);

    // An updating query: its changelog, applied here, ends in the exact counts.
    let op = gateway_statement(
        &base,
        &session,
        "SELECT w, COUNT(*) AS n FROM words GROUP BY w",
    );
    let (pages, eos_uri) = fetch_all(&base, &session, &op);
    let first = &pages[0];
    assert_eq!(first["isQueryResult"], true, "{first}");
    let job = first["jobID"]
        .as_str()
        .expect("the query's job")
        .to_string();
    let columns = &first["results"]["columns"];
    assert_eq!(columns[0]["name"], "w", "{columns}");
    assert_eq!(columns[0]["logicalType"]["type"], "VARCHAR", "{columns}");
    assert_eq!(columns[1]["name"], "n", "{columns}");
    assert_eq!(columns[1]["logicalType"]["type"], "BIGINT", "{columns}");
    let mut state: BTreeMap<String, i64> = BTreeMap::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for row in pages
        .iter()
        .flat_map(|p| p["results"]["data"].as_array().cloned().unwrap_or_default())
    {
        let kind = row["kind"].as_str().expect("a kind").to_string();
        let w = row["fields"][0].as_str().expect("a word").to_string();
        let n = row["fields"][1].as_i64().expect("a typed count");
        match kind.as_str() {
            "INSERT" | "UPDATE_AFTER" => {
                assert!(state.insert(w, n).is_none(), "a row added twice");
            }
            "UPDATE_BEFORE" | "DELETE" => {
                assert_eq!(state.remove(&w), Some(n), "retracts what it added");
            }
            other => panic!("kind {other}"),
        }
        *kinds.entry(kind).or_default() += 1;
    }
    assert_eq!(state, expected, "the changelog's final state");
    assert!(kinds.contains_key("UPDATE_BEFORE"), "{kinds:?}");
    let d = wait_for_job(&base, &job, Duration::from_secs(10), |d| {
        d["state"] == "FINISHED"
    });
    assert_eq!(d["vertices"][0]["parallelism"], 2, "{d}");
    // The end is answered again for its token; a token out of order is refused.
    let eos = get_ok(&format!("{base}{eos_uri}"));
    assert_eq!(eos["resultType"], "EOS");
    let a = http(
        "GET",
        &format!(
            "{base}/v1/sessions/{session}/operations/{op}/result/{}",
            pages.len() + 5
        ),
        None,
    );
    assert_error(&a, 400, "read in order");

    // `rill sql` against the cluster prints a query's rows, here as changelog JSON lines.
    let script = format!("{create};\nSELECT w FROM words WHERE w = 'w3';\n");
    let o = common::cli::run_with_stdin(
        &["sql", "--jobmanager-rest", &base, "--json"],
        &script,
        Duration::from_secs(60),
        "rill sql",
    );
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len() as i64, expected["w3"], "{}", o.stdout);
    assert!(
        lines
            .iter()
            .all(|l| *l == r#"{"data":{"w":"w3"},"op":"+I"}"#),
        "{}",
        o.stdout
    );

    // An unbounded query nobody reads fills its sinks' queues and waits; a page can still be
    // fetched, and closing the operation cancels its job.
    gateway_statement(
        &base,
        &session,
        "CREATE TABLE seq (id BIGINT, pad STRING) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '9000000000', 'fields.pad.length' = '100')",
    );
    let op = gateway_statement(&base, &session, "SELECT id, pad FROM seq");
    std::thread::sleep(Duration::from_secs(2));
    let mut uri = format!("/v1/sessions/{session}/operations/{op}/result/0");
    let page = loop {
        let page = get_ok(&format!("{base}{uri}"));
        if page["resultType"] == "PAYLOAD" {
            break page;
        }
        uri = page["nextResultUri"].as_str().expect("next").to_string();
        std::thread::sleep(Duration::from_millis(50));
    };
    let rows = page["results"]["data"].as_array().expect("rows");
    assert!(
        !rows.is_empty() && rows.len() < 20_000,
        "a page of about 1 MiB: {}",
        rows.len()
    );
    let job = page["jobID"].as_str().expect("job").to_string();
    let running = get_ok(&format!("{base}/jobs/{job}"));
    assert_eq!(running["state"], "RUNNING", "{running}");
    let closed = http(
        "DELETE",
        &format!("{base}/v1/sessions/{session}/operations/{op}/close"),
        None,
    );
    assert_eq!(closed.status, 200, "{}", closed.json);
    wait_for_job(&base, &job, Duration::from_secs(30), |d| {
        d["state"] == "CANCELED"
    });
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}
