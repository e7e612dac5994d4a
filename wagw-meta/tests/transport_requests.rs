//! What `MetaTransport` puts on the wire and how it reads Meta's answers: paths with the
//! version, bearer tokens, exact JSON bodies, multipart uploads, pagination.

mod transport_support;

use bytes::Bytes;
use serde_json::{Value, json};
use transport_support::{DEFAULT_TOKEN, PNID, WABA, channel, multipart_parts, transport};
use wagw_core::TransportErrorKind;
use wagw_core::content::{
    Interactive, Media, MessageContent, OutboundMessage, ReplyButton, Template,
};
use wagw_core::model::Secret;
use wagw_core::model::template::{TemplateCategory, TemplateDraft, TemplateStatus};
use wagw_core::transport::{CodeMethod, MediaUpload, Transport};
use wagw_meta::MetaTransport;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn sent_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
                      "message_status": "accepted"}]
    }))
}

fn success() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"success": true}))
}

fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

#[tokio::test]
async fn send_text_posts_exact_body_with_default_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PNID}/messages")))
        .and(header(
            "authorization",
            format!("Bearer {DEFAULT_TOKEN}").as_str(),
        ))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "to": "+16505551234", "type": "text",
            "text": {"body": "Halo, pesanan Anda sudah dikirim"}
        })))
        .respond_with(sent_ok())
        .expect(1)
        .mount(&server)
        .await;
    let message = OutboundMessage::new(
        "+16505551234",
        MessageContent::text("Halo, pesanan Anda sudah dikirim"),
    );
    let receipt = transport(&server.uri())
        .send(&channel(None), &message)
        .await
        .expect("sent");
    assert_eq!(
        receipt.wamid,
        "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    );
    assert_eq!(receipt.wa_id.as_deref(), Some("16505551234"));
    assert_eq!(receipt.accepted_status.as_deref(), Some("accepted"));
}

#[tokio::test]
async fn channel_token_wins_over_default() {
    let server = MockServer::start().await;
    Mock::given(header("authorization", "Bearer channel-token"))
        .respond_with(sent_ok())
        .expect(1)
        .mount(&server)
        .await;
    let message = OutboundMessage::new("628123", MessageContent::text("x"));
    transport(&server.uri())
        .send(&channel(Some("channel-token")), &message)
        .await
        .expect("sent with the channel token");
}

#[tokio::test]
async fn missing_token_is_an_auth_error_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sent_ok())
        .expect(0)
        .mount(&server)
        .await;
    let transport = MetaTransport::builder()
        .base_url(server.uri())
        .build()
        .unwrap();
    let message = OutboundMessage::new("628123", MessageContent::text("x"));
    let error = transport.send(&channel(None), &message).await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Auth);
}

#[tokio::test]
async fn receipt_without_message_status_or_wa_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "contacts": [{"input": "group-1"}],
            "messages": [{"id": "wamid.G"}]})))
        .mount(&server)
        .await;
    let message = OutboundMessage::new("group-1", MessageContent::text("x"));
    let receipt = transport(&server.uri())
        .send(&channel(None), &message)
        .await
        .unwrap();
    assert_eq!((receipt.wa_id, receipt.accepted_status), (None, None));
}

#[tokio::test]
async fn odd_success_body_is_outcome_unknown_not_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages": []})))
        .mount(&server)
        .await;
    let message = OutboundMessage::new("628123", MessageContent::text("x"));
    let error = transport(&server.uri())
        .send(&channel(None), &message)
        .await
        .unwrap_err();
    // A 2xx without a wamid: Meta took the message, so the dispatcher must not resend it
    // silently; it applies its unknown-outcome policy.
    assert_eq!(error.kind, TransportErrorKind::OutcomeUnknown);
}

