//! Tenant isolation: tenant B's admin key, against every operation of the generated OpenAPI
//! document that names one of tenant A's ids (in its path, query or body), gets exactly the
//! answer an id that never existed gets (404, no details), changes nothing of A's, and B's
//! listings show none of A's ids. An operation no rule covers fails the test, so a new route
//! cannot escape the check.

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use common::{TestGateway, error_code};
use serde_json::{Value, json};

/// Bodies of tenant operations that take one, by `(method, path)`; `{x}` is filled with
/// the id of kind x (A's, or one that never existed). An operation with a request body and
/// no entry here fails the test.
const BODIES: &[(&str, &str, &str)] = &[
    ("PATCH", "/v1/users/{id}", r#"{"name":"x"}"#),
    ("PATCH", "/v1/channels/{id}", r#"{"name":"x"}"#),
    ("PATCH", "/v1/contacts/{id}", r#"{"name":"x"}"#),
    ("POST", "/v1/contacts/{id}/tags", r#"{"tags":["x"]}"#),
    (
        "POST",
        "/v1/lists/{id}/contacts",
        r#"{"contact_ids":["{contact}"]}"#,
    ),
    ("POST", "/v1/lists/{id}/import", "phone\n08123456789\n"),
    ("PATCH", "/v1/webhooks/{id}", r#"{"active":false}"#),
    (
        "POST",
        "/v1/templates/{id}/dry-run",
        r#"{"body_params":["x"]}"#,
    ),
    ("PATCH", "/v1/auto-replies/{id}", r#"{"priority":1}"#),
    (
        "PUT",
        "/v1/flows/{id}",
        r#"{"name":"x","document":{"root":{"type":"text","content":"x"}}}"#,
    ),
    ("POST", "/v1/flows/{id}/dry-run", r#"{"texts":["x"]}"#),
    ("POST", "/v1/channels/{id}/flow", r#"{"flow_id":null}"#),
    ("POST", "/v1/channels/{id}/request-code", "{}"),
    (
        "POST",
        "/v1/channels/{id}/verify-code",
        r#"{"code":"123456"}"#,
    ),
    ("POST", "/v1/channels/{id}/register", r#"{"pin":"123456"}"#),
    // Ids referenced in bodies.
    (
        "POST",
        "/v1/auto-replies/test",
        r#"{"channel_id":"{channel}","text":"x"}"#,
    ),
    (
        "POST",
        "/v1/messages",
        r#"{"channel_id":"{channel}","to":"08123456789","type":"text","text":{"body":"x"}}"#,
    ),
    (
        "POST",
        "/v1/messages/bulk",
        r#"{"atomic":true,"messages":[{"channel_id":"{channel}","to":"08123456789","type":"text","text":{"body":"x"}}]}"#,
    ),
    (
        "POST",
        "/v1/campaigns",
        r#"{"name":"x","channel_id":"{channel}","content":{"kind":"text","body":"x"},"numbers":["08123456789"]}"#,
    ),
    (
        "POST",
        "/v1/contacts",
        r#"{"phone":"08123456788","lists":["{list}"]}"#,
    ),
    (
        "POST",
        "/v1/schedules",
        r#"{"channel_id":"{channel}","to":"08123456789","message":{"type":"text","text":{"body":"x"}},"recurrence":{"kind":"cron","expression":"0 9 * * *","timezone":"Asia/Jakarta"}}"#,
    ),
    (
        "POST",
        "/v1/templates",
        r#"{"channel_id":"{channel}","name":"x","language":"id","category":"UTILITY","components":[{"type":"BODY","text":"x"}]}"#,
    ),
    (
        "POST",
        "/v1/templates/sync",
        r#"{"channel_id":"{channel}"}"#,
    ),
    (
        "POST",
        "/v1/auto-replies",
        r#"{"name":"x","keywords":["x"],"reply":{"type":"text","text":{"body":"x"}},"channel_id":"{channel}"}"#,
    ),
    (
        "POST",
        "/v1/media/from-url",
        r#"{"channel_id":"{channel}","url":"https://example.com/x.png"}"#,
    ),
    (
        "POST",
        "/v1/sandbox/inbound",
        r#"{"channel_id":"{channel}","from":"08123456789","text":"x"}"#,
    ),
];

/// Tenant operations that name no id at all (not in path, query or body): they act on the
/// caller's own tenant only, so there is nothing of A's to name. Each with why.
const NO_ID: &[(&str, &str, &str)] = &[
    ("PATCH", "/v1/tenant", "changes the caller's own tenant"),
    (
        "POST",
        "/v1/channels",
        "adds a channel to the caller's tenant",
    ),
    ("POST", "/v1/users", "creates a user in the caller's tenant"),
    (
        "POST",
        "/v1/api-keys",
        "creates a key in the caller's tenant",
    ),
    ("POST", "/v1/lists", "creates a list in the caller's tenant"),
    (
        "POST",
        "/v1/webhooks",
        "creates a subscription in the caller's tenant",
    ),
    (
        "POST",
        "/v1/contacts/import",
        "imports into the caller's tenant",
    ),
    ("POST", "/v1/flows", "creates a flow in the caller's tenant"),
    (
        "POST",
        "/v1/flows/import/gvinum",
        "imports a flow into the caller's tenant",
    ),
    (
        "POST",
        "/v1/media",
        "multipart, which this walk does not send; it reads the channel within the caller's tenant like every route",
    ),
];

/// The kind of id a path parameter names, from the path segment before it.
fn kind_of(path: &str, param: &str) -> Option<&'static str> {
    if param == "contact" {
        return Some("contact");
    }
    let marker = format!("{{{param}}}");
    let before = path.split(&marker).next()?.trim_end_matches('/');
    Some(match before.rsplit('/').next()? {
        "users" => "user",
        "api-keys" => "key",
        "channels" => "channel",
        "messages" => "message",
        "contacts" => "contact",
        "lists" => "list",
        "campaigns" => "campaign",
        "schedules" => "schedule",
        "webhooks" => "webhook",
        "deliveries" => "delivery",
        "tags" => "tag",
        "templates" => "template",
        "auto-replies" => "rule",
        "flows" => "flow",
        _ => return None,
    })
}

/// The kind of id a query parameter names (`channel_id` → `channel`, `subscription_id` →
/// `webhook`, `list` → `list`).
fn query_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "channel_id" => "channel",
        "campaign_id" => "campaign",
        "subscription_id" => "webhook",
        "list" => "list",
        _ => return None,
    })
}

/// One operation of the document.
struct Operation {
    method: String,
    path: String,
    query_ids: Vec<(String, &'static str)>,
    has_body: bool,
    tenant_scoped: bool,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let security = op["security"].as_array().cloned().unwrap_or_default();
            let tenant_scoped = security
                .iter()
                .any(|s| s.get("api_key").is_some() || s.get("bearer").is_some());
            let query_ids = op["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| {
                    let name = p["name"].as_str()?;
                    Some((name.to_owned(), query_kind(name)?))
                })
                .collect();
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                query_ids,
                has_body: op.get("requestBody").is_some(),
                tenant_scoped,
            });
        }
    }
    out
}

/// The request of `op` with ids of `ids`: `(path and query, body)`.
fn request(op: &Operation, ids: &BTreeMap<&str, String>) -> (String, Option<Value>) {
    let mut path = op.path.clone();
    for segment in op.path.split('/') {
        if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let kind = kind_of(&op.path, param)
                .unwrap_or_else(|| panic!("no id fixture for {{{param}}} of {}", op.path));
            path = path.replace(segment, &ids[kind]);
        }
    }
    let query: Vec<String> = op
        .query_ids
        .iter()
        .map(|(name, kind)| format!("{name}={}", ids[kind]))
        .collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let body = BODIES
        .iter()
        .find(|(m, p, _)| *m == op.method && *p == op.path)
        .map(|(_, _, template)| {
            let text = fill(template, ids);
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
        });
    (path, body)
}

