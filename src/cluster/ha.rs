//! A JobManager of an HA cluster (`--ha etcd://… --cluster-id NAME`): it reaches etcd before
//! anything else starts (an unreachable etcd is a start error naming its endpoints), then
//! contends for the lead. While it stands by, its REST API answers for the leader; when it
//! becomes leader it runs every job of the job store again, each from its latest completed
//! checkpoint; when it loses the lead it exits at once, since another JobManager may act
//! for the cluster already (a supervisor restarts it as a standby).

use std::sync::Arc;

use tokio::sync::watch;

use super::StartError;
use crate::ha::contender::{self, Role};
use crate::ha::{HaServices, HaSettings, LeaderInfo};
use crate::rest::RestHandle;

/// The exit code of a JobManager that lost the lead.
pub const EXIT_LOST_LEADERSHIP: i32 = 3;

/// Checks, before anything binds, that the addresses a JobManager of an HA cluster gives the
/// others (in the leader key) are ones they can reach.
pub(super) fn check_addresses(
    bind: std::net::SocketAddr,
    rest: std::net::SocketAddr,
    advertise: Option<std::net::IpAddr>,
) -> Result<(), StartError> {
    match advertise {
        Some(ip) if ip.is_unspecified() => Err(StartError::Config(format!(
            "--advertise {ip}: give the address the other nodes reach this JobManager at"
        ))),
        None if bind.ip().is_unspecified() || rest.ip().is_unspecified() => {
            Err(StartError::Config(format!(
                "--ha: --bind {bind} or --rest {rest} is unspecified; give --advertise IP, the address the other nodes reach this JobManager at"
            )))
        }
        _ => Ok(()),
    }
}

/// The HA services of `settings`, once etcd answered.
pub(super) fn services(
    settings: Option<&HaSettings>,
) -> Result<Option<Arc<HaServices>>, StartError> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let etcd = settings.connect()?;
    Ok(Some(Arc::new(HaServices::new(etcd, settings.clone()))))
}

/// Starts contending for the lead of `ha`'s cluster as `me`; `handle` runs recovered jobs.
/// Call it inside the JobManager's actix System.
pub(super) fn contend(
    ha: Arc<HaServices>,
    me: LeaderInfo,
    handle: RestHandle,
) -> Result<(), StartError> {
    let roles = contender::spawn(ha.clone(), &me).map_err(|source| StartError::Thread {
        what: "HA contender",
        source,
    })?;
    println!(
        "JobManager {} contends for the lead of cluster {} (etcd {})",
        me.id,
        ha.settings().cluster_id,
        ha.settings().endpoints.join(",")
    );
    actix_rt::spawn(follow(roles, ha, handle));
    Ok(())
}

async fn follow(mut roles: watch::Receiver<Role>, ha: Arc<HaServices>, handle: RestHandle) {
    while roles.changed().await.is_ok() {
        let role = roles.borrow_and_update().clone();
        match role {
            Role::Standby => {}
            Role::Leader(token) => {
                println!(
                    "This JobManager leads cluster {} (term {token}); recovering its jobs",
                    ha.settings().cluster_id
                );
                let (ha, handle) = (ha.clone(), handle.clone());
                actix_rt::spawn(async move {
                    let n = crate::ha::recovery::recover(&handle, &ha).await;
                    println!("Recovered {n} job(s) from the job store");
                });
            }
            Role::Lost(reason) => {
                tracing::error!(%reason, "lost the lead");
                eprintln!(
                    "rill: this JobManager lost the lead of cluster {}: {reason}; exiting, so that no two JobManagers act for it",
                    ha.settings().cluster_id
                );
                std::process::exit(EXIT_LOST_LEADERSHIP);
            }
        }
    }
    if ha.resigned() {
        return;
    }
    // The contender's thread ended without a word (it panicked): this JobManager can neither
    // lead nor know whether it does.
    tracing::error!("the HA contender stopped");
    eprintln!(
        "rill: this JobManager's part in the election of cluster {} stopped; exiting",
        ha.settings().cluster_id
    );
    std::process::exit(EXIT_LOST_LEADERSHIP);
}
