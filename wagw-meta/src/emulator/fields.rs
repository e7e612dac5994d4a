//! Which fields each object of a `POST /{phone-number-id}/messages` body may hold.
//!
//! [`FROM_SCHEMA`] copies the property names of Meta's OpenAPI document (v23.0) object by
//! object; `tests/emulator_request_fields.rs` reads the document at test time and fails when a
//! table and its schema disagree. Where the schema is wrong (Meta's own examples, or Meta's
//! reference pages, use a field the schema lacks), [`SCHEMA_DEFECTS`] overrides it — the only
//! place the emulator departs from the schemas' field sets, each entry with its reason.
//!
//! A field outside the resulting set is refused with code 100 and the field named in
//! `error_data.details`, as Meta does for unknown or misspelled parameters.

use serde_json::{Map, Value};

use super::api_error::ApiError;

/// One object of a send request and the fields its schema lists.
#[derive(Debug, Clone, Copy)]
pub struct ObjectFields {
    /// The object's name in [`SCHEMA_DEFECTS`] and in the checks (`text`, `media`,
    /// `interactive.header` ...).
    pub object: &'static str,
    /// Where the document defines it: a schema under `components/schemas`, then property
    /// names to descend through (`[]` for the items of an array).
    pub schema: &'static [&'static str],
    /// The property names the schema gives the object, sorted.
    pub fields: &'static [&'static str],
}

/// How an entry of [`SCHEMA_DEFECTS`] corrects a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// The field is accepted although the schema lacks it.
    Add,
}

/// A field where Meta's schema is wrong, and why.
#[derive(Debug, Clone, Copy)]
pub struct SchemaDefect {
    /// The [`ObjectFields::object`] it corrects.
    pub object: &'static str,
    /// The field.
    pub field: &'static str,
    /// What the emulator does instead of following the schema.
    pub correction: Correction,
    /// Why: the example or reference that contradicts the schema.
    pub why: &'static str,
}

/// The objects whose field names are checked, as the document's schemas give them.
///
/// `message` is the envelope shared by every message type (`BaseMessageProperties`); each
/// type's schema adds only its payload key, which the checks allow for the message's own type.
pub const FROM_SCHEMA: &[ObjectFields] = &[
    ObjectFields {
        object: "message",
        schema: &["BaseMessageProperties"],
        fields: &[
            "context",
            "messaging_product",
            "recipient_type",
            "to",
            "type",
        ],
    },
    ObjectFields {
        object: "mark_read",
        schema: &["MarkMessageRequestPayload"],
        fields: &["message_id", "messaging_product", "status"],
    },
    ObjectFields {
        object: "context",
        schema: &["MessageContext"],
        fields: &["message_id"],
    },
    ObjectFields {
        object: "text",
        schema: &["TextMessage", "text"],
        fields: &["body", "preview_url"],
    },
    ObjectFields {
        object: "media",
        schema: &["ImageMessage", "image"],
        fields: &["id", "link"],
    },
    ObjectFields {
        object: "sticker",
        schema: &["StickerMessage", "sticker"],
        fields: &["id", "link"],
    },
    ObjectFields {
        object: "location",
        schema: &["LocationMessage", "location"],
        fields: &["address", "latitude", "longitude", "name"],
    },
    ObjectFields {
        object: "reaction",
        schema: &["ReactionMessage", "reaction"],
        fields: &["emoji", "message_id"],
    },
    ObjectFields {
        object: "contact",
        schema: &["ContactsMessage", "contacts", "[]"],
        fields: &[
            "addresses",
            "birthday",
            "emails",
            "name",
            "org",
            "phones",
            "urls",
        ],
    },
    ObjectFields {
        object: "contact.name",
        schema: &["ContactsMessage", "contacts", "[]", "name"],
        fields: &[
            "first_name",
            "formatted_name",
            "last_name",
            "middle_name",
            "prefix",
            "suffix",
        ],
    },
    ObjectFields {
        object: "template",
        schema: &["TemplateMessage", "template"],
        fields: &["components", "language", "name"],
    },
    ObjectFields {
        object: "template.language",
        schema: &["TemplateMessage", "template", "language"],
        fields: &["code", "policy"],
    },
    ObjectFields {
        object: "template.component",
        schema: &["TemplateMessage", "template", "components", "[]"],
        fields: &["index", "parameters", "sub_type", "type"],
    },
    ObjectFields {
        object: "interactive",
        schema: &["InteractiveMessage", "interactive"],
        fields: &["action", "body", "footer", "header", "type"],
    },
    ObjectFields {
        object: "interactive.header",
        schema: &["InteractiveMessage", "interactive", "header"],
        fields: &["document", "image", "sub_text", "text", "type", "video"],
    },
    ObjectFields {
        object: "interactive.body",
        schema: &["InteractiveMessage", "interactive", "body"],
        fields: &["text"],
    },
    ObjectFields {
        object: "interactive.footer",
        schema: &["InteractiveMessage", "interactive", "footer"],
        fields: &["text"],
    },
];