fn fill(template: &str, ids: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_owned();
    for (kind, id) in ids {
        out = out.replace(&format!("{{{kind}}}"), id);
    }
    out
}

async fn ids_of_tenant_a(gw: &TestGateway) -> BTreeMap<&'static str, String> {
    let id = |v: &Value| v["data"]["id"].as_str().expect("id").to_owned();
    let mut ids = BTreeMap::new();
    ids.insert("channel", gw.channel.clone());
    let user = gw
        .post("/v1/users", json!({ "email": "a@toko.id", "name": "A", "role": "viewer", "password": "rahasia-123" }))
        .await;
    ids.insert("user", id(&user.json));
    let key = gw
        .post("/v1/api-keys", json!({ "name": "a", "scopes": ["read"] }))
        .await;
    ids.insert("key", id(&key.json));
    let list = gw.post("/v1/lists", json!({ "name": "a-list" })).await;
    ids.insert("list", id(&list.json));
    let contact = gw
        .post("/v1/contacts", json!({ "phone": "08123456789", "name": "Budi", "tags": ["vip"], "lists": [ids["list"]] }))
        .await;
    ids.insert(
        "contact",
        contact.json["data"]["contacts"][0]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
    );
    let message = gw
        .post("/v1/messages", json!({ "channel_id": gw.channel, "to": "08123456789", "type": "text", "text": { "body": "x" } }))
        .await;
    ids.insert("message", id(&message.json));
    let campaign = gw
        .post("/v1/campaigns", json!({ "name": "a", "channel_id": gw.channel, "content": { "kind": "text", "body": "x" }, "numbers": ["08123456789"] }))
        .await;
    ids.insert(
        "campaign",
        campaign.json["data"]["campaign"]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
    );
    let schedule = gw
        .post("/v1/schedules", json!({ "channel_id": gw.channel, "to": "08123456789",
            "message": { "type": "text", "text": { "body": "x" } },
            "recurrence": { "kind": "cron", "expression": "0 9 * * *", "timezone": "Asia/Jakarta" } }))
        .await;
    ids.insert("schedule", id(&schedule.json));
    let webhook = gw
        .post(
            "/v1/webhooks",
            json!({ "url": "https://example.com/hook", "events": ["message_status"] }),
        )
        .await;
    ids.insert("webhook", id(&webhook.json));
    let template = gw
        .post(
            "/v1/templates",
            json!({ "channel_id": gw.channel, "name": "tagihan", "language": "id",
            "category": "UTILITY", "components": [{ "type": "BODY", "text": "Halo {{1}}" }],
            // A local draft: Meta's review would change its status while the test runs.
            "submit": false }),
        )
        .await;
    ids.insert("template", id(&template.json));
    let rule = gw
        .post(
            "/v1/auto-replies",
            json!({ "name": "harga", "keywords": ["harga"],
            "reply": { "type": "text", "text": { "body": "Rp 150.000" } } }),
        )
        .await;
    ids.insert("rule", id(&rule.json));
    let flow = gw
        .post("/v1/flows", json!({ "name": "menu", "document": { "root": { "type": "text", "content": "Halo" } } }))
        .await;
    ids.insert("flow", id(&flow.json));
    ids.insert("tag", "vip".to_owned());
    // A delivery of A's when the outbox made one already; otherwise another of A's ids
    // stands in (B must get 404 for it all the same).
    let deliveries = gw.get("/v1/webhooks/deliveries").await;
    let delivery = deliveries.json["data"][0]["id"]
        .as_str()
        .map_or_else(|| ids["message"].clone(), str::to_owned);
    ids.insert("delivery", delivery);
    for (kind, value) in &ids {
        assert!(!value.is_empty(), "tenant A's {kind} was created");
    }
    ids
}

