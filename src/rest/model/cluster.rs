//! Bodies about the cluster: `/overview` and `/taskmanagers`.

use serde::{Deserialize, Serialize};

use crate::actors::resource_manager::TaskManagerInfo;
use crate::rest::model::epoch_millis;

/// `GET /overview`: the cluster at a glance.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterOverview {
    /// Registered TaskManagers.
    pub taskmanagers: usize,
    /// Slots in all.
    pub slots_total: usize,
    /// Free slots.
    pub slots_available: usize,
    /// Jobs not yet in a globally terminal status.
    pub jobs_running: usize,
    /// FINISHED jobs.
    pub jobs_finished: usize,
    /// CANCELED jobs.
    pub jobs_cancelled: usize,
    /// FAILED jobs.
    pub jobs_failed: usize,
    /// Rill's version (where Flink has `flink-version`).
    pub rill_version: String,
}

/// One TaskManager in `GET /taskmanagers`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerEntry {
    /// Its id.
    pub id: String,
    /// Its slots.
    pub slots_number: usize,
    /// Its free slots.
    pub free_slots: usize,
    /// When it registered (ms since the epoch).
    pub registration_time: i64,
    /// The port its QUIC endpoint accepts data channels on; -1 in the JobManager's process.
    pub data_port: i32,
    /// Milliseconds since it last answered a heartbeat (Rill's meaning: an age, not a time).
    pub time_since_last_heartbeat: u64,
}

impl From<&TaskManagerInfo> for TaskManagerEntry {
    fn from(t: &TaskManagerInfo) -> Self {
        Self {
            id: t.slots.id.to_string(),
            slots_number: t.slots.total,
            free_slots: t.slots.free,
            registration_time: epoch_millis(t.registered_at),
            data_port: t.data_address.map_or(-1, |a| i32::from(a.port())),
            time_since_last_heartbeat: u64::try_from(t.since_heartbeat.as_millis())
                .unwrap_or(u64::MAX),
        }
    }
}

/// `GET /taskmanagers`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct TaskManagerList {
    /// Every registered TaskManager.
    pub taskmanagers: Vec<TaskManagerEntry>,
}

/// An allocated slot in `GET /taskmanagers/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocatedSlot {
    /// The slot's index on its TaskManager.
    pub slot_index: usize,
    /// The job it is allocated to.
    pub job_id: String,
}

/// `GET /taskmanagers/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerDetail {
    /// What the list shows.
    #[serde(flatten)]
    pub entry: TaskManagerEntry,
    /// Its allocated slots.
    pub allocated_slots: Vec<AllocatedSlot>,
}

impl From<&TaskManagerInfo> for TaskManagerDetail {
    fn from(t: &TaskManagerInfo) -> Self {
        Self {
            entry: t.into(),
            allocated_slots: t
                .slots
                .allocated
                .iter()
                .map(|(slot, job)| AllocatedSlot {
                    slot_index: *slot,
                    job_id: job.to_string(),
                })
                .collect(),
        }
    }
}

/// `GET /jobmanager/logs` and `GET /taskmanagers/{id}/logs`: the logs there are (Flink's
/// shape); Rill keeps one ring of recent lines per process.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct LogList {
    /// The logs.
    pub logs: Vec<LogFile>,
}

/// One log of a [`LogList`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct LogFile {
    /// Its name, to fetch it by.
    pub name: String,
    /// Its size in bytes.
    pub size: usize,
}

impl LogList {
    /// The one log `name` of `size` bytes.
    pub fn one(name: &str, size: usize) -> Self {
        Self {
            logs: vec![LogFile {
                name: name.to_string(),
                size,
            }],
        }
    }
}

/// `GET /actors`: every node's actors and the edges between them.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct ActorsTopology {
    /// The node that answered (the JobManager's; empty without an actor registry).
    pub node: String,
    /// Each node, and whether it answered.
    pub nodes: Vec<crate::actors::topology::NodeActors>,
    /// Every actor of the nodes that answered.
    pub actors: Vec<crate::actors::remote::ActorInfo>,
    /// The edges between them.
    pub edges: Vec<crate::actors::topology::Edge>,
}
