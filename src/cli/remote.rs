//! The commands that talk to a running cluster over its REST API: `run` (without `--local`),
//! `list` and `cancel`. Each failure is one line on stderr; see the exit codes in
//! [`cli`](crate::cli).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::{DEFAULT_REST_URL, EXIT_JOB_FAILED, EXIT_USAGE, REST_URL_ENV};
use crate::graph::JobStatus;
use crate::rest::model::SubmitJobRequest;
use crate::rest::{ClientError, RestClient};

/// The first wait between two status polls; it doubles up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The longest wait between two status polls.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Failed status polls in a row after which `run` gives up on the cluster.
const MAX_POLL_FAILURES: u32 = 10;
/// How long `cancel` waits for the job to end before it returns anyway.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

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

/// Prints `e` as one line and picks the exit code: 2 for a rejected request, else 1.
fn fail(e: &ClientError) -> ExitCode {
    eprintln!("rill: {e}");
    if e.is_rejection() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::from(EXIT_JOB_FAILED)
    }
}

/// Polls the job until `done` says so, a deadline passes, or the cluster stops answering.
fn poll_job(
    client: &RestClient,
    id: &str,
    deadline: Option<Instant>,
    done: impl Fn(JobStatus) -> bool,
) -> Result<Option<crate::rest::model::JobDetailsInfo>, ClientError> {
    let mut interval = FIRST_POLL_INTERVAL;
    let mut failures = 0;
    loop {
        match client.job(id) {
            Ok(d) if done(d.state) => return Ok(Some(d)),
            Ok(_) => failures = 0,
            Err(e) if e.is_rejection() => return Err(e),
            Err(e) => {
                failures += 1;
                if failures >= MAX_POLL_FAILURES {
                    return Err(e);
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() + interval > d) {
            return Ok(None);
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
    }
}

/// `rill run JOB ARGS…`: submits, prints the id and (unless detached) follows the job to its
/// end.
pub(super) fn run(
    client: &RestClient,
    parallelism: Option<usize>,
    detached: bool,
    job: &str,
    args: &[String],
    options: crate::graph::job_graph::SubmitOptions,
) -> ExitCode {
    let req = SubmitJobRequest {
        job: job.to_string(),
        args: args.to_vec(),
        parallelism,
        options,
    };
    let id = match client.submit(&req) {
        Ok(id) => id,
        Err(e) => return fail(&e),
    };
    println!("Job has been submitted with JobID {id}");
    if detached {
        return ExitCode::SUCCESS;
    }
    let details = match poll_job(client, &id, None, JobStatus::is_globally_terminal) {
        Ok(Some(d)) => d,
        Ok(None) => return ExitCode::from(EXIT_JOB_FAILED),
        Err(e) => {
            eprintln!("rill: lost track of job {id}: {e}");
            return ExitCode::from(EXIT_JOB_FAILED);
        }
    };
    let secs = details.duration as f64 / 1000.0;
    if details.state == JobStatus::Finished {
        eprintln!("Job {id} FINISHED in {secs:.3}s");
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "Job {id} {}: {}",
        details.state,
        details.failure.as_deref().unwrap_or("no cause recorded")
    );
    ExitCode::from(EXIT_JOB_FAILED)
}

/// `rill list`: every job the cluster knows, newest first.
pub(super) fn list(client: &RestClient) -> ExitCode {
    let overview = match client.jobs_overview() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
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

/// `rill cancel JOB_ID`: asks for the cancellation and waits a little for the job to end.
pub(super) fn cancel(client: &RestClient, id: &str) -> ExitCode {
    if let Err(e) = client.cancel(id) {
        return fail(&e);
    }
    let deadline = Some(Instant::now() + CANCEL_WAIT);
    match poll_job(client, id, deadline, JobStatus::is_globally_terminal) {
        Ok(Some(d)) => println!("Job {id} {}", d.state),
        Ok(None) => println!("Cancellation of job {id} requested; it has not ended yet"),
        Err(e) => return fail(&e),
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
) -> ExitCode {
    match client.savepoint(id, target, stop, SAVEPOINT_WAIT) {
        Ok(location) => {
            println!("Savepoint completed. Path: {location}");
            if stop.is_some() {
                let deadline = Some(Instant::now() + CANCEL_WAIT);
                match poll_job(client, id, deadline, JobStatus::is_globally_terminal) {
                    Ok(Some(d)) => println!("Job {id} {}", d.state),
                    Ok(None) => println!("Job {id} is stopping"),
                    Err(e) => return fail(&e),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// How long `rill savepoint` and `rill stop` wait for the savepoint.
const SAVEPOINT_WAIT: Duration = Duration::from_secs(600);