/// A's view of its own data, to prove B changed nothing.
async fn snapshot(gw: &TestGateway, ids: &BTreeMap<&str, String>) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/v1/users/{}", ids["user"]),
        "/v1/api-keys".to_owned(),
        format!("/v1/channels/{}", ids["channel"]),
        format!("/v1/messages/{}", ids["message"]),
        "/v1/messages".to_owned(),
        format!("/v1/contacts/{}", ids["contact"]),
        "/v1/contacts".to_owned(),
        format!("/v1/lists/{}", ids["list"]),
        format!("/v1/lists/{}/contacts", ids["list"]),
        format!("/v1/campaigns/{}", ids["campaign"]),
        "/v1/campaigns".to_owned(),
        format!("/v1/schedules/{}", ids["schedule"]),
        format!("/v1/webhooks/{}", ids["webhook"]),
        format!("/v1/templates/{}", ids["template"]),
        format!("/v1/auto-replies/{}", ids["rule"]),
        format!("/v1/flows/{}", ids["flow"]),
        "/v1/auto-replies".to_owned(),
    ] {
        let a = gw.get(&path).await;
        assert_eq!(a.status, StatusCode::OK, "A reads {path}: {}", a.text);
        let mut data = a.json["data"].clone();
        // Fields that move by themselves.
        if let Value::Object(map) = &mut data {
            map.remove("updated_at");
        }
        out.push(data);
    }
    out
}

