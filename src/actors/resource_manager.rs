//! The ResourceManager actor: the TaskManager registry and the slot table.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::actors::gateway::TaskManagerGateway;
use crate::actors::job_master::{JobMaster, TaskManagerLost};
use crate::actors::remote::{
    ActorFigures, ActorRef, Handles, Supervise, SupervisedContext, SupervisedFuture,
};
use crate::actors::slot_table::{SlotGrant, SlotTable, TaskManagerSlots};
use crate::actors::task_manager::Heartbeat;
use crate::ids::{AllocationId, JobId, TaskManagerId};
use crate::metrics::process::ProcessStats;
use crate::remote_message;

/// The most slot requests that may wait for TaskManagers at once.
const MAX_PENDING_REQUESTS: usize = 256;

/// A TaskManager announces itself and its slots.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Result<AcknowledgeRegistration, RegistrationRefused>")]
pub struct RegisterTaskManager {
    /// Its id.
    pub id: TaskManagerId,
    /// Its address.
    pub address: TaskManagerGateway,
    /// Its number of slots.
    pub slots: usize,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RegistrationRefused {
    /// The TaskManager claims an id other than its connection's node id.
    #[error("TaskManager id {id} differs from its node id {node}")]
    IdMismatch {
        /// The id it claims.
        id: String,
        /// Its connection's node id.
        node: String,
    },
    /// A TaskManager in another process gave no address for data channels.
    #[error("a TaskManager in another process needs a data address")]
    NoDataAddress,
    /// In an HA cluster: this JobManager does not lead; the TaskManager looks the leader up
    /// again.
    #[error("this JobManager does not lead its cluster")]
    NotLeader,
}

/// The answer to a registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcknowledgeRegistration {
    /// The ResourceManager's id.
    pub resource_manager: String,
}

/// A JobMaster asks for slots; they are offered to it by their TaskManagers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestSlots {
    /// The job.
    pub job_id: JobId,
    /// How many.
    pub count: usize,
    /// Who gets the offers.
    pub job_master: ActorRef<JobMaster>,
}

/// A TaskManager's slot is free again.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct SlotAvailable {
    /// The allocation that ended.
    pub allocation: AllocationId,
}

/// A job ended: its slot requests are void.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelSlotRequest {
    /// The job.
    pub job_id: JobId,
}

/// The cluster's resources.
#[derive(Message)]
#[rtype(result = "ResourceOverview")]
pub struct RequestResourceOverview;

/// TaskManagers and slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub struct ResourceOverview {
    /// Registered TaskManagers.
    pub task_managers: usize,
    /// Slots in all.
    pub slots_total: usize,
    /// Free slots.
    pub slots_available: usize,
}

struct Pending {
    job_id: JobId,
    count: usize,
    job_master: ActorRef<JobMaster>,
}

/// A registered TaskManager.
struct Registered {
    gateway: TaskManagerGateway,
    last_seen: Instant,
    registered_at: SystemTime,
    /// Its process's figures, from its last heartbeat.
    process: Option<ProcessStats>,
}

/// Owns the TaskManager registry and the slot table; sends heartbeats to remote TaskManagers
/// and declares lost those that stop answering.
pub struct ResourceManager {
    table: SlotTable,
    task_managers: HashMap<TaskManagerId, Registered>,
    job_masters: HashMap<JobId, ActorRef<JobMaster>>,
    pending: VecDeque<Pending>,
    id: String,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    mailbox_capacity: usize,
    figures: Option<Arc<ActorFigures>>,
    /// Its node's actor registry, sampled into rates and shown with the TaskManagers'.
    registry: Option<crate::actors::remote::ActorRegistry>,
    /// In an HA cluster, whether its JobManager leads: a standby takes no TaskManager.
    ha: Option<Arc<crate::ha::HaServices>>,
}

impl Default for ResourceManager {
    fn default() -> Self {
        Self::new()
    }
}

