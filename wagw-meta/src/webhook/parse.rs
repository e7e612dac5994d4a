//! Turning a webhook POST body into [`WebhookEvent`]s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use wagw_core::event::{
    AccountUpdate, InboundContact, InboundEvent, InboundMessage, PhoneNumberQualityUpdate,
    StatusUpdate, TemplateCategoryUpdate, TemplateQualityUpdate, TemplateStatusUpdate,
    WebhookError,
};

use crate::error::Error;

/// The webhook field that carries messages, statuses and errors.
pub const FIELD_MESSAGES: &str = "messages";

/// One event of a webhook delivery, with what the gateway needs to route it to a channel.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The WhatsApp Business Account id (`entry[].id`).
    pub waba_id: String,
    /// The business number's phone-number id (`value.metadata.phone_number_id`), when the
    /// change concerns one number.
    pub phone_number_id: Option<String>,
    /// The business number as displayed (`value.metadata.display_phone_number`, or the
    /// `display_phone_number` / `phone_number` of number-level fields).
    pub display_phone_number: Option<String>,
    /// The change's `field`, e.g. `messages` or `message_template_status_update`.
    pub field: String,
    /// `entry[].time`, when Meta sends it.
    pub time: Option<DateTime<Utc>>,
    /// The `value.contacts[]` entry of the user the event is about, as sent (`wa_id`,
    /// `profile.name`, `user_id` ...): the sender of an inbound message (its profile name is
    /// also copied into [`InboundMessage::profile_name`]), the recipient of a status, or the
    /// sender named by a message item that did not parse.
    pub contact: Option<Value>,
    /// Every `value.contacts[]` entry of the change, typed, kept whatever else the change
    /// holds (statuses only, a malformed message ...), so a profile name or a
    /// business-scoped user id is never lost.
    pub contacts: Vec<InboundContact>,
    /// Why this event is kept raw as [`InboundEvent::Unknown`] when the part of the body it
    /// stands for did not parse (a malformed change, entry or item); `None` for events that
    /// parsed and for fields wagw merely does not model. The other changes of the same body
    /// are still delivered, so report this one (acknowledging the body) instead of refusing
    /// the whole delivery, which Meta would redeliver for days.
    pub problem: Option<String>,
    /// The event.
    pub event: InboundEvent,
}

