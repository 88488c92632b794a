//! Where an operator instance runs: its job, operator and subtask, and what its state backend
//! is built from. Kept with state, which reads it to build and scope an instance's state (key
//! groups, backend, directories); operators hand it to user functions
//! ([`crate::operators::RuntimeContext`] is the same type).

use std::sync::Arc;

use crate::ids::JobId;

/// Where an operator instance runs: what user functions may ask of their environment.
#[derive(Clone, Debug)]
pub struct RuntimeContext {
    /// The job.
    pub job_id: JobId,
    /// The job's name.
    pub job_name: String,
    /// The operator's name.
    pub operator_name: String,
    /// The id its state is stored under in checkpoints: its uid if it has one, else derived
    /// from its position in the job and its name.
    pub operator_id: String,
    /// This subtask's index, `0..parallelism`.
    pub subtask_index: usize,
    /// The operator's parallelism.
    pub parallelism: usize,
    /// The operator's max parallelism (number of key groups).
    pub max_parallelism: usize,
    /// The deployment attempt, from 0.
    pub attempt: u32,
    /// The subtask's counters, where operators add their own (late records dropped).
    pub metrics: Option<Arc<crate::metrics::IoMetrics>>,
    /// Where operators read processing time.
    pub clock: crate::eventtime::ProcessingClock,
    /// Where keyed state lives.
    pub state_backend: crate::state::StateBackendKind,
    /// Where the RocksDB backend keeps its instances.
    pub local_state_dir: std::path::PathBuf,
    /// Bytes of the RocksDB backend's cache of value and list state (0: none).
    pub rocksdb_cache_bytes: usize,
    /// The job checkpoints periodically, so the end of the input is followed by a final
    /// checkpoint: a two-phase-commit sink commits its last records when that completes,
    /// not at the end of its input.
    pub final_checkpoint: bool,
}

impl RuntimeContext {
    /// A context for tests and single-instance use.
    pub fn standalone(name: &str) -> Self {
        Self {
            job_id: JobId(0),
            job_name: "standalone".into(),
            operator_name: name.into(),
            operator_id: name.into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: crate::state::DEFAULT_MAX_PARALLELISM,
            attempt: 0,
            metrics: None,
            clock: crate::eventtime::ProcessingClock::system(),
            state_backend: crate::state::StateBackendKind::Heap,
            local_state_dir: std::env::temp_dir().join("rill-local-state"),
            rocksdb_cache_bytes: crate::state::rocksdb::DEFAULT_CACHE_BYTES,
            final_checkpoint: false,
        }
    }
}
