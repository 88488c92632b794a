//! Data channels between processes. Each channel (one producer subpartition → one consumer
//! input channel) is its own bidirectional QUIC stream on the one connection between the two
//! TaskManagers: the consumer opens it with a [`PartitionRequest`], the producer sends element
//! frames on it, and the consumer sends credit frames back on the other half.
//!
//! ## Frames
//! - producer → consumer: `[kind u8][backlog u32 BE][payload]`, kind 0 = a buffer of records
//!   (rmp-serde `Vec<T>`), 1 = end of partition, 2 = a watermark (`i64` BE), 3 = a buffer
//!   with timestamps, 4 = a watermark status, 5 = a barrier, 6 = the producer failed (its
//!   cause, the last frame). Elements of one channel stay in order because a stream is
//!   ordered, so a watermark follows the records sent before it.
//! - consumer → producer: `[credits u32 BE]`.
//!
//! ## Bounds
//! The producer sends only with credit, so what waits in a channel's send queue is at most what
//! the consumer granted; the queue's capacity is the most a gate can grant one channel
//! (exclusive + floating credits + end of partition), and a consumer that grants more breaks the
//! protocol and fails the producer rather than growing the queue. Credits to send are a counter,
//! not a queue. Network I/O runs on the TaskManager's network thread, which only moves frames:
//! serialization happens on the producer's slot thread and deserialization on the consumer's
//! (frames wait on the channel's [`InputQueue`], whose capacity is the credit the consumer can
//! grant), so decoding never delays the network or the TaskManager actor.
//!
//! ## Frame limit
//! No data frame exceeds [`DATA_FRAME_LIMIT`]: the producer checks each frame it serializes
//! and hands an element that would exceed it back to its record writer, which splits the
//! buffer (see [`crate::net::writer`]); the consumer refuses a larger frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use actix::ArbiterHandle;
use quinn::{RecvStream, SendStream};
use tokio::sync::{mpsc, Notify};

use crate::config::RuntimeConfig;
use crate::data::{FailureCause, OperatorError, StreamElement};
use crate::eventtime::WatermarkStatus;
use crate::net::channel::{InputQueue, QueueError, SharedCredit, PRIORITY_ELEMENTS};
use crate::net::data_frame::*;
use crate::net::frame::{read_frame, write_frame, write_message, FrameError};
use crate::net::local::{ConnectConsumer, ConsumerEnd, LinkError, LocalTransport};
use crate::net::quic::{NetError, QuicNode};
use crate::net::rpc::{PartitionRequest, RemotePeer, StreamOpen};

/// The largest data frame sent or accepted. A producer splits a buffer whose frame would be
/// larger over several frames; a single record that is larger fails its job, without restarts.
pub const DATA_FRAME_LIMIT: usize = 64 * 1024 * 1024;

/// Where a subtask's channels go: this process's transport, and the network when the
/// TaskManager is part of a distributed cluster.
#[derive(Clone, Default)]
pub struct NetworkEnvironment {
    /// Channels within this process.
    pub local: LocalTransport,
    /// Channels to other processes.
    pub remote: Option<RemoteNetwork>,
}

/// Credit a consumer has granted and not yet sent to its remote producer.
#[derive(Default)]
pub struct CreditCell {
    pending: AtomicU32,
    closed: AtomicBool,
    notify: Notify,
}

impl CreditCell {
    /// Adds credit to send.
    pub fn add(&self, credits: u32) {
        self.pending.fetch_add(credits, Ordering::AcqRel);
        self.notify.notify_one();
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

/// The producer's end of a remote channel: serialized elements, queued for the stream writer,
/// and the credit the consumer's frames brought.
#[derive(Clone)]
pub struct RemoteOutput {
    frames: mpsc::Sender<Vec<u8>>,
    frame_limit: usize,
    buffer_bytes: usize,
    credit: Arc<SharedCredit>,
}

impl RemoteOutput {
    /// Queues frames on `frames`, each at most [`DATA_FRAME_LIMIT`] bytes and about
    /// [`crate::config::DEFAULT_BUFFER_BYTES`] of records; starts without credit.
    pub fn new(frames: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            frames,
            frame_limit: DATA_FRAME_LIMIT,
            buffer_bytes: crate::config::DEFAULT_BUFFER_BYTES,
            credit: Arc::new(SharedCredit::new(0)),
        }
    }

    /// The same, with buffers of about `bytes` serialized bytes.
    pub fn with_buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes.max(1);
        self
    }