impl ResourceManager {
    /// A ResourceManager with no TaskManagers and the default heartbeat settings.
    pub fn new() -> Self {
        let c = crate::config::RuntimeConfig::default();
        Self::with_heartbeats(c.heartbeat_interval, c.heartbeat_timeout)
    }

    /// A ResourceManager that heartbeats every `interval` and loses a TaskManager silent for
    /// `timeout`.
    pub fn with_heartbeats(interval: Duration, timeout: Duration) -> Self {
        Self {
            table: SlotTable::default(),
            task_managers: HashMap::new(),
            job_masters: HashMap::new(),
            pending: VecDeque::new(),
            id: format!("resourcemanager-{:08x}", crate::util::random_u64() as u32),
            heartbeat_interval: interval,
            heartbeat_timeout: timeout,
            mailbox_capacity: crate::config::RuntimeConfig::default().mailbox_capacity,
            figures: None,
            registry: None,
            ha: None,
        }
    }

    /// Takes TaskManagers only while its JobManager leads `ha`'s cluster.
    pub fn with_ha(mut self, ha: Option<Arc<crate::ha::HaServices>>) -> Self {
        self.ha = ha;
        self
    }

    /// Counts what it handles in the figures of its registration `me`.
    pub fn registered_as(mut self, me: &ActorRef<Self>) -> Self {
        self.figures = me.figures().cloned();
        self
    }

    /// Samples its node's actor `registry` into rates, and shows it with the TaskManagers'
    /// nodes.
    pub fn with_registry(mut self, registry: crate::actors::remote::ActorRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Its node's actor registry, if it was given one.
    pub(crate) fn registry(&self) -> Option<&crate::actors::remote::ActorRegistry> {
        self.registry.as_ref()
    }

    /// The registered TaskManagers' gateways.
    pub(crate) fn gateways(&self) -> impl Iterator<Item = (&TaskManagerId, &TaskManagerGateway)> {
        self.task_managers.iter().map(|(id, r)| (id, &r.gateway))
    }

    /// Sets its mailbox's capacity.
    pub fn with_mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let timeout = self.heartbeat_timeout;
        let lost: Vec<(TaskManagerId, String)> = self
            .task_managers
            .iter()
            .filter_map(|(id, r)| {
                let silent = now.duration_since(r.last_seen);
                if !r.gateway.actor.is_alive() {
                    Some((
                        id.clone(),
                        "it stopped (its actor or connection is gone)".into(),
                    ))
                } else if silent > timeout {
                    Some((
                        id.clone(),
                        format!(
                            "no heartbeat for {:.1}s (timeout {:?})",
                            silent.as_secs_f64(),
                            timeout
                        ),
                    ))
                } else {
                    None
                }
            })
            .collect();
        for (id, cause) in lost {
            self.lose(&id, &cause);
        }
        for (id, r) in &self.task_managers {
            let id = id.clone();
            r.gateway
                .actor
                .ask(Heartbeat {
                    resource_manager: self.id.clone(),
                })
                .into_actor(self)
                .map(move |res, act, _| match res {
                    Ok(Ok(ack)) => {
                        if let Some(r) = act.task_managers.get_mut(&id) {
                            r.last_seen = Instant::now();
                            r.process = ack.process.or(r.process);
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(task_manager = %id, error = %e, "heartbeat refused")
                    }
                    Err(e) => {
                        tracing::debug!(task_manager = %id, error = %e, "heartbeat unanswered")
                    }
                })
                .spawn_supervised("heartbeat answer", ctx);
        }
    }

    /// Removes a TaskManager and fails the jobs that had slots on it.
    fn lose(&mut self, id: &TaskManagerId, cause: &str) {
        let Some(r) = self.task_managers.remove(id) else {
            return;
        };
        let at = r
            .gateway
            .peer()
            .map(|p| format!(" ({})", p.address()))
            .unwrap_or_default();
        let cause = format!("TaskManager {id}{at} lost: {cause}");
        tracing::warn!(task_manager = %id, %cause, "TaskManager lost");
        if let Some(p) = r.gateway.peer() {
            p.connection()
                .close(crate::net::quic::close::LOST, b"declared lost");
        }
        for job in self.table.unregister(id) {
            if let Some(jm) = self.job_masters.get(&job) {
                jm.tell_or_log(TaskManagerLost {
                    task_manager: id.clone(),
                    cause: cause.clone(),
                });
            }
        }
    }

    fn offer(&mut self, grants: Vec<SlotGrant>, job_id: JobId, jm: &ActorRef<JobMaster>) {
        for g in grants {
            if let Some(tm) = self.task_managers.get(&g.task_manager) {
                tm.gateway
                    .request_slot(g.allocation, g.slot, job_id, jm.clone());
            }
        }
    }

    fn serve_pending(&mut self) {
        while let Some(p) = self.pending.front() {
            if !p.job_master.is_alive() {
                self.pending.pop_front();
                continue;
            }
            match self.table.allocate(p.job_id, p.count) {
                Some(grants) => {
                    let Some(p) = self.pending.pop_front() else {
                        return;
                    };
                    self.offer(grants, p.job_id, &p.job_master);
                }
                None => return,
            }
        }
    }
}

impl Actor for ResourceManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        ctx.supervised_interval("heartbeat", self.heartbeat_interval, |act, ctx| {
            act.heartbeat(ctx)
        });
        if self.registry.is_some() {
            ctx.supervised_interval(
                "actor sample",
                crate::actors::remote::SAMPLE_PERIOD,
                |act, _| {
                    if let Some(r) = &act.registry {
                        r.sample();
                    }
                },
            );
        }
    }
}

