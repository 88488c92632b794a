//! Reading a checkpoint back for a new subtask: which operators it holds state for, and each
//! operator's share for the subtask (its key groups, its part of the list state).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::checkpoint::storage::{
    read_metadata, read_subtask_state, CheckpointMetadata, StorageError, SubtaskSnapshot,
};
use crate::operators::{OperatorError, RuntimeContext};
use crate::state::key_group::key_group_range;
use crate::state::RestoredState;

/// A checkpoint opened for restoring one subtask; state files are read once each.
pub struct Restorer {
    dir: PathBuf,
    metadata: CheckpointMetadata,
    files: HashMap<String, SubtaskSnapshot>,
}

fn failed(ctx: &RuntimeContext, message: String) -> OperatorError {
    OperatorError::Failed {
        operator: ctx.operator_name.clone(),
        message,
    }
}

impl Restorer {
    /// Opens the checkpoint in `dir` (its `_metadata` is read and checked).
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        Ok(Self {
            dir: dir.to_path_buf(),
            metadata: read_metadata(dir)?,
            files: HashMap::new(),
        })
    }

    /// The state of the operator of `ctx`, for `ctx`'s subtask; `None` when the checkpoint
    /// holds none for it.
    pub fn for_operator(
        &mut self,
        ctx: &RuntimeContext,
    ) -> Result<Option<RestoredState>, OperatorError> {
        let Some(vertex) = self
            .metadata
            .vertices
            .iter()
            .find(|v| v.operators.contains(&ctx.operator_id))
        else {
            return Ok(None);
        };
        if vertex.max_parallelism != ctx.max_parallelism {
            return Err(failed(
                ctx,
                format!(
                    "the checkpoint at {} has max parallelism {} for this operator, the job now {}: keyed state cannot be redistributed over a different number of key groups",
                    self.dir.display(),
                    vertex.max_parallelism,
                    ctx.max_parallelism
                ),
            ));
        }
        let mut snapshots = Vec::with_capacity(vertex.subtasks.len());
        for handle in &vertex.subtasks {
            let Some(handle) = handle else {
                snapshots.push(Default::default());
                continue;
            };
            if !self.files.contains_key(&handle.file) {
                let snap = read_subtask_state(&self.dir, handle)
                    .map_err(|e| failed(ctx, e.to_string()))?;
                self.files.insert(handle.file.clone(), snap);
            }
            let op = self
                .files
                .get(&handle.file)
                .and_then(|f| f.operators.iter().find(|(id, _)| *id == ctx.operator_id))
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            let mut op: crate::state::OperatorSnapshot = op;
            for r in &mut op.rocksdb {
                r.shared_dir = Some(crate::state::snapshot::shared_dir_of(&self.dir));
            }
            snapshots.push(op);
        }
        Ok(Some(RestoredState {
            snapshots,
            key_groups: key_group_range(ctx.max_parallelism, ctx.parallelism, ctx.subtask_index),
            subtask_index: ctx.subtask_index,
            parallelism: ctx.parallelism,
        }))
    }
}
