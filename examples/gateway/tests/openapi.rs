//! The OpenAPI document: generated from the routes, committed, served at `/openapi.json`
//! with Swagger UI at `/docs` (vendored assets), and naming only routes that exist.

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::TestGateway;
use serde_json::Value;

const REGENERATE: &str = "cargo run -p gateway -- openapi > examples/gateway/openapi.json";

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = gateway::openapi::document_json().expect("document");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "examples/gateway/openapi.json is not the document the routes generate. Review the \
         API change, then regenerate it from the workspace root with:\n    {REGENERATE}"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_unique_operation_ids_and_the_three_credentials() {
    let doc = serde_json::to_value(gateway::openapi::document()).expect("document");
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for scheme in ["api_key", "bearer", "platform_token"] {
        assert!(schemes.contains_key(scheme), "security scheme {scheme}");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} lists no success"
            );
            if path.starts_with("/v1/") && path != "/v1/auth/login" {
                assert!(
                    responses.contains_key("401") && op["security"].is_array(),
                    "{method} {path}: tenant routes need a credential"
                );
            }
            if path.contains('{') {
                assert!(
                    responses.contains_key("404"),
                    "{method} {path} lists no 404"
                );
            }
        }
    }
}

/// Every operation of the document is a route: none answers the router's "no such route"
/// or 405 (the other direction holds by construction: routes are registered with
/// `routes!` from their `#[utoipa::path]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_the_docs_are_served() {
    let gw = TestGateway::start(false).await;
    let doc = serde_json::to_value(gateway::openapi::document()).expect("document");
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = with_fresh_ids(path);
        for method in item.as_object().expect("path item").keys() {
            let answer = gw.call(&method.to_uppercase(), &concrete, None, None).await;
            if answer.status == StatusCode::METHOD_NOT_ALLOWED
                || answer.json["error"] == "no such route"
            {
                missing.push(format!(
                    "{method} {path}: {} {}",
                    answer.status, answer.text
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documented but not routed:\n{}",
        missing.join("\n")
    );

    let served = gw.call("GET", "/openapi.json", None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.json,
        serde_json::to_value(gateway::openapi::document()).expect("document")
    );
    let ui = gw.call("GET", "/docs/", None, None).await;
    assert_eq!(ui.status, StatusCode::OK, "{}", ui.text);
    assert!(ui.text.contains("swagger-ui"), "{}", ui.text);
    // The assets come from the binary, not a CDN.
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        let a = gw.call("GET", asset, None, None).await;
        assert_eq!(a.status, StatusCode::OK, "{asset}");
        assert!(a.text.len() > 10_000, "{asset} is served from the binary");
    }
    let init = gw
        .call("GET", "/docs/swagger-initializer.js", None, None)
        .await;
    assert!(init.text.contains("/openapi.json"), "{}", init.text);
    assert!(!matches!(init.json, Value::Null));
    gw.stop().await;
}

/// utoipa names a schema after its Rust type and keeps one per name: two request types of the
/// same name in two modules silently share one schema, and one route is documented with the
/// other's body. Each dry run must be documented with its own body's fields.
#[test]
fn each_dry_run_is_documented_with_its_own_body() {
    let doc = serde_json::to_value(gateway::openapi::document()).expect("document");
    for (path, field) in [
        ("/v1/flows/{id}/dry-run", "texts"),
        ("/v1/templates/{id}/dry-run", "body_params"),
    ] {
        let reference = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .expect("a schema reference");
        let name = reference.rsplit('/').next().expect("schema name");
        let properties = &doc["components"]["schemas"][name]["properties"];
        assert!(
            properties.get(field).is_some(),
            "{path} is documented with {name}, which has no `{field}`"
        );
    }
}

/// Every JSON request body of the API is an object; an array (which serde's derived
/// `Deserialize` would read as a struct's fields in order) is refused with the error shape
/// before any handler runs, on every operation the document lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_body_must_be_an_object() {
    let gw = TestGateway::start(false).await;
    let doc = serde_json::to_value(gateway::openapi::document()).expect("document");
    let mut accepted = Vec::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if operation["requestBody"]["content"]["application/json"].is_null()
                // Meta's webhook is read as signed bytes, never through the JSON extractor.
                || path == "/webhooks/meta"
            {
                continue;
            }
            let concrete = with_fresh_ids(path);
            let platform = operation["security"].to_string().contains("platform_token");
            for body in ["[null, null]", "[]", "[\"x\"]"] {
                let mut request = axum::http::Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&concrete)
                    .header("content-type", "application/json");
                request = if platform {
                    request.header("authorization", format!("Bearer {}", gw.platform))
                } else {
                    request.header("x-api-key", &gw.key)
                };
                let answer = gw
                    .send(request.body(axum::body::Body::from(body)).expect("request"))
                    .await;
                if answer.status != StatusCode::BAD_REQUEST
                    || common::error_code(&answer) != "INVALID_INPUT"
                {
                    accepted.push(format!(
                        "{method} {path} {body}: {} {}",
                        answer.status, answer.text
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} operations take a JSON body");
    assert!(
        accepted.is_empty(),
        "a JSON array was not refused as a body:\n{}",
        accepted.join("\n")
    );
    gw.stop().await;
}

/// JSON Schema (so the document) counts `3.0` as an integer; serde does not. The extractor
/// reads such a body with the number as an integer, and still refuses a real fraction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integer_written_with_a_zero_fraction_is_an_integer() {
    let gw = TestGateway::start(false).await;
    let rule = |priority: Value| {
        serde_json::json!({
            "name": "jam buka",
            "keywords": ["jam"],
            "reply": {"type": "text", "text": {"body": "Buka 08.00-17.00"}},
            "priority": priority,
        })
    };
    let created = gw
        .post("/v1/auto-replies", rule(serde_json::json!(3.0)))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["data"]["priority"], 3);
    let fraction = gw
        .post("/v1/auto-replies", rule(serde_json::json!(3.5)))
        .await;
    assert_eq!(
        fraction.status,
        StatusCode::BAD_REQUEST,
        "{}",
        fraction.text
    );
    assert_eq!(common::error_code(&fraction), "INVALID_INPUT");
    assert!(fraction.text.contains("priority"), "{}", fraction.text);
    gw.stop().await;
}

/// A documented path with a fresh id in each `{parameter}`.
fn with_fresh_ids(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
