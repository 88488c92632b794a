//! The OpenAPI document against the routes the server answers: `GET /v1/openapi.json` is
//! fetched from a mini cluster running a checkpointing job, and every path and method in it is
//! called (under `/v1` and without the prefix) with real ids (job, vertex, TaskManager,
//! checkpoint) and its required query parameters. No answer may be the router's own 404 or a
//! 405; each status must be one the document lists; JSON answers must be JSON and text
//! answers of their documented type.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

/// An answer: status, media type (without parameters) and, unless it is a stream, the body.
struct Answer {
    status: u16,
    media_type: String,
    body: String,
}

/// `method url` with an optional JSON body, 10 s limit; a `text/event-stream` answer's body
/// is not read (it never ends).
fn call(method: &str, url: &str, body: Option<&str>) -> Answer {
    let resp = common::send(method, url, body);
    let status = resp.status();
    let media_type = resp.content_type().to_string();
    let body = if media_type == "text/event-stream" {
        String::new()
    } else {
        resp.into_string().expect("a body")
    };
    Answer {
        status,
        media_type,
        body,
    }
}

/// [`call`] off the actors' thread (they answer the REST server).
async fn request(method: &str, url: String, body: Option<String>) -> Answer {
    let method = method.to_string();
    tokio::task::spawn_blocking(move || call(&method, &url, body.as_deref()))
        .await
        .expect("request thread")
}

async fn get_json(url: String) -> Value {
    let a = request("GET", url.clone(), None).await;
    assert_eq!(a.status, 200, "GET {url}: {}", a.body);
    serde_json::from_str(&a.body).expect("JSON")
}

use common::rest::serve;

/// The ids the walk fills path parameters with.
struct Ids {
    job: String,
    vertex: String,
    taskmanager: String,
    checkpoint: String,
}

/// A well-formed id no job has: mutating routes get it, so they answer the handler's 404.
const UNKNOWN_JOB: &str = "0123456789abcdef0123456789abcdef";

/// The path `template` with its parameters filled; mutating routes (`PATCH /jobs/{id}` would
/// cancel the job the walk reads, a savepoint or stop would end or slow it) name an unknown
/// job, so they are routed and answered by their handler without touching the running job.
fn fill(template: &str, method: &str, ids: &Ids) -> String {
    let job = if method == "get" {
        ids.job.as_str()
    } else {
        UNKNOWN_JOB
    };
    let id = if template.starts_with("/taskmanagers/") {
        ids.taskmanager.as_str()
    } else {
        job
    };
    let name = if template.starts_with("/taskmanagers/") {
        "taskmanager.log"
    } else {
        "jobmanager.log"
    };
    template
        .replace("{id}", id)
        .replace("{vertex}", &ids.vertex)
        .replace("{checkpoint}", &ids.checkpoint)
        // No savepoint was taken: a well-formed request id the job does not know.
        .replace("{request}", "1")
        .replace("{name}", name)
        // The SQL Gateway's: a session and operation nobody opened.
        .replace("{session}", "no-such-session")
        .replace("{operation}", "no-such-operation")
        .replace("{token}", "0")
}

/// The query string of the operation's required query parameters, each with its example.
fn required_query(op: &Value) -> String {
    let params: Vec<String> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .map(|p| {
            let example = p["example"]
                .as_str()
                .or_else(|| p["schema"]["example"].as_str())
                .unwrap_or_else(|| panic!("required parameter without an example: {p}"));
            format!("{}={example}", p["name"].as_str().expect("a name"))
        })
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    }
}

