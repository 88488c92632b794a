//! Tests of [`super`]: the OpenAPI document and the route table agree, both ways.

use std::collections::BTreeSet;

use super::*;
use utoipa::openapi::path::{Operation, PathItem};

/// Each operation of `item` with its method's name, lower case.
fn operations(item: &PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("get", &item.get),
        ("put", &item.put),
        ("post", &item.post),
        ("delete", &item.delete),
        ("options", &item.options),
        ("head", &item.head),
        ("patch", &item.patch),
        ("trace", &item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

#[test]
fn every_served_route_is_documented_with_its_handler_and_no_other() {
    let doc = openapi();
    let documented: BTreeSet<(String, &str, String)> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            operations(item).into_iter().map(move |(method, op)| {
                let id = op.operation_id.clone().unwrap_or_default();
                (path.clone(), method, id)
            })
        })
        .collect();
    let served: BTreeSet<(String, &str, String)> = ROUTES
        .iter()
        .map(|r| (r.path.to_string(), r.method, r.handler.to_string()))
        .collect();
    assert_eq!(served.len(), ROUTES.len(), "a route is in the table twice");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );
}

#[test]
fn paths_name_their_parameters_as_the_routes_do() {
    let doc = openapi();
    for (path, item) in &doc.paths.paths {
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in operations(item) {
            let declared: BTreeSet<&str> = op
                .parameters
                .iter()
                .flatten()
                .filter(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path))
                .map(|p| p.name.as_str())
                .collect();
            assert_eq!(in_path, declared, "{method} {path}");
        }
    }
}

#[test]
fn the_document_names_the_api_its_version_and_every_error_status() {
    let json = serde_json::to_value(openapi()).expect("json");
    assert!(
        json["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        json["openapi"]
    );
    assert_eq!(json["info"]["title"], "Rill REST API");
    assert_eq!(json["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["servers"][0]["url"], PREFIX);
    let errors = &json["components"]["schemas"]["ErrorResponse"];
    assert_eq!(errors["properties"]["errors"]["type"], "array", "{errors}");
    // Every documented 4xx or 5xx answer is the JSON error body.
    for (path, item) in json["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            for (status, answer) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorResponse",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    let ct = |path: &str, ct: &str| {
        json["paths"][path]["get"]["responses"]["200"]["content"]
            .get(ct)
            .is_some()
    };
    assert!(ct("/metrics", "text/plain"));
    assert!(ct("/jobmanager/log", "text/plain"));
    assert!(ct("/actors/stream", "text/event-stream"));
    assert!(ct("/jobs/{id}", "application/json"));
}
