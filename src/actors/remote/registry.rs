//! A node's actor registry: the actors reachable from other processes, by path, with their
//! live figures; and the inbound side of the transport, which delivers an envelope to the actor
//! at its path, typed.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;

use super::figures::{lock, ActorFigures, ActorInfo, Rates};
use super::{ActorRef, DecodeScope, Delivery, RemoteMessage, Route, Supervise};
use crate::actors::subtask::figures::SubtaskFigures;
use crate::actors::subtask::Subtask;
use crate::net::remote::RemoteNetwork;
use crate::net::rpc::{
    AskReply, Envelope, Inbound, LocalFuture, PartitionRequest, RemoteError, RemotePeer,
};

pub(crate) struct Entry {
    kind: &'static str,
    actor: TypeId,
    addr: Box<dyn Any + Send + Sync>,
    alive: Box<dyn Fn() -> bool + Send + Sync>,
    parent: Option<String>,
    figures: Arc<ActorFigures>,
    subtask: Option<Arc<SubtaskFigures>>,
    path: Arc<str>,
    rates: Mutex<Rates>,
}

impl Entry {
    fn addr<A: Actor>(&self) -> Result<&Addr<A>, RemoteError> {
        self.addr
            .downcast_ref::<Addr<A>>()
            .ok_or_else(|| RemoteError::Stopped(self.path.to_string()))
    }
}

/// How often a node samples its actors' counters into rates.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// The counter of an actor's handler time (microseconds), as [`Rates`] keys it.
pub(super) const HANDLER_MICROS: &str = "\u{1}handler-micros";

/// A node's actors reachable from other processes, by path.
#[derive(Clone)]
pub struct ActorRegistry {
    node: Arc<str>,
    actors: Arc<Mutex<BTreeMap<String, Arc<Entry>>>>,
    sampled: Arc<Mutex<Option<Instant>>>,
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
            sampled: Arc::default(),
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
            rates: Mutex::default(),
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
            rates: Mutex::default(),
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
                let rates = lock(&e.rates);
                let subtask = e.subtask.as_ref().map(|s| s.snapshot(&rates));
                let (queued, capacity) = match &subtask {
                    Some(s) => (s.queued() as u64, s.capacity()),
                    None => (f.queued(), f.capacity()),
                };
                ActorInfo {
                    path: e.path.to_string(),
                    node: self.node.to_string(),
                    kind: e.kind.to_string(),
                    parent: e.parent.clone(),
                    mailbox_len: queued,
                    mailbox_capacity: capacity,
                    messages: f.messages(&self.node, &rates),
                    handler_micros_per_second: rates.get(HANDLER_MICROS),
                    restarts: f.restarts(),
                    last_failure: f.last_failure(),
                    alive: (e.alive)(),
                    subtask,
                }
            })
            .collect()
    }

    /// Samples every actor's counters into its rates, at most once per [`SAMPLE_PERIOD`]
    /// however many callers there are (a mini cluster's JobManager and TaskManagers share
    /// one registry).
    pub fn sample(&self) {
        let now = Instant::now();
        {
            let mut last = lock(&self.sampled);
            if last.is_some_and(|t| now.saturating_duration_since(t) < SAMPLE_PERIOD * 9 / 10) {
                return;
            }
            *last = Some(now);
        }
        let entries: Vec<Arc<Entry>> = self.actors().values().cloned().collect();
        for e in entries {
            let mut counters = Vec::new();
            e.figures.counters(&mut counters);
            if let Some(s) = &e.subtask {
                s.counters(&mut counters);
            }
            lock(&e.rates).sample(now, counters);
        }
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
        if let Some(p) = peer {
            entry.figures.received_from(p.node_id(), route_tag(route));
        }
        (route.tell)(&entry, &env.payload, &self.scope(peer))
    }

    /// Delivers a message from `peer` that wants an answer.
    pub fn deliver_ask(&self, peer: Option<&RemotePeer>, env: &Envelope) -> LocalFuture<AskReply> {
        match self.route(env).and_then(|(entry, route)| {
            if let Some(p) = peer {
                entry.figures.received_from(p.node_id(), route_tag(route));
            }
            (route.ask)(&entry, &env.payload, &self.scope(peer))
        }) {
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

fn route_tag(route: &Route) -> &'static str {
    (route.tag)()
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
