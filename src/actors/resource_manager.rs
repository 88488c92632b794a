//! The ResourceManager actor: the TaskManager registry and the slot table.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use actix::prelude::*;

use crate::actors::job_master::JobMaster;
use crate::actors::slot_table::{SlotGrant, SlotTable, TaskManagerSlots};
use crate::actors::task_manager::{RequestSlot, TaskManager};
use crate::ids::{AllocationId, JobId, TaskManagerId};

/// The most slot requests that may wait for TaskManagers at once.
const MAX_PENDING_REQUESTS: usize = 256;

/// A TaskManager announces itself and its slots.
#[derive(Message)]
#[rtype(result = "AcknowledgeRegistration")]
pub struct RegisterTaskManager {
    /// Its id.
    pub id: TaskManagerId,
    /// Its address.
    pub address: Addr<TaskManager>,
    /// Its number of slots.
    pub slots: usize,
}

/// The answer to a registration.
#[derive(Debug, Clone, MessageResponse)]
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
    pub job_master: Addr<JobMaster>,
}

/// A TaskManager's slot is free again.
#[derive(Message)]
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
    job_master: Addr<JobMaster>,
}

/// Owns the TaskManager registry and the slot table.
#[derive(Default)]
pub struct ResourceManager {
    table: SlotTable,
    task_managers: HashMap<TaskManagerId, Addr<TaskManager>>,
    pending: VecDeque<Pending>,
    id: String,
    registered_at: HashMap<TaskManagerId, SystemTime>,
}

impl ResourceManager {
    /// A ResourceManager with no TaskManagers.
    pub fn new() -> Self {
        Self {
            id: format!("resourcemanager-{:08x}", crate::util::random_u64() as u32),
            ..Self::default()
        }
    }

    fn offer(&mut self, grants: Vec<SlotGrant>, job_id: JobId, jm: &Addr<JobMaster>) {
        for g in grants {
            if let Some(tm) = self.task_managers.get(&g.task_manager) {
                tm.do_send(RequestSlot {
                    allocation: g.allocation,
                    slot: g.slot,
                    job_id,
                    job_master: jm.clone(),
                });
            }
        }
    }

    fn serve_pending(&mut self) {
        while let Some(p) = self.pending.front() {
            if !p.job_master.connected() {
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
}

impl Handler<RegisterTaskManager> for ResourceManager {
    type Result = AcknowledgeRegistration;

    fn handle(&mut self, msg: RegisterTaskManager, _ctx: &mut Self::Context) -> Self::Result {
        tracing::info!(task_manager = %msg.id, slots = msg.slots, "TaskManager registered");
        self.table.register(msg.id.clone(), msg.slots);
        self.registered_at.insert(msg.id.clone(), SystemTime::now());
        self.task_managers.insert(msg.id, msg.address);
        self.serve_pending();
        AcknowledgeRegistration {
            resource_manager: self.id.clone(),
        }
    }
}

impl Handler<RequestSlots> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: RequestSlots, _ctx: &mut Self::Context) {
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

impl Handler<SlotAvailable> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: SlotAvailable, _ctx: &mut Self::Context) {
        self.table.free_allocation(msg.allocation);
        self.serve_pending();
    }
}

impl Handler<CancelSlotRequest> for ResourceManager {
    type Result = ();

    fn handle(&mut self, msg: CancelSlotRequest, _ctx: &mut Self::Context) {
        self.pending.retain(|p| p.job_id != msg.job_id);
    }
}

impl Handler<RequestResourceOverview> for ResourceManager {
    type Result = ResourceOverview;

    fn handle(&mut self, _: RequestResourceOverview, _ctx: &mut Self::Context) -> Self::Result {
        ResourceOverview {
            task_managers: self.table.task_managers(),
            slots_total: self.table.total(),
            slots_available: self.table.free(),
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
}

impl Handler<RequestTaskManagers> for ResourceManager {
    type Result = MessageResult<RequestTaskManagers>;

    fn handle(&mut self, _: RequestTaskManagers, _ctx: &mut Self::Context) -> Self::Result {
        let slots = self.table.task_manager_slots();
        // TaskManagers that left the slot table leave this map too, so it stays bounded.
        self.registered_at
            .retain(|id, _| slots.iter().any(|s| &s.id == id));
        MessageResult(
            slots
                .into_iter()
                .map(|s| TaskManagerInfo {
                    registered_at: self
                        .registered_at
                        .get(&s.id)
                        .copied()
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    slots: s,
                })
                .collect(),
        )
    }
}
