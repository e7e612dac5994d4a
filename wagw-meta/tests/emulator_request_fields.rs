//! The emulator's field tables agree with Meta's OpenAPI document, and a field outside them is
//! refused the way Meta refuses an unknown or misspelled parameter: code 100, the field named
//! in `error_data.details`.
//!
//! The document is read at test time (`shared/meta-openapi/` beside the repository); without
//! it the schema tests are skipped with a notice, except under `CI=true`.
#![cfg(feature = "emulator")]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wagw_core::testkit::openapi::spec;
use wagw_meta::emulator::check::check_messages_request;
use wagw_meta::emulator::fields::{
    Correction, FROM_SCHEMA, SCHEMA_DEFECTS, is_allowed, schema_fields,
};

/// Follows `$ref`s to `#/components/schemas/...`.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        schema = &doc["components"]["schemas"][name];
    }
    schema
}

/// The schema and every schema it combines (`allOf` / `oneOf` / `anyOf`), resolved.
fn parts<'a>(doc: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let schema = resolve(doc, schema);
    let mut all = vec![schema];
    for combinator in ["allOf", "oneOf", "anyOf"] {
        for sub in schema[combinator].as_array().into_iter().flatten() {
            all.extend(parts(doc, sub));
        }
    }
    all
}

/// The property names a schema allows, across its combined parts.
fn property_names(doc: &Value, schema: &Value) -> BTreeSet<String> {
    parts(doc, schema)
        .into_iter()
        .filter_map(|part| part["properties"].as_object())
        .flat_map(|properties| properties.keys().cloned())
        .collect()
}

/// The schema at a table entry's location: a schema name, then property names (`[]`: items).
fn locate<'a>(doc: &'a Value, location: &[&str]) -> &'a Value {
    let mut schema = &doc["components"]["schemas"][location[0]];
    assert!(!schema.is_null(), "no schema {}", location[0]);
    for step in &location[1..] {
        let found = parts(doc, schema).into_iter().find_map(|part| {
            if *step == "[]" {
                part.get("items")
            } else {
                part["properties"].get(*step)
            }
        });
        schema = found.unwrap_or_else(|| panic!("{location:?}: no step {step}"));
    }
    schema
}

#[test]
fn every_table_matches_its_schema() {
    let Some(doc) = spec() else {
        return;
    };
    for entry in FROM_SCHEMA {
        let from_document = property_names(&doc, locate(&doc, entry.schema));
        let table: BTreeSet<String> = entry.fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(
            table, from_document,
            "{}: the table differs from the schema {:?}",
            entry.object, entry.schema
        );
    }
}

#[test]
fn every_message_type_adds_only_its_payload_key() {
    let Some(doc) = spec() else {
        return;
    };
    let envelope = schema_fields("message");
    for (schema, key) in [
        ("TextMessage", "text"),
        ("ImageMessage", "image"),
        ("AudioMessage", "audio"),
        ("VideoMessage", "video"),
        ("DocumentMessage", "document"),
        ("StickerMessage", "sticker"),
        ("LocationMessage", "location"),
        ("ContactsMessage", "contacts"),
        ("InteractiveMessage", "interactive"),
        ("TemplateMessage", "template"),
        ("ReactionMessage", "reaction"),
    ] {
        let from_document = property_names(&doc, locate(&doc, &[schema]));
        let mut expected: BTreeSet<String> = envelope.iter().map(|f| (*f).to_owned()).collect();
        expected.insert(key.to_owned());
        assert_eq!(expected, from_document, "{schema}");
    }
    // Every media type shares the `media` table.
    for (schema, key) in [
        ("AudioMessage", "audio"),
        ("VideoMessage", "video"),
        ("DocumentMessage", "document"),
    ] {
        let from_document = property_names(&doc, locate(&doc, &[schema, key]));
        let table: BTreeSet<String> = schema_fields("media")
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        assert_eq!(table, from_document, "{schema}.{key}");
    }
}

#[test]
fn every_defect_is_a_real_departure_from_the_schema() {
    let Some(doc) = spec() else {
        return;
    };
    for defect in SCHEMA_DEFECTS {
        let entry = FROM_SCHEMA
            .iter()
            .find(|entry| entry.object == defect.object)
            .unwrap_or_else(|| panic!("defect for unknown object {}", defect.object));
        let from_document = property_names(&doc, locate(&doc, entry.schema));
        match defect.correction {
            Correction::Add => assert!(
                !from_document.contains(defect.field),
                "{}.{}: the schema has it now; drop the override",
                defect.object,
                defect.field
            ),
        }
        assert!(!defect.why.is_empty());
        assert!(is_allowed(defect.object, defect.field));
    }
}

fn refused(body: Value) -> (i64, String) {
    let error = check_messages_request(&body).expect_err("refused");
    (error.code, error.details.unwrap_or_default())
}

