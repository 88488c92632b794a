//! The runtime's actors and their messages. Every interaction between them is a message, as if
//! they ran in different processes; in this process the messages are actix messages.
//!
//! | actor | owns |
//! |---|---|
//! | [`Dispatcher`](dispatcher::Dispatcher) | submitted jobs, their history and result waiters |
//! | [`ResourceManager`](resource_manager::ResourceManager) | TaskManager registry, slot table |
//! | [`JobMaster`](job_master::JobMaster) | one job's ExecutionGraph and scheduling |
//! | [`TaskManager`](task_manager::TaskManager) | its slots and deployed subtasks |
//! | [`Slot`](slot::Slot) | one thread (Arbiter) running its subtasks |
//! | [`Subtask`](subtask::Subtask) | one operator chain instance and its channels |

pub mod blocking;
pub mod collect;
pub mod dispatcher;
pub mod error;
pub mod gateway;
pub mod job_info;
pub mod job_master;
pub mod minicluster;
pub mod remote;
pub mod resource_manager;
pub mod slot;
pub mod slot_table;
pub mod subtask;
pub mod task_manager;
pub mod task_plan;
pub mod topology;

pub use error::ClusterError;
pub use minicluster::{MiniCluster, MiniClusterConfig};