impl Supervise for ResourceManager {
    const KIND: &'static str = "ResourceManager";

    /// Keeps its registry and slot table (each handler changes them in single steps) and
    /// serves the waiting slot requests again.
    fn recover(&mut self, _cause: &str, _ctx: &mut Context<Self>) {
        self.serve_pending();
    }

    fn figures(&self) -> Option<&Arc<ActorFigures>> {
        self.figures.as_ref()
    }
}

remote_message!(ResourceManager: RegisterTaskManager = "rill.rm.RegisterTaskManager");
remote_message!(ResourceManager: SlotAvailable = "rill.rm.SlotAvailable");
remote_message!(inject_panic ResourceManager);
crate::local_messages!(
    ResourceManager: RequestSlots,
    CancelSlotRequest,
    RequestResourceOverview,
    TaskManagerDisconnected,
    RequestTaskManagers,
);

impl Handles<RegisterTaskManager> for ResourceManager {
    type Result = Result<AcknowledgeRegistration, RegistrationRefused>;

    fn handle(&mut self, msg: RegisterTaskManager, _ctx: &mut Self::Context) -> Self::Result {
        if self.ha.as_ref().is_some_and(|h| !h.leading()) {
            return Err(RegistrationRefused::NotLeader);
        }
        if let Some(node) = msg.address.actor.remote_node() {
            if node != msg.id.0 {
                return Err(RegistrationRefused::IdMismatch {
                    id: msg.id.to_string(),
                    node: node.to_string(),
                });
            }
            if msg.address.data_address.is_none() {
                return Err(RegistrationRefused::NoDataAddress);
            }
        }
        if self.task_managers.contains_key(&msg.id) {
            // The same TaskManager again (it lost its connection and came back): what it held
            // is gone with the old connection.
            self.lose(&msg.id, "it registered again");
        }
        tracing::info!(task_manager = %msg.id, slots = msg.slots, "TaskManager registered");
        self.table.register(msg.id.clone(), msg.slots);
        self.task_managers.insert(
            msg.id,
            Registered {
                gateway: msg.address,
                last_seen: Instant::now(),
                registered_at: SystemTime::now(),
                process: None,
            },
        );
        self.serve_pending();
        Ok(AcknowledgeRegistration {
            resource_manager: self.id.clone(),
        })
    }
}