fn send(kind: &str, payload: Value) -> Value {
    json!({"messaging_product": "whatsapp", "to": "16505551234", "type": kind, kind: payload})
}

/// One misspelled or unknown field in every checked object: code 100, the key and its object
/// named in the details.
#[test]
fn unknown_fields_are_refused_with_code_100_naming_the_field() {
    let media = json!({"link": "https://example.com/a.jpg", "captoin": "x"});
    let template = |extra: Value| {
        let mut template = json!({"name": "hello_world", "language": {"code": "en_US"}});
        for (key, value) in extra.as_object().unwrap() {
            template[key] = value.clone();
        }
        template
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"messaging_product": "whatsapp", "to": "1", "type": "text",
                   "text": {"body": "hi"}, "biz_opaque_callbak_data": "x"}),
            "biz_opaque_callbak_data",
            "",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "1", "type": "text",
                   "text": {"body": "hi"}, "image": {"id": "1"}}),
            "image",
            "",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "1", "type": "text",
                   "text": {"body": "hi"}, "context": {"message_id": "w", "from": "x"}}),
            "from",
            "context",
        ),
        (
            send("text", json!({"bodyy": "hi", "body": "hi"})),
            "bodyy",
            "text",
        ),
        (send("image", media.clone()), "captoin", "image"),
        (send("video", media.clone()), "captoin", "video"),
        (send("document", media.clone()), "captoin", "document"),
        (
            send("sticker", json!({"id": "1", "animated": true})),
            "animated",
            "sticker",
        ),
        (
            send(
                "location",
                json!({"latitude": 1, "longitude": 2, "zoom": 3}),
            ),
            "zoom",
            "location",
        ),
        (
            send(
                "reaction",
                json!({"message_id": "w", "emoji": "x", "emojj": "y"}),
            ),
            "emojj",
            "reaction",
        ),
        (
            send(
                "contacts",
                json!([{"name": {"formatted_name": "A"}, "phone": []}]),
            ),
            "phone",
            "contacts[0]",
        ),
        (
            send(
                "contacts",
                json!([{"name": {"formatted_name": "A", "nickname": "B"}}]),
            ),
            "nickname",
            "contacts[0]['name']",
        ),
        (
            send("template", template(json!({"namespace": "x"}))),
            "namespace",
            "template",
        ),
        (
            send(
                "template",
                json!({"name": "hello_world", "language": {"code": "en_US", "polcy": "deterministic"}}),
            ),
            "polcy",
            "template['language']",
        ),
        (
            send(
                "template",
                template(json!({"components": [{"type": "body", "parameter": []}]})),
            ),
            "parameter",
            "template['components'][0]",
        ),
        (
            send(
                "interactive",
                json!({"type": "button", "body": {"text": "x"}, "action": {}, "title": "t"}),
            ),
            "title",
            "interactive",
        ),
        (
            send(
                "interactive",
                json!({"type": "button", "body": {"text": "x", "txt": "y"}, "action": {}}),
            ),
            "txt",
            "interactive['body']",
        ),
        (
            send(
                "interactive",
                json!({"type": "button", "body": {"text": "x"}, "footer": {"text": "f", "url": "u"}, "action": {}}),
            ),
            "url",
            "interactive['footer']",
        ),
        (
            send(
                "interactive",
                json!({"type": "button", "body": {"text": "x"}, "header": {"type": "text", "text": "h", "title": "t"}, "action": {}}),
            ),
            "title",
            "interactive['header']",
        ),
        (
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "w", "typing": true}),
            "typing",
            "",
        ),
    ];
    for (body, field, object) in cases {
        let (code, details) = refused(body.clone());
        assert_eq!(code, 100, "{field}: {details}\n{body}");
        assert!(
            details.contains(&format!("\"{field}\"")),
            "{field} not named: {details}"
        );
        if !object.is_empty() {
            assert!(
                details.contains(&format!("on param \"{object}\"")),
                "{object} not named: {details}"
            );
        }
    }
}

/// The defects' fields are accepted where the reference allows them, and the per-type rules
/// still hold (a caption on audio is refused).
#[test]
fn overridden_fields_are_accepted() {
    for body in [
        json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "hi"},
               "biz_opaque_callback_data": "t", "recipient_identity_key_hash": "h"}),
        json!({"messaging_product": "whatsapp", "recipient": "ID.1234567890", "type": "text",
               "text": {"body": "hi"}}),
        send("image", json!({"id": "1", "caption": "c"})),
        send(
            "document",
            json!({"id": "1", "caption": "c", "filename": "a.pdf"}),
        ),
        send("audio", json!({"id": "1", "voice": true})),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "w",
               "typing_indicator": {"type": "text"}}),
    ] {
        check_messages_request(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    let (code, details) = refused(send("audio", json!({"id": "1", "caption": "c"})));
    assert_eq!(code, 100, "{details}");
}