impl From<WebhookEvent> for wagw_core::conversation::RoutedEvent {
    /// What wagw-core's [`InboundPipeline`](wagw_core::conversation::InboundPipeline) needs
    /// to route and store the event.
    fn from(event: WebhookEvent) -> Self {
        Self {
            waba_id: event.waba_id,
            phone_number_id: event.phone_number_id,
            contact: event.contact,
            event: event.event,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    object: Option<String>,
    #[serde(borrow)]
    entry: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(deserialize_with = "string_or_number")]
    id: String,
    #[serde(default)]
    time: Option<Value>,
    #[serde(borrow, default)]
    changes: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Change<'a> {
    field: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

/// The field given to events standing for an entry or change that did not parse at all.
pub const FIELD_INVALID: &str = "invalid";

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    display_phone_number: Option<String>,
    #[serde(default)]
    phone_number_id: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

fn unix_time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = match value? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    DateTime::from_timestamp(seconds, 0)
}

fn raw_to_value(raw: &RawValue) -> Value {
    // The text came out of a successful JSON parse, so re-parsing cannot fail in practice.
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// Parses a webhook POST body (already verified) into events, in delivery order.
///
/// Every `entry[].changes[]` yields at least one event. Items or fields wagw does not model,
/// and items that do not parse, become [`InboundEvent::Unknown`] holding the raw JSON, so
/// nothing is dropped. For the `messages` field an unparseable item is kept as
/// `Unknown { field: "messages", value: {"messages": [item]} }` (likewise `statuses`,
/// `errors`), and keys other than `metadata`, `contacts`, `messaging_product`, `messages`,
/// `statuses` and `errors` are kept as one `Unknown` holding them.
///
/// One malformed entry or change does not spoil the others: it becomes an `Unknown` event
/// (field [`FIELD_INVALID`] when even its `field` is unreadable) with
/// [`WebhookEvent::problem`] saying what is wrong, and the rest of the body is delivered as
/// usual.
///
/// # Errors
///
/// [`Error::InvalidPayload`] when the body is not JSON or has no `entry` array.
pub fn parse(body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::invalid_payload(format!("body is not UTF-8: {e}")))?;
    let envelope: Envelope<'_> = serde_json::from_str(text)?;
    if let Some(object) = envelope.object.as_deref()
        && object != "whatsapp_business_account"
    {
        tracing::debug!(object, "webhook for an unexpected object type");
    }
    let mut events = Vec::new();
    for raw_entry in envelope.entry {
        let entry = match serde_json::from_str::<Entry<'_>>(raw_entry.get()) {
            Ok(entry) => entry,
            Err(error) => {
                events.push(invalid(
                    "",
                    None,
                    raw_entry,
                    format!("webhook entry does not parse: {error}"),
                ));
                continue;
            }
        };
        let time = unix_time(entry.time.as_ref());
        for raw_change in entry.changes {
            let change = match serde_json::from_str::<Change<'_>>(raw_change.get()) {
                Ok(change) => change,
                Err(error) => {
                    events.push(invalid(
                        &entry.id,
                        time,
                        raw_change,
                        format!("webhook change does not parse: {error}"),
                    ));
                    continue;
                }
            };
            let context = Context {
                waba_id: &entry.id,
                field: &change.field,
                time,
            };
            if change.field == FIELD_MESSAGES {
                parse_messages(&context, change.value, &mut events);
            } else {
                events.push(parse_other(&context, change.value));
            }
        }
    }
    Ok(events)
}

/// An event standing for a part of the body that did not parse.
fn invalid(
    waba_id: &str,
    time: Option<DateTime<Utc>>,
    raw: &RawValue,
    problem: String,
) -> WebhookEvent {
    tracing::warn!(%problem, "webhook part kept raw");
    WebhookEvent {
        waba_id: waba_id.to_owned(),
        phone_number_id: None,
        display_phone_number: None,
        field: FIELD_INVALID.to_owned(),
        time,
        contact: None,
        contacts: Vec::new(),
        problem: Some(problem),
        event: InboundEvent::Unknown {
            field: FIELD_INVALID.to_owned(),
            value: raw_to_value(raw),
        },
    }
}

/// Verifies the `X-Hub-Signature-256` header, then [`parse`]s the body.
///
/// # Errors
///
/// Those of [`verify`](super::signature::verify) and [`parse`].
pub fn verify_and_parse(
    app_secret: &[u8],
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<Vec<WebhookEvent>, Error> {
    super::signature::verify(app_secret, body, signature_header)?;
    parse(body)
}

struct Context<'a> {
    waba_id: &'a str,
    field: &'a str,
    time: Option<DateTime<Utc>>,
}

impl Context<'_> {
    fn event(&self, metadata: &Metadata, event: InboundEvent) -> WebhookEvent {
        WebhookEvent {
            waba_id: self.waba_id.to_owned(),
            phone_number_id: metadata.phone_number_id.clone(),
            display_phone_number: metadata.display_phone_number.clone(),
            field: self.field.to_owned(),
            time: self.time,
            contact: None,
            contacts: Vec::new(),
            problem: None,
            event,
        }
    }

    fn unknown(&self, value: Value) -> InboundEvent {
        InboundEvent::Unknown {
            field: self.field.to_owned(),
            value,
        }
    }
}

