//! Webhook fidelity: contacts are kept on every event of a change, business-scoped user
//! ids (BSUIDs) and group recipient fields are modelled, a malformed change or entry does
//! not spoil the rest of the body, and an empty app secret is refused.

use serde_json::{Value, json};
use wagw_core::event::{DeliveryStatus, InboundEvent};
use wagw_meta::webhook::{self, FIELD_INVALID, WebhookEvent};

const WABA: &str = "102290129340398";
const PNID: &str = "106540352242922";

fn parse(body: &Value) -> Vec<WebhookEvent> {
    webhook::parse(&serde_json::to_vec(body).unwrap()).expect("body parses")
}

fn change(value: Value) -> Value {
    json!({"field": "messages", "value": value})
}

fn value_with(key: &str, items: Value, contacts: Value) -> Value {
    json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PNID},
        "contacts": contacts, key: items})
}

fn body(changes: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account",
        "entry": [{"id": WABA, "time": 1_749_416_383, "changes": changes}]})
}

fn bsuid_contact() -> Value {
    json!({"profile": {"name": "Sari", "username": "@sari"}, "wa_id": "628123456789",
        "user_id": "ID.13491208655302741918", "parent_user_id": "ID.ENT.99",
        "username": "@sari", "identity_key_hash": "abc"})
}

#[test]
fn contacts_are_kept_on_status_only_changes() {
    let status = json!({"id": "wamid.S", "status": "delivered", "timestamp": "1749416383",
        "recipient_id": "628123456789", "recipient_user_id": "ID.13491208655302741918"});
    let events = parse(&body(vec![change(value_with(
        "statuses",
        json!([status]),
        json!([bsuid_contact()]),
    ))]));
    assert_eq!(events.len(), 1);
    let event = &events[0];
    let InboundEvent::Status(status) = &event.event else {
        panic!("{event:?}")
    };
    assert_eq!(status.recipient_user_id(), Some("ID.13491208655302741918"));
    assert_eq!(event.contact.as_ref(), Some(&bsuid_contact()));
    assert_eq!(event.contacts.len(), 1);
    let contact = &event.contacts[0];
    assert_eq!(contact.wa_id.as_deref(), Some("628123456789"));
    assert_eq!(contact.user_id.as_deref(), Some("ID.13491208655302741918"));
    assert_eq!(contact.parent_user_id.as_deref(), Some("ID.ENT.99"));
    assert_eq!(contact.username.as_deref(), Some("@sari"));
    assert_eq!(contact.profile_name(), Some("Sari"));
    assert_eq!(contact.extra["identity_key_hash"], "abc");
    assert!(event.problem.is_none());
}

#[test]
fn contacts_are_kept_for_a_malformed_message() {
    // `timestamp` is not a number: the item does not parse.
    let broken = json!({"from": "628123456789", "id": "wamid.M", "timestamp": "soon",
        "type": "text", "text": {"body": "Halo"}});
    let events = parse(&body(vec![change(value_with(
        "messages",
        json!([broken]),
        json!([bsuid_contact()]),
    ))]));
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(
        matches!(&event.event, InboundEvent::Unknown { value, .. } if value["messages"][0] == broken)
    );
    assert!(event.problem.as_deref().unwrap().contains("messages item"));
    assert_eq!(event.contact.as_ref(), Some(&bsuid_contact()));
    assert_eq!(event.contacts[0].profile_name(), Some("Sari"));
}

#[test]
fn a_bsuid_only_sender_is_matched_by_user_id() {
    let other = json!({"profile": {"name": "Budi"}, "wa_id": "628111", "user_id": "ID.1"});
    let bsuid_only = json!({"profile": {"name": "Citra"}, "user_id": "ID.2",
        "parent_user_id": "ID.ENT.2"});
    let message = json!({"from": "", "from_user_id": "ID.2", "from_parent_user_id": "ID.ENT.2",
        "id": "wamid.B", "timestamp": "1749416383", "type": "text", "text": {"body": "Hi"}});
    let events = parse(&body(vec![change(value_with(
        "messages",
        json!([message]),
        json!([other, bsuid_only]),
    ))]));
    let InboundEvent::Message(message) = &events[0].event else {
        panic!("{:?}", events[0])
    };
    assert_eq!(message.from_user_id(), Some("ID.2"));
    assert_eq!(message.from_parent_user_id(), Some("ID.ENT.2"));
    assert_eq!(message.profile_name.as_deref(), Some("Citra"));
    assert_eq!(events[0].contact.as_ref(), Some(&bsuid_only));
    assert_eq!(events[0].contacts.len(), 2);
}