/// The body a mutating route gets: rejected by its handler (an unknown job), never applied.
fn body_for(method: &str, path: &str) -> Option<String> {
    match (method, path) {
        ("post", "/jobs") => Some(r#"{"job": "no-such-job"}"#.to_string()),
        ("post", _) => Some("{}".to_string()),
        _ => None,
    }
}

/// Submits `keyed-sum` with a checkpoint a second (the history of 10 holds each for 10 s) and waits for one to complete; returns
/// the ids to walk with.
async fn running_job(base: &str) -> Ids {
    let dir = common::temp_dir("rest-openapi");
    let body = serde_json::json!({
        "job": "keyed-sum",
        "args": ["--records", "1000000000", "--keys", "100"],
        "parallelism": 1,
        "checkpoint_interval_ms": 1000,
        "checkpoint_dir": dir,
    });
    let a = request("POST", format!("{base}/jobs"), Some(body.to_string())).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let submitted: Value = serde_json::from_str(&a.body).expect("JSON");
    let job = submitted["jobid"].as_str().expect("jobid").to_string();
    let start = Instant::now();
    let checkpoint = loop {
        let s = get_json(format!("{base}/jobs/{job}/checkpoints")).await;
        if let Some(id) = s["latest"]["completed"]["id"].as_u64() {
            break id.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no checkpoint: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let details = get_json(format!("{base}/jobs/{job}")).await;
    let vertex = details["vertices"][0]["id"]
        .as_str()
        .expect("a vertex")
        .to_string();
    let tms = get_json(format!("{base}/taskmanagers")).await;
    let taskmanager = tms["taskmanagers"][0]["id"]
        .as_str()
        .expect("a TaskManager")
        .to_string();
    Ids {
        job,
        vertex,
        taskmanager,
        checkpoint,
    }
}

/// Checks one answer of `method path` (called as `url`) against the operation `op`.
fn check(method: &str, path: &str, url: &str, op: &Value, a: &Answer) {
    let what = format!(
        "{method} {url} -> {} {}: {}",
        a.status, a.media_type, a.body
    );
    assert_ne!(a.status, 405, "{what}");
    if a.status == 404 {
        let json: Value = serde_json::from_str(&a.body).expect("a JSON 404");
        let request_path = url
            .split("://")
            .nth(1)
            .and_then(|r| r.find('/').map(|i| &r[i..]));
        let request_path = request_path
            .expect("a path")
            .split('?')
            .next()
            .unwrap_or("");
        assert_ne!(
            json["errors"][0].as_str(),
            Some(format!("Not found: {request_path}").as_str()),
            "the router has no endpoint for {what}"
        );
    }
    let answer = &op["responses"][a.status.to_string()];
    assert!(answer.is_object(), "{path}: status not documented: {what}");
    let content = answer["content"].as_object().expect("documented content");
    assert!(
        content.keys().any(|ct| ct == &a.media_type),
        "{path}: documented {:?}: {what}",
        content.keys().collect::<Vec<_>>()
    );
    if a.media_type == "application/json" {
        assert!(serde_json::from_str::<Value>(&a.body).is_ok(), "{what}");
    }
}

#[test]
fn every_documented_route_is_served_as_documented() {
    common::init_logging();
    common::with_cluster(
        common::cluster(1, 2),
        Duration::from_secs(90),
        |c| async move {
            let base = serve(&c);
            let doc = get_json(format!("{base}/v1/openapi.json")).await;
            assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
            assert_eq!(doc["info"]["title"], "Rill REST API");
            assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
            assert_eq!(doc["servers"][0]["url"], "/v1");
            assert_eq!(get_json(format!("{base}/openapi.json")).await, doc);

            let ids = running_job(&base).await;
            let paths = doc["paths"].as_object().expect("paths");
            assert!(paths.len() >= 30, "{} paths", paths.len());
            let mut called = 0;
            for (path, item) in paths {
                for (method, op) in item.as_object().expect("operations") {
                    let target = format!("{}{}", fill(path, method, &ids), required_query(op));
                    for prefix in ["/v1", ""] {
                        let url = format!("{base}{prefix}{target}");
                        let body = body_for(method, path);
                        let a = request(&method.to_uppercase(), url.clone(), body).await;
                        check(method, path, &url, op, &a);
                        let expected = match method.as_str() {
                            _ if path.contains("{request}") => a.status,
                            // The body `{}` has no statement.
                            "post" if path.ends_with("/statements") => 400,
                            // A session nobody opened.
                            _ if path.contains("{session}") => 404,
                            "get" => 200,
                            // The body names no registered job.
                            "post" if path == "/jobs" => 400,
                            // Opens a session.
                            "post" if path == "/sessions" => 200,
                            // The unknown job: `mode=cancel` and the bodies were accepted.
                            _ => 404,
                        };
                        assert_eq!(a.status, expected, "{method} {url}: {}", a.body);
                        called += 1;
                    }
                }
            }
            assert!(called >= 70, "{called} calls");

            // Routes the document knows answer 405 (not 404) for a method it does not list.
            let a = request("DELETE", format!("{base}/v1/jobs/{}", ids.job), None).await;
            assert_eq!(a.status, 405, "{}", a.body);
            // A path it does not know is the router's 404, under the prefix too.
            let a = request("GET", format!("{base}/v1/no/such/route"), None).await;
            assert_eq!(a.status, 404, "{}", a.body);
            assert!(
                a.body.contains("Not found: /v1/no/such/route"),
                "{}",
                a.body
            );
            c.cancel(ids.job.parse().expect("a job id"))
                .await
                .expect("cancelled");
        },
    );
}
