//! The actor layer between real processes: a raw peer (this test, proving the cluster secret)
//! floods a JobManager and a TaskManager with one-way messages and is disconnected while their
//! memory stays bounded and they keep serving; panics injected into each control actor's
//! handler are supervised: REST keeps answering, the job fails over with the panic as its
//! cause, and the restarts are counted in the registry (`GET /actors`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rill::actors::dispatcher::{Dispatcher, DISPATCHER_PATH};
use rill::actors::job_master::JobMaster;
use rill::actors::remote::{
    ActorRef, ActorRegistry, FaultInjectionOff, InjectPanic, FAULT_INJECTION_ENV,
};
use rill::actors::resource_manager::{ResourceManager, SlotAvailable};
use rill::actors::task_manager::{FreeSlot, TaskManager, RESOURCE_MANAGER_PATH};
use rill::graph::job_graph::SubmitOptions;
use rill::graph::RestartStrategy;
use rill::ids::{AllocationId, TaskManagerId};
use rill::launch::ProcessCluster;
use rill::net::frame::encode;
use rill::net::quic::{ClusterSecret, NodeRole, QuicNode, QuicSettings};
use rill::net::rpc::{Envelope, RemoteError, RemotePeer};

const SECRET: &str = "test-secret-actors";

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("actors-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("rill.toml");
    std::fs::write(
        &p,
        "[runtime]\nheartbeat_interval_ms = 200\nheartbeat_timeout_ms = 2000\nrpc_timeout_ms = 3000\n",
    )
    .expect("config");
    p
}

fn cluster(dir: &Path, tms: usize) -> ProcessCluster {
    let exe = Path::new(env!("CARGO_BIN_EXE_rill"));
    ProcessCluster::start(exe, Some(&config(dir)), SECRET, &vec![2; tms]).expect("cluster")
}

/// This test as a node of the cluster, connected to `addr`.
async fn raw_peer(addr: std::net::SocketAddr) -> (RemotePeer, ActorRegistry) {
    let node = QuicNode::bind(
        "127.0.0.1:0".parse().expect("addr"),
        ClusterSecret::new(SECRET),
        "taskmanager-rawpeer".into(),
        NodeRole::TaskManager,
        &QuicSettings::default(),
    )
    .expect("bind");
    let peer = node.connect(addr).await.expect("connect");
    (
        RemotePeer::new(peer, Duration::from_secs(5)),
        ActorRegistry::new("taskmanager-rawpeer"),
    )
}

/// Writes `tag` envelopes to `to` as fast as the connection takes them, until it closes or
/// `limit` have gone; returns how many went. The frames are encoded once and written in
/// chunks of 4,096, so that the flooded node, which decodes each, is the slower side.
async fn flood(
    peer: &RemotePeer,
    to: &str,
    tag: &str,
    payload: impl Fn(u64) -> Vec<u8>,
    limit: u64,
) -> u64 {
    const CHUNK: u64 = 4096;
    let Ok(mut send) = peer.connection().open_uni().await else {
        return 0;
    };
    let mut chunk = Vec::new();
    for n in 0..CHUNK {
        let env = Envelope {
            to: to.into(),
            tag: tag.into(),
            payload: payload(n),
        };
        let frame = encode(&env).expect("encode");
        chunk.extend_from_slice(&u32::try_from(frame.len()).expect("len").to_be_bytes());
        chunk.extend_from_slice(&frame);
    }
    let mut sent = 0;
    while sent < limit {
        if send.write_all(&chunk).await.is_err() {
            return sent;
        }
        sent += CHUNK;
    }
    sent
}