    /// The credit the consumer granted and the producer has not spent.
    pub fn credit(&self) -> &SharedCredit {
        &self.credit
    }

    /// The producer failed with `cause`: the consumer's channel fails with it (Flink's
    /// `ProducerFailedException`), so a cause no restart cures reaches the JobMaster from
    /// either side. Sent without credit (the send queue keeps room for it); lost only when the
    /// consumer is gone.
    pub fn producer_failed(&self, failure: &FailureCause) {
        let cause = failure.message.as_str();
        let mut end = cause.len().min(FAILURE_CAUSE_BYTES);
        while !cause.is_char_boundary(end) {
            end -= 1;
        }
        let mut frame = Vec::with_capacity(5 + end);
        frame.push(KIND_PRODUCER_FAILED);
        let flags = if failure.recoverable {
            0
        } else {
            CAUSE_NOT_RECOVERABLE
        };
        frame.extend_from_slice(&flags.to_be_bytes());
        frame.extend_from_slice(&cause.as_bytes()[..end]);
        let _ = self.frames.try_send(frame);
    }

    /// The same, with frames of at most `limit` bytes (for tests of the limit).
    pub fn with_frame_limit(mut self, limit: usize) -> Self {
        self.frame_limit = limit;
        self
    }

    /// Serializes and queues one element (sent only with credit); returns the frame's size.
    /// A buffer of several records estimated at more than half again the network buffer size
    /// is handed back unsent, to be cut into parts of about that size; an element whose frame
    /// would exceed the limit too (the receiver refuses such frames and closes the channel,
    /// so sending one would only fail the job there, and again after every restart).
    pub fn send(&self, element: StreamElement, backlog: u32) -> Result<usize, LinkError> {
        if let StreamElement::Records(b) = &element {
            let estimate = b.estimate_record_bytes().saturating_mul(b.len());
            // The nearest whole number of network buffers: 1 up to 1.5 buffers' bytes.
            let parts = (estimate + self.buffer_bytes / 2) / self.buffer_bytes;
            if parts > 1 && b.len() > 1 {
                return Err(LinkError::Oversize {
                    parts: parts.min(b.len()),
                    element,
                });
            }
        }
        let mut frame = Vec::with_capacity(match &element {
            StreamElement::Records(b) => 20 + b.len() * 24,
            StreamElement::Watermark(_) => 13,
            StreamElement::Status(_) => 6,
            StreamElement::EndOfPartition => 5,
            StreamElement::Barrier(b) => 32 + b.dir.len(),
        });
        let kind = match &element {
            StreamElement::Records(b) if b.timestamps().is_some() => KIND_TIMED_RECORDS,
            StreamElement::Records(_) => KIND_RECORDS,
            StreamElement::Watermark(_) => KIND_WATERMARK,
            StreamElement::Status(_) => KIND_STATUS,
            StreamElement::EndOfPartition => KIND_END,
            StreamElement::Barrier(_) => KIND_BARRIER,
        };
        frame.push(kind);
        frame.extend_from_slice(&backlog.to_be_bytes());
        match &element {
            StreamElement::Records(b) => {
                if let Some(ts) = b.timestamps() {
                    frame.extend_from_slice(&(ts.len() as u32).to_be_bytes());
                    for t in ts {
                        frame.extend_from_slice(&t.to_be_bytes());
                    }
                }
                b.encode_into(&mut frame)?
            }
            StreamElement::Watermark(w) => frame.extend_from_slice(&w.to_be_bytes()),
            StreamElement::Status(s) => frame.push(u8::from(*s == WatermarkStatus::Idle)),
            StreamElement::EndOfPartition => {}
            StreamElement::Barrier(b) => {
                frame.extend_from_slice(&crate::net::frame::encode(b).map_err(|e| {
                    OperatorError::Failed {
                        operator: "network output".into(),
                        message: e.to_string(),
                    }
                })?)
            }
        }
        let size = frame.len();
        if size > self.frame_limit {
            return Err(LinkError::FrameTooLarge {
                element,
                bytes: size,
                limit: self.frame_limit,
            });
        }
        match self.frames.try_send(frame) {
            Ok(()) => Ok(size),
            // The consumer went away (its job ended or its TaskManager was lost): nothing to
            // deliver to, and the JobMaster learns of the failure by its own path.
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(0),
            Err(mpsc::error::TrySendError::Full(_)) if element.travels_without_credit() => {
                tracing::warn!("a remote channel's send queue is full; an unaligned barrier is dropped and its checkpoint will expire");
                Ok(0)
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(LinkError::Failed(OperatorError::Failed {
                    operator: "network".into(),
                    message: "a remote consumer granted more credit than its input gate holds"
                        .into(),
                }))
            }
        }
    }
}