fn parse_messages(context: &Context<'_>, raw: &RawValue, events: &mut Vec<WebhookEvent>) {
    let Ok(mut value) = serde_json::from_str::<HashMap<String, &RawValue>>(raw.get()) else {
        // Not an object: keep it whole.
        let mut event = context.event(&Metadata::default(), context.unknown(raw_to_value(raw)));
        event.problem = Some("the change's value is not an object".to_owned());
        events.push(event);
        return;
    };
    let metadata: Metadata = value
        .remove("metadata")
        .and_then(|m| serde_json::from_str(m.get()).ok())
        .unwrap_or_default();
    let raw_contacts: Vec<Value> = value
        .remove("contacts")
        .and_then(|c| serde_json::from_str(c.get()).ok())
        .unwrap_or_default();
    let contacts: Vec<InboundContact> = raw_contacts
        .iter()
        .filter_map(|c| InboundContact::deserialize(c).ok())
        .collect();
    value.remove("messaging_product");
    let before = events.len();
    let with_contacts = |mut event: WebhookEvent, contact: Option<&Value>| {
        event.contact = contact.cloned();
        event.contacts.clone_from(&contacts);
        event
    };

    for (key, item) in items(&mut value, "messages") {
        let event = match serde_json::from_str::<InboundMessage>(item.get()) {
            Ok(mut message) => {
                let contact =
                    find_contact(&raw_contacts, Some(&message.from), message.from_user_id());
                message.profile_name = contact
                    .and_then(|c| c.get("profile")?.get("name")?.as_str())
                    .map(str::to_owned);
                with_contacts(
                    context.event(&metadata, InboundEvent::Message(message)),
                    contact,
                )
            }
            Err(e) => {
                let raw_item = raw_to_value(item);
                let contact = find_contact(
                    &raw_contacts,
                    raw_item.get("from").and_then(Value::as_str),
                    raw_item.get("from_user_id").and_then(Value::as_str),
                );
                with_contacts(unparsed(context, &metadata, key, item, &e), contact)
            }
        };
        events.push(event);
    }
    for (key, item) in items(&mut value, "statuses") {
        events.push(match serde_json::from_str::<StatusUpdate>(item.get()) {
            Ok(status) => {
                // A group status names the group in `recipient_id`; the member is the
                // participant.
                let user = if status.is_group() {
                    status.recipient_participant_id()
                } else {
                    status.recipient_id.as_deref()
                };
                let contact = find_contact(&raw_contacts, user, status.recipient_user_id());
                with_contacts(
                    context.event(&metadata, InboundEvent::Status(status)),
                    contact,
                )
            }
            Err(e) => with_contacts(unparsed(context, &metadata, key, item, &e), None),
        });
    }
    for (key, item) in items(&mut value, "errors") {
        events.push(match serde_json::from_str::<WebhookError>(item.get()) {
            Ok(error) => with_contacts(context.event(&metadata, InboundEvent::Error(error)), None),
            Err(e) => with_contacts(unparsed(context, &metadata, key, item, &e), None),
        });
    }
    if !value.is_empty() || events.len() == before {
        // Unknown keys (or an empty change): keep them, with the metadata for routing.
        let mut rest: Map<String, Value> = value
            .into_iter()
            .map(|(k, v)| (k, raw_to_value(v)))
            .collect();
        if events.len() == before {
            rest = match raw_to_value(raw) {
                Value::Object(map) => map,
                _ => rest,
            };
        }
        events.push(with_contacts(
            context.event(&metadata, context.unknown(Value::Object(rest))),
            None,
        ));
    }
}

/// The items of array `key`; an array that does not parse is yielded as one item.
fn items<'a>(
    value: &mut HashMap<String, &'a RawValue>,
    key: &'static str,
) -> Vec<(&'static str, &'a RawValue)> {
    let Some(raw) = value.remove(key) else {
        return Vec::new();
    };
    match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
        Ok(list) => list.into_iter().map(|item| (key, item)).collect(),
        Err(_) => vec![(key, raw)],
    }
}

