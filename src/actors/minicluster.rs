//! A whole cluster in one process: a Dispatcher, a ResourceManager and N TaskManagers with S
//! slots each, talking only through messages. Used by `rill local`, `rill run --local`, tests
//! and benchmarks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::dispatcher::{CancelJob, Dispatcher, JobResult, RequestJobResult, SubmitJob};
use crate::actors::remote::ActorRegistry;
use crate::actors::resource_manager::{RequestResourceOverview, ResourceManager, ResourceOverview};
use crate::actors::task_manager::{Shutdown, TaskManager};
use crate::actors::task_plan::{PlanResolver, ResolvedPlan};
use crate::actors::ClusterError;
use crate::api::StreamEnv;
use crate::config::RuntimeConfig;
use crate::graph::deployment::PlanRef;
use crate::graph::job_graph::SubmitOptions;
use crate::graph::{JobGraph, StreamGraph};
use crate::ids::{JobId, TaskManagerId};
use crate::jobs::JobRegistry;
use crate::net::LocalTransport;

/// The shape of a mini cluster.
#[derive(Clone, Debug)]
pub struct MiniClusterConfig {
    /// TaskManagers.
    pub task_managers: usize,
    /// Slots per TaskManager.
    pub slots_per_task_manager: usize,
    /// The cluster's default parallelism.
    pub default_parallelism: usize,
    /// Data-plane settings.
    pub runtime: RuntimeConfig,
}

impl Default for MiniClusterConfig {
    fn default() -> Self {
        Self {
            task_managers: 1,
            slots_per_task_manager: 4,
            default_parallelism: 1,
            runtime: RuntimeConfig::default(),
        }
    }
}

/// A running cluster in this process. Must be used inside an actix `System`.
pub struct MiniCluster {
    dispatcher: Addr<Dispatcher>,
    resource_manager: Addr<ResourceManager>,
    task_managers: Vec<Addr<TaskManager>>,
    task_manager_ids: Vec<TaskManagerId>,
    resolver: PlanResolver,
    transport: LocalTransport,
    config: MiniClusterConfig,
    actors: ActorRegistry,
}

