//! `GET /actors/stream`: the actor topology's changes as server-sent events.
//!
//! While at least one client listens, one task gathers the topology every interval (one
//! second unless set) and publishes an event: `snapshot` (the whole topology) to a client that
//! has nothing yet, `update` (the actors changed or added, the paths removed, the nodes and the
//! edges) to the others. Each event has an id; a client that reconnects with `Last-Event-ID`
//! gets the events it missed, if they are still among the recent ones, else a new snapshot.
//!
//! ## Bounds
//! At most [`MAX_CLIENTS`] listen at once (more are refused with 503). Each client has a queue
//! of [`CLIENT_QUEUE`] events; a client whose queue is full when an event is published (it
//! stopped reading, and the server's socket buffers are full too) is dropped, never buffered
//! for. The last [`RECENT_EVENTS`] events are kept for resuming. Nothing is gathered while no
//! one listens.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::actors::topology::Topology;
use crate::rest::error::RestError;
use crate::rest::model::ErrorResponse;
use crate::rest::RestHandle;

/// Clients listening at once, at most.
pub const MAX_CLIENTS: usize = 16;
/// Events queued for one client, at most.
pub const CLIENT_QUEUE: usize = 8;
/// Events kept for clients that resume.
pub const RECENT_EVENTS: usize = 32;
/// How often the topology is gathered while clients listen, unless set.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

struct Client {
    tx: mpsc::Sender<Bytes>,
    needs_snapshot: bool,
}

#[derive(Default)]
struct Hub {
    next_id: u64,
    /// Each actor's figures as last published, by node and path.
    previous: HashMap<(String, String), serde_json::Value>,
    /// The last snapshot event.
    snapshot: Option<Bytes>,
    recent: VecDeque<(u64, Bytes)>,
    clients: Vec<Client>,
    running: bool,
    dropped: u64,
}

/// The stream's state, shared by the REST server's workers.
pub struct ActorStream {
    hub: Mutex<Hub>,
    interval: Duration,
}

impl std::fmt::Debug for ActorStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActorStream(every {:?})", self.interval)
    }
}

/// One event: `data` serialized straight into the event's bytes (no JSON value tree between:
/// the edges of a large job are thousands).
fn event<T: serde::Serialize>(id: u64, kind: &str, data: &T) -> Bytes {
    let mut out = format!("id: {id}\nevent: {kind}\ndata: ").into_bytes();
    if serde_json::to_writer(&mut out, data).is_err() {
        // Serializing plain data into memory does not fail; were it to, say so in JSON.
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The body of a `snapshot` event: the whole topology.
#[derive(serde::Serialize)]
struct SnapshotBody<'a> {
    nodes: &'a [crate::actors::topology::NodeActors],
    actors: &'a [crate::actors::remote::ActorInfo],
    edges: &'a [crate::actors::topology::Edge],
}

/// The body of an `update` event: what changed since the previous event.
#[derive(serde::Serialize)]
struct UpdateBody<'a> {
    nodes: &'a [crate::actors::topology::NodeActors],
    changed: &'a [serde_json::Value],
    removed: &'a [Removed],
    edges: &'a [crate::actors::topology::Edge],
}

/// An actor gone since the previous event.
#[derive(serde::Serialize)]
struct Removed {
    node: String,
    path: String,
}

