//! Webhook parsing: every webhook example of Meta's OpenAPI document, plus hand-made
//! payloads for statuses, template and number updates, and unknown fields.
//!
//! The document lives outside the repository (`shared/` next to it). When it is missing the
//! example test is skipped with a notice, except under `CI=true`, where it fails.

use serde_json::{Value, json};
use wagw_core::event::{
    DeliveryStatus, InboundEvent, InboundKind, InteractiveReply, PricingCategory, PricingModel,
    QualityScore, TemplateStatusEvent,
};
use wagw_core::testkit::openapi::{same, spec};
use wagw_meta::webhook::{self, WebhookEvent};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";

/// The JSON an event was parsed from: an item of `messages[]`/`statuses[]`/`errors[]`, or
/// the change's `value` for the other fields.
fn reserialise(event: &InboundEvent) -> Value {
    match event {
        InboundEvent::Message(m) => serde_json::to_value(m),
        InboundEvent::Status(s) => serde_json::to_value(s),
        InboundEvent::Error(e) => serde_json::to_value(e),
        InboundEvent::TemplateStatus(t) => serde_json::to_value(t),
        InboundEvent::TemplateQuality(t) => serde_json::to_value(t),
        InboundEvent::TemplateCategory(t) => serde_json::to_value(t),
        InboundEvent::PhoneNumberQuality(p) => serde_json::to_value(p),
        InboundEvent::AccountUpdate(a) => serde_json::to_value(a),
        InboundEvent::Unknown { value, .. } => Ok(value.clone()),
        other => panic!("unexpected event {other:?}"),
    }
    .expect("serialises")
}

/// Checks that `events` hold everything of `body`'s changes, in order.
fn assert_lossless(name: &str, body: &Value, events: &[WebhookEvent]) -> (usize, usize) {
    let mut events = events.iter();
    let (mut items, mut others) = (0, 0);
    for entry in body["entry"].as_array().expect("entry[]") {
        for change in entry["changes"].as_array().expect("changes[]") {
            let field = change["field"].as_str().expect("field");
            let value = &change["value"];
            let metadata = &value["metadata"];
            if field == "messages" {
                for key in ["messages", "statuses", "errors"] {
                    for item in value[key].as_array().into_iter().flatten() {
                        let event = events.next().unwrap_or_else(|| panic!("{name}: missing"));
                        assert_eq!(event.waba_id, entry["id"].as_str().expect("id"), "{name}");
                        assert_eq!(event.field, "messages");
                        assert_eq!(
                            event.phone_number_id.as_deref(),
                            metadata["phone_number_id"].as_str(),
                            "{name}"
                        );
                        assert_eq!(
                            event.display_phone_number.as_deref(),
                            metadata["display_phone_number"].as_str(),
                            "{name}"
                        );
                        let written = reserialise(&event.event);
                        assert!(
                            same(&written, item),
                            "{name}: {key} item changed\n{item:#}\n{written:#}"
                        );
                        if let InboundEvent::Message(message) = &event.event {
                            let contact = value["contacts"]
                                .as_array()
                                .and_then(|c| c.iter().find(|c| c["wa_id"] == item["from"]));
                            assert_eq!(event.contact.as_ref(), contact, "{name}: contact");
                            assert_eq!(
                                message.profile_name.as_deref(),
                                contact.and_then(|c| c["profile"]["name"].as_str()),
                                "{name}: profile name"
                            );
                        }
                        items += 1;
                    }
                }
            } else {
                let event = events.next().unwrap_or_else(|| panic!("{name}: missing"));
                assert_eq!(event.field, field);
                let written = reserialise(&event.event);
                assert!(
                    same(&written, value),
                    "{name}: {field} value changed\n{value:#}\n{written:#}"
                );
                if let Some(pnid) = metadata["phone_number_id"].as_str() {
                    assert_eq!(event.phone_number_id.as_deref(), Some(pnid));
                }
                others += 1;
            }
        }
    }
    assert!(events.next().is_none(), "{name}: extra events");
    (items, others)
}

fn parse_value(body: &Value) -> Vec<WebhookEvent> {
    let bytes = serde_json::to_vec(body).expect("serialises");
    let header = webhook::sign(b"secret", &bytes);
    webhook::verify_and_parse(b"secret", &bytes, Some(&header)).expect("parses")
}

