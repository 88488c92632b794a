//! The Dispatcher actor: accepts jobs, starts a JobMaster for each, keeps their history and
//! answers those waiting for a job's result, and status queries ([`RequestJobDetails`],
//! [`RequestJobsOverview`]) from what it and the running JobMasters know (see
//! [`job_info`](crate::actors::job_info)).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::actors::job_info::{JobInfo, VertexInfo};
use crate::actors::job_master::{
    CancelJob as CancelJobMaster, JobDetails, JobMaster, RequestCheckpointStats,
    RequestJobDetails as RequestJobMasterDetails, SavepointError, SavepointOutcome,
    TriggerSavepoint,
};
use crate::actors::remote::{ActorFigures, ActorRef, ActorRegistry, Handles, Reply, Supervise};
use crate::actors::resource_manager::ResourceManager;
use crate::actors::ClusterError;
use crate::api::RuntimeMode;
use crate::checkpoint::coordinator::CheckpointStats;
use crate::config::RuntimeConfig;
use crate::graph::deployment::PlanRef;
use crate::graph::{JobGraph, JobStatus};
use crate::ids::JobId;
use crate::remote_message;

mod savepoints;

pub use savepoints::*;

/// Finished jobs kept in the history.
const MAX_HISTORY: usize = 1000;
/// Requests that may wait for one job's result.
const MAX_WAITERS_PER_JOB: usize = 64;
/// How long a status query waits for a JobMaster's answer.
const JOB_MASTER_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

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
    job_type: RuntimeMode,
    /// Wall-clock times for status queries (durations use the monotonic instants above).
    submitted_at: SystemTime,
    modified_at: SystemTime,
    failed_at: Option<SystemTime>,
    /// The vertices, with the final subtask states once the JobMaster archived them.
    vertices: Vec<VertexInfo>,
    archived: bool,
    /// The checkpoint statistics the JobMaster left when the job ended.
    checkpoints: Option<CheckpointStats>,
    /// The exception history and restarts the JobMaster left when the job ended.
    failures: crate::actors::job_info::FailureRecord,
    /// Savepoints triggered through the Dispatcher: `None` while in progress, then the
    /// directory or why it failed.
    savepoints: HashMap<u64, Option<Result<String, SavepointError>>>,
    /// The job as submitted (its plan and settings).
    graph: Arc<JobGraph>,
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

/// Where the Dispatcher is registered on the JobManager's node.
pub const DISPATCHER_PATH: &str = "/jobmanager/dispatcher";

/// Accepts and tracks jobs.
pub struct Dispatcher {
    resource_manager: Addr<ResourceManager>,
    config: RuntimeConfig,
    registry: ActorRegistry,
    jobs: HashMap<JobId, JobRecord>,
    history: VecDeque<JobId>,
    figures: Option<Arc<ActorFigures>>,
}

impl Dispatcher {
    /// A Dispatcher using `resource_manager`, whose JobMasters register in `registry`.
    pub fn new(
        resource_manager: Addr<ResourceManager>,
        config: RuntimeConfig,
        registry: ActorRegistry,
    ) -> Self {
        Self {
            resource_manager,
            config,
            registry,
            jobs: HashMap::new(),
            history: VecDeque::new(),
            figures: None,
        }
    }

    /// Counts what it handles in the figures of its registration `me`.
    pub fn registered_as(mut self, me: &ActorRef<Self>) -> Self {
        self.figures = me.figures().cloned();
        self
    }
}

impl Actor for Dispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox_capacity);
    }
}

impl Supervise for Dispatcher {
    const KIND: &'static str = "Dispatcher";

    fn figures(&self) -> Option<&Arc<ActorFigures>> {
        self.figures.as_ref()
    }
}

remote_message!(inject_panic Dispatcher);
crate::local_messages!(
    Dispatcher: SubmitJob,
    CancelJob,
    JobStatusChanged,
    RequestJobResult,
    ListJobs,
    RequestJobDetails,
    RequestJobsOverview,
    ArchiveJobDetails,
    SavepointOutcome,
    RequestJobCheckpoints,
    TriggerJobSavepoint,
    RequestSavepointStatus,
    RequestJobGraph,
);

impl Handles<SubmitJob> for Dispatcher {
    type Result = Result<JobId, ClusterError>;

    fn handle(&mut self, msg: SubmitJob, ctx: &mut Self::Context) -> Self::Result {
        let job_id = msg.job_id;
        // A new leader's recovery and a submission it stored just before may name one job.
        if self
            .jobs
            .get(&job_id)
            .is_some_and(|r| !r.status.is_terminal())
        {
            return Err(ClusterError::DuplicateJob(job_id));
        }
        tracing::info!(job_id = %job_id, job = %msg.job_graph.name, vertices = msg.job_graph.vertices.len(), "job submitted");
        let name = msg.job_graph.name.clone();
        let job_type = msg.job_graph.runtime_mode;
        let vertices = VertexInfo::from_job_graph(&msg.job_graph);
        let graph = Arc::new(msg.job_graph);
        let jm = JobMaster::new(
            job_id,
            graph.clone(),
            msg.plan,
            self.resource_manager.clone(),
            ctx.address(),
            self.config.clone(),
            self.registry.clone(),
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
                job_type,
                submitted_at: SystemTime::now(),
                modified_at: SystemTime::now(),
                failed_at: None,
                vertices,
                archived: false,
                failures: Default::default(),
                checkpoints: None,
                savepoints: HashMap::new(),
                graph,
            },
        );
        Ok(job_id)
    }
}

