//! Tenant isolation: tenant B's admin key, against every route that takes an id, with
//! tenant A's ids, gets exactly the answer an id that never existed gets (404, no details),
//! and changes nothing of A's.

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use common::{TestGateway, error_code};
use serde_json::{Value, json};

/// Every route with an id, as `(method, path, body)`; `{x}` is filled with A's id of kind x.
/// Kept by hand in step with the routers: a route missing here is not guarded (the OpenAPI
/// document, once generated, is to drive this list instead).
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/v1/users/{user}", ""),
    ("PATCH", "/v1/users/{user}", r#"{"name":"x"}"#),
    ("DELETE", "/v1/users/{user}", ""),
    ("DELETE", "/v1/api-keys/{key}", ""),
    ("GET", "/v1/channels/{channel}", ""),
    ("PATCH", "/v1/channels/{channel}", r#"{"name":"x"}"#),
    ("DELETE", "/v1/channels/{channel}", ""),
    ("GET", "/v1/channels/{channel}/health", ""),
    ("GET", "/v1/messages/{message}", ""),
    ("POST", "/v1/messages/{message}/read", ""),
    ("GET", "/v1/contacts/{contact}", ""),
    ("PATCH", "/v1/contacts/{contact}", r#"{"name":"x"}"#),
    ("DELETE", "/v1/contacts/{contact}", ""),
    ("POST", "/v1/contacts/{contact}/tags", r#"{"tags":["x"]}"#),
    ("DELETE", "/v1/contacts/{contact}/tags/vip", ""),
    ("GET", "/v1/lists/{list}", ""),
    ("DELETE", "/v1/lists/{list}", ""),
    ("GET", "/v1/lists/{list}/contacts", ""),
    (
        "POST",
        "/v1/lists/{list}/contacts",
        r#"{"contact_ids":["{contact}"]}"#,
    ),
    ("DELETE", "/v1/lists/{list}/contacts/{contact}", ""),
    ("GET", "/v1/lists/{list}/export.csv", ""),
    ("POST", "/v1/lists/{list}/import", "phone\n08123456789\n"),
    ("GET", "/v1/campaigns/{campaign}", ""),
    ("DELETE", "/v1/campaigns/{campaign}", ""),
    ("POST", "/v1/campaigns/{campaign}/start", ""),
    ("POST", "/v1/campaigns/{campaign}/pause", ""),
    ("POST", "/v1/campaigns/{campaign}/resume", ""),
    ("POST", "/v1/campaigns/{campaign}/cancel", ""),
    ("POST", "/v1/campaigns/{campaign}/stop", ""),
    ("POST", "/v1/campaigns/{campaign}/retry-failed", ""),
    ("GET", "/v1/campaigns/{campaign}/recipients", ""),
    ("GET", "/v1/campaigns/{campaign}/progress", ""),
    ("GET", "/v1/campaigns/{campaign}/report", ""),
    ("GET", "/v1/campaigns/{campaign}/report.csv", ""),
    ("GET", "/v1/schedules/{schedule}", ""),
    ("DELETE", "/v1/schedules/{schedule}", ""),
    ("GET", "/v1/schedules/{schedule}/next", ""),
    ("GET", "/v1/webhooks/{webhook}", ""),
    ("PATCH", "/v1/webhooks/{webhook}", r#"{"active":false}"#),
    ("DELETE", "/v1/webhooks/{webhook}", ""),
    (
        "GET",
        "/v1/webhooks/deliveries?subscription_id={webhook}",
        "",
    ),
    ("POST", "/v1/webhooks/deliveries/{message}/replay", ""),
    ("GET", "/v1/campaigns/{campaign}/events", ""),
    ("GET", "/v1/templates/{template}", ""),
    ("DELETE", "/v1/templates/{template}", ""),
    ("POST", "/v1/templates/{template}/submit", ""),
    (
        "POST",
        "/v1/templates/{template}/dry-run",
        r#"{"body_params":["x"]}"#,
    ),
    ("GET", "/v1/auto-replies/{rule}", ""),
    ("PATCH", "/v1/auto-replies/{rule}", r#"{"priority":1}"#),
    ("DELETE", "/v1/auto-replies/{rule}", ""),
    ("GET", "/v1/flows/{flow}", ""),
    (
        "PUT",
        "/v1/flows/{flow}",
        r#"{"name":"x","document":{"root":{"type":"text","content":"x"}}}"#,
    ),
    ("DELETE", "/v1/flows/{flow}", ""),
    ("POST", "/v1/flows/{flow}/activate", ""),
    ("POST", "/v1/flows/{flow}/deactivate", ""),
    ("POST", "/v1/flows/{flow}/dry-run", r#"{"texts":["x"]}"#),
    ("POST", "/v1/channels/{channel}/flow", r#"{"flow_id":null}"#),
    ("POST", "/v1/channels/{channel}/request-code", "{}"),
    (
        "POST",
        "/v1/channels/{channel}/verify-code",
        r#"{"code":"123456"}"#,
    ),
    (
        "POST",
        "/v1/channels/{channel}/register",
        r#"{"pin":"123456"}"#,
    ),
    ("GET", "/v1/analytics/campaigns/{campaign}", ""),
    ("GET", "/v1/analytics/messages?channel_id={channel}", ""),
    ("GET", "/v1/analytics/auto-replies?channel_id={channel}", ""),
    // Ids referenced in bodies.
    (
        "POST",
        "/v1/messages",
        r#"{"channel_id":"{channel}","to":"08123456789","type":"text","text":{"body":"x"}}"#,
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

    let mut leaks = Vec::new();
    for (method, path, body) in ROUTES {
        let body = (!body.is_empty()).then(|| {
            let text = fill(body, &a_ids);
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
        });
        let never_body = body.as_ref().map(|_| {
            let text = fill(
                ROUTES
                    .iter()
                    .find(|r| r.1 == *path && r.0 == *method)
                    .expect("route")
                    .2,
                &never,
            );
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
        });
        let b_on_a = call(&gw, method, &fill(path, &a_ids), &b_key, body).await;
        let b_on_never = call(&gw, method, &fill(path, &never), &b_key, never_body).await;
        if b_on_a.0 != StatusCode::NOT_FOUND
            || without_request_id(b_on_a.1.clone()) != without_request_id(b_on_never.1.clone())
        {
            leaks.push(format!(
                "{method} {path}: {} {} vs never {} {}",
                b_on_a.0, b_on_a.1, b_on_never.0, b_on_never.1
            ));
        }
    }
    assert!(
        leaks.is_empty(),
        "cross-tenant leaks:\n{}",
        leaks.join("\n")
    );
    assert_eq!(snapshot(&gw, &a_ids).await, before, "B changed A's data");
    // B's own listings show nothing of A.
    for path in [
        "/v1/messages",
        "/v1/contacts",
        "/v1/campaigns",
        "/v1/lists",
        "/v1/channels",
        "/v1/webhooks",
        "/v1/schedules",
        "/v1/users",
        "/v1/activity",
        "/v1/templates",
        "/v1/auto-replies",
        "/v1/flows",
    ] {
        let b = gw.call("GET", path, Some(&b_key), None).await;
        for id in a_ids.values() {
            assert!(!b.text.contains(id.as_str()), "{path} shows A's {id} to B");
        }
    }
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