#[test]
fn openapi_webhook_examples_parse_losslessly() {
    let Some(spec) = spec() else { return };
    let examples = spec["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]
        ["application/json"]["examples"]
        .as_object()
        .expect("webhook examples");
    let (mut items, mut others) = (0, 0);
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (name, example) in examples {
        let body = &example["value"];
        let events = parse_value(body);
        for event in &events {
            let kind = match &event.event {
                InboundEvent::Message(m) => format!("message/{}", m.kind.kind()),
                InboundEvent::Unknown { field, .. } => format!("unknown/{field}"),
                other => format!("{other:?}").chars().take(20).collect(),
            };
            *kinds.entry(kind).or_default() += 1;
        }
        let (i, o) = assert_lossless(name, body, &events);
        items += i;
        others += o;
    }
    eprintln!(
        "{} webhook examples: {items} messages-field items and {others} other changes \
         parse losslessly; {kinds:?}",
        examples.len()
    );
    assert!(items >= 13, "expected ≥13 message items, found {items}");
    assert!(others >= 3, "expected the 3 group examples, found {others}");
}

fn envelope(field: &str, value: Value) -> Value {
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA, "time": 1_751_247_548, "changes": [{"field": field, "value": value}]}]})
}

fn messages_value(key: &str, items: Value) -> Value {
    json!({"messaging_product": "whatsapp",
           "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
           key: items})
}

fn status(id: &str, status: &str) -> Value {
    json!({"id": id, "status": status, "timestamp": "1749416383", "recipient_id": "16505551234"})
}

