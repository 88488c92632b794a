//! A standby JobManager's REST API (`--ha etcd://…`): every request is answered by the
//! leader. Reads (`GET`, `HEAD`) are redirected to the leader's same URL (307), so browsers
//! and the dashboard's event streams move there; changes (`POST`, `PATCH`, `DELETE`) are
//! forwarded and the leader's answer returned, so `rill run`/`cancel`/`stop` work against any
//! JobManager of the cluster. While no leader is elected the answer is 503 with a JSON error
//! saying so.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::ha::HaServices;
use crate::rest::model::ErrorResponse;

/// The largest answer forwarded from the leader.
const MAX_FORWARDED_BYTES: u64 = 16 << 20;
/// How long a forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

fn error(status: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        errors: vec![message],
    })
}

/// Serves the request here while this JobManager leads (or runs without HA); otherwise
/// the leader answers.
pub async fn gate(
    ha: Option<Arc<HaServices>>,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ha = match ha {
        Some(ha) if !ha.leading() => ha,
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
    };
    let Some(leader) = ha.known_leader() else {
        let message = format!(
            "no JobManager leads cluster {} right now (an election is under way); try again shortly",
            ha.settings().cluster_id
        );
        return Ok(req.into_response(error(StatusCode::SERVICE_UNAVAILABLE, message)));
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let target = format!("{}{path}", leader.rest.trim_end_matches('/'));
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        let answer = HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, target))
            .finish();
        return Ok(req.into_response(answer));
    }
    let body = req.extract::<web::Bytes>().await?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let forwarded = tokio::task::spawn_blocking(move || {
        forward(method.as_str(), &target, &content_type, &body)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|r| r);
    let answer = match forwarded {
        Ok((status, content_type, body)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            HttpResponse::build(status)
                .insert_header((header::CONTENT_TYPE, content_type))
                .body(body)
        }
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            format!(
                "this JobManager stands by; the leader {} did not answer: {e}",
                leader.rest
            ),
        ),
    };
    Ok(req.into_response(answer))
}

/// Sends one request to the leader: its status, content type and body.
fn forward(
    method: &str,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let agent = ureq::AgentBuilder::new()
        .timeout(FORWARD_TIMEOUT)
        .redirects(0)
        .build();
    let response = match agent
        .request(method, url)
        .set("content-type", content_type)
        .send_bytes(body)
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    };
    let status = response.status();
    let content_type = response.content_type().to_string();
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(MAX_FORWARDED_BYTES)
        .read_to_end(&mut bytes)?;
    Ok((status, content_type, bytes))
}
