//! The REST API in-process (`oneshot`) against a sandbox gateway.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestGateway, error_code};
use serde_json::{Value, json};

fn hello(channel: &str, to: &str) -> Value {
    json!({
        "channel_id": channel, "to": to, "type": "template",
        "template": { "name": "hello_world", "language": { "code": "en_US" } }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_is_sent_and_its_statuses_arrive_through_the_webhook() {
    let gw = TestGateway::start(true).await;
    let sent = gw
        .post("/v1/messages", hello(&gw.channel, "08123456789"))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let id = sent.json["data"]["id"].as_str().expect("id").to_owned();

    gw.wait_for(
        "delivered through the emulator's signed webhook",
        async || {
            let m = gw.get(&format!("/v1/messages/{id}")).await;
            matches!(
                m.json["data"]["status"].as_str(),
                Some("delivered" | "read")
            )
        },
    )
    .await;
    let m = gw.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(m.json["data"]["contact_phone"], "628123456789");
    assert!(m.json["data"]["wamid"].is_string());

    // The history filters find it.
    let found = gw
        .get("/v1/messages?direction=outbound&q=HELLO_world&contact=0812-3456-789")
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    assert_eq!(found.json["data"].as_array().map(Vec::len), Some(1));
    let none = gw.get("/v1/messages?direction=inbound").await;
    assert_eq!(none.json["data"].as_array().map(Vec::len), Some(0));

    // CSV export writes the number in E.164 with a plus.
    let csv = gw.get("/v1/messages/export.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text.contains("+628123456789"), "{}", csv.text);

    // /metrics has no recorder in tests: 404 in the error shape.
    assert_eq!(error_code(&gw.get("/metrics").await), "NOT_FOUND");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_answers_the_first_message_again() {
    let gw = TestGateway::start(false).await;
    let request = |key: &str| {
        Request::post("/v1/messages")
            .header("x-api-key", gw.key.clone())
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(Body::from(hello(&gw.channel, "08123456789").to_string()))
            .expect("request")
    };
    let first = gw.send(request("order-1042")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    let again = gw.send(request("order-1042")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["data"]["id"], first.json["data"]["id"]);
    assert_eq!(again.json["data"]["created"], json!(false));
    let other = gw.send(request("order-1043")).await;
    assert_ne!(other.json["data"]["id"], first.json["data"]["id"]);
    let all = gw.get("/v1/messages").await;
    assert_eq!(all.json["data"].as_array().map(Vec::len), Some(2));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_has_the_one_error_shape() {
    let gw = TestGateway::start(false).await;
    let key = gw.key.clone();

    let unknown = gw.get("/v1/nothing-here").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&unknown), "NOT_FOUND");

    let no_key = gw.call("GET", "/v1/messages", None, None).await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&no_key), "UNAUTHORIZED");
    assert!(no_key.headers.contains_key("www-authenticate"));

    let bad_key = gw
        .call("GET", "/v1/messages", Some("wagw_not-a-key"), None)
        .await;
    assert_eq!(error_code(&bad_key), "UNAUTHORIZED");

    let method = gw.call("PUT", "/v1/messages", Some(&key), None).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&method), "METHOD_NOT_ALLOWED");

    let garbage = gw
        .send(
            Request::post("/v1/messages")
                .header("x-api-key", key.clone())
                .header("content-type", "application/json")
                .body(Body::from("{not json"))
                .expect("request"),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&garbage), "INVALID_INPUT");

    let huge = gw
        .send(
            Request::post("/v1/messages")
                .header("x-api-key", key.clone())
                .header("content-type", "application/json")
                .body(Body::from(format!(
                    "{{\"x\":\"{}\"}}",
                    "a".repeat(2 * 1024 * 1024)
                )))
                .expect("request"),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", huge.text);
    assert_eq!(error_code(&huge), "FILE_TOO_LARGE");

    let bad_number = gw.post("/v1/messages", hello(&gw.channel, "0812")).await;
    assert_eq!(bad_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&bad_number), "INVALID_NUMBER");

    let too_long = gw
        .post(
            "/v1/messages",
            json!({ "channel_id": gw.channel, "to": "08123456789", "type": "text",
                    "text": { "body": "x".repeat(4_097) } }),
        )
        .await;
    assert_eq!(error_code(&too_long), "INVALID_CONTENT");

    let bad_id = gw.get("/v1/messages/not-a-uuid").await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&bad_id), "NOT_FOUND");

    // The request id comes back in the header and the body.
    let with_id = gw
        .send(
            Request::get("/v1/nothing")
                .header("x-request-id", "trace-42")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(with_id.json["request_id"], "trace-42");
    assert_eq!(with_id.headers["x-request-id"], "trace-42");

    // Nothing was stored by any of these.
    let all = gw.get("/v1/messages").await;
    assert_eq!(all.json["data"].as_array().map(Vec::len), Some(0));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_roles_logins_and_revocation() {
    let gw = TestGateway::start(false).await;
    let viewer = gw
        .post(
            "/v1/api-keys",
            json!({ "name": "dashboard", "scopes": ["role:viewer"] }),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::CREATED, "{}", viewer.text);
    let viewer_key = viewer.json["data"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let viewer_id = viewer.json["data"]["id"].as_str().expect("id").to_owned();
    // Shown once: listings carry no secret and no hash.
    let keys = gw.get("/v1/api-keys").await;
    assert!(!keys.text.contains(&viewer_key) && !keys.text.contains("hash"));

    let read = gw
        .call("GET", "/v1/messages", Some(&viewer_key), None)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let send = gw
        .call(
            "POST",
            "/v1/messages",
            Some(&viewer_key),
            Some(hello(&gw.channel, "08123456789")),
        )
        .await;
    assert_eq!(send.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&send), "FORBIDDEN");

    let revoked = gw
        .call(
            "DELETE",
            &format!("/v1/api-keys/{viewer_id}"),
            Some(&gw.key.clone()),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = gw
        .call("GET", "/v1/messages", Some(&viewer_key), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // People log in with a password and use the JWT as a bearer token.
    let tenant = gw.gateway.seeded.as_ref().expect("seed").tenant.to_string();
    let created = gw
        .post(
            "/v1/users",
            json!({ "email": "Budi@Toko.id", "name": "Budi", "role": "operator", "password": "rahasia-123" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(!created.text.contains("argon2"));
    let user_id = created.json["data"]["id"].as_str().expect("id").to_owned();
    let wrong = gw
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({ "tenant": tenant, "email": "budi@toko.id", "password": "salah-salah" })),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let login = gw
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({ "tenant": tenant, "email": "budi@toko.id", "password": "rahasia-123" })),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let token = login.json["data"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let bearer = |path: &str| {
        Request::get(path.to_owned())
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    assert_eq!(gw.send(bearer("/v1/me")).await.status, StatusCode::OK);
    // An operator is not an admin.
    assert_eq!(
        gw.send(bearer("/v1/users")).await.status,
        StatusCode::FORBIDDEN
    );
    // Deactivated: out at once.
    let off = gw
        .call(
            "PATCH",
            &format!("/v1/users/{user_id}"),
            Some(&gw.key.clone()),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert_eq!(
        gw.send(bearer("/v1/me")).await.status,
        StatusCode::UNAUTHORIZED
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_limit_requests_and_quotas() {
    let gw = TestGateway::start(false).await;
    let (_, basic) = gw.other_tenant("basic").await;
    let ch = json!({ "name": "cs", "phone_number_id": "555000111", "waba_id": "1", "display_number": "08111111111" });
    let first = gw
        .call("POST", "/v1/channels", Some(&basic), Some(ch.clone()))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let mut second = ch.clone();
    second["phone_number_id"] = json!("555000112");
    let refused = gw
        .call("POST", "/v1/channels", Some(&basic), Some(second))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&refused), "QUOTA_EXCEEDED");
    assert_eq!(refused.json["details"]["limit"], 1);

    // Basic: 100 requests per 15 minutes per key (2 used above).
    let mut limited = None;
    for _ in 0..120 {
        let a = gw.call("GET", "/v1/channels", Some(&basic), None).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(a);
            break;
        }
    }
    let limited = limited.expect("the 101st request is limited");
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    // Another key of another tenant is not affected.
    assert_eq!(gw.get("/v1/channels").await.status, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_import_reports_errors_by_line_and_strict_stores_nothing() {
    let gw = TestGateway::start(false).await;
    let csv = "name,phone,node,tags\nBudi,08123456789,ODP-001,active;vip\nRusak,12,ODP-001,\nSiti,+62 812-2222-3333,ODP-002,active\n";
    let import = |strict: bool| {
        Request::post(format!("/v1/contacts/import?strict={strict}"))
            .header("x-api-key", gw.key.clone())
            .header("content-type", "text/csv")
            .body(Body::from(csv))
            .expect("request")
    };
    let strict = gw.send(import(true)).await;
    assert_eq!(
        strict.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        strict.text
    );
    assert_eq!(strict.json["details"]["errors"][0]["line"], 3);
    assert_eq!(
        gw.get("/v1/contacts").await.json["data"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "strict: nothing stored"
    );

    let lenient = gw.send(import(false)).await;
    assert_eq!(lenient.status, StatusCode::OK, "{}", lenient.text);
    assert_eq!(lenient.json["data"]["inserted"], 2);
    assert_eq!(lenient.json["data"]["errors"][0]["line"], 3);
    assert_eq!(lenient.json["data"]["errors"][0]["code"], "INVALID_NUMBER");

    let on_node = gw.get("/v1/contacts?field.node=ODP-001&tag=active").await;
    assert_eq!(on_node.json["data"][0]["name"], "Budi");
    assert_eq!(on_node.json["data"].as_array().map(Vec::len), Some(1));
    let by_text = gw.get("/v1/contacts?q=siti").await;
    assert_eq!(by_text.json["data"][0]["phone"], "6281222223333");

    let export = gw.get("/v1/contacts/export.csv").await;
    assert!(
        export.text.starts_with("phone,name,tags,node"),
        "{}",
        export.text
    );
    assert!(
        export
            .text
            .contains("+628123456789,Budi,active;vip,ODP-001"),
        "{}",
        export.text
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_runs_to_completion_and_reports() {
    let gw = TestGateway::start(true).await;
    let created = gw
        .post(
            "/v1/campaigns",
            json!({
                "name": "Promo", "channel_id": gw.channel,
                "content": { "kind": "template", "template_id": template_id(&gw).await },
                "numbers": ["08123456789", "08123456780", "abc", "0812-3456-789"],
                "send_at": "now"
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["data"]["expansion"]["added"], 2);
    assert_eq!(created.json["data"]["expansion"]["rejected"], 1);
    assert_eq!(created.json["data"]["expansion"]["duplicates"], 1);
    let id = created.json["data"]["campaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    gw.wait_for("the campaign completes", async || {
        let p = gw.get(&format!("/v1/campaigns/{id}/progress")).await;
        p.json["data"]["state"] == "completed"
    })
    .await;
    let report = gw.get(&format!("/v1/campaigns/{id}/report.csv")).await;
    assert!(
        report.text.starts_with("phone,status,reason"),
        "{}",
        report.text
    );
    assert!(report.text.contains("+628123456789,"), "{}", report.text);
    assert!(
        report.text.contains(",abc"),
        "refused input kept: {}",
        report.text
    );
    let pause = gw
        .post(&format!("/v1/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(pause.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&pause), "INVALID_STATE");
    gw.stop().await;
}

async fn template_id(gw: &TestGateway) -> String {
    use wagw_core::ids::ChannelId;
    let seeded = gw.gateway.seeded.as_ref().expect("seed");
    let channel: uuid::Uuid = gw.channel.parse().expect("id");
    gw.gateway
        .state
        .store
        .find_template(seeded.tenant, ChannelId(channel), "hello_world", "en_US")
        .await
        .expect("template")
        .id
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_inbound_message_opens_the_window_for_free_text() {
    let gw = TestGateway::start(true).await;
    let text = json!({ "channel_id": gw.channel, "to": "08123456789", "type": "text", "text": { "body": "Halo" } });
    // Outside the 24-hour window a free-form text fails (131047), as on Meta.
    let early = gw.post("/v1/messages", text.clone()).await;
    let early_id = early.json["data"]["id"].as_str().expect("id").to_owned();
    gw.wait_for("refused outside the window", async || {
        gw.get(&format!("/v1/messages/{early_id}")).await.json["data"]["status"] == "failed"
    })
    .await;
    let inbound = gw
        .post(
            "/v1/sandbox/inbound",
            json!({ "channel_id": gw.channel, "from": "08123456789", "text": "Mau tanya tagihan" }),
        )
        .await;
    assert_eq!(inbound.status, StatusCode::OK, "{}", inbound.text);
    gw.wait_for("the inbound message is stored", async || {
        let m = gw.get("/v1/messages?direction=inbound&q=tagihan").await;
        m.json["data"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let reply = gw.post("/v1/messages", text).await;
    let reply_id = reply.json["data"]["id"].as_str().expect("id").to_owned();
    gw.wait_for("sent inside the window", async || {
        matches!(
            gw.get(&format!("/v1/messages/{reply_id}")).await.json["data"]["status"].as_str(),
            Some("sent" | "delivered" | "read")
        )
    })
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_requests_are_in_the_activity_log() {
    let gw = TestGateway::start(false).await;
    let list = gw.post("/v1/lists", json!({ "name": "pelanggan" })).await;
    assert_eq!(list.status, StatusCode::CREATED);
    let refused = gw.post("/v1/lists", json!({ "name": "" })).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let log = gw.get("/v1/activity").await;
    let entries = log.json["data"].as_array().expect("entries").clone();
    let actions: Vec<_> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["POST /v1/lists", "POST /v1/lists"],
        "{}",
        log.text
    );
    assert_eq!(entries[0]["entity_id"], list.json["data"]["id"]);
    assert_eq!(entries[0]["details"]["status"], 201);
    assert_eq!(entries[1]["details"]["status"], 422);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_webhook_checks_the_handshake_and_the_signature() {
    let gw = TestGateway::start(false).await;
    let token = gw.gateway.state.meta.verify_token.clone();
    let ok = gw
        .call(
            "GET",
            &format!("/webhooks/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"),
            None,
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.text, "1158201444");
    let bad = gw
        .call(
            "GET",
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            None,
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    let unsigned = gw
        .send(
            Request::post("/webhooks/meta")
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"object":"whatsapp_business_account","entry":[]}"#,
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&unsigned), "UNAUTHORIZED");
    gw.stop().await;
}

/// The conversation half runs in the worker: an inbound message injected into the sandbox
/// comes back as a signed webhook, is stored by the inbound pipeline, and the conversation
/// runner answers it from a keyword auto-reply rule, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_message_gets_its_auto_reply_once() {
    use wagw_core::content::MessageContent;
    use wagw_core::conversation::auto_reply::create_rule;
    use wagw_core::model::auto_reply::AutoReplyRule;

    let gw = TestGateway::start(true).await;
    let tenant = gw.gateway.seeded.as_ref().expect("seeded").tenant;
    create_rule(
        &*gw.gateway.state.store,
        &AutoReplyRule::new(
            tenant,
            "tagihan",
            vec!["tagihan".into()],
            MessageContent::text("Tagihan Anda Rp 150.000"),
        ),
    )
    .await
    .expect("rule");
    let inbound = gw
        .post(
            "/v1/sandbox/inbound",
            json!({ "channel_id": gw.channel, "from": "08123456789", "text": "Mau tanya tagihan" }),
        )
        .await;
    assert_eq!(inbound.status, StatusCode::OK, "{}", inbound.text);
    gw.wait_for("the auto-reply is sent", async || {
        let m = gw.get("/v1/messages?direction=outbound&q=150.000").await;
        m.json["data"].as_array().is_some_and(|a| {
            a.len() == 1 && matches!(a[0]["status"].as_str(), Some("sent" | "delivered" | "read"))
        })
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let replies = gw.get("/v1/messages?direction=outbound&q=150.000").await;
    assert_eq!(replies.json["data"].as_array().map(Vec::len), Some(1));
    gw.stop().await;
}
