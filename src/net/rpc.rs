//! Actor messages between processes, without knowing any of them: the envelope a typed message
//! travels in ([`Envelope`]: the target actor's path, the message's wire tag, its rmp-serde
//! bytes), a handle that sends envelopes to a remote node ([`RemotePeer`]), and the loop that
//! serves a connection ([`serve`]). Which Rust type a tag decodes to, and which actor a path
//! names, is the actor registry's business (`actors::remote`), so adding a message never touches
//! this file.
//!
//! ## Streams on a connection
//! - One unidirectional stream per direction carries one-way messages ("tells") in order, so
//!   that, say, RUNNING never overtakes FINISHED for the same subtask.
//! - A message that wants an answer ("ask") opens its own bidirectional stream: one
//!   [`StreamOpen::Ask`] frame, one reply frame (`Result<bytes, RemoteError>`), with a timeout.
//! - A data channel is a bidirectional stream opened with [`StreamOpen::Partition`]; it lives as
//!   long as the channel (see `net::remote`).
//!
//! ## Bounds
//! What a peer sends is bounded three times: QUIC flow control (a connection's receive window),
//! the asks served at once per connection ([`ASKS_IN_FLIGHT`]; further ask streams wait unread),
//! and the target actor's mailbox. A tell the target's mailbox cannot take closes the
//! connection with the reason (logged here; the peer logs the close reason it receives).
//! Anything that does not decode (garbage, an unknown tag, an oversized frame) also closes the
//! connection with a logged reason; an unknown path is answered with an error (asks) or logged
//! and dropped (tells: an actor that just stopped, such as a finished job's JobMaster, is not a
//! protocol error). Nothing a peer sends can panic the node.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use quinn::{RecvStream, SendStream};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};

use crate::ids::ResultPartitionId;
use crate::net::frame::{read_message, write_message, FrameError};
use crate::net::quic::{close, NetError, Peer};

/// The largest control frame (a deployment descriptor is a few KiB).
pub const CONTROL_FRAME_LIMIT: usize = 4 * 1024 * 1024;
/// One-way messages queued for a peer before the connection is judged stuck and closed.
pub const TELL_QUEUE: usize = 4096;
/// Asks served at once on one connection; more wait, unread, behind QUIC flow control.
pub const ASKS_IN_FLIGHT: usize = 32;

/// A message on its way to an actor in another process.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Envelope {
    /// The target actor's path in the receiving node's registry.
    pub to: String,
    /// The message's stable wire tag.
    pub tag: String,
    /// The message, rmp-serde.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Why a remote message was not handled.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// No actor is registered at the path.
    #[error("no actor at {0}")]
    NoActor(String),
    /// The actor at the path does not take messages with this tag.
    #[error("the actor at {path} ({kind}) takes no message {tag}")]
    UnknownMessage {
        /// The path.
        path: String,
        /// The actor's kind.
        kind: String,
        /// The tag.
        tag: String,
    },
    /// The message (or its answer) did not decode.
    #[error("{tag} does not decode: {reason}")]
    Undecodable {
        /// The tag.
        tag: String,
        /// The decoder's error.
        reason: String,
    },
    /// The actor's mailbox is full.
    #[error("the mailbox of {0} is full")]
    MailboxFull(String),
    /// The actor has stopped.
    #[error("{0} has stopped")]
    Stopped(String),
    /// The handler failed (it panicked; the actor was restarted).
    #[error("{0}")]
    Failed(String),
    /// The actor's node could not be reached (connection failed, closed or timed out).
    #[error("unreachable: {0}")]
    Unreachable(String),
}

impl RemoteError {
    /// Whether the peer broke the protocol (the connection is closed), rather than asking for
    /// something that is not there.
    pub fn is_protocol_error(&self) -> bool {
        matches!(self, Self::UnknownMessage { .. } | Self::Undecodable { .. })
    }
}

/// An ask's answer: the reply's rmp-serde bytes, or why there is none.
pub type AskReply = Result<serde_bytes::ByteBuf, RemoteError>;

/// The first frame of a bidirectional stream.
#[derive(Serialize, Deserialize, Debug)]
pub enum StreamOpen {
    /// A message that wants one reply.
    Ask(Envelope),
    /// A data channel: the consumer asks for a subpartition.
    Partition(PartitionRequest),
}

