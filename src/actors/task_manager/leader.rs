//! Which JobManager a TaskManager serves, and how it dials it (again after every loss).
//! Without HA it is the address it was started with.
//! In an HA cluster (`--ha etcd://… --cluster-id NAME`) it is the leader etcd names: the
//! TaskManager dials it, and checks every [`LEADER_POLL`] that it still leads. When the
//! leader key names another term (or none: the lease expired), the TaskManager gives its
//! JobManager up at once — cancels its subtasks, frees its slots, closes the connection —
//! and registers with the new leader. So a JobManager that lost the lead, even one paused
//! and resumed, finds no TaskManager that takes its messages.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{Connected, TaskManager, RESOURCE_MANAGER_PATH};
use crate::actors::remote::{ActorRef, NodeInbound, SupervisedContext, SupervisedFuture};
use crate::ha::LeaderRetrieval;
use crate::net::rpc::RemotePeer;

/// How often a TaskManager of an HA cluster checks who leads.
pub const LEADER_POLL: Duration = Duration::from_millis(250);

/// How long a TaskManager of an HA cluster dials the leader before it looks it up again.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a TaskManager finds its JobManager.
#[derive(Debug, Clone)]
pub enum JobManagerAddress {
    /// This RPC address (`--jobmanager`).
    Fixed(SocketAddr),
    /// Whichever JobManager leads the cluster (`--ha etcd://…`).
    Elected(LeaderRetrieval),
}

impl JobManagerAddress {
    /// Whether it is looked up in etcd.
    pub fn is_elected(&self) -> bool {
        matches!(self, Self::Elected(_))
    }

    /// The address to dial, with the leader's term in an HA cluster.
    pub async fn resolve(self) -> Result<(SocketAddr, Option<i64>), ConnectError> {
        match self {
            Self::Fixed(a) => Ok((a, None)),
            Self::Elected(r) => match tokio::task::spawn_blocking(move || r.leader()).await? {
                Ok(Some((info, term))) => Ok((info.rpc, Some(term))),
                Ok(None) => Err(ConnectError::NoLeader),
                Err(e) => Err(ConnectError::Lookup(e)),
            },
        }
    }
}

/// Why a TaskManager could not reach its JobManager (it tries again).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// etcd names no leader.
    #[error("no JobManager leads the cluster yet")]
    NoLeader,
    /// etcd could not be asked.
    #[error("looking the leader up: {0}")]
    Lookup(crate::ha::HaError),
    /// The look-up's thread failed.
    #[error("looking the leader up: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The JobManager did not accept the connection.
    #[error("{addr}: {source}")]
    Dial {
        /// Its address.
        addr: SocketAddr,
        /// The cause.
        source: crate::net::quic::NetError,
    },
    /// The leader did not answer in time (it may have died since etcd named it).
    #[error("{addr}: no answer within {limit:?}")]
    Timeout {
        /// Its address.
        addr: SocketAddr,
        /// How long it waited.
        limit: Duration,
    },
}

impl TaskManager {
    /// Dials the JobManager (remote mode; in an HA cluster the leader etcd names), retrying
    /// every second.
    pub(super) fn connect(&mut self, ctx: &mut Context<Self>) {
        let Some(setup) = &self.remote else { return };
        if self.connecting || self.connected.is_some() {
            return;
        }
        self.connecting = true;
        let (network, locate) = (setup.network.clone(), setup.jobmanager.clone());
        let node = network.node().clone();
        async move {
            let (jm, term) = locate.resolve().await?;
            // In an HA cluster the leader it found may just have died, and a newer one be
            // elected while it dials: it looks again soon rather than wait for QUIC's timeout.
            let limit = term.map_or(Duration::MAX, |_| DIAL_TIMEOUT);
            match tokio::time::timeout(limit, node.connect(jm)).await {
                Ok(Ok(peer)) => Ok((peer, jm, term)),
                Ok(Err(source)) => Err(ConnectError::Dial { addr: jm, source }),
                Err(_) => Err(ConnectError::Timeout { addr: jm, limit }),
            }
        }
        .into_actor(self)
        .map(move |res, act, ctx| match res {
            Ok((peer, jm, term)) => {
                tracing::info!(task_manager = %act.id, jobmanager = %jm, ?term, "connected to the JobManager");
                let peer = RemotePeer::new(peer, act.config.rpc_timeout);
                crate::net::rpc::serve(
                    peer.clone(),
                    NodeInbound::new(act.registry.clone(), Some(network), None),
                );
                act.connected = Some(Connected {
                    peer: peer.clone(),
                    last_heartbeat: Instant::now(),
                    term,
                });
                let rm = ActorRef::remote(peer, RESOURCE_MANAGER_PATH, act.registry.clone());
                act.register(rm, ctx);
            }
            Err(e) => {
                tracing::warn!(task_manager = %act.id, error = %e, "cannot reach the JobManager; retrying");
                act.connecting = false;
                ctx.supervised_later("reconnect", act.reconnect_delay(), |act, ctx| {
                    act.connect(ctx)
                });
            }
        })
        .spawn_supervised("connection", ctx);
    }

    /// How long it waits before dialling again: in an HA cluster a new leader is usually
    /// elected by then (a quarter of a second), else a second.
    pub(super) fn reconnect_delay(&self) -> Duration {
        match self.remote.as_ref().map(|r| &r.jobmanager) {
            Some(JobManagerAddress::Elected(_)) => LEADER_POLL,
            _ => Duration::from_secs(1),
        }
    }

    /// Gives the JobManager up when etcd names another leader (or none).
    pub(super) fn check_leader(&mut self, ctx: &mut Context<Self>) {
        let Some(term) = self.connected.as_ref().and_then(|c| c.term) else {
            return;
        };
        let Some(JobManagerAddress::Elected(r)) = self.remote.as_ref().map(|r| &r.jobmanager)
        else {
            return;
        };
        if self.checking_leader {
            return;
        }
        self.checking_leader = true;
        let r = r.clone();
        async move { tokio::task::spawn_blocking(move || r.leader()).await }
            .into_actor(self)
            .map(move |res, act, ctx| {
                act.checking_leader = false;
                let still = act.connected.as_ref().and_then(|c| c.term) == Some(term);
                let reason = match res {
                    Ok(Ok(Some((info, t)))) if t != term => {
                        format!(
                            "JobManager {} at {} leads now (term {t})",
                            info.id, info.rpc
                        )
                    }
                    Ok(Ok(None)) => "no JobManager leads any more (the lease expired)".into(),
                    // etcd out of reach: the heartbeats decide.
                    _ => return,
                };
                if still {
                    act.disconnect(&reason, ctx);
                }
            })
            .spawn_supervised("leader check", ctx);
    }
}
