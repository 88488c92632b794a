//! Location-transparent actors: a typed message is sent the same way to an actor in this
//! process or in another one.
//!
//! - A **remote message** is one Rust type with a stable wire tag, declared beside its handler
//!   with [`remote_message!`](crate::remote_message): `remote_message!(TaskManager: FreeSlot =
//!   "rill.tm.FreeSlot");`. That one line is all the plumbing a new message needs: it records
//!   (at link time) how the tag decodes and which actor kind handles it, and wraps the handler
//!   in supervision and figures.
//! - An [`ActorRef<A>`] reaches an actor of kind `A` wherever it lives: [`ActorRef::tell`]
//!   (one-way, never past the mailbox's capacity) and [`ActorRef::ask`] (with an answer) take
//!   any remote message `A` handles. In this process the message goes into the actor's mailbox
//!   typed; in another it is serialized into an [`Envelope`](crate::net::rpc::Envelope) to the
//!   actor's path, and the receiving node's [`ActorRegistry`] delivers it typed.
//! - An `ActorRef` inside a message travels as `(node, path)` and is resolved on arrival (an
//!   actor of the receiving node, or one behind the connection the message came on), so a
//!   TaskManager can send its own reference in a registration, as Akka does.
//! - **Supervision** ([`supervise`](self::supervise)): a handler, timer or continuation of a
//!   control actor that panics is caught, logged with the message's tag, counted in the actor's
//!   figures, and the actor's [`Supervise::recover`] brings it back to a state it can serve
//!   from; an ask answers [`RemoteError::Failed`] with the panic's message. Handlers are
//!   written as [`Handles<M>`]; messages that never leave the process are declared with
//!   [`local_messages!`](crate::local_messages).

mod figures;
mod registry;
mod supervise;

use std::any::TypeId;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use actix::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use figures::{ActorFigures, ActorInfo, MessageFigures, MessageInfo, Rates, SenderFigures};
pub use inventory;
pub use registry::{ActorRegistry, ClosedHook, NodeInbound, SAMPLE_PERIOD};
pub use supervise::{
    guard, supervise, type_tag, ActorFailure, Delivery, Guarded, Handles, Reply, Supervise,
    Supervised, SupervisedContext, SupervisedFuture,
};

use crate::net::rpc::{Envelope, LocalFuture, RemoteError, RemotePeer};

/// A message that may cross processes: serde, with a stable wire tag. Declare it with
/// [`remote_message!`](crate::remote_message).
pub trait RemoteMessage: Message + Serialize + DeserializeOwned + Send + 'static {
    /// The wire tag: stable across builds, unique in the cluster.
    const TAG: &'static str;
}

/// Declares remote messages.
///
/// - `remote_message!(Actor: Msg = "tag")`: `Msg` is a remote message with the wire tag `tag`,
///   handled by `Actor` (the usual form, written beside the handler).
/// - `remote_message!(message Msg = "tag")` and `remote_message!(handler Actor: Msg)`: the two
///   halves, for a message that several kinds of actor handle.
/// - `remote_message!(inject_panic Actor)`: `Actor` takes [`InjectPanic`].
#[macro_export]
macro_rules! remote_message {
    (message $msg:ty = $tag:literal) => {
        impl $crate::actors::remote::RemoteMessage for $msg {
            const TAG: &'static str = $tag;
        }
    };
    (handler $actor:ty : $msg:ty) => {
        impl ::actix::Handler<$crate::actors::remote::Delivery<$msg>> for $actor {
            type Result = $crate::actors::remote::Supervised<
                <$actor as $crate::actors::remote::Handles<$msg>>::Result,
            >;

            fn handle(
                &mut self,
                delivery: $crate::actors::remote::Delivery<$msg>,
                ctx: &mut Self::Context,
            ) -> Self::Result {
                $crate::actors::remote::supervise(
                    self,
                    delivery,
                    ctx,
                    <$actor as $crate::actors::remote::Handles<$msg>>::handle,
                )
            }
        }
        $crate::local_messages!($actor: $msg);
        $crate::actors::remote::inventory::submit! {
            $crate::actors::remote::Route::new::<$actor, $msg>()
        }
    };
    ($actor:ty : $msg:ty = $tag:literal) => {
        $crate::remote_message!(message $msg = $tag);
        $crate::remote_message!(handler $actor: $msg);
    };
    (inject_panic $actor:ty) => {
        $crate::remote_message!(handler $actor: $crate::actors::remote::InjectPanic);
        impl $crate::actors::remote::Handles<$crate::actors::remote::InjectPanic> for $actor {
            type Result =
                ::std::result::Result<(), $crate::actors::remote::FaultInjectionOff>;

            fn handle(
                &mut self,
                msg: $crate::actors::remote::InjectPanic,
                _ctx: &mut Self::Context,
            ) -> Self::Result {
                $crate::actors::remote::inject_panic(
                    <$actor as $crate::actors::remote::Supervise>::KIND,
                    msg,
                )
            }
        }
    };
}

