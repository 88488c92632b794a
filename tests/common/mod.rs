//! Helpers shared by the integration tests: running programs on a mini cluster with a bound on
//! their time, and deterministic inputs.

#![allow(dead_code)]

pub mod checkpoints;
pub mod cli;
pub mod etcd;
pub mod ha;
pub mod prometheus;
pub mod rest;
pub mod s3;
pub mod sql;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::actors::dispatcher::JobResult;
use rill::actors::{MiniCluster, MiniClusterConfig};
use rill::api::StreamEnv;
use rill::ids::JobId;
use rill::jobs::JobRegistry;

/// Runs `f` with a fresh mini cluster inside an actix System, failing the test after `limit`.
pub fn with_cluster<F, Fut, T>(config: MiniClusterConfig, limit: Duration, f: F) -> T
where
    F: FnOnce(Arc<MiniCluster>) -> Fut,
    Fut: Future<Output = T>,
{
    actix::System::new().block_on(async move {
        let cluster = Arc::new(
            MiniCluster::start(config, Arc::new(JobRegistry::bundled()))
                .await
                .expect("cluster starts"),
        );
        let out = tokio::time::timeout(limit, f(cluster.clone()))
            .await
            .expect("test ran past its time limit");
        cluster.shutdown();
        out
    })
}

/// A cluster of `tms` TaskManagers with `slots` slots each.
pub fn cluster(tms: usize, slots: usize) -> MiniClusterConfig {
    MiniClusterConfig {
        task_managers: tms,
        slots_per_task_manager: slots,
        ..MiniClusterConfig::default()
    }
}

/// Logs to stderr when `RILL_LOG` is set (for debugging a test).
pub fn init_logging() {
    if let Ok(filter) = std::env::var("RILL_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// Starts `program` with `args` (output discarded) as a child that does not outlive this
/// process: the child's shell becomes the program (`exec`: killing the child kills it), and a
/// watchdog beside it ends it once this process is gone (a server shared by a test binary,
/// never dropped, ends with it).
pub fn spawn_watched(
    program: &std::ffi::OsStr,
    args: &[String],
) -> std::io::Result<std::process::Child> {
    let script = format!(
        "(while kill -0 {me} 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done; \
          kill $$ 2>/dev/null) & exec \"$0\" \"$@\"",
        me = std::process::id()
    );
    std::process::Command::new("sh")
        .args(["-c", &script])
        .arg(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

/// Waits until `ready` holds, checking every `every`; fails the test with `what` after 30 s.
pub fn wait_until(what: &str, every: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what} in 30 s");
        std::thread::sleep(every);
    }
}

/// A job's checkpoint statistics, as `GET /jobs/ID/checkpoints` shows them (none yet: the
/// default).
pub async fn checkpoint_stats(
    c: &MiniCluster,
    job: JobId,
) -> rill::checkpoint::coordinator::CheckpointStats {
    c.dispatcher()
        .send(rill::actors::dispatcher::RequestJobCheckpoints { job_id: job })
        .await
        .expect("dispatcher")
        .expect("job")
        .unwrap_or_default()
}

/// Runs a program to its end on a fresh cluster.
pub fn run(env: &StreamEnv, config: MiniClusterConfig) -> JobResult {
    init_logging();
    let graph = env.stream_graph(None, 1).expect("valid graph");
    rill::actors::minicluster::execute_graph(graph, config).expect("job ran")
}

/// Runs the registered job `name` with `args` at parallelism `p` on a fresh cluster.
pub fn run_registered(
    config: MiniClusterConfig,
    limit: Duration,
    name: &str,
    args: &[&str],
    p: usize,
) -> JobResult {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let name = name.to_string();
    with_cluster(config, limit, |c| async move {
        let job = c
            .submit_registered(&name, &args, Some(p))
            .await
            .expect("submitted");
        c.wait(job).await.expect("result")
    })
}

/// A fresh directory under the system's temp dir, removed by the caller.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rill-test-{name}-{}-{}",
        std::process::id(),
        rill::util::random_u64() as u32
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// An HTTP answer: status and JSON body.
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The body, parsed as JSON (every answer of the REST API is JSON).
    pub json: serde_json::Value,
}

/// Sends `method url` with an optional JSON `body`, with a 10 s limit; the answer whatever its
/// status; panics if there is no HTTP answer.
pub fn send(method: &str, url: &str, body: Option<&str>) -> ureq::Response {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    let req = agent.request(method, url);
    let res = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: no answer: {e}"),
    }
}

