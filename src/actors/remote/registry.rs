//! A node's actor registry: the actors reachable from other processes, by path, with their
//! live figures; and the inbound side of the transport, which delivers an envelope to the actor
//! at its path, typed.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use serde::Serialize;

use super::{ActorRef, DecodeScope, Delivery, RemoteMessage, Route, Supervise};
use crate::actors::subtask::figures::{SubtaskFigures, SubtaskInfo};
use crate::actors::subtask::Subtask;
use crate::net::remote::RemoteNetwork;
use crate::net::rpc::{
    AskReply, Envelope, Inbound, LocalFuture, PartitionRequest, RemoteError, RemotePeer,
};

/// Figures of one message kind at one actor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageFigures {
    /// The message's tag.
    pub tag: &'static str,
    /// Messages handled.
    pub count: u64,
    /// Time spent in their handlers, in microseconds (the synchronous part).
    pub handler_micros: u64,
}

/// An actor's live figures, counted per message (control messages only, never per record).
#[derive(Debug, Default)]
pub struct ActorFigures {
    capacity: usize,
    queued: AtomicI64,
    restarts: AtomicU64,
    kinds: Mutex<Vec<MessageFigures>>,
    last_failure: Mutex<Option<(SystemTime, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is a single field write: a poisoned lock still holds consistent figures.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ActorFigures {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    pub(super) fn sent(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn unsent(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// A message sent through a reference left the mailbox.
    pub(super) fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// A handler (or a timer, or a continuation) named `tag` ran for `took`.
    pub(super) fn handled(&self, tag: &'static str, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut kinds = lock(&self.kinds);
        match kinds.iter_mut().find(|k| k.tag == tag) {
            Some(k) => {
                k.count += 1;
                k.handler_micros = k.handler_micros.saturating_add(micros);
            }
            None => kinds.push(MessageFigures {
                tag,
                count: 1,
                handler_micros: micros,
            }),
        }
    }

    pub(super) fn failed(&self, cause: &str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_failure) = Some((SystemTime::now(), cause.to_string()));
    }

    /// Restarts after a handler's panic.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}

/// One registered actor as the registry shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ActorInfo {
    /// Its path.
    pub path: String,
    /// Its kind.
    pub kind: &'static str,
    /// Its supervisor's path (none for a node's top-level actors).
    pub parent: Option<String>,
    /// Messages sent to it through references and not yet handled (for a subtask: elements
    /// waiting in its input queues, its mailbox for data).
    pub mailbox_len: u64,
    /// Its mailbox's capacity (for a subtask: what its input queues hold, the credit it
    /// grants).
    pub mailbox_capacity: usize,
    /// Messages handled, by tag.
    pub messages: Vec<MessageFigures>,
    /// Restarts after a handler panicked.
    pub restarts: u64,
    /// The last failure: when (ms since the epoch) and what.
    pub last_failure: Option<(u64, String)>,
    /// Whether it still runs.
    pub alive: bool,
    /// A subtask's status and credits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtask: Option<SubtaskInfo>,
}

pub(crate) struct Entry {
    kind: &'static str,
    actor: TypeId,
    addr: Box<dyn Any + Send + Sync>,
    alive: Box<dyn Fn() -> bool + Send + Sync>,
    parent: Option<String>,
    figures: Arc<ActorFigures>,
    subtask: Option<Arc<SubtaskFigures>>,
    path: Arc<str>,
}

impl Entry {
    fn addr<A: Actor>(&self) -> Result<&Addr<A>, RemoteError> {
        self.addr
            .downcast_ref::<Addr<A>>()
            .ok_or_else(|| RemoteError::Stopped(self.path.to_string()))
    }
}

/// A node's actors reachable from other processes, by path.
#[derive(Clone)]
pub struct ActorRegistry {
    node: Arc<str>,
    actors: Arc<Mutex<BTreeMap<String, Arc<Entry>>>>,
}

impl fmt::Debug for ActorRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRegistry({})", self.node)
    }
}

use std::fmt;

impl ActorRegistry {
    /// An empty registry of the node `node` (its id in the cluster).
    pub fn new(node: &str) -> Self {
        Self {
            node: node.into(),
            actors: Arc::default(),
        }
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    fn actors(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Entry>>> {
        lock(&self.actors)
    }

    /// Registers `addr` at `path` (replacing what was there) under the supervisor `parent`,
    /// with a mailbox of `capacity` (set by the actor itself); returns its reference.
    pub fn register<A: Supervise>(
        &self,
        path: &str,
        parent: Option<&str>,
        addr: Addr<A>,
        capacity: usize,
    ) -> ActorRef<A> {
        let figures = Arc::new(ActorFigures::new(capacity));
        let watch = addr.clone();
        let entry = Entry {
            kind: A::KIND,
            actor: TypeId::of::<A>(),
            addr: Box::new(addr.clone()),
            alive: Box::new(move || watch.connected()),
            parent: parent.map(str::to_string),
            figures: figures.clone(),
            subtask: None,
            path: path.into(),
        };
        self.actors().insert(path.to_string(), Arc::new(entry));
        ActorRef::local(addr, path, self.node.clone(), figures)
    }

    /// Registers the subtask `addr` at `path` under its slot `parent`, shown with its
    /// `figures`. Subtasks take no messages from other processes (their data comes on
    /// channels), so nothing is routed to them.
    pub fn register_subtask(
        &self,
        path: &str,
        parent: &str,
        addr: Addr<Subtask>,
        figures: Arc<SubtaskFigures>,
    ) {
        let watch = addr.clone();
        let entry = Entry {
            kind: "Subtask",
            actor: TypeId::of::<Subtask>(),
            addr: Box::new(addr),
            alive: Box::new(move || watch.connected()),
            parent: Some(parent.to_string()),
            figures: Arc::default(),
            subtask: Some(figures),
            path: path.into(),
        };
        self.actors().insert(path.to_string(), Arc::new(entry));
    }

    /// Removes the actor at `path`.
    pub fn unregister(&self, path: &str) {
        self.actors().remove(path);
    }

    /// Removes the subtask at `path` if it is the one with `figures` (a later attempt may
    /// have taken the path since).
    pub fn unregister_subtask(&self, path: &str, figures: &Arc<SubtaskFigures>) {
        let mut actors = self.actors();
        let same = actors
            .get(path)
            .and_then(|e| e.subtask.as_ref())
            .is_some_and(|f| Arc::ptr_eq(f, figures));
        if same {
            actors.remove(path);
        }
    }

    /// The actor of kind `A` at `path`, if one is registered there.
    pub fn lookup<A: Supervise>(&self, path: &str) -> Option<ActorRef<A>> {
        let entry = self.actors().get(path).cloned()?;
        let addr = entry.addr.downcast_ref::<Addr<A>>()?.clone();
        Some(ActorRef::local(
            addr,
            path,
            self.node.clone(),
            entry.figures.clone(),
        ))
    }

    /// Every registered actor and its figures, by path.
    pub fn snapshot(&self) -> Vec<ActorInfo> {
        let entries: Vec<Arc<Entry>> = self.actors().values().cloned().collect();
        entries
            .iter()
            .map(|e| {
                let f = &e.figures;
                let subtask = e.subtask.as_ref().map(|s| s.snapshot());
                let (queued, capacity) = match &subtask {
                    Some(s) => (s.queued() as u64, s.capacity()),
                    None => (
                        u64::try_from(f.queued.load(Ordering::Relaxed)).unwrap_or(0),
                        f.capacity,
                    ),
                };
                ActorInfo {
                    path: e.path.to_string(),
                    kind: e.kind,
                    parent: e.parent.clone(),
                    mailbox_len: queued,
                    mailbox_capacity: capacity,
                    messages: lock(&f.kinds).clone(),
                    restarts: f.restarts(),
                    last_failure: lock(&f.last_failure).as_ref().map(|(at, what)| {
                        let ms = at
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                        (ms, what.clone())
                    }),
                    alive: (e.alive)(),
                    subtask,
                }
            })
            .collect()
    }

    fn route(&self, env: &Envelope) -> Result<(Arc<Entry>, &'static Route), RemoteError> {
        let entry = self
            .actors()
            .get(&env.to)
            .cloned()
            .ok_or_else(|| RemoteError::NoActor(env.to.clone()))?;
        let route = routes()
            .get(&(entry.actor, env.tag.as_str()))
            .copied()
            .ok_or_else(|| RemoteError::UnknownMessage {
                path: env.to.clone(),
                kind: entry.kind.to_string(),
                tag: env.tag.clone(),
            })?;
        Ok((entry, route))
    }

    /// Delivers a one-way message from `peer` to the actor at its path.
    pub fn deliver_tell(
        &self,
        peer: Option<&RemotePeer>,
        env: &Envelope,
    ) -> Result<(), RemoteError> {
        let (entry, route) = self.route(env)?;
        (route.tell)(&entry, &env.payload, &self.scope(peer))
    }

    /// Delivers a message from `peer` that wants an answer.
    pub fn deliver_ask(&self, peer: Option<&RemotePeer>, env: &Envelope) -> LocalFuture<AskReply> {
        match self
            .route(env)
            .and_then(|(entry, route)| (route.ask)(&entry, &env.payload, &self.scope(peer)))
        {
            Ok(fut) => fut,
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    fn scope(&self, peer: Option<&RemotePeer>) -> DecodeScope {
        DecodeScope {
            registry: self.clone(),
            peer: peer.cloned(),
        }
    }
}

type RouteTable = HashMap<(TypeId, &'static str), &'static Route>;

fn routes() -> &'static RouteTable {
    static ROUTES: OnceLock<RouteTable> = OnceLock::new();
    ROUTES.get_or_init(|| {
        inventory::iter::<Route>
            .into_iter()
            .map(|r| (((r.actor)(), (r.tag)()), r))
            .collect()
    })
}

pub(super) fn deliver_tell<A, M>(
    entry: &Entry,
    payload: &[u8],
    scope: &DecodeScope,
) -> Result<(), RemoteError>
where
    A: Supervise + Handler<Delivery<M>>,
    M: RemoteMessage,
    M::Result: Send,
{
    let addr = entry.addr::<A>()?;
    let msg: M = scope.decode(M::TAG, payload)?;
    entry.figures.sent();
    addr.try_send(Delivery {
        msg,
        figures: entry.figures.clone(),
    })
    .map_err(|e| {
        entry.figures.unsent();
        match e {
            SendError::Full(_) => RemoteError::MailboxFull(entry.path.to_string()),
            SendError::Closed(_) => RemoteError::Stopped(entry.path.to_string()),
        }
    })
}

pub(super) fn deliver_ask<A, M>(
    entry: &Entry,
    payload: &[u8],
    scope: &DecodeScope,
) -> Result<LocalFuture<AskReply>, RemoteError>
where
    A: Supervise + Handler<Delivery<M>>,
    M: RemoteMessage,
    M::Result: Serialize + Send,
{
    let addr = entry.addr::<A>()?;
    let msg: M = scope.decode(M::TAG, payload)?;
    entry.figures.sent();
    let fut = addr.send(Delivery {
        msg,
        figures: entry.figures.clone(),
    });
    let path = entry.path.clone();
    Ok(Box::pin(async move {
        match fut.await {
            Ok(Ok(answer)) => rmp_serde::to_vec(&answer)
                .map(serde_bytes::ByteBuf::from)
                .map_err(|e| {
                    RemoteError::Failed(format!("the answer to {} does not encode: {e}", M::TAG))
                }),
            Ok(Err(failure)) => Err(RemoteError::Failed(failure.0)),
            Err(_) => Err(RemoteError::Stopped(path.to_string())),
        }
    }))
}

/// Hears of every connection of a node that ends, with the reason.
pub type ClosedHook = Arc<dyn Fn(&RemotePeer, &str) + Send + Sync>;

/// Serves a node's connections: envelopes go to the registry's actors, data channels to the
/// TaskManager's network (a JobManager has none), and a closed connection is reported.
#[derive(Clone)]
pub struct NodeInbound {
    registry: ActorRegistry,
    data: Option<RemoteNetwork>,
    on_closed: Option<ClosedHook>,
}

impl NodeInbound {
    /// Serves `registry`'s actors, and data channels when `data` is given; `on_closed` hears
    /// of every connection that ends.
    pub fn new(
        registry: ActorRegistry,
        data: Option<RemoteNetwork>,
        on_closed: Option<ClosedHook>,
    ) -> Self {
        Self {
            registry,
            data,
            on_closed,
        }
    }
}

impl Inbound for NodeInbound {
    fn tell(&self, from: &RemotePeer, env: Envelope) -> Result<(), RemoteError> {
        self.registry.deliver_tell(Some(from), &env)
    }

    fn ask(&self, from: &RemotePeer, env: Envelope) -> LocalFuture<AskReply> {
        self.registry.deliver_ask(Some(from), &env)
    }

    fn partition(
        &self,
        from: &RemotePeer,
        req: PartitionRequest,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) {
        match &self.data {
            Some(net) => net.serve_partition(req, send, recv),
            None => {
                tracing::warn!(peer = %from.address(), "data channel requested from a node without data channels; refused")
            }
        }
    }

    fn closed(&self, from: &RemotePeer, reason: String) {
        tracing::info!(peer = %from.address(), node = %from.node_id(), %reason, "connection closed");
        if let Some(net) = &self.data {
            net.connection_closed(from);
        }
        if let Some(hook) = &self.on_closed {
            hook(from, &reason);
        }
    }
}