#[test]
fn group_statuses_keep_their_recipient_fields() {
    let status = json!({"id": "wamid.G", "status": "read", "timestamp": "1749416383",
        "recipient_id": "120363041234567890", "recipient_type": "group",
        "recipient_participant_id": "628123456789",
        "recipient_participant_user_id": "ID.13491208655302741918"});
    let events = parse(&body(vec![change(value_with(
        "statuses",
        json!([status.clone()]),
        json!([bsuid_contact()]),
    ))]));
    let InboundEvent::Status(parsed) = &events[0].event else {
        panic!("{:?}", events[0])
    };
    assert_eq!(parsed.status, DeliveryStatus::Read);
    assert!(parsed.is_group());
    assert_eq!(parsed.recipient_type(), Some("group"));
    assert_eq!(parsed.recipient_id.as_deref(), Some("120363041234567890"));
    assert_eq!(parsed.recipient_participant_id(), Some("628123456789"));
    assert_eq!(events[0].contact.as_ref(), Some(&bsuid_contact()));
    // Nothing of the group status is lost on the way back out.
    assert_eq!(serde_json::to_value(parsed).unwrap(), status);
}

#[test]
fn one_malformed_change_does_not_spoil_the_others() {
    let good_status = json!({"id": "wamid.OK", "status": "sent", "timestamp": "1749416383",
        "recipient_id": "628123456789"});
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": WABA, "changes": [
            {"field": "messages", "value": value_with("statuses", json!([good_status]), json!([]))},
            {"value": {"no": "field"}},
            42,
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
            {"field": "account_update", "value": {"event": "PARTNER_ADDED"}}]},
        {"changes": "not an entry"},
        {"id": "W2", "changes": [
            {"field": "messages", "value": value_with("statuses",
                json!([{"id": "wamid.OK2", "status": "read", "timestamp": "1749416390"}]), json!([]))}]}]});
    let events = parse(&body);
    let summary: Vec<(String, String, bool)> = events
        .iter()
        .map(|e| {
            let kind = match &e.event {
                InboundEvent::Status(s) => format!("status/{}", s.id),
                InboundEvent::AccountUpdate(_) => "account".to_owned(),
                InboundEvent::Unknown { field, .. } => format!("unknown/{field}"),
                other => format!("{other:?}"),
            };
            (e.waba_id.clone(), kind, e.problem.is_some())
        })
        .collect();
    let expected = [
        (WABA, "status/wamid.OK", false),
        (WABA, "unknown/invalid", true),
        (WABA, "unknown/invalid", true),
        (WABA, "unknown/message_template_status_update", true),
        (WABA, "account", false),
        ("", "unknown/invalid", true),
        ("W2", "status/wamid.OK2", false),
    ];
    assert_eq!(
        summary,
        expected
            .iter()
            .map(|(w, k, p)| ((*w).to_owned(), (*k).to_owned(), *p))
            .collect::<Vec<_>>()
    );
    assert_eq!(events[1].field, FIELD_INVALID);
    assert!(
        matches!(&events[1].event, InboundEvent::Unknown { value, .. } if value["value"]["no"] == "field")
    );
    assert!(events[5].problem.as_deref().unwrap().contains("entry"));
    // A whole body that is not a webhook is still refused.
    assert!(webhook::parse(b"{\"entry\": 3}").is_err());
}

#[test]
fn an_empty_app_secret_is_refused() {
    let body = serde_json::to_vec(&body(vec![])).unwrap();
    for secret in [&b""[..], b" "] {
        let header = webhook::sign(secret, &body);
        let error = webhook::verify_and_parse(secret, &body, Some(&header)).unwrap_err();
        assert_eq!(error.code(), "EMPTY_APP_SECRET");
        assert!(matches!(error, wagw_meta::Error::EmptyAppSecret));
    }
}
