//! Issue 22, HA's parts against a real etcd (Debian's `etcd-server`, started by the test on
//! loopback): leader election, fenced writes, the job store and checkpoint pointers; and the
//! Dispatcher's refusal of a second job under a running job's id. The processes' takeover is
//! `ha_processes.rs`.

mod common;

use std::time::{Duration, Instant};

use rill::ha::{Etcd, EtcdError, LeaderElection, Term};

use common::etcd::EtcdServer;

const TIMEOUT: Duration = Duration::from_secs(2);

fn connect(server: &EtcdServer) -> Etcd {
    Etcd::connect(&[server.endpoint()], TIMEOUT).expect("etcd answers")
}

#[test]
fn an_unreachable_etcd_is_a_clear_error_naming_its_endpoints() {
    let port = rill::launch::free_tcp_port().expect("a free port");
    let endpoints = [format!("127.0.0.1:{port}"), "127.0.0.2:1".to_string()];
    let e = Etcd::connect(&endpoints, TIMEOUT).expect_err("nothing listens there");
    let EtcdError::Unavailable {
        endpoints: named, ..
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(
        named,
        &format!("http://127.0.0.1:{port},http://127.0.0.2:1"),
        "{e}"
    );
    assert!(e.to_string().starts_with("etcd is unavailable at"), "{e}");
}

#[test]
fn one_contender_leads_and_a_standby_takes_over_once_its_lease_is_gone() {
    let server = EtcdServer::start();
    let ttl = Duration::from_secs(2);
    let mut a = LeaderElection::new(connect(&server), "ha-test", "jm-a:8081", ttl);
    let mut b = LeaderElection::new(connect(&server), "ha-test", "jm-b:8081", ttl);

    let Term::Leader { token: first } = a.campaign().expect("campaign") else {
        panic!("the first contender leads");
    };
    assert_eq!(
        b.campaign().expect("campaign"),
        Term::Standby {
            leader: Some("jm-a:8081".into())
        }
    );
    assert_eq!(a.campaign().expect("again"), Term::Leader { token: first });
    assert_eq!(a.renew().expect("renewed"), Term::Leader { token: first });

    // The leader stops renewing (as a paused or killed process does): within a TTL its key
    // is gone and the standby leads, with a newer token.
    let stopped = Instant::now();
    let second = loop {
        match b.campaign().expect("campaign") {
            Term::Leader { token } => break token,
            Term::Standby { .. } => {}
            Term::Lost => panic!("the standby never led"),
        }
        assert!(stopped.elapsed() < ttl * 3, "no takeover within 3 TTLs");
        std::thread::sleep(Duration::from_millis(50));
    };
    let takeover = stopped.elapsed();
    eprintln!("takeover {takeover:?} after the leader stopped renewing (TTL {ttl:?})");
    assert!(second > first, "tokens grow: {first} then {second}");
    assert!(
        takeover >= Duration::from_secs(1),
        "{takeover:?}: before the lease ran out"
    );

    // The old leader learns it lost its term at its next renewal.
    assert_eq!(a.renew().expect("renewal answered"), Term::Lost);
    assert_eq!(b.leader().expect("read"), Some("jm-b:8081".into()));

    // A resignation hands over at once.
    b.resign().expect("resigned");
    assert!(matches!(
        a.campaign().expect("campaign"),
        Term::Leader { .. }
    ));
}

#[test]
fn a_deposed_leader_makes_no_write_that_sticks() {
    let server = EtcdServer::start();
    let etcd = connect(&server);
    let ttl = Duration::from_secs(1);
    let mut old = LeaderElection::new(etcd.clone(), "fencing", "old", ttl);
    let mut new = LeaderElection::new(etcd.clone(), "fencing", "new", ttl);
    assert!(matches!(
        old.campaign().expect("campaign"),
        Term::Leader { .. }
    ));
    assert!(old
        .put("/rill/fencing/jobs/1", b"submitted by old")
        .expect("put"));

    // `old` is paused past its lease (it does not know yet); `new` takes over.
    let start = Instant::now();
    while !matches!(new.campaign().expect("campaign"), Term::Leader { .. }) {
        assert!(start.elapsed() < Duration::from_secs(10), "no takeover");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(new
        .put("/rill/fencing/jobs/2", b"submitted by new")
        .expect("put"));

    // `old` wakes up and writes as if it still led: refused, and nothing changed.
    assert!(!old
        .put("/rill/fencing/jobs/1", b"overwritten by old")
        .expect("answered"));
    assert!(!old
        .put("/rill/fencing/jobs/3", b"new job by old")
        .expect("answered"));
    let jobs: Vec<(String, String)> = etcd
        .list("/rill/fencing/jobs/")
        .expect("listed")
        .into_iter()
        .map(|kv| (kv.key, String::from_utf8(kv.value).expect("text")))
        .collect();
    assert_eq!(
        jobs,
        vec![
            ("/rill/fencing/jobs/1".into(), "submitted by old".into()),
            ("/rill/fencing/jobs/2".into(), "submitted by new".into()),
        ]
    );
    assert_eq!(old.renew().expect("answered"), Term::Lost);
}

#[test]
fn a_leader_that_cannot_reach_etcd_gets_errors_not_a_renewed_term() {
    let server = EtcdServer::start();
    let mut a = LeaderElection::new(connect(&server), "lost-etcd", "a", Duration::from_secs(2));
    assert!(matches!(
        a.campaign().expect("campaign"),
        Term::Leader { .. }
    ));
    drop(server);
    let e = a.renew().expect_err("etcd is gone");
    assert!(matches!(e, EtcdError::Unavailable { .. }), "{e}");
    assert!(!a.put("/rill/lost-etcd/x", b"y").unwrap_or(false));
}

fn stored(job_id: rill::ids::JobId) -> rill::ha::StoredJob {
    rill::ha::StoredJob {
        job_id,
        request: rill::rest::model::SubmitJobRequest {
            job: "wordcount".into(),
            args: vec!["--input".into(), "/data/in.txt".into()],
            parallelism: Some(2),
            options: Default::default(),
        },
    }
}

#[test]
fn the_job_store_and_checkpoint_pointers_hold_only_the_current_terms_writes() {
    use rill::ha::{HaError, HaServices, HaSettings};
    let server = EtcdServer::start();
    let settings = HaSettings::parse(&format!("etcd://{}", server.endpoint()), Some("store"))
        .expect("valid")
        .expect("etcd");
    let ttl = settings.lease_ttl;
    let (a, b) = (
        HaServices::new(connect(&server), settings.clone()),
        HaServices::new(connect(&server), settings),
    );
    let job = rill::ids::JobId::generate();
    assert!(
        matches!(a.store_job(&stored(job)), Err(HaError::NotLeader { .. })),
        "nobody leads yet"
    );

    let mut ea = LeaderElection::new(connect(&server), "store", "a", ttl);
    let Term::Leader { token } = ea.campaign().expect("campaign") else {
        panic!("the first contender leads");
    };
    a.renewed(token, Instant::now());
    a.store_job(&stored(job)).expect("stored");
    assert_eq!(a.jobs().expect("listed"), vec![stored(job)]);
    let chk = std::path::Path::new("s3://bucket/ck/job/chk-7");
    a.checkpoint_completed(job, 7, chk).expect("recorded");
    let pointer = a.checkpoint_pointer(job).expect("read").expect("a pointer");
    assert_eq!((pointer.checkpoint_id, pointer.path.as_path()), (7, chk));
    assert_eq!(a.confirm_leading().expect("leads"), token);

    // Another contender leads now; `a` still believes it leads (its renewal is fresh): etcd
    // refuses its writes, and it learns it does not lead when it asks.
    ea.resign().expect("resigned");
    let mut eb = LeaderElection::new(connect(&server), "store", "b", ttl);
    let Term::Leader { token: newer } = eb.campaign().expect("campaign") else {
        panic!("b leads once a resigned");
    };
    assert!(newer > token);
    b.renewed(newer, Instant::now());
    assert!(a.leading(), "a cannot know yet");
    assert!(matches!(
        a.checkpoint_completed(job, 8, &chk.with_file_name("chk-8")),
        Err(HaError::NotLeader { .. })
    ));
    assert!(matches!(
        a.confirm_leading(),
        Err(HaError::NotLeader { .. })
    ));
    assert!(matches!(a.remove_job(job), Err(HaError::NotLeader { .. })));
    let pointer = b.checkpoint_pointer(job).expect("read").expect("a pointer");
    assert_eq!(
        pointer.checkpoint_id, 7,
        "the old term's write did not stick"
    );
    assert_eq!(b.jobs().expect("listed").len(), 1);
    b.remove_job(job).expect("removed by the leader");
    assert!(b.jobs().expect("listed").is_empty());
    assert_eq!(b.checkpoint_pointer(job).expect("read"), None);
}

/// A new leader's recovery may meet a job that a submission stored and started just before:
/// the Dispatcher refuses a second job under a running job's id (409 over REST).
#[test]
fn a_running_job_cannot_be_submitted_again_under_its_id() {
    use std::io::Write;
    common::with_cluster(
        common::cluster(1, 2),
        Duration::from_secs(60),
        |c| async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let _held = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().expect("the job connects");
                let _ = conn.write_all(b"a b\n");
                std::thread::sleep(Duration::from_secs(30));
            });
            let handle = rill::rest::RestHandle::new(
                c.dispatcher().clone(),
                c.resource_manager().clone(),
                std::sync::Arc::new(rill::jobs::JobRegistry::bundled()),
                1,
            );
            let request = rill::rest::model::SubmitJobRequest {
                job: "socket-wordcount".into(),
                args: vec![
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    port.to_string(),
                ],
                parallelism: Some(1),
                options: Default::default(),
            };
            let id = rill::ids::JobId::generate();
            assert_eq!(handle.resubmit(id, &request).await.expect("runs"), id);
            let again = handle.resubmit(id, &request).await;
            assert!(
                matches!(
                    &again,
                    Err(rill::rest::RestError::Cluster(
                        rill::actors::ClusterError::DuplicateJob(j)
                    )) if *j == id
                ),
                "{again:?}"
            );
            c.cancel(id).await.expect("cancelled");
        },
    );
}