impl Handles<RequestSlots> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: RequestSlots, _ctx: &mut Self::Context) {
        self.job_masters.insert(msg.job_id, msg.job_master.clone());
        if self.pending.is_empty() {
            if let Some(grants) = self.table.allocate(msg.job_id, msg.count) {
                self.offer(grants, msg.job_id, &msg.job_master);
                return;
            }
        }
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            tracing::warn!(job_id = %msg.job_id, "slot request dropped: too many waiting");
            return;
        }
        tracing::info!(job_id = %msg.job_id, count = msg.count, free = self.table.free(), "waiting for slots");
        self.pending.push_back(Pending {
            job_id: msg.job_id,
            count: msg.count,
            job_master: msg.job_master,
        });
    }
}

impl Handles<SlotAvailable> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: SlotAvailable, _ctx: &mut Self::Context) {
        self.table.free_allocation(msg.allocation);
        self.serve_pending();
    }
}

impl Handles<CancelSlotRequest> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: CancelSlotRequest, _ctx: &mut Self::Context) {
        self.pending.retain(|p| p.job_id != msg.job_id);
        self.job_masters.remove(&msg.job_id);
    }
}

impl Handles<RequestResourceOverview> for ResourceManager {
    type Result = ResourceOverview;

    fn handle(&mut self, _: RequestResourceOverview, _ctx: &mut Self::Context) -> Self::Result {
        ResourceOverview {
            task_managers: self.table.task_managers(),
            slots_total: self.table.total(),
            slots_available: self.table.free(),
        }
    }
}

/// A TaskManager's connection to the JobManager closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TaskManagerDisconnected {
    /// The TaskManager.
    pub id: TaskManagerId,
    /// The connection that closed (a newer one may have replaced it).
    pub connection: usize,
    /// Why.
    pub reason: String,
}

impl Handles<TaskManagerDisconnected> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: TaskManagerDisconnected, _ctx: &mut Self::Context) {
        let current = self
            .task_managers
            .get(&msg.id)
            .and_then(|r| r.gateway.peer())
            .map(|p| p.connection().stable_id());
        if current == Some(msg.connection) {
            self.lose(&msg.id, &format!("its connection closed ({})", msg.reason));
        }
    }
}

/// Asks for every registered TaskManager and its slots.
#[derive(Message)]
#[rtype(result = "Vec<TaskManagerInfo>")]
pub struct RequestTaskManagers;

/// One registered TaskManager, for status queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskManagerInfo {
    /// Its id, slot count and allocated slots.
    pub slots: TaskManagerSlots,
    /// When it (last) registered.
    pub registered_at: SystemTime,
    /// Where it accepts data channels (`None` in this process).
    pub data_address: Option<std::net::SocketAddr>,
    /// How long since it last answered a heartbeat (or registered).
    pub since_heartbeat: Duration,
    /// Its process's memory and threads (in this process: read now; in another: from its
    /// last heartbeat).
    pub process: Option<ProcessStats>,
}

impl Handles<RequestTaskManagers> for ResourceManager {
    type Result = MessageResult<RequestTaskManagers>;

    fn handle(&mut self, _: RequestTaskManagers, _ctx: &mut Self::Context) -> Self::Result {
        // TaskManagers in this process share its figures: read once.
        let here = ProcessStats::current();
        MessageResult(
            self.table
                .task_manager_slots()
                .into_iter()
                .map(|s| {
                    let r = self.task_managers.get(&s.id);
                    TaskManagerInfo {
                        registered_at: r.map_or(SystemTime::UNIX_EPOCH, |r| r.registered_at),
                        data_address: r.and_then(|r| r.gateway.data_address()),
                        since_heartbeat: r.map_or(Duration::ZERO, |r| r.last_seen.elapsed()),
                        process: match r {
                            Some(r) if r.gateway.data_address().is_some() => r.process,
                            _ => here,
                        },
                        slots: s,
                    }
                })
                .collect(),
        )
    }
}
