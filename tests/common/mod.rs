//! Helpers shared by the integration tests: running programs on a mini cluster with a bound on
//! their time, and deterministic inputs.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rill::actors::dispatcher::JobResult;
use rill::actors::{MiniCluster, MiniClusterConfig};
use rill::api::StreamEnv;
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
