//! Every send example of Meta's OpenAPI document passes the emulator's checks and is
//! accepted over HTTP; broken variants of them are refused with the right code and a
//! `details` string naming the field.
//!
//! The document lives outside the repository (`shared/` next to it). When it is missing the
//! tests are skipped with a notice, except under `CI=true`, where they fail.
#![cfg(feature = "emulator")]

mod emulator_support;

use emulator_support::*;
use serde_json::{Map, Value, json};
use wagw_core::testkit::openapi::{SEND_PATH, examples, spec};
use wagw_meta::emulator::check::{CheckedRequest, check_messages_request};
use wagw_meta::emulator::{Emulator, PairLimit, TemplateSpec, Throughput, UserMessage};

/// The send examples of Meta's document by name, or `None` when the document is absent.
fn send_examples() -> Option<Map<String, Value>> {
    let spec = spec()?;
    let bodies = examples(&spec, SEND_PATH)
        .iter()
        .map(|(name, example)| (name.clone(), example["value"].clone()))
        .collect();
    Some(bodies)
}

#[test]
fn every_send_example_passes_the_checks() {
    let Some(examples) = send_examples() else {
        return;
    };
    let (mut messages, mut reads) = (0, 0);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for (name, body) in &examples {
        match check_messages_request(body) {
            Ok(CheckedRequest::Message(message)) => {
                *kinds.entry(message.kind.as_str()).or_default() += 1;
                messages += 1;
            }
            Ok(CheckedRequest::MarkRead { typing, .. }) => {
                assert!(typing, "{name}: the example asks for a typing indicator");
                reads += 1;
            }
            Err(error) => panic!("{name}: refused: {error}\n{body:#}"),
        }
    }
    eprintln!("{messages} send examples and {reads} read receipt pass; by type: {kinds:?}");
    assert!(
        messages >= 45,
        "expected ~50 send examples, found {messages}"
    );
    assert_eq!(reads, 1);
}

/// The template an example was written for: its header (media format or text parameters),
/// body parameters (named when the example names them) and buttons (by index and sub_type).
/// Several examples share the placeholder name `template-name` with different shapes, so
/// each send registers its own template first.
fn template_for(example: &Value) -> Option<TemplateSpec> {
    let template = example.get("template")?;
    let components = template["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let of_type = |name: &str| {
        components
            .iter()
            .filter(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(name))
            })
            .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
            .collect::<Vec<Value>>()
    };
    let placeholders = |parameters: &[Value]| {
        parameters
            .iter()
            .enumerate()
            .map(|(i, p)| match p["parameter_name"].as_str() {
                Some(name) => format!("{{{{{name}}}}}"),
                None => format!("{{{{{}}}}}", i + 1),
            })
            .collect::<Vec<String>>()
            .join(" ")
    };
    let mut defined = Vec::new();
    let header = of_type("header");
    match header.iter().find(|p| p["type"] != "text") {
        Some(media) => defined.push(json!({
            "type": "HEADER",
            "format": media["type"].as_str().unwrap().to_ascii_uppercase(),
        })),
        None if !header.is_empty() => defined.push(json!({
            "type": "HEADER", "format": "TEXT", "text": placeholders(&header),
        })),
        None => {}
    }
    defined
        .push(json!({"type": "BODY", "text": format!("Hello {}", placeholders(&of_type("body")))}));
    let mut buttons = Vec::new();
    for component in components.iter().filter(|c| c["type"] == "button") {
        let index = match &component["index"] {
            Value::String(s) => s.parse::<usize>().unwrap(),
            other => other.as_u64().unwrap() as usize,
        };
        let kind = component["sub_type"].as_str().unwrap().to_ascii_uppercase();
        if buttons.len() <= index {
            buttons.resize(index + 1, json!({"type": "QUICK_REPLY", "text": "OK"}));
        }
        buttons[index] = match kind.as_str() {
            "URL" => json!({"type": "URL", "text": "Open", "url": "https://example.com/{{1}}"}),
            other => json!({"type": other, "text": "Go"}),
        };
    }
    if !buttons.is_empty() {
        defined.push(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    Some(TemplateSpec::approved(
        WABA,
        template["name"].as_str()?,
        template["language"]["code"].as_str()?,
        Value::Array(defined),
    ))
}

async fn examples_emulator() -> Emulator {
    builder(None)
        .throughput(Throughput::Off)
        .pair_limit(PairLimit::Off)
        .customer_window(None)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_send_example_is_accepted_over_http() {
    let Some(examples) = send_examples() else {
        return;
    };
    let emulator = examples_emulator().await;
    // The read-receipt example marks a message the number received.
    for body in examples.values() {
        if body.get("status").is_some() {
            let id = body["message_id"].as_str().unwrap();
            emulator
                .inject_inbound(PNID, UserMessage::text(USER, "Sheena", "hi").with_id(id))
                .unwrap();
        }
    }
    let graph = Graph::new(&emulator);
    let mut templates = 0;
    for (name, body) in &examples {
        if let Some(template) = template_for(body) {
            emulator.add_template(template);
            templates += 1;
        }
        let (status, answer) = graph.send(body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        if body.get("status").is_some() {
            assert_eq!(answer, json!({"success": true}));
        } else {
            assert_eq!(answer["contacts"][0]["input"], body["to"], "{name}");
            assert!(
                answer["messages"][0]["id"]
                    .as_str()
                    .unwrap()
                    .starts_with("wamid.")
            );
        }
    }
    assert!(templates >= 9, "{templates} template examples");
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.requests as usize, examples.len());
    assert!(counters.errors.is_empty(), "{counters:?}");
    emulator.shutdown().await;
}

fn pointer_parent<'a>(body: &'a mut Value, pointer: &str) -> (&'a mut Value, String) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = body
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} in {pointer}"));
    (parent, key.to_owned())
}

