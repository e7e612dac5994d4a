//! Every request-body example of `POST /{Version}/{Phone-Number-ID}/messages` in Meta's
//! OpenAPI document, parsed into wagw-core's model and sent through `MetaTransport`,
//! arrives at the (mock) Graph API with a body equal to the example.
//!
//! Normalisations (the same as wagw-core's `openapi_examples` test, all harmless to Meta):
//! - `type` omitted in the example: wagw infers it from the payload key and writes it;
//! - template button `index` given as a number: wagw writes the documented string;
//! - a template `text` parameter given as a boolean: wagw writes it as text.
//!
//! Numbers compare by value (`0` equals `0.0`). The read-receipt example goes through
//! `Transport::mark_read` (with the typing indicator when the example has one).
//!
//! The document lives outside the repository (`shared/` next to it). When it is missing the
//! test is skipped with a notice, except under `CI=true`, where it fails.

mod transport_support;

use serde_json::{Map, Value, json};
use transport_support::{PNID, channel, transport};
use wagw_core::content::MessagesRequest;
use wagw_core::testkit::openapi::{SEND_PATH, canonicalise, same, spec};
use wagw_core::transport::Transport;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn every_send_example_arrives_unchanged() {
    let Some(spec) = spec() else { return };
    let examples: &Map<String, Value> = spec["paths"][SEND_PATH]["post"]["requestBody"]["content"]
        ["application/json"]["examples"]
        .as_object()
        .expect("send examples");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v23.0/{PNID}/messages")))
        .respond_with(|request: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            if body.get("status").is_some() {
                return ResponseTemplate::new(200).set_body_json(json!({"success": true}));
            }
            ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": "16505551234"}],
                "messages": [{"id": "wamid.X"}]}))
        })
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(Some("example-token"));

    let mut expected_bodies = Vec::new();
    let (mut messages, mut receipts, mut canonicalised) = (0, 0, 0);
    for (name, example) in examples {
        let body = &example["value"];
        let request: MessagesRequest = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{name}: does not parse: {e}"));
        let mut expected = body.clone();
        match &request {
            MessagesRequest::Message(message) => {
                if !canonicalise(&mut expected, message.content.kind()).is_empty() {
                    canonicalised += 1;
                }
                let receipt = meta
                    .send(&ch, message)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: send failed: {e}"));
                assert_eq!(receipt.wamid, "wamid.X");
                messages += 1;
            }
            MessagesRequest::MarkRead(read) => {
                meta.mark_read(&ch, &read.message_id, read.typing_indicator.is_some())
                    .await
                    .unwrap_or_else(|e| panic!("{name}: mark_read failed: {e}"));
                receipts += 1;
            }
        }
        expected_bodies.push((name, expected));
    }

    let received = server.received_requests().await.expect("recording");
    assert_eq!(received.len(), expected_bodies.len());
    for (request, (name, expected)) in received.iter().zip(&expected_bodies) {
        let written: Value = serde_json::from_slice(&request.body).expect("JSON body");
        assert!(
            same(&written, expected),
            "{name}: body changed on the wire\nexpected: {expected:#}\nwritten:  {written:#}"
        );
        assert_eq!(request.headers["authorization"], "Bearer example-token");
        assert_eq!(request.headers["content-type"], "application/json");
    }
    eprintln!(
        "{messages} send examples and {receipts} read receipt(s) arrive unchanged \
         ({canonicalised} needed canonicalisation)"
    );
    assert!(
        messages >= 45,
        "expected ~50 send examples, found {messages}"
    );
    assert_eq!(receipts, 1);
}
