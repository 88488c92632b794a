//! A blocking client of the REST API, for the CLI's `run`, `list` and `cancel`. It speaks plain
//! HTTP (no TLS) and reads the same [`model`](crate::rest::model) types the server writes.

use std::time::Duration;

use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::rest::model::metrics::AggregatedMetric;
use crate::rest::model::{
    CheckpointsSummary, ClusterOverview, ErrorResponse, JobDetailsInfo, JobsOverview,
    SubmitJobRequest, SubmitJobResponse,
};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an unexpected body quoted in an error.
const MAX_QUOTE: usize = 200;

/// Why a call to the REST API did not succeed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No HTTP answer: connection refused, timed out, bad address.
    #[error("cannot reach the JobManager's REST API at {url}: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The server refused the request; `message` is its error (4xx: the request's fault).
    #[error("{message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The server's error message(s), on one line.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse {
        /// The request's URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A job id that cannot be one.
    #[error("invalid job id '{0}': expected up to 32 hex digits")]
    InvalidJobId(String),
}

impl ClientError {
    /// Whether the server refused the request as bad input (a 4xx answer) or the request was
    /// malformed before it was sent.
    pub fn is_rejection(&self) -> bool {
        match self {
            Self::Rejected { status, .. } => (400..500).contains(status),
            Self::InvalidJobId(_) => true,
            Self::Unreachable { .. } | Self::BadResponse { .. } => false,
        }
    }
}

/// A client of one JobManager's REST API.
#[derive(Clone)]
pub struct RestClient {
    base: String,
    agent: ureq::Agent,
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(MAX_QUOTE) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

impl RestClient {
    /// A client for the API at `url` (`http://host:port`; `host:port` means the same).
    pub fn new(url: &str) -> Self {
        let url = url.trim().trim_end_matches('/');
        let base = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build();
        Self { base, agent }
    }