/// A consumer's request for one subpartition of a producer in the peer's process.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PartitionRequest {
    /// The partition.
    pub partition: ResultPartitionId,
    /// The subpartition.
    pub subpartition: u32,
    /// The consumer's initial credit.
    pub credit: u32,
}

/// A future that may hold actor handles (not `Send`); runs on the connection's arbiter.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A connection to a remote node, through which envelopes reach its actors.
#[derive(Clone, Debug)]
pub struct RemotePeer {
    peer: Peer,
    tells: mpsc::Sender<Envelope>,
    call_timeout: Duration,
    /// Why this node closed the connection, when it did.
    closed_because: Arc<OnceLock<String>>,
}

impl RemotePeer {
    /// Wraps an authenticated connection; starts its ordered one-way stream. Must run on an
    /// actix/tokio local runtime.
    pub fn new(peer: Peer, call_timeout: Duration) -> Self {
        let (tells, mut rx) = mpsc::channel::<Envelope>(TELL_QUEUE);
        let conn = peer.connection.clone();
        let addr = peer.address;
        actix_rt::spawn(async move {
            let mut send = match conn.open_uni().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(peer = %addr, error = %e, "no one-way stream");
                    return;
                }
            };
            while let Some(env) = rx.recv().await {
                if let Err(e) = write_message(&mut send, &env).await {
                    tracing::debug!(peer = %addr, error = %e, "one-way stream ended");
                    return;
                }
            }
            let _ = send.finish();
        });
        Self {
            peer,
            tells,
            call_timeout,
            closed_because: Arc::default(),
        }
    }

    /// The peer's node id.
    pub fn node_id(&self) -> &str {
        &self.peer.node_id
    }

    /// The peer's address.
    pub fn address(&self) -> SocketAddr {
        self.peer.address
    }

    /// The connection.
    pub fn connection(&self) -> &quinn::Connection {
        &self.peer.connection
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.peer.connection.close_reason().is_none()
    }

    /// Closes the connection, logging why.
    pub fn close(&self, code: quinn::VarInt, reason: &str) {
        tracing::warn!(peer = %self.peer.address, node = %self.peer.node_id, %reason, "closing the connection");
        let _ = self.closed_because.set(reason.to_string());
        self.peer.connection.close(code, reason.as_bytes());
    }

    /// Why the connection ended: the reason this node closed it for, or what the transport
    /// reports (the peer's reason, a timeout); `None` while it is open.
    pub fn close_reason(&self) -> Option<String> {
        let error = self.peer.connection.close_reason()?;
        Some(match self.closed_because.get() {
            Some(why) => format!("closed by this node: {why}"),
            None => error.to_string(),
        })
    }

    /// Sends a one-way message, in order with the others. A peer that lets [`TELL_QUEUE`] of
    /// them pile up is stuck: its connection is closed (heartbeats then declare it lost).
    pub fn tell(&self, env: Envelope) -> Result<(), NetError> {
        match self.tells.try_send(env) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(env)) => {
                let reason = format!("{} to {} dropped: the peer is not reading", env.tag, env.to);
                self.close(close::OVERLOADED, &reason);
                Err(NetError::Connection(reason))
            }
            Err(mpsc::error::TrySendError::Closed(env)) => Err(NetError::Connection(format!(
                "{} to {} dropped: the connection is closed",
                env.tag, env.to
            ))),
        }
    }

    /// Sends a message and waits for its answer (at most the call timeout).
    pub async fn ask(&self, env: Envelope) -> Result<Vec<u8>, RemoteError> {
        let conn = self.peer.connection.clone();
        let addr = self.peer.address;
        let exchange = async move {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| NetError::Connection(e.to_string()))?;
            write_message(&mut send, &StreamOpen::Ask(env)).await?;
            let _ = send.finish();
            read_message::<AskReply>(&mut recv, CONTROL_FRAME_LIMIT)
                .await?
                .ok_or_else(|| NetError::Connection("the peer closed the stream unanswered".into()))
        };
        let reply: Result<AskReply, NetError> = tokio::time::timeout(self.call_timeout, exchange)
            .await
            .unwrap_or(Err(NetError::Timeout {
                addr,
                timeout: self.call_timeout,
            }));
        match reply {
            Ok(r) => r.map(serde_bytes::ByteBuf::into_vec),
            Err(e) => Err(RemoteError::Unreachable(format!(
                "node {} ({addr}): {e}",
                self.peer.node_id
            ))),
        }
    }
}

