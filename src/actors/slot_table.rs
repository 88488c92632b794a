//! The ResourceManager's slot table, as a plain struct: which TaskManager offers which slots,
//! and which are allocated to which job.
//!
//! ## Placement
//! Slots are spread evenly: each allocation takes the next free slot of the TaskManager with the
//! most free slots (ties by registration order), as Flink's `cluster.evenly-spread-out-slots`.

use crate::ids::{AllocationId, JobId, TaskManagerId};

/// One allocated slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotGrant {
    /// The TaskManager.
    pub task_manager: TaskManagerId,
    /// The slot's index there.
    pub slot: usize,
    /// The allocation.
    pub allocation: AllocationId,
}

#[derive(Debug, Clone)]
struct TmSlots {
    id: TaskManagerId,
    slots: Vec<Option<(AllocationId, JobId)>>,
}

impl TmSlots {
    fn free(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }
}

/// Slots of every registered TaskManager.
#[derive(Debug, Clone, Default)]
pub struct SlotTable {
    tms: Vec<TmSlots>,
}

impl SlotTable {
    /// Registers a TaskManager with `slots` free slots (again: its slots are reset).
    pub fn register(&mut self, id: TaskManagerId, slots: usize) {
        self.tms.retain(|t| t.id != id);
        self.tms.push(TmSlots {
            id,
            slots: vec![None; slots],
        });
    }

    /// Removes a TaskManager; returns the jobs that had slots on it.
    pub fn unregister(&mut self, id: &TaskManagerId) -> Vec<JobId> {
        let mut jobs = Vec::new();
        if let Some(t) = self.tms.iter().find(|t| &t.id == id) {
            jobs.extend(t.slots.iter().flatten().map(|(_, j)| *j));
        }
        self.tms.retain(|t| &t.id != id);
        jobs.sort();
        jobs.dedup();
        jobs
    }

    /// Free slots in all.
    pub fn free(&self) -> usize {
        self.tms.iter().map(TmSlots::free).sum()
    }

    /// Slots in all.
    pub fn total(&self) -> usize {
        self.tms.iter().map(|t| t.slots.len()).sum()
    }

    /// Registered TaskManagers.
    pub fn task_managers(&self) -> usize {
        self.tms.len()
    }

    /// Allocates `count` slots to `job`, or none if fewer are free.
    pub fn allocate(&mut self, job: JobId, count: usize) -> Option<Vec<SlotGrant>> {
        if self.free() < count {
            return None;
        }
        let mut grants = Vec::with_capacity(count);
        for _ in 0..count {
            let best = self.tms.iter_mut().filter(|t| t.free() > 0).fold(
                None::<&mut TmSlots>,
                |best, t| match best {
                    Some(b) if b.free() >= t.free() => Some(b),
                    _ => Some(t),
                },
            )?;
            let slot = best.slots.iter().position(Option::is_none)?;
            let allocation = AllocationId::generate();
            best.slots[slot] = Some((allocation, job));
            grants.push(SlotGrant {
                task_manager: best.id.clone(),
                slot,
                allocation,
            });
        }
        Some(grants)
    }

    /// Frees one allocation; returns whether it was allocated.
    pub fn free_allocation(&mut self, allocation: AllocationId) -> bool {
        for t in &mut self.tms {
            for s in &mut t.slots {
                if matches!(s, Some((a, _)) if *a == allocation) {
                    *s = None;
                    return true;
                }
            }
        }
        false
    }

    /// Frees every slot of `job`.
    pub fn free_job(&mut self, job: JobId) -> usize {
        let mut n = 0;
        for t in &mut self.tms {
            for s in &mut t.slots {
                if matches!(s, Some((_, j)) if *j == job) {
                    *s = None;
                    n += 1;
                }
            }
        }
        n
    }
}

/// One TaskManager's slots, for status queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskManagerSlots {
    /// The TaskManager.
    pub id: TaskManagerId,
    /// Its slots.
    pub total: usize,
    /// Its free slots.
    pub free: usize,
    /// The job of each allocated slot, by slot index.
    pub allocated: Vec<(usize, JobId)>,
}

impl SlotTable {
    /// Every TaskManager's slots, in registration order.
    pub fn task_manager_slots(&self) -> Vec<TaskManagerSlots> {
        self.tms
            .iter()
            .map(|t| TaskManagerSlots {
                id: t.id.clone(),
                total: t.slots.len(),
                free: t.free(),
                allocated: t
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.map(|(_, job)| (i, job)))
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tm(n: &str) -> TaskManagerId {
        TaskManagerId(n.to_string())
    }

    #[test]
    fn spreads_slots_evenly_and_frees_them() {
        let mut t = SlotTable::default();
        t.register(tm("a"), 2);
        t.register(tm("b"), 2);
        t.register(tm("c"), 2);
        let job = JobId(1);
        let g = t.allocate(job, 3).expect("enough slots");
        let mut tms: Vec<_> = g.iter().map(|s| s.task_manager.0.clone()).collect();
        tms.sort();
        assert_eq!(tms, vec!["a", "b", "c"]);
        assert_eq!(t.free(), 3);
        assert!(t.allocate(JobId(2), 4).is_none(), "only three free");
        assert!(t.free_allocation(g[0].allocation));
        assert!(!t.free_allocation(g[0].allocation));
        assert_eq!(t.free_job(job), 2);
        assert_eq!(t.free(), 6);
    }

    #[test]
    fn per_task_manager_view_shows_allocations() {
        let mut t = SlotTable::default();
        t.register(tm("a"), 2);
        t.register(tm("b"), 2);
        t.allocate(JobId(3), 3).expect("three slots");
        let view = t.task_manager_slots();
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].id, tm("a"));
        assert_eq!((view[0].total, view[0].free), (2, 0));
        assert_eq!(view[0].allocated, vec![(0, JobId(3)), (1, JobId(3))]);
        assert_eq!((view[1].total, view[1].free), (2, 1));
        assert_eq!(view[1].allocated, vec![(0, JobId(3))]);
    }

    #[test]
    fn unregister_names_the_jobs_it_hosted() {
        let mut t = SlotTable::default();
        t.register(tm("a"), 1);
        t.register(tm("b"), 1);
        t.allocate(JobId(7), 2).expect("two slots");
        assert_eq!(t.unregister(&tm("a")), vec![JobId(7)]);
        assert_eq!(t.total(), 1);
    }
}
