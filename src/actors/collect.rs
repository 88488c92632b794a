//! Fetching a query's rows for the SQL Gateway: the ResourceManager drains the rows the
//! `collect` sinks of a job left in this process ([`crate::connectors::collect`]) and asks
//! every TaskManager in another process for its own, all at once.

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::actors::remote::{Handles, Reply};
use crate::actors::resource_manager::ResourceManager;
use crate::actors::task_manager::TaskManager;
use crate::actors::topology::GATHER_TIMEOUT;
use crate::connectors::collect::{self, Collected};
use crate::ids::JobId;

/// Asks a TaskManager for the rows a job's `collect` sinks left in its process.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Collected")]
pub struct FetchCollected {
    /// The job.
    pub job_id: JobId,
    /// About how many bytes of rows to answer with.
    pub max_bytes: usize,
    /// Drop the job's queue once drained empty: the job ended and the reader saw its end.
    pub forget: bool,
}

crate::remote_message!(TaskManager: FetchCollected = "rill.tm.FetchCollected");

impl Handles<FetchCollected> for TaskManager {
    type Result = MessageResult<FetchCollected>;

    fn handle(&mut self, msg: FetchCollected, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(collect::drain(msg.job_id, msg.max_bytes, msg.forget))
    }
}

/// Asks for a job's collected rows from every node.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Gathered")]
pub struct GatherCollected {
    /// What each node is asked.
    pub fetch: FetchCollected,
}

/// The rows of every node that answered.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// The rows and the first failure any node reported.
    pub collected: Collected,
    /// Whether every node answered (else rows may still wait on the ones that did not).
    pub complete: bool,
}

crate::local_messages!(ResourceManager: GatherCollected);

impl Handles<GatherCollected> for ResourceManager {
    type Result = Reply<Self, Gathered>;

    fn handle(&mut self, msg: GatherCollected, _ctx: &mut Self::Context) -> Self::Result {
        let f = &msg.fetch;
        // TaskManagers in this process share its queues: drained here, not asked.
        let here = collect::drain(f.job_id, f.max_bytes, f.forget);
        let asks: Vec<_> = self
            .gateways()
            .filter(|(_, g)| g.peer().is_some())
            .map(|(_, g)| {
                let ask = tokio::time::timeout(GATHER_TIMEOUT, g.actor.ask(f.clone()));
                actix_rt::spawn(ask)
            })
            .collect();
        let answers = async move {
            let mut all = Gathered {
                collected: here,
                complete: true,
            };
            for a in asks {
                match a.await {
                    Ok(Ok(Ok(c))) => {
                        all.collected.rows.extend(c.rows);
                        if all.collected.failure.is_none() {
                            all.collected.failure = c.failure;
                        }
                    }
                    Ok(Ok(Err(e))) => {
                        tracing::debug!(error = %e, "a TaskManager's collected rows");
                        all.complete = false;
                    }
                    _ => all.complete = false,
                }
            }
            all
        };
        Reply::new::<GatherCollected>(answers.into_actor(self))
    }
}
