//! (f) Issue 6's recovery time: a JobManager and two TaskManager processes (2 slots each) run
//! the bundled `keyed-sum` at parallelism 2 with `keys` keys of heap state, checkpointing
//! every second. Once a completed checkpoint holds `state_bytes` (its state size), the
//! TaskManager running the keyed subtasks is killed with SIGKILL. Reported separately: detection, from the kill to the JobManager's
//! decision to restart (the exception history's timestamp: the heartbeat timeout and one
//! heartbeat round), and restart, from that decision until every subtask runs again with its
//! state restored (subtasks report RUNNING only after their restore).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::bench::median;
use crate::graph::job_graph::SubmitOptions;
use crate::graph::RestartStrategy;
use crate::launch::{LaunchError, ProcessCluster};

/// The measurement of one run.
struct Recovery {
    state_bytes: u64,
    detection: Duration,
    restart: Duration,
}

/// Runs (f) `runs` times with `keys` keys, killing once a checkpoint holds `state_bytes`,
/// with a heartbeat timeout of `heartbeat_timeout`.
pub fn run(
    keys: u64,
    state_bytes: u64,
    runs: usize,
    heartbeat_timeout: Duration,
) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the rill binary: {e}"))?;
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        let dir = std::env::temp_dir().join(format!(
            "rill-bench-recovery-{}-{:08x}",
            std::process::id(),
            crate::util::random_u64() as u32
        ));
        let r = run_once(&exe, &dir, keys, state_bytes, heartbeat_timeout);
        let _ = std::fs::remove_dir_all(&dir);
        all.push(r.map_err(|e| format!("(f) recovery: {e}"))?);
    }
    let secs = |f: &dyn Fn(&Recovery) -> Duration| {
        median(&all.iter().map(|r| f(r).as_secs_f64()).collect::<Vec<_>>())
    };
    let mb = median(
        &all.iter()
            .map(|r| r.state_bytes as f64 / 1e6)
            .collect::<Vec<_>>(),
    );
    let list = |f: &dyn Fn(&Recovery) -> Duration| {
        all.iter()
            .map(|r| format!("{:.2}", f(r).as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(vec![
        format!(
            "(f) recovery after a TaskManager SIGKILL, keyed-sum p=2, {mb:.0} MB of heap state (checkpoint state size): detection median {:.2} s (heartbeat timeout {:.1} s; runs: {})",
            secs(&|r| r.detection),
            heartbeat_timeout.as_secs_f64(),
            list(&|r| r.detection)
        ),
        format!(
            "(f) recovery, restart part (cancel, redeploy, restore, RUNNING): median {:.2} s over {} runs (runs: {})",
            secs(&|r| r.restart),
            all.len(),
            list(&|r| r.restart)
        ),
    ])
}

fn run_once(
    exe: &Path,
    dir: &Path,
    keys: u64,
    target: u64,
    heartbeat_timeout: Duration,
) -> Result<Recovery, String> {
    let err = |e: LaunchError| e.to_string();
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let config = dir.join("rill.toml");
    let timeout_ms = heartbeat_timeout.as_millis().max(4) as u64;
    std::fs::write(
        &config,
        format!(
            "[runtime]\nheartbeat_interval_ms = {}\nheartbeat_timeout_ms = {timeout_ms}\n",
            timeout_ms / 4
        ),
    )
    .map_err(|e| e.to_string())?;
    let secret = format!("bench-{:016x}", crate::util::random_u64());
    let mut c = ProcessCluster::start(exe, Some(&config), &secret, &[2, 2]).map_err(err)?;
    let mut ids = Vec::new();
    for tm in &c.task_managers {
        let line = tm
            .wait_for("TaskManager ", Duration::from_secs(10))
            .map_err(err)?;
        ids.push(
            line.split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string(),
        );
    }
    let options = SubmitOptions {
        checkpoint_interval_ms: Some(1_000),
        checkpoint_dir: Some(dir.join("checkpoints")),
        restart_strategy: Some(RestartStrategy::fixed_delay(1, Duration::ZERO)),
        ..SubmitOptions::default()
    };
    let keys = keys.to_string();
    let job = c
        .submit_with(
            "keyed-sum",
            &["--records", "1000000000000", "--keys", &keys],
            2,
            options,
        )
        .map_err(err)?;
    let end = Instant::now() + Duration::from_secs(180);
    let state_bytes = loop {
        let cp = c.get(&format!("/jobs/{job}/checkpoints")).map_err(err)?;
        let size = cp["latest"]["completed"]["state_size"]
            .as_u64()
            .unwrap_or(0);
        if size >= target {
            break size;
        }
        if Instant::now() > end {
            return Err(format!("no checkpoint of {target} bytes in 180 s: {cp}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let details = c.get(&format!("/jobs/{job}")).map_err(err)?;
    let keyed = details["vertices"][1]["id"]
        .as_str()
        .ok_or("the job has no second vertex")?
        .to_string();
    let hosts = c.placement(&job, &keyed).map_err(err)?;
    let victim = ids
        .iter()
        .position(|id| hosts.contains(id))
        .ok_or_else(|| format!("no TaskManager of {ids:?} runs the keyed subtasks ({hosts:?})"))?;
    let killed_at = SystemTime::now();
    c.task_managers.remove(victim).kill();
    // The decision to restart, as the exception history dates it.
    let end = Instant::now() + Duration::from_secs(60);
    let decided_ms = loop {
        let ex = c.get(&format!("/jobs/{job}/exceptions")).map_err(err)?;
        if let Some(t) = ex["exceptionHistory"]["entries"][0]["timestamp"].as_i64() {
            break t;
        }
        if Instant::now() > end {
            return Err("the job did not restart within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let decided = SystemTime::UNIX_EPOCH + Duration::from_millis(decided_ms.max(0) as u64);
    loop {
        let d = c.get(&format!("/jobs/{job}")).map_err(err)?;
        let vertices = d["vertices"].as_array().cloned().unwrap_or_default();
        let attempts_running = vertices.iter().all(|v| v["status"] == "RUNNING");
        if d["state"] == "RUNNING" && attempts_running && !vertices.is_empty() {
            break;
        }
        if matches!(
            d["state"].as_str(),
            Some("FAILED" | "CANCELED" | "FINISHED")
        ) {
            return Err(format!("the job ended: {d}"));
        }
        if Instant::now() > end {
            return Err("the job did not run again within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = SystemTime::now();
    Ok(Recovery {
        state_bytes,
        detection: decided.duration_since(killed_at).unwrap_or_default(),
        restart: running.duration_since(decided).unwrap_or_default(),
    })
}