/// [`send`], for an answer that must be JSON (panics otherwise).
pub fn http(method: &str, url: &str, body: Option<&str>) -> HttpAnswer {
    let resp = send(method, url, body);
    let status = resp.status();
    let content_type = resp.content_type().to_string();
    let text = resp.into_string().expect("a body");
    assert_eq!(
        content_type, "application/json",
        "{method} {url} -> {status}: {text}"
    );
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url} -> {status}: not JSON ({e}): {text}"));
    HttpAnswer { status, json }
}

/// `GET url`, asserting 200.
pub fn get_ok(url: &str) -> serde_json::Value {
    let a = http("GET", url, None);
    assert_eq!(a.status, 200, "GET {url}: {}", a.json);
    a.json
}

/// Asserts a JSON error: `status` and `{"errors": [..]}` whose first message contains `needle`.
pub fn assert_error(a: &HttpAnswer, status: u16, needle: &str) {
    assert_eq!(a.status, status, "{}", a.json);
    let errors = a.json["errors"].as_array().expect("an errors array");
    let first = errors
        .first()
        .and_then(|e| e.as_str())
        .expect("an error message");
    assert!(first.contains(needle), "{first:?} lacks {needle:?}");
}

/// Polls `GET {base}/jobs/{id}` until `done` holds for its body, failing after `limit`.
pub fn wait_for_job(
    base: &str,
    id: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let j = get_ok(&format!("{base}/jobs/{id}"));
        if done(&j) {
            return j;
        }
        assert!(
            start.elapsed() < limit,
            "job {id} not there after {limit:?}: {j}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Submits `env` at parallelism `p` restored from the checkpoint or savepoint at `path` (with
/// `options`' other fields) and waits for its end.
pub async fn run_from(
    c: &MiniCluster,
    env: &StreamEnv,
    p: usize,
    path: PathBuf,
    options: rill::graph::job_graph::SubmitOptions,
) -> JobResult {
    let options = rill::graph::job_graph::SubmitOptions {
        savepoint_path: Some(path),
        ..options
    };
    let job = c
        .submit_with(env, Some(p), &options)
        .await
        .expect("submitted");
    c.wait(job).await.expect("result")
}

/// The ids of the completed checkpoints (their `_metadata` written) in a job's checkpoint
/// directory.
pub fn completed_checkpoints(job_dir: &std::path::Path) -> Vec<u64> {
    use rill::checkpoint::storage;
    storage::checkpoint_ids(job_dir)
        .into_iter()
        .filter(|id| {
            rill::checkpoint::store::exists(
                &storage::checkpoint_dir(job_dir, *id).join(storage::METADATA_FILE),
            )
        })
        .collect()
}

/// The sorted lines of every committed part file a two-phase-commit file sink wrote into
/// `dir`, a directory or an S3 prefix (in-progress and pending files are hidden).
pub fn committed_lines(dir: &std::path::Path) -> Vec<String> {
    use rill::checkpoint::store;
    let mut lines = Vec::new();
    for name in store::files(dir).expect("output dir") {
        if name.starts_with("part-") {
            let bytes = store::read(&dir.join(&name)).expect("part file");
            lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
        }
    }
    lines.sort_unstable();
    lines
}

/// Triggers a savepoint of `job` (retrying while its subtasks are not all running yet) and
/// returns its id.
pub async fn trigger_savepoint(c: &MiniCluster, job: JobId) -> u64 {
    trigger_savepoint_with(c, job, None).await
}

/// As [`trigger_savepoint`]; `stop` (`Some(drain)`) stops the job with it.
pub async fn trigger_savepoint_with(c: &MiniCluster, job: JobId, stop: Option<bool>) -> u64 {
    use rill::actors::dispatcher::TriggerJobSavepoint;
    let start = Instant::now();
    loop {
        let asked = c
            .dispatcher()
            .send(TriggerJobSavepoint {
                job_id: job,
                target: None,
                stop,
            })
            .await
            .expect("dispatcher")
            .expect("known job");
        match asked {
            Ok(id) => return id,
            Err(why) => {
                assert!(start.elapsed() < Duration::from_secs(20), "{why}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// The outcome of savepoint `id`: `None` while it is in flight.
pub async fn savepoint_status(
    c: &MiniCluster,
    job: JobId,
    id: u64,
) -> Option<Result<String, String>> {
    use rill::actors::dispatcher::RequestSavepointStatus;
    c.dispatcher()
        .send(RequestSavepointStatus { job_id: job, id })
        .await
        .expect("dispatcher")
        .expect("known savepoint")
        .map(|outcome| outcome.map_err(|e| e.to_string()))
}

/// Waits (up to 30 s) for savepoint `id` to end.
pub async fn savepoint_outcome(c: &MiniCluster, job: JobId, id: u64) -> Result<String, String> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(done) = savepoint_status(c, job, id).await {
            return done;
        }
        assert!(Instant::now() < end, "savepoint {id} still in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Ids of a job's vertices (from `GET /jobs/{id}`), in topological order.
pub fn vertex_ids(d: &serde_json::Value) -> Vec<String> {
    d["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_string())
        .collect()
}

/// A settings file in `dir` for process clusters that must notice a killed TaskManager fast
/// (heartbeats every 200 ms, lost after 1.5 s).
pub fn fast_failure_config(dir: &std::path::Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        "[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 1500\nrpc_timeout_ms = 2000\n",
    )
    .expect("config");
    p
}

/// Waits until `job` completed a checkpoint into `job_dir` (it must not finish first).
pub fn wait_for_a_checkpoint(
    c: &rill::launch::ProcessCluster,
    job: &str,
    job_dir: &std::path::Path,
) {
    let start = Instant::now();
    while completed_checkpoints(job_dir).is_empty() {
        let state = c.get(&format!("/jobs/{job}")).expect("job")["state"].clone();
        assert_ne!(
            state, "FINISHED",
            "the job finished before any checkpoint completed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no checkpoint in 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops `job` with a savepoint into `target` through `rill stop` (retried until every subtask
/// runs and it is accepted); the savepoint's path as printed.
pub fn stop_with_savepoint(
    c: &rill::launch::ProcessCluster,
    job: &str,
    target: &std::path::Path,
) -> String {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rill"));
    let start = Instant::now();
    let printed = loop {
        let o = std::process::Command::new(exe)
            .args([
                "stop",
                job,
                "--savepoint",
                target.to_str().expect("utf-8 path"),
            ])
            .env("RILL_REST", format!("http://{}", c.rest))
            .output()
            .expect("rill runs");
        if o.status.success() {
            break String::from_utf8_lossy(&o.stdout).to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stop never accepted: {o:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    printed
        .lines()
        .find_map(|l| l.strip_prefix("Savepoint completed. Path: "))
        .expect("the savepoint's path is printed")
        .to_string()
}

/// The uncompressed text of the Flink oracle `tests/data/oracles/{name}_1m.csv.gz`.
pub fn oracle(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oracles")
        .join(format!("{name}_1m.csv.gz"));
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .expect("gzip runs");
    assert!(out.status.success(), "gzip -dc {}", path.display());
    String::from_utf8(out.stdout).expect("utf8 oracle")
}