impl Handles<CancelJob> for Dispatcher {
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

impl Handles<JobStatusChanged> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: JobStatusChanged, _ctx: &mut Self::Context) {
        let Some(rec) = self.jobs.get_mut(&msg.job_id) else {
            return;
        };
        rec.status = msg.status;
        rec.modified_at = SystemTime::now();
        if msg.failure.is_some() {
            if rec.failure.is_none() {
                rec.failed_at = Some(rec.modified_at);
            }
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

impl Handles<RequestJobResult> for Dispatcher {
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

impl Handles<ListJobs> for Dispatcher {
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

/// Asks for one job's details: status, times, failure cause and per-vertex subtasks, with
/// their I/O counters pulled from the TaskManagers while the job runs.
#[derive(Message)]
#[rtype(result = "Result<JobInfo, ClusterError>")]
pub struct RequestJobDetails {
    /// The job.
    pub job_id: JobId,
}

/// Asks for the details of every job the Dispatcher knows (running ones and its history),
/// newest first.
#[derive(Message)]
#[rtype(result = "Vec<JobInfo>")]
pub struct RequestJobsOverview;

/// A JobMaster hands over its job's final subtask states as the job ends, so that status
/// queries can show them after the JobMaster has stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ArchiveJobDetails {
    /// The job.
    pub job_id: JobId,
    /// Its final details.
    pub details: JobDetails,
    /// Its checkpoint statistics.
    pub checkpoints: Option<CheckpointStats>,
}

impl JobRecord {
    fn info(&self, job_id: JobId) -> JobInfo {
        let duration = self
            .ended
            .unwrap_or_else(Instant::now)
            .duration_since(self.started);
        JobInfo {
            job_id,
            name: self.name.clone(),
            job_type: self.job_type,
            status: self.status,
            failure: self.failure.clone(),
            failure_time: self.failed_at,
            start_time: self.submitted_at,
            // From the monotonic clock, so that a wall clock step never makes it precede
            // the start.
            end_time: self.ended.map(|_| {
                self.submitted_at
                    .checked_add(duration)
                    .unwrap_or(self.submitted_at)
            }),
            last_modification: self.modified_at,
            duration,
            vertices: self.vertices.clone(),
            failures: self.failures.clone(),
        }
    }

    /// The JobMaster to ask for live subtask states: only until the job's states are archived.
    fn live_job_master(&self) -> Option<Addr<JobMaster>> {
        if self.archived {
            None
        } else {
            self.job_master.clone()
        }
    }
}

impl Dispatcher {
    /// Completes a job's details after its JobMaster answered (or not). The record is read
    /// again, since the job may have ended meanwhile; its archived final states win over the
    /// JobMaster's live ones.
    fn complete(&self, info: JobInfo, live: Option<JobDetails>) -> JobInfo {
        let (mut info, archived) = match self.jobs.get(&info.job_id) {
            Some(rec) => (rec.info(info.job_id), rec.archived),
            None => (info, false),
        };
        if let (Some(live), false) = (live, archived) {
            info.apply_states(&live.vertices);
            info.failures = live.failures;
        }
        info
    }
}

async fn query_live(job_master: Option<Addr<JobMaster>>, refresh_io: bool) -> Option<JobDetails> {
    job_master?
        .send(RequestJobMasterDetails { refresh_io })
        .timeout(JOB_MASTER_QUERY_TIMEOUT)
        .await
        .ok()
}

impl Handles<RequestJobDetails> for Dispatcher {
    type Result = Reply<Self, Result<JobInfo, ClusterError>>;

    fn handle(&mut self, msg: RequestJobDetails, _ctx: &mut Self::Context) -> Self::Result {
        let job_id = msg.job_id;
        let Some(rec) = self.jobs.get(&job_id) else {
            return Reply::new::<RequestJobDetails>(actix::fut::ready(Err(
                ClusterError::JobNotFound(job_id),
            )));
        };
        let info = rec.info(job_id);
        Reply::new::<RequestJobDetails>(
            query_live(rec.live_job_master(), true)
                .into_actor(self)
                .map(move |live, act, _| Ok(act.complete(info, live))),
        )
    }
}

impl Handles<RequestJobsOverview> for Dispatcher {
    type Result = Reply<Self, Vec<JobInfo>>;

    fn handle(&mut self, _: RequestJobsOverview, _ctx: &mut Self::Context) -> Self::Result {
        let pending: Vec<(JobInfo, Option<Addr<JobMaster>>)> = self
            .jobs
            .iter()
            .map(|(id, r)| (r.info(*id), r.live_job_master()))
            .collect();
        let queries = async move {
            let mut answered = Vec::with_capacity(pending.len());
            for (info, jm) in pending {
                answered.push((info, query_live(jm, false).await));
            }
            answered
        };
        Reply::new::<RequestJobsOverview>(queries.into_actor(self).map(|answered, act, _| {
            let mut list: Vec<JobInfo> = answered
                .into_iter()
                .map(|(info, live)| act.complete(info, live))
                .collect();
            list.sort_by(|a, b| {
                b.start_time
                    .cmp(&a.start_time)
                    .then_with(|| a.job_id.cmp(&b.job_id))
            });
            list
        }))
    }
}

impl Handles<ArchiveJobDetails> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: ArchiveJobDetails, _ctx: &mut Self::Context) {
        if let Some(rec) = self.jobs.get_mut(&msg.job_id) {
            crate::actors::job_info::apply_states(&mut rec.vertices, &msg.details.vertices);
            rec.archived = true;
            rec.checkpoints = msg.checkpoints;
            rec.failures = msg.details.failures;
        }
    }
}
