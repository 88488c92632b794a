//! Why an operator (and so its subtask) failed. Serializable: it travels to the JobMaster and
//! is what a user reads as the job's failure cause.

use serde::{Deserialize, Serialize};

/// What user code returns when it fails without panicking.
pub type UserError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The failure of one operator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum OperatorError {
    /// A buffer could not be serialized or deserialized for a remote channel.
    #[error("record codec: {0}")]
    Codec(String),
    /// A user function returned an error.
    #[error("{operator} failed: {message}")]
    Failed {
        /// The operator's name.
        operator: String,
        /// The error's text.
        message: String,
    },
    /// A user function panicked.
    #[error("{operator} panicked: {message}")]
    Panicked {
        /// The operator's name.
        operator: String,
        /// The panic's message.
        message: String,
    },
    /// Reading or writing a file or socket failed.
    #[error("{operator}: {target}: {message}")]
    Io {
        /// The operator's name.
        operator: String,
        /// The file or address.
        target: String,
        /// The OS error's text.
        message: String,
    },
    /// An input line could not be decoded and the policy is to fail.
    #[error("{operator}: {path}: the line at byte {offset} is not valid UTF-8 (policy: fail; skip drops such lines)")]
    Undecodable {
        /// The operator's name.
        operator: String,
        /// The file.
        path: String,
        /// The byte offset of the line's start.
        offset: u64,
    },
    /// An input line was not a record of the expected form and the policy is to fail.
    #[error("{operator}: {path}: the line at byte {offset} is not a record: {message} (policy: fail; skip drops such lines)")]
    BadRecord {
        /// The operator's name.
        operator: String,
        /// The file.
        path: String,
        /// The byte offset of the line's start.
        offset: u64,
        /// What the parser said.
        message: String,
    },
    /// A record is larger, serialized, than a data frame may be, so it cannot reach its
    /// consumer in another process. No restart can change that: the job fails without
    /// restarting ([`OperatorError::is_recoverable`]).
    #[error("{operator}: a record of {bytes} bytes (serialized) is larger than the network's data frame limit of {limit} bytes, so it cannot be sent to another process (no restart can change that)")]
    RecordTooLarge {
        /// The operator that emitted it, with its subtask.
        operator: String,
        /// Its serialized size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A socket source read a line longer than its maximum and the policy is to fail.
    #[error("{operator}: {source_address}: a line of more than {max} bytes (at least {length} read without a line break; policy: fail; skip drops such lines)")]
    LineTooLong {
        /// The operator's name.
        operator: String,
        /// The peer's address.
        source_address: String,
        /// Bytes of the line read so far.
        length: u64,
        /// The maximum line length.
        max: usize,
    },
    /// An input channel failed because its producer did (Flink's
    /// `ProducerFailedException`): the producer's cause, and whether a restart can cure it.
    #[error("{operator}: {cause}")]
    InputFailed {
        /// The consuming subtask.
        operator: String,
        /// Why its channel failed.
        cause: FailureCause,
    },
    /// A batch of one type reached an operator expecting another: a graph wiring bug.
    #[error("record type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// The type the operator expects.
        expected: String,
        /// The type it received.
        found: String,
    },
}

impl OperatorError {
    /// Wraps a user function's error.
    pub fn user(operator: &str, err: &UserError) -> Self {
        Self::Failed {
            operator: operator.to_string(),
            message: err.to_string(),
        }
    }

    /// An I/O failure on `target`.
    pub fn io(operator: &str, target: impl std::fmt::Display, err: &std::io::Error) -> Self {
        Self::Io {
            operator: operator.to_string(),
            target: target.to_string(),
            message: err.to_string(),
        }
    }
}

impl OperatorError {
    /// Whether a restart can cure it: not for a record too large to send, nor for an input
    /// whose producer failed with such a cause. The job then fails at once, whatever its
    /// restart strategy (Flink's `SuppressRestartsException`).
    pub fn is_recoverable(&self) -> bool {
        match self {
            Self::RecordTooLarge { .. } => false,
            Self::InputFailed { cause, .. } => cause.recoverable,
            _ => true,
        }
    }

    /// The failure as it travels to the JobMaster and to the subtask's consumers.
    pub fn cause(&self) -> FailureCause {
        FailureCause {
            message: self.to_string(),
            recoverable: self.is_recoverable(),
        }
    }
}

/// Why something failed, as it travels between subtasks, TaskManagers and the JobMaster: the
/// message, and whether a restart can cure it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailureCause {
    /// What failed and why.
    pub message: String,
    /// Whether restarting the job can cure it.
    pub recoverable: bool,
}

impl FailureCause {
    /// A cause a restart may cure.
    pub fn recoverable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            recoverable: true,
        }
    }

    /// The same cause, its message prefixed with `context`.
    pub fn within(&self, context: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            recoverable: self.recoverable,
        }
    }
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