#[tokio::test]
async fn interactive_media_template_and_reply_bodies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sent_ok())
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(None);
    let messages = [
        OutboundMessage::new(
            "628123",
            Interactive::buttons(
                "Need help?",
                [ReplyButton::new("yes", "Yes"), ReplyButton::new("no", "No")],
            ),
        ),
        OutboundMessage::new(
            "628123",
            MessageContent::image(Media::from_link("https://example.com/a.jpg")),
        )
        .in_reply_to("wamid.prev")
        .with_callback_data("order-9"),
        OutboundMessage::new(
            "628123",
            MessageContent::template(Template::new("hello_world", "en_US")),
        ),
        OutboundMessage::new("628123", MessageContent::reaction("wamid.prev", "👍")),
        OutboundMessage::new("628123", MessageContent::location(-6.2, 106.8)),
    ];
    for message in &messages {
        meta.send(&ch, message).await.expect("sent");
    }
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), messages.len());
    for (request, message) in received.iter().zip(&messages) {
        assert_eq!(body_of(request), serde_json::to_value(message).unwrap());
        assert_eq!(request.url.path(), format!("/v23.0/{PNID}/messages"));
    }
    let image = body_of(&received[1]);
    assert_eq!(image["context"], json!({"message_id": "wamid.prev"}));
    assert_eq!(image["biz_opaque_callback_data"], "order-9");
    assert_eq!(body_of(&received[2])["template"]["name"], "hello_world");
}

#[tokio::test]
async fn mark_read_with_and_without_typing_indicator() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PNID}/messages")))
        .respond_with(success())
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    meta.mark_read(&channel(None), "wamid.IN", false)
        .await
        .unwrap();
    meta.mark_read(&channel(None), "wamid.IN", true)
        .await
        .unwrap();
    let received = server.received_requests().await.unwrap();
    assert_eq!(
        body_of(&received[0]),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"})
    );
    assert_eq!(
        body_of(&received[1]),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN",
               "typing_indicator": {"type": "text"}})
    );
}

#[tokio::test]
async fn version_and_base_path_prefix_are_configurable() {
    let server = MockServer::start().await;
    Mock::given(path(format!("/proxy/v21.0/{PNID}/messages")))
        .respond_with(sent_ok())
        .expect(1)
        .mount(&server)
        .await;
    let meta = MetaTransport::builder()
        .base_url(format!("{}/proxy/", server.uri()))
        .api_version("v21.0")
        .access_token("t")
        .build()
        .unwrap();
    assert_eq!(meta.api_version(), "v21.0");
    meta.send(
        &channel(None),
        &OutboundMessage::new("1", MessageContent::text("x")),
    )
    .await
    .unwrap();
}

#[test]
fn bad_configuration_is_refused() {
    assert!(
        MetaTransport::builder()
            .base_url("not a url")
            .build()
            .is_err()
    );
    assert!(
        MetaTransport::builder()
            .base_url("mailto:x@y")
            .build()
            .is_err()
    );
    let error = MetaTransport::builder()
        .api_version("v1/x")
        .build()
        .unwrap_err();
    assert_eq!(error.code(), "INVALID_CONFIG");
    let meta = MetaTransport::new("secret-token").unwrap();
    assert!(!format!("{meta:?}").contains("secret-token"));
}

#[tokio::test]
async fn media_upload_is_multipart() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PNID}/media")))
        .and(header("authorization", "Bearer channel-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1013859600285441"})))
        .expect(1)
        .mount(&server)
        .await;
    let id = transport(&server.uri())
        .upload_media(
            &channel(Some("channel-token")),
            MediaUpload {
                mime_type: "image/jpeg".into(),
                file_name: "photo.jpg".into(),
                data: Bytes::from_static(b"\xff\xd8\xff\xe0 jpeg bytes"),
            },
        )
        .await
        .unwrap();
    assert_eq!(id, "1013859600285441");
    let request = &server.received_requests().await.unwrap()[0];
    assert!(
        request.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    let parts = multipart_parts(request);
    assert_eq!(parts["messaging_product"].1, b"whatsapp");
    assert_eq!(parts["type"].1, b"image/jpeg");
    assert_eq!(parts["file"].0.as_deref(), Some("image/jpeg"));
    assert_eq!(parts["file"].1, b"\xff\xd8\xff\xe0 jpeg bytes");
    assert_eq!(parts["file.filename"].1, b"photo.jpg");
}

