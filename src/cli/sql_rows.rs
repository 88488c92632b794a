//! A query's rows at `rill sql --jobmanager-rest`: the query runs through the cluster's SQL
//! Gateway (a session of its own, closed at the end, which cancels the job if it still runs),
//! and its rows print as they come, as a changelog: `+I[a, 1]`, `-U[…]`, `+U[…]`, or with
//! `--json` as changelog JSON lines.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::remote;
use crate::cli::sql::SqlTarget;
use crate::cli::EXIT_JOB_FAILED;
use crate::rest::model::sql::FetchResultsResponse;
use crate::sql::session::SqlJob;

/// How long to wait before fetching again when no rows were ready.
const POLL: Duration = Duration::from_millis(100);

/// Runs `job`'s query on the cluster and prints its rows until its end: 0 at the end, 1 when
/// its job failed or the cluster stopped answering, 2 when the statement was rejected.
pub(super) fn remote_query(target: &SqlTarget, job: &SqlJob) -> ExitCode {
    let client = remote::client(target.rest.clone());
    target.say("[INFO] Submitting SQL query to the cluster; its rows follow as a changelog.");
    let mut script = String::new();
    if let Some(p) = target.parallelism {
        script.push_str(&format!("SET 'parallelism.default' = '{p}';\n"));
    }
    script.push_str(&job.script);
    let (session, operation) = match client.sql_statement(&script) {
        Ok(handles) => handles,
        Err(e) => return remote::fail(&e, false),
    };
    let mut path = format!("/v1/sessions/{session}/operations/{operation}/result/0");
    let mut rows = 0u64;
    let code = loop {
        let page = match client.sql_result(&path) {
            Ok(page) => page,
            Err(e) => break remote::report_error(e, EXIT_JOB_FAILED, false),
        };
        rows += print_page(&page, target.json);
        if page.result_type == "NOT_READY" {
            std::thread::sleep(POLL);
        }
        match page.next_result_uri {
            Some(next) if page.result_type != "EOS" => path = next,
            _ => {
                target.say(&format!(
                    "[INFO] The query ended: {rows} row{}.",
                    if rows == 1 { "" } else { "s" }
                ));
                break ExitCode::SUCCESS;
            }
        }
    };
    client.close_sql_session(&session);
    code
}

/// Prints a page's rows; how many.
fn print_page(page: &FetchResultsResponse, json: bool) -> u64 {
    let columns = &page.results.columns;
    let mut text = String::new();
    for r in &page.results.data {
        let op = match r.kind.as_str() {
            "UPDATE_BEFORE" => "-U",
            "UPDATE_AFTER" => "+U",
            "DELETE" => "-D",
            _ => "+I",
        };
        if json {
            let names =
                crate::connectors::format::unique_names(columns.iter().map(|c| c.name.as_str()));
            let data: serde_json::Map<String, serde_json::Value> =
                names.into_iter().zip(r.fields.iter().cloned()).collect();
            let line = serde_json::json!({ "op": op, "data": data });
            text.push_str(&line.to_string());
        } else {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| match f {
                    serde_json::Value::Null => "NULL".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            text.push_str(&format!("{op}[{}]", fields.join(", ")));
        }
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    page.results.data.len() as u64
}
