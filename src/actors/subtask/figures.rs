//! A subtask's live figures, for the actor registry: its status, its input queues (its mailbox
//! for data, whose capacity is the credit it grants) and the credit its consumers granted its
//! outputs. Kept as shared handles and read when the registry is looked at: the data path pays
//! one lock per buffer it already takes, nothing more.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::graph::ExecutionState;
use crate::net::channel::InputQueue;
use crate::net::ChannelLink;

/// One input channel as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFigures {
    /// Elements arrived and not yet processed (each holds a buffer of the channel).
    pub queued: usize,
    /// The most the queue holds: the channel's exclusive and floating buffers, and room for
    /// unaligned barriers.
    pub capacity: usize,
    /// Credit announced to a producer in this process and not spent yet (a producer in
    /// another process gets its credit over the network).
    pub credit: u32,
}

/// One output channel (subpartition) as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputFigures {
    /// The output's edge (the record writer's index).
    pub writer: usize,
    /// The consumer channel.
    pub subpartition: usize,
    /// Credit the consumer granted and the subtask has not spent.
    pub credit: u32,
}

/// A subtask's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubtaskInfo {
    /// Its execution state.
    pub status: ExecutionState,
    /// Its input channels, in order.
    pub inputs: Vec<InputFigures>,
    /// Its connected output channels.
    pub outputs: Vec<OutputFigures>,
}

impl SubtaskInfo {
    /// Elements waiting in its input queues.
    pub fn queued(&self) -> usize {
        self.inputs.iter().map(|i| i.queued).sum()
    }

    /// The most its input queues hold.
    pub fn capacity(&self) -> usize {
        self.inputs.iter().map(|i| i.capacity).sum()
    }
}

struct Handles {
    status: ExecutionState,
    inputs: Vec<Arc<InputQueue>>,
    outputs: Vec<(usize, usize, ChannelLink)>,
}

/// Where a subtask keeps what the registry reads.
pub struct SubtaskFigures {
    handles: Mutex<Handles>,
}

impl Default for SubtaskFigures {
    fn default() -> Self {
        Self {
            handles: Mutex::new(Handles {
                status: ExecutionState::Deploying,
                inputs: Vec::new(),
                outputs: Vec::new(),
            }),
        }
    }
}

impl SubtaskFigures {
    fn handles(&self) -> MutexGuard<'_, Handles> {
        // Each update is one field write or push: a poisoned lock is still consistent.
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The subtask changed state.
    pub fn set_status(&self, status: ExecutionState) {
        self.handles().status = status;
    }

    /// The subtask's input channels, once set up.
    pub fn set_inputs(&self, inputs: Vec<Arc<InputQueue>>) {
        self.handles().inputs = inputs;
    }

    /// Output `writer`'s subpartition `subpartition` connected to its consumer over `link`.
    pub fn output_connected(&self, writer: usize, subpartition: usize, link: ChannelLink) {
        let mut h = self.handles();
        h.outputs
            .retain(|(w, s, _)| (*w, *s) != (writer, subpartition));
        h.outputs.push((writer, subpartition, link));
    }

    /// The figures now.
    pub fn snapshot(&self) -> SubtaskInfo {
        let h = self.handles();
        SubtaskInfo {
            status: h.status,
            inputs: h
                .inputs
                .iter()
                .map(|q| InputFigures {
                    queued: q.held(),
                    capacity: q.capacity(),
                    credit: q.credit().available(),
                })
                .collect(),
            outputs: h
                .outputs
                .iter()
                .map(|(writer, subpartition, link)| OutputFigures {
                    writer: *writer,
                    subpartition: *subpartition,
                    credit: link.credit().available(),
                })
                .collect(),
        }
    }
}
