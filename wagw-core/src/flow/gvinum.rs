//! Reading flow documents, GVINUM's ChatFlow JSON included.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::content::MessageContent;
use crate::model::flow::{FlowDocument, FlowNode, FlowSettings};
use crate::{Error, Result};

/// Reads a flow document from JSON.
///
/// If the top-level `version` is a number the text is the envelope `{version, start, vars,
/// settings, nodes}`; any other object is GVINUM's ChatFlow map from state name to node,
/// loaded unchanged with `start = "root"`.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the node (`nodes/<name>`) whose JSON does not parse.
/// Structural problems (missing targets, ...) are not errors here: [`validate`](super::validate)
/// reports them all.
pub fn load_document(json: &str) -> Result<FlowDocument> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid_input("document", format!("not JSON: {e}")))?;
    load_value(value)
}

fn load_value(value: Value) -> Result<FlowDocument> {
    let Value::Object(mut map) = value else {
        return Err(Error::invalid_input("document", "must be a JSON object"));
    };
    let envelope = map.get("version").is_some_and(Value::is_number);
    let (start, vars, settings, nodes) = if envelope {
        let start = match map.remove("start") {
            Some(Value::String(s)) => s,
            None => "root".to_owned(),
            Some(_) => return Err(Error::invalid_input("/start", "must be a string")),
        };
        let vars = match map.remove("vars") {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| Error::invalid_input("/vars", e.to_string()))?,
            None => BTreeMap::new(),
        };
        let settings: FlowSettings = match map.remove("settings") {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| Error::invalid_input("/settings", e.to_string()))?,
            None => FlowSettings::default(),
        };
        let Some(Value::Object(nodes)) = map.remove("nodes") else {
            return Err(Error::invalid_input("/nodes", "must be an object of nodes"));
        };
        (start, vars, settings, nodes)
    } else {
        (
            "root".to_owned(),
            BTreeMap::new(),
            FlowSettings::default(),
            map,
        )
    };
    let mut parsed = BTreeMap::new();
    for (name, node) in nodes {
        let pointer = if envelope {
            format!("/nodes/{}", crate::model::flow::escape_pointer(&name))
        } else {
            format!("/{}", crate::model::flow::escape_pointer(&name))
        };
        let node: FlowNode = serde_json::from_value(node)
            .map_err(|e| Error::invalid_input(pointer, e.to_string()))?;
        parsed.insert(name, node);
    }
    Ok(FlowDocument {
        start,
        vars,
        settings,
        nodes: parsed,
    })
}