impl MiniCluster {
    /// Starts the actors and waits until every TaskManager has registered.
    pub async fn start(
        config: MiniClusterConfig,
        registry: Arc<JobRegistry>,
    ) -> Result<Self, ClusterError> {
        let actors = ActorRegistry::new(&format!("local-{:08x}", crate::util::random_u64() as u32));
        let (resource_manager, dispatcher) =
            crate::cluster::start_jobmanager_actors(&config.runtime, &actors);
        let rm_ref = actors
            .lookup::<ResourceManager>(crate::actors::task_manager::RESOURCE_MANAGER_PATH)
            .ok_or_else(|| ClusterError::Startup("the ResourceManager is not registered".into()))?;
        let resolver = PlanResolver::new(registry, config.default_parallelism);
        let transport = LocalTransport::default();
        let task_manager_ids: Vec<TaskManagerId> = (0..config.task_managers)
            .map(|_| TaskManagerId::generate("taskmanager"))
            .collect();
        let task_managers = task_manager_ids
            .iter()
            .map(|id| {
                TaskManager::new(
                    id.clone(),
                    config.slots_per_task_manager,
                    rm_ref.clone(),
                    resolver.clone(),
                    transport.clone(),
                    config.runtime.clone(),
                    actors.clone(),
                )
                .start()
            })
            .collect();
        let cluster = Self {
            dispatcher,
            resource_manager,
            task_managers,
            task_manager_ids,
            resolver,
            transport,
            config,
            actors,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = cluster.overview().await?;
            if o.task_managers == cluster.config.task_managers {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Startup(format!(
                    "{} of {} TaskManagers registered",
                    o.task_managers, cluster.config.task_managers
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// TaskManagers and slots.
    pub async fn overview(&self) -> Result<ResourceOverview, ClusterError> {
        self.resource_manager
            .send(RequestResourceOverview)
            .await
            .map_err(|_| ClusterError::Unavailable("resource manager"))
    }

    /// The Dispatcher.
    pub fn dispatcher(&self) -> &Addr<Dispatcher> {
        &self.dispatcher
    }

    /// The ResourceManager.
    pub fn resource_manager(&self) -> &Addr<ResourceManager> {
        &self.resource_manager
    }

    /// The actor registry of this process: every actor reachable by path, with its figures.
    pub fn actors(&self) -> &ActorRegistry {
        &self.actors
    }

    /// The in-process transport (its table empties as jobs end).
    pub fn transport(&self) -> &LocalTransport {
        &self.transport
    }

    /// The cluster's default parallelism.
    pub fn default_parallelism(&self) -> usize {
        self.config.default_parallelism
    }

    async fn submit_graph(
        &self,
        sg: StreamGraph,
        registered: Option<(String, Vec<String>)>,
        parallelism: Option<usize>,
        options: &SubmitOptions,
    ) -> Result<JobId, ClusterError> {
        let mut job_graph = JobGraph::from_stream_graph(&sg);
        options.apply(&mut job_graph);
        let job_id = JobId::generate();
        let (registered, args) = match registered {
            Some((name, args)) => (Some(name), args),
            None => {
                self.resolver.insert(
                    job_id,
                    Arc::new(ResolvedPlan {
                        stream_graph: sg,
                        job_graph: job_graph.clone(),
                    }),
                );
                (None, Vec::new())
            }
        };
        let plan = PlanRef {
            job_id,
            registered,
            args,
            parallelism,
            fingerprint: job_graph.fingerprint.clone(),
        };
        self.dispatcher
            .send(SubmitJob {
                job_id,
                job_graph,
                plan,
            })
            .await
            .map_err(|_| ClusterError::Unavailable("dispatcher"))?
    }

    /// Submits a program built in this process, at `parallelism` (the submission's).
    pub async fn submit(
        &self,
        env: &StreamEnv,
        parallelism: Option<usize>,
    ) -> Result<JobId, ClusterError> {
        self.submit_with(env, parallelism, &SubmitOptions::default())
            .await
    }

    /// Submits a program built in this process with submission options (checkpointing,
    /// restoring).
    pub async fn submit_with(
        &self,
        env: &StreamEnv,
        parallelism: Option<usize>,
        options: &SubmitOptions,
    ) -> Result<JobId, ClusterError> {
        let sg = env.stream_graph(parallelism, self.config.default_parallelism)?;
        self.submit_graph(sg, None, parallelism, options).await
    }

    /// Submits a registered job by name; every TaskManager rebuilds its plan from the registry.
    pub async fn submit_registered(
        &self,
        name: &str,
        args: &[String],
        parallelism: Option<usize>,
    ) -> Result<JobId, ClusterError> {
        self.submit_registered_with(name, args, parallelism, &SubmitOptions::default())
            .await
    }

    /// Submits a registered job by name with submission options (checkpointing, restoring).
    pub async fn submit_registered_with(
        &self,
        name: &str,
        args: &[String],
        parallelism: Option<usize>,
        options: &SubmitOptions,
    ) -> Result<JobId, ClusterError> {
        let sg = self
            .resolver
            .registry()
            .build(name, args, parallelism, self.config.default_parallelism)
            .map_err(crate::actors::task_plan::PlanError::from)?;
        self.submit_graph(
            sg,
            Some((name.to_string(), args.to_vec())),
            parallelism,
            options,
        )
        .await
    }

    /// Waits for a job's end.
    pub async fn wait(&self, job: JobId) -> Result<JobResult, ClusterError> {
        self.dispatcher
            .send(RequestJobResult { job_id: job })
            .await
            .map_err(|_| ClusterError::Unavailable("dispatcher"))?
    }

    /// Cancels a job.
    pub async fn cancel(&self, job: JobId) -> Result<(), ClusterError> {
        self.dispatcher
            .send(CancelJob { job_id: job })
            .await
            .map_err(|_| ClusterError::Unavailable("dispatcher"))?
    }

    /// Submits a program and waits for its end.
    pub async fn execute(
        &self,
        env: &StreamEnv,
        parallelism: Option<usize>,
    ) -> Result<JobResult, ClusterError> {
        let job = self.submit(env, parallelism).await?;
        self.wait(job).await
    }

    /// The ids of the TaskManagers, in the order they were started.
    pub fn task_manager_ids(&self) -> &[TaskManagerId] {
        &self.task_manager_ids
    }

    /// Stops TaskManager `id` and its slot threads at once, without telling anyone (Flink's
    /// `MiniCluster.terminateTaskManager`): its subtasks stop where they are, and the
    /// ResourceManager notices at its next heartbeat round that it is gone. Returns whether
    /// there was such a TaskManager.
    pub fn terminate_task_manager(&self, id: &TaskManagerId) -> bool {
        match self.task_manager_ids.iter().position(|t| t == id) {
            Some(i) => {
                self.task_managers[i].do_send(Shutdown);
                true
            }
            None => false,
        }
    }

    /// Stops the TaskManagers (and their slot threads).
    pub fn shutdown(&self) {
        for tm in &self.task_managers {
            tm.do_send(Shutdown);
        }
    }
}

/// Runs a resolved program to its end on a fresh mini cluster, in a new thread with its own
/// actix System. Gives the cluster enough slots for the program when `config` has too few.
pub fn execute_graph(
    graph: StreamGraph,
    mut config: MiniClusterConfig,
) -> Result<JobResult, ClusterError> {
    let needed = JobGraph::from_stream_graph(&graph).slots_needed();
    let have = config.task_managers * config.slots_per_task_manager;
    if have < needed {
        config.slots_per_task_manager = needed.div_ceil(config.task_managers.max(1));
        config.task_managers = config.task_managers.max(1);
    }
    let handle = std::thread::Builder::new()
        .name("rill-local".into())
        .spawn(move || {
            System::new().block_on(async move {
                let cluster = MiniCluster::start(config, Arc::new(JobRegistry::default())).await?;
                let job = cluster
                    .submit_graph(graph, None, None, &SubmitOptions::default())
                    .await?;
                let result = cluster.wait(job).await;
                cluster.shutdown();
                result
            })
        })
        .map_err(|e| ClusterError::Startup(e.to_string()))?;
    handle
        .join()
        .map_err(|_| ClusterError::Unavailable("local executor thread"))?
}

impl StreamEnv {
    /// Runs the program to its end on a mini cluster in this process and returns how it ended.
    pub fn execute(&self) -> Result<JobResult, crate::Error> {
        let graph = self.stream_graph(None, 1)?;
        Ok(execute_graph(graph, MiniClusterConfig::default())?)
    }
}
