//! An operator chain: the operators of one JobVertex in one subtask, calling each other
//! directly. A chain is a tree (an operator may feed several chained successors and network
//! outputs); nodes are stored parent before child, so a node's successors always lie after it.

use std::sync::Arc;

use crate::checkpoint::CheckpointBarrier;
use crate::data::{Timestamp, WatermarkStatus};
use crate::net::RecordWriter;
use crate::operators::{Batch, Operator, OperatorError, RuntimeContext};
use crate::state::{RestoredState, StateSnapshot};

/// Where one output of a chained operator goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// To a later operator of the same chain, as its input `input`.
    Chained {
        /// Index of the node in the chain.
        node: usize,
        /// The input of that node.
        input: usize,
    },
    /// To a network output of the subtask.
    Network {
        /// Index of the record writer.
        writer: usize,
    },
}

/// One output edge of a chained operator.
#[derive(Clone, Debug)]
pub struct OutputTarget {
    /// The side output this edge carries, or `None` for the main output.
    pub tag: Option<Arc<str>>,
    /// Where it goes.
    pub target: Target,
}

/// One operator in a chain, with its outputs.
pub struct ChainNode {
    /// The operator's name, for errors.
    pub name: String,
    /// The operator.
    pub op: Box<dyn Operator>,
    /// Its outputs.
    pub outputs: Vec<OutputTarget>,
    /// Its runtime context.
    pub ctx: RuntimeContext,
}

/// How an operator emits: to its chained successors (called at once) and network writers.
pub struct Output<'a> {
    targets: &'a [OutputTarget],
    rest: &'a mut [ChainNode],
    offset: usize,
    writers: &'a mut [RecordWriter],
}

impl Output<'_> {
    /// Emits a buffer on the main output.
    pub fn emit(&mut self, batch: Batch) -> Result<(), OperatorError> {
        self.emit_tagged(None, batch)
    }

    /// Emits a buffer on the side output named `tag`.
    pub fn emit_side(&mut self, tag: &str, batch: Batch) -> Result<(), OperatorError> {
        self.emit_tagged(Some(tag), batch)
    }

    /// Emits a watermark on every output, main and side: chained successors process it at
    /// once, network outputs queue it after the records written before it.
    pub fn emit_watermark(&mut self, watermark: Timestamp) -> Result<(), OperatorError> {
        self.emit_event(
            |op, out| op.process_watermark(watermark, out),
            |w| w.broadcast_watermark(watermark),
        )
    }

    /// Emits a watermark status on every output, like [`Output::emit_watermark`].
    pub fn emit_watermark_status(&mut self, status: WatermarkStatus) -> Result<(), OperatorError> {
        self.emit_event(
            |op, out| op.process_watermark_status(status, out),
            |w| w.broadcast_status(status),
        )
    }

    fn emit_event(
        &mut self,
        chained: impl Fn(&mut dyn Operator, &mut Output<'_>) -> Result<(), OperatorError>,
        network: impl Fn(&mut RecordWriter),
    ) -> Result<(), OperatorError> {
        let targets = self.targets;
        for t in targets {
            match t.target {
                Target::Chained { node, .. } => with_node(
                    self.rest,
                    node - self.offset,
                    self.offset,
                    self.writers,
                    &chained,
                )?,
                Target::Network { writer } => {
                    if let Some(w) = self.writers.get_mut(writer) {
                        network(w);
                    }
                }
            }
        }
        Ok(())
    }

    fn emit_tagged(&mut self, tag: Option<&str>, batch: Batch) -> Result<(), OperatorError> {
        if batch.is_empty() {
            return Ok(());
        }
        let targets = self.targets;
        let mut previous: Option<&OutputTarget> = None;
        for t in targets.iter().filter(|t| t.tag.as_deref() == tag) {
            if let Some(p) = previous.replace(t) {
                self.send(p, batch.clone())?;
            }
        }
        match previous {
            Some(last) => self.send(last, batch),
            None => Ok(()),
        }
    }

    fn send(&mut self, t: &OutputTarget, batch: Batch) -> Result<(), OperatorError> {
        match t.target {
            Target::Chained { node, input } => deliver(
                self.rest,
                node - self.offset,
                self.offset,
                input,
                batch,
                self.writers,
            ),
            Target::Network { writer } => match self.writers.get_mut(writer) {
                Some(w) => w.write(batch),
                None => Err(OperatorError::Failed {
                    operator: "chain".into(),
                    message: format!("output to missing network writer {writer}"),
                }),
            },
        }
    }
}

