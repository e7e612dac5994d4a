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

use std::path::Path;

use serde_json::{Map, Value, json};
use transport_support::{PNID, channel, transport};
use wagw_core::content::MessagesRequest;
use wagw_core::transport::Transport;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/meta-openapi/business-messaging-api_v23.0.yaml"
);
const SEND_PATH: &str = "/{Version}/{Phone-Number-ID}/messages";

fn load_spec() -> Option<Value> {
    if !Path::new(SPEC).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Meta's OpenAPI document is missing at {SPEC}"
        );
        eprintln!("skipped: Meta's OpenAPI document not found at {SPEC}");
        return None;
    }
    let text = std::fs::read_to_string(SPEC).expect("spec is readable");
    Some(serde_norway::from_str(&text).expect("spec is valid YAML"))
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn canonicalise(body: &mut Value, inferred_type: &str) -> Vec<&'static str> {
    let mut applied = Vec::new();
    let Some(object) = body.as_object_mut() else {
        return applied;
    };
    if !object.contains_key("type") {
        object.insert("type".to_owned(), inferred_type.into());
        applied.push("inferred type");
    }
    let components = object
        .get_mut("template")
        .and_then(|template| template.get_mut("components"))
        .and_then(Value::as_array_mut);
    for component in components.into_iter().flatten() {
        if let Some(index) = component.get_mut("index").filter(|index| index.is_number()) {
            *index = index.to_string().into();
            applied.push("button index as string");
        }
        let parameters = component
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            if parameter["type"] == "text"
                && let Some(text) = parameter.get_mut("text").filter(|text| !text.is_string())
            {
                *text = text.to_string().into();
                applied.push("text parameter as string");
            }
        }
    }
    applied
}

#[tokio::test]
async fn every_send_example_arrives_unchanged() {
    let Some(spec) = load_spec() else { return };
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