/// Waits (at most 30 s) until the flooded node has closed `peer`, before all was sent.
async fn disconnected(peer: &RemotePeer, node: &str, sent: u64) {
    let end = Instant::now() + Duration::from_secs(30);
    while peer.is_open() {
        assert!(
            Instant::now() < end,
            "the {node} never disconnected the flood"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sent < 5_000_000, "the {node} took all {sent} messages");
    eprintln!(
        "{node}: disconnected after {sent} messages: {:?}",
        peer.close_reason()
    );
}

fn rss_mib(p: &rill::launch::ChildProcess) -> u64 {
    p.rss_kib().expect("alive") / 1024
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[actix_rt::test]
async fn a_flooding_peer_is_disconnected_and_both_nodes_keep_serving() {
    let d = dir("flood");
    let c = cluster(&d, 1);
    let jm_addr = c.rpc.parse().expect("rpc address");
    let tms = c.get("/taskmanagers").expect("taskmanagers");
    let tm = &tms["taskmanagers"][0];
    let tm_id = TaskManagerId(tm["id"].as_str().expect("id").to_string());
    let tm_addr = format!("127.0.0.1:{}", tm["dataPort"])
        .parse()
        .expect("data address");
    let (jm_before, tm_before) = (rss_mib(&c.job_manager), rss_mib(&c.task_managers[0]));

    // The JobManager: slot releases for allocations it never made, to its ResourceManager.
    let (peer, _) = raw_peer(jm_addr).await;
    let payload = |_| {
        rmp_serde::to_vec(&SlotAvailable {
            allocation: AllocationId::generate(),
        })
        .expect("encode")
    };
    let sent = flood(
        &peer,
        RESOURCE_MANAGER_PATH,
        "rill.rm.SlotAvailable",
        payload,
        5_000_000,
    )
    .await;
    disconnected(&peer, "JobManager", sent).await;

    // The TaskManager: slot releases for allocations it never had, to its actor.
    let (peer, _) = raw_peer(tm_addr).await;
    let payload = |_| {
        rmp_serde::to_vec(&FreeSlot {
            allocation: AllocationId::generate(),
        })
        .expect("encode")
    };
    let path = TaskManager::path_of(&tm_id);
    let sent = flood(&peer, &path, "rill.tm.FreeSlot", payload, 5_000_000).await;
    disconnected(&peer, "TaskManager", sent).await;

    let (jm_after, tm_after) = (rss_mib(&c.job_manager), rss_mib(&c.task_managers[0]));
    eprintln!(
        "RSS MiB: JobManager {jm_before} -> {jm_after}, TaskManager {tm_before} -> {tm_after}"
    );
    assert!(
        jm_after < jm_before + 128,
        "JobManager grew from {jm_before} to {jm_after} MiB"
    );
    assert!(
        tm_after < tm_before + 128,
        "TaskManager grew from {tm_before} to {tm_after} MiB"
    );

    // Both keep serving: the TaskManager stays registered (it answers heartbeats) and a job
    // runs to its end.
    std::thread::sleep(Duration::from_secs(3));
    let o = c.get("/overview").expect("overview");
    assert_eq!(o["taskmanagers"], 1, "{o}");
    let input = d.join("words.txt");
    std::fs::write(&input, "a b a\nc a b\n").expect("input");
    let out = d.join("out");
    let job = c
        .submit(
            "wordcount",
            &[
                "--input",
                &input.display().to_string(),
                "--output",
                &out.display().to_string(),
            ],
            1,
        )
        .expect("submitted");
    let end = c.wait_end(&job, Duration::from_secs(60)).expect("ended");
    assert_eq!(end["state"], "FINISHED", "{end}");
    drop(c);
    let _ = std::fs::remove_dir_all(d);
}

fn restarts_of(c: &ProcessCluster, path: &str) -> u64 {
    let actors = c.get("/actors").expect("actors");
    actors["actors"]
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["path"] == path)
        .map_or(0, |a| a["restarts"].as_u64().unwrap_or(0))
}

fn assert_injected(answer: Result<Result<(), FaultInjectionOff>, RemoteError>, kind: &str) {
    match answer {
        Err(RemoteError::Failed(m)) => {
            assert!(
                m.contains(&format!("{kind} panicked handling rill.test.InjectPanic")),
                "{m}"
            );
            assert!(m.contains("injected: test"), "{m}");
        }
        other => panic!("{kind}: expected a supervised panic, got {other:?}"),
    }
}

#[actix_rt::test]
async fn panics_in_control_actors_are_supervised_and_counted() {
    // The processes started below inherit it.
    std::env::set_var(FAULT_INJECTION_ENV, "1");
    let d = dir("panics");
    let c = cluster(&d, 1);
    let jm_addr = c.rpc.parse().expect("rpc address");
    // A job that runs a while: 200,000 events at 2,000 a second.
    let input = d.join("events.csv");
    let events: String = (0..200_000)
        .map(|i| format!("{i},k{},1\n", i % 7))
        .collect();
    std::fs::write(&input, events).expect("input");
    let out = d.join("out");
    let (i, o) = (input.display().to_string(), out.display().to_string());
    let args = [
        "--input", &i, "--output", &o, "--kind", "tumble", "--rate", "2000",
    ];
    let options = SubmitOptions {
        restart_strategy: Some(RestartStrategy::fixed_delay(5, Duration::from_millis(100))),
        ..SubmitOptions::default()
    };
    let job = c
        .submit_with("windowed-count", &args, 1, options)
        .expect("submitted");
    let state = |c: &ProcessCluster| c.get(&format!("/jobs/{job}")).expect("job")["state"].clone();
    wait_until("the job runs", Duration::from_secs(30), || {
        state(&c) == "RUNNING"
    });

    let (peer, home) = raw_peer(jm_addr).await;
    let dispatcher = ActorRef::<Dispatcher>::remote(peer.clone(), DISPATCHER_PATH, home.clone());
    let rm = ActorRef::<ResourceManager>::remote(peer.clone(), RESOURCE_MANAGER_PATH, home.clone());
    let jm_path = format!("/jobmanager/jobmaster-{job}");
    let jm = ActorRef::<JobMaster>::remote(peer.clone(), &jm_path, home.clone());
    let test = || InjectPanic {
        reason: "test".into(),
    };

    assert_injected(dispatcher.ask(test()).await, "Dispatcher");
    assert_injected(rm.ask(test()).await, "ResourceManager");
    // REST keeps answering, through the recovered Dispatcher and ResourceManager.
    assert_eq!(c.get("/overview").expect("overview")["taskmanagers"], 1);
    assert_eq!(restarts_of(&c, DISPATCHER_PATH), 1);
    assert_eq!(restarts_of(&c, RESOURCE_MANAGER_PATH), 1);

    // The JobMaster fails its job over, with the panic as the cause.
    assert_injected(jm.ask(test()).await, "JobMaster");
    assert_eq!(restarts_of(&c, &jm_path), 1);
    let exceptions = |c: &ProcessCluster| {
        c.get(&format!("/jobs/{job}/exceptions"))
            .expect("exceptions")
    };
    let mentions = |c: &ProcessCluster, needle: &str| exceptions(c).to_string().contains(needle);
    wait_until(
        "the JobMaster's panic is in the exception history",
        Duration::from_secs(10),
        || mentions(&c, "JobMaster panicked handling rill.test.InjectPanic"),
    );
    wait_until("the job runs again", Duration::from_secs(30), || {
        state(&c) == "RUNNING"
    });

    // The TaskManager starts a new session: its subtask fails (the job restarts again) and it
    // registers again.
    let tms = c.get("/taskmanagers").expect("taskmanagers");
    let tm = &tms["taskmanagers"][0];
    let tm_id = TaskManagerId(tm["id"].as_str().expect("id").to_string());
    let registered = tm["registrationTime"].as_i64().expect("time");
    let tm_addr = format!("127.0.0.1:{}", tm["dataPort"])
        .parse()
        .expect("data address");
    let (tm_peer, tm_home) = raw_peer(tm_addr).await;
    let tm_ref = ActorRef::<TaskManager>::remote(tm_peer, &TaskManager::path_of(&tm_id), tm_home);
    assert_injected(tm_ref.ask(test()).await, "TaskManager");
    wait_until(
        "the TaskManager registers again",
        Duration::from_secs(20),
        || {
            let tms = c.get("/taskmanagers").expect("taskmanagers");
            tms["taskmanagers"][0]["registrationTime"]
                .as_i64()
                .is_some_and(|t| t > registered)
        },
    );
    let restarts = |c: &ProcessCluster| {
        c.get(&format!("/jobs/{job}")).expect("job")["num-restarts"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_until("the job restarted twice", Duration::from_secs(30), || {
        restarts(&c) >= 2 && state(&c) == "RUNNING"
    });
    c.get("/overview").expect("REST still answers");
    drop(c);
    let _ = std::fs::remove_dir_all(d);
}

/// Heartbeats keep their period while a TaskManager receives a full-speed shuffle: every
/// record of the `shuffle` job crosses from one TaskManager to the other, and the JobManager's
/// view of each TaskManager's last answered heartbeat (sampled every 20 ms) never grows much
/// beyond the 200 ms interval.
#[test]
fn heartbeats_keep_their_period_during_a_full_speed_shuffle() {
    let d = dir("heartbeats");
    let c = cluster(&d, 2);
    let out = d.join("out");
    let job = c
        .submit(
            "shuffle",
            &[
                "--records",
                "30000000",
                "--output",
                &out.display().to_string(),
            ],
            2,
        )
        .expect("submitted");
    let state = |c: &ProcessCluster| c.get(&format!("/jobs/{job}")).expect("job")["state"].clone();
    wait_until("the shuffle runs", Duration::from_secs(30), || {
        state(&c) == "RUNNING"
    });
    let (mut worst, mut samples) = (0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(60);
    while state(&c) == "RUNNING" && Instant::now() < end {
        let tms = c.get("/taskmanagers").expect("taskmanagers");
        for tm in tms["taskmanagers"].as_array().expect("list") {
            worst = worst.max(tm["timeSinceLastHeartbeat"].as_u64().expect("age"));
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let j = c.get(&format!("/jobs/{job}")).expect("job");
    let read: u64 = j["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| v["metrics"]["read-records"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    eprintln!(
        "heartbeat interval 200 ms: the longest time since a heartbeat answer over {samples} samples was {worst} ms; the sink had read {read} records"
    );
    assert!(
        samples > 20,
        "the shuffle ended too soon to measure ({samples} samples)"
    );
    assert!(read > 0, "no record crossed: {j}");
    // Generous: the sampling itself runs beside the two busy processes on two cores.
    assert!(
        worst < 200 + 800,
        "a heartbeat was answered {worst} ms after the last"
    );
    drop(c);
    let _ = std::fs::remove_dir_all(d);
}