/// Makes the receiving control actor's handler panic, to test supervision. Honoured only by a
/// node started with `RILL_FAULT_INJECTION=1` in its environment; others answer an error.
#[derive(Message, Serialize, Deserialize, Debug, Clone)]
#[rtype(result = "Result<(), FaultInjectionOff>")]
pub struct InjectPanic {
    /// The panic's message.
    pub reason: String,
}

crate::remote_message!(message InjectPanic = "rill.test.InjectPanic");

/// The environment variable that lets [`InjectPanic`] panic a handler.
pub const FAULT_INJECTION_ENV: &str = "RILL_FAULT_INJECTION";

/// [`InjectPanic`] reached a node not started for tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("fault injection is off on this node ({FAULT_INJECTION_ENV} is not 1)")]
pub struct FaultInjectionOff;

/// Handles [`InjectPanic`] for an actor of `kind`: panics when fault injection is on.
pub fn inject_panic(kind: &str, msg: InjectPanic) -> Result<(), FaultInjectionOff> {
    if std::env::var(FAULT_INJECTION_ENV).as_deref() != Ok("1") {
        return Err(FaultInjectionOff);
    }
    tracing::warn!(actor = kind, reason = %msg.reason, "injecting a panic");
    // The one deliberate panic: a test asked for it on a node started for tests.
    #[allow(clippy::panic)]
    {
        panic!("injected: {}", msg.reason)
    }
}

type TellRoute = fn(&registry::Entry, &[u8], &DecodeScope) -> Result<(), RemoteError>;
type AskRoute = fn(
    &registry::Entry,
    &[u8],
    &DecodeScope,
) -> Result<LocalFuture<crate::net::rpc::AskReply>, RemoteError>;

/// How a remote message's tag reaches its handler: recorded by
/// [`remote_message!`](crate::remote_message), collected at link time.
pub struct Route {
    actor: fn() -> TypeId,
    tag: fn() -> &'static str,
    tell: TellRoute,
    ask: AskRoute,
}

inventory::collect!(Route);

impl Route {
    /// The route of `M` to actors of kind `A`.
    pub const fn new<A, M>() -> Self
    where
        A: Supervise + Handler<Delivery<M>>,
        M: RemoteMessage,
        M::Result: Serialize + Send,
    {
        Self {
            actor: TypeId::of::<A>,
            tag: tag_of::<M>,
            tell: registry::deliver_tell::<A, M>,
            ask: registry::deliver_ask::<A, M>,
        }
    }
}

fn tag_of<M: RemoteMessage>() -> &'static str {
    M::TAG
}

/// Where the actor references inside a message from `peer` resolve: actors of `registry`'s
/// node, or actors behind `peer`.
#[derive(Clone)]
pub(crate) struct DecodeScope {
    pub(crate) registry: ActorRegistry,
    pub(crate) peer: Option<RemotePeer>,
}

