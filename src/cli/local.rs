//! The commands that run an embedded mini cluster in this process: `run --local` and `local`.
//! `run --local` shows its job's progress on stderr (see [`progress`](super::progress)).

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::System;

use crate::actors::dispatcher::{JobResult, RequestJobCheckpoints, RequestJobDetails};
use crate::actors::{ClusterError, MiniCluster, MiniClusterConfig};
use crate::graph::job_graph::SubmitOptions;
use crate::graph::{JobGraph, JobStatus};
use crate::ids::JobId;
use crate::jobs::JobRegistry;
use crate::rest::model::epoch_millis;
use crate::rest::RestHandle;

use super::progress::{LastCheckpoint, Reporter, Snapshot, Style, SNAPSHOT_EVERY};
use super::{usage_error, EXIT_JOB_FAILED};

/// What the Dispatcher says of job `id` now (none if it does not answer).
async fn local_snapshot(cluster: &MiniCluster, id: JobId) -> Option<Snapshot> {
    let dispatcher = cluster.dispatcher();
    let info = dispatcher
        .send(RequestJobDetails { job_id: id })
        .await
        .ok()?
        .ok()?;
    let checkpoints = dispatcher
        .send(RequestJobCheckpoints { job_id: id })
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    let now = epoch_millis(SystemTime::now());
    let subtasks = || info.vertices.iter().flat_map(|v| &v.subtasks);
    let out_rate = (!info.status.is_globally_terminal()).then(|| {
        subtasks()
            .map(|s| s.rates.unwrap_or_default().records_out_per_second)
            .sum()
    });
    let last_checkpoint = checkpoints
        .and_then(|c| c.latest.completed)
        .map(|c| LastCheckpoint {
            id: c.id,
            age: Duration::from_millis(
                u64::try_from(now.saturating_sub(c.trigger_timestamp))
                    .unwrap_or(0)
                    .saturating_sub(c.duration_ms),
            ),
        });
    Some(Snapshot {
        state: info.status,
        elapsed: info.duration,
        records_in: subtasks().map(|s| s.io.records_in).sum(),
        records_out: subtasks().map(|s| s.io.records_out).sum(),
        out_rate,
        last_checkpoint,
    })
}

/// Waits for job `id`'s end, showing its progress about once a second.
async fn follow_local<W: Write>(
    cluster: &MiniCluster,
    id: JobId,
    reporter: &mut Reporter<W>,
) -> Result<JobResult, ClusterError> {
    let job = id.to_string();
    let wait = cluster.wait(id);
    tokio::pin!(wait);
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            result = &mut wait => {
                match (&result, local_snapshot(cluster, id).await) {
                    (Ok(_), Some(s)) => reporter.finish(&job, &s),
                    _ => reporter.end_line(),
                }
                return result;
            }
            _ = tick.tick() => {
                if let Some(s) = local_snapshot(cluster, id).await {
                    reporter.show(&job, &s, Instant::now());
                }
            }
        }
    }
}

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
    // The job's own output (print sinks) goes to stdout, so the progress goes to stderr, and
    // is redrawn in place only where it does not share a terminal with that output.
    let live = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
    let mut reporter = Reporter::new(Style::pick(false, live), std::io::stderr());
    let outcome = System::new().block_on(async move {
        let cluster = MiniCluster::start(config, registry).await?;
        let id = cluster
            .submit_registered_with(&job, &args, parallelism, &options)
            .await?;
        eprintln!("Job {id} ({job}) submitted");
        let result = follow_local(&cluster, id, &mut reporter).await;
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
