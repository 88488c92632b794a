//! Typed identifiers: every id that crosses an actor boundary is a newtype, never a bare integer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::util::random_u64;

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u128);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self((u128::from(random_u64()) << 64) | u128::from(random_u64()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:032x})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                u128::from_str_radix(s, 16).map(Self)
            }
        }
    };
}

hex_id!(
    /// Identifies one submitted job.
    JobId
);
hex_id!(
    /// Identifies a JobVertex (a chain of operators); stable for the same program.
    VertexId
);
hex_id!(
    /// Identifies one slot allocation made by the ResourceManager for a job.
    AllocationId
);
hex_id!(
    /// Identifies one deployment (attempt) of one subtask.
    ExecutionAttemptId
);

/// Identifies a StreamGraph node (one API transformation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies a JobGraph edge, and so the intermediate result its producer writes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct EdgeId(pub u32);

/// The index of one parallel instance of a vertex, `0..parallelism`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct SubtaskIndex(pub u32);

impl SubtaskIndex {
    /// The index as a `usize`, for indexing.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl From<usize> for SubtaskIndex {
    fn from(i: usize) -> Self {
        // Parallelism is capped far below u32::MAX by the graph builder.
        Self(u32::try_from(i).unwrap_or(u32::MAX))
    }
}

impl fmt::Display for SubtaskIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The index of an input channel within a subtask's input gates (all gates numbered together).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct ChannelIndex(pub u32);

impl ChannelIndex {
    /// The index as a `usize`, for indexing.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// A result partition: what one producer subtask writes for one JobGraph edge.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ResultPartitionId {
    /// The job.
    pub job: JobId,
    /// The JobGraph edge (intermediate result).
    pub edge: EdgeId,
    /// The producing subtask.
    pub producer: SubtaskIndex,
    /// The producer's deployment attempt.
    pub attempt: ExecutionAttemptId,
}

/// Names a TaskManager; unique within a cluster.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct TaskManagerId(pub String);

impl TaskManagerId {
    /// A new id of the form `PREFIX-NNNN-xxxxxx`, numbered within this process.
    pub fn generate(prefix: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(format!("{prefix}-{n}-{:06x}", random_u64() & 0xff_ffff))
    }
}

impl fmt::Display for TaskManagerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_round_trip_through_display() {
        let id = JobId::generate();
        let parsed: JobId = id.to_string().parse().expect("hex");
        assert_eq!(id, parsed);
        assert_eq!(id.to_string().len(), 32);
    }

    #[test]
    fn task_manager_ids_are_unique() {
        assert_ne!(TaskManagerId::generate("tm"), TaskManagerId::generate("tm"));
    }
}
