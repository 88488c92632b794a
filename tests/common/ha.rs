//! An HA cluster of real processes for the tests: a real etcd ([`EtcdServer`]), JobManagers
//! and TaskManagers started with `--ha etcd://… --cluster-id NAME`, each writing its output
//! into a log file of its own in the test's directory. Dropping it kills them all.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::launch::{free_udp_port, ChildProcess};
use rill::rest::RestClient;

use super::etcd::EtcdServer;

/// The cluster secret of the HA tests.
pub const SECRET: &str = "ha-test-secret";
const STARTUP: Duration = Duration::from_secs(20);

/// One JobManager process.
pub struct JobManager {
    /// The process.
    pub process: ChildProcess,
    /// Its REST address, `127.0.0.1:PORT`.
    pub rest: String,
}

/// etcd, JobManagers and TaskManagers of one cluster id.
pub struct HaCluster {
    exe: PathBuf,
    /// The test's directory (logs, settings file).
    pub dir: PathBuf,
    config: PathBuf,
    /// The etcd every process uses.
    pub etcd: EtcdServer,
    cluster: String,
    /// The JobManagers in start order; `None` once killed.
    pub job_managers: Vec<Option<JobManager>>,
    /// The TaskManagers in start order.
    pub task_managers: Vec<ChildProcess>,
    started: usize,
}

impl HaCluster {
    /// Starts etcd, `jms` JobManagers (the first leads) and one TaskManager per entry of
    /// `slots`, with `settings` (TOML) in their settings file; waits until the TaskManagers
    /// registered with the leader.
    pub fn start(exe: &Path, dir: &Path, settings: &str, jms: usize, slots: &[usize]) -> Self {
        let config = dir.join("rill.toml");
        std::fs::write(&config, settings).expect("settings file");
        let mut c = Self {
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            config,
            etcd: EtcdServer::start(),
            cluster: format!("ha-{:08x}", rill::util::random_u64() as u32),
            job_managers: Vec::new(),
            task_managers: Vec::new(),
            started: 0,
        };
        for _ in 0..jms {
            c.add_job_manager();
            if c.job_managers.len() == 1 {
                c.wait_leader(STARTUP);
            }
        }
        for &n in slots {
            c.add_task_manager(n);
        }
        let leader = c.wait_leader(STARTUP);
        c.wait_registered(leader, slots.len(), STARTUP);
        c
    }

    /// `--ha … --cluster-id …`.
    pub fn ha_args(&self) -> Vec<String> {
        vec![
            "--ha".into(),
            format!("etcd://{}", self.etcd.endpoint()),
            "--cluster-id".into(),
            self.cluster.clone(),
        ]
    }

    fn spawn(&mut self, role: &str, args: &[String]) -> ChildProcess {
        self.started += 1;
        let log = self.dir.join(format!("{role}-{}.log", self.started));
        let mut all: Vec<&str> = vec![role, "--config", self.config.to_str().expect("utf-8")];
        all.extend(args.iter().map(String::as_str));
        ChildProcess::start_logged(
            &self.exe,
            &all,
            &[("RILL_CLUSTER_SECRET", SECRET), ("RILL_LOG", "info")],
            Some(&log),
        )
        .expect("process starts")
    }