thread_local! {
    static DECODING: RefCell<Option<DecodeScope>> = const { RefCell::new(None) };
}

impl DecodeScope {
    /// Decodes `bytes` with actor references resolved in this scope.
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        tag: &str,
        bytes: &[u8],
    ) -> Result<T, RemoteError> {
        let previous = DECODING.with(|d| d.replace(Some(self.clone())));
        let out = rmp_serde::from_slice(bytes);
        DECODING.with(|d| *d.borrow_mut() = previous);
        out.map_err(|e| RemoteError::Undecodable {
            tag: tag.to_string(),
            reason: e.to_string(),
        })
    }
}

fn encode<T: Serialize>(tag: &str, value: &T) -> Result<Vec<u8>, RemoteError> {
    rmp_serde::to_vec(value).map_err(|e| RemoteError::Undecodable {
        tag: tag.to_string(),
        reason: format!("does not encode: {e}"),
    })
}

/// A reference to an actor of kind `A`, in this process or another.
pub struct ActorRef<A: Actor> {
    path: Arc<str>,
    target: Target<A>,
}

enum Target<A: Actor> {
    Local {
        addr: Addr<A>,
        node: Arc<str>,
        figures: Arc<ActorFigures>,
    },
    Remote {
        peer: RemotePeer,
        home: ActorRegistry,
    },
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            path: self.path.clone(),
            target: match &self.target {
                Target::Local {
                    addr,
                    node,
                    figures,
                } => Target::Local {
                    addr: addr.clone(),
                    node: node.clone(),
                    figures: figures.clone(),
                },
                Target::Remote { peer, home } => Target::Remote {
                    peer: peer.clone(),
                    home: home.clone(),
                },
            },
        }
    }
}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Local { node, .. } => write!(f, "ActorRef({node}{})", self.path),
            Target::Remote { peer, .. } => {
                write!(
                    f,
                    "ActorRef({}{} at {})",
                    peer.node_id(),
                    self.path,
                    peer.address()
                )
            }
        }
    }
}

impl<A: Supervise> ActorRef<A> {
    /// The actor at `path` behind `peer` (its kind is the caller's word, checked by the
    /// remote node for every message). `home` resolves references in its answers.
    pub fn remote(peer: RemotePeer, path: &str, home: ActorRegistry) -> Self {
        Self {
            path: path.into(),
            target: Target::Remote { peer, home },
        }
    }

    /// Its path in its node's registry.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The node it lives on, when that is another process.
    pub fn remote_node(&self) -> Option<&str> {
        match &self.target {
            Target::Local { .. } => None,
            Target::Remote { peer, .. } => Some(peer.node_id()),
        }
    }

    /// The connection it is reached through, when in another process.
    pub fn peer(&self) -> Option<&RemotePeer> {
        match &self.target {
            Target::Local { .. } => None,
            Target::Remote { peer, .. } => Some(peer),
        }
    }

    /// The figures of the actor, when it lives in this process.
    pub fn figures(&self) -> Option<&Arc<ActorFigures>> {
        match &self.target {
            Target::Local { figures, .. } => Some(figures),
            Target::Remote { .. } => None,
        }
    }

    /// Whether messages can still reach it (the actor runs, or its connection is open).
    pub fn is_alive(&self) -> bool {
        match &self.target {
            Target::Local { addr, .. } => addr.connected(),
            Target::Remote { peer, .. } => peer.is_open(),
        }
    }

