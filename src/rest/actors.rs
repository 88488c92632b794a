//! The actor topology over REST (`GET /actors`, and its changes as server-sent events at
//! `GET /actors/stream`, [`crate::rest::stream`]) and the TaskManagers' logs
//! (`GET /taskmanagers/{id}/logs`, `…/logs/{name}`, Flink's `…/log`), both gathered by the
//! ResourceManager from the TaskManagers over the actor RPC.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::actors::topology::{GatherActors, RequestTaskManagerLog, TaskManagerLogError, Topology};
use crate::ids::TaskManagerId;
use crate::rest::error::RestError;
use crate::rest::handlers::{ask, echo};
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
pub async fn actors(h: web::Data<RestHandle>) -> Result<web::Json<serde_json::Value>, RestError> {
    let t = topology(&h).await?;
    let node = h
        .actors
        .as_ref()
        .map(|r| r.node_id().to_string())
        .unwrap_or_default();
    Ok(web::Json(serde_json::json!({
        "node": node,
        "nodes": t.nodes,
        "actors": t.actors,
        "edges": t.edges,
    })))
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
pub async fn taskmanager_logs(
    h: web::Data<RestHandle>,
    id: web::Path<String>,
) -> Result<web::Json<serde_json::Value>, RestError> {
    let lines = taskmanager_lines(&h, &id).await?;
    Ok(web::Json(serde_json::json!({
        "logs": [{ "name": TASKMANAGER_LOG, "size": lines.bytes }]
    })))
}

/// `GET /taskmanagers/{id}/logs/{name}` and Flink's `GET /taskmanagers/{id}/log`: the
/// TaskManager's recent lines as text, oldest first.
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
    let mut text = lines.lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(text))
}