#[test]
fn statuses_sent_delivered_read_failed() {
    let mut sent = status("wamid.A", "sent");
    sent["biz_opaque_callback_data"] = json!("campaign-7");
    sent["conversation"] = json!({"id": "7270432eae", "expiration_timestamp": "1749502783",
                                  "origin": {"type": "marketing"}});
    sent["pricing"] = json!({"billable": true, "pricing_model": "PMP", "category": "marketing",
                             "type": "regular"});
    let delivered = status("wamid.A", "delivered");
    let mut read = status("wamid.A", "read");
    read["pricing"] = json!({"pricing_model": "PMP", "category": "service",
                             "type": "free_customer_service"});
    let mut failed = status("wamid.B", "failed");
    failed["errors"] = json!([{"code": 131047, "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]);
    let played = status("wamid.C", "played");
    let body = envelope(
        "messages",
        messages_value("statuses", json!([sent, delivered, read, failed, played])),
    );
    let events = parse_value(&body);
    assert_lossless("statuses", &body, &events);
    let statuses: Vec<_> = events
        .iter()
        .map(|e| match &e.event {
            InboundEvent::Status(s) => s,
            other => panic!("expected a status, got {other:?}"),
        })
        .collect();
    assert_eq!(statuses[0].status, DeliveryStatus::Sent);
    assert_eq!(
        statuses[0].biz_opaque_callback_data.as_deref(),
        Some("campaign-7")
    );
    let pricing = statuses[0].pricing.as_ref().expect("pricing");
    assert_eq!(pricing.pricing_model, Some(PricingModel::Pmp));
    assert_eq!(pricing.category, Some(PricingCategory::Marketing));
    assert_eq!(
        statuses[0]
            .conversation
            .as_ref()
            .and_then(|c| c.expiration_timestamp)
            .map(|t| t.timestamp()),
        Some(1_749_502_783)
    );
    assert_eq!(statuses[1].status, DeliveryStatus::Delivered);
    assert_eq!(statuses[2].status, DeliveryStatus::Read);
    assert_eq!(statuses[3].status, DeliveryStatus::Failed);
    assert_eq!(statuses[3].errors[0].code, 131_047);
    assert!(
        statuses[3].errors[0]
            .details()
            .unwrap()
            .contains("24 hours")
    );
    assert_eq!(statuses[4].status, DeliveryStatus::Played);
    assert!(events.iter().all(|e| e.waba_id == WABA
        && e.phone_number_id.as_deref() == Some(PNID)
        && e.time.map(|t| t.timestamp()) == Some(1_751_247_548)));
}

#[test]
fn value_level_errors() {
    let body = envelope(
        "messages",
        messages_value(
            "errors",
            json!([{"code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
                    "error_data": {"details": "Too many messages"}}]),
        ),
    );
    let events = parse_value(&body);
    assert_lossless("errors", &body, &events);
    assert!(matches!(&events[0].event, InboundEvent::Error(e) if e.code == 130_429));
}

#[test]
fn inbound_messages_with_profile_names_and_interactive_replies() {
    let mut value = messages_value(
        "messages",
        json!([
            {"from": "16505551234", "id": "wamid.1", "timestamp": "1749416383", "type": "text",
             "text": {"body": "Halo"}},
            {"from": "628111", "id": "wamid.2", "timestamp": "1749416384", "type": "interactive",
             "context": {"from": "15550783881", "id": "wamid.menu"},
             "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}},
            {"from": "628111", "id": "wamid.3", "timestamp": "1749416385", "type": "interactive",
             "interactive": {"type": "list_reply",
                             "list_reply": {"id": "row-1", "title": "Row", "description": "First"}}},
            {"from": "628111", "id": "wamid.4", "timestamp": "1749416386", "type": "poll",
             "poll": {"question": "?"}}
        ]),
    );
    value["contacts"] = json!([
        {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": "US.1"},
        {"profile": {"name": "Budi"}, "wa_id": "628111"}
    ]);
    let body = envelope("messages", value);
    let events = parse_value(&body);
    assert_lossless("inbound", &body, &events);
    let names: Vec<_> = events
        .iter()
        .map(|e| match &e.event {
            InboundEvent::Message(m) => m.profile_name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            Some("Sheena Nelson".into()),
            Some("Budi".into()),
            Some("Budi".into()),
            Some("Budi".into())
        ]
    );
    let InboundEvent::Message(m) = &events[1].event else {
        panic!()
    };
    assert!(matches!(&m.kind, InboundKind::Interactive(i)
        if matches!(&i.reply, InteractiveReply::ButtonReply(o) if o.id == "yes")));
    let InboundEvent::Message(m) = &events[2].event else {
        panic!()
    };
    assert!(matches!(&m.kind, InboundKind::Interactive(i)
        if matches!(&i.reply, InteractiveReply::ListReply(o) if o.description.as_deref() == Some("First"))));
    let InboundEvent::Message(m) = &events[3].event else {
        panic!()
    };
    assert!(matches!(&m.kind, InboundKind::Unknown(k) if k == "poll"));
    assert_eq!(events[0].contact.as_ref().unwrap()["user_id"], "US.1");
}

#[test]
fn template_status_quality_and_category_updates() {
    let status = json!({"event": "APPROVED", "message_template_id": 1_689_556_908_129_832u64,
        "message_template_name": "order_confirmation", "message_template_language": "en_US",
        "reason": "NONE", "message_template_category": "UTILITY"});
    let rejected = json!({"event": "REJECTED", "message_template_id": "42",
        "message_template_name": "promo", "message_template_language": "id",
        "reason": "INVALID_FORMAT",
        "rejection_info": {"reason": "bad", "recommendation": "fix it"}});
    let quality = json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
        "message_template_id": 7, "message_template_name": "promo",
        "message_template_language": "id"});
    let category = json!({"message_template_id": 7, "message_template_name": "promo",
        "message_template_language": "id", "previous_category": "UTILITY",
        "new_category": "MARKETING"});
    for (field, value) in [
        ("message_template_status_update", status),
        ("message_template_quality_update", quality),
        ("template_category_update", category),
    ] {
        let body = envelope(field, value);
        let events = parse_value(&body);
        assert_lossless(field, &body, &events);
        assert_eq!(events[0].waba_id, WABA);
        assert_eq!(events[0].phone_number_id, None);
        match &events[0].event {
            InboundEvent::TemplateStatus(t) => {
                assert_eq!(t.event, TemplateStatusEvent::Approved);
                assert_eq!(t.message_template_id, 1_689_556_908_129_832);
                assert_eq!(t.extra["message_template_category"], "UTILITY");
            }
            InboundEvent::TemplateQuality(q) => {
                assert_eq!(q.new_quality_score, QualityScore::Yellow);
            }
            InboundEvent::TemplateCategory(c) => {
                assert_eq!(c.new_category.as_deref(), Some("MARKETING"));
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    // A string template id is accepted too (re-serialised as a number, so compare fields).
    let events = parse_value(&envelope("message_template_status_update", rejected));
    let InboundEvent::TemplateStatus(t) = &events[0].event else {
        panic!("expected a template status")
    };
    assert_eq!(t.message_template_id, 42);
    assert_eq!(t.event, TemplateStatusEvent::Rejected);
    assert_eq!(t.extra["rejection_info"]["recommendation"], "fix it");
}

#[test]
fn phone_number_quality_and_account_updates() {
    let quality = json!({"display_phone_number": "15550783881", "event": "THROUGHPUT_UPGRADE",
        "current_limit": "TIER_UNLIMITED", "max_daily_conversations_per_business": "TIER_UNLIMITED"});
    let body = envelope("phone_number_quality_update", quality);
    let events = parse_value(&body);
    assert_lossless("quality", &body, &events);
    assert_eq!(
        events[0].display_phone_number.as_deref(),
        Some("15550783881")
    );
    assert!(
        matches!(&events[0].event, InboundEvent::PhoneNumberQuality(q) if q.event == "THROUGHPUT_UPGRADE")
    );

    let account = json!({"phone_number": "15550783881", "event": "ACCOUNT_VIOLATION",
        "violation_info": {"violation_type": "SCAM"}});
    let body = envelope("account_update", account);
    let events = parse_value(&body);
    assert_lossless("account", &body, &events);
    assert!(
        matches!(&events[0].event, InboundEvent::AccountUpdate(a) if a.event == "ACCOUNT_VIOLATION")
    );
    assert_eq!(
        events[0].display_phone_number.as_deref(),
        Some("15550783881")
    );
}

#[test]
fn unknown_fields_and_malformed_known_fields_are_kept_raw() {
    let value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
        "calls": [{"id": "c1", "event": "connect"}]});
    let body = envelope("calls", value.clone());
    let events = parse_value(&body);
    assert_lossless("calls", &body, &events);
    assert!(
        matches!(&events[0].event, InboundEvent::Unknown { field, value: v } if field == "calls" && *v == value)
    );
    assert_eq!(events[0].phone_number_id.as_deref(), Some(PNID));

    // A known field whose value misses required keys is kept, not dropped.
    let broken = json!({"event": "APPROVED"});
    let events = parse_value(&envelope("message_template_status_update", broken.clone()));
    assert!(matches!(&events[0].event, InboundEvent::Unknown { value, .. } if *value == broken));

    // `messages` field without messages/statuses/errors (e.g. echoes): kept whole.
    let echoes = messages_value("message_echoes", json!([{"id": "x"}]));
    let events = parse_value(&envelope("messages", echoes.clone()));
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0].event, InboundEvent::Unknown { value, .. } if *value == echoes));
}

#[test]
fn several_entries_and_changes_keep_order() {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "W1", "changes": [
            {"field": "messages", "value": messages_value("statuses", json!([status("a", "sent"), status("b", "sent")]))},
            {"field": "account_update", "value": {"event": "PARTNER_ADDED"}}]},
        {"id": "W2", "changes": [
            {"field": "messages", "value": messages_value("statuses", json!([status("c", "read")]))}]}]});
    let events = parse_value(&body);
    assert_lossless("multi", &body, &events);
    let ids: Vec<_> = events.iter().map(|e| e.waba_id.as_str()).collect();
    assert_eq!(ids, ["W1", "W1", "W1", "W2"]);
}

#[test]
fn handshake() {
    assert_eq!(
        webhook::verify_subscription(Some("subscribe"), Some("tok"), Some("ch"), "tok").unwrap(),
        "ch"
    );
    let error = webhook::verify_subscription(Some("subscribe"), Some("bad"), Some("ch"), "tok")
        .unwrap_err();
    assert_eq!(error.code(), "VERIFY_TOKEN_MISMATCH");
    assert!(webhook::verify_subscription(None, Some("tok"), Some("ch"), "tok").is_err());
    assert_eq!(
        webhook::verify_subscription_query(
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=tok",
            "tok"
        )
        .unwrap(),
        "1158201444"
    );
}

#[test]
fn bad_signature_stops_parsing() {
    let body = serde_json::to_vec(&envelope("account_update", json!({"event": "X"}))).unwrap();
    let header = webhook::sign(b"other", &body);
    assert!(matches!(
        webhook::verify_and_parse(b"secret", &body, Some(&header)),
        Err(wagw_meta::Error::InvalidSignature)
    ));
}
