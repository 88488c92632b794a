//! The actor topology over REST (`GET /actors`, and its changes as server-sent events at
//! `GET /actors/stream`, [`crate::rest::stream`]) and the TaskManagers' logs
//! (`GET /taskmanagers/{id}/logs`, `…/logs/{name}`, Flink's `…/log`), both gathered by the
//! ResourceManager from the TaskManagers over the actor RPC.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::actors::topology::{GatherActors, RequestTaskManagerLog, TaskManagerLogError, Topology};
use crate::ids::TaskManagerId;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, echo};
use crate::rest::model::{ActorsTopology, ErrorResponse, LogList};
use crate::rest::RestHandle;

/// A TaskManager's log, as its logs list names it.
pub const TASKMANAGER_LOG: &str = "taskmanager.log";

/// Every node's actors and the edges between them, now.
pub(crate) async fn topology(h: &RestHandle) -> Result<Topology, RestError> {
    let nodes = ask(&h.resource_manager, GatherActors, "resource manager").await?;
    Ok(Topology::build(nodes))
}

/// `GET /actors`: every actor of every node (path, kind, node, parent, mailbox, messages and
/// their rates by tag, handler time, restarts, status), the edges between them, and which
/// nodes answered.
#[utoipa::path(
    get,
    path = "/actors",
    tag = "actors",
    responses(
        (status = 200, description = "Every node's actors and the edges between them", body = ActorsTopology),
        (status = 503, description = "An actor is not running or did not answer", body = ErrorResponse),
    )
)]
pub async fn actors(h: web::Data<RestHandle>) -> Result<web::Json<ActorsTopology>, RestError> {
    let t = topology(&h).await?;
    let node = h
        .actors
        .as_ref()
        .map(|r| r.node_id().to_string())
        .unwrap_or_default();
    Ok(web::Json(ActorsTopology {
        node,
        nodes: t.nodes,
        actors: t.actors,
        edges: t.edges,
    }))
}

async fn taskmanager_lines(
    h: &RestHandle,
    id: &str,
) -> Result<crate::actors::task_manager::LogLines, RestError> {
    let msg = RequestTaskManagerLog {
        id: TaskManagerId(id.to_string()),
    };
    match ask(&h.resource_manager, msg, "resource manager").await? {
        Ok(lines) => Ok(lines),
        Err(TaskManagerLogError::Unknown(id)) => Err(RestError::TaskManagerNotFound(echo(&id))),
        Err(e @ TaskManagerLogError::Unreachable { .. }) => {
            tracing::debug!(error = %e, "TaskManager log unavailable");
            Err(RestError::Unresponsive("TaskManager"))
        }
    }
}

/// `GET /taskmanagers/{id}/logs`: the TaskManager's logs, in Flink's shape.
#[utoipa::path(
    get,
    path = "/taskmanagers/{id}/logs",
    tag = "logs",
    params(("id" = String, Path, description = "The TaskManager's id")),
    responses(
        (status = 200, description = "The TaskManager's logs", body = LogList),
        (status = 404, description = "No such TaskManager", body = ErrorResponse),
        (status = 503, description = "The TaskManager did not answer", body = ErrorResponse),
    )
)]
pub async fn taskmanager_logs(
    h: web::Data<RestHandle>,
    id: web::Path<String>,
) -> Result<web::Json<LogList>, RestError> {
    let lines = taskmanager_lines(&h, &id).await?;
    Ok(web::Json(LogList::one(TASKMANAGER_LOG, lines.bytes)))
}

/// `GET /taskmanagers/{id}/logs/{name}`: the TaskManager's recent lines as text, oldest first.
#[utoipa::path(
    get,
    path = "/taskmanagers/{id}/logs/{name}",
    tag = "logs",
    params(("id" = String, Path, description = "The TaskManager's id"), ("name" = String, Path, description = "The log's name: `taskmanager.log`")),
    responses(
        (status = 200, description = "The TaskManager's recent lines, oldest first", body = String, content_type = "text/plain"),
        (status = 404, description = "No such TaskManager or log", body = ErrorResponse),
        (status = 503, description = "The TaskManager did not answer", body = ErrorResponse),
    )
)]
pub async fn taskmanager_log(
    h: web::Data<RestHandle>,
    req: HttpRequest,
) -> Result<HttpResponse, RestError> {
    let id = req.match_info().get("id").unwrap_or_default().to_string();
    if let Some(name) = req.match_info().get("name") {
        if name != TASKMANAGER_LOG {
            return Err(RestError::NotFound(format!(
                "no log {}: a TaskManager keeps {TASKMANAGER_LOG}",
                echo(name)
            )));
        }
    }
    let lines = taskmanager_lines(&h, &id).await?;
    Ok(crate::rest::plan::log_text(&lines.lines))
}

/// Flink's `GET /taskmanagers/{id}/log`: the same as `…/logs/taskmanager.log`.
#[utoipa::path(
    get,
    path = "/taskmanagers/{id}/log",
    tag = "logs",
    params(("id" = String, Path, description = "The TaskManager's id")),
    responses(
        (status = 200, description = "The TaskManager's recent lines, oldest first", body = String, content_type = "text/plain"),
        (status = 404, description = "No such TaskManager", body = ErrorResponse),
        (status = 503, description = "The TaskManager did not answer", body = ErrorResponse),
    )
)]
pub async fn taskmanager_default_log(
    h: web::Data<RestHandle>,
    req: HttpRequest,
) -> Result<HttpResponse, RestError> {
    taskmanager_log(h, req).await
}
