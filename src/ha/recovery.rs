//! What a JobManager does when it becomes leader: every job of the job store runs again
//! under its id, restored from its latest completed checkpoint (or, without one, from what
//! it was submitted with: its savepoint, or nothing).

use std::sync::Arc;
use std::time::Duration;

use super::services::{HaError, HaServices, StoredJob};
use crate::rest::RestHandle;

/// How long to wait before reading the job store again after etcd failed.
const RETRY: Duration = Duration::from_millis(500);

/// Why a read of the job store failed (it is retried while this process leads).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Ha(#[from] HaError),
    #[error("the reading thread failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HaError> + Send + 'static,
) -> Result<T, ReadError> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

/// Runs `f` on a blocking thread until it succeeds, retrying while this process leads;
/// `None` once it does not.
async fn while_leading<T: Send + 'static>(
    ha: &Arc<HaServices>,
    what: &str,
    f: impl Fn(&HaServices) -> Result<T, HaError> + Send + Sync + Clone + 'static,
) -> Option<T> {
    loop {
        let (h, f) = (ha.clone(), f.clone());
        match blocking(move || f(&h)).await {
            Ok(v) => return Some(v),
            Err(e) if ha.leading() => {
                tracing::warn!(error = %e, "{what}; retrying");
                tokio::time::sleep(RETRY).await;
            }
            Err(_) => return None,
        }
    }
}

/// Reads the job store and runs every job again, each from its latest checkpoint; returns
/// how many it recovered. etcd errors are retried while this process leads.
pub async fn recover(handle: &RestHandle, ha: &Arc<HaServices>) -> usize {
    let Some(jobs) = while_leading(ha, "reading the job store", |h| h.jobs()).await else {
        return 0;
    };
    let mut recovered = 0;
    for StoredJob {
        job_id,
        mut request,
    } in jobs
    {
        let read = "reading a job's latest checkpoint";
        let Some(pointer) = while_leading(ha, read, move |h| h.checkpoint_pointer(job_id)).await
        else {
            return recovered;
        };
        match pointer {
            Some(pointer) => {
                tracing::info!(%job_id, checkpoint = pointer.checkpoint_id, path = %pointer.path.display(), "recovering a job from its latest checkpoint");
                request.options.savepoint_path = Some(pointer.path);
            }
            None => {
                tracing::info!(%job_id, "recovering a job that completed no checkpoint: it starts as submitted")
            }
        }
        match handle.resubmit(job_id, &request).await {
            Ok(_) => recovered += 1,
            Err(crate::rest::RestError::Cluster(crate::actors::ClusterError::DuplicateJob(_))) => {
                tracing::info!(%job_id, "the job runs already (submitted as this JobManager became leader)")
            }
            Err(e) => tracing::error!(%job_id, error = %e, "recovering a job"),
        }
    }
    recovered
}
