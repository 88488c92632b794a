//! The live actor topology of the whole cluster: every node's actors, gathered by the
//! ResourceManager from its TaskManagers over the actor RPC (each within a time limit; a node
//! that does not answer is marked, not waited for), and the edges between them.
//!
//! ## Edges
//! - **supervision**: a supervisor to each actor it supervises (a TaskManager to its slots, a
//!   slot to its subtasks, the Dispatcher to its JobMasters).
//! - **data**: a producing subtask to a consuming one, one edge per pair however many
//!   channels join them, with what crossed them: records and buffers, watermarks, barriers,
//!   and the credit granted back, in all and per second. Matched by the producer's execution
//!   attempt, which each input channel knows, so an edge between two processes is found too.
//! - **control**: RPC messages into an actor, by sending node and tag, in all and per second.
//!   The transport knows the node a message came from, not the actor that sent it; messages
//!   from the actor's own node (local senders, its timers) are shown from that node.
//!
//! Building the topology from the nodes' answers ([`Topology::build`]) is a plain function.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::actors::remote::{ActorInfo, Handles, Reply};
use crate::actors::resource_manager::ResourceManager;
use crate::actors::subtask::figures::FlowFigures;
use crate::actors::task_manager::LogLines;
use crate::ids::TaskManagerId;

/// How long the JobManager waits for one TaskManager's actors.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a node answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// It answered with its actors.
    Ok,
    /// It did not answer within [`GATHER_TIMEOUT`].
    TimedOut,
    /// Asking it failed.
    Unreachable,
}

/// One node's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeActors {
    /// The node's id.
    pub node: String,
    /// `jobmanager` or `taskmanager`.
    pub role: &'static str,
    /// Whether it answered.
    pub status: NodeStatus,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took to answer, in milliseconds.
    pub took_ms: u64,
    /// Its actors.
    #[serde(skip)]
    pub actors: Vec<ActorInfo>,
}

/// Messages of one tag on a control edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControlFlow {
    /// The message's tag.
    pub tag: String,
    /// Received in all.
    pub count: u64,
    /// Received per second.
    pub per_second: f64,
}

/// An edge of the topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Edge {
    /// `from` supervises `to`.
    Supervision {
        /// The supervisor's path.
        from: String,
        /// The supervised actor's path.
        to: String,
    },
    /// Data from the subtask `from` to the subtask `to`.
    Data {
        /// The producer's path.
        from: String,
        /// The consumer's path.
        to: String,
        /// Channels between them.
        channels: usize,
        /// What crossed them.
        flow: FlowFigures,
    },
    /// RPC messages from the node `from_node` to the actor `to`.
    Control {
        /// The sending node.
        from_node: String,
        /// The receiving actor's path.
        to: String,
        /// By tag.
        messages: Vec<ControlFlow>,
    },
}

/// The cluster's actors and the edges between them.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    /// Each node, and whether it answered.
    pub nodes: Vec<NodeActors>,
    /// Every actor of the nodes that answered.
    pub actors: Vec<ActorInfo>,
    /// The edges between them.
    pub edges: Vec<Edge>,
}

impl Topology {
    /// The topology of the nodes' answers.
    pub fn build(mut nodes: Vec<NodeActors>) -> Self {
        let mut actors: Vec<ActorInfo> = nodes
            .iter_mut()
            .flat_map(|n| std::mem::take(&mut n.actors))
            .collect();
        actors.sort_by(|a, b| (&a.node, &a.path).cmp(&(&b.node, &b.path)));
        let edges = edges(&actors);
        Self {
            nodes,
            actors,
            edges,
        }
    }
}

fn edges(actors: &[ActorInfo]) -> Vec<Edge> {
    let mut edges: Vec<Edge> = actors
        .iter()
        .filter_map(|a| {
            a.parent.as_ref().map(|p| Edge::Supervision {
                from: p.clone(),
                to: a.path.clone(),
            })
        })
        .collect();
    // Subtasks by attempt: a channel names its producer's.
    let by_attempt: BTreeMap<&str, &str> = actors
        .iter()
        .filter_map(|a| {
            a.subtask
                .as_ref()
                .map(|s| (s.identity.attempt.as_str(), a.path.as_str()))
        })
        .collect();
    let mut data: BTreeMap<(&str, &str), (usize, FlowFigures)> = BTreeMap::new();
    for a in actors {
        let Some(s) = &a.subtask else { continue };
        for input in &s.inputs {
            let Some(from) = by_attempt.get(input.producer.as_str()) else {
                continue;
            };
            let e = data.entry((from, a.path.as_str())).or_default();
            e.0 += 1;
            e.1.add(&input.flow);
        }
    }
    edges.extend(
        data.into_iter()
            .map(|((from, to), (channels, flow))| Edge::Data {
                from: from.to_string(),
                to: to.to_string(),
                channels,
                flow,
            }),
    );
    for a in actors {
        let mut by_node: BTreeMap<&str, Vec<ControlFlow>> = BTreeMap::new();
        for m in &a.messages {
            for s in &m.from {
                by_node.entry(&s.node).or_default().push(ControlFlow {
                    tag: m.tag.clone(),
                    count: s.count,
                    per_second: s.per_second,
                });
            }
        }
        edges.extend(by_node.into_iter().map(|(node, messages)| Edge::Control {
            from_node: node.to_string(),
            to: a.path.clone(),
            messages,
        }));
    }
    edges
}

