//! A JobManager's part in the election, on a thread of its own: as a standby it campaigns
//! every [`STANDBY_POLL`] (and notes who leads, for its REST API); as the leader it renews
//! its lease every third of the TTL, and at least every 0.5 s. Becoming leader and losing the
//! lead are reported on a `watch` channel (one value, never a queue).
//!
//! A leader whose renewal fails (lease expired, key no longer its term's) or that cannot
//! reach etcd for a whole TTL has lost the lead: [`Role::Lost`] is published and the thread
//! ends. The JobManager then stops acting at once (it exits, see `cluster/ha.rs`): another
//! may lead already, and only one may ever act. A leader that resigned (shutting down)
//! publishes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::election::{LeaderElection, Term};
use super::services::{HaServices, LeaderInfo};

/// How often a standby tries to become leader.
pub const STANDBY_POLL: Duration = Duration::from_millis(200);

/// Where this JobManager stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not (yet) leading.
    Standby,
    /// Leading with this fencing token.
    Leader(i64),
    /// It led and lost the lead: it must stop acting.
    Lost(String),
}

/// Starts the contender of `me` on its own thread; its role is published on the returned
/// channel.
pub fn spawn(services: Arc<HaServices>, me: &LeaderInfo) -> std::io::Result<watch::Receiver<Role>> {
    let (tx, rx) = watch::channel(Role::Standby);
    let id = serde_json::to_string(me).map_err(std::io::Error::other)?;
    let election = LeaderElection::new(
        services.etcd().clone(),
        &services.settings().cluster_id,
        &id,
        services.settings().lease_ttl,
    );
    std::thread::Builder::new()
        .name("ha-contender".into())
        .spawn(move || run(services, election, tx))?;
    Ok(rx)
}

fn run(services: Arc<HaServices>, mut election: LeaderElection, tx: watch::Sender<Role>) {
    let token = loop {
        let sent = Instant::now();
        match election.campaign() {
            Ok(Term::Leader { token }) => {
                services.renewed(token, sent);
                if let Some(lease) = election.lease() {
                    services.leads_with_lease(lease);
                }
                break token;
            }
            Ok(Term::Standby { leader }) => {
                let leader = leader.and_then(|l| serde_json::from_str::<LeaderInfo>(&l).ok());
                services.saw_leader(leader);
            }
            Ok(Term::Lost) => services.saw_leader(None),
            Err(e) => {
                tracing::warn!(error = %e, "campaigning for leadership");
                services.saw_leader(None);
            }
        }
        if tx.is_closed() {
            return;
        }
        std::thread::sleep(STANDBY_POLL);
    };
    tracing::info!(token, cluster = %services.settings().cluster_id, "this JobManager leads");
    services.saw_leader(None);
    if tx.send(Role::Leader(token)).is_err() {
        let _ = election.resign();
        return;
    }
    let ttl = services.settings().lease_ttl;
    let mut last_ok = Instant::now();
    let reason = loop {
        std::thread::sleep(election.renew_every().min(Duration::from_millis(500)));
        let sent = Instant::now();
        match election.renew() {
            Ok(Term::Leader { .. }) => {
                services.renewed(token, sent);
                last_ok = sent;
            }
            Ok(_) => break "its lease expired or its leader key is gone".to_string(),
            Err(e) if last_ok.elapsed() >= ttl => {
                break format!("etcd did not renew its lease for {ttl:?}: {e}")
            }
            Err(e) => tracing::warn!(error = %e, "renewing the leader's lease; retrying"),
        }
        if tx.is_closed() {
            let _ = election.resign();
            return;
        }
    };
    services.lost();
    election.lose();
    if services.resigned() {
        // Shutting down: the lead was given up, not lost.
        return;
    }
    let _ = tx.send(Role::Lost(reason));
}