/// Turns the `content` of a GVINUM `interactive` node into message content: GVINUM's
/// shorthand `{type: "list"|"button", body, button, sections|buttons, header?, footer?}`, or
/// Meta's `interactive` object (`{type, body: {text}, action}`).
///
/// # Errors
///
/// [`Error::InvalidContent`] when neither form reads.
pub fn interactive_content(content: &Value) -> Result<MessageContent> {
    let meta_form = content.get("action").is_some();
    let interactive = if meta_form {
        content.clone()
    } else {
        shorthand_to_meta(content)?
    };
    serde_json::from_value(json!({"type": "interactive", "interactive": interactive}))
        .map_err(|e| Error::invalid_content("interactive", e.to_string()))
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("text").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn shorthand_to_meta(content: &Value) -> Result<Value> {
    let kind = content
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("button");
    let body = text_of(content.get("body"))
        .ok_or_else(|| Error::invalid_content("content.body", "is required"))?;
    let mut interactive = serde_json::Map::new();
    interactive.insert("body".into(), json!({"text": body}));
    if let Some(header) = text_of(content.get("header")) {
        interactive.insert("header".into(), json!({"type": "text", "text": header}));
    }
    if let Some(footer) = text_of(content.get("footer")) {
        interactive.insert("footer".into(), json!({"text": footer}));
    }
    match kind {
        "list" => {
            let button = content
                .get("button")
                .and_then(Value::as_str)
                .unwrap_or("Pilih")
                .to_owned();
            let sections = content.get("sections").cloned().unwrap_or(json!([]));
            interactive.insert("type".into(), json!("list"));
            interactive.insert(
                "action".into(),
                json!({"button": button, "sections": sections}),
            );
        }
        "button" | "buttons" => {
            let buttons: Vec<Value> = content
                .get("buttons")
                .and_then(Value::as_array)
                .map(|buttons| {
                    buttons
                        .iter()
                        .map(|b| {
                            if b.get("reply").is_some() {
                                b.clone()
                            } else {
                                let id = b.get("id").cloned().unwrap_or(json!(""));
                                let title = b.get("title").cloned().unwrap_or(id.clone());
                                json!({"type": "reply", "reply": {"id": id, "title": title}})
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            interactive.insert("type".into(), json!("button"));
            interactive.insert("action".into(), json!({"buttons": buttons}));
        }
        other => {
            return Err(Error::invalid_content(
                "content.type",
                format!("{other:?} is not list or button"),
            ));
        }
    }
    Ok(Value::Object(interactive))
}

/// The reply ids and titles an interactive content offers, for matching answers.
pub(crate) fn offered_replies(content: &MessageContent) -> Vec<(String, String)> {
    let Ok(value) = serde_json::to_value(content) else {
        return Vec::new();
    };
    let action = &value["interactive"]["action"];
    let mut out = Vec::new();
    if let Some(buttons) = action["buttons"].as_array() {
        for b in buttons {
            if let (Some(id), Some(title)) =
                (b["reply"]["id"].as_str(), b["reply"]["title"].as_str())
            {
                out.push((id.to_owned(), title.to_owned()));
            }
        }
    }
    if let Some(sections) = action["sections"].as_array() {
        for section in sections {
            for row in section["rows"].as_array().into_iter().flatten() {
                if let (Some(id), Some(title)) = (row["id"].as_str(), row["title"].as_str()) {
                    out.push((id.to_owned(), title.to_owned()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from GVINUM's README, byte for byte apart from the elided sections.
    const README: &str = r#"{"root": {"type": "text", "state": "root", "content": "Selamat datang! Pilih layanan:\n1. Produk\n2. Bantuan", "options": {"1": "produk", "2": "bantuan"}}, "produk": {"type": "interactive", "state": "produk", "content": {"type": "list", "body": "Berikut adalah produk kami:", "button": "Lihat Produk", "sections": [{"title": "Paket", "rows": [{"id": "paket_a", "title": "Paket A"}, {"id": "paket_b", "title": "Paket B"}]}]}}, "bantuan": {"type": "text", "state": "bantuan", "content": "Hubungi CS kami di 08123456789"}}"#;

    #[test]
    fn gvinum_readme_loads_unchanged() {
        let doc = load_document(README).unwrap();
        assert_eq!(doc.start, "root");
        assert_eq!(doc.nodes.len(), 3);
        let FlowNode::Interactive { content, .. } = &doc.nodes["produk"] else {
            panic!("produk is interactive");
        };
        let content = interactive_content(content).unwrap();
        content.validate().unwrap();
        assert_eq!(
            offered_replies(&content),
            [
                ("paket_a".to_owned(), "Paket A".to_owned()),
                ("paket_b".to_owned(), "Paket B".to_owned())
            ]
        );
    }

    #[test]
    fn envelope_is_told_apart_by_a_numeric_version() {
        let doc = load_document(
            r#"{"version": 1, "start": "menu", "vars": {"qty": 0},
                "nodes": {"menu": {"type": "end", "message": "Sampai jumpa"}}}"#,
        )
        .unwrap();
        assert_eq!(doc.start, "menu");
        assert_eq!(doc.vars["qty"], 0);
        let err = load_document(r#"{"version": 1, "nodes": {"a": {"type": "warp"}}}"#).unwrap_err();
        assert!(err.to_string().contains("/nodes/a"), "{err}");
    }

    #[test]
    fn button_shorthand_becomes_reply_buttons() {
        let content = interactive_content(&json!({
            "type": "button", "body": "Lanjut?",
            "buttons": [{"id": "ya", "title": "Ya"}, {"id": "tidak", "title": "Tidak"}]
        }))
        .unwrap();
        content.validate().unwrap();
        assert_eq!(offered_replies(&content).len(), 2);
    }
}
