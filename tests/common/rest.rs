//! A mini cluster's REST server in tests, and blocking HTTP calls made off the actors' thread
//! (the actors answer the REST server, so a test inside the actix system must not block it).

use std::sync::Arc;
use std::time::Duration;

use rill::actors::MiniCluster;
use rill::jobs::JobRegistry;
use rill::rest::RestHandle;
use serde_json::Value;

/// Serves `c`'s REST API (with its actor registry) on a free loopback port; its base URL.
pub fn serve(c: &MiniCluster) -> String {
    let handle = RestHandle::new(
        c.dispatcher().clone(),
        c.resource_manager().clone(),
        Arc::new(JobRegistry::bundled()),
        1,
    )
    .with_actors(c.actors().clone());
    let (server, addr) =
        rill::rest::serve("127.0.0.1:0".parse().expect("address"), handle).expect("binds");
    actix::spawn(async move {
        let _ = server.await;
    });
    format!("http://{addr}")
}

/// `GET url` off the actors' thread.
pub async fn get(url: String) -> super::HttpAnswer {
    tokio::task::spawn_blocking(move || super::http("GET", &url, None))
        .await
        .expect("request thread")
}

/// `GET url`, asserting 200; its JSON.
pub async fn get_ok(url: String) -> Value {
    let a = get(url.clone()).await;
    assert_eq!(a.status, 200, "GET {url}: {}", a.json);
    a.json
}

/// `POST url` with a JSON `body`, off the actors' thread.
pub async fn post(url: String, body: String) -> super::HttpAnswer {
    tokio::task::spawn_blocking(move || super::http("POST", &url, Some(&body)))
        .await
        .expect("request thread")
}

/// `GET url` as text: its content type and body.
pub async fn get_text(url: String) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let r = ureq::get(&url)
            .timeout(Duration::from_secs(10))
            .call()
            .expect("an answer");
        let ct = r.content_type().to_string();
        (ct, r.into_string().expect("a body"))
    })
    .await
    .expect("request thread")
}