/// Calls node `idx` of `nodes` (whose first element is chain index `offset`).
fn deliver(
    nodes: &mut [ChainNode],
    idx: usize,
    offset: usize,
    input: usize,
    batch: Batch,
    writers: &mut [RecordWriter],
) -> Result<(), OperatorError> {
    with_node(nodes, idx, offset, writers, |op, out| {
        op.process_batch(input, batch, out)
    })
}

fn with_node<R>(
    nodes: &mut [ChainNode],
    idx: usize,
    offset: usize,
    writers: &mut [RecordWriter],
    f: impl FnOnce(&mut dyn Operator, &mut Output<'_>) -> R,
) -> R {
    let (head, rest) = nodes.split_at_mut(idx + 1);
    let node = &mut head[idx];
    let mut out = Output {
        targets: &node.outputs,
        rest,
        offset: offset + idx + 1,
        writers,
    };
    f(node.op.as_mut(), &mut out)
}

/// The operators of one subtask and its network outputs.
pub struct Chain {
    nodes: Vec<ChainNode>,
    writers: Vec<RecordWriter>,
    head_inputs: usize,
    ended_inputs: Vec<bool>,
}

impl Chain {
    /// A chain of `nodes` (parent before child) whose head has `head_inputs` inputs.
    pub fn new(nodes: Vec<ChainNode>, writers: Vec<RecordWriter>, head_inputs: usize) -> Self {
        Self {
            nodes,
            writers,
            head_inputs,
            ended_inputs: vec![false; head_inputs.max(1)],
        }
    }

    /// Opens every operator, head first.
    pub fn open(&mut self) -> Result<(), OperatorError> {
        for n in &mut self.nodes {
            n.op.open(&n.ctx)?;
        }
        Ok(())
    }

    /// Feeds a buffer to the head's input `input`.
    pub fn process(&mut self, input: usize, batch: Batch) -> Result<(), OperatorError> {
        if self.nodes.is_empty() {
            return Ok(());
        }
        deliver(&mut self.nodes, 0, 0, input, batch, &mut self.writers)
    }

    /// The head's input watermark advanced to `watermark` (the minimum over its channels).
    pub fn process_watermark(&mut self, watermark: Timestamp) -> Result<(), OperatorError> {
        if self.nodes.is_empty() {
            return Ok(());
        }
        with_node(&mut self.nodes, 0, 0, &mut self.writers, |op, out| {
            op.process_watermark(watermark, out)
        })
    }

    /// The head's inputs all became idle, or one became active again.
    pub fn process_watermark_status(
        &mut self,
        status: WatermarkStatus,
    ) -> Result<(), OperatorError> {
        if self.nodes.is_empty() {
            return Ok(());
        }
        with_node(&mut self.nodes, 0, 0, &mut self.writers, |op, out| {
            op.process_watermark_status(status, out)
        })
    }

    /// Processing time reached `now`: every operator that asked for it is called, in chain
    /// order.
    pub fn on_processing_time(&mut self, now: Timestamp) -> Result<(), OperatorError> {
        for idx in 0..self.nodes.len() {
            if self.nodes[idx]
                .op
                .next_processing_time()
                .is_some_and(|t| t <= now)
            {
                with_node(&mut self.nodes, idx, 0, &mut self.writers, |op, out| {
                    op.on_processing_time(now, out)
                })?;
            }
        }
        Ok(())
    }

    /// The watermark alignment of the chain's first operator that applies one, and that
    /// operator's watermark now.
    pub fn watermark_alignment(
        &self,
    ) -> Option<(
        &crate::eventtime::alignment::WatermarkAlignment,
        crate::eventtime::alignment::ReportedWatermark,
    )> {
        self.nodes.iter().find_map(|n| n.op.watermark_alignment())
    }

    /// The earliest processing time an operator of the chain asked to be called at.
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.nodes
            .iter()
            .filter_map(|n| n.op.next_processing_time())
            .min()
    }

    /// Input `input` of the head has ended. Once all have, every chained operator is told its
    /// input ended, in chain order, and the network outputs are flushed and ended. Returns
    /// whether the whole chain has now ended.
    pub fn end_input(&mut self, input: usize) -> Result<bool, OperatorError> {
        if self.nodes.is_empty() {
            return Ok(true);
        }
        if let Some(e) = self.ended_inputs.get_mut(input) {
            if *e {
                return Ok(self.all_ended());
            }
            *e = true;
        }
        with_node(&mut self.nodes, 0, 0, &mut self.writers, |op, out| {
            op.end_input(input, out)
        })?;
        if !self.all_ended() {
            return Ok(false);
        }
        for idx in 1..self.nodes.len() {
            with_node(&mut self.nodes, idx, 0, &mut self.writers, |op, out| {
                op.end_input(0, out)
            })?;
        }
        for w in &mut self.writers {
            w.finish();
        }
        Ok(true)
    }

    fn all_ended(&self) -> bool {
        self.head_inputs == 0 || self.ended_inputs.iter().all(|e| *e)
    }

    /// Restores every operator `restore` finds state for (it is asked with each operator's
    /// context, whose `operator_id` names the state), before `open`.
    pub fn initialize_state(
        &mut self,
        mut restore: impl FnMut(&RuntimeContext) -> Result<Option<RestoredState>, OperatorError>,
    ) -> Result<(), OperatorError> {
        for n in &mut self.nodes {
            if let Some(r) = restore(&n.ctx)? {
                n.op.initialize_state(&r)?;
            }
        }
        Ok(())
    }

    /// Every operator's state for checkpoint `id`, by operator id (operators without state
    /// are left out).
    pub fn snapshot_state(
        &mut self,
        id: u64,
    ) -> Result<Vec<(String, StateSnapshot)>, OperatorError> {
        let mut out = Vec::new();
        for n in &mut self.nodes {
            let s = n.op.snapshot_state(id)?;
            if !s.is_empty() {
                out.push((n.ctx.operator_id.clone(), s));
            }
        }
        Ok(out)
    }

    /// Checkpoint `id` completed: every operator is told, in chain order.
    pub fn notify_checkpoint_complete(&mut self, id: u64) -> Result<(), OperatorError> {
        for n in &mut self.nodes {
            n.op.notify_checkpoint_complete(id)?;
        }
        Ok(())
    }

    /// Sends a checkpoint barrier on every network output, after every record emitted so far.
    pub fn broadcast_barrier(&mut self, barrier: &CheckpointBarrier) {
        for w in &mut self.writers {
            w.broadcast_barrier(barrier);
        }
    }

    /// The head operator's context.
    pub fn head_context(&self) -> Option<&RuntimeContext> {
        self.nodes.first().map(|n| &n.ctx)
    }

    /// Closes every operator; the first error wins but all are closed.
    pub fn close(&mut self) -> Result<(), OperatorError> {
        let mut first = Ok(());
        for n in &mut self.nodes {
            if let Err(e) = n.op.close() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// The network outputs.
    pub fn writers(&mut self) -> &mut [RecordWriter] {
        &mut self.writers
    }

    /// The name of the head operator.
    pub fn head_name(&self) -> &str {
        self.nodes
            .first()
            .map(|n| n.name.as_str())
            .unwrap_or("empty chain")
    }
}
