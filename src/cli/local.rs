//! The commands that run an embedded mini cluster in this process: `run --local` and `local`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;

use actix::System;

use crate::actors::{ClusterError, MiniCluster, MiniClusterConfig};
use crate::graph::job_graph::SubmitOptions;
use crate::graph::{JobGraph, JobStatus};
use crate::jobs::JobRegistry;
use crate::rest::RestHandle;

use super::{usage_error, EXIT_JOB_FAILED};

#[allow(clippy::too_many_arguments)]
pub(super) fn run_local(
    registry: Arc<JobRegistry>,
    parallelism: Option<usize>,
    taskmanagers: usize,
    slots: Option<usize>,
    job: &str,
    args: &[String],
    options: &SubmitOptions,
) -> ExitCode {
    if taskmanagers == 0 || slots == Some(0) || parallelism == Some(0) {
        return usage_error("--taskmanagers, --slots and --parallelism must be at least 1");
    }
    let needed = match registry.build(job, args, parallelism, 1) {
        Ok(sg) => JobGraph::from_stream_graph(&sg).slots_needed(),
        Err(e) => return usage_error(e),
    };
    let slots = slots.unwrap_or_else(|| needed.div_ceil(taskmanagers));
    let config = MiniClusterConfig {
        task_managers: taskmanagers,
        slots_per_task_manager: slots,
        ..MiniClusterConfig::default()
    };
    let (job, args, options) = (job.to_string(), args.to_vec(), options.clone());
    let outcome = System::new().block_on(async move {
        let cluster = MiniCluster::start(config, registry).await?;
        let id = cluster
            .submit_registered_with(&job, &args, parallelism, &options)
            .await?;
        eprintln!("Job {id} ({job}) submitted");
        let result = cluster.wait(id).await;
        cluster.shutdown();
        result
    });
    match outcome {
        Ok(r) if r.status == JobStatus::Finished => {
            eprintln!(
                "Job {} FINISHED in {:.3}s",
                r.job_id,
                r.duration.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!(
                "Job {} {}: {}",
                r.job_id,
                r.status,
                r.failure.unwrap_or_else(|| "no cause recorded".into())
            );
            ExitCode::from(EXIT_JOB_FAILED)
        }
        Err(e) => {
            eprintln!("rill: {e}");
            ExitCode::from(EXIT_JOB_FAILED)
        }
    }
}

/// Why `rill local` stopped.
#[derive(Debug, thiserror::Error)]
enum LocalError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot serve the REST API on {addr}: {source}")]
    Rest {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub(super) fn local_cluster(
    registry: Arc<JobRegistry>,
    taskmanagers: usize,
    slots: usize,
    rest: &str,
) -> ExitCode {
    if taskmanagers == 0 || slots == 0 {
        return usage_error("--taskmanagers and --slots must be at least 1");
    }
    let bind = match rest.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => return usage_error(format!("--rest {rest}: no address")),
        Err(e) => return usage_error(format!("--rest {rest}: {e}")),
    };
    let config = MiniClusterConfig {
        task_managers: taskmanagers,
        slots_per_task_manager: slots,
        ..MiniClusterConfig::default()
    };
    let outcome = System::new().block_on(async move {
        let cluster = MiniCluster::start(config, registry.clone()).await?;
        let handle = RestHandle::new(
            cluster.dispatcher().clone(),
            cluster.resource_manager().clone(),
            registry,
            cluster.default_parallelism(),
        )
        .with_actors(cluster.actors().clone());
        let (server, addr) = crate::rest::serve(bind, handle)
            .map_err(|source| LocalError::Rest { addr: bind, source })?;
        let server_handle = server.handle();
        actix::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "REST server stopped");
            }
        });
        let o = cluster.overview().await?;
        println!(
            "Rill mini cluster up: {} TaskManagers, {} slots; REST API at http://{addr} (Ctrl-C stops it)",
            o.task_managers, o.slots_total
        );
        let _ = tokio::signal::ctrl_c().await;
        server_handle.stop(true).await;
        cluster.shutdown();
        Ok::<_, LocalError>(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rill: {e}");
            ExitCode::from(EXIT_JOB_FAILED)
        }
    }
}