/// Where the emulator departs from the schemas' field sets: the single list of known defects.
pub const SCHEMA_DEFECTS: &[SchemaDefect] = &[
    SchemaDefect {
        object: "message",
        field: "biz_opaque_callback_data",
        correction: Correction::Add,
        why: "Meta's send reference: an arbitrary string of up to 512 characters echoed in \
              status webhooks; the schema omits it",
    },
    SchemaDefect {
        object: "message",
        field: "recipient",
        correction: Correction::Add,
        why: "a business-scoped user id addresses the user instead of `to` (2025/26 API); \
              the v23.0 schema predates it",
    },
    SchemaDefect {
        object: "message",
        field: "recipient_identity_key_hash",
        correction: Correction::Add,
        why: "Meta's send reference: the message is not delivered when the user's identity \
              key hash differs; the schema omits it",
    },
    SchemaDefect {
        object: "mark_read",
        field: "typing_indicator",
        correction: Correction::Add,
        why: "the document's own read-receipt example sends `typing_indicator`",
    },
    SchemaDefect {
        object: "media",
        field: "caption",
        correction: Correction::Add,
        why: "the document's video and document examples send `caption`; `MediaObject` \
              lacks it (audio and stickers still refuse it)",
    },
    SchemaDefect {
        object: "media",
        field: "filename",
        correction: Correction::Add,
        why: "the document's document examples send `filename` (documents only)",
    },
    SchemaDefect {
        object: "media",
        field: "voice",
        correction: Correction::Add,
        why: "Meta's audio reference: `voice: true` marks a voice note (audio only)",
    },
];

/// The schema's fields of `object` (empty for an object not in [`FROM_SCHEMA`]).
pub fn schema_fields(object: &str) -> &'static [&'static str] {
    FROM_SCHEMA
        .iter()
        .find(|entry| entry.object == object)
        .map_or(&[], |entry| entry.fields)
}

/// Whether `field` may appear in `object`, after the defects' corrections.
pub fn is_allowed(object: &str, field: &str) -> bool {
    schema_fields(object).contains(&field)
        || SCHEMA_DEFECTS.iter().any(|defect| {
            defect.object == object && defect.field == field && defect.correction == Correction::Add
        })
}

/// Refuses the first field of `value` that `object` does not allow (`extra` are allowed too:
/// a message's own payload key), with code 100 and the field named in Meta's notation:
/// `Param text['bodyy'] is not a valid parameter: unexpected key "bodyy" on param "text".`
pub(crate) fn check_fields(
    value: &Map<String, Value>,
    object: &str,
    extra: &[&str],
    at: &dyn std::fmt::Display,
) -> Result<(), ApiError> {
    match value
        .keys()
        .find(|key| !extra.contains(&key.as_str()) && !is_allowed(object, key))
    {
        None => Ok(()),
        Some(key) => {
            let at = at.to_string();
            Err(ApiError::param(if at.is_empty() {
                format!("Param {key} is not a valid parameter: unexpected key \"{key}\".")
            } else {
                format!(
                    "Param {at}['{key}'] is not a valid parameter: unexpected key \"{key}\" on \
                     param \"{at}\"."
                )
            }))
        }
    }
}
