//! `GET /metrics` on the JobManager: the cluster, its jobs and their subtasks, and the
//! JobManager's actors, in Prometheus's text format ([`crate::metrics::prometheus`]).
//!
//! ## Names
//! `rill_…` in snake case, counters ending in `_total`, units spelled out (`_seconds`), so
//! that `promtool check metrics` finds nothing to lint: Flink's `busyTimeMsPerSecond` is
//! `rate(rill_task_busy_seconds_total)`, or the last sampled second's `rill_task_busy_ratio`.
//!
//! Running jobs' figures are asked for afresh (each JobMaster asks its TaskManagers, within
//! their time limit), so a scrape sees counters as they are; rates are the TaskManagers' last
//! one-second samples.

use actix_web::{web, HttpResponse};

use crate::actors::dispatcher::{RequestJobCheckpoints, RequestJobDetails};
use crate::actors::job_info::JobInfo;
use crate::actors::remote::ActorInfo;
use crate::actors::resource_manager::{RequestTaskManagers, TaskManagerInfo};
use crate::checkpoint::coordinator::CheckpointStats;
use crate::graph::JobStatus;
use crate::ids::JobId;
use crate::metrics::process::ProcessStats;
use crate::metrics::prometheus::{Exposition, Family, Kind, CONTENT_TYPE};
use crate::metrics::{IoCounters, TaskRates};
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, cluster_state};
use crate::rest::model::ErrorResponse;
use crate::rest::RestHandle;

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn metrics(h: web::Data<RestHandle>) -> Result<HttpResponse, RestError> {
    let (res, jobs) = cluster_state(&h).await?;
    let tms = ask(&h.resource_manager, RequestTaskManagers, "resource manager").await?;
    let mut details = Vec::with_capacity(jobs.len());
    let mut checkpoints = Vec::new();
    for j in &jobs {
        // A job that ended meanwhile, or whose JobMaster does not answer, is left out.
        if let Ok(Ok(info)) = ask(
            &h.dispatcher,
            RequestJobDetails { job_id: j.job_id },
            "dispatcher",
        )
        .await
        {
            let stats = ask(
                &h.dispatcher,
                RequestJobCheckpoints { job_id: j.job_id },
                "dispatcher",
            )
            .await;
            if let Ok(Ok(Some(stats))) = stats {
                checkpoints.push((info.job_id, info.name.clone(), stats));
            }
            details.push(info);
        }
    }
    let mut e = Exposition::new();
    cluster(
        &mut e,
        res.task_managers,
        res.slots_total,
        res.slots_available,
        &details,
    );
    process_families(&mut e, &tms);
    job_families(&mut e, &details);
    checkpoint_families(&mut e, &checkpoints);
    task_families(&mut e, &details);
    if let Some(r) = &h.actors {
        actor_families(&mut e, &r.snapshot());
    }
    e.family(gauge(
        "rill_rest_stream_clients",
        "Clients following /actors/stream.",
        h.stream.clients() as f64,
    ));
    let mut dropped = Family::new(
        "rill_rest_stream_dropped_total",
        Kind::Counter,
        "/actors/stream clients dropped for not reading.",
    );
    dropped.sample(&[], h.stream.dropped() as f64);
    e.family(dropped);
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(e.finish()))
}

fn gauge(name: &'static str, help: &'static str, value: f64) -> Family {
    let mut f = Family::new(name, Kind::Gauge, help);
    f.sample(&[], value);
    f
}

fn cluster(e: &mut Exposition, tms: usize, slots: usize, free: usize, jobs: &[JobInfo]) {
    e.family(gauge(
        "rill_taskmanagers",
        "Registered TaskManagers.",
        tms as f64,
    ))
    .family(gauge(
        "rill_slots",
        "Task slots in the cluster.",
        slots as f64,
    ))
    .family(gauge(
        "rill_slots_available",
        "Free task slots.",
        free as f64,
    ));
    let mut by_status = Family::new("rill_jobs", Kind::Gauge, "Jobs by status.");
    for status in [
        JobStatus::Running,
        JobStatus::Restarting,
        JobStatus::Finished,
        JobStatus::Canceled,
        JobStatus::Failed,
    ] {
        let n = jobs.iter().filter(|j| j.status == status).count();
        by_status.sample(&[("status", &status.to_string())], n as f64);
    }
    e.family(by_status);
}

