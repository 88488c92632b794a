//! A TaskManager's own HTTP endpoint: `GET /metrics`, its figures in Prometheus's text format
//! (as Flink's Prometheus reporter serves each process's), for a Prometheus to scrape every
//! TaskManager directly.
//!
//! It shows the process (resident memory, threads), the slots, each subtask running here
//! (the same `rill_task_…` families and labels as the JobManager's `/metrics`, read here
//! without asking the JobManager) and the node's actors.

use std::io;
use std::net::SocketAddr;

use actix::Addr;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::actors::remote::ActorRegistry;
use crate::actors::task_manager::{RequestTaskManagerFigures, TaskManager};
use crate::metrics::process::ProcessStats;
use crate::metrics::prometheus::{Exposition, Family, Kind, CONTENT_TYPE};
use crate::rest::error::RestError;
use crate::rest::handlers::ask;
use crate::rest::prometheus::{actor_families, task_rows, TaskRow};

struct TaskManagerEndpoint {
    task_manager: Addr<TaskManager>,
    registry: ActorRegistry,
}

fn gauge(name: &'static str, help: &'static str, value: f64) -> Family {
    let mut f = Family::new(name, Kind::Gauge, help);
    f.sample(&[], value);
    f
}

async fn metrics(h: web::Data<TaskManagerEndpoint>) -> Result<HttpResponse, RestError> {
    let figures = ask(&h.task_manager, RequestTaskManagerFigures, "TaskManager").await?;
    let mut e = Exposition::new();
    if let Some(p) = ProcessStats::current() {
        e.family(gauge(
            "rill_process_resident_memory_bytes",
            "Resident memory of this TaskManager's process.",
            p.rss_bytes as f64,
        ))
        .family(gauge(
            "rill_process_threads",
            "Threads of this TaskManager's process.",
            p.threads as f64,
        ));
    }
    let tm = [("taskmanager", figures.id.as_str())];
    let mut slots = Family::new("rill_taskmanager_slots", Kind::Gauge, "Its task slots.");
    slots.sample(&tm, figures.slots as f64);
    let mut used = Family::new(
        "rill_taskmanager_slots_used",
        Kind::Gauge,
        "Its slots allocated to jobs.",
    );
    used.sample(&tm, figures.slots_used as f64);
    e.family(slots).family(used);
    let indexes: Vec<String> = figures
        .tasks
        .iter()
        .map(|t| t.identity.subtask.to_string())
        .collect();
    let rows: Vec<TaskRow<'_>> = figures
        .tasks
        .iter()
        .zip(&indexes)
        .map(|(t, index)| TaskRow {
            labels: [
                ("job_id", t.identity.job_id.as_str()),
                ("job_name", t.identity.job_name.as_str()),
                ("vertex", t.identity.vertex.as_str()),
                ("subtask", index.as_str()),
                ("taskmanager", figures.id.as_str()),
            ],
            io: &t.io,
            rates: t.rates.as_ref(),
        })
        .collect();
    task_rows(&mut e, &rows);
    actor_families(&mut e, &h.registry.snapshot());
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(e.finish()))
}

/// Serves the TaskManager `task_manager`'s `/metrics` (and its node's actors from
/// `registry`) on `bind`; returns the server and the address it bound.
pub fn serve(
    bind: SocketAddr,
    task_manager: Addr<TaskManager>,
    registry: ActorRegistry,
) -> io::Result<(actix_web::dev::Server, SocketAddr)> {
    let data = web::Data::new(TaskManagerEndpoint {
        task_manager,
        registry,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(crate::rest::handlers::not_found))
    })
    .workers(1)
    .max_connections(64)
    .client_request_timeout(crate::rest::REQUEST_HEAD_TIMEOUT)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(bind)?;
    let addr = crate::rest::bound(server.addrs(), "TaskManager metrics")?;
    Ok((server.run(), addr))
}
