//! Media upload (type from the bytes, Meta's limits, SSRF guard), campaign live progress over
//! Server-Sent Events, and `Idempotency-Key` on campaign creation, in-process against a
//! sandbox gateway.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestGateway, error_code};
use serde_json::{Value, json};

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

/// One form part: `(name, file name, content type, bytes)`.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body.
fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "wagw-test-boundary";
    let mut body = Vec::new();
    for (name, file_name, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = file_name {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(gw: &TestGateway, parts: &[Part<'_>]) -> common::Answer {
    let (content_type, body) = multipart(parts);
    gw.send(
        Request::post("/v1/media")
            .header("x-api-key", gw.key.clone())
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_checked_by_its_bytes_and_uploaded_to_meta() {
    let gw = TestGateway::start(false).await;
    let channel = gw.channel.clone();
    let ch = channel.as_bytes();

    let ok = upload(
        &gw,
        &[
            ("channel_id", None, None, ch),
            ("file", Some("logo.png"), Some("image/png"), PNG),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(ok.json["data"]["mime_type"], "image/png");
    assert_eq!(ok.json["data"]["kind"], "image");
    let media_id = ok.json["data"]["id"].as_str().expect("media id").to_owned();
    // The emulator knows it: a message can name it.
    let sent = gw
        .post("/v1/messages", json!({ "channel_id": channel, "to": "08123456789", "type": "image", "image": { "id": media_id } }))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);

    // A name and a declared type that lie do not make a PDF an image.
    let lying = upload(
        &gw,
        &[
            ("channel_id", None, None, ch),
            (
                "file",
                Some("photo.jpg"),
                Some("image/jpeg"),
                b"%PDF-1.7\n%\xe2\xe3\n",
            ),
        ],
    )
    .await;
    assert_eq!(
        lying.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        lying.text
    );
    assert_eq!(error_code(&lying), "INVALID_CONTENT");
    // Undeclared, the PDF is a document.
    let pdf = upload(
        &gw,
        &[
            ("channel_id", None, None, ch),
            ("file", Some("invoice.pdf"), None, b"%PDF-1.7\n%\xe2\xe3\n"),
        ],
    )
    .await;
    assert_eq!(pdf.status, StatusCode::CREATED, "{}", pdf.text);
    assert_eq!(pdf.json["data"]["kind"], "document");

    // Over Meta's 5 MB image limit (under the route's body limit).
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let too_big = upload(
        &gw,
        &[
            ("channel_id", None, None, ch),
            ("file", Some("big.png"), None, &big),
        ],
    )
    .await;
    assert_eq!(
        too_big.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_big.text
    );
    assert_eq!(error_code(&too_big), "FILE_TOO_LARGE");
    assert_eq!(too_big.json["details"]["limit"], 5 * 1024 * 1024);

    for (parts, code) in [
        (vec![("file", Some("x.png"), None, PNG)], "INVALID_INPUT"),
        (vec![("channel_id", None, None, ch)], "INVALID_INPUT"),
        (
            vec![
                ("channel_id", None, None, ch),
                ("file", Some("x.bin"), None, &[0u8, 1, 2, 0xff][..]),
            ],
            "INVALID_CONTENT",
        ),
        (
            vec![
                ("channel_id", None, None, ch),
                ("file", Some("x.png"), None, PNG),
                ("caption", None, None, b"x"),
            ],
            "INVALID_INPUT",
        ),
        (
            vec![
                (
                    "channel_id",
                    None,
                    None,
                    uuid::Uuid::now_v7().to_string().as_bytes(),
                ),
                ("file", Some("x.png"), None, PNG),
            ],
            "CHANNEL_NOT_FOUND",
        ),
    ] {
        let a = upload(&gw, &parts).await;
        assert!(a.status.is_client_error(), "{}", a.text);
        assert_eq!(error_code(&a), code, "{}", a.text);
    }
    let not_multipart = gw.post("/v1/media", json!({ "file": "x" })).await;
    assert_eq!(error_code(&not_multipart), "INVALID_INPUT");

    // From a URL: the SSRF guard refuses loopback, private and metadata addresses.
    for url in [
        format!("http://{}/healthz", gw.addr),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/x.png".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let a = gw
            .post(
                "/v1/media/from-url",
                json!({ "channel_id": channel, "url": url }),
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{url}: {}", a.text);
        assert_eq!(error_code(&a), "FORBIDDEN");
    }
    let bad_url = gw
        .post(
            "/v1/media/from-url",
            json!({ "channel_id": channel, "url": "not a url" }),
        )
        .await;
    assert_eq!(error_code(&bad_url), "INVALID_INPUT");
    let other = gw
        .post(
            "/v1/media/from-url",
            json!({ "channel_id": uuid::Uuid::now_v7(), "url": "https://example.com/x.png" }),
        )
        .await;
    assert_eq!(error_code(&other), "CHANNEL_NOT_FOUND");
    gw.stop().await;
}

fn campaign(name: &str) -> Value {
    json!({ "name": name, "channel_id": "{channel}", "content": { "kind": "text", "body": "Promo akhir tahun" },
            "numbers": ["08123456789", "08123456788"] })
}

fn with_channel(mut v: Value, channel: &str) -> Value {
    v["channel_id"] = json!(channel);
    v
}

async fn create_with_key(gw: &TestGateway, key: &str, body: &Value) -> common::Answer {
    gw.send(
        Request::post("/v1/campaigns")
            .header("x-api-key", gw.key.clone())
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_answers_the_first_campaign_again() {
    let gw = TestGateway::start(false).await;
    let body = with_channel(campaign("promo"), &gw.channel);
    let first = create_with_key(&gw, "blast-2026-11", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.json["data"]["created"], true);
    let id = first.json["data"]["campaign"]["id"].clone();

    let again = create_with_key(&gw, "blast-2026-11", &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["data"]["campaign"]["id"], id);
    assert_eq!(again.json["data"]["created"], false);
    assert_eq!(again.json["data"]["campaign"]["counters"]["total"], 2);

    let changed = create_with_key(
        &gw,
        "blast-2026-11",
        &with_channel(campaign("other"), &gw.channel),
    )
    .await;
    assert_eq!(changed.status, StatusCode::CONFLICT, "{}", changed.text);
    assert_eq!(error_code(&changed), "CONFLICT");

    let bad_key = create_with_key(&gw, "", &body).await;
    assert_eq!(error_code(&bad_key), "INVALID_INPUT");

    let other_key = create_with_key(&gw, "blast-2026-12", &body).await;
    assert_eq!(other_key.status, StatusCode::CREATED, "{}", other_key.text);
    assert_ne!(other_key.json["data"]["campaign"]["id"], id);
    let all = gw.get("/v1/campaigns").await;
    assert_eq!(
        all.json["data"].as_array().map(Vec::len),
        Some(2),
        "{}",
        all.text
    );

    // The same key in another tenant is another campaign.
    let (_, b_key) = gw.other_tenant("enterprise").await;
    let b_channel = gw
        .call("POST", "/v1/channels", Some(&b_key), Some(json!({ "name": "b", "phone_number_id": "555", "waba_id": "1", "display_number": "08111111111", "connected": true })))
        .await;
    let b_channel = b_channel.json["data"]["id"]
        .as_str()
        .expect("channel")
        .to_owned();
    let b = gw
        .send(
            Request::post("/v1/campaigns")
                .header("x-api-key", b_key)
                .header("idempotency-key", "blast-2026-11")
                .header("content-type", "application/json")
                .body(Body::from(
                    with_channel(campaign("promo"), &b_channel).to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.text);
    assert_ne!(b.json["data"]["campaign"]["id"], id);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_progress_streams_until_the_campaign_ends() {
    let gw = TestGateway::start(false).await;
    let created = gw
        .post(
            "/v1/campaigns",
            with_channel(campaign("promo"), &gw.channel),
        )
        .await;
    let id = created.json["data"]["campaign"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stream = gw.send(
        Request::get(format!("/v1/campaigns/{id}/events"))
            .header("x-api-key", gw.key.clone())
            .body(Body::empty())
            .expect("request"),
    );
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        gw.post(&format!("/v1/campaigns/{id}/cancel"), json!({}))
            .await
    };
    let (events, cancelled) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(stream, cancel)
    })
    .await
    .expect("the stream ends once the campaign is cancelled");
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(events.status, StatusCode::OK);
    assert!(
        events.headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/event-stream")),
        "{:?}",
        events.headers
    );
    let progress: Vec<Value> = events
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("progress JSON"))
        .collect();
    assert!(progress.len() >= 2, "{}", events.text);
    assert_eq!(progress[0]["state"], "draft", "{}", events.text);
    assert_eq!(progress[0]["counters"]["total"], 2);
    assert_eq!(progress.last().expect("last")["state"], "cancelled");
    // Only changes are sent: the draft is not repeated every second.
    assert_eq!(
        progress.iter().filter(|p| p["state"] == "draft").count(),
        1,
        "{}",
        events.text
    );
    assert!(events.text.contains("event: progress"), "{}", events.text);

    let unknown = gw
        .get(&format!("/v1/campaigns/{}/events", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    gw.stop().await;
}
