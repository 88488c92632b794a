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

use crate::actors::dispatcher::RequestJobDetails;
use crate::actors::job_info::JobInfo;
use crate::actors::remote::ActorInfo;
use crate::actors::resource_manager::{RequestTaskManagers, TaskManagerInfo};
use crate::graph::JobStatus;
use crate::metrics::process::ProcessStats;
use crate::metrics::prometheus::{Exposition, Family, Kind, CONTENT_TYPE};
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, cluster_state};
use crate::rest::RestHandle;

/// `GET /metrics`.
pub async fn metrics(h: web::Data<RestHandle>) -> Result<HttpResponse, RestError> {
    let (res, jobs) = cluster_state(&h).await?;
    let tms = ask(&h.resource_manager, RequestTaskManagers, "resource manager").await?;
    let mut details = Vec::with_capacity(jobs.len());
    for j in &jobs {
        // A job that ended meanwhile, or whose JobMaster does not answer, is left out.
        if let Ok(Ok(info)) = ask(
            &h.dispatcher,
            RequestJobDetails { job_id: j.job_id },
            "dispatcher",
        )
        .await
        {
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
    task_families(&mut e, &details);
    if let Some(r) = &h.actors {
        actor_families(&mut e, r.node_id(), &r.snapshot());
    }
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

/// A subtask family: its name, type, help, and how to read it from a subtask.
type TaskFigure = (
    &'static str,
    Kind,
    &'static str,
    fn(&crate::actors::job_info::SubtaskInfo) -> Option<f64>,
);

const TASK_FIGURES: [TaskFigure; 14] = [
    (
        "rill_task_records_in_total",
        Kind::Counter,
        "Records read from network inputs.",
        |s| Some(s.io.records_in as f64),
    ),
    (
        "rill_task_records_out_total",
        Kind::Counter,
        "Records written to network outputs.",
        |s| Some(s.io.records_out as f64),
    ),
    (
        "rill_task_bytes_in_total",
        Kind::Counter,
        "Serialized bytes received from other processes.",
        |s| Some(s.io.bytes_in as f64),
    ),
    (
        "rill_task_bytes_out_total",
        Kind::Counter,
        "Serialized bytes sent to other processes.",
        |s| Some(s.io.bytes_out as f64),
    ),
    (
        "rill_task_late_records_dropped_total",
        Kind::Counter,
        "Records dropped as late by windows.",
        |s| Some(s.io.late_records_dropped as f64),
    ),
    (
        "rill_task_records_out_per_second",
        Kind::Gauge,
        "Records written per second over the last sample.",
        |s| s.rates.map(|r| r.records_out_per_second),
    ),
    (
        "rill_task_busy_seconds_total",
        Kind::Counter,
        "Seconds spent busy (rate() of it is Flink's busyTimeMsPerSecond / 1000).",
        |s| Some(s.io.busy_ms as f64 / 1000.0),
    ),
    (
        "rill_task_backpressured_seconds_total",
        Kind::Counter,
        "Seconds spent backpressured (waiting for credit or output room).",
        |s| Some(s.io.backpressured_ms as f64 / 1000.0),
    ),
    (
        "rill_task_idle_seconds_total",
        Kind::Counter,
        "Seconds spent idle (waiting for input).",
        |s| Some(s.io.idle_ms as f64 / 1000.0),
    ),
    (
        "rill_task_busy_ratio",
        Kind::Gauge,
        "Share of the last sampled second spent busy (0 to 1).",
        |s| s.rates.map(|r| r.busy_ratio()),
    ),
    (
        "rill_task_backpressured_ratio",
        Kind::Gauge,
        "Share of the last sampled second spent backpressured (0 to 1).",
        |s| s.rates.map(|r| r.backpressure_ratio()),
    ),
    (
        "rill_task_idle_ratio",
        Kind::Gauge,
        "Share of the last sampled second spent idle (0 to 1).",
        |s| s.rates.map(|r| r.idle_ratio()),
    ),
    (
        "rill_task_current_input_watermark",
        Kind::Gauge,
        "The watermark the subtask's inputs advanced to (ms).",
        |s| s.io.input_watermark.map(|w| w as f64),
    ),
    (
        "rill_task_current_output_watermark",
        Kind::Gauge,
        "The watermark the subtask emitted last (ms).",
        |s| s.io.output_watermark.map(|w| w as f64),
    ),
];

fn task_families(e: &mut Exposition, jobs: &[JobInfo]) {
    for (name, kind, help, read) in TASK_FIGURES {
        let mut f = Family::new(name, kind, help);
        for j in jobs.iter().filter(|j| !j.status.is_globally_terminal()) {
            let (id, job_name) = (j.job_id.to_string(), j.name.as_str());
            for v in &j.vertices {
                for (i, s) in v.subtasks.iter().enumerate() {
                    let Some(value) = read(s) else { continue };
                    let index = i.to_string();
                    let tm = s.task_manager.as_deref().unwrap_or("");
                    f.sample(
                        &[
                            ("job_id", &id),
                            ("job_name", job_name),
                            ("vertex", &v.name),
                            ("subtask", &index),
                            ("taskmanager", tm),
                        ],
                        value,
                    );
                }
            }
        }
        e.family(f);
    }
}

/// The figures of a node's actors: mailbox length and capacity, messages handled by tag,
/// restarts.
pub fn actor_families(e: &mut Exposition, node: &str, actors: &[ActorInfo]) {
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
        let labels = [("node", node), ("path", a.path.as_str()), ("kind", a.kind)];
        len.sample(&labels, a.mailbox_len as f64);
        cap.sample(&labels, a.mailbox_capacity as f64);
        restarts.sample(&labels, a.restarts as f64);
        for m in &a.messages {
            handled.sample(
                &[
                    ("node", node),
                    ("path", a.path.as_str()),
                    ("kind", a.kind),
                    ("tag", m.tag),
                ],
                m.count as f64,
            );
        }
    }
    e.family(len).family(cap).family(handled).family(restarts);
}
