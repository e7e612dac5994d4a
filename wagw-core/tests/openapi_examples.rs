//! Checks the content and event models against the examples in Meta's OpenAPI document.
//!
//! Every request-body example of `POST /{Version}/{Phone-Number-ID}/messages` must parse,
//! serialise back to the same JSON and pass `validate()`; every `messages[]` / `statuses[]` /
//! `errors[]` item of the webhook examples must parse and serialise back without losing fields.
//!
//! The document lives outside the repository (`shared/` next to it). When it is missing the
//! test is skipped with a notice, except under `CI=true`, where it fails.

use std::path::Path;

use serde_json::{Map, Value};
use wagw_core::content::{MessageContent, MessagesRequest};
use wagw_core::event::{InboundMessage, StatusUpdate, WebhookError};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/meta-openapi/business-messaging-api_v23.0.yaml"
);
const SEND_PATH: &str = "/{Version}/{Phone-Number-ID}/messages";
const WEBHOOK_PATH: &str = "/whatsapp/webhooks";

/// Loads the spec, or `None` (after saying so) when it is absent outside CI.
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

/// The named request-body examples of `POST path`.
fn examples<'a>(spec: &'a Value, path: &str) -> &'a Map<String, Value> {
    spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]
        .as_object()
        .unwrap_or_else(|| panic!("no request examples for POST {path}"))
}

/// Equality of JSON values where numbers compare by value (`0` equals `0.0`).
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

/// Rewrites a send example into the canonical form wagw writes. Meta's examples deviate from
/// their own schema in three ways, each harmless for the API:
/// - `type` omitted (two examples): wagw infers it from the payload key and writes it;
/// - template button `index` as a number: wagw writes the documented string;
/// - a template `text` parameter given as a boolean: wagw reads and writes it as text.
///
/// Returns the names of the rewrites applied.
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

#[test]
fn send_examples_round_trip_and_validate() {
    let Some(spec) = load_spec() else { return };
    let examples = examples(&spec, SEND_PATH);
    let (mut messages, mut read_receipts, mut canonicalised) = (0, 0, 0);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (name, example) in examples {
        let body = &example["value"];
        let request: MessagesRequest = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{name}: does not parse: {e}\n{body:#}"));
        let written = serde_json::to_value(&request).expect("serialises");
        let mut expected = body.clone();
        match &request {
            MessagesRequest::Message(message) => {
                message
                    .validate()
                    .unwrap_or_else(|e| panic!("{name}: fails validation: {e}"));
                let kind = match &message.content {
                    MessageContent::Interactive(interactive) => {
                        format!("interactive/{}", interactive.action.kind())
                    }
                    content => content.kind().to_owned(),
                };
                *kinds.entry(kind).or_default() += 1;
                if !canonicalise(&mut expected, message.content.kind()).is_empty() {
                    canonicalised += 1;
                }
                messages += 1;
            }
            MessagesRequest::MarkRead(_) => read_receipts += 1,
        }
        assert!(
            same(&written, &expected),
            "{name}: round trip changed the body\nexpected: {expected:#}\nwritten:  {written:#}"
        );
    }
    eprintln!(
        "{messages} send examples and {read_receipts} read receipt(s) round-trip and validate \
         ({canonicalised} needed canonicalisation); by type: {kinds:?}"
    );
    assert!(
        messages >= 45,
        "expected ~50 send examples, found {messages}"
    );
    assert_eq!(read_receipts, 1);
}

#[test]
fn webhook_items_round_trip() {
    let Some(spec) = load_spec() else { return };
    let examples = examples(&spec, WEBHOOK_PATH);
    let (mut inbound, mut statuses, mut errors, mut other_fields) = (0, 0, 0, 0);
    for (name, example) in examples {
        let entries = example["value"]["entry"].as_array().expect("entry[]");
        for change in entries
            .iter()
            .flat_map(|entry| entry["changes"].as_array().into_iter().flatten())
        {
            if change["field"] != "messages" {
                other_fields += 1;
                continue;
            }
            let value = &change["value"];
            for item in value["messages"].as_array().into_iter().flatten() {
                let message: InboundMessage = serde_json::from_value(item.clone())
                    .unwrap_or_else(|e| panic!("{name}: message does not parse: {e}\n{item:#}"));
                let written = serde_json::to_value(&message).expect("serialises");
                assert!(
                    same(&written, item),
                    "{name}: message changed\n{item:#}\n{written:#}"
                );
                inbound += 1;
            }
            for item in value["statuses"].as_array().into_iter().flatten() {
                let status: StatusUpdate = serde_json::from_value(item.clone())
                    .unwrap_or_else(|e| panic!("{name}: status does not parse: {e}\n{item:#}"));
                let written = serde_json::to_value(&status).expect("serialises");
                assert!(
                    same(&written, item),
                    "{name}: status changed\n{item:#}\n{written:#}"
                );
                statuses += 1;
            }
            for item in value["errors"].as_array().into_iter().flatten() {
                let error: WebhookError = serde_json::from_value(item.clone())
                    .unwrap_or_else(|e| panic!("{name}: error does not parse: {e}\n{item:#}"));
                let written = serde_json::to_value(&error).expect("serialises");
                assert!(
                    same(&written, item),
                    "{name}: error changed\n{item:#}\n{written:#}"
                );
                errors += 1;
            }
        }
    }
    eprintln!(
        "{} webhook examples: {inbound} messages, {statuses} statuses, {errors} errors round-trip; \
         {other_fields} changes of other fields (groups) left to the envelope parser",
        examples.len()
    );
    assert!(
        inbound >= 12,
        "expected ~13 inbound message examples, found {inbound}"
    );
}
