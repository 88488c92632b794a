//! Issue 22, the first steps of HA: leader election and fenced writes against a real etcd
//! (Debian's `etcd-server`, started by the test on loopback).

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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
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