#[tokio::test]
async fn media_get_download_delete() {
    let server = MockServer::start().await;
    let download = format!("{}/whatsapp_business/attachments/?mid=1", server.uri());
    Mock::given(method("GET"))
        .and(path("/v23.0/1013859600285441"))
        .and(query_param_is_missing("phone_number_id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "url": download, "mime_type": "image/jpeg",
            "sha256": "e3b0c442", "file_size": "11", "id": "1013859600285441"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/whatsapp_business/attachments/"))
        .and(query_param("mid", "1"))
        .and(header(
            "authorization",
            format!("Bearer {DEFAULT_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"hello bytes".to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v23.0/1013859600285441"))
        .and(query_param("phone_number_id", PNID))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(None);
    let info = meta.get_media(&ch, "1013859600285441").await.unwrap();
    assert_eq!(
        (info.file_size, info.mime_type.as_str()),
        (11, "image/jpeg")
    );
    let bytes = meta.download_media(&ch, "1013859600285441").await.unwrap();
    assert_eq!(&bytes[..], b"hello bytes");
    meta.delete_media(&ch, "1013859600285441").await.unwrap();

    // A numeric file_size is accepted too, and the download limit is enforced.
    let small = MetaTransport::builder()
        .base_url(server.uri())
        .access_token("t")
        .max_download_bytes(5)
        .build()
        .unwrap();
    let error = small
        .download_media(&ch, "1013859600285441")
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent);
}

fn draft() -> TemplateDraft {
    TemplateDraft {
        name: "order_confirmation".into(),
        language: "en_US".into(),
        category: TemplateCategory::Utility,
        components: vec![json!({"type": "BODY", "text": "Order {{1}} confirmed",
                                "example": {"body_text": [["#123"]]}})],
    }
}

#[tokio::test]
async fn template_create_get_delete() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{WABA}/message_templates")))
        .and(body_json(
            json!({"name": "order_confirmation", "language": "en_US",
            "category": "UTILITY", "components": [{"type": "BODY", "text": "Order {{1}} confirmed",
            "example": {"body_text": [["#123"]]}}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "594425479261596", "status": "PENDING", "category": "UTILITY"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v23.0/594425479261596"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "594425479261596", "name": "order_confirmation", "language": "en_US",
            "status": "APPROVED", "category": "UTILITY", "components": [{"type": "BODY"}]})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v23.0/{WABA}/message_templates")))
        .and(query_param("name", "order_confirmation"))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(None);
    let created = meta.create_template(&ch, &draft()).await.unwrap();
    assert_eq!(created.id, "594425479261596");
    assert_eq!(created.status, TemplateStatus::Pending);
    assert_eq!(created.category.as_deref(), Some("UTILITY"));
    assert_eq!(created.name, "order_confirmation");
    let fetched = meta.get_template(&ch, "594425479261596").await.unwrap();
    assert_eq!(fetched.status, TemplateStatus::Approved);
    assert_eq!(fetched.components, json!([{"type": "BODY"}]));
    meta.delete_template(&ch, "order_confirmation")
        .await
        .unwrap();

    let mut bad = draft();
    bad.name = "Bad Name".into();
    let error = meta.create_template(&ch, &bad).await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent);
}

#[tokio::test]
async fn template_list_follows_after_cursor() {
    let server = MockServer::start().await;
    let template = |id: &str, status: &str| {
        json!({"id": id, "name": format!("t{id}"),
        "language": "id", "status": status, "category": "MARKETING", "components": []})
    };
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{WABA}/message_templates")))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [template("1", "APPROVED"), template("2", "PENDING")],
            "paging": {"cursors": {"before": "B1", "after": "A1"},
                       "next": "https://graph.facebook.com/v23.0/x?after=A1"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{WABA}/message_templates")))
        .and(query_param("after", "A1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [template("3", "PENDING_DELETION")],
            "paging": {"cursors": {"before": "B2", "after": "A2"}}})))
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(None);
    let first = meta.list_templates(&ch, None).await.unwrap();
    assert_eq!(first.templates.len(), 2);
    assert_eq!(first.after.as_deref(), Some("A1"));
    let second = meta
        .list_templates(&ch, first.after.as_deref())
        .await
        .unwrap();
    assert_eq!(second.templates[0].status, TemplateStatus::PendingDeletion);
    assert_eq!(second.after, None, "no `next` means last page");
    let received = server.received_requests().await.unwrap();
    let query: Vec<_> = received[0]
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(query.contains(&("limit".into(), "100".into())));
    assert!(
        query
            .iter()
            .any(|(k, v)| k == "fields" && v.contains("status"))
    );
    meta.list_templates_page(&ch, None, 2).await.unwrap();
    let last = server.received_requests().await.unwrap().pop().unwrap();
    assert!(
        last.url
            .query_pairs()
            .any(|(k, v)| k == "limit" && v == "2")
    );
}

#[tokio::test]
async fn phone_numbers_list_and_get() {
    let server = MockServer::start().await;
    let number = |id: &str| {
        json!({"verified_name": "Toko", "code_verification_status": "VERIFIED",
        "display_phone_number": "+62 812-0000", "quality_rating": "GREEN",
        "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"}, "id": id,
        "new_field": 1})
    };
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{WABA}/phone_numbers")))
        .and(query_param_is_missing("after"))
        .and(header("authorization", "Bearer waba-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [number("1")], "paging": {"cursors": {"after": "N1"}, "next": "https://x"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{WABA}/phone_numbers")))
        .and(query_param("after", "N1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [number("2")], "paging": {"cursors": {"after": "N2"}}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{PNID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(number(PNID)))
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let numbers = meta
        .list_phone_numbers(WABA, Some(&Secret::new("waba-token")))
        .await
        .unwrap();
    assert_eq!(
        numbers.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert_eq!(numbers[0].throughput_level(), Some("STANDARD"));
    assert_eq!(numbers[0].extra["new_field"], 1);
    let one = meta.get_phone_number(&channel(None)).await.unwrap();
    assert_eq!(one.id, PNID);
    assert_eq!(one.quality_rating.as_deref(), Some("GREEN"));
}

#[tokio::test]
async fn registration_calls() {
    let server = MockServer::start().await;
    for (endpoint, body) in [
        (
            "request_code",
            json!({"code_method": "SMS", "language": "id"}),
        ),
        (
            "request_code",
            json!({"code_method": "VOICE", "language": "en_US"}),
        ),
        ("verify_code", json!({"code": "123456"})),
        (
            "register",
            json!({"messaging_product": "whatsapp", "pin": "654321"}),
        ),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/v23.0/{PNID}/{endpoint}")))
            .and(body_json(body))
            .respond_with(success())
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PNID}/deregister")))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PNID}")))
        .and(body_json(json!({"pin": "111111"})))
        .respond_with(success())
        .expect(1)
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(None);
    meta.request_code(&ch, CodeMethod::Sms, "id").await.unwrap();
    meta.request_code(&ch, CodeMethod::Voice, "en_US")
        .await
        .unwrap();
    meta.verify_code(&ch, "123456").await.unwrap();
    meta.register(&ch, "654321").await.unwrap();
    meta.deregister(&ch).await.unwrap();
    meta.set_two_step_pin(&ch, "111111").await.unwrap();
    let error = meta.register(&ch, "12ab").await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent);
    let deregister = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/deregister"))
        .unwrap();
    assert!(deregister.body.is_empty());
}

#[tokio::test]
async fn success_false_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": false})))
        .mount(&server)
        .await;
    let error = transport(&server.uri())
        .verify_code(&channel(None), "1")
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent);
}

#[tokio::test]
async fn clones_share_the_transport() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sent_ok())
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let clone = meta.clone();
    for _ in 0..3 {
        clone
            .send(
                &channel(None),
                &OutboundMessage::new("1", MessageContent::text("x")),
            )
            .await
            .unwrap();
    }
    // Clones share one reqwest::Client (and its pool); all requests arrive.
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}
