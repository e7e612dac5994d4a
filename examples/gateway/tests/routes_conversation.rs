//! Templates, auto-reply rules, flows, analytics and number registration, in-process against a
//! sandbox gateway: every route exercised, bad input on every write route answered with a
//! typed error and nothing stored.

mod common;

use axum::http::StatusCode;
use common::{TestGateway, error_code};
use serde_json::{Value, json};

fn len(answer: &common::Answer) -> usize {
    answer.json["data"].as_array().map_or(0, Vec::len)
}

fn tagihan(channel: &str) -> Value {
    json!({
        "channel_id": channel, "name": "tagihan", "language": "id", "category": "UTILITY",
        "components": [
            { "type": "HEADER", "format": "TEXT", "text": "Tagihan {{1}}" },
            { "type": "BODY", "text": "Halo {{1}}, tagihan {{2}} sebesar {{3}}. Terima kasih {{1}}." },
            { "type": "FOOTER", "text": "PT Contoh" },
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_submitted_synced_dry_run_and_deleted() {
    let gw = TestGateway::start(false).await;
    let before = len(&gw.get("/v1/templates").await);
    assert_eq!(before, 2, "the sandbox seeds hello_world per number");

    // Bad input stores nothing.
    let mut bad_name = tagihan(&gw.channel);
    bad_name["name"] = json!("Tagihan Bulanan");
    let mut no_body = tagihan(&gw.channel);
    no_body["components"] = json!([{ "type": "FOOTER", "text": "x" }]);
    let mut bad_category = tagihan(&gw.channel);
    bad_category["category"] = json!("PROMO");
    let mut unknown_field = tagihan(&gw.channel);
    unknown_field["colour"] = json!("red");
    let unknown_channel = tagihan(&uuid::Uuid::now_v7().to_string());
    for (body, status, code) in [
        (bad_name, 422, "INVALID_INPUT"),
        (no_body, 422, "INVALID_INPUT"),
        (bad_category, 400, "INVALID_INPUT"),
        (unknown_field, 400, "INVALID_INPUT"),
        (unknown_channel, 404, "CHANNEL_NOT_FOUND"),
    ] {
        let a = gw.post("/v1/templates", body.clone()).await;
        assert_eq!(a.status.as_u16(), status, "{body}: {}", a.text);
        assert_eq!(error_code(&a), code, "{body}");
    }
    assert_eq!(len(&gw.get("/v1/templates").await), before);

    // Created and submitted through the transport: pending at creation.
    let created = gw.post("/v1/templates", tagihan(&gw.channel)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created.json["data"]["status"], "PENDING");
    assert_eq!(created.json["data"]["body_params"], 3);
    let remote = created.json["data"]["remote_id"]
        .as_str()
        .expect("remote id")
        .to_owned();
    let sandbox = gw.gateway.state.sandbox.clone().expect("sandbox");
    // Meta (the emulator) has it; its review decides within 100 ms, so only existence is
    // checked here.
    assert!(sandbox.emulator.template_status(&remote).is_some());
    let again = gw.post("/v1/templates", tagihan(&gw.channel)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(error_code(&again), "CONFLICT");

    // A local draft, submitted later.
    let mut draft = tagihan(&gw.channel);
    draft["name"] = json!("pengingat");
    draft["submit"] = json!(false);
    let draft = gw.post("/v1/templates", draft).await;
    assert_eq!(draft.json["data"]["status"], "DRAFT", "{}", draft.text);
    let draft_id = draft.json["data"]["id"].as_str().expect("id").to_owned();
    let submitted = gw
        .post(&format!("/v1/templates/{draft_id}/submit"), json!({}))
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text);
    assert_eq!(submitted.json["data"]["status"], "PENDING");
    let twice = gw
        .post(&format!("/v1/templates/{draft_id}/submit"), json!({}))
        .await;
    assert_eq!(error_code(&twice), "INVALID_STATE");

    // Meta approves; a sync brings the status in.
    assert!(sandbox.emulator.set_template_status(&remote, "APPROVED"));
    let synced = gw
        .post("/v1/templates/sync", json!({ "channel_id": gw.channel }))
        .await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.text);
    assert!(
        synced.json["data"][0]["listed"].as_u64() >= Some(3),
        "{}",
        synced.text
    );
    let read = gw.get(&format!("/v1/templates/{id}")).await;
    assert_eq!(read.json["data"]["status"], "APPROVED", "{}", read.text);
    for body in [json!({ "channel_id": "x" }), json!({ "channels": [] })] {
        assert_eq!(
            error_code(&gw.post("/v1/templates/sync", body).await),
            "INVALID_INPUT"
        );
    }
    let all = gw.post("/v1/templates/sync", json!({})).await;
    assert_eq!(
        all.json["data"].as_array().map(Vec::len),
        Some(2),
        "{}",
        all.text
    );

    // Dry run: parameters counted, filled, rendered; nothing sent.
    let dry_path = format!("/v1/templates/{id}/dry-run");
    let dry = |body: Value| gw.post(&dry_path, body);
    let few = dry(json!({ "header_params": ["November"], "body_params": ["Budi", "INV-7"] })).await;
    assert_eq!(few.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", few.text);
    assert_eq!(error_code(&few), "TEMPLATE_PARAM_MISMATCH");
    assert_eq!(few.json["details"]["expected"], 3);
    assert_eq!(few.json["details"]["actual"], 2);
    let many = dry(json!({ "header_params": ["November", "x"], "body_params": ["Budi", "INV-7", "Rp 150.000"] })).await;
    assert_eq!(error_code(&many), "TEMPLATE_PARAM_MISMATCH");
    assert_eq!(many.json["details"]["component"], "header");
    let unknown = dry(json!({ "params": [] })).await;
    assert_eq!(error_code(&unknown), "INVALID_INPUT");
    let good = dry(
        json!({ "header_params": ["November"], "body_params": ["Budi", "INV-7", "Rp 150.000"] }),
    )
    .await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text);
    let d = &good.json["data"];
    assert_eq!(
        d["rendered"]["body"],
        "Halo Budi, tagihan INV-7 sebesar Rp 150.000. Terima kasih Budi."
    );
    assert_eq!(d["rendered"]["header"], "Tagihan November");
    assert_eq!(d["rendered"]["footer"], "PT Contoh");
    assert_eq!(d["sendable"], true);
    assert_eq!(d["message"]["type"], "template");
    assert_eq!(d["message"]["template"]["name"], "tagihan");
    assert_eq!(
        d["message"]["template"]["components"][1]["parameters"][2]["text"],
        "Rp 150.000"
    );
    assert_eq!(
        len(&gw.get("/v1/messages").await),
        0,
        "a dry run sends nothing"
    );

    // Deleted here and at Meta.
    let deleted = gw
        .call(
            "DELETE",
            &format!("/v1/templates/{id}"),
            Some(&gw.key.clone()),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(
        error_code(&gw.get(&format!("/v1/templates/{id}")).await),
        "TEMPLATE_NOT_FOUND"
    );
    assert_eq!(
        sandbox
            .emulator
            .template_id(wagw_gateway_waba(), "tagihan", "id"),
        None
    );
    let activity = gw.get("/v1/activity?limit=1000").await;
    assert!(
        activity.text.contains(&id),
        "the activity log names the template"
    );
    gw.stop().await;
}

fn wagw_gateway_waba() -> &'static str {
    gateway::sandbox::WABA
}

fn harga() -> Value {
    json!({
        "name": "harga", "keywords": ["harga", "price"],
        "reply": { "type": "text", "text": { "body": "Mulai Rp 150.000" } },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_reply_rules_are_validated_and_every_change_is_logged() {
    let gw = TestGateway::start(false).await;
    let with = |patch: Value| {
        let mut rule = harga();
        for (k, v) in patch.as_object().expect("object") {
            rule[k] = v.clone();
        }
        rule
    };
    for (body, status, code) in [
        (with(json!({ "keywords": [] })), 422, "INVALID_INPUT"),
        (with(json!({ "keywords": ["  "] })), 422, "INVALID_INPUT"),
        (with(json!({ "name": " " })), 422, "INVALID_INPUT"),
        (
            with(json!({ "matching": "regex", "keywords": ["harga("] })),
            422,
            "INVALID_INPUT",
        ),
        (with(json!({ "matching": "fuzzy" })), 400, "INVALID_INPUT"),
        (with(json!({ "when": "closed" })), 422, "INVALID_INPUT"),
        (
            with(json!({ "cooldown_secs": 99_999_999u64 })),
            422,
            "INVALID_INPUT",
        ),
        (
            with(json!({ "reply": { "type": "text", "text": { "body": "" } } })),
            422,
            "INVALID_CONTENT",
        ),
        (
            with(json!({ "reply": { "type": "hologram" } })),
            422,
            "INVALID_INPUT",
        ),
        (
            with(json!({ "channel_id": uuid::Uuid::now_v7() })),
            404,
            "CHANNEL_NOT_FOUND",
        ),
        (
            with(json!({ "action": { "kind": "start_flow", "flow_id": uuid::Uuid::now_v7() } })),
            404,
            "NOT_FOUND",
        ),
        (with(json!({ "extra": 1 })), 400, "INVALID_INPUT"),
    ] {
        let a = gw.post("/v1/auto-replies", body.clone()).await;
        assert_eq!(a.status.as_u16(), status, "{body}: {}", a.text);
        assert_eq!(error_code(&a), code, "{body}");
    }
    assert_eq!(len(&gw.get("/v1/auto-replies").await), 0, "nothing stored");

    let created = gw
        .post(
            "/v1/auto-replies",
            with(json!({
                "channel_id": gw.channel, "matching": "starts_with", "priority": 3,
                "when": "closed", "cooldown_secs": 600,
                "business_hours": { "days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "open": "08:00:00", "close": "17:00:00" },
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created.json["data"]["matching"], "starts_with");
    assert_eq!(created.json["data"]["channel_id"], json!(gw.channel));
    let path = format!("/v1/auto-replies/{id}");
    assert_eq!(gw.get(&path).await.json["data"]["cooldown_secs"], 600);

    // A patch that would break the rule changes nothing.
    let key = gw.key.clone();
    let patch = |body: Value| gw.call("PATCH", &path, Some(&key), Some(body));
    for body in [
        json!({ "keywords": [" "] }),
        json!({ "business_hours": null }),
        json!({ "reply": { "type": "text", "text": {} } }),
        json!({ "channel_id": uuid::Uuid::now_v7() }),
    ] {
        let a = patch(body.clone()).await;
        assert!(a.status.is_client_error(), "{body}: {}", a.text);
        error_code(&a);
    }
    let unchanged = gw.get(&path).await;
    assert_eq!(
        unchanged.json["data"]["keywords"],
        json!(["harga", "price"])
    );
    assert!(unchanged.json["data"]["business_hours"].is_object());

    let patched = patch(
        json!({ "priority": 9, "when": "always", "business_hours": null, "channel_id": null }),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json["data"]["priority"], 9);
    assert_eq!(patched.json["data"]["channel_id"], Value::Null);
    assert_eq!(len(&gw.get("/v1/auto-replies").await), 1);

    // Trying texts: the rule answers "Harga?" but not "berapa".
    let try_text = |text: &str| {
        gw.post(
            "/v1/auto-replies/test",
            json!({ "channel_id": gw.channel, "text": text }),
        )
    };
    let hit = try_text("Harga kaos?").await;
    assert_eq!(hit.status, StatusCode::OK, "{}", hit.text);
    assert_eq!(hit.json["data"]["answer"]["id"], json!(id), "{}", hit.text);
    let miss = try_text("berapa").await;
    assert_eq!(miss.json["data"]["answer"], Value::Null, "{}", miss.text);
    assert_eq!(error_code(&try_text("").await), "INVALID_INPUT");

    let deleted = gw.call("DELETE", &path, Some(&key), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(error_code(&gw.get(&path).await), "NOT_FOUND");

    // Every mutation, refused ones included, is in the activity log with its route.
    let activity = gw.get("/v1/activity?limit=1000").await;
    let entries = activity.json["data"].as_array().expect("entries");
    let of_rule = entries
        .iter()
        .filter(|e| e["entity_id"].as_str() == Some(id.as_str()))
        .count();
    assert_eq!(of_rule, 3, "create, patch, delete: {}", activity.text);
    let refused = entries
        .iter()
        .filter(|e| e["action"] == "POST /v1/auto-replies" && e["details"]["status"] != 201)
        .count();
    assert_eq!(refused, 12, "{}", activity.text);
    gw.stop().await;
}

const GVINUM: &str = r#"{
  "root": {"type": "text", "state": "root",
           "content": "Selamat datang! Pilih layanan:\n1. Produk\n2. Bantuan",
           "options": {"1": "produk", "2": "bantuan"}},
  "produk": {"type": "text", "state": "produk", "content": "Katalog: kaos Rp 150.000"},
  "bantuan": {"type": "text", "state": "bantuan", "content": "Hubungi 08123456789"}
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_import_gvinum_run_dry_and_activate_per_number() {
    let gw = TestGateway::start(false).await;
    let key = gw.key.clone();

    // A ChatFlow with a dangling option: refused with the option's pointer, nothing stored.
    let mut broken: Value = serde_json::from_str(GVINUM).expect("json");
    broken["root"]["options"]["3"] = json!("nowhere");
    let refused = gw.post("/v1/flows/import/gvinum?name=toko", broken).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(error_code(&refused), "INVALID_INPUT");
    let issues = refused.json["details"]["issues"]
        .as_array()
        .expect("issues");
    assert!(
        issues
            .iter()
            .any(|i| i["pointer"] == "/nodes/root/options/3" && i["kind"] == "missing_target"),
        "{}",
        refused.text
    );
    for (path, body) in [
        ("/v1/flows/import/gvinum?name=toko", json!([1, 2])),
        (
            "/v1/flows/import/gvinum?name=%20",
            serde_json::from_str(GVINUM).expect("json"),
        ),
        (
            "/v1/flows/import/gvinum",
            serde_json::from_str(GVINUM).expect("json"),
        ),
        (
            "/v1/flows",
            json!({ "name": "x", "document": { "version": 1, "start": "a", "nodes": {} } }),
        ),
        ("/v1/flows", json!({ "name": "x", "document": "nope" })),
    ] {
        let a = gw.post(path, body).await;
        assert!(a.status.is_client_error(), "{path}: {}", a.text);
        error_code(&a);
    }
    assert_eq!(len(&gw.get("/v1/flows").await), 0, "nothing stored");

    let imported = gw
        .post(
            "/v1/flows/import/gvinum?name=toko&triggers=menu,halo",
            serde_json::from_str(GVINUM).expect("json"),
        )
        .await;
    assert_eq!(imported.status, StatusCode::CREATED, "{}", imported.text);
    let flow = imported.json["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(imported.json["data"]["document"]["start"], "root");
    assert_eq!(imported.json["data"]["triggers"], json!(["menu", "halo"]));
    assert_eq!(imported.json["data"]["active"], false);

    // Dry run: the first text starts it, the next answers; nothing sent or stored.
    let dry = gw
        .post(
            &format!("/v1/flows/{flow}/dry-run"),
            json!({ "texts": ["halo", "1"] }),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
    let turns = &dry.json["data"]["turns"];
    assert!(
        turns[0]["replies"][0]["text"]["body"]
            .as_str()
            .is_some_and(|t| t.starts_with("Selamat datang")),
        "{}",
        dry.text
    );
    assert_eq!(
        turns[1]["replies"][0]["text"]["body"],
        "Katalog: kaos Rp 150.000"
    );
    assert_eq!(
        dry.json["data"]["session"]["state"], "ended",
        "{}",
        dry.text
    );
    let waiting = gw
        .post(
            &format!("/v1/flows/{flow}/dry-run"),
            json!({ "texts": ["halo"] }),
        )
        .await;
    assert_eq!(waiting.json["data"]["session"]["state"], "active");
    assert_eq!(waiting.json["data"]["session"]["node"], "root");
    for body in [
        json!({ "texts": [] }),
        json!({ "texts": [""] }),
        json!({ "text": "x" }),
    ] {
        let a = gw.post(&format!("/v1/flows/{flow}/dry-run"), body).await;
        assert!(a.status.is_client_error(), "{}", a.text);
        error_code(&a);
    }
    assert_eq!(
        len(&gw.get("/v1/messages").await),
        0,
        "a dry run sends nothing"
    );
    assert_eq!(
        gw.get(&format!("/v1/flows/{flow}")).await.json["data"]["active"],
        false
    );

    // A replacement with errors changes nothing; a good one is kept.
    let flow_path = format!("/v1/flows/{flow}");
    let bad = gw
        .call("PUT", &flow_path, Some(&key), Some(json!({ "name": "toko", "document": { "version": 1, "start": "nope", "nodes": {} } })))
        .await;
    assert_eq!(error_code(&bad), "INVALID_INPUT");
    assert_eq!(
        gw.get(&flow_path).await.json["data"]["document"]["start"],
        "root"
    );

    // Per number: setting the channel's flow activates it; deleting it is refused meanwhile.
    let channel_flow = format!("/v1/channels/{}/flow", gw.channel);
    let set = gw.post(&channel_flow, json!({ "flow_id": flow })).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.json["data"]["active_flow"], json!(flow));
    let channel = gw.get(&format!("/v1/channels/{}", gw.channel)).await;
    assert_eq!(channel.json["data"]["active_flow"], json!(flow));
    let read = gw.get(&flow_path).await;
    assert_eq!(read.json["data"]["active"], true);
    assert_eq!(read.json["data"]["version"], 1);
    let in_use = gw.call("DELETE", &flow_path, Some(&key), None).await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{}", in_use.text);
    let unknown = gw
        .post(&channel_flow, json!({ "flow_id": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    assert_eq!(
        gw.get(&format!("/v1/channels/{}", gw.channel)).await.json["data"]["active_flow"],
        json!(flow),
        "a refused change keeps the flow"
    );

    // Replacing an active flow publishes it again.
    let replaced = gw
        .call("PUT", &flow_path, Some(&key), Some(json!({ "name": "toko 2", "document": serde_json::from_str::<Value>(GVINUM).expect("json") })))
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(replaced.json["data"]["version"], 2);

    // Deactivating the flow clears the number; then it can go.
    let off = gw
        .post(&format!("/v1/flows/{flow}/deactivate"), json!({}))
        .await;
    assert_eq!(off.json["data"]["active"], false, "{}", off.text);
    assert_eq!(
        gw.get(&format!("/v1/channels/{}", gw.channel)).await.json["data"]["active_flow"],
        Value::Null
    );
    let on = gw
        .post(&format!("/v1/flows/{flow}/activate"), json!({}))
        .await;
    assert_eq!(on.json["data"]["active"], true, "{}", on.text);
    let cleared = gw.post(&channel_flow, json!({ "flow_id": null })).await;
    assert_eq!(cleared.json["data"]["active_flow"], Value::Null);
    let gone = gw.call("DELETE", &flow_path, Some(&key), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_eq!(error_code(&gw.get(&flow_path).await), "NOT_FOUND");

    // An envelope document created directly.
    let created = gw
        .post(
            "/v1/flows",
            json!({ "name": "survei", "triggers": ["survei"], "document": {
                "version": 1, "start": "tanya", "nodes": {
                    "tanya": { "type": "ask", "message": "Nama Anda?", "input": { "kind": "text" }, "save_as": "nama", "next": "bye" },
                    "bye": { "type": "end", "message": "Terima kasih {{ nama }}" } } } }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["data"]["id"].as_str().expect("id");
    let dry = gw
        .post(
            &format!("/v1/flows/{id}/dry-run"),
            json!({ "texts": ["survei", "Budi"] }),
        )
        .await;
    assert_eq!(
        dry.json["data"]["session"]["variables"]["nama"], "Budi",
        "{}",
        dry.text
    );
    assert_eq!(
        dry.json["data"]["turns"][1]["replies"][0]["text"]["body"],
        "Terima kasih Budi"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_count_in_the_tenants_days() {
    let gw = TestGateway::start(false).await;
    for to in ["08123456789", "08123456788"] {
        let sent = gw
            .post("/v1/messages", json!({ "channel_id": gw.channel, "to": to, "type": "text", "text": { "body": "x" } }))
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    }
    let volume = gw.get("/v1/analytics/messages").await;
    assert_eq!(volume.status, StatusCode::OK, "{}", volume.text);
    let days = volume.json["data"]["days"].as_array().expect("days");
    assert_eq!(days.len(), 1, "{}", volume.text);
    assert_eq!(days[0]["outbound_total"], 2);
    assert_eq!(days[0]["channel_id"], json!(gw.channel));
    assert_eq!(volume.json["data"]["timezone"], "Asia/Jakarta");
    let other_channel = gw
        .get(&format!(
            "/v1/analytics/messages?channel_id={}",
            gw.gateway.seeded.clone().expect("seeded").channels[1]
        ))
        .await;
    assert_eq!(
        other_channel.json["data"]["days"],
        json!([]),
        "{}",
        other_channel.text
    );
    for path in [
        "/v1/analytics/messages?from=2026-11-10&to=2026-11-01",
        "/v1/analytics/messages?from=2020-01-01&to=2026-01-01",
        "/v1/analytics/messages?from=yesterday",
        "/v1/analytics/auto-replies?to=2026-13-01",
    ] {
        let a = gw.get(path).await;
        assert!(a.status.is_client_error(), "{path}: {}", a.text);
        error_code(&a);
    }
    let answers = gw.get("/v1/analytics/auto-replies").await;
    assert_eq!(answers.status, StatusCode::OK, "{}", answers.text);
    assert_eq!(answers.json["data"]["unanswered"], 0);

    let campaign = gw
        .post(
            "/v1/campaigns",
            json!({ "name": "promo", "channel_id": gw.channel,
            "content": { "kind": "text", "body": "Promo" }, "numbers": ["08123456789", "0812"] }),
        )
        .await;
    let id = campaign.json["data"]["campaign"]["id"]
        .as_str()
        .expect("id");
    let funnel = gw.get(&format!("/v1/analytics/campaigns/{id}")).await;
    assert_eq!(funnel.status, StatusCode::OK, "{}", funnel.text);
    assert_eq!(funnel.json["data"]["total"], 2, "{}", funnel.text);
    assert_eq!(funnel.json["data"]["replied"], 0);
    assert_eq!(funnel.json["data"]["reply_window_hours"], 72);
    let bad = gw
        .get(&format!(
            "/v1/analytics/campaigns/{id}?reply_window_hours=0"
        ))
        .await;
    assert_eq!(error_code(&bad), "INVALID_INPUT");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_registers_with_the_code_meta_sends() {
    let gw = TestGateway::start(false).await;
    let base = format!("/v1/channels/{}", gw.channel);
    for (step, body) in [
        ("request-code", json!({ "method": "FAX" })),
        ("request-code", json!({ "language": "id; drop" })),
        ("verify-code", json!({ "code": "12345" })),
        ("register", json!({ "pin": "12ab56" })),
        ("register", json!({})),
    ] {
        let a = gw.post(&format!("{base}/{step}"), body.clone()).await;
        assert!(a.status.is_client_error(), "{step} {body}: {}", a.text);
        error_code(&a);
    }
    let requested = gw
        .post(&format!("{base}/request-code"), json!({ "method": "SMS" }))
        .await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.text);
    assert_eq!(requested.json["data"]["step"], "code_requested");
    let sandbox = gw.get("/v1/sandbox").await;
    let code = sandbox.json["data"]["numbers"][0]["otp_code"]
        .as_str()
        .expect("the sandbox shows the code")
        .to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = gw
        .post(&format!("{base}/verify-code"), json!({ "code": wrong }))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let verified = gw
        .post(&format!("{base}/verify-code"), json!({ "code": code }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let registered = gw
        .post(&format!("{base}/register"), json!({ "pin": "123456" }))
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    assert_eq!(registered.json["data"]["status"], "connected");
    gw.stop().await;
}

#[test]
fn the_new_routes_describe_themselves_for_openapi() {
    use gateway::api::{analytics, auto_reply, flows, media, registration, templates};
    let mut doc = templates::routes().split_for_parts().1;
    for part in [
        auto_reply::routes(),
        flows::routes(),
        registration::routes(),
        analytics::routes(),
        media::routes(),
    ] {
        doc.merge(part.split_for_parts().1);
    }
    let doc = serde_json::to_value(&doc).expect("document");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/templates", "post"),
        ("/templates/sync", "post"),
        ("/templates/{id}", "delete"),
        ("/templates/{id}/submit", "post"),
        ("/templates/{id}/dry-run", "post"),
        ("/auto-replies", "get"),
        ("/auto-replies/{id}", "patch"),
        ("/auto-replies/test", "post"),
        ("/flows", "post"),
        ("/flows/import/gvinum", "post"),
        ("/flows/{id}", "put"),
        ("/flows/{id}/activate", "post"),
        ("/flows/{id}/deactivate", "post"),
        ("/flows/{id}/dry-run", "post"),
        ("/channels/{id}/flow", "post"),
        ("/channels/{id}/request-code", "post"),
        ("/channels/{id}/verify-code", "post"),
        ("/channels/{id}/register", "post"),
        ("/media", "post"),
        ("/media/from-url", "post"),
        ("/analytics/messages", "get"),
        ("/analytics/auto-replies", "get"),
        ("/analytics/campaigns/{id}", "get"),
    ] {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is described"))[method];
        assert!(operation.is_object(), "{method} {path} is described");
        let answers = operation["responses"].as_object().expect("responses");
        assert!(
            answers.keys().any(|status| status.starts_with('2')),
            "{method} {path} describes its success"
        );
    }
    assert!(
        doc["components"]["schemas"]["ErrorBody"].is_object(),
        "the error shape is a schema"
    );
}