fn unparsed(
    context: &Context<'_>,
    metadata: &Metadata,
    key: &str,
    item: &RawValue,
    error: &serde_json::Error,
) -> WebhookEvent {
    tracing::warn!(field = context.field, key, %error, "webhook item kept raw: it does not parse");
    let mut wrapper = Map::new();
    wrapper.insert(key.to_owned(), Value::Array(vec![raw_to_value(item)]));
    let mut event = context.event(metadata, context.unknown(Value::Object(wrapper)));
    event.problem = Some(format!("a {key} item does not parse: {error}"));
    event
}

/// The contact named by `wa_id` or by the business-scoped `user_id`; failing that, the only
/// contact of the change (Meta sends one per user the change is about).
fn find_contact<'a>(
    contacts: &'a [Value],
    wa_id: Option<&str>,
    user_id: Option<&str>,
) -> Option<&'a Value> {
    let field = |c: &'a Value, key: &str| c.get(key).and_then(Value::as_str);
    contacts
        .iter()
        .find(|c| {
            (wa_id.is_some() && field(c, "wa_id") == wa_id)
                || (user_id.is_some() && field(c, "user_id") == user_id)
        })
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })
}

fn parse_other(context: &Context<'_>, raw: &RawValue) -> WebhookEvent {
    fn typed<T: serde::de::DeserializeOwned>(
        raw: &RawValue,
        wrap: fn(T) -> InboundEvent,
    ) -> Result<InboundEvent, serde_json::Error> {
        serde_json::from_str(raw.get()).map(wrap)
    }
    let mut problem = None;
    let parsed = match context.field {
        "message_template_status_update" => Some(typed::<TemplateStatusUpdate>(
            raw,
            InboundEvent::TemplateStatus,
        )),
        "message_template_quality_update" => Some(typed::<TemplateQualityUpdate>(
            raw,
            InboundEvent::TemplateQuality,
        )),
        "template_category_update" => Some(typed::<TemplateCategoryUpdate>(
            raw,
            InboundEvent::TemplateCategory,
        )),
        "phone_number_quality_update" => Some(typed::<PhoneNumberQualityUpdate>(
            raw,
            InboundEvent::PhoneNumberQuality,
        )),
        "account_update" => Some(typed::<AccountUpdate>(raw, InboundEvent::AccountUpdate)),
        _ => None,
    };
    let event = match parsed {
        Some(Ok(event)) => event,
        Some(Err(error)) => {
            tracing::warn!(field = context.field, %error, "webhook change kept raw: it does not parse");
            problem = Some(format!(
                "the {} change does not parse: {error}",
                context.field
            ));
            context.unknown(raw_to_value(raw))
        }
        None => context.unknown(raw_to_value(raw)),
    };
    let mut metadata = Metadata::default();
    match &event {
        InboundEvent::PhoneNumberQuality(update) => {
            metadata.display_phone_number = Some(update.display_phone_number.clone());
        }
        InboundEvent::AccountUpdate(update) => {
            metadata.display_phone_number = update.phone_number.clone();
        }
        InboundEvent::Unknown { value, .. } => {
            if let Some(m) = value.get("metadata") {
                metadata = Metadata::deserialize(m).unwrap_or_default();
            }
        }
        _ => {}
    }
    let mut event = context.event(&metadata, event);
    event.problem = problem;
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(parse(b"nope"), Err(Error::InvalidPayload { .. })));
        assert!(matches!(parse(b"{}"), Err(Error::InvalidPayload { .. })));
        assert!(parse(br#"{"object":"x","entry":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn bad_item_kept_raw() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"9"},"statuses":[{"id":"w"}],"novel":[1]}}]}]}"#;
        let events = parse(body).unwrap();
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| e.phone_number_id.as_deref() == Some("9"))
        );
        assert!(
            matches!(&events[0].event, InboundEvent::Unknown { value, .. } if value["statuses"][0]["id"] == "w")
        );
        assert!(
            matches!(&events[1].event, InboundEvent::Unknown { value, .. } if value["novel"][0] == 1)
        );
    }
}