fn set(body: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer_parent(body, pointer);
    match parent {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        other => panic!("cannot set {pointer} in {other}"),
    }
}

fn remove(body: &mut Value, pointer: &str) {
    let (parent, key) = pointer_parent(body, pointer);
    parent
        .as_object_mut()
        .unwrap()
        .remove(&key)
        .expect("field present");
}

fn long(n: usize) -> Value {
    Value::String("x".repeat(n))
}

enum Edit {
    Set(&'static str, Value),
    Remove(&'static str),
    Custom(fn(&mut Value)),
}

#[tokio::test]
async fn broken_variants_are_refused_with_the_right_code() {
    let Some(examples) = send_examples() else {
        return;
    };
    let cases: Vec<(&str, Edit, i64, &str)> = vec![
        (
            "Send Text Message",
            Edit::Remove("/text/body"),
            131_008,
            "text['body']",
        ),
        (
            "Send Text Message",
            Edit::Set("/text/body", long(4097)),
            131_009,
            "text['body']",
        ),
        (
            "Send Text Message",
            Edit::Set("/text/body", json!(42)),
            131_009,
            "text['body']",
        ),
        (
            "Send Text Message",
            Edit::Set("/messaging_product", json!("sms")),
            100,
            "messaging_product",
        ),
        (
            "Send Text Message",
            Edit::Remove("/messaging_product"),
            131_008,
            "messaging_product",
        ),
        (
            "Send Text Message",
            Edit::Set("/type", json!("fax")),
            100,
            "type",
        ),
        (
            "Send Text Message",
            Edit::Set("/type", json!("image")),
            131_008,
            "image",
        ),
        ("Send Text Message", Edit::Remove("/to"), 131_008, "to"),
        (
            "Send Text Message",
            Edit::Set("/recipient_type", json!("crowd")),
            131_009,
            "recipient_type",
        ),
        (
            "Send Text Message",
            Edit::Set("/biz_opaque_callback_data", long(513)),
            131_009,
            "biz_opaque_callback_data",
        ),
        (
            "Send Text Message with Preview URL",
            Edit::Set("/image", json!({"id": "1"})),
            100,
            "type",
        ),
        (
            "Send Reply to Text Message",
            Edit::Remove("/context/message_id"),
            131_008,
            "context['message_id']",
        ),
        (
            "Send Image Message by ID",
            Edit::Set("/image/link", json!("https://x/y.png")),
            131_009,
            "image",
        ),
        (
            "Send Image Message by ID",
            Edit::Remove("/image/id"),
            131_008,
            "image['id' or 'link']",
        ),
        (
            "Send Image Message by ID",
            Edit::Set("/image/caption", long(1025)),
            131_009,
            "image['caption']",
        ),
        (
            "Send Audio Message by ID",
            Edit::Set("/audio/caption", json!("hi")),
            100,
            "audio['caption']",
        ),
        (
            "Send Sticker Message by ID",
            Edit::Set("/sticker/caption", json!("hi")),
            100,
            "sticker['caption']",
        ),
        (
            "Send Video Message by ID",
            Edit::Set("/video/filename", json!("a.mp4")),
            100,
            "video['filename']",
        ),
        (
            "Send Location Message",
            Edit::Set("/location/latitude", json!("north")),
            131_009,
            "location['latitude']",
        ),
        (
            "Send Location Message",
            Edit::Set("/location/latitude", json!(91.0)),
            131_009,
            "location['latitude']",
        ),
        (
            "Send Location Message",
            Edit::Set("/location/longitude", json!(-180.5)),
            131_009,
            "location['longitude']",
        ),
        (
            "Send Location Message",
            Edit::Remove("/location/longitude"),
            131_008,
            "location['longitude']",
        ),
        (
            "Send Contact Message",
            Edit::Remove("/contacts/0/name/formatted_name"),
            131_008,
            "contacts[0]['name']['formatted_name']",
        ),
        (
            "Send Contact Message",
            Edit::Set("/contacts", json!([])),
            131_009,
            "contacts",
        ),
        (
            "Send Reply with Reaction Message",
            Edit::Remove("/reaction/message_id"),
            131_008,
            "reaction['message_id']",
        ),
        (
            "Send Reply with Reaction Message",
            Edit::Set("/context", json!({"message_id": "wamid.X"})),
            131_009,
            "context",
        ),
        (
            "Send Reply Button",
            Edit::Custom(|b| {
                let button = b["interactive"]["action"]["buttons"][0].clone();
                let buttons = b["interactive"]["action"]["buttons"]
                    .as_array_mut()
                    .unwrap();
                for i in 0..2 {
                    let mut extra = button.clone();
                    extra["reply"]["id"] = format!("extra-{i}").into();
                    extra["reply"]["title"] = format!("Extra {i}").into();
                    buttons.push(extra);
                }
            }),
            131_009,
            "interactive['action']['buttons']",
        ),
        (
            "Send Reply Button",
            Edit::Set("/interactive/action/buttons/0/reply/title", long(21)),
            131_009,
            "interactive['action']['buttons'][0]['reply']['title']",
        ),
        (
            "Send Reply Button",
            Edit::Set(
                "/interactive/action/buttons/1/reply/title",
                json!("<BUTTON_TITLE_1>"),
            ),
            131_009,
            "['title']",
        ),
        (
            "Send Reply Button",
            Edit::Set("/interactive/body/text", long(1025)),
            131_009,
            "interactive['body']['text']",
        ),
        (
            "Send Reply Button",
            Edit::Remove("/interactive/body"),
            131_008,
            "interactive['body']",
        ),
        (
            "Send Reply Button",
            Edit::Set("/interactive/type", json!("carousel_of_doom")),
            131_009,
            "interactive['type']",
        ),
        (
            "Send List Message",
            Edit::Set("/interactive/footer/text", long(61)),
            131_009,
            "interactive['footer']['text']",
        ),
        (
            "Send List Message",
            Edit::Set("/interactive/header/text", long(61)),
            131_009,
            "interactive['header']['text']",
        ),
        (
            "Send List Message",
            Edit::Set(
                "/interactive/header",
                json!({"type": "image", "image": {"id": "1"}}),
            ),
            131_009,
            "interactive['header']['type']",
        ),
        (
            "Send List Message",
            Edit::Set("/interactive/action/button", long(21)),
            131_009,
            "interactive['action']['button']",
        ),
        (
            "Send List Message",
            Edit::Set("/interactive/action/sections/0/rows/0/title", long(25)),
            131_009,
            "['rows'][0]['title']",
        ),
        (
            "Send List Message",
            Edit::Set(
                "/interactive/action/sections/0/rows/0/description",
                long(73),
            ),
            131_009,
            "['rows'][0]['description']",
        ),
        (
            "Send List Message",
            Edit::Remove("/interactive/action/sections/1/title"),
            131_008,
            "interactive['action']['sections'][1]['title']",
        ),
        (
            "Send List Message",
            Edit::Custom(|b| {
                let rows = b["interactive"]["action"]["sections"][0]["rows"]
                    .as_array_mut()
                    .unwrap();
                for i in 0..7 {
                    rows.push(json!({"id": format!("r{i}"), "title": format!("Row {i}")}));
                }
            }),
            131_009,
            "10 rows",
        ),
        (
            "Send List Message",
            Edit::Custom(|b| {
                let sections = b["interactive"]["action"]["sections"]
                    .as_array_mut()
                    .unwrap();
                sections.truncate(0);
                for i in 0..11 {
                    sections.push(json!({"title": format!("S{i}"), "rows": [{"id": format!("r{i}"), "title": "t"}]}));
                }
            }),
            131_009,
            "interactive['action']['sections']",
        ),
        (
            "Send Published Flow by ID",
            Edit::Set("/interactive/action/parameters/flow_cta", long(21)),
            131_009,
            "['flow_cta']",
        ),
        (
            "Send Published Flow by ID",
            Edit::Set("/interactive/action/parameters/flow_name", json!("x")),
            131_009,
            "flow_name",
        ),
        (
            "Send Published Flow by ID",
            Edit::Set(
                "/interactive/action/parameters/flow_message_version",
                json!("2"),
            ),
            131_009,
            "flow_message_version",
        ),
        (
            "Send Test Message",
            Edit::Remove("/template/name"),
            131_008,
            "template['name']",
        ),
        (
            "Send Test Message",
            Edit::Remove("/template/language/code"),
            131_008,
            "template['language']['code']",
        ),
        (
            "Send Test Message",
            Edit::Set("/template/language/policy", json!("fuzzy")),
            131_009,
            "template['language']['policy']",
        ),
        (
            "Send Message Template Text",
            Edit::Remove("/template/components/0/parameters/1/currency/amount_1000"),
            131_008,
            "['currency']['amount_1000']",
        ),
        (
            "Send Message Template Interactive",
            Edit::Remove("/template/components/2/sub_type"),
            131_008,
            "template['components'][2]['sub_type']",
        ),
        (
            "Send Message Template Interactive",
            Edit::Set(
                "/template/components/0/parameters/0/type",
                json!("hologram"),
            ),
            131_009,
            "template['components'][0]['parameters'][0]['type']",
        ),
        (
            "Send typing indicator and read receipt",
            Edit::Remove("/message_id"),
            131_008,
            "message_id",
        ),
        (
            "Send typing indicator and read receipt",
            Edit::Set("/status", json!("unread")),
            131_009,
            "status",
        ),
        // Semantic checks after the structural ones: the template does not exist, or takes
        // another number of parameters.
        (
            "Send Test Message",
            Edit::Set("/template/name", json!("no_such_template")),
            132_001,
            "no_such_template",
        ),
        (
            "Send Message Template Text",
            Edit::Custom(|b| {
                b["template"]["components"][0]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
            132_000,
            "body",
        ),
    ];
    let emulator = examples_emulator().await;
    let graph = Graph::new(&emulator);
    for (name, edit, expected, field) in cases {
        let mut body = examples
            .get(name)
            .unwrap_or_else(|| panic!("no example named {name}"))
            .clone();
        if let Some(template) = template_for(&body) {
            emulator.add_template(template);
        }
        match edit {
            Edit::Set(pointer, value) => set(&mut body, pointer, value),
            Edit::Remove(pointer) => remove(&mut body, pointer),
            Edit::Custom(f) => f(&mut body),
        }
        let (status, answer) = graph.send(&body).await;
        assert!(status == 400 || status == 404, "{name}: {status} {answer}");
        assert_eq!(code(&answer), expected, "{name} → {answer}");
        let details = details(&answer);
        assert!(
            details.contains(field),
            "{name}: details should name {field}: {details}"
        );
        if expected < 132_000 {
            let error = check_messages_request(&body).expect_err("refused by the checker too");
            assert_eq!(error.code, expected, "{name}");
        }
    }
    emulator.shutdown().await;
}

#[test]
fn cta_url_rules() {
    let message = |display_text: &str| {
        json!({
            "messaging_product": "whatsapp",
            "to": USER,
            "type": "interactive",
            "interactive": {
                "type": "cta_url",
                "header": {"type": "image", "image": {"link": "https://example.com/a.png"}},
                "body": {"text": "See the dates"},
                "footer": {"text": "Dates subject to change."},
                "action": {"name": "cta_url", "parameters": {
                    "display_text": display_text, "url": "https://example.com/tour"}},
            },
        })
    };
    assert!(check_messages_request(&message("See Dates")).is_ok());
    let error = check_messages_request(&message(&"x".repeat(21))).unwrap_err();
    assert_eq!(error.code, 131_009);
    assert!(error.details.unwrap().contains("['display_text']"));
    let mut captioned = message("See Dates");
    captioned["interactive"]["header"]["image"]["caption"] = "no".into();
    assert_eq!(check_messages_request(&captioned).unwrap_err().code, 100);
}
