//! # Rill
//!
//! A distributed, stateful stream processor in the lineage of Apache Flink, whose runtime is
//! made of actors exchanging typed messages.
//!
//! ## Architecture in a screen
//! A job is Rust code written against the DataStream API ([`api`]): [`StreamEnv`] records each
//! transformation as a node of a [`StreamGraph`](graph::StreamGraph). When the job is submitted
//! the graph is resolved (parallelism, partitioners) and chained into a serializable
//! [`JobGraph`](graph::JobGraph), which the Dispatcher hands to a JobMaster. The JobMaster expands
//! it into an [`ExecutionGraph`](graph::ExecutionGraph), asks the ResourceManager for slots, and
//! deploys one Subtask actor per parallel instance into the TaskManagers' slots (each slot is its
//! own thread). A subtask runs its operator chain as plain function calls on buffers of records
//! ([`operators`]); between subtasks, buffers travel on channel queues against credits
//! ([`net`]), so a slow consumer slows its producers and no queue grows without bound. The
//! types every layer shares (buffers, stream elements, barriers, timestamps) are in [`data`],
//! at the bottom.
//!
//! ## Word count
//! ```
//! use rill::api::StreamEnv;
//!
//! let env = StreamEnv::new("wordcount");
//! let counts = env
//!     .from_elements(vec!["to be or not to be".to_string()])
//!     .flat_map(|line: String, out| line.split(' ').for_each(|w| out.collect((w.to_string(), 1u64))))
//!     .key_by(|(w, _): &(String, u64)| w.clone())
//!     .sum(|t: &mut (String, u64)| &mut t.1)
//!     .collect();
//! let result = env.execute().expect("job runs");
//! assert_eq!(result.status, rill::graph::JobStatus::Finished);
//! let mut finals = std::collections::BTreeMap::new();
//! for (w, c) in counts.take() {
//!     finals.insert(w, c); // running counts: the last one per word is final
//! }
//! assert_eq!(finals["to"], 2);
//! assert_eq!(finals["not"], 1);
//! ```

pub mod actors;
pub mod api;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod connectors;
pub mod data;
mod error;
pub mod eventtime;
pub mod graph;
pub mod ha;
pub mod ids;
pub mod jobs;
pub mod launch;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod operators;
pub mod rest;
pub mod sql;
pub mod state;
pub mod testing;
pub mod util;
pub mod windowing;

pub use api::{DataStream, KeyedStream, StreamEnv};
pub use error::{Error, Result};