    /// Starts one more JobManager (a standby while another leads); returns its index.
    pub fn add_job_manager(&mut self) -> usize {
        let rpc = format!("127.0.0.1:{}", free_udp_port().expect("port"));
        let mut args = vec![
            "--bind".to_string(),
            rpc,
            "--rest".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(self.ha_args());
        let process = self.spawn("jobmanager", &args);
        let line = process
            .wait_for("REST API listening on http://", STARTUP)
            .expect("the JobManager starts");
        let rest = line
            .split("http://")
            .nth(1)
            .expect("an address")
            .trim()
            .to_string();
        self.job_managers.push(Some(JobManager { process, rest }));
        self.job_managers.len() - 1
    }

    /// Starts one more TaskManager with `slots` slots.
    pub fn add_task_manager(&mut self, slots: usize) {
        let mut args = vec!["--slots".to_string(), slots.to_string()];
        args.extend(self.ha_args());
        let tm = self.spawn("taskmanager", &args);
        self.task_managers.push(tm);
    }

    /// The index of the JobManager the leader key names, if any.
    pub fn leader(&self) -> Option<usize> {
        let key = rill::ha::leader_key(&self.cluster);
        let etcd = rill::ha::Etcd::connect(&[self.etcd.endpoint()], Duration::from_secs(2)).ok()?;
        let kv = etcd.get(&key).ok()??;
        let info: rill::ha::LeaderInfo = serde_json::from_slice(&kv.value).ok()?;
        self.job_managers.iter().position(|j| {
            j.as_ref()
                .is_some_and(|j| info.rest == format!("http://{}", j.rest))
        })
    }

    /// Waits until a running JobManager leads and every other one that answers knows it
    /// (no longer answers 503 "no JobManager leads": a standby learns the leader from etcd
    /// a moment after the key is written); returns the leader's index.
    pub fn wait_leader(&self, limit: Duration) -> usize {
        let start = Instant::now();
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(Duration::from_secs(2))
            .build();
        loop {
            if let Some(l) = self.leader() {
                let known = self.job_managers.iter().flatten().all(|j| {
                    !matches!(
                        agent.get(&format!("http://{}/overview", j.rest)).call(),
                        Err(ureq::Error::Status(503, _))
                    )
                });
                if known {
                    return l;
                }
            }
            assert!(
                start.elapsed() < limit,
                "no leader known to all within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A REST client of JobManager `i`.
    pub fn client(&self, i: usize) -> RestClient {
        RestClient::new(&self.job_managers[i].as_ref().expect("running").rest)
    }

    /// `GET path` on JobManager `i`.
    pub fn get(&self, i: usize, path: &str) -> serde_json::Value {
        self.client(i).get_json(path).expect("GET")
    }

    /// Waits until `n` TaskManagers are registered with JobManager `i`.
    pub fn wait_registered(&self, i: usize, n: usize, limit: Duration) {
        let start = Instant::now();
        while !self
            .client(i)
            .get_json("/overview")
            .is_ok_and(|o| o["taskmanagers"] == n)
        {
            assert!(
                start.elapsed() < limit,
                "{n} TaskManagers not registered with JobManager {i} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends JobManager `i` `signal` (if any) and waits up to `limit` for it to exit
    /// (`expected`: the panic message if it does not): its exit status. It is then no longer
    /// one of the cluster's running JobManagers.
    pub fn wait_job_manager_exit(
        &mut self,
        i: usize,
        signal: Option<&str>,
        limit: Duration,
        expected: &str,
    ) -> std::process::ExitStatus {
        let mut j = self.job_managers[i].take().expect("running");
        if let Some(signal) = signal {
            j.process.signal(signal).expect("signal sent");
        }
        j.process.wait_exit(limit).expect(expected)
    }

    /// Kills JobManager `i` (SIGKILL).
    pub fn kill_job_manager(&mut self, i: usize) {
        if let Some(mut j) = self.job_managers[i].take() {
            j.process.kill();
        }
    }

    /// Whether every subtask of `job` runs, as JobManager `i` sees it.
    pub fn all_running(&self, i: usize, job: &str) -> bool {
        self.client(i).runs_every_subtask(job)
    }

    /// Waits until `job` ended, as any running JobManager answers (a standby redirects to
    /// the leader, and the leader may change again on its own: a leader whose lease renewal
    /// was held up past its TTL on a loaded machine steps down, and the job fails over);
    /// returns its details.
    pub fn wait_end(&self, job: &str, limit: Duration) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let ended = self.job_managers.iter().flatten().find_map(|j| {
                let d = RestClient::new(&j.rest)
                    .get_json(&format!("/jobs/{job}"))
                    .ok()?;
                let end = matches!(
                    d["state"].as_str(),
                    Some("FINISHED" | "FAILED" | "CANCELED")
                );
                end.then_some(d)
            });
            if let Some(d) = ended {
                return d;
            }
            assert!(
                start.elapsed() < limit,
                "job {job} did not end within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
