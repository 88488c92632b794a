//! The in-process transport: connects a consumer's input channel to its producer's
//! subpartition when both run in this process. The two share the channel's [`InputQueue`]:
//! the producer hands typed buffers over onto it, without serialization, and takes its credit
//! from it. Touched only when channels are set up and torn down, never per buffer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::{Message, Recipient};

use crate::data::{FailureCause, OperatorError, StreamElement};
use crate::ids::{JobId, ResultPartitionId};
use crate::net::channel::{InputQueue, QueueError, SharedCredit};
use crate::net::remote::RemoteOutput;

/// The consumer end of one channel, as its producer sees it.
#[derive(Clone)]
pub enum ChannelLink {
    /// A consumer in this process: typed buffers handed over on the channel's queue, whose
    /// credit the queue also holds.
    Local(Arc<InputQueue>),
    /// A consumer in another process: serialized onto its QUIC stream.
    Remote(RemoteOutput),
}

impl ChannelLink {
    /// The credit this channel's consumer grants its producer.
    pub fn credit(&self) -> &SharedCredit {
        match self {
            Self::Local(queue) => queue.credit(),
            Self::Remote(out) => out.credit(),
        }
    }

    /// The producer failed with `cause`: the consumer's channel fails with it.
    pub fn producer_failed(&self, cause: &FailureCause) {
        match self {
            Self::Local(queue) => queue.fail(cause.within("the producer failed")),
            Self::Remote(out) => out.producer_failed(cause),
        }
    }

    /// Sends one element; `backlog` is what the producer still has queued for the channel.
    /// Sent only with credit, so the consumer's queue (or the stream's) holds at most its
    /// granted credits. Returns the bytes serialized (none for a consumer in this process).
    /// An element too large for one data frame is handed back, unsent.
    pub fn send(&self, element: StreamElement, backlog: u32) -> Result<usize, LinkError> {
        match self {
            Self::Local(queue) => {
                let priority = element.travels_without_credit();
                match queue.offer(element, backlog) {
                    // A consumer that ended takes nothing more; the JobMaster learns of its
                    // end by its own path.
                    Ok(()) | Err(QueueError::Closed) => Ok(0),
                    Err(QueueError::Overrun(_)) if priority => {
                        tracing::warn!("a channel's queue is full; an unaligned barrier is dropped and its checkpoint will expire");
                        Ok(0)
                    }
                    Err(e @ QueueError::Overrun(_)) => {
                        Err(LinkError::Failed(OperatorError::Failed {
                            operator: "local channel".into(),
                            message: e.to_string(),
                        }))
                    }
                }
            }
            Self::Remote(out) => out.send(element, backlog),
        }
    }
}

/// Why a channel did not take an element.
#[derive(Debug)]
pub enum LinkError {
    /// Serialized, the element takes `bytes`, more than the data frame limit `limit`: it is
    /// handed back unsent, for its records to be split over several frames.
    FrameTooLarge {
        /// The element.
        element: StreamElement,
        /// Its frame's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The element is a buffer larger than the channel's buffers: it is handed back unsent, to
    /// be cut into `parts` buffers.
    Oversize {
        /// The element.
        element: StreamElement,
        /// Into how many buffers to cut it.
        parts: usize,
    },
    /// The channel failed.
    Failed(OperatorError),
}

impl From<OperatorError> for LinkError {
    fn from(e: OperatorError) -> Self {
        Self::Failed(e)
    }
}

/// A consumer asks for a subpartition (the partition request).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ConnectConsumer {
    /// The partition.
    pub partition: ResultPartitionId,
    /// The producer's writer for it (filled in by the transport).
    pub writer: usize,
    /// The subpartition.
    pub subpartition: usize,
    /// The consumer (with the credit it grants).
    pub consumer: ConsumerEnd,
}

/// Where a partition request came from.
#[derive(Clone)]
pub enum ConsumerEnd {
    /// A subtask in this process, through the channel's queue.
    Local(Arc<InputQueue>),
    /// A subtask in another process, behind a QUIC stream.
    Remote(RemoteOutput),
}

/// A producer's end of the transport: where its partition requests go.
pub type Producer = Recipient<ConnectConsumer>;

#[derive(Default)]
struct Table {
    producers: HashMap<ResultPartitionId, (Producer, usize)>,
    pending: HashMap<ResultPartitionId, Vec<ConnectConsumer>>,
}

/// Matches partition requests with producers registered in this process.
#[derive(Clone, Default)]
pub struct LocalTransport {
    table: Arc<Mutex<Table>>,
}

impl LocalTransport {
    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding this lock cannot leave the maps inconsistent (each update is
        // one insert or remove), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A producer's partition (its record writer `writer`) is ready for consumers.
    pub fn register_producer(
        &self,
        partition: ResultPartitionId,
        producer: Producer,
        writer: usize,
    ) {
        let waiting = {
            let mut t = self.table();
            t.producers.insert(partition, (producer.clone(), writer));
            t.pending.remove(&partition).unwrap_or_default()
        };
        for mut req in waiting {
            req.writer = writer;
            producer.do_send(req);
        }
    }

    /// The producer is gone.
    pub fn unregister_producer(&self, partition: &ResultPartitionId) {
        self.table().producers.remove(partition);
    }

    /// Asks for a subpartition; delivered to the producer now or once it registers.
    pub fn request_partition(&self, mut req: ConnectConsumer) {
        let mut t = self.table();
        match t.producers.get(&req.partition) {
            Some((addr, writer)) => {
                req.writer = *writer;
                addr.do_send(req);
            }
            None => t.pending.entry(req.partition).or_default().push(req),
        }
    }

    /// Drops every registration and waiting request of a job that has ended.
    pub fn forget_job(&self, job: JobId) {
        let mut t = self.table();
        t.producers.retain(|p, _| p.job != job);
        t.pending.retain(|p, _| p.job != job);
    }

    /// Registrations and waiting requests held (for tests of cleanup).
    pub fn entries(&self) -> usize {
        let t = self.table();
        t.producers.len() + t.pending.len()
    }
}