/// Asks for every node's actors: this node's, and each TaskManager's in another process.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Vec<NodeActors>")]
pub struct GatherActors;

/// Asks for a TaskManager's recent log lines.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<LogLines, TaskManagerLogError>")]
pub struct RequestTaskManagerLog {
    /// The TaskManager.
    pub id: TaskManagerId,
}

/// Why a TaskManager's log lines could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskManagerLogError {
    /// No such TaskManager is registered.
    #[error("no TaskManager {0} is registered")]
    Unknown(String),
    /// It did not answer in time, or asking it failed.
    #[error("TaskManager {id} did not answer: {cause}")]
    Unreachable {
        /// The TaskManager.
        id: String,
        /// Why.
        cause: String,
    },
}

crate::local_messages!(ResourceManager: GatherActors, RequestTaskManagerLog);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Handles<GatherActors> for ResourceManager {
    type Result = Reply<Self, Vec<NodeActors>>;

    fn handle(&mut self, _: GatherActors, _ctx: &mut Self::Context) -> Self::Result {
        let here = self.registry().map(|r| NodeActors {
            node: r.node_id().to_string(),
            role: "jobmanager",
            status: NodeStatus::Ok,
            error: None,
            took_ms: 0,
            actors: r.snapshot(),
        });
        // TaskManagers in this process share its registry: only others are asked, all at once.
        let queries: Vec<_> = self
            .gateways()
            .filter(|(_, g)| g.peer().is_some())
            .map(|(id, g)| {
                let started = std::time::Instant::now();
                let ask = tokio::time::timeout(GATHER_TIMEOUT, g.actors());
                (
                    id.0.clone(),
                    actix_rt::spawn(async move { (ask.await, started.elapsed()) }),
                )
            })
            .collect();
        let answers = async move {
            let mut nodes: Vec<NodeActors> = here.into_iter().collect();
            for (node, q) in queries {
                let (status, error, took, actors) = match q.await {
                    Ok((Ok(Ok(actors)), took)) => (NodeStatus::Ok, None, took, actors),
                    Ok((Ok(Err(e)), took)) => (
                        NodeStatus::Unreachable,
                        Some(e.to_string()),
                        took,
                        Vec::new(),
                    ),
                    Ok((Err(_), took)) => (
                        NodeStatus::TimedOut,
                        Some(format!("no answer within {GATHER_TIMEOUT:?}")),
                        took,
                        Vec::new(),
                    ),
                    Err(e) => (
                        NodeStatus::Unreachable,
                        Some(e.to_string()),
                        Duration::ZERO,
                        Vec::new(),
                    ),
                };
                nodes.push(NodeActors {
                    node,
                    role: "taskmanager",
                    status,
                    error,
                    took_ms: millis(took),
                    actors,
                });
            }
            nodes
        };
        Reply::new::<GatherActors>(answers.into_actor(self))
    }
}

impl Handles<RequestTaskManagerLog> for ResourceManager {
    type Result = Reply<Self, Result<LogLines, TaskManagerLogError>>;

    fn handle(&mut self, msg: RequestTaskManagerLog, _ctx: &mut Self::Context) -> Self::Result {
        let gateway = self
            .gateways()
            .find(|(id, _)| **id == msg.id)
            .map(|(_, g)| g.clone());
        let id = msg.id.0;
        let answer = async move {
            let Some(g) = gateway else {
                return Err(TaskManagerLogError::Unknown(id));
            };
            // A TaskManager in this process shares its log.
            if g.peer().is_none() {
                let (lines, bytes) = crate::logs::recent();
                return Ok(LogLines { lines, bytes });
            }
            match tokio::time::timeout(GATHER_TIMEOUT, g.log()).await {
                Ok(Ok(lines)) => Ok(lines),
                Ok(Err(e)) => Err(TaskManagerLogError::Unreachable {
                    id,
                    cause: e.to_string(),
                }),
                Err(_) => Err(TaskManagerLogError::Unreachable {
                    id,
                    cause: format!("no answer within {GATHER_TIMEOUT:?}"),
                }),
            }
        };
        Reply::new::<RequestTaskManagerLog>(answer.into_actor(self))
    }
}

#[cfg(test)]
mod tests;