/// The JobManager's process, and each TaskManager's (from its last heartbeat; in this process,
/// this process's).
fn process_families(e: &mut Exposition, tms: &[TaskManagerInfo]) {
    if let Some(p) = ProcessStats::current() {
        e.family(gauge(
            "rill_process_resident_memory_bytes",
            "Resident memory of the JobManager's process.",
            p.rss_bytes as f64,
        ))
        .family(gauge(
            "rill_process_threads",
            "Threads of the JobManager's process.",
            p.threads as f64,
        ));
    }
    let mut rss = Family::new(
        "rill_taskmanager_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of a TaskManager's process.",
    );
    let mut threads = Family::new(
        "rill_taskmanager_threads",
        Kind::Gauge,
        "Threads of a TaskManager's process.",
    );
    let mut used = Family::new(
        "rill_taskmanager_slots_used",
        Kind::Gauge,
        "A TaskManager's allocated slots.",
    );
    for t in tms {
        let labels = [("taskmanager", t.slots.id.0.as_str())];
        used.sample(&labels, t.slots.allocated.len() as f64);
        if let Some(p) = t.process {
            rss.sample(&labels, p.rss_bytes as f64);
            threads.sample(&labels, p.threads as f64);
        }
    }
    e.family(rss).family(threads).family(used);
}

fn job_families(e: &mut Exposition, jobs: &[JobInfo]) {
    let mut restarts = Family::new(
        "rill_job_restarts_total",
        Kind::Counter,
        "Restarts of the job or of a region of it (Flink's numRestarts).",
    );
    let mut uptime = Family::new(
        "rill_job_uptime_seconds",
        Kind::Gauge,
        "How long the job has run.",
    );
    let mut running = Family::new(
        "rill_job_running",
        Kind::Gauge,
        "1 while the job runs, else 0.",
    );
    for j in jobs {
        let (id, name) = (j.job_id.to_string(), j.name.clone());
        let labels = [("job_id", id.as_str()), ("job_name", name.as_str())];
        restarts.sample(&labels, j.failures.restarts as f64);
        uptime.sample(&labels, j.duration.as_secs_f64());
        running.sample(&labels, f64::from(u8::from(j.status == JobStatus::Running)));
    }
    e.family(restarts).family(uptime).family(running);
}

/// Per job that checkpoints: checkpoints by outcome, and the last completed one's duration
/// and sizes.
fn checkpoint_families(e: &mut Exposition, jobs: &[(JobId, String, CheckpointStats)]) {
    let mut counts = Family::new(
        "rill_job_checkpoints_total",
        Kind::Counter,
        "Checkpoints by outcome (completed, failed).",
    );
    let mut duration = Family::new(
        "rill_job_last_checkpoint_duration_seconds",
        Kind::Gauge,
        "Trigger to completion of the last completed checkpoint.",
    );
    let mut size = Family::new(
        "rill_job_last_checkpoint_size_bytes",
        Kind::Gauge,
        "Bytes written for the last completed checkpoint (Flink's checkpointed_size).",
    );
    let mut state = Family::new(
        "rill_job_last_checkpoint_state_size_bytes",
        Kind::Gauge,
        "The full state size of the last completed checkpoint.",
    );
    for (id, name, stats) in jobs {
        let id = id.to_string();
        let labels = [("job_id", id.as_str()), ("job_name", name.as_str())];
        for (outcome, n) in [
            ("completed", stats.counts.completed),
            ("failed", stats.counts.failed),
        ] {
            let mut l = labels.to_vec();
            l.push(("outcome", outcome));
            counts.sample(&l, n as f64);
        }
        if let Some(c) = &stats.latest.completed {
            duration.sample(&labels, c.duration_ms as f64 / 1000.0);
            size.sample(&labels, c.checkpointed_size as f64);
            state.sample(&labels, c.state_size as f64);
        }
    }
    e.family(counts).family(duration).family(size).family(state);
}

/// A subtask family: its name, type, help, and how to read it from a subtask.
type TaskFigure = (
    &'static str,
    Kind,
    &'static str,
    fn(&IoCounters, Option<&TaskRates>) -> Option<f64>,
);

