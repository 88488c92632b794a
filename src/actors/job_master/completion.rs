//! Completing a checkpoint once every subtask acknowledged it: its metadata written and, in
//! an HA cluster, the job's latest-checkpoint pointer in etcd, fenced on the leader's term.

use crate::checkpoint::storage;
use crate::checkpoint::storage::CheckpointMetadata;

/// Why a checkpoint whose every subtask acknowledged did not complete.
#[derive(Debug, thiserror::Error)]
pub(super) enum CompleteError {
    /// Its metadata could not be written.
    #[error("writing its metadata: {0}")]
    Storage(#[from] storage::StorageError),
    /// In an HA cluster: this JobManager does not lead any more, or etcd did not record it.
    #[error("recording it in the HA store: {0}")]
    Ha(#[from] crate::ha::HaError),
}

/// Completes checkpoint `id` of `job`: writes its `_metadata` into `dir` and, in an HA
/// cluster, records it as the job's latest checkpoint. A JobManager that does not lead any
/// more writes nothing (it asks etcd first: its successor may be writing the same id), and
/// the checkpoint completes only once etcd holds it, fenced on this leader's term.
pub(super) fn complete_checkpoint(
    ha: Option<&crate::ha::HaServices>,
    job: crate::ids::JobId,
    id: u64,
    dir: &std::path::Path,
    metadata: CheckpointMetadata,
) -> Result<CheckpointMetadata, CompleteError> {
    if let Some(ha) = ha {
        ha.confirm_leading()?;
    }
    storage::write_metadata(dir, &metadata)?;
    if let Some(ha) = ha {
        ha.checkpoint_completed(job, id, dir)?;
    }
    Ok(metadata)
}
