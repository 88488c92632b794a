//! The Dispatcher's checkpoint and savepoint requests: a job's checkpoint statistics, savepoints
//! triggered over REST, and their outcomes as JobMasters report them; and a job's graph as
//! submitted, for its plan and settings.

use super::*;

impl Handles<SavepointOutcome> for Dispatcher {
    type Result = ();

    fn handle(&mut self, msg: SavepointOutcome, _ctx: &mut Self::Context) {
        if let Some(rec) = self.jobs.get_mut(&msg.job_id) {
            rec.savepoints.insert(msg.id, Some(msg.result));
        }
    }
}

/// Asks for a job's checkpoint statistics (`None`: the job has none yet).
#[derive(Message)]
#[rtype(result = "Result<Option<CheckpointStats>, ClusterError>")]
pub struct RequestJobCheckpoints {
    /// The job.
    pub job_id: JobId,
}

impl Handles<RequestJobCheckpoints> for Dispatcher {
    type Result = ResponseFuture<Result<Option<CheckpointStats>, ClusterError>>;

    fn handle(&mut self, msg: RequestJobCheckpoints, _ctx: &mut Self::Context) -> Self::Result {
        let Some(rec) = self.jobs.get(&msg.job_id) else {
            return Box::pin(async move { Err(ClusterError::JobNotFound(msg.job_id)) });
        };
        let archived = rec.checkpoints.clone();
        match rec.job_master.clone() {
            Some(jm) => {
                Box::pin(
                    async move { Ok(jm.send(RequestCheckpointStats).await.unwrap_or(archived)) },
                )
            }
            None => Box::pin(async move { Ok(archived) }),
        }
    }
}

/// Triggers a savepoint of a job (`stop`: and stops the job with it, draining or not);
/// answers the savepoint's id, or why it cannot be taken.
#[derive(Message)]
#[rtype(result = "Result<Result<u64, SavepointError>, ClusterError>")]
pub struct TriggerJobSavepoint {
    /// The job.
    pub job_id: JobId,
    /// Where it goes (`savepoints/` in the checkpoint directory when `None`).
    pub target: Option<std::path::PathBuf>,
    /// Stop the job with it (`Some(drain)`).
    pub stop: Option<bool>,
}

impl Handles<TriggerJobSavepoint> for Dispatcher {
    type Result = Reply<Self, Result<Result<u64, SavepointError>, ClusterError>>;

    fn handle(&mut self, msg: TriggerJobSavepoint, _ctx: &mut Self::Context) -> Self::Result {
        let job_id = msg.job_id;
        let jm = match self.jobs.get(&job_id) {
            None => {
                return Reply::new::<TriggerJobSavepoint>(actix::fut::ready(Err(
                    ClusterError::JobNotFound(job_id),
                )))
            }
            Some(rec) => rec.job_master.clone(),
        };
        let Some(jm) = jm else {
            return Reply::new::<TriggerJobSavepoint>(actix::fut::ready(Ok(Err(
                SavepointError::JobEnded,
            ))));
        };
        let ask = jm.send(TriggerSavepoint {
            target: msg.target,
            stop: msg.stop,
        });
        Reply::new::<TriggerJobSavepoint>(ask.into_actor(self).map(move |res, act, _| {
            let res = res.map_err(|_| ClusterError::Unavailable("job master"))?;
            if let (Ok(id), Some(rec)) = (&res, act.jobs.get_mut(&job_id)) {
                // The outcome may have arrived first.
                rec.savepoints.entry(*id).or_insert(None);
            }
            Ok(res)
        }))
    }
}

/// Asks for a savepoint's outcome: `Ok(None)` while in progress; `Err` when no such savepoint
/// was triggered.
#[derive(Message)]
#[rtype(result = "Result<Option<Result<String, SavepointError>>, ClusterError>")]
pub struct RequestSavepointStatus {
    /// The job.
    pub job_id: JobId,
    /// The savepoint's id.
    pub id: u64,
}

impl Handles<RequestSavepointStatus> for Dispatcher {
    type Result = Result<Option<Result<String, SavepointError>>, ClusterError>;

    fn handle(&mut self, msg: RequestSavepointStatus, _ctx: &mut Self::Context) -> Self::Result {
        let rec = self
            .jobs
            .get(&msg.job_id)
            .ok_or(ClusterError::JobNotFound(msg.job_id))?;
        match rec.savepoints.get(&msg.id) {
            Some(outcome) => Ok(outcome.clone()),
            None => Err(ClusterError::SavepointNotFound(msg.id)),
        }
    }
}

/// Asks for a job's graph as submitted (its plan and settings).
#[derive(Message)]
#[rtype(result = "Result<Arc<JobGraph>, ClusterError>")]
pub struct RequestJobGraph {
    /// The job.
    pub job_id: JobId,
}

impl Handles<RequestJobGraph> for Dispatcher {
    type Result = Result<Arc<JobGraph>, ClusterError>;

    fn handle(&mut self, msg: RequestJobGraph, _ctx: &mut Self::Context) -> Self::Result {
        self.jobs
            .get(&msg.job_id)
            .map(|r| r.graph.clone())
            .ok_or(ClusterError::JobNotFound(msg.job_id))
    }
}
