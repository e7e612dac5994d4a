//! Meta's own OpenAPI document (`shared/meta-openapi/` beside the repository, or the file named
//! by `WAGW_META_OPENAPI`) as test data: its examples are the ground truth that the content
//! model, the transport and the emulator are checked against.

use std::path::PathBuf;

use serde_json::{Map, Value};

/// The send endpoint's path in the document.
pub const SEND_PATH: &str = "/{Version}/{Phone-Number-ID}/messages";
/// The webhook endpoint's path in the document.
pub const WEBHOOK_PATH: &str = "/whatsapp/webhooks";

fn location() -> PathBuf {
    std::env::var_os("WAGW_META_OPENAPI").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/meta-openapi/business-messaging-api_v23.0.yaml"
            ))
        },
        PathBuf::from,
    )
}

/// The document, or `None` after printing that the caller's test is skipped. Under
/// `CI=true` a missing document is a failure, not a skip.
pub fn spec() -> Option<Value> {
    let path = location();
    if !path.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Meta's OpenAPI document is missing at {}",
            path.display()
        );
        eprintln!(
            "skipped: Meta's OpenAPI document not found at {}",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&path).expect("the OpenAPI document is readable");
    Some(serde_norway::from_str(&text).expect("the OpenAPI document is valid YAML"))
}

/// The named request-body examples of `POST path`.
pub fn examples<'a>(spec: &'a Value, path: &str) -> &'a Map<String, Value> {
    spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]
        .as_object()
        .unwrap_or_else(|| panic!("no request examples for POST {path}"))
}

/// Equality of JSON values where numbers compare by value (`0` equals `0.0`).
pub fn same(a: &Value, b: &Value) -> bool {
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
pub fn canonicalise(body: &mut Value, inferred_type: &str) -> Vec<&'static str> {
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
