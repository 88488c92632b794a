//! Location-transparent actors: a remote message declared in one place (a test actor's, in
//! this file) reaches a local and a remote instance through the same call; references inside
//! messages resolve on arrival; unknown paths, unknown tags and a mailbox overrun get clear
//! errors and never panic the node; a handler's panic is supervised and counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use rill::actors::remote::{ActorRef, ActorRegistry, ClosedHook, Handles, NodeInbound, Supervise};
use rill::net::quic::{ClusterSecret, NodeRole, QuicNode, QuicSettings};
use rill::net::rpc::{self, Envelope, RemoteError, RemotePeer};
use serde::{Deserialize, Serialize};

/// A test actor: keeps a sum, and can be told to hand a greeting to another counter.
struct Counter {
    sum: u64,
    seen: Vec<String>,
}

impl Actor for Counter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(8);
    }
}

impl Supervise for Counter {
    const KIND: &'static str = "Counter";

    fn recover(&mut self, _cause: &str, _ctx: &mut Context<Self>) {
        self.sum = 0;
    }
}

/// The new remote message: declared here, once, beside its handler.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "u64")]
struct Add {
    n: u64,
}

rill::remote_message!(Counter: Add = "test.counter.Add");

impl Handles<Add> for Counter {
    type Result = u64;

    fn handle(&mut self, msg: Add, _ctx: &mut Context<Self>) -> u64 {
        assert!(msg.n != 13, "thirteen is unlucky");
        self.sum += msg.n;
        self.sum
    }
}

/// Carries a reference: the receiver greets the counter it names.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
struct Introduce {
    from: ActorRef<Counter>,
    name: String,
}

rill::remote_message!(Counter: Introduce = "test.counter.Introduce");

impl Handles<Introduce> for Counter {
    type Result = ();

    fn handle(&mut self, msg: Introduce, _ctx: &mut Context<Self>) {
        self.seen.push(msg.name.clone());
        msg.from.tell_or_log(Greet {
            name: format!("hello {}", msg.name),
        });
    }
}

#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
struct Greet {
    name: String,
}

rill::remote_message!(Counter: Greet = "test.counter.Greet");

impl Handles<Greet> for Counter {
    type Result = ();

    fn handle(&mut self, msg: Greet, _ctx: &mut Context<Self>) {
        self.seen.push(msg.name);
    }
}

#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "Vec<String>")]
struct Seen;

rill::remote_message!(Counter: Seen = "test.counter.Seen");

impl Handles<Seen> for Counter {
    type Result = Vec<String>;

    fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> Vec<String> {
        self.seen.clone()
    }
}

/// A slow message, to fill a mailbox.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
struct Nap;

rill::remote_message!(Counter: Nap = "test.counter.Nap");

impl Handles<Nap> for Counter {
    type Result = ();