/// The network side of a TaskManager: its endpoint, its connections to other TaskManagers,
/// and its network thread.
#[derive(Clone)]
pub struct RemoteNetwork {
    node: QuicNode,
    arbiter: ArbiterHandle,
    peers: Arc<Mutex<HashMap<String, RemotePeer>>>,
    /// One dial at a time per node: the channels requested together while the first
    /// connection to a node is being made all wait for it and share it.
    dials: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    local: LocalTransport,
    config: RuntimeConfig,
    /// Serves a connection this network dialed (the node's inbound side: the actor registry
    /// and these data channels), set once the node is assembled.
    serve: Arc<std::sync::OnceLock<ServeConnection>>,
}

/// Serves the streams a peer opens on a new connection.
pub type ServeConnection = Arc<dyn Fn(RemotePeer) + Send + Sync>;

impl RemoteNetwork {
    /// The network of a TaskManager whose endpoint is `node`, running on `arbiter`.
    pub fn new(
        node: QuicNode,
        arbiter: ArbiterHandle,
        local: LocalTransport,
        config: RuntimeConfig,
    ) -> Self {
        Self {
            node,
            arbiter,
            peers: Arc::new(Mutex::new(HashMap::new())),
            dials: Arc::new(Mutex::new(HashMap::new())),
            local,
            config,
            serve: Arc::default(),
        }
    }

    /// Sets how connections this network dials are served (once; later calls are ignored).
    pub fn set_serve(&self, serve: ServeConnection) {
        let _ = self.serve.set(serve);
    }

    /// A connection ended: forget it, so the next channel to that node dials again.
    pub fn connection_closed(&self, from: &RemotePeer) {
        let mut peers = self.peers();
        if peers
            .get(from.node_id())
            .is_some_and(|p| p.connection().stable_id() == from.connection().stable_id())
        {
            peers.remove(from.node_id());
        }
    }

    /// The in-process transport its remote consumers are matched against (the TaskManager's).
    pub fn local(&self) -> &LocalTransport {
        &self.local
    }

