//! The Dispatcher actor: accepts jobs, starts a JobMaster for each, keeps their history and
//! answers those waiting for a job's result.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::actors::job_master::{CancelJob as CancelJobMaster, JobMaster};
use crate::actors::resource_manager::ResourceManager;
use crate::actors::ClusterError;
use crate::config::RuntimeConfig;
use crate::graph::deployment::PlanRef;
use crate::graph::{JobGraph, JobStatus};
use crate::ids::JobId;

/// Finished jobs kept in the history.
const MAX_HISTORY: usize = 1000;
/// Requests that may wait for one job's result.
const MAX_WAITERS_PER_JOB: usize = 64;

/// Submits a job.
#[derive(Message)]
#[rtype(result = "Result<JobId, ClusterError>")]
pub struct SubmitJob {
    /// The job's id (chosen by the submitter).
    pub job_id: JobId,
    /// The chained job.
    pub job_graph: JobGraph,
    /// Where nodes find its program.
    pub plan: PlanRef,
}

/// Cancels a job.
#[derive(Message)]
#[rtype(result = "Result<(), ClusterError>")]
pub struct CancelJob {
    /// The job.
    pub job_id: JobId,
}

/// A JobMaster reports its job's status.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JobStatusChanged {
    /// The job.
    pub job_id: JobId,
    /// Its status.
    pub status: JobStatus,
    /// Its failure cause, if any.
    pub failure: Option<String>,
}

/// Waits for a job's end.
#[derive(Message)]
#[rtype(result = "Result<JobResult, ClusterError>")]
pub struct RequestJobResult {
    /// The job.
    pub job_id: JobId,
}

/// Lists jobs.
#[derive(Message)]
#[rtype(result = "Vec<JobSummary>")]
pub struct ListJobs;

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The job.
    pub job_id: JobId,
    /// Its terminal status.
    pub status: JobStatus,
    /// Its failure cause.
    pub failure: Option<String>,
    /// How long it ran.
    pub duration: Duration,
}

/// One line of the job list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The job.
    pub job_id: JobId,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: JobStatus,
}

struct JobRecord {
    name: String,
    status: JobStatus,
    failure: Option<String>,
    started: Instant,
    ended: Option<Instant>,
    job_master: Option<Addr<JobMaster>>,
    waiters: Vec<oneshot::Sender<JobResult>>,
}

impl JobRecord {
    fn result(&self, job_id: JobId) -> JobResult {
        JobResult {
            job_id,
            status: self.status,
            failure: self.failure.clone(),
            duration: self
                .ended
                .unwrap_or_else(Instant::now)
                .duration_since(self.started),
        }
    }
}

/// Accepts and tracks jobs.
pub struct Dispatcher {
    resource_manager: Addr<ResourceManager>,
    config: RuntimeConfig,
    jobs: HashMap<JobId, JobRecord>,
    history: VecDeque<JobId>,
}

impl Dispatcher {
    /// A Dispatcher using `resource_manager`.
    pub fn new(resource_manager: Addr<ResourceManager>, config: RuntimeConfig) -> Self {
        Self {
            resource_manager,
            config,
            jobs: HashMap::new(),
            history: VecDeque::new(),
        }
    }
}

impl Actor for Dispatcher {
    type Context = Context<Self>;
}

impl Handler<SubmitJob> for Dispatcher {
    type Result = Result<JobId, ClusterError>;

    fn handle(&mut self, msg: SubmitJob, ctx: &mut Self::Context) -> Self::Result {
        let job_id = msg.job_id;
        tracing::info!(job_id = %job_id, job = %msg.job_graph.name, vertices = msg.job_graph.vertices.len(), "job submitted");
        let name = msg.job_graph.name.clone();
        let jm = JobMaster::new(
            job_id,
            Arc::new(msg.job_graph),
            msg.plan,
            self.resource_manager.clone(),
            ctx.address(),
            self.config.clone(),
        )
        .start();
        self.jobs.insert(
            job_id,
            JobRecord {
                name,
                status: JobStatus::Created,
                failure: None,
                started: Instant::now(),
                ended: None,
                job_master: Some(jm),
                waiters: Vec::new(),
            },
        );
        Ok(job_id)
    }
}

