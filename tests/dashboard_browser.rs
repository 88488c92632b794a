//! The web dashboard in a real browser: Debian's `chromium` driven by `playwright-core`
//! (both installed by `scripts/deps.sh --tests`) runs `tests/browser/dashboard.mjs` against
//! a `rill local` cluster, then against a JobManager with two TaskManager processes, one of
//! which it SIGKILLs. The script asserts on what the pages render (see its header); this test
//! starts the clusters, bounds the script's time, and kills its whole process group (the
//! browser included) whatever happens. Screenshots go to `target/dashboard-screenshots/`.
//! Beside it, a plain HTTP test of how the files are served (types, ETag, CSP) and of the
//! bundled jobs the submit form lists.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::LocalCluster;
use rill::graph::job_graph::SubmitOptions;
use rill::graph::RestartStrategy;
use rill::launch::ProcessCluster;
use serde_json::json;

/// `GET path` without following anything: status, content type, ETag, body.
fn fetch(base: &str, path: &str, etag: Option<&str>) -> (u16, String, String, Vec<u8>) {
    let mut req = ureq::get(&format!("{base}{path}")).timeout(Duration::from_secs(10));
    if let Some(e) = etag {
        req = req.set("If-None-Match", e);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let status = resp.status();
    let ctype = resp.header("content-type").unwrap_or_default().to_string();
    let tag = resp.header("etag").unwrap_or_default().to_string();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).expect("body");
    (status, ctype, tag, body)
}

#[test]
fn the_dashboard_is_served_from_the_binary() {
    let local = LocalCluster::start();
    let s = local.url.as_str();
    let (status, ctype, etag, page) = fetch(s, "/", None);
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
    let page = String::from_utf8(page).expect("utf-8");
    assert!(
        page.contains("<title>Rill</title>") && page.contains("/web/app.js"),
        "{page}"
    );
    // Unchanged content is not sent again.
    let (status, _, _, body) = fetch(s, "/", Some(&etag));
    assert_eq!((status, body.len()), (304, 0));
    // Every file the page loads is there, with its type; nothing is fetched from elsewhere.
    for (path, ctype) in [
        ("/web/app.js", "text/javascript; charset=utf-8"),
        ("/web/views/actors.js", "text/javascript; charset=utf-8"),
        ("/web/vendor/dagre.esm.js", "text/javascript; charset=utf-8"),
        ("/web/css/base.css", "text/css; charset=utf-8"),
        ("/web/favicon.svg", "image/svg+xml"),
    ] {
        let (status, got, _, body) = fetch(s, path, None);
        assert_eq!((status, got.as_str()), (200, ctype), "{path}");
        assert!(!body.is_empty(), "{path}");
    }
    let csp = ureq::get(&format!("{s}/"))
        .call()
        .expect("page")
        .header("content-security-policy")
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    // The bundled jobs the submit form offers.
    let jobs = common::get_ok(&format!("{s}/bundled-jobs"));
    let names: Vec<&str> = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert!(
        names.contains(&"clickstream") && names.contains(&"wordcount"),
        "{names:?}"
    );
    assert_eq!(
        jobs["jobs"][0]["arguments"],
        json!(["input", "output", "on-bad-line", "sink"])
    );
}

/// How long one phase of the script may run (it stops itself at 150 s).
const PHASE_LIMIT: Duration = Duration::from_secs(170);

/// The script's process group, killed (browser and all) when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        // The group is often gone already (the script ended and closed its browser).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// The playwright-core package: `$PLAYWRIGHT_CORE`, else where deps.sh installs it.
fn playwright_core() -> PathBuf {
    if let Some(p) = std::env::var_os("PLAYWRIGHT_CORE") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/rill-npm/node_modules/playwright-core")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs one phase of the script to its end; panics with its output unless it passed.
fn run_phase(args: &[&str]) {
    let pw = playwright_core();
    assert!(
        pw.join("package.json").exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium and npm's playwright-core ({}): run scripts/deps.sh --tests",
        pw.display()
    );
    let shots = root().join("target/dashboard-screenshots");
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/browser/dashboard.mjs"))
        .args(args)
        .env("PLAYWRIGHT_CORE", &pw)
        .env("RILL_SCREENSHOTS", &shots)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut group = Group(cmd.spawn().expect("node starts (is nodejs installed?)"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = group.0.try_wait().expect("wait for node") {
            break s;
        }
        assert!(
            start.elapsed() < PHASE_LIMIT,
            "the browser test {args:?} ran past {PHASE_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = group.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = group.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    println!("{out}");
    assert!(
        status.success(),
        "the browser test {args:?} failed ({status}); screenshots in {}\n{out}\n{err}",
        shots.display()
    );
    assert!(out.contains("all checks passed"), "{out}");
}

#[test]
fn the_dashboard_shows_a_local_cluster_and_a_cluster_of_processes_losing_a_taskmanager() {
    // 1. `rill local`: everything a user does from the pages.
    {
        let local = LocalCluster::start();
        run_phase(&["local", &local.url]);
    }

    // 2. A JobManager and two TaskManager processes; one is killed while the page watches.
    let dir = common::temp_dir("dashboard-browser");
    let config = dir.join("rill.toml");
    std::fs::write(
        &config,
        "[jobmanager]\nactors_stream_interval_ms = 500\n\
         [runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 2000\n",
    )
    .expect("config");
    let secret = "test-secret-dashboard";
    let mut cluster = ProcessCluster::start(
        Path::new(env!("CARGO_BIN_EXE_rill")),
        Some(&config),
        secret,
        &[],
    )
    .expect("job manager");
    for _ in 0..2 {
        cluster.add_task_manager(2, secret).expect("task manager");
    }
    cluster
        .wait_registered(2, Duration::from_secs(30))
        .expect("registered");
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(500),
        checkpoint_dir: Some(dir.join("checkpoints")),
        restart_strategy: Some(RestartStrategy::fixed_delay(5, Duration::from_millis(500))),
        ..SubmitOptions::default()
    };
    let job = cluster
        .submit_with("clickstream", &["--rate", "2000"], 2, options)
        .expect("submitted");
    let end = Instant::now() + Duration::from_secs(30);
    while cluster.get(&format!("/jobs/{job}")).expect("job")["state"] != "RUNNING" {
        assert!(Instant::now() < end, "the job did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let victim = cluster.task_managers[0].id().to_string();
    let url = format!("http://{}", cluster.rest);
    run_phase(&["cluster", &url, &job, &victim]);
    let _ = std::fs::remove_dir_all(&dir);
}