    /// The endpoint.
    pub fn node(&self) -> &QuicNode {
        &self.node
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<String, RemotePeer>> {
        // Each update is one insert or remove: a poisoned map is still consistent.
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers a connection to the node `peer.node_id()` (dialed or accepted).
    pub fn add_peer(&self, peer: RemotePeer) {
        self.peers().insert(peer.node_id().to_string(), peer);
    }

    fn open_peer(&self, node: &str) -> Option<RemotePeer> {
        self.peers().get(node).filter(|p| p.is_open()).cloned()
    }

    async fn peer_for(&self, node: &str, addr: SocketAddr) -> Result<RemotePeer, NetError> {
        if let Some(p) = self.open_peer(node) {
            return Ok(p);
        }
        let gate = {
            let mut dials = self.dials.lock().unwrap_or_else(|p| p.into_inner());
            dials.entry(node.to_string()).or_default().clone()
        };
        let _dialing = gate.lock().await;
        // Whoever held the gate before may have connected meanwhile.
        if let Some(p) = self.open_peer(node) {
            return Ok(p);
        }
        tracing::debug!(%node, %addr, "opening a data connection");
        let peer = RemotePeer::new(self.node.connect(addr).await?, self.config.rpc_timeout);
        match self.serve.get() {
            Some(serve) => serve(peer.clone()),
            None => {
                tracing::warn!(%node, "a dialed connection is not served: the node has no inbound side")
            }
        }
        self.add_peer(peer.clone());
        Ok(peer)
    }

    /// Opens a remote channel from the producer on `node` at `addr` onto a consumer's input
    /// queue `inbox`. Returns the cell through which the consumer grants credit.
    pub fn request_partition(
        &self,
        node: String,
        addr: SocketAddr,
        req: PartitionRequest,
        inbox: Arc<InputQueue>,
    ) -> Arc<CreditCell> {
        let cell = Arc::new(CreditCell::default());
        let (net, credits) = (self.clone(), cell.clone());
        self.arbiter.spawn(async move {
            let fail = |cause: String| {
                inbox.fail(FailureCause::recoverable(format!(
                    "remote channel from {node} ({addr}): {cause}"
                )))
            };
            tracing::debug!(%node, %addr, partition = ?req.partition, "requesting a remote subpartition");
            let peer = match net.peer_for(&node, addr).await {
                Ok(p) => p,
                Err(e) => return fail(e.to_string()),
            };
            let (mut send, mut recv) = match peer.connection().open_bi().await {
                Ok(s) => s,
                Err(e) => return fail(e.to_string()),
            };
            if let Err(e) = write_message(&mut send, &StreamOpen::Partition(req)).await {
                return fail(e.to_string());
            }
            actix_rt::spawn(send_credits(send, credits.clone()));
            let outcome = receive(&mut recv, &inbox).await;
            credits.close();
            if let Err(cause) = outcome {
                fail(cause.to_string());
            }
        });
        cell
    }

    /// Serves a consumer's request for a subpartition produced in this process.
    pub fn serve_partition(&self, req: PartitionRequest, send: SendStream, recv: RecvStream) {
        tracing::debug!(partition = ?req.partition, subpartition = req.subpartition, "serving a remote subpartition");
        // What the consumer may grant, its end of partition and a producer's failure, and
        // room for unaligned barriers (one beyond it is dropped; its checkpoint expires).
        let cap = (self.config.exclusive_credits + self.config.floating_credits) as usize
            + 2
            + PRIORITY_ELEMENTS;
        let (frames, rx) = mpsc::channel::<Vec<u8>>(cap);
        let output = RemoteOutput::new(frames).with_buffer_bytes(self.config.buffer_bytes);
        output.credit().grant(req.credit);
        let credit = output.credit.clone();
        self.local.request_partition(ConnectConsumer {
            partition: req.partition,
            writer: 0,
            subpartition: req.subpartition as usize,
            consumer: ConsumerEnd::Remote(output),
        });
        actix_rt::spawn(send_frames(send, rx));
        actix_rt::spawn(receive_credits(recv, credit));
    }
}

async fn send_credits(mut send: SendStream, cell: Arc<CreditCell>) {
    loop {
        cell.notify.notified().await;
        let n = cell.pending.swap(0, Ordering::AcqRel);
        if n > 0 && write_frame(&mut send, &n.to_be_bytes()).await.is_err() {
            return;
        }
        if cell.closed.load(Ordering::Acquire) {
            let _ = send.finish();
            return;
        }
    }
}

/// Why a channel from another process broke.
#[derive(Debug, thiserror::Error)]
enum ChannelError {
    #[error("the producer closed the channel before its end")]
    ClosedEarly,
    #[error(transparent)]
    Read(#[from] FrameError),
    #[error(transparent)]
    Overrun(QueueError),
}

async fn receive(recv: &mut RecvStream, inbox: &InputQueue) -> Result<(), ChannelError> {
    loop {
        let Some(frame) = read_frame(recv, DATA_FRAME_LIMIT).await? else {
            return Err(ChannelError::ClosedEarly);
        };
        if frame.first() == Some(&KIND_PRODUCER_FAILED) {
            let flags = frame
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_be_bytes);
            inbox.fail(FailureCause {
                message: format!(
                    "the producer failed: {}",
                    String::from_utf8_lossy(frame.get(5..).unwrap_or_default())
                ),
                recoverable: flags & CAUSE_NOT_RECOVERABLE == 0,
            });
            return Ok(());
        }
        let end = frame.first() == Some(&KIND_END);
        // Decoded by the consumer, on its slot's thread: this (network) thread only moves
        // bytes. Sent only against credit, so the consumer's queue holds at most its credits;
        // a queue that cannot take it means the producer broke the protocol.
        match inbox.push_frame(frame) {
            Ok(()) => {}
            Err(e @ QueueError::Overrun(_)) => return Err(ChannelError::Overrun(e)),
            // The consumer has ended: nothing more to deliver.
            Err(QueueError::Closed) => return Ok(()),
        }
        if end {
            return Ok(());
        }
    }
}

async fn send_frames(mut send: SendStream, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = rx.recv().await {
        if write_frame(&mut send, &frame).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}

/// Reads the consumer's credit frames into the producer's credit (a counter: a consumer that
/// announces more than its gate holds overruns the send queue, which fails the producer).
async fn receive_credits(mut recv: RecvStream, credit: Arc<SharedCredit>) {
    loop {
        match read_frame(&mut recv, 4).await {
            Ok(Some(f)) if f.len() == 4 => {
                credit.grant(u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            }
            Ok(None) => break,
            Ok(Some(f)) => {
                tracing::warn!(len = f.len(), "bad credit frame; closing the channel");
                break;
            }
            Err(e) => {
                tracing::debug!(error = %e, "credit stream ended");
                break;
            }
        }
    }
    credit.disconnect_producer();
}
