//! The commands that talk to a running cluster over its REST API: `run` (without `--local`),
//! `list`, `cancel`, `savepoint` and `stop`. See the exit codes in [`cli`](crate::cli).
//!
//! ## Output
//! Without `--json`, results are lines for people on stdout and each failure is one line on
//! stderr. With `--json`, stdout carries only JSON, one document per line (`run` writes
//! several: JSON lines), and a failure is `{"errors":[message]}` on stdout with the same exit
//! code; stderr then carries nothing but logs. The shapes:
//! - `list`: `GET /jobs/overview`'s body, `{"jobs":[{"jid","name","state",…}]}`;
//! - `run`: `{"event":"submitted","jobid","jobUrl"}`, then (unless detached) progress events
//!   `{"event":"progress","jobid","state","duration","records-in","records-out",
//!   "records-out-per-second","last-checkpoint":{"id","age-ms"}|null}` at each status change
//!   and at most every 5 s, then `{"event":"end","job":{…}}` with `GET /jobs/{id}`'s body;
//! - `savepoint`: `{"jobid","location"}`; `stop`: the same with `"state"`, the job's status
//!   once it ended (or the last seen, if it did not end within 10 s);
//! - `cancel`: `{"jobid","state"}`, likewise.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::progress::{LastCheckpoint, Reporter, Snapshot, Style, SNAPSHOT_EVERY};
use crate::cli::{DEFAULT_REST_URL, EXIT_JOB_FAILED, EXIT_USAGE, REST_URL_ENV};
use crate::graph::JobStatus;
use crate::rest::model::{ErrorResponse, JobDetailsInfo, SubmitJobRequest};
use crate::rest::{ClientError, RestClient};

/// The first wait between two status polls; it doubles up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The longest wait between two status polls.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Failed status polls in a row after which `run` gives up on the cluster.
const MAX_POLL_FAILURES: u32 = 10;
/// How long `cancel` and `stop` wait for the job to end before they return anyway.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// How long `rill savepoint` and `rill stop` wait for the savepoint.
const SAVEPOINT_WAIT: Duration = Duration::from_secs(600);

/// A client for `--jobmanager-rest`, else `$RILL_REST`, else the default URL.
pub(super) fn client(flag: Option<String>) -> RestClient {
    let url = flag
        .or_else(|| {
            std::env::var(REST_URL_ENV)
                .ok()
                .filter(|u| !u.trim().is_empty())
        })
        .unwrap_or_else(|| DEFAULT_REST_URL.to_string());
    RestClient::new(&url)
}

/// Writes `v` as one line of JSON on stdout (a closed stdout is not this command's failure).
fn print_json(v: &impl Serialize) {
    match serde_json::to_string(v) {
        Ok(s) => {
            let _ = writeln!(std::io::stdout().lock(), "{s}");
        }
        Err(e) => eprintln!("rill: cannot write JSON: {e}"),
    }
}

/// Reports `message` (one line on stderr, or `{"errors":[…]}` on stdout) and exits `code`.
pub(super) fn report_error(message: impl std::fmt::Display, code: u8, json: bool) -> ExitCode {
    if json {
        print_json(&ErrorResponse {
            errors: vec![message.to_string()],
        });
    } else {
        eprintln!("rill: {message}");
    }
    ExitCode::from(code)
}

/// Reports `e` and picks the exit code: 2 for a rejected request, else 1.
pub(super) fn fail(e: &ClientError, json: bool) -> ExitCode {
    let code = if e.is_rejection() {
        EXIT_USAGE
    } else {
        EXIT_JOB_FAILED
    };
    report_error(e, code, json)
}

