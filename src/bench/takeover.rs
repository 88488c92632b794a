//! (i) Issue 22's HA takeover time: etcd (the `etcd` on the PATH, Debian's `etcd-server`), two
//! JobManagers and two TaskManagers (2 slots each) as processes with `--ha etcd://…`, the
//! bundled `keyed-sum` at parallelism 2 checkpointing every 500 ms. Each run waits for a
//! completed checkpoint, kills the leading JobManager (SIGKILL) and times until the new
//! leader runs every subtask of the job again (restored from that checkpoint); the killed
//! JobManager is then started again as a standby. Default timeouts: a lease TTL of 2 s.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bench::median;
use crate::graph::job_graph::SubmitOptions;
use crate::ha::{HaSettings, LeaderRetrieval};
use crate::launch::{free_tcp_port, free_udp_port, ChildProcess, LaunchError};
use crate::rest::model::SubmitJobRequest;
use crate::rest::RestClient;

/// Why the takeover benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    /// A process did not start or answer.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A REST call failed.
    #[error(transparent)]
    Rest(#[from] crate::rest::ClientError),
    /// A file or port could not be had.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// What the cluster did was not what the run waits for.
    #[error("{0}")]
    Failed(String),
}

const LIMIT: Duration = Duration::from_secs(60);

struct Cluster {
    exe: PathBuf,
    dir: PathBuf,
    ha: Vec<String>,
    secret: String,
    leader: LeaderRetrieval,
    job_managers: Vec<(ChildProcess, String)>,
    _task_managers: Vec<ChildProcess>,
    _etcd: ChildProcess,
}

impl Cluster {
    fn start(exe: &Path, dir: &Path) -> Result<Self, TakeoverError> {
        let (port, peer) = (free_tcp_port()?, free_tcp_port()?);
        let args = crate::launch::etcd_args("bench", &dir.join("etcd"), port, peer);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let etcd = ChildProcess::start(Path::new("etcd"), &args, &[])?;
        let cluster_id = format!("bench-{:08x}", crate::util::random_u64() as u32);
        let ha = vec![
            "--ha".to_string(),
            format!("etcd://127.0.0.1:{port}"),
            "--cluster-id".into(),
            cluster_id.clone(),
        ];
        let settings = HaSettings::parse(&ha[1], Some(&cluster_id))
            .map_err(|e| TakeoverError::Failed(e.to_string()))?
            .ok_or_else(|| TakeoverError::Failed("no HA settings".into()))?;
        let start = Instant::now();
        let etcd_client = loop {
            match settings.connect() {
                Ok(c) => break c,
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    return Err(TakeoverError::Failed(format!(
                        "etcd (Debian's etcd-server) did not start: {e}"
                    )))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let mut c = Self {
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            ha,
            secret: format!("bench-{:016x}", crate::util::random_u64()),
            leader: LeaderRetrieval::new(etcd_client, &settings),
            job_managers: Vec::new(),
            _task_managers: Vec::new(),
            _etcd: etcd,
        };
        for _ in 0..2 {
            c.add_job_manager()?;
        }
        for _ in 0..2 {
            let mut args = vec!["taskmanager", "--slots", "2"];
            args.extend(c.ha.iter().map(String::as_str));
            let tm = ChildProcess::start(&c.exe, &args, &c.env())?;
            c._task_managers.push(tm);
        }
        Ok(c)
    }

    fn env(&self) -> [(&'static str, &str); 2] {
        [("RILL_CLUSTER_SECRET", &self.secret), ("RILL_LOG", "warn")]
    }

    fn add_job_manager(&mut self) -> Result<(), TakeoverError> {
        let bind = format!("127.0.0.1:{}", free_udp_port()?);
        let mut args = vec!["jobmanager", "--bind", &bind, "--rest", "127.0.0.1:0"];
        args.extend(self.ha.iter().map(String::as_str));
        let jm = ChildProcess::start(&self.exe, &args, &self.env())?;
        let line = jm.wait_for("REST API listening on http://", LIMIT)?;
        let rest = line
            .split("http://")
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_string();
        self.job_managers.push((jm, rest));
        Ok(())
    }

    /// The index of the leading JobManager, once one leads.
    fn wait_leader(&self, not: Option<usize>) -> Result<usize, TakeoverError> {
        let start = Instant::now();
        loop {
            if let Ok(Some((info, _))) = self.leader.leader() {
                let i = self
                    .job_managers
                    .iter()
                    .position(|(_, rest)| info.rest == format!("http://{rest}"));
                if let Some(i) = i.filter(|i| Some(*i) != not) {
                    return Ok(i);
                }
            }
            if start.elapsed() > LIMIT {
                return Err(TakeoverError::Failed("no JobManager leads".into()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn client(&self, i: usize) -> RestClient {
        RestClient::new(&self.job_managers[i].1)
    }
}

/// Runs (i): `runs` takeovers in one cluster; the lines to print.
pub fn run(runs: usize) -> Result<Vec<String>, TakeoverError> {
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!(
        "rill-bench-takeover-{}-{:08x}",
        std::process::id(),
        crate::util::random_u64() as u32
    ));
    std::fs::create_dir_all(&dir)?;
    let result = measure(&exe, &dir, runs.max(1));
    let _ = std::fs::remove_dir_all(&dir);
    let times = result?;
    let list: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
    Ok(vec![format!(
        "(i) HA takeover, leading JobManager SIGKILLed → every subtask RUNNING on the new leader (etcd, 2 JobManagers, 2 TaskManagers, keyed-sum p=2, lease TTL 2 s): median {:.2} s over {} runs (runs: {})",
        median(&times),
        times.len(),
        list.join(", ")
    )])
}

fn measure(exe: &Path, dir: &Path, runs: usize) -> Result<Vec<f64>, TakeoverError> {
    let mut c = Cluster::start(exe, dir)?;
    let mut leader = c.wait_leader(None)?;
    let request = SubmitJobRequest {
        job: "keyed-sum".into(),
        args: ["--records", "1000000000000", "--keys", "100000"]
            .map(String::from)
            .to_vec(),
        parallelism: Some(2),
        options: SubmitOptions {
            checkpoint_interval_ms: Some(500),
            checkpoint_dir: Some(c.dir.join("checkpoints")),
            ..SubmitOptions::default()
        },
    };
    let job = c.client(leader).submit(&request)?.jobid;
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        while c
            .client(leader)
            .get_json(&format!("/jobs/{job}/checkpoints"))
            .ok()
            .and_then(|v| v["counts"]["completed"].as_u64())
            .unwrap_or(0)
            == 0
        {
            if start.elapsed() > LIMIT {
                return Err(TakeoverError::Failed("no checkpoint completed".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = Instant::now();
        c.job_managers[leader].0.kill();
        let next = loop {
            let next = c.wait_leader(Some(leader))?;
            if c.client(next).runs_every_subtask(&job) {
                break next;
            }
            if killed.elapsed() > LIMIT {
                return Err(TakeoverError::Failed("the job did not run again".into()));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        times.push(killed.elapsed().as_secs_f64());
        // The killed JobManager comes back as a standby, in its place.
        let (old, _) = c.job_managers.remove(leader);
        drop(old);
        leader = if next > leader { next - 1 } else { next };
        c.add_job_manager()?;
    }
    let _ = c.client(leader).cancel(&job);
    Ok(times)
}