/// What a node does with what its peers send.
pub trait Inbound: Clone + 'static {
    /// A one-way message. An error closes the connection when it is a protocol error or a
    /// full mailbox; otherwise it is logged.
    fn tell(&self, from: &RemotePeer, env: Envelope) -> Result<(), RemoteError>;
    /// A message that wants an answer.
    fn ask(&self, from: &RemotePeer, env: Envelope) -> LocalFuture<AskReply>;
    /// A data channel opened by a consumer on the peer.
    fn partition(
        &self,
        from: &RemotePeer,
        req: PartitionRequest,
        send: SendStream,
        recv: RecvStream,
    );
    /// The connection ended (closed, lost or broken).
    fn closed(&self, from: &RemotePeer, reason: String);
}

/// Serves the streams the peer opens on `peer`'s connection until it closes.
pub fn serve<H: Inbound>(peer: RemotePeer, handler: H) {
    // One-way streams: read in order, each message delivered before the next is read.
    {
        let (peer, handler) = (peer.clone(), handler.clone());
        actix_rt::spawn(async move {
            loop {
                let mut recv = match peer.connection().accept_uni().await {
                    Ok(r) => r,
                    Err(_) => return,
                };
                let (peer, handler) = (peer.clone(), handler.clone());
                actix_rt::spawn(async move {
                    loop {
                        match read_message::<Envelope>(&mut recv, CONTROL_FRAME_LIMIT).await {
                            Ok(Some(env)) => {
                                let (tag, to) = (env.tag.clone(), env.to.clone());
                                match handler.tell(&peer, env) {
                                    Ok(()) => {}
                                    Err(
                                        e @ (RemoteError::MailboxFull(_)
                                        | RemoteError::UnknownMessage { .. }
                                        | RemoteError::Undecodable { .. }),
                                    ) => {
                                        let code = if e.is_protocol_error() {
                                            close::PROTOCOL
                                        } else {
                                            close::OVERLOADED
                                        };
                                        return peer.close(code, &format!("{tag} to {to}: {e}"));
                                    }
                                    Err(e) => {
                                        tracing::debug!(peer = %peer.address(), %tag, %to, error = %e, "one-way message not delivered")
                                    }
                                }
                            }
                            Ok(None) => return,
                            Err(e) => return protocol_error(&peer, &e),
                        }
                    }
                });
            }
        });
    }
    // Bidirectional streams: asks and data channels.
    actix_rt::spawn(async move {
        let asks = Rc::new(Semaphore::new(ASKS_IN_FLIGHT));
        let reason = loop {
            let (mut send, mut recv) = match peer.connection().accept_bi().await {
                Ok(s) => s,
                Err(e) => break peer.close_reason().unwrap_or_else(|| e.to_string()),
            };
            let (peer, handler, asks) = (peer.clone(), handler.clone(), asks.clone());
            actix_rt::spawn(async move {
                // A data channel holds its permit only while its first frame is read.
                let Ok(permit) = asks.acquire().await else {
                    return;
                };
                match read_message::<StreamOpen>(&mut recv, CONTROL_FRAME_LIMIT).await {
                    Ok(Some(StreamOpen::Ask(env))) => {
                        let (tag, to) = (env.tag.clone(), env.to.clone());
                        let reply = handler.ask(&peer, env).await;
                        drop(permit);
                        let closing = match &reply {
                            Err(e) if e.is_protocol_error() => Some(format!("{tag} to {to}: {e}")),
                            _ => None,
                        };
                        if write_message(&mut send, &reply).await.is_ok() {
                            let _ = send.finish();
                        }
                        if let Some(reason) = closing {
                            // The error reaches the asker before the connection closes.
                            let _ =
                                tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
                            peer.close(close::PROTOCOL, &reason);
                        }
                    }
                    Ok(Some(StreamOpen::Partition(req))) => {
                        drop(permit);
                        handler.partition(&peer, req, send, recv)
                    }
                    Ok(None) => {}
                    Err(e) => protocol_error(&peer, &e),
                }
            });
        };
        handler.closed(&peer, reason);
    });
}

fn protocol_error(peer: &RemotePeer, e: &FrameError) {
    peer.close(close::PROTOCOL, &format!("protocol error: {e}"));
}