impl ActorStream {
    /// A stream that gathers the topology every `interval` while clients listen.
    pub fn new(interval: Duration) -> Self {
        Self {
            hub: Mutex::default(),
            interval: interval.max(Duration::from_millis(10)),
        }
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        // Every update leaves the hub consistent: a poisoned lock is still usable.
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Clients listening now.
    pub fn clients(&self) -> usize {
        self.hub().clients.len()
    }

    /// Clients dropped for not reading.
    pub fn dropped(&self) -> u64 {
        self.hub().dropped
    }

    /// A new client, resuming after the event `last_id` if given; also says whether the
    /// gathering task must be started.
    fn subscribe(&self, last_id: Option<u64>) -> Result<(mpsc::Receiver<Bytes>, bool), RestError> {
        let mut hub = self.hub();
        hub.clients.retain(|c| !c.tx.is_closed());
        if hub.clients.len() >= MAX_CLIENTS {
            return Err(RestError::Unavailable(format!(
                "{MAX_CLIENTS} clients already follow /actors/stream"
            )));
        }
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        let _ = tx.try_send(Bytes::from_static(b"retry: 1000\n\n"));
        let missed: Option<Vec<Bytes>> = last_id.and_then(|after| {
            let first = hub.recent.front()?.0;
            let latest = hub.recent.back()?.0;
            if after + 1 < first || after > latest {
                return None;
            }
            let events: Vec<Bytes> = hub
                .recent
                .iter()
                .filter(|(id, _)| *id > after)
                .map(|(_, e)| e.clone())
                .collect();
            (events.len() < CLIENT_QUEUE).then_some(events)
        });
        let needs_snapshot = match (missed, &hub.snapshot) {
            (Some(events), _) => {
                for e in events {
                    let _ = tx.try_send(e);
                }
                false
            }
            (None, Some(s)) => {
                let _ = tx.try_send(s.clone());
                false
            }
            (None, None) => true,
        };
        hub.clients.push(Client { tx, needs_snapshot });
        let start = !std::mem::replace(&mut hub.running, true);
        Ok((rx, start))
    }

    /// Publishes the topology now: returns false (and stops) when no client listens.
    fn publish(&self, t: &Topology) -> bool {
        let mut hub = self.hub();
        hub.clients.retain(|c| !c.tx.is_closed());
        if hub.clients.is_empty() {
            hub.running = false;
            return false;
        }
        let id = hub.next_id;
        hub.next_id += 1;
        let mut now = HashMap::with_capacity(t.actors.len());
        let mut changed = Vec::new();
        for a in &t.actors {
            let key = (a.node.clone(), a.path.clone());
            let value = serde_json::to_value(a).unwrap_or(serde_json::Value::Null);
            if hub.previous.get(&key) != Some(&value) {
                changed.push(value.clone());
            }
            now.insert(key, value);
        }
        let removed: Vec<Removed> = hub
            .previous
            .keys()
            .filter(|k| !now.contains_key(*k))
            .map(|(node, path)| Removed {
                node: node.clone(),
                path: path.clone(),
            })
            .collect();
        hub.previous = now;
        let snapshot = event(
            id,
            "snapshot",
            &SnapshotBody {
                nodes: &t.nodes,
                actors: &t.actors,
                edges: &t.edges,
            },
        );
        let update = event(
            id,
            "update",
            &UpdateBody {
                nodes: &t.nodes,
                changed: &changed,
                removed: &removed,
                edges: &t.edges,
            },
        );
        hub.snapshot = Some(snapshot.clone());
        hub.recent.push_back((id, update.clone()));
        while hub.recent.len() > RECENT_EVENTS {
            hub.recent.pop_front();
        }
        let mut dropped = 0;
        hub.clients.retain_mut(|c| {
            let e = if c.needs_snapshot {
                snapshot.clone()
            } else {
                update.clone()
            };
            match c.tx.try_send(e) {
                Ok(()) => {
                    c.needs_snapshot = false;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if dropped > 0 {
            hub.dropped += dropped;
            tracing::info!(
                dropped,
                "/actors/stream clients dropped: they stopped reading"
            );
        }
        true
    }
}

/// Gathers and publishes while clients listen.
async fn run(h: web::Data<RestHandle>) {
    loop {
        tokio::time::sleep(h.stream.interval).await;
        match crate::rest::actors::topology(&h).await {
            Ok(t) => {
                if !h.stream.publish(&t) {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "actor topology not gathered for the stream");
                let mut hub = h.stream.hub();
                hub.clients.retain(|c| !c.tx.is_closed());
                if hub.clients.is_empty() {
                    hub.running = false;
                    return;
                }
            }
        }
    }
}

struct Events(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Events {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// `GET /actors/stream`.
#[utoipa::path(
    get,
    path = "/actors/stream",
    tag = "actors",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "Server-sent events: `snapshot`, then `update`s", body = String, content_type = "text/event-stream"),
        (status = 503, description = "Too many clients follow the stream", body = ErrorResponse),
    )
)]
pub async fn actors_stream(
    h: web::Data<RestHandle>,
    req: HttpRequest,
) -> Result<HttpResponse, RestError> {
    let last_id = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (rx, start) = h.stream.subscribe(last_id)?;
    if start {
        actix_rt::spawn(run(h.clone()));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(Events(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(n: usize) -> Topology {
        Topology::build(vec![crate::actors::topology::NodeActors {
            node: "jm".into(),
            role: "jobmanager",
            status: crate::actors::topology::NodeStatus::Ok,
            error: None,
            took_ms: 0,
            actors: (0..n)
                .map(|i| crate::actors::remote::ActorInfo::idle("jm", &format!("/a{i}"), "Test"))
                .collect(),
        }])
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).expect("utf-8")
    }

    #[test]
    fn a_new_client_gets_a_snapshot_then_updates_and_a_stalled_one_is_dropped() {
        let s = ActorStream::new(DEFAULT_INTERVAL);
        let (mut reader, start) = s.subscribe(None).expect("room");
        assert!(start);
        let (_stalled, start) = s.subscribe(None).expect("room");
        assert!(!start, "one gathering task");
        assert!(s.publish(&topology(2)));
        let retry = reader.try_recv().expect("retry");
        assert!(text(&retry).starts_with("retry:"));
        let first = reader.try_recv().expect("snapshot");
        assert!(text(&first).starts_with("id: 0\nevent: snapshot\n"));
        assert!(s.publish(&topology(1)));
        let second = reader.try_recv().expect("update");
        assert!(text(&second).contains("event: update"));
        assert!(text(&second).contains(r#""removed":[{"node":"jm","path":"/a1"}]"#));
        // The reader keeps reading; the stalled client's queue fills and it is dropped.
        for _ in 0..CLIENT_QUEUE {
            assert!(s.publish(&topology(1)));
            while reader.try_recv().is_ok() {}
        }
        assert_eq!(s.clients(), 1);
        assert_eq!(s.dropped(), 1);
        // Resuming after event 1 replays what followed it.
        let (mut resumed, _) = s.subscribe(Some(CLIENT_QUEUE as u64)).expect("room");
        let _retry = resumed.try_recv().expect("retry");
        let next = resumed.try_recv().expect("missed event");
        assert!(text(&next).starts_with(&format!("id: {}\nevent: update", CLIENT_QUEUE + 1)));
        drop(reader);
        drop(resumed);
        assert!(!s.publish(&topology(1)), "stops when no one listens");
    }

    #[test]
    fn clients_are_bounded() {
        let s = ActorStream::new(DEFAULT_INTERVAL);
        let held: Vec<_> = (0..MAX_CLIENTS)
            .map(|_| s.subscribe(None).expect("room"))
            .collect();
        assert!(matches!(s.subscribe(None), Err(RestError::Unavailable(_))));
        drop(held);
        assert!(s.subscribe(None).is_ok());
    }
}