    /// Sends a one-way message. In this process it goes into the mailbox only if there is
    /// room; to another process it is queued on the connection (a connection that cannot take
    /// it is closed). The error says why it was not sent.
    pub fn tell<M>(&self, msg: M) -> Result<(), RemoteError>
    where
        M: RemoteMessage,
        M::Result: Serialize + DeserializeOwned + Send,
        A: Handler<Delivery<M>>,
    {
        match &self.target {
            Target::Local { addr, figures, .. } => {
                figures.sent();
                addr.try_send(Delivery {
                    msg,
                    figures: figures.clone(),
                })
                .map_err(|e| {
                    figures.unsent();
                    match e {
                        SendError::Full(_) => RemoteError::MailboxFull(self.path.to_string()),
                        SendError::Closed(_) => RemoteError::Stopped(self.path.to_string()),
                    }
                })
            }
            Target::Remote { peer, .. } => {
                let env = Envelope {
                    to: self.path.to_string(),
                    tag: M::TAG.to_string(),
                    payload: encode(M::TAG, &msg)?,
                };
                peer.tell(env)
                    .map_err(|e| RemoteError::Unreachable(e.to_string()))
            }
        }
    }

    /// Like [`ActorRef::tell`], logging a message that could not be sent.
    pub fn tell_or_log<M>(&self, msg: M)
    where
        M: RemoteMessage,
        M::Result: Serialize + DeserializeOwned + Send,
        A: Handler<Delivery<M>>,
    {
        if let Err(e) = self.tell(msg) {
            tracing::warn!(to = %self.path, message = M::TAG, error = %e, "message not sent");
        }
    }

    /// Sends a message and resolves to its answer. In this process the send waits for room
    /// in the mailbox; to another process the answer comes within the RPC timeout.
    pub fn ask<M>(&self, msg: M) -> LocalFuture<Result<M::Result, RemoteError>>
    where
        M: RemoteMessage,
        M::Result: Serialize + DeserializeOwned + Send,
        A: Handler<Delivery<M>>,
    {
        let path = self.path.clone();
        match &self.target {
            Target::Local { addr, figures, .. } => {
                figures.sent();
                let fut = addr.send(Delivery {
                    msg,
                    figures: figures.clone(),
                });
                Box::pin(async move {
                    match fut.await {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(f)) => Err(RemoteError::Failed(f.0)),
                        Err(_) => Err(RemoteError::Stopped(path.to_string())),
                    }
                })
            }
            Target::Remote { peer, home } => {
                let env = match encode(M::TAG, &msg) {
                    Ok(payload) => Envelope {
                        to: path.to_string(),
                        tag: M::TAG.to_string(),
                        payload,
                    },
                    Err(e) => return Box::pin(async move { Err(e) }),
                };
                let scope = DecodeScope {
                    registry: home.clone(),
                    peer: Some(peer.clone()),
                };
                let peer = peer.clone();
                Box::pin(async move {
                    let bytes = peer.ask(env).await?;
                    scope.decode(M::TAG, &bytes)
                })
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireRef {
    node: String,
    path: String,
}

impl<A: Actor> Serialize for ActorRef<A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node = match &self.target {
            Target::Local { node, .. } => node.to_string(),
            Target::Remote { peer, .. } => peer.node_id().to_string(),
        };
        WireRef {
            node,
            path: self.path.to_string(),
        }
        .serialize(s)
    }
}

impl<'de, A: Supervise> Deserialize<'de> for ActorRef<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireRef::deserialize(d)?;
        let scope = DECODING.with(|c| c.borrow().clone()).ok_or_else(|| {
            D::Error::custom("an actor reference decodes only in a message between nodes")
        })?;
        if wire.node == scope.registry.node_id() {
            return scope.registry.lookup::<A>(&wire.path).ok_or_else(|| {
                D::Error::custom(format!("no {} at {} on this node", A::KIND, wire.path))
            });
        }
        match scope.peer {
            Some(peer) if peer.node_id() == wire.node => {
                Ok(ActorRef::remote(peer, &wire.path, scope.registry))
            }
            _ => Err(D::Error::custom(format!(
                "{} on node {} is neither on this node nor on the sender's",
                wire.path, wire.node
            ))),
        }
    }
}

impl<A: Supervise> ActorRef<A> {
    fn local(addr: Addr<A>, path: &str, node: Arc<str>, figures: Arc<ActorFigures>) -> Self {
        Self {
            path: path.into(),
            target: Target::Local {
                addr,
                node,
                figures,
            },
        }
    }
}