    fn handle(&mut self, _: Nap, _ctx: &mut Context<Self>) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn node(id: &str) -> QuicNode {
    QuicNode::bind(
        "127.0.0.1:0".parse().expect("addr"),
        ClusterSecret::new("test-secret"),
        id.into(),
        NodeRole::TaskManager,
        &QuicSettings::default(),
    )
    .expect("bind")
}

/// Two nodes, each with a registry and a counter at `/counter`; returns both registries, the
/// connection from A to B, and B's counter as B (local) and as A (remote) address it.
async fn two_nodes() -> (
    ActorRegistry,
    ActorRegistry,
    RemotePeer,
    ActorRef<Counter>,
    ActorRef<Counter>,
) {
    let (a, b) = (node("node-a"), node("node-b"));
    let (reg_a, reg_b) = (ActorRegistry::new("node-a"), ActorRegistry::new("node-b"));
    let start = |reg: &ActorRegistry| {
        let addr = Counter {
            sum: 0,
            seen: Vec::new(),
        }
        .start();
        reg.register("/counter", None, addr, 8)
    };
    start(&reg_a);
    let local_b = start(&reg_b);
    // B serves what A sends it.
    let closed_at_b = Arc::new(Mutex::new(Vec::new()));
    let record = closed_at_b.clone();
    let on_closed: ClosedHook = Arc::new(move |_: &RemotePeer, reason: &str| {
        record.lock().expect("lock").push(reason.to_string())
    });
    let (b_srv, inbound_b) = (
        b.clone(),
        NodeInbound::new(reg_b.clone(), None, Some(on_closed)),
    );
    actix_rt::spawn(async move {
        while let Some(inc) = b_srv.accept().await {
            if let Ok((peer, _)) = b_srv.authenticate(inc).await {
                rpc::serve(
                    RemotePeer::new(peer, Duration::from_secs(5)),
                    inbound_b.clone(),
                );
            }
        }
    });
    let peer = RemotePeer::new(
        a.connect(b.local_addr().expect("addr"))
            .await
            .expect("connect"),
        Duration::from_secs(5),
    );
    // A serves what B sends back on the same connection.
    rpc::serve(peer.clone(), NodeInbound::new(reg_a.clone(), None, None));
    let remote_b = ActorRef::<Counter>::remote(peer.clone(), "/counter", reg_a.clone());
    CLOSED_AT_B.with(|c| *c.borrow_mut() = closed_at_b);
    (reg_a, reg_b, peer, local_b, remote_b)
}

thread_local! {
    /// Why node B's connections ended, as its inbound side heard (one test per thread).
    static CLOSED_AT_B: std::cell::RefCell<Arc<Mutex<Vec<String>>>> = Default::default();
}

fn closed_at_b() -> Vec<String> {
    CLOSED_AT_B.with(|c| c.borrow().lock().expect("lock").clone())
}

/// Waits (at most 5 s) until `peer`'s connection has closed.
async fn closed(peer: &RemotePeer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while peer.is_open() {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection stays open"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The same call, whatever the reference points at.
async fn add(to: &ActorRef<Counter>, n: u64) -> Result<u64, RemoteError> {
    to.ask(Add { n }).await
}

#[actix_rt::test]
async fn a_new_message_reaches_a_local_and_a_remote_actor_through_the_same_call() {
    let (reg_a, reg_b, _peer, local_b, remote_b) = two_nodes().await;
    assert_eq!(add(&local_b, 2).await, Ok(2), "in this process");
    assert_eq!(
        add(&remote_b, 3).await,
        Ok(5),
        "in the other node: the same actor"
    );
    remote_b.tell(Add { n: 10 }).expect("told");
    remote_b.tell(Add { n: 20 }).expect("told");
    // Tells are delivered in order (an ask is not ordered with them: it has its own stream).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while add(&local_b, 0).await != Ok(35) {
        assert!(
            std::time::Instant::now() < deadline,
            "the tells never arrived"
        );
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }

    // A reference inside a message resolves on arrival: B greets A's counter back over the
    // connection the introduction came on.
    let a_counter = reg_a.lookup::<Counter>("/counter").expect("A's counter");
    remote_b
        .ask(Introduce {
            from: a_counter.clone(),
            name: "a".into(),
        })
        .await
        .expect("introduced");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let seen = a_counter.ask(Seen).await.expect("seen");
        if seen == vec!["hello a".to_string()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A's counter saw {seen:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        local_b.ask(Seen).await.expect("seen"),
        vec!["a".to_string()]
    );

    // The registry's figures count what B's counter handled, by tag.
    let info = reg_b.snapshot();
    let counter = info
        .iter()
        .find(|i| i.path == "/counter")
        .expect("registered");
    assert_eq!(counter.kind, "Counter");
    assert_eq!(counter.mailbox_capacity, 8);
    let count = |tag: &str| {
        counter
            .messages
            .iter()
            .find(|m| m.tag == tag)
            .map_or(0, |m| m.count)
    };
    assert!(count("test.counter.Add") >= 5, "{:?}", counter.messages);
    assert_eq!(count("test.counter.Introduce"), 1);
    assert_eq!(counter.mailbox_len, 0);
}

#[actix_rt::test]
async fn unknown_paths_and_tags_get_clear_errors_and_the_node_keeps_serving() {
    let (reg_a, _reg_b, peer, local_b, remote_b) = two_nodes().await;
    let nowhere = ActorRef::<Counter>::remote(peer.clone(), "/nobody", reg_a.clone());
    assert_eq!(
        nowhere.ask(Add { n: 1 }).await,
        Err(RemoteError::NoActor("/nobody".into()))
    );
    // The connection still serves.
    assert_eq!(add(&remote_b, 1).await, Ok(1));

    // An undecodable message is a protocol error: the connection is closed with the reason.
    let garbage = peer
        .ask(Envelope {
            to: "/counter".into(),
            tag: "test.counter.Add".into(),
            payload: vec![0xc1, 0xff, 0x00],
        })
        .await;
    assert!(
        matches!(&garbage, Err(RemoteError::Undecodable { tag, .. }) if tag == "test.counter.Add"),
        "{garbage:?}"
    );
    closed(&peer).await;
    // B itself is unharmed.
    assert_eq!(add(&local_b, 1).await, Ok(2));
}

#[actix_rt::test]
async fn an_unknown_tag_closes_the_connection_with_the_reason() {
    let (_reg_a, _reg_b, peer, local_b, _remote_b) = two_nodes().await;
    let answer = peer
        .ask(Envelope {
            to: "/counter".into(),
            tag: "test.counter.Nothing".into(),
            payload: Vec::new(),
        })
        .await;
    assert!(
        matches!(&answer, Err(RemoteError::UnknownMessage { kind, tag, .. }) if kind == "Counter" && tag == "test.counter.Nothing"),
        "{answer:?}"
    );
    closed(&peer).await;
    let reason = format!("{:?}", peer.connection().close_reason());
    assert!(reason.contains("test.counter.Nothing"), "{reason}");
    assert_eq!(add(&local_b, 1).await, Ok(1));
}

#[actix_rt::test]
async fn a_local_mailbox_never_takes_more_than_its_capacity() {
    let (_reg_a, reg_b, _peer, local_b, _remote_b) = two_nodes().await;
    // Nothing is handled while this test holds the thread: the mailbox fills.
    let mut sent = 0;
    let refused = loop {
        match local_b.tell(Nap) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 1000, "the mailbox took {sent} messages");
    };
    assert_eq!(refused, RemoteError::MailboxFull("/counter".into()));
    // actix lets each sender go one past the capacity before it refuses.
    assert!((8..=9).contains(&sent), "{sent} messages taken");
    let info = reg_b.snapshot();
    let counter = info
        .iter()
        .find(|i| i.path == "/counter")
        .expect("registered");
    assert_eq!(counter.mailbox_len, sent);
}

#[actix_rt::test]
async fn a_remote_peer_that_overruns_a_mailbox_is_disconnected() {
    let (_reg_a, _reg_b, peer, local_b, remote_b) = two_nodes().await;
    // Each Nap holds B's thread for 20 ms: a burst of 200 overruns the mailbox of 8.
    for _ in 0..200 {
        if remote_b.tell(Nap).is_err() {
            break;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while peer.is_open() {
        assert!(
            std::time::Instant::now() < deadline,
            "the flooding peer stays connected"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    // The overrun node logged and reported its reason; the flooding side sees its connection
    // closed (by the close frame, or by a reset when a burst drowned that frame).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while closed_at_b().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "B never saw the connection end"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let reasons = closed_at_b();
    assert!(
        reasons[0].contains("closed by this node")
            && reasons[0].contains("test.counter.Nap to /counter: the mailbox of /counter is full"),
        "{reasons:?}"
    );
    assert!(peer.close_reason().is_some());
    // B keeps serving its own process.
    assert_eq!(add(&local_b, 4).await, Ok(4));
}

#[actix_rt::test]
async fn a_panicking_handler_is_supervised_counted_and_answered() {
    let (_reg_a, reg_b, _peer, local_b, remote_b) = two_nodes().await;
    assert_eq!(add(&local_b, 5).await, Ok(5));
    let failed = add(&remote_b, 13).await;
    assert!(
        matches!(&failed, Err(RemoteError::Failed(m)) if m.contains("Counter panicked handling test.counter.Add") && m.contains("thirteen is unlucky")),
        "{failed:?}"
    );
    // Recovered (its `recover` reset the sum) and serving, locally and remotely.
    assert_eq!(add(&remote_b, 1).await, Ok(1));
    assert_eq!(add(&local_b, 1).await, Ok(2));
    let info = reg_b.snapshot();
    let counter = info
        .iter()
        .find(|i| i.path == "/counter")
        .expect("registered");
    assert_eq!(counter.restarts, 1);
    assert!(counter
        .last_failure
        .as_ref()
        .is_some_and(|(_, what)| what.contains("thirteen is unlucky")));
}

/// A control actor with messages that never leave the process, to test that their handlers,
/// their later answers and its timers are supervised too.
struct Keeper {
    figures: Option<Arc<rill::actors::remote::ActorFigures>>,
    recovered: Vec<String>,
}

impl Actor for Keeper {
    type Context = Context<Self>;
}

impl Supervise for Keeper {
    const KIND: &'static str = "Keeper";

    fn recover(&mut self, cause: &str, _ctx: &mut Context<Self>) {
        self.recovered.push(cause.to_string());
    }

    fn figures(&self) -> Option<&Arc<rill::actors::remote::ActorFigures>> {
        self.figures.as_ref()
    }
}

/// Panics in its handler when `blow`, else answers 7.
#[derive(Message)]
#[rtype(result = "u64")]
struct Local {
    blow: bool,
}

/// Answers after a pause; the continuation panics.
#[derive(Message)]
#[rtype(result = "u64")]
struct LaterBlow;

/// Arms a timer that panics.
#[derive(Message)]
#[rtype(result = "()")]
struct ArmTimer;

/// The causes the keeper recovered from.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
struct Recovered;

rill::local_messages!(Keeper: Local, LaterBlow, ArmTimer, Recovered);

impl Handles<Local> for Keeper {
    type Result = u64;

    fn handle(&mut self, msg: Local, _ctx: &mut Context<Self>) -> u64 {
        assert!(!msg.blow, "told to blow");
        7
    }
}

impl Handles<LaterBlow> for Keeper {
    type Result = rill::actors::remote::Reply<Self, u64>;

    fn handle(&mut self, _: LaterBlow, _ctx: &mut Context<Self>) -> Self::Result {
        let pause = actix::fut::wrap_future(tokio::time::sleep(Duration::from_millis(5)));
        rill::actors::remote::Reply::new::<LaterBlow>(pause.map(|(), act: &mut Keeper, _| {
            assert!(act.recovered.len() > 99, "the answer blew up");
            1
        }))
    }
}

impl Handles<ArmTimer> for Keeper {
    type Result = ();

    fn handle(&mut self, _: ArmTimer, ctx: &mut Context<Self>) {
        use rill::actors::remote::SupervisedContext;
        ctx.supervised_later("blowing timer", Duration::from_millis(5), |act, _| {
            assert!(act.recovered.len() > 99, "the timer blew up");
        });
    }
}

impl Handles<Recovered> for Keeper {
    type Result = Vec<String>;

    fn handle(&mut self, _: Recovered, _ctx: &mut Context<Self>) -> Vec<String> {
        self.recovered.clone()
    }
}

#[actix_rt::test]
async fn local_handlers_answers_and_timers_of_a_control_actor_are_supervised() {
    let registry = ActorRegistry::new("node-k");
    let keeper = Keeper::create(|ctx| {
        let me = registry.register("/keeper", None, ctx.address(), 8);
        Keeper {
            figures: me.figures().cloned(),
            recovered: Vec::new(),
        }
    });
    assert_eq!(keeper.send(Local { blow: false }).await, Ok(7));
    // A panicking handler gives no answer (the asker sees the mailbox closed) and the actor
    // lives on.
    assert_eq!(
        keeper.send(Local { blow: true }).await,
        Err(MailboxError::Closed)
    );
    assert_eq!(keeper.send(Local { blow: false }).await, Ok(7));
    // So does a later answer whose continuation panics.
    assert_eq!(keeper.send(LaterBlow).await, Err(MailboxError::Closed));
    // And a timer.
    keeper.send(ArmTimer).await.expect("armed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let recovered = loop {
        let r = keeper.send(Recovered).await.expect("alive");
        if r.len() == 3 || tokio::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(recovered.len(), 3, "{recovered:?}");
    assert!(recovered[0].contains("Keeper panicked handling Local: told to blow"));
    assert!(recovered[1].contains("Keeper panicked handling LaterBlow: the answer blew up"));
    assert!(recovered[2].contains("Keeper panicked handling blowing timer: the timer blew up"));
    let info = registry.snapshot();
    let k = info
        .iter()
        .find(|i| i.path == "/keeper")
        .expect("registered");
    assert_eq!(k.restarts, 3);
    assert!(k.alive);
    let count = |tag: &str| k.messages.iter().find(|m| m.tag == tag).map(|m| m.count);
    assert_eq!(count("Local"), Some(3));
    assert_eq!(count("Recovered").map(|c| c >= 1), Some(true));
    assert_eq!(count("blowing timer"), Some(1));
}
