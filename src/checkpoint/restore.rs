//! Reading a checkpoint back for a new subtask: which operators it holds state for, and each
//! operator's share for the subtask (its key groups, its part of the list state).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::checkpoint::channel_state::ChannelState;
use crate::checkpoint::storage::{
    read_metadata, read_subtask_state, CheckpointMetadata, StateHandle, StorageError,
    SubtaskSnapshot, VertexMetadata,
};
use crate::data::OperatorError;
use crate::state::context::RuntimeContext;
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

    /// The in-flight data an unaligned checkpoint persisted for `ctx`'s subtask of the vertex
    /// holding `ctx`'s operator (empty for aligned checkpoints). In-flight data restores only
    /// at the parallelism it was taken at.
    pub fn channel_state(&mut self, ctx: &RuntimeContext) -> Result<ChannelState, OperatorError> {
        let Some(vertex) = self.vertex_of(ctx) else {
            return Ok(ChannelState::default());
        };
        let with_data = vertex.subtasks.iter().flatten().any(|h| h.persisted > 0);
        if !with_data {
            return Ok(ChannelState::default());
        }
        if vertex.parallelism != ctx.parallelism {
            return Err(failed(
                ctx,
                format!(
                    "the unaligned checkpoint at {} holds in-flight records of {} at parallelism {}; it restores only at that parallelism, not {} (rescale from a savepoint, which is always aligned)",
                    self.dir.display(),
                    vertex.name,
                    vertex.parallelism,
                    ctx.parallelism
                ),
            ));
        }
        let Some(Some(handle)) = vertex.subtasks.get(ctx.subtask_index) else {
            return Ok(ChannelState::default());
        };
        let handle = handle.clone();
        Ok(self.file(ctx, &handle)?.channels.clone())
    }

    /// The checkpointed vertex holding `ctx`'s operator.
    fn vertex_of(&self, ctx: &RuntimeContext) -> Option<&VertexMetadata> {
        self.metadata
            .vertices
            .iter()
            .find(|v| v.operators.contains(&ctx.operator_id))
    }

    /// A state file, read once.
    fn file(
        &mut self,
        ctx: &RuntimeContext,
        handle: &StateHandle,
    ) -> Result<&SubtaskSnapshot, OperatorError> {
        match self.files.entry(handle.file.clone()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let snap = read_subtask_state(&self.dir, handle)
                    .map_err(|e| failed(ctx, e.to_string()))?;
                Ok(e.insert(snap))
            }
        }
    }

    /// The state of the operator of `ctx`, for `ctx`'s subtask; `None` when the checkpoint
    /// holds none for it.
    pub fn for_operator(
        &mut self,
        ctx: &RuntimeContext,
    ) -> Result<Option<RestoredState>, OperatorError> {
        let Some(vertex) = self.vertex_of(ctx) else {
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
        let handles = vertex.subtasks.clone();
        let mut snapshots = Vec::with_capacity(handles.len());
        for handle in &handles {
            let Some(handle) = handle else {
                snapshots.push(Default::default());
                continue;
            };
            let op = self
                .file(ctx, handle)?
                .operators
                .iter()
                .find(|(id, _)| *id == ctx.operator_id)
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
