//! Issue 20: the SQL Gateway routes of a running cluster (`rill local`), driven with a plain
//! HTTP client as a Flink user's script would: open a session with options, declare tables,
//! run `SHOW TABLES`, `EXPLAIN`, an `INSERT` that becomes a job of the cluster (listed, and
//! finishing with the right output), and get errors as 4xx JSON with the planner's message.
//! Also `rill sql` driven through its standard input, against the same cluster.

mod common;

use std::time::Duration;

use common::cli::{path, LocalCluster};
use common::{assert_error, get_ok, http, wait_for_job};

fn statement(base: &str, session: &str, sql: &str) -> serde_json::Value {
    let op = common::sql::gateway_statement(base, session, sql);
    let status = get_ok(&format!(
        "{base}/v1/sessions/{session}/operations/{op}/status"
    ));
    assert_eq!(status["status"], "FINISHED");
    let first = get_ok(&format!(
        "{base}/v1/sessions/{session}/operations/{op}/result/0"
    ));
    assert_eq!(first["resultType"], "PAYLOAD", "{first}");
    let next = first["nextResultUri"].as_str().expect("a next URI");
    let end = get_ok(&format!("{base}{next}"));
    assert_eq!(end["resultType"], "EOS", "{end}");
    first
}

#[test]
fn the_sql_gateway_runs_statements_and_submits_inserts_as_jobs() {
    let dir = common::temp_dir("sql-gateway");
    let input = dir.join("events.csv");
    std::fs::write(&input, "1,a,10\n2,b,20\n3,a,30\n4,c,40\n").expect("input");
    let out = dir.join("out");
    let cluster = LocalCluster::start();
    let base = cluster.url.trim_end_matches('/').to_string();

    let info = get_ok(&format!("{base}/v1/info"));
    assert!(info["version"].is_string(), "{info}");
    let opened = http(
        "POST",
        &format!("{base}/v1/sessions"),
        Some(r#"{"properties": {"parallelism.default": "2"}}"#),
    );
    assert_eq!(opened.status, 200, "{}", opened.json);
    let session = opened.json["sessionHandle"]
        .as_str()
        .expect("a session")
        .to_string();
    let config = get_ok(&format!("{base}/v1/sessions/{session}"));
    assert_eq!(config["properties"]["parallelism.default"], "2");

    let created = statement(
        &base,
        &session,
        &format!(
            "CREATE TABLE events (ts BIGINT, k STRING, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
            path(&input)
        ),
    );
    assert_eq!(created["resultKind"], "SUCCESS");
    statement(
        &base,
        &session,
        &format!(
            "CREATE TABLE big (k STRING, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
            path(&out)
        ),
    );
    let tables = statement(&base, &session, "SHOW TABLES");
    assert_eq!(tables["resultKind"], "SUCCESS_WITH_CONTENT");
    let names: Vec<&str> = tables["results"]["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["fields"][0].as_str())
        .collect();
    assert_eq!(names, vec!["big", "events"]);
    let plan = statement(
        &base,
        &session,
        "EXPLAIN SELECT k, v * 2 FROM events WHERE v > 15",
    );
    let text = plan["results"]["data"][0]["fields"][0]
        .as_str()
        .expect("plan text");
    assert!(text.contains("TableSourceScan(table=[events]"), "{text}");
    assert!(text.contains("where=[(v > 15)]"), "{text}");

    let inserted = statement(
        &base,
        &session,
        "INSERT INTO big SELECT k, v * 2 FROM events WHERE v > 15",
    );
    let job = inserted["jobID"]
        .as_str()
        .expect("the job's id")
        .to_string();
    assert_eq!(inserted["results"]["data"][0]["fields"][0], job.as_str());
    let d = wait_for_job(&base, &job, Duration::from_secs(30), |d| {
        d["state"] == "FINISHED"
    });
    assert_eq!(d["name"], "insert-into_big", "{d}");
    assert_eq!(
        d["vertices"][0]["parallelism"], 2,
        "the session's parallelism: {d}"
    );
    assert_eq!(common::committed_lines(&out), vec!["a,60", "b,40", "c,80"]);

    // Errors: 4xx with the planner's message, never a 500.
    let body = serde_json::json!({ "statement": "SELECT nope FROM events" }).to_string();
    let a = http(
        "POST",
        &format!("{base}/v1/sessions/{session}/statements"),
        Some(&body),
    );
    assert_error(&a, 400, "Column 'nope' not found");
    let body = serde_json::json!({ "statement": "SELEC 1" }).to_string();
    let a = http(
        "POST",
        &format!("{base}/v1/sessions/{session}/statements"),
        Some(&body),
    );
    assert_error(&a, 400, "line 1, column 1");
    let a = http(
        "POST",
        &format!("{base}/v1/sessions/nosuch/statements"),
        Some(&body),
    );
    assert_error(&a, 404, "Session 'nosuch' does not exist");
    let a = http(
        "GET",
        &format!("{base}/v1/sessions/{session}/operations/nosuch/result/0"),
        None,
    );
    assert_error(&a, 404, "Operation 'nosuch'");

    let closed = http("DELETE", &format!("{base}/v1/sessions/{session}"), None);
    assert_eq!(closed.json["status"], "CLOSED");
    let a = http("GET", &format!("{base}/v1/sessions/{session}"), None);
    assert_eq!(a.status, 404);

    // `rill sql` scripted through its standard input, against the same cluster.
    let out2 = dir.join("out2");
    let script = format!(
        "CREATE TABLE events (ts BIGINT, k STRING, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE small (k STRING, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SHOW TABLES;\n\
         INSERT INTO small SELECT k, v FROM events WHERE v < 25;\n",
        path(&input),
        path(&out2)
    );
    let o = common::cli::run_with_stdin(
        &["sql", "--jobmanager-rest", &cluster.url],
        &script,
        Duration::from_secs(60),
        "rill sql",
    );
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains(" small |"), "{}", o.stdout);
    assert!(
        o.stdout.contains("Job has been submitted with JobID"),
        "{}",
        o.stdout
    );
    assert_eq!(common::committed_lines(&out2), vec!["a,10", "b,20"]);
    let _ = std::fs::remove_dir_all(dir);
}
