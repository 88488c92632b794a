//! Starting a cluster of `rill` processes on loopback: a JobManager and TaskManagers as
//! children of this process, reached over REST. Used by `rill bench --shuffle` and by the
//! process-level tests; every child is killed (SIGKILL) when its handle drops, so an error or
//! a panic leaves nothing running.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::rest::client::{ClientError, RestClient};
use crate::rest::model::SubmitJobRequest;

/// Why a process or a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The executable could not be started.
    #[error("cannot start {exe}: {source}")]
    Spawn {
        /// The executable.
        exe: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An expected line never came.
    #[error("no line containing {needle:?} within {limit:?}")]
    NoLine {
        /// What was awaited.
        needle: String,
        /// How long.
        limit: Duration,
    },
    /// A REST request failed.
    #[error(transparent)]
    Rest(#[from] ClientError),
    /// Something did not happen in time.
    #[error("{0}")]
    Timeout(String),
    /// A run went wrong.
    #[error("{0}")]
    Failed(String),
    /// No free port could be found.
    #[error("no free port: {0}")]
    Port(std::io::Error),
}

/// A child process, killed on drop; its stdout and stderr lines arrive on a channel.
pub struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProcess {
    /// Its resident set size in KiB (Linux `/proc`); `None` once it has exited.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Starts `exe` with `args` and the environment `env`.
    pub fn start(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self, LaunchError> {
        Self::start_logged(exe, args, env, None)
    }

    /// As [`ChildProcess::start`]; every line the process prints is also appended to `log`.
    pub fn start_logged(
        exe: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Result<Self, LaunchError> {
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| LaunchError::Spawn {
            exe: exe.display().to_string(),
            source,
        })?;
        let (tx, lines) = mpsc::channel();
        let streams: Vec<Box<dyn Read + Send>> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        let log = match log {
            Some(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| LaunchError::Spawn {
                        exe: path.display().to_string(),
                        source,
                    })?;
                Some(std::sync::Arc::new(std::sync::Mutex::new(f)))
            }
            None => None,
        };
        for stream in streams {
            let (tx, log) = (tx.clone(), log.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(Ok(mut f)) = log.as_ref().map(|l| l.lock()) {
                        let _ = writeln!(f, "{line}");
                    }
                    // The reader may be gone; the log still gets every line.
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Self { child, lines })
    }

    /// Waits for a line containing `needle`; returns it.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> Result<String, LaunchError> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Ok(l),
                Ok(_) => {}
                Err(_) => {
                    return Err(LaunchError::NoLine {
                        needle: needle.into(),
                        limit,
                    })
                }
            }
        }
    }

    /// The process's id (for reading its `/proc` entries).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }

    /// Sends the process `signal` (a name `kill` takes: `STOP`, `CONT`, …).
    pub fn signal(&self, signal: &str) -> Result<(), LaunchError> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status()
            .map_err(|source| LaunchError::Spawn {
                exe: "kill".into(),
                source,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(LaunchError::Failed(format!(
                "kill -{signal} {} failed: {status}",
                self.id()
            )))
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The arguments of a single-member etcd named `name` on 127.0.0.1, serving clients on
/// `client_port` and keeping its data in `data_dir` (Debian's `etcd-server`).
pub fn etcd_args(name: &str, data_dir: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    [
        "--name",
        name,
        "--data-dir",
        &data_dir.display().to_string(),
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &format!("{name}={peer}"),
    ]
    .map(String::from)
    .to_vec()
}

/// A free UDP port on 127.0.0.1 (for a QUIC endpoint).
pub fn free_udp_port() -> Result<u16, LaunchError> {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(LaunchError::Port)
}

/// A free TCP port on 127.0.0.1 (for a server that takes its port as an argument).
pub fn free_tcp_port() -> Result<u16, LaunchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(LaunchError::Port)
}

/// A JobManager and TaskManagers, each its own process.
pub struct ProcessCluster {
    exe: PathBuf,
    secret: String,
    config: Option<PathBuf>,
    /// Where each process's output goes too (`jobmanager-<n>.log`, `taskmanager-<n>.log`),
    /// and the log filter the processes run with.
    logs: Option<(PathBuf, String)>,
    /// Processes started so far (numbers their logs).
    started: usize,
    /// The JobManager.
    pub job_manager: ChildProcess,
    /// The TaskManagers, in start order.
    pub task_managers: Vec<ChildProcess>,
    /// The JobManager's RPC address.
    pub rpc: String,
    /// The JobManager's REST address (`host:port`).
    pub rest: String,
    client: RestClient,
}

const STARTUP: Duration = Duration::from_secs(20);

impl ProcessCluster {
    /// Starts a JobManager from `exe` (with the settings file `config`, if any) and one
    /// TaskManager per entry of `slots`, and waits until they are all registered.
    pub fn start(
        exe: &Path,
        config: Option<&Path>,
        secret: &str,
        slots: &[usize],
    ) -> Result<Self, LaunchError> {
        Self::start_logged(exe, config, secret, slots, None)
    }

    /// As [`ProcessCluster::start`]; with `logs` (`(directory, RILL_LOG filter)`), every
    /// process's output is also written into a file of its own in the directory.
    pub fn start_logged(
        exe: &Path,
        config: Option<&Path>,
        secret: &str,
        slots: &[usize],
        logs: Option<(&Path, &str)>,
    ) -> Result<Self, LaunchError> {
        let rpc = format!("127.0.0.1:{}", free_udp_port()?);
        let logs = logs.map(|(d, f)| (d.to_path_buf(), f.to_string()));
        let jm_log = logs
            .as_ref()
            .map(|(d, f)| (d.join("jobmanager-0.log"), f.clone()));
        let (job_manager, rest) = start_job_manager(exe, config, secret, &rpc, jm_log.as_ref())?;
        let mut c = Self {
            exe: exe.to_path_buf(),
            secret: secret.into(),
            config: config.map(Path::to_path_buf),
            logs,
            started: 1,
            job_manager,
            task_managers: Vec::new(),
            rpc,
            client: RestClient::new(&rest),
            rest,
        };
        for &n in slots {
            c.add_task_manager(n, secret)?;
        }
        c.wait_registered(slots.len(), STARTUP)?;
        Ok(c)
    }

    /// Starts one more TaskManager with `slots` slots, proving `secret`.
    pub fn add_task_manager(&mut self, slots: usize, secret: &str) -> Result<(), LaunchError> {
        self.add_task_manager_with(slots, secret, &[])
    }

    /// Starts one more TaskManager with `slots` slots, proving `secret`, with `extra`
    /// command-line arguments.
    pub fn add_task_manager_with(
        &mut self,
        slots: usize,
        secret: &str,
        extra: &[&str],
    ) -> Result<(), LaunchError> {
        let slots = slots.to_string();
        let log = self.next_log("taskmanager");
        let mut args = vec!["taskmanager", "--jobmanager", &self.rpc, "--slots", &slots];
        let config = self.config.as_ref().map(|c| c.display().to_string());
        if let Some(c) = &config {
            args.extend(["--config", c]);
        }
        args.extend(extra);
        let filter = log.as_ref().map_or("warn", |(_, f)| f.as_str());
        let tm = ChildProcess::start_logged(
            &self.exe,
            &args,
            &env(secret, filter),
            log.as_ref().map(|(p, _)| p.as_path()),
        )?;
        self.task_managers.push(tm);
        Ok(())
    }

    /// The log file (and filter) of the next process started, if logs are kept.
    fn next_log(&mut self, role: &str) -> Option<(PathBuf, String)> {
        let n = self.started;
        self.started += 1;
        self.logs
            .as_ref()
            .map(|(d, f)| (d.join(format!("{role}-{n}.log")), f.clone()))
    }

    /// Kills the JobManager and starts a new one on the same RPC address.
    pub fn restart_job_manager(&mut self) -> Result<(), LaunchError> {
        self.job_manager.kill();
        let log = self.next_log("jobmanager");
        let (jm, rest) = start_job_manager(
            &self.exe,
            self.config.as_deref(),
            &self.secret,
            &self.rpc,
            log.as_ref(),
        )?;
        self.job_manager = jm;
        self.client = RestClient::new(&rest);
        self.rest = rest;
        Ok(())
    }

    /// `GET path` on the REST API, as JSON.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, LaunchError> {
        Ok(self.client.get_json(path)?)
    }

    /// Submits a registered job; returns its id.
    pub fn submit(&self, job: &str, args: &[&str], p: usize) -> Result<String, LaunchError> {
        self.submit_with(
            job,
            args,
            p,
            crate::graph::job_graph::SubmitOptions::default(),
        )
    }

    /// Submits a registered job with submission options (checkpointing, restoring).
    pub fn submit_with(
        &self,
        job: &str,
        args: &[&str],
        p: usize,
        options: crate::graph::job_graph::SubmitOptions,
    ) -> Result<String, LaunchError> {
        Ok(self
            .client
            .submit(&SubmitJobRequest {
                job: job.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                parallelism: Some(p),
                options,
            })?
            .jobid)
    }

    /// The TaskManagers the subtasks of `vertex` (an id from `GET /jobs/{job}`) were placed on;
    /// an error if a subtask has none.
    pub fn placement(&self, job: &str, vertex: &str) -> Result<BTreeSet<String>, LaunchError> {
        let v = self.get(&format!("/jobs/{job}/vertices/{vertex}"))?;
        let subtasks = v["subtasks"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        subtasks
            .iter()
            .map(|s| {
                s["taskmanager-id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| LaunchError::Failed(format!("subtask not placed: {s}")))
            })
            .collect()
    }

    /// Waits until `n` TaskManagers are registered.
    pub fn wait_registered(&self, n: usize, limit: Duration) -> Result<(), LaunchError> {
        let end = Instant::now() + limit;
        loop {
            if self.get("/overview")?["taskmanagers"] == n {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(LaunchError::Timeout(format!(
                    "{n} TaskManagers not registered within {limit:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the job has ended; returns its details.
    pub fn wait_end(&self, job: &str, limit: Duration) -> Result<serde_json::Value, LaunchError> {
        let end = Instant::now() + limit;
        loop {
            let d = self.get(&format!("/jobs/{job}"))?;
            if matches!(
                d["state"].as_str(),
                Some("FINISHED" | "FAILED" | "CANCELED")
            ) {
                return Ok(d);
            }
            if Instant::now() >= end {
                return Err(LaunchError::Timeout(format!(
                    "job {job} still {} after {limit:?}",
                    d["state"]
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn env<'a>(secret: &'a str, filter: &'a str) -> [(&'static str, &'a str); 2] {
    [("RILL_CLUSTER_SECRET", secret), ("RILL_LOG", filter)]
}

fn start_job_manager(
    exe: &Path,
    config: Option<&Path>,
    secret: &str,
    rpc: &str,
    log: Option<&(PathBuf, String)>,
) -> Result<(ChildProcess, String), LaunchError> {
    let mut args = vec!["jobmanager", "--bind", rpc, "--rest", "127.0.0.1:0"];
    let config = config.map(|c| c.display().to_string());
    if let Some(c) = &config {
        args.extend(["--config", c]);
    }
    let filter = log.map_or("warn", |(_, f)| f.as_str());
    let jm = ChildProcess::start_logged(
        exe,
        &args,
        &env(secret, filter),
        log.map(|(p, _)| p.as_path()),
    )?;
    let line = jm.wait_for("REST API listening on http://", STARTUP)?;
    let rest = line
        .split("http://")
        .nth(1)
        .map(|r| r.trim().to_string())
        .ok_or_else(|| LaunchError::Timeout(format!("no address in {line:?}")))?;
    Ok((jm, rest))
}