impl Handler<CancelJob> for Dispatcher {
    type Result = Result<(), ClusterError>;

    fn handle(&mut self, msg: CancelJob, _ctx: &mut Self::Context) -> Self::Result {
        let rec = self
            .jobs
            .get(&msg.job_id)
            .ok_or(ClusterError::JobNotFound(msg.job_id))?;
        if let Some(jm) = &rec.job_master {
            jm.do_send(CancelJobMaster);
        }
        Ok(())
    }
}

impl Handler<JobStatusChanged> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: JobStatusChanged, _ctx: &mut Self::Context) {
        let Some(rec) = self.jobs.get_mut(&msg.job_id) else {
            return;
        };
        rec.status = msg.status;
        if msg.failure.is_some() {
            rec.failure = msg.failure;
        }
        if !msg.status.is_terminal() {
            return;
        }
        rec.ended = Some(Instant::now());
        rec.job_master = None;
        let result = rec.result(msg.job_id);
        for w in rec.waiters.drain(..) {
            let _ = w.send(result.clone());
        }
        self.history.push_back(msg.job_id);
        while self.history.len() > MAX_HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.jobs.remove(&old);
            }
        }
    }
}

impl Handler<RequestJobResult> for Dispatcher {
    type Result = ResponseFuture<Result<JobResult, ClusterError>>;

    fn handle(&mut self, msg: RequestJobResult, _ctx: &mut Self::Context) -> Self::Result {
        let job_id = msg.job_id;
        let Some(rec) = self.jobs.get_mut(&job_id) else {
            return Box::pin(async move { Err(ClusterError::JobNotFound(job_id)) });
        };
        if rec.status.is_terminal() {
            let r = rec.result(job_id);
            return Box::pin(async move { Ok(r) });
        }
        if rec.waiters.len() >= MAX_WAITERS_PER_JOB {
            return Box::pin(async { Err(ClusterError::TooManyWaiters("a job result")) });
        }
        let (tx, rx) = oneshot::channel();
        rec.waiters.push(tx);
        Box::pin(async move {
            rx.await
                .map_err(|_| ClusterError::Unavailable("dispatcher"))
        })
    }
}

impl Handler<ListJobs> for Dispatcher {
    type Result = MessageResult<ListJobs>;

    fn handle(&mut self, _: ListJobs, _ctx: &mut Self::Context) -> Self::Result {
        let mut list: Vec<JobSummary> = self
            .jobs
            .iter()
            .map(|(id, r)| JobSummary {
                job_id: *id,
                name: r.name.clone(),
                status: r.status,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        MessageResult(list)
    }
}

/// A message for the JobMaster of a job, from a remote TaskManager.
#[derive(Message)]
#[rtype(result = "()")]
pub enum ToJobMaster {
    /// Slots offered to the job.
    OfferSlots(JobId, crate::actors::job_master::OfferSlots),
    /// A subtask's new state.
    Update(crate::actors::task_manager::UpdateTaskExecutionState),
}

impl Handler<ToJobMaster> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: ToJobMaster, _ctx: &mut Self::Context) {
        let job = match &msg {
            ToJobMaster::OfferSlots(job, _) => *job,
            ToJobMaster::Update(u) => u.job_id,
        };
        let jm = self.jobs.get(&job).and_then(|r| r.job_master.clone());
        match (jm, msg) {
            (Some(jm), ToJobMaster::OfferSlots(_, offer)) => jm.do_send(offer),
            (Some(jm), ToJobMaster::Update(u)) => jm.do_send(u),
            // The job has ended: give its slots back.
            (None, ToJobMaster::OfferSlots(_, offer)) => {
                for o in offer.offers {
                    offer.address.free_slot(o.allocation);
                }
            }
            (None, ToJobMaster::Update(_)) => {}
        }
    }
}