const TASK_FIGURES: [TaskFigure; 14] = [
    (
        "rill_task_records_in_total",
        Kind::Counter,
        "Records read from network inputs.",
        |io, _| Some(io.records_in as f64),
    ),
    (
        "rill_task_records_out_total",
        Kind::Counter,
        "Records written to network outputs.",
        |io, _| Some(io.records_out as f64),
    ),
    (
        "rill_task_bytes_in_total",
        Kind::Counter,
        "Serialized bytes received from other processes.",
        |io, _| Some(io.bytes_in as f64),
    ),
    (
        "rill_task_bytes_out_total",
        Kind::Counter,
        "Serialized bytes sent to other processes.",
        |io, _| Some(io.bytes_out as f64),
    ),
    (
        "rill_task_late_records_dropped_total",
        Kind::Counter,
        "Records dropped as late by windows.",
        |io, _| Some(io.late_records_dropped as f64),
    ),
    (
        "rill_task_records_out_per_second",
        Kind::Gauge,
        "Records written per second over the last sample.",
        |_, r| r.map(|r| r.records_out_per_second),
    ),
    (
        "rill_task_busy_seconds_total",
        Kind::Counter,
        "Seconds spent busy (rate() of it is Flink's busyTimeMsPerSecond / 1000).",
        |io, _| Some(io.busy_ms as f64 / 1000.0),
    ),
    (
        "rill_task_backpressured_seconds_total",
        Kind::Counter,
        "Seconds spent backpressured (waiting for credit or output room).",
        |io, _| Some(io.backpressured_ms as f64 / 1000.0),
    ),
    (
        "rill_task_idle_seconds_total",
        Kind::Counter,
        "Seconds spent idle (waiting for input).",
        |io, _| Some(io.idle_ms as f64 / 1000.0),
    ),
    (
        "rill_task_busy_ratio",
        Kind::Gauge,
        "Share of the last sampled second spent busy (0 to 1).",
        |_, r| r.map(|r| r.busy_ratio()),
    ),
    (
        "rill_task_backpressured_ratio",
        Kind::Gauge,
        "Share of the last sampled second spent backpressured (0 to 1).",
        |_, r| r.map(|r| r.backpressure_ratio()),
    ),
    (
        "rill_task_idle_ratio",
        Kind::Gauge,
        "Share of the last sampled second spent idle (0 to 1).",
        |_, r| r.map(|r| r.idle_ratio()),
    ),
    (
        "rill_task_current_input_watermark",
        Kind::Gauge,
        "The watermark the subtask's inputs advanced to (ms).",
        |io, _| io.input_watermark.map(|w| w as f64),
    ),
    (
        "rill_task_current_output_watermark",
        Kind::Gauge,
        "The watermark the subtask emitted last (ms).",
        |io, _| io.output_watermark.map(|w| w as f64),
    ),
];

/// One subtask's labels and figures.
pub struct TaskRow<'a> {
    /// `job_id`, `job_name`, `vertex`, `subtask`, `taskmanager`.
    pub labels: [(&'static str, &'a str); 5],
    /// Its counters.
    pub io: &'a IoCounters,
    /// Its rates, once sampled.
    pub rates: Option<&'a TaskRates>,
}

/// The subtask families (`rill_task_…`) of `rows`.
pub fn task_rows(e: &mut Exposition, rows: &[TaskRow<'_>]) {
    for (name, kind, help, read) in TASK_FIGURES {
        let mut f = Family::new(name, kind, help);
        for r in rows {
            if let Some(value) = read(r.io, r.rates) {
                f.sample(&r.labels, value);
            }
        }
        e.family(f);
    }
}

fn task_families(e: &mut Exposition, jobs: &[JobInfo]) {
    let mut names = Vec::new();
    for j in jobs.iter().filter(|j| !j.status.is_globally_terminal()) {
        for v in &j.vertices {
            for (i, s) in v.subtasks.iter().enumerate() {
                names.push((j, v, s, j.job_id.to_string(), i.to_string()));
            }
        }
    }
    let rows: Vec<TaskRow<'_>> = names
        .iter()
        .map(|(j, v, s, id, index)| TaskRow {
            labels: [
                ("job_id", id.as_str()),
                ("job_name", j.name.as_str()),
                ("vertex", v.name.as_str()),
                ("subtask", index.as_str()),
                ("taskmanager", s.task_manager.as_deref().unwrap_or("")),
            ],
            io: &s.io,
            rates: s.rates.as_ref(),
        })
        .collect();
    task_rows(e, &rows);
}

/// The figures of a node's actors: mailbox length and capacity, messages handled by tag,
/// restarts.
pub fn actor_families(e: &mut Exposition, actors: &[ActorInfo]) {
    let mut len = Family::new(
        "rill_actor_mailbox_length",
        Kind::Gauge,
        "Messages (for a subtask: buffers) waiting in the actor's mailbox.",
    );
    let mut cap = Family::new(
        "rill_actor_mailbox_capacity",
        Kind::Gauge,
        "The most its mailbox holds.",
    );
    let mut handled = Family::new(
        "rill_actor_messages_total",
        Kind::Counter,
        "Messages handled, by tag.",
    );
    let mut restarts = Family::new(
        "rill_actor_restarts_total",
        Kind::Counter,
        "Restarts after a handler panicked.",
    );
    for a in actors {
        let (node, kind) = (a.node.as_str(), a.kind.as_str());
        let labels = [("node", node), ("path", a.path.as_str()), ("kind", kind)];
        len.sample(&labels, a.mailbox_len as f64);
        cap.sample(&labels, a.mailbox_capacity as f64);
        restarts.sample(&labels, a.restarts as f64);
        for m in &a.messages {
            handled.sample(
                &[
                    ("node", node),
                    ("path", a.path.as_str()),
                    ("kind", kind),
                    ("tag", m.tag.as_str()),
                ],
                m.count as f64,
            );
        }
    }
    e.family(len).family(cap).family(handled).family(restarts);
}