/// Polls the job until `done` says so, a deadline passes, or the cluster stops answering;
/// returns the last details seen (none if no poll succeeded before the deadline).
fn poll_job(
    client: &RestClient,
    id: &str,
    deadline: Option<Instant>,
    done: impl Fn(JobStatus) -> bool,
) -> Result<Option<JobDetailsInfo>, ClientError> {
    let mut interval = FIRST_POLL_INTERVAL;
    let mut failures = 0;
    let mut last = None;
    loop {
        match client.job(id) {
            Ok(d) if done(d.state) => return Ok(Some(d)),
            Ok(d) => {
                failures = 0;
                last = Some(d);
            }
            Err(e) if e.is_rejection() => return Err(e),
            Err(e) => {
                failures += 1;
                if failures >= MAX_POLL_FAILURES {
                    return Err(e);
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() + interval > d) {
            return Ok(last);
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// What the REST API says of job `d` now: its totals from `d`, the out-rate from each
/// vertex's `numRecordsOutPerSecond` (when `rates`; unknown if any vertex does not answer) and
/// the newest completed checkpoint from `/jobs/{id}/checkpoints`.
fn snapshot(client: &RestClient, d: &JobDetailsInfo, rates: bool) -> Snapshot {
    let out_rate = if rates {
        d.vertices
            .iter()
            .map(|v| {
                client
                    .vertex_metric_sum(&d.jid, &v.id, "numRecordsOutPerSecond")
                    .ok()
                    .flatten()
            })
            .sum()
    } else {
        None
    };
    let last_checkpoint = client
        .checkpoints(&d.jid)
        .ok()
        .and_then(|c| c.latest.completed)
        .map(|c| LastCheckpoint {
            id: c.id,
            age: millis(d.now.saturating_sub(c.completed_at())),
        });
    Snapshot {
        state: d.state,
        elapsed: millis(d.duration),
        records_in: d.vertices.iter().map(|v| v.metrics.read_records).sum(),
        records_out: d.vertices.iter().map(|v| v.metrics.write_records).sum(),
        out_rate,
        last_checkpoint,
    }
}

/// `ms` as a duration (0 for a negative one).
fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Follows job `id` to its end, showing its progress about once a second.
fn follow<W: Write>(
    client: &RestClient,
    id: &str,
    reporter: &mut Reporter<W>,
) -> Result<JobDetailsInfo, ClientError> {
    let mut interval = FIRST_POLL_INTERVAL;
    let mut failures = 0;
    let mut next_snapshot = Instant::now();
    loop {
        match client.job(id) {
            Ok(d) if d.state.is_globally_terminal() => return Ok(d),
            Ok(d) => {
                failures = 0;
                if Instant::now() >= next_snapshot {
                    let s = snapshot(client, &d, true);
                    let now = Instant::now();
                    reporter.show(id, &s, now);
                    next_snapshot = now + SNAPSHOT_EVERY;
                }
            }
            Err(e) if e.is_rejection() => return Err(e),
            Err(e) => {
                failures += 1;
                if failures >= MAX_POLL_FAILURES {
                    return Err(e);
                }
            }
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// `rill run --json`'s first event.
#[derive(Serialize)]
struct Submitted<'a> {
    event: &'static str,
    #[serde(flatten)]
    answer: &'a crate::rest::model::SubmitJobResponse,
}

/// `rill run --json`'s last event.
#[derive(Serialize)]
struct Ended<'a> {
    event: &'static str,
    job: &'a JobDetailsInfo,
}

/// `rill run JOB ARGS…`: submits, prints the id and (unless detached) follows the job to its
/// end, with its progress on stdout: redrawn in place on a terminal, else plain lines.
pub(super) fn run(
    client: &RestClient,
    req: &SubmitJobRequest,
    detached: bool,
    json: bool,
) -> ExitCode {
    let answer = match client.submit(req) {
        Ok(a) => a,
        Err(e) => return fail(&e, json),
    };
    let id = answer.jobid.as_str();
    if json {
        print_json(&Submitted {
            event: "submitted",
            answer: &answer,
        });
    } else {
        println!("Job has been submitted with JobID {id}");
    }
    if detached {
        return ExitCode::SUCCESS;
    }
    let stdout = std::io::stdout();
    let style = Style::pick(json, stdout.is_terminal());
    let mut reporter = Reporter::new(style, stdout);
    let details = match follow(client, id, &mut reporter) {
        Ok(d) => d,
        Err(e) => {
            reporter.end_line();
            let message = format!("lost track of job {id}: {e}");
            return report_error(message, EXIT_JOB_FAILED, json);
        }
    };
    reporter.finish(id, &snapshot(client, &details, false));
    let code = if details.state == JobStatus::Finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_JOB_FAILED)
    };
    if json {
        print_json(&Ended {
            event: "end",
            job: &details,
        });
    } else if details.state == JobStatus::Finished {
        let secs = details.duration as f64 / 1000.0;
        eprintln!("Job {id} FINISHED in {secs:.3}s");
    } else {
        eprintln!(
            "Job {id} {}: {}",
            details.state,
            details.failure.as_deref().unwrap_or("no cause recorded")
        );
    }
    code
}

/// `rill list`: every job the cluster knows, newest first.
pub(super) fn list(client: &RestClient, json: bool) -> ExitCode {
    let overview = match client.jobs_overview() {
        Ok(o) => o,
        Err(e) => return fail(&e, json),
    };
    if json {
        print_json(&overview);
        return ExitCode::SUCCESS;
    }
    if overview.jobs.is_empty() {
        println!("No jobs.");
        return ExitCode::SUCCESS;
    }
    println!("{:<32}  {:<11}  NAME", "JOB ID", "STATUS");
    for j in &overview.jobs {
        println!("{:<32}  {:<11}  {}", j.jid, j.state.as_str(), j.name);
    }
    ExitCode::SUCCESS
}

/// Waits up to [`CANCEL_WAIT`] for job `id` to end; its state then (none if unknown).
fn state_after_ending(client: &RestClient, id: &str) -> Result<Option<JobStatus>, ClientError> {
    let deadline = Some(Instant::now() + CANCEL_WAIT);
    Ok(poll_job(client, id, deadline, JobStatus::is_globally_terminal)?.map(|d| d.state))
}

/// `rill cancel JOB_ID`: asks for the cancellation and waits a little for the job to end.
pub(super) fn cancel(client: &RestClient, id: &str, json: bool) -> ExitCode {
    if let Err(e) = client.cancel(id) {
        return fail(&e, json);
    }
    let state = match state_after_ending(client, id) {
        Ok(s) => s,
        Err(e) => return fail(&e, json),
    };
    if json {
        print_json(&serde_json::json!({ "jobid": id, "state": state }));
    } else {
        match state {
            Some(s) if s.is_globally_terminal() => println!("Job {id} {s}"),
            _ => println!("Cancellation of job {id} requested; it has not ended yet"),
        }
    }
    ExitCode::SUCCESS
}

/// `rill savepoint JOB [DIR]` and `rill stop JOB [--savepoint DIR] [--drain]`: waits for the
/// savepoint and prints where it is.
pub(super) fn savepoint(
    client: &RestClient,
    id: &str,
    target: Option<&str>,
    stop: Option<bool>,
    json: bool,
) -> ExitCode {
    let location = match client.savepoint(id, target, stop, SAVEPOINT_WAIT) {
        Ok(l) => l,
        Err(e) => return fail(&e, json),
    };
    if stop.is_none() {
        if json {
            print_json(&serde_json::json!({ "jobid": id, "location": location }));
        } else {
            println!("Savepoint completed. Path: {location}");
        }
        return ExitCode::SUCCESS;
    }
    if !json {
        println!("Savepoint completed. Path: {location}");
    }
    let state = match state_after_ending(client, id) {
        Ok(s) => s,
        Err(e) => return fail(&e, json),
    };
    if json {
        print_json(&serde_json::json!({ "jobid": id, "location": location, "state": state }));
    } else {
        match state {
            Some(s) if s.is_globally_terminal() => println!("Job {id} {s}"),
            _ => println!("Job {id} is stopping"),
        }
    }
    ExitCode::SUCCESS
}