    /// The API's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn job_path(id: &str) -> Result<String, ClientError> {
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::InvalidJobId(one_line(id)));
        }
        Ok(format!("/jobs/{id}"))
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let req = self.agent.request(method, &url);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match res {
            Ok(resp) => resp.into_json().map_err(|e| ClientError::BadResponse {
                url,
                reason: e.to_string(),
            }),
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let message = match serde_json::from_str::<ErrorResponse>(&text) {
                    Ok(e) if !e.errors.is_empty() => one_line(&e.errors.join("; ")),
                    _ => format!("HTTP {status} from {url}: {}", one_line(&text)),
                };
                Err(ClientError::Rejected { status, message })
            }
            Err(ureq::Error::Transport(t)) => {
                let mut reason = t.kind().to_string();
                if let Some(m) = t.message() {
                    reason = format!("{reason}: {m}");
                }
                if let Some(s) = std::error::Error::source(&t) {
                    reason = format!("{reason}: {s}");
                }
                Err(ClientError::Unreachable {
                    url: self.base.clone(),
                    reason: one_line(&reason),
                })
            }
        }
    }

    /// `GET /overview`.
    pub fn overview(&self) -> Result<ClusterOverview, ClientError> {
        self.call("GET", "/overview", None)
    }

    /// `POST /jobs`: submits a registered job; returns the answer with its id.
    pub fn submit(&self, req: &SubmitJobRequest) -> Result<SubmitJobResponse, ClientError> {
        let body = serde_json::to_value(req).map_err(|e| ClientError::BadResponse {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        self.call("POST", "/jobs", Some(body))
    }

    /// `GET /jobs/{id}/checkpoints`, the part that names the newest completed checkpoint.
    pub fn checkpoints(&self, id: &str) -> Result<CheckpointsSummary, ClientError> {
        self.call("GET", &format!("{}/checkpoints", Self::job_path(id)?), None)
    }

    /// `GET /jobs/{id}/vertices/{vertex}/subtasks/metrics?get=METRIC&agg=sum`: the metric
    /// summed over the vertex's subtasks (`None` when the server does not know it).
    pub fn vertex_metric_sum(
        &self,
        id: &str,
        vertex: &str,
        metric: &str,
    ) -> Result<Option<f64>, ClientError> {
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !plain(vertex) || !plain(metric) {
            return Err(ClientError::BadResponse {
                url: self.base.clone(),
                reason: format!("vertex '{}' or metric '{}'", one_line(vertex), metric),
            });
        }
        let path = format!(
            "{}/vertices/{vertex}/subtasks/metrics?get={metric}&agg=sum",
            Self::job_path(id)?
        );
        let all: Vec<AggregatedMetric> = self.call("GET", &path, None)?;
        Ok(all.into_iter().find(|m| m.id == metric).and_then(|m| m.sum))
    }

    /// `GET /jobs/{id}`.
    pub fn job(&self, id: &str) -> Result<JobDetailsInfo, ClientError> {
        self.call("GET", &Self::job_path(id)?, None)
    }

    /// `GET path`, any endpoint, as untyped JSON (for tests and benchmarks that read fields
    /// this client has no type for).
    pub fn get_json(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.call("GET", path, None)
    }

    /// `POST /v1/sessions`, then the script `statement` in the new session (the SQL
    /// Gateway): the session's and the operation's handles.
    pub fn sql_statement(&self, statement: &str) -> Result<(String, String), ClientError> {
        let opened: crate::rest::model::sql::OpenSessionResponse =
            self.call("POST", "/v1/sessions", Some(serde_json::json!({})))?;
        let session = opened.session_handle;
        let path = format!("/v1/sessions/{session}/statements");
        let body = serde_json::json!({ "statement": statement });
        match self.call::<crate::rest::model::sql::ExecuteStatementResponse>(
            "POST",
            &path,
            Some(body),
        ) {
            Ok(op) => Ok((session, op.operation_handle)),
            Err(e) => {
                self.close_sql_session(&session);
                Err(e)
            }
        }
    }

    /// `GET path` of an operation's result page (a `nextResultUri`).
    pub fn sql_result(
        &self,
        path: &str,
    ) -> Result<crate::rest::model::sql::FetchResultsResponse, ClientError> {
        self.call("GET", path, None)
    }

    /// `DELETE /v1/sessions/{session}` (which cancels its queries' jobs); a failure is only
    /// logged.
    pub fn close_sql_session(&self, session: &str) {
        let path = format!("/v1/sessions/{session}");
        if let Err(e) = self.call::<serde_json::Value>("DELETE", &path, None) {
            tracing::debug!(error = %e, "closing the SQL session");
        }
    }

    /// `GET /jobs/overview`.
    pub fn jobs_overview(&self) -> Result<JobsOverview, ClientError> {
        self.call("GET", "/jobs/overview", None)
    }

    /// `POST /jobs/{id}/savepoints` (or `/stop` with `stop = Some(drain)`), then polls the
    /// savepoint's status until it completed: returns its location.
    pub fn savepoint(
        &self,
        id: &str,
        target: Option<&str>,
        stop: Option<bool>,
        limit: std::time::Duration,
    ) -> Result<String, ClientError> {
        let job = Self::job_path(id)?;
        let (path, body) = match stop {
            Some(drain) => (
                format!("{job}/stop"),
                serde_json::json!({ "targetDirectory": target, "drain": drain }),
            ),
            None => (
                format!("{job}/savepoints"),
                serde_json::json!({ "target-directory": target, "cancel-job": false }),
            ),
        };
        let r: serde_json::Value = self.call("POST", &path, Some(body))?;
        let request = r["request-id"].as_str().unwrap_or_default().to_string();
        let end = std::time::Instant::now() + limit;
        loop {
            let s: serde_json::Value =
                self.call("GET", &format!("{job}/savepoints/{request}"), None)?;
            if s["status"]["id"] == "COMPLETED" {
                if let Some(l) = s["operation"]["location"].as_str() {
                    return Ok(l.to_string());
                }
                let cause = s["operation"]["failure-cause"]["stack-trace"]
                    .as_str()
                    .unwrap_or("no cause given");
                return Err(ClientError::Rejected {
                    status: 500,
                    message: format!("the savepoint failed: {}", one_line(cause)),
                });
            }
            if std::time::Instant::now() >= end {
                return Err(ClientError::Rejected {
                    status: 504,
                    message: format!("savepoint {request} not completed within {limit:?}"),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `PATCH /jobs/{id}?mode=cancel`.
    pub fn cancel(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("{}?mode=cancel", Self::job_path(id)?);
        let _: serde_json::Value = self.call("PATCH", &path, None)?;
        Ok(())
    }

    /// Whether job `id` is RUNNING with every subtask running (`GET /jobs/overview`); false
    /// when the server does not answer.
    pub fn runs_every_subtask(&self, id: &str) -> bool {
        let Ok(o) = self.get_json("/jobs/overview") else {
            return false;
        };
        o["jobs"].as_array().into_iter().flatten().any(|j| {
            j["jid"] == id
                && j["state"] == "RUNNING"
                && j["tasks"]["running"] == j["tasks"]["total"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme_and_lose_trailing_slashes() {
        assert_eq!(
            RestClient::new("127.0.0.1:8081/").url(),
            "http://127.0.0.1:8081"
        );
        assert_eq!(RestClient::new("http://h:1").url(), "http://h:1");
    }

    #[test]
    fn job_ids_are_checked_before_they_go_into_a_path() {
        assert!(RestClient::job_path("00ff").is_ok());
        for bad in ["", "../overview", "ab?mode=x", &"a".repeat(33)] {
            let e = RestClient::job_path(bad).expect_err("invalid");
            assert!(e.is_rejection());
        }
    }

    #[test]
    fn quoted_text_is_one_short_line() {
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        assert_eq!(one_line(&"x".repeat(500)).len(), MAX_QUOTE + 3);
    }
}
