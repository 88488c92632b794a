//! `rill run`'s checkpoint, restore and restart flags, and the submission options they make.

use crate::graph::job_graph::SubmitOptions;

/// `rill run`'s checkpoint and restore flags.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct SubmitFlags {
    /// Take a checkpoint every N ms (0: none) [default: the job's own setting].
    #[arg(long, value_name = "N")]
    checkpoint_interval_ms: Option<u64>,
    /// Where checkpoints go (`DIR/<job id>/chk-N`; a local directory or `s3://bucket/prefix`)
    /// [default: the cluster's checkpoint_dir].
    #[arg(long, value_name = "DIR")]
    checkpoint_dir: Option<std::path::PathBuf>,
    /// Restore from a savepoint or checkpoint (its directory or `_metadata` file), or from a
    /// job's checkpoint directory (its newest valid checkpoint).
    #[arg(short = 's', long = "savepoint", value_name = "PATH")]
    savepoint: Option<std::path::PathBuf>,
    /// Start even if the savepoint holds state for operators the job no longer has.
    #[arg(long, requires = "savepoint")]
    allow_non_restored_state: bool,
    /// Where keyed state lives: heap or rocksdb [default: the cluster's state_backend].
    #[arg(long, value_name = "BACKEND")]
    state_backend: Option<crate::state::StateBackendKind>,
    /// Unaligned checkpoints: barriers overtake in-flight records, which the checkpoint
    /// persists, so checkpoints complete under backpressure.
    #[arg(long)]
    unaligned_checkpoints: bool,
    /// With --unaligned-checkpoints: start each checkpoint aligned and go unaligned where it
    /// has not aligned N ms after its trigger [default: 0, unaligned from the start].
    #[arg(long, value_name = "N", requires = "unaligned_checkpoints")]
    aligned_checkpoint_timeout_ms: Option<u64>,
    /// How the job reacts to failures: none, fixed-delay, failure-rate or exponential-delay
    /// [default: the cluster's; else exponential-delay with checkpoints, none without].
    #[arg(long, value_name = "STRATEGY")]
    restart_strategy: Option<String>,
    /// What a failure restarts: region (the failed subtask's pipelined region) or full
    /// [default: the cluster's; else region].
    #[arg(long, value_name = "STRATEGY")]
    failover_strategy: Option<crate::graph::FailoverStrategy>,
    /// fixed-delay: restarts before the job fails.
    #[arg(long, value_name = "N", default_value_t = 1)]
    restart_attempts: u32,
    /// fixed-delay and failure-rate: wait before each restart.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    restart_delay_ms: u64,
    /// failure-rate: failures tolerated per interval.
    #[arg(long, value_name = "N", default_value_t = 1)]
    restart_max_failures: u32,
    /// failure-rate: the interval.
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    restart_failure_interval_ms: u64,
    /// exponential-delay: the first wait.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    restart_initial_backoff_ms: u64,
    /// exponential-delay: the longest wait.
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    restart_max_backoff_ms: u64,
    /// exponential-delay: growth per failure.
    #[arg(long, value_name = "X", default_value_t = 1.5)]
    restart_backoff_multiplier: f64,
    /// exponential-delay: time without failure after which the wait starts over.
    #[arg(long, value_name = "MS", default_value_t = 3_600_000)]
    restart_reset_backoff_ms: u64,
    /// exponential-delay: random spread of each wait (a fraction of it).
    #[arg(long, value_name = "F", default_value_t = 0.1)]
    restart_jitter: f64,
}

/// A submission flag that does not make sense.
#[derive(Debug, thiserror::Error)]
pub(super) enum FlagError {
    /// `--restart-strategy` names none Rill has.
    #[error(
        "unknown restart strategy '{0}': none, fixed-delay, failure-rate or exponential-delay"
    )]
    UnknownRestartStrategy(String),
    /// The restart strategy's settings do not hold together.
    #[error("{0}")]
    InvalidRestartStrategy(String),
    /// A checkpoint or savepoint location no storage takes.
    #[error("{flag}: {message}")]
    Location {
        /// The flag.
        flag: &'static str,
        /// Why.
        message: String,
    },
}

impl SubmitFlags {
    fn restart_strategy(&self) -> Result<Option<crate::graph::RestartStrategy>, FlagError> {
        use crate::graph::RestartStrategy as R;
        let ms = std::time::Duration::from_millis;
        let Some(name) = self.restart_strategy.as_deref() else {
            return Ok(None);
        };
        let s = match name {
            "none" => R::None,
            "fixed-delay" => R::fixed_delay(self.restart_attempts, ms(self.restart_delay_ms)),
            "failure-rate" => R::failure_rate(
                self.restart_max_failures,
                ms(self.restart_failure_interval_ms),
                ms(self.restart_delay_ms),
            ),
            "exponential-delay" => R::ExponentialDelay {
                initial_ms: self.restart_initial_backoff_ms,
                max_ms: self.restart_max_backoff_ms,
                multiplier: self.restart_backoff_multiplier,
                reset_after_ms: self.restart_reset_backoff_ms,
                jitter: self.restart_jitter,
            },
            other => return Err(FlagError::UnknownRestartStrategy(other.to_string())),
        };
        s.validate().map_err(FlagError::InvalidRestartStrategy)?;
        Ok(Some(s))
    }

    pub(super) fn options(&self) -> Result<SubmitOptions, FlagError> {
        let locations = [
            ("--checkpoint-dir", &self.checkpoint_dir),
            ("--savepoint", &self.savepoint),
        ];
        for (flag, path) in locations {
            if let Some(p) = path {
                crate::checkpoint::store::check(p).map_err(|e| FlagError::Location {
                    flag,
                    message: e.to_string(),
                })?;
            }
        }
        Ok(SubmitOptions {
            checkpoint_interval_ms: self.checkpoint_interval_ms,
            checkpoint_dir: self.checkpoint_dir.clone(),
            savepoint_path: self.savepoint.clone(),
            allow_non_restored_state: self.allow_non_restored_state,
            state_backend: self.state_backend,
            unaligned_checkpoints: self.unaligned_checkpoints.then_some(true),
            aligned_checkpoint_timeout_ms: self.aligned_checkpoint_timeout_ms,
            restart_strategy: self.restart_strategy()?,
            failover_strategy: self.failover_strategy,
        })
    }
}
