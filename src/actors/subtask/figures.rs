//! A subtask's live figures, for the actor registry: who it is, its status, its input queues
//! (its mailbox for data, whose capacity is the credit it grants) with what arrived on each
//! and from which producer, and the credit its consumers granted its outputs. Kept as shared
//! handles and read when the registry is looked at: the data path pays one lock per buffer it
//! already takes and one relaxed counter per element, nothing more.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::actors::remote::Rates;
use crate::graph::{ExecutionState, TaskDeploymentDescriptor};
use crate::net::channel::{ChannelTotals, InputQueue};
use crate::net::ChannelLink;

/// Which subtask it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubtaskIdentity {
    /// The job.
    pub job_id: String,
    /// The job's name.
    pub job_name: String,
    /// The job vertex's id.
    pub vertex_id: String,
    /// The job vertex's name.
    pub vertex: String,
    /// Its index among the vertex's subtasks.
    pub subtask: u32,
    /// Its execution attempt.
    pub attempt: String,
}

impl SubtaskIdentity {
    /// The identity of the subtask `tdd` deploys.
    pub fn of(tdd: &TaskDeploymentDescriptor) -> Self {
        Self {
            job_id: tdd.job_id.to_string(),
            job_name: tdd.job_name.clone(),
            vertex_id: tdd.vertex.to_string(),
            vertex: tdd.vertex_name.clone(),
            subtask: tdd.subtask.0,
            attempt: tdd.attempt.to_string(),
        }
    }
}

/// What crossed a channel, in all and per second over the node's last sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowFigures {
    /// Records, in all buffers.
    pub records: u64,
    /// Buffers of records.
    pub buffers: u64,
    /// Watermarks and watermark statuses.
    pub watermarks: u64,
    /// Checkpoint barriers.
    pub barriers: u64,
    /// Credit granted back to the producer, in buffers.
    pub credits: u64,
    /// Records per second.
    pub records_per_second: f64,
    /// Buffers per second.
    pub buffers_per_second: f64,
    /// Watermarks per second.
    pub watermarks_per_second: f64,
    /// Barriers per second.
    pub barriers_per_second: f64,
    /// Credits per second.
    pub credits_per_second: f64,
}

impl FlowFigures {
    const NAMES: [&'static str; 5] = ["records", "buffers", "watermarks", "barriers", "credits"];

    fn values(t: &ChannelTotals) -> [u64; 5] {
        [t.records, t.buffers, t.watermarks, t.barriers, t.credits]
    }

    fn key(channel: usize, name: &str) -> String {
        format!("\u{2}in{channel}/{name}")
    }

    fn of(channel: usize, t: &ChannelTotals, rates: &Rates) -> Self {
        let r = |name: &str| rates.get(&Self::key(channel, name));
        Self {
            records: t.records,
            buffers: t.buffers,
            watermarks: t.watermarks,
            barriers: t.barriers,
            credits: t.credits,
            records_per_second: r("records"),
            buffers_per_second: r("buffers"),
            watermarks_per_second: r("watermarks"),
            barriers_per_second: r("barriers"),
            credits_per_second: r("credits"),
        }
    }

    /// The sum of two flows (two channels between the same pair of subtasks).
    pub fn add(&mut self, o: &FlowFigures) {
        self.records += o.records;
        self.buffers += o.buffers;
        self.watermarks += o.watermarks;
        self.barriers += o.barriers;
        self.credits += o.credits;
        self.records_per_second += o.records_per_second;
        self.buffers_per_second += o.buffers_per_second;
        self.watermarks_per_second += o.watermarks_per_second;
        self.barriers_per_second += o.barriers_per_second;
        self.credits_per_second += o.credits_per_second;
    }
}

/// One input channel as the registry shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InputFigures {
    /// The producing subtask's execution attempt.
    pub producer: String,
    /// What arrived on it, and the credit returned.
    pub flow: FlowFigures,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputFigures {
    /// The output's edge (the record writer's index).
    pub writer: usize,
    /// The consumer channel.
    pub subpartition: usize,
    /// Credit the consumer granted and the subtask has not spent.
    pub credit: u32,
}

/// A subtask's figures at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubtaskInfo {
    /// Which subtask it is.
    pub identity: SubtaskIdentity,
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
    inputs: Vec<(Arc<InputQueue>, String)>,
    outputs: Vec<(usize, usize, ChannelLink)>,
}

/// Where a subtask keeps what the registry reads.
pub struct SubtaskFigures {
    identity: SubtaskIdentity,
    handles: Mutex<Handles>,
}

impl SubtaskFigures {
    /// The figures of the subtask `identity`, deploying, without channels yet.
    pub fn new(identity: SubtaskIdentity) -> Self {
        Self {
            identity,
            handles: Mutex::new(Handles {
                status: ExecutionState::Deploying,
                inputs: Vec::new(),
                outputs: Vec::new(),
            }),
        }
    }

    fn handles(&self) -> MutexGuard<'_, Handles> {
        // Each update is one field write or push: a poisoned lock is still consistent.
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Which subtask it is.
    pub fn identity(&self) -> &SubtaskIdentity {
        &self.identity
    }

    /// The subtask changed state.
    pub fn set_status(&self, status: ExecutionState) {
        self.handles().status = status;
    }

    /// The subtask's input channels, once set up, each with its producer's attempt.
    pub fn set_inputs(&self, inputs: Vec<(Arc<InputQueue>, String)>) {
        self.handles().inputs = inputs;
    }

    /// The counters its rates are taken of: each channel's flow.
    pub fn counters(&self, into: &mut Vec<(String, u64)>) {
        for (i, (q, _)) in self.handles().inputs.iter().enumerate() {
            let t = q.counts().totals();
            for (name, v) in FlowFigures::NAMES.iter().zip(FlowFigures::values(&t)) {
                into.push((FlowFigures::key(i, name), v));
            }
        }
    }

    /// Output `writer`'s subpartition `subpartition` connected to its consumer over `link`.
    pub fn output_connected(&self, writer: usize, subpartition: usize, link: ChannelLink) {
        let mut h = self.handles();
        h.outputs
            .retain(|(w, s, _)| (*w, *s) != (writer, subpartition));
        h.outputs.push((writer, subpartition, link));
    }

    /// The figures now, with rates from the node's last sample.
    pub fn snapshot(&self, rates: &Rates) -> SubtaskInfo {
        let h = self.handles();
        SubtaskInfo {
            identity: self.identity.clone(),
            status: h.status,
            inputs: h
                .inputs
                .iter()
                .enumerate()
                .map(|(i, (q, producer))| InputFigures {
                    producer: producer.clone(),
                    flow: FlowFigures::of(i, &q.counts().totals(), rates),
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
