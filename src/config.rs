//! Runtime settings of the data plane and scheduling, with the bound they imply.

use std::time::Duration;

/// Data-plane and scheduling settings shared by every subtask of a cluster.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The most records per network buffer (and per source poll).
    pub buffer_size: usize,
    /// About the serialized bytes of a network buffer sent to another process: a buffer whose
    /// records' estimated size is more than half again as much is cut into parts of about
    /// this size when it is sent (see [`crate::net::remote`]). A single larger record still
    /// makes a buffer of one.
    pub buffer_bytes: usize,
    /// About the most bytes of a buffer in memory (and of a source poll): a buffer is cut at
    /// `buffer_size` records or at this many bytes by the records' estimated size, whichever
    /// comes first (see [`crate::data::batch`]). Channels within a process hand such
    /// buffers over whole; across processes they travel cut at `buffer_bytes`.
    pub memory_buffer_bytes: usize,
    /// Credits (buffers) owned by each input channel.
    pub exclusive_credits: u32,
    /// Credits shared by the channels of one input gate.
    pub floating_credits: u32,
    /// Buffers a subpartition may queue before its subtask stops taking input.
    pub outbox_capacity: usize,
    /// How long a partly filled buffer may wait before it is sent (Flink's buffer timeout).
    pub buffer_timeout: Duration,
    /// How long an idle source waits before it is polled again.
    pub source_idle_backoff: Duration,
    /// Buffers a subtask processes before yielding its thread to others in the slot.
    pub buffers_per_turn: usize,
    /// Capacity of each actor mailbox.
    pub mailbox_capacity: usize,
    /// How long a job waits for its slots before it fails.
    pub slot_request_timeout: Duration,
    /// How often the ResourceManager asks each remote TaskManager whether it is alive.
    pub heartbeat_interval: Duration,
    /// How long a TaskManager may stay silent (or not hear from the JobManager) before it is
    /// declared lost (or the TaskManager gives the JobManager up and registers again).
    pub heartbeat_timeout: Duration,
    /// How long a remote request waits for its answer.
    pub rpc_timeout: Duration,
    /// Where jobs write checkpoints unless they name a directory (`<dir>/<job id>/chk-N`).
    pub checkpoint_dir: std::path::PathBuf,
    /// The state backend of jobs that do not name one.
    pub state_backend: crate::state::StateBackendKind,
    /// Where a TaskManager keeps its RocksDB instances (removed when their tasks end).
    pub local_state_dir: std::path::PathBuf,
    /// Bytes of the cache of value and list state in front of each RocksDB instance (one
    /// per stateful operator subtask); 0 sends every access to RocksDB.
    pub rocksdb_cache_bytes: usize,
    /// The restart strategy of jobs that name none (`None`: Flink's default, exponential
    /// delay for jobs that checkpoint, none for the others).
    pub restart_strategy: Option<crate::graph::RestartStrategy>,
    /// The failover strategy of jobs that name none.
    pub failover_strategy: crate::graph::FailoverStrategy,
    /// Whether subtasks book their busy, backpressured and idle time and their watermarks,
    /// and TaskManagers sample rates (records and bytes are counted either way). Off only to
    /// measure what the metrics cost.
    pub task_metrics: bool,
    /// The HA services of a JobManager started with `--ha etcd://…` (its JobMasters record
    /// completed checkpoints there, fenced on its term); `None` without HA.
    pub ha: Option<std::sync::Arc<crate::ha::HaServices>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            // Across processes, 4096 records per buffer moved (u64, u64) pairs about 40% faster
            // than 1024 (fewer frames, wakeups and credit messages); the byte bound keeps large
            // records from making large buffers (Flink's 32 KiB memory segments).
            buffer_size: 4096,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            memory_buffer_bytes: DEFAULT_MEMORY_BUFFER_BYTES,
            exclusive_credits: 2,
            floating_credits: 8,
            outbox_capacity: 2,
            buffer_timeout: Duration::from_millis(100),
            source_idle_backoff: Duration::from_millis(2),
            buffers_per_turn: 16,
            mailbox_capacity: 1024,
            slot_request_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(10),
            checkpoint_dir: std::env::temp_dir().join("rill-checkpoints"),
            state_backend: crate::state::StateBackendKind::Heap,
            local_state_dir: std::env::temp_dir().join("rill-local-state"),
            rocksdb_cache_bytes: crate::state::rocksdb::DEFAULT_CACHE_BYTES,
            restart_strategy: None,
            failover_strategy: crate::graph::FailoverStrategy::Region,
            task_metrics: true,
            ha: None,
        }
    }
}

/// The default of [`RuntimeConfig::buffer_bytes`]: 32 KiB (Flink's memory segment).
pub const DEFAULT_BUFFER_BYTES: usize = 32 * 1024;

/// The default of [`RuntimeConfig::memory_buffer_bytes`]: 1 MiB. Measured with `rill bench
/// --shuffle` (in one process, 100-byte strings, 2 cores): buffers cut at 32 KiB in memory
/// moved 25-35% fewer records per second than buffers of 4,096 records (~410 KiB), with the
/// same code and every cost per record unchanged; at 1 MiB a buffer of small records holds
/// `buffer_size` records again, and one of 100 KiB records ten.
pub const DEFAULT_MEMORY_BUFFER_BYTES: usize = 1024 * 1024;

impl RuntimeConfig {
    /// The size bound of a buffer in memory (what routers cut at).
    pub fn buffer_bound(&self) -> crate::data::batch::BufferBound {
        crate::data::batch::BufferBound::new(self.buffer_size, self.memory_buffer_bytes)
    }

    /// The most records that can be between an operator that emits into one edge and the
    /// operator that consumes it, over `channels` channels forming `gates` input gates, when
    /// operators emit at most one record per record they receive: per channel, the producer's
    /// queue and partial buffer (`outbox_capacity + 1` buffers) and the consumer's exclusive
    /// buffers; per gate, its floating buffers; plus the one buffer being processed by each side.
    pub fn max_in_flight_records(&self, channels: usize, gates: usize) -> usize {
        let per_channel = self.outbox_capacity + 1 + self.exclusive_credits as usize;
        let buffers = channels * per_channel + gates * self.floating_credits as usize + 2;
        buffers * self.buffer_size
    }
}
