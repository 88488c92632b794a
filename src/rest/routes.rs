//! The REST API's routes, listed once: [`routes!`] turns the one table below into the
//! registration of every route ([`register`]), the list [`ROUTES`], and the OpenAPI document
//! ([`openapi`], served at `GET /openapi.json`) made from the handlers' `#[utoipa::path]`
//! annotations and the types they name.
//!
//! ## Why it cannot drift
//! A route is served only if it is in the table, and every handler in the table is one of the
//! document's operations (a handler without an annotation does not compile). What the
//! annotation says (path, method, operation id) is checked against the table by this module's
//! tests: every served route documented, every documented route served, with the same method
//! and handler.
//!
//! ## Order
//! Actix tries the resources in the table's order: a literal path (`/jobs/overview`) comes
//! before a pattern that would match it (`/jobs/{id}`).

use actix_web::web;
use utoipa::OpenApi;

use crate::rest::handlers::method_not_allowed;
use crate::rest::{
    actors, checkpoints, handlers, metrics, plan, prometheus, savepoints, sql_gateway, stream,
};

/// One served route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path, with `{name}` parameters (the same in actix and OpenAPI).
    pub path: &'static str,
    /// The method, lower case (`get`, `post`, `patch`).
    pub method: &'static str,
    /// The handler's name: the OpenAPI operation id.
    pub handler: &'static str,
}

/// The route table: `"path" { method => module::handler, … }`, in matching order.
macro_rules! routes {
    ($( $path:literal { $( $method:ident => $module:ident :: $handler:ident ),+ $(,)? } )*) => {
        /// Every route the API serves, in matching order.
        pub const ROUTES: &[Route] = &[$($(Route {
            path: $path,
            method: stringify!($method),
            handler: stringify!($handler),
        },)+)*];

        /// Registers every route on `cfg`; a route's other methods answer 405.
        pub(crate) fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.service(
                web::resource($path)
                    .default_service(web::to(method_not_allowed))
                    $(.route(web::$method().to($module::$handler)))+
            );)*
        }

        /// The handlers' annotations, gathered.
        #[derive(OpenApi)]
        #[openapi(paths($($($module::$handler,)+)*))]
        struct ApiDoc;
    };
}

routes! {
    "/openapi.json" { get => self::openapi_json }
    "/overview" { get => handlers::overview }
    "/actors" { get => actors::actors }
    "/actors/stream" { get => stream::actors_stream }
    "/taskmanagers/{id}/logs" { get => actors::taskmanager_logs }
    "/taskmanagers/{id}/logs/{name}" { get => actors::taskmanager_log }
    "/taskmanagers/{id}/log" { get => actors::taskmanager_default_log }
    "/metrics" { get => prometheus::metrics }
    "/config" { get => plan::dashboard_config }
    "/bundled-jobs" { get => plan::bundled_jobs }
    "/jobmanager/metrics" { get => metrics::jobmanager_metrics }
    "/taskmanagers/{id}/metrics" { get => metrics::taskmanager_metrics }
    "/jobmanager/config" { get => plan::jobmanager_config }
    "/jobmanager/logs" { get => plan::jobmanager_logs }
    "/jobmanager/logs/{name}" { get => plan::jobmanager_log }
    "/jobmanager/log" { get => plan::jobmanager_default_log }
    "/jobs/{id}/plan" { get => plan::job_plan }
    "/jobs/{id}/config" { get => plan::job_config }
    "/jobs/{id}/checkpoints/config" { get => plan::checkpoint_config }
    "/taskmanagers" { get => handlers::taskmanagers }
    "/taskmanagers/{id}" { get => handlers::taskmanager }
    "/jobs" { get => handlers::jobs, post => handlers::submit_job }
    "/jobs/overview" { get => handlers::jobs_overview }
    "/jobs/{id}" { get => handlers::job, patch => handlers::cancel_job }
    "/jobs/{id}/exceptions" { get => handlers::job_exceptions }
    "/jobs/{id}/checkpoints" { get => checkpoints::job_checkpoints }
    "/jobs/{id}/checkpoints/details/{checkpoint}" { get => checkpoints::checkpoint_details }
    "/jobs/{id}/checkpoints/details/{checkpoint}/subtasks/{vertex}" {
        get => checkpoints::checkpoint_subtasks
    }
    "/jobs/{id}/savepoints" { post => savepoints::job_savepoint }
    "/jobs/{id}/savepoints/{request}" { get => savepoints::job_savepoint_status }
    "/jobs/{id}/stop" { post => savepoints::job_stop }
    "/jobs/{id}/vertices/{vertex}" { get => handlers::job_vertex }
    "/jobs/{id}/vertices/{vertex}/backpressure" { get => metrics::vertex_backpressure }
    "/jobs/{id}/vertices/{vertex}/watermarks" { get => metrics::vertex_watermarks }
    "/jobs/{id}/vertices/{vertex}/metrics" { get => metrics::vertex_metrics }
    "/jobs/{id}/vertices/{vertex}/subtasks/metrics" { get => metrics::subtasks_metrics }
    "/info" { get => sql_gateway::info }
    "/sessions" { post => sql_gateway::open_session }
    "/sessions/{session}" { get => sql_gateway::session_config, delete => sql_gateway::close_session }
    "/sessions/{session}/heartbeat" { post => sql_gateway::heartbeat }
    "/sessions/{session}/statements" { post => sql_gateway::execute_statement }
    "/sessions/{session}/operations/{operation}/status" { get => sql_gateway::operation_status }
    "/sessions/{session}/operations/{operation}/close" { delete => sql_gateway::close_operation }
    "/sessions/{session}/operations/{operation}/result/{token}" { get => sql_gateway::fetch_results }
}

/// The prefix every route is also served under (as Flink serves its API under `/v1`).
pub const PREFIX: &str = "/v1";

/// The OpenAPI document of the REST API: its paths are relative to the server `/v1`; each is
/// also served without the prefix.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.title = "Rill REST API".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "The JobManager's REST API, with Flink's paths and JSON shapes where Rill has the same \
         thing. Every error is JSON `{\"errors\": [message]}`. Every path is served under `/v1` \
         and also without the prefix."
            .into(),
    );
    doc.info.license = None;
    doc.servers = Some(vec![utoipa::openapi::server::Server::new(PREFIX)]);
    doc
}

/// The document, built once.
static DOCUMENT: std::sync::LazyLock<utoipa::openapi::OpenApi> = std::sync::LazyLock::new(openapi);

/// `GET /openapi.json`: this API's OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "cluster",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub async fn openapi_json() -> web::Json<&'static utoipa::openapi::OpenApi> {
    web::Json(&DOCUMENT)
}

#[cfg(test)]
mod tests;