fn without_request_id(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.remove("request_id");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_ids_answer_exactly_like_ids_that_never_existed() {
    let gw = TestGateway::start(false).await;
    let a_ids = ids_of_tenant_a(&gw).await;
    let before = snapshot(&gw, &a_ids).await;
    let (_, b_key) = gw.other_tenant("enterprise").await;
    let never: BTreeMap<&str, String> = a_ids
        .keys()
        .map(|k| (*k, uuid::Uuid::now_v7().to_string()))
        .collect();

    let doc = serde_json::to_value(gateway::openapi::document()).expect("document");
    let mut leaks = Vec::new();
    let mut uncovered = Vec::new();
    let mut checked = 0;
    for op in operations(&doc) {
        if !op.tenant_scoped {
            // Public, Meta's webhook, ops and the platform API: no tenant's key opens them.
            continue;
        }
        let has_path_id = op.path.contains('{');
        let body_rule = BODIES
            .iter()
            .any(|(m, p, _)| *m == op.method && *p == op.path);
        let body_has_id = BODIES
            .iter()
            .any(|(m, p, b)| *m == op.method && *p == op.path && b.contains("\"{"));
        if NO_ID
            .iter()
            .any(|(m, p, _)| *m == op.method && *p == op.path)
        {
            continue;
        }
        if op.has_body && !body_rule {
            uncovered.push(format!(
                "{} {}: has a body but no entry in BODIES",
                op.method, op.path
            ));
            continue;
        }
        let listing = op.method == "GET" && !has_path_id;
        let names_id = has_path_id || body_has_id || !op.query_ids.is_empty();
        if !names_id && !listing {
            uncovered.push(format!(
                "{} {}: names no id and is not a listing; add it to NO_ID (with why) or BODIES",
                op.method, op.path
            ));
            continue;
        }
        checked += 1;
        let (a_path, a_body) = request(&op, &a_ids);
        let b_on_a = call(&gw, &op.method, &a_path, &b_key, a_body).await;
        if names_id {
            let (never_path, never_body) = request(&op, &never);
            let b_on_never = call(&gw, &op.method, &never_path, &b_key, never_body).await;
            let must_be_404 = has_path_id || body_has_id;
            if (must_be_404 && b_on_a.0 != StatusCode::NOT_FOUND)
                || b_on_a.0 != b_on_never.0
                || without_request_id(b_on_a.1.clone()) != without_request_id(b_on_never.1.clone())
            {
                leaks.push(format!(
                    "{} {a_path}: {} {} vs never {} {}",
                    op.method, b_on_a.0, b_on_a.1, b_on_never.0, b_on_never.1
                ));
            }
        }
        if listing {
            // B's own listing (filtered by A's ids, where it takes them) shows nothing of A.
            let (plain, _) = request(
                &Operation {
                    query_ids: Vec::new(),
                    ..op
                },
                &a_ids,
            );
            for path in [plain, a_path] {
                let b = gw.call("GET", &path, Some(&b_key), None).await;
                for (kind, id) in &a_ids {
                    if *kind != "tag" && b.text.contains(id.as_str()) {
                        leaks.push(format!("GET {path} shows A's {kind} {id} to B"));
                    }
                }
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "operations of the OpenAPI document no tenancy rule covers:\n{}",
        uncovered.join("\n")
    );
    assert!(checked >= 40, "only {checked} operations checked");
    assert!(
        leaks.is_empty(),
        "cross-tenant leaks:\n{}",
        leaks.join("\n")
    );
    assert_eq!(snapshot(&gw, &a_ids).await, before, "B changed A's data");
    gw.stop().await;
}

async fn call(
    gw: &TestGateway,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let answer = match body {
        Some(Value::String(csv)) => {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("x-api-key", key)
                .header("content-type", "text/csv")
                .body(axum::body::Body::from(csv))
                .expect("request");
            gw.send(request).await
        }
        other => gw.call(method, path, Some(key), other).await,
    };
    if answer.status != StatusCode::NOT_FOUND {
        return (answer.status, answer.json);
    }
    error_code(&answer);
    (answer.status, answer.json)
}
