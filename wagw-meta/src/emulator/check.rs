//! The emulator's own checks of `POST /{phone-number-id}/messages` bodies.
//!
//! These rules are written independently of wagw-core's `validate()` on purpose: the
//! emulator is the second opinion. They work on the raw JSON, follow the request examples and
//! schemas of Meta's OpenAPI document (minus its known defects) and the documented limits:
//!
//! | Rule | Code |
//! |---|---|
//! | body not a JSON object, `messaging_product` not `whatsapp`, unknown `type`, an unknown or misspelled field (the OpenAPI document's field sets, [`super::fields`]), a field not allowed for the type (caption on audio/sticker ...), both or neither of `type` and a payload key | 100 |
//! | a required field missing (`to`, `text.body`, media `id`/`link`, `location.latitude`, `contacts[].name.formatted_name`, `reaction.message_id`, `template.name`, `template.language.code`, `interactive.action` ...) | 131008 |
//! | a value not valid: wrong JSON type, over a length limit (text 4,096, caption 1,024, interactive body 1,024, header/footer 60, button title 20, cta display text 20, reply id 256, row title 24, row id 200, description 72, template name 512, callback data 512: Meta's reference pages and the OpenAPI document's `maxLength`), over a count limit (3 buttons, 10 sections, 10 rows, 30 products, 257 contacts), enum value, both `id` and `link`, coordinates out of range | 131009 |
//!
//! Every error names the field in `error_data.details`, in Meta's notation
//! (`interactive['action']['buttons'][3]`).

use serde_json::{Map, Value};

use super::api_error::ApiError;
use super::fields::check_fields;

/// The kind of a message, from its `type` (or its payload key when `type` is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `text`
    Text,
    /// `image`
    Image,
    /// `audio`
    Audio,
    /// `video`
    Video,
    /// `document`
    Document,
    /// `sticker`
    Sticker,
    /// `location`
    Location,
    /// `contacts`
    Contacts,
    /// `interactive`
    Interactive,
    /// `template`
    Template,
    /// `reaction`
    Reaction,
}

impl MessageKind {
    /// Every kind, in the order the payload key is searched for.
    pub const ALL: [MessageKind; 11] = [
        Self::Text,
        Self::Image,
        Self::Audio,
        Self::Video,
        Self::Document,
        Self::Sticker,
        Self::Location,
        Self::Contacts,
        Self::Interactive,
        Self::Template,
        Self::Reaction,
    ];

    /// The `type` value and payload key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Contacts => "contacts",
            Self::Interactive => "interactive",
            Self::Template => "template",
            Self::Reaction => "reaction",
        }
    }

    /// The kind named by a `type` value.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// What a template send asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUse<'a> {
    /// `template.name`.
    pub name: &'a str,
    /// `template.language.code`.
    pub language: &'a str,
    /// Number of parameters in the `body` component (0 when absent).
    pub body_params: usize,
    /// Number of `text` parameters in the `header` component.
    pub header_text_params: usize,
    /// `template.components` as sent (shape-checked), for the checks against the registered
    /// template.
    pub components: &'a [Value],
}

/// A checked `messages` request.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckedRequest<'a> {
    /// A message to send.
    Message(CheckedMessage<'a>),
    /// A read receipt, optionally with a typing indicator.
    MarkRead {
        /// The wamid of the user's message.
        message_id: &'a str,
        /// Whether a typing indicator was asked for.
        typing: bool,
    },
}

/// A message that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedMessage<'a> {
    /// `to` (or `recipient` when sent by business-scoped user id).
    pub to: &'a str,
    /// Whether the recipient is a business-scoped user id (`recipient`), not a phone number.
    pub by_user_id: bool,
    /// The message kind.
    pub kind: MessageKind,
    /// Template name, language and parameter counts, for template messages.
    pub template: Option<TemplateUse<'a>>,
    /// `biz_opaque_callback_data`, echoed in status webhooks.
    pub biz_opaque_callback_data: Option<&'a str>,
}

type R<T> = Result<T, ApiError>;

/// A JSON path rendered in Meta's notation only when an error needs it.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root(&'a str),
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    const fn root(name: &'a str) -> Self {
        Self {
            parent: None,
            seg: Seg::Root(name),
        }
    }

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    fn idx(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.seg {
            Seg::Root(name) => f.write_str(name),
            Seg::Key(key) => write!(f, "['{key}']"),
            Seg::Index(index) => write!(f, "[{index}]"),
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &Path<'_>, expected: &str, value: &Value) -> ApiError {
    ApiError::invalid(format!(
        "Param {path} must be {expected}, got {}.",
        type_name(value)
    ))
}

fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|value| !value.is_null())
}

fn req<'v>(obj: &'v Map<String, Value>, key: &str, path: &Path<'_>) -> R<&'v Value> {
    get(obj, key).ok_or_else(|| ApiError::missing(&path.key(key).to_string()))
}

fn as_obj<'v>(value: &'v Value, path: &Path<'_>) -> R<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(path, "an object", value))
}

fn as_arr<'v>(value: &'v Value, path: &Path<'_>) -> R<&'v Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| wrong_type(path, "an array", value))
}

fn as_str<'v>(value: &'v Value, path: &Path<'_>) -> R<&'v str> {
    value
        .as_str()
        .ok_or_else(|| wrong_type(path, "a string", value))
}

fn req_obj<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> R<&'v Map<String, Value>> {
    as_obj(req(obj, key, path)?, &path.key(key))
}

fn req_arr<'v>(obj: &'v Map<String, Value>, key: &str, path: &Path<'_>) -> R<&'v Vec<Value>> {
    as_arr(req(obj, key, path)?, &path.key(key))
}

/// A required non-empty string of at most `max` characters.
fn req_str<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
    max: Option<usize>,
) -> R<&'v str> {
    let text = as_str(req(obj, key, path)?, &path.key(key))?;
    if text.trim().is_empty() {
        return Err(ApiError::missing(&path.key(key).to_string()));
    }
    if let Some(max) = max {
        max_chars(text, max, &path.key(key))?;
    }
    Ok(text)
}

fn opt_str<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
    max: Option<usize>,
) -> R<Option<&'v str>> {
    let Some(value) = get(obj, key) else {
        return Ok(None);
    };
    let text = as_str(value, &path.key(key))?;
    if let Some(max) = max {
        max_chars(text, max, &path.key(key))?;
    }
    Ok(Some(text))
}

fn opt_bool(obj: &Map<String, Value>, key: &str, path: &Path<'_>) -> R<()> {
    match get(obj, key) {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(other) => Err(wrong_type(&path.key(key), "a boolean", other)),
    }
}

fn max_chars(text: &str, max: usize, path: &Path<'_>) -> R<()> {
    // Byte length bounds the character count from above: skip counting short strings.
    if text.len() <= max {
        return Ok(());
    }
    let count = text.chars().count();
    if count > max {
        return Err(ApiError::invalid(format!(
            "Param {path} must be at most {max} characters long, got {count}."
        )));
    }
    Ok(())
}

fn one_of(value: &str, allowed: &[&str], path: &Path<'_>) -> R<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Param {path} must be one of {{{}}}, got '{value}'.",
            allowed.join(", ")
        )))
    }
}

fn count_range(len: usize, min: usize, max: usize, path: &Path<'_>, what: &str) -> R<()> {
    if len < min {
        return Err(ApiError::invalid(format!(
            "Param {path} must contain at least {min} {what}, got {len}."
        )));
    }
    if len > max {
        return Err(ApiError::invalid(format!(
            "Param {path} must contain at most {max} {what}, got {len}."
        )));
    }
    Ok(())
}

fn not_allowed(path: &Path<'_>, key: &str, why: &str) -> ApiError {
    ApiError::param(format!(
        "Param {} is not a valid parameter {why}.",
        path.key(key)
    ))
}

/// Checks one `POST /{phone-number-id}/messages` body.
///
/// # Errors
///
/// The [`ApiError`] Meta would answer, with the field named in its details.
pub fn check_messages_request(body: &Value) -> Result<CheckedRequest<'_>, ApiError> {
    let root = Path::root("");
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::param("The request body must be a JSON object."))?;
    let product = req(obj, "messaging_product", &Path::root("messaging_product"))
        .map_err(|_| ApiError::missing("messaging_product"))?;
    if product.as_str() != Some("whatsapp") {
        return Err(ApiError::param(
            "Param messaging_product must be 'whatsapp'.",
        ));
    }
    if let Some(status) = get(obj, "status") {
        return check_mark_read(obj, status);
    }
    let recipient_type = opt_str(obj, "recipient_type", &root, None)?;
    if let Some(recipient_type) = recipient_type {
        one_of(
            recipient_type,
            &["individual", "group"],
            &Path::root("recipient_type"),
        )?;
    }
    let (to, by_user_id) = match (get(obj, "to"), get(obj, "recipient")) {
        (Some(to), _) => (as_str(to, &Path::root("to"))?, false),
        (None, Some(user)) => (as_str(user, &Path::root("recipient"))?, true),
        (None, None) => return Err(ApiError::missing("to")),
    };
    if to.trim().is_empty() {
        return Err(ApiError::missing("to"));
    }
    let biz_opaque_callback_data =
        opt_str(obj, "biz_opaque_callback_data", &Path::root(""), Some(512)).map_err(|_| {
            ApiError::invalid(
                "Param biz_opaque_callback_data must be a string of at most 512 characters.",
            )
        })?;
    let kind = message_kind(obj)?;
    check_fields(obj, "message", &[kind.as_str()], &root)?;
    if let Some(context) = get(obj, "context") {
        let path = Path::root("context");
        let context = as_obj(context, &path)?;
        check_fields(context, "context", &[], &path)?;
        req_str(context, "message_id", &path, None)?;
        if kind == MessageKind::Reaction {
            return Err(ApiError::invalid(
                "Param context is not allowed on reaction messages.",
            ));
        }
    }
    let payload = req(obj, kind.as_str(), &root).map_err(|_| ApiError::missing(kind.as_str()))?;
    let path = Path::root(kind.as_str());
    let mut template = None;
    match kind {
        MessageKind::Text => check_text(as_obj(payload, &path)?, &path)?,
        MessageKind::Image | MessageKind::Video | MessageKind::Document => {
            check_media(kind, as_obj(payload, &path)?, &path)?;
        }
        MessageKind::Audio | MessageKind::Sticker => {
            check_media(kind, as_obj(payload, &path)?, &path)?;
        }
        MessageKind::Location => check_location(as_obj(payload, &path)?, &path)?,
        MessageKind::Contacts => check_contacts(as_arr(payload, &path)?, &path)?,
        MessageKind::Reaction => check_reaction(as_obj(payload, &path)?, &path)?,
        MessageKind::Interactive => check_interactive(as_obj(payload, &path)?, &path)?,
        MessageKind::Template => template = Some(check_template(as_obj(payload, &path)?, &path)?),
    }
    Ok(CheckedRequest::Message(CheckedMessage {
        to,
        by_user_id,
        kind,
        template,
        biz_opaque_callback_data,
    }))
}

fn message_kind(obj: &Map<String, Value>) -> R<MessageKind> {
    match get(obj, "type") {
        Some(value) => {
            let name = as_str(value, &Path::root("type"))?;
            let kind = MessageKind::parse(name).ok_or_else(|| {
                ApiError::param(format!(
                    "Param type must be one of {{text, image, audio, video, document, sticker, \
                     location, contacts, interactive, template, reaction}}, got '{name}'."
                ))
            })?;
            if get(obj, name).is_none() {
                return Err(ApiError::missing(name));
            }
            Ok(kind)
        }
        None => {
            // Two of Meta's own examples omit `type`; the payload key alone names the kind.
            let mut present = MessageKind::ALL
                .into_iter()
                .filter(|kind| get(obj, kind.as_str()).is_some());
            match (present.next(), present.next()) {
                (Some(kind), None) => Ok(kind),
                (None, _) => Err(ApiError::missing("type")),
                (Some(a), Some(b)) => Err(ApiError::param(format!(
                    "Param type is required when the body holds several payloads ('{}' and '{}').",
                    a.as_str(),
                    b.as_str()
                ))),
            }
        }
    }
}

fn check_mark_read<'a>(obj: &'a Map<String, Value>, status: &Value) -> R<CheckedRequest<'a>> {
    let status = as_str(status, &Path::root("status"))?;
    one_of(status, &["read"], &Path::root("status"))?;
    let root = Path::root("");
    check_fields(obj, "mark_read", &[], &root)?;
    let message_id = as_str(
        get(obj, "message_id").ok_or_else(|| ApiError::missing("message_id"))?,
        &root.key("message_id"),
    )?;
    if message_id.is_empty() {
        return Err(ApiError::missing("message_id"));
    }
    let mut typing = false;
    if let Some(indicator) = get(obj, "typing_indicator") {
        let path = Path::root("typing_indicator");
        let indicator = as_obj(indicator, &path)?;
        let kind = req_str(indicator, "type", &path, None)?;
        one_of(kind, &["text"], &path.key("type"))?;
        typing = true;
    }
    Ok(CheckedRequest::MarkRead { message_id, typing })
}

fn check_text(text: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    check_fields(text, "text", &[], path)?;
    req_str(text, "body", path, Some(4096))?;
    opt_bool(text, "preview_url", path)
}

/// `id` XOR `link`, both non-empty strings.
fn check_media_ref(media: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    match (get(media, "id"), get(media, "link")) {
        (Some(_), Some(_)) => Err(ApiError::invalid(format!(
            "Param {path} must contain either 'id' or 'link', not both."
        ))),
        (None, None) => Err(ApiError::missing(&format!("{path}['id' or 'link']"))),
        (Some(_), None) => req_str(media, "id", path, None).map(drop),
        (None, Some(_)) => req_str(media, "link", path, None).map(drop),
    }
}

fn check_media(kind: MessageKind, media: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    let object = if kind == MessageKind::Sticker {
        "sticker"
    } else {
        "media"
    };
    check_fields(media, object, &[], path)?;
    check_media_ref(media, path)?;
    let captioned = matches!(
        kind,
        MessageKind::Image | MessageKind::Video | MessageKind::Document
    );
    if get(media, "caption").is_some() && !captioned {
        return Err(not_allowed(
            path,
            "caption",
            "for audio and sticker messages",
        ));
    }
    opt_str(media, "caption", path, Some(1024))?;
    if get(media, "filename").is_some() && kind != MessageKind::Document {
        return Err(not_allowed(path, "filename", "outside document messages"));
    }
    opt_str(media, "filename", path, None)?;
    if get(media, "voice").is_some() && kind != MessageKind::Audio {
        return Err(not_allowed(path, "voice", "outside audio messages"));
    }
    opt_bool(media, "voice", path)
}

/// A coordinate: a JSON number or a numeric string, within `±limit`.
fn coordinate(obj: &Map<String, Value>, key: &str, limit: f64, path: &Path<'_>) -> R<()> {
    let value = req(obj, key, path)?;
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(n) if n.is_finite() && (-limit..=limit).contains(&n) => Ok(()),
        Some(n) => Err(ApiError::invalid(format!(
            "Param {} must be between -{limit} and {limit}, got {n}.",
            path.key(key)
        ))),
        None => Err(wrong_type(&path.key(key), "a number", value)),
    }
}

fn check_location(location: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    check_fields(location, "location", &[], path)?;
    coordinate(location, "latitude", 90.0, path)?;
    coordinate(location, "longitude", 180.0, path)?;
    opt_str(location, "name", path, None)?;
    opt_str(location, "address", path, None)?;
    Ok(())
}

fn check_contacts(contacts: &[Value], path: &Path<'_>) -> R<()> {
    // Meta's contacts-message reference allows 257; the OpenAPI schema's `maxItems: 5` is one
    // of its defects (limits are not field sets, so it is noted here, not in `fields`).
    count_range(contacts.len(), 1, 257, path, "contacts")?;
    for (i, contact) in contacts.iter().enumerate() {
        let at = path.idx(i);
        let contact = as_obj(contact, &at)?;
        check_fields(contact, "contact", &[], &at)?;
        let name = req_obj(contact, "name", &at)?;
        let name_path = at.key("name");
        check_fields(name, "contact.name", &[], &name_path)?;
        req_str(name, "formatted_name", &name_path, None)?;
        for key in ["addresses", "emails", "phones", "urls"] {
            if let Some(list) = get(contact, key) {
                let list_path = at.key(key);
                for (j, item) in as_arr(list, &list_path)?.iter().enumerate() {
                    as_obj(item, &list_path.idx(j))?;
                }
            }
        }
        if let Some(org) = get(contact, "org") {
            as_obj(org, &at.key("org"))?;
        }
        opt_str(contact, "birthday", &at, None)?;
    }
    Ok(())
}

fn check_reaction(reaction: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    check_fields(reaction, "reaction", &[], path)?;
    req_str(reaction, "message_id", path, None)?;
    // An empty emoji removes the reaction, so only presence and type are checked.
    let emoji = req(reaction, "emoji", path)?;
    as_str(emoji, &path.key("emoji"))?;
    Ok(())
}

const INTERACTIVE_TYPES: &[&str] = &[
    "button",
    "list",
    "cta_url",
    "flow",
    "product",
    "product_list",
    "catalog_message",
    "location_request_message",
    "order_details",
    "order_status",
    "voice_call",
    "call_permission_request",
    "carousel",
    "address_message",
];

fn check_interactive(interactive: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    check_fields(interactive, "interactive", &[], path)?;
    let kind = req_str(interactive, "type", path, None)?;
    one_of(kind, INTERACTIVE_TYPES, &path.key("type"))?;
    let body_required = !matches!(kind, "product" | "carousel");
    match get(interactive, "body") {
        Some(body) => {
            let body_path = path.key("body");
            let body = as_obj(body, &body_path)?;
            check_fields(body, "interactive.body", &[], &body_path)?;
            req_str(body, "text", &body_path, Some(1024))?;
        }
        None if body_required => return Err(ApiError::missing(&path.key("body").to_string())),
        None => {}
    }
    if let Some(footer) = get(interactive, "footer") {
        let footer_path = path.key("footer");
        let footer = as_obj(footer, &footer_path)?;
        check_fields(footer, "interactive.footer", &[], &footer_path)?;
        req_str(footer, "text", &footer_path, Some(60))?;
    }
    let header_types: Option<&[&str]> = match kind {
        "button" | "cta_url" | "order_details" => Some(&["text", "image", "video", "document"]),
        "list" | "flow" => Some(&["text"]),
        _ => None,
    };
    match get(interactive, "header") {
        Some(header) => check_header(as_obj(header, &path.key("header"))?, header_types, path)?,
        None if kind == "product_list" => {
            return Err(ApiError::missing(&path.key("header").to_string()));
        }
        None => {}
    }
    let action_path = path.key("action");
    let action = req_obj(interactive, "action", path)?;
    match kind {
        "button" => check_buttons(action, &action_path),
        "list" => check_list(action, &action_path),
        "cta_url" => check_cta_url(action, &action_path),
        "flow" => check_flow(action, &action_path),
        "product" => {
            req_str(action, "catalog_id", &action_path, None)?;
            req_str(action, "product_retailer_id", &action_path, None).map(drop)
        }
        "product_list" => check_product_list(action, &action_path),
        "catalog_message" => named_action(action, "catalog_message", &action_path),
        "location_request_message" => named_action(action, "send_location", &action_path),
        "order_details" => {
            named_action(action, "review_and_pay", &action_path)?;
            let parameters = req_obj(action, "parameters", &action_path)?;
            req_str(
                parameters,
                "reference_id",
                &action_path.key("parameters"),
                None,
            )
            .map(drop)
        }
        "order_status" => {
            named_action(action, "review_order", &action_path)?;
            let parameters = req_obj(action, "parameters", &action_path)?;
            req_str(
                parameters,
                "reference_id",
                &action_path.key("parameters"),
                None,
            )
            .map(drop)
        }
        _ => Ok(()),
    }
}

fn named_action(action: &Map<String, Value>, name: &str, path: &Path<'_>) -> R<()> {
    let value = req_str(action, "name", path, None)?;
    one_of(value, &[name], &path.key("name"))
}

fn check_header(header: &Map<String, Value>, allowed: Option<&[&str]>, path: &Path<'_>) -> R<()> {
    let header_path = path.key("header");
    check_fields(header, "interactive.header", &[], &header_path)?;
    let kind = req_str(header, "type", &header_path, None)?;
    if let Some(allowed) = allowed {
        one_of(kind, allowed, &header_path.key("type"))?;
    }
    match kind {
        "text" => {
            req_str(header, "text", &header_path, Some(60))?;
        }
        "image" | "video" | "document" => {
            let media_path = header_path.key(kind);
            let media = req_obj(header, kind, &header_path)?;
            check_media_ref(media, &media_path)?;
            if get(media, "caption").is_some() {
                return Err(not_allowed(
                    &media_path,
                    "caption",
                    "in interactive headers",
                ));
            }
        }
        _ => {
            opt_str(header, "text", &header_path, Some(60))?;
        }
    }
    Ok(())
}

fn unique<'v>(seen: &mut Vec<&'v str>, value: &'v str, path: &Path<'_>) -> R<()> {
    if seen.contains(&value) {
        return Err(ApiError::invalid(format!(
            "Param {path} must be unique, '{value}' is repeated."
        )));
    }
    seen.push(value);
    Ok(())
}

fn check_buttons(action: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    let buttons_path = path.key("buttons");
    let buttons = req_arr(action, "buttons", path)?;
    count_range(buttons.len(), 1, 3, &buttons_path, "buttons")?;
    let (mut ids, mut titles) = (Vec::with_capacity(3), Vec::with_capacity(3));
    for (i, button) in buttons.iter().enumerate() {
        let at = buttons_path.idx(i);
        let button = as_obj(button, &at)?;
        let kind = req_str(button, "type", &at, None)?;
        one_of(kind, &["reply"], &at.key("type"))?;
        let reply_path = at.key("reply");
        let reply = req_obj(button, "reply", &at)?;
        let id = req_str(reply, "id", &reply_path, Some(256))?;
        if id.trim() != id {
            return Err(ApiError::invalid(format!(
                "Param {} must not have leading or trailing spaces.",
                reply_path.key("id")
            )));
        }
        let title = req_str(reply, "title", &reply_path, Some(20))?;
        unique(&mut ids, id, &reply_path.key("id"))?;
        unique(&mut titles, title, &reply_path.key("title"))?;
    }
    Ok(())
}

fn check_list(action: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    req_str(action, "button", path, Some(20))?;
    let sections_path = path.key("sections");
    let sections = req_arr(action, "sections", path)?;
    count_range(sections.len(), 1, 10, &sections_path, "sections")?;
    let mut rows_total = 0;
    let mut ids = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let at = sections_path.idx(i);
        let section = as_obj(section, &at)?;
        if sections.len() > 1 {
            req_str(section, "title", &at, Some(24))?;
        } else {
            opt_str(section, "title", &at, Some(24))?;
        }
        let rows_path = at.key("rows");
        let rows = req_arr(section, "rows", &at)?;
        count_range(rows.len(), 1, 10, &rows_path, "rows")?;
        rows_total += rows.len();
        if rows_total > 10 {
            return Err(ApiError::invalid(format!(
                "Param {sections_path} must contain at most 10 rows across all sections, got {}.",
                sections
                    .iter()
                    .filter_map(|s| s.get("rows").and_then(Value::as_array))
                    .map(Vec::len)
                    .sum::<usize>()
            )));
        }
        for (j, row) in rows.iter().enumerate() {
            let row_path = rows_path.idx(j);
            let row = as_obj(row, &row_path)?;
            let id = req_str(row, "id", &row_path, Some(200))?;
            unique(&mut ids, id, &row_path.key("id"))?;
            req_str(row, "title", &row_path, Some(24))?;
            opt_str(row, "description", &row_path, Some(72))?;
        }
    }
    Ok(())
}

fn check_cta_url(action: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    named_action(action, "cta_url", path)?;
    let parameters_path = path.key("parameters");
    let parameters = req_obj(action, "parameters", path)?;
    req_str(parameters, "display_text", &parameters_path, Some(20))?;
    req_str(parameters, "url", &parameters_path, None)?;
    Ok(())
}

fn check_flow(action: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    named_action(action, "flow", path)?;
    let p = path.key("parameters");
    let parameters = req_obj(action, "parameters", path)?;
    let version = req(parameters, "flow_message_version", &p)?;
    if version.as_str() != Some("3") && version.as_u64() != Some(3) {
        return Err(ApiError::invalid(format!(
            "Param {} must be '3'.",
            p.key("flow_message_version")
        )));
    }
    match (get(parameters, "flow_id"), get(parameters, "flow_name")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(format!(
                "Param {p} must contain either 'flow_id' or 'flow_name', not both."
            )));
        }
        (None, None) => return Err(ApiError::missing(&format!("{p}['flow_id' or 'flow_name']"))),
        (Some(_), None) => drop(req_str(parameters, "flow_id", &p, None)?),
        (None, Some(_)) => drop(req_str(parameters, "flow_name", &p, None)?),
    }
    let mode = opt_str(parameters, "mode", &p, None)?;
    if let Some(mode) = mode {
        one_of(mode, &["draft", "published"], &p.key("mode"))?;
    }
    // 20 characters: Meta's flow-message reference (the OpenAPI schema says 30).
    // A draft flow's CTA is not shown (Meta's draft examples use 23 characters), so the
    // 20-character limit applies to published flows only.
    let cta_limit = (mode != Some("draft")).then_some(20);
    req_str(parameters, "flow_cta", &p, cta_limit)?;
    opt_str(parameters, "flow_token", &p, None)?;
    let flow_action = opt_str(parameters, "flow_action", &p, None)?;
    if let Some(flow_action) = flow_action {
        one_of(
            flow_action,
            &["navigate", "data_exchange"],
            &p.key("flow_action"),
        )?;
    }
    if let Some(payload) = get(parameters, "flow_action_payload") {
        let payload_path = p.key("flow_action_payload");
        let payload = as_obj(payload, &payload_path)?;
        req_str(payload, "screen", &payload_path, None)?;
    }
    Ok(())
}

fn check_product_list(action: &Map<String, Value>, path: &Path<'_>) -> R<()> {
    req_str(action, "catalog_id", path, None)?;
    let sections_path = path.key("sections");
    let sections = req_arr(action, "sections", path)?;
    count_range(sections.len(), 1, 10, &sections_path, "sections")?;
    let mut total = 0;
    for (i, section) in sections.iter().enumerate() {
        let at = sections_path.idx(i);
        let section = as_obj(section, &at)?;
        req_str(section, "title", &at, Some(24))?;
        let items_path = at.key("product_items");
        let items = req_arr(section, "product_items", &at)?;
        // 30 products: `SectionObject.product_items.maxItems` in Meta's OpenAPI document.
        count_range(items.len(), 1, 30, &items_path, "products")?;
        total += items.len();
        for (j, item) in items.iter().enumerate() {
            let item_path = items_path.idx(j);
            req_str(
                as_obj(item, &item_path)?,
                "product_retailer_id",
                &item_path,
                None,
            )?;
        }
    }
    count_range(total, 1, 30, &sections_path, "products in total")
}

const COMPONENT_TYPES: &[&str] = &[
    "header",
    "body",
    "button",
    "carousel",
    "limited_time_offer",
    "order_status",
];

fn check_template<'a>(template: &'a Map<String, Value>, path: &Path<'_>) -> R<TemplateUse<'a>> {
    check_fields(template, "template", &[], path)?;
    let name = req_str(template, "name", path, Some(512))?;
    let language_path = path.key("language");
    let language = req_obj(template, "language", path)?;
    check_fields(language, "template.language", &[], &language_path)?;
    let code = req_str(language, "code", &language_path, None)?;
    // Meta's schema marks `policy` required; its own examples omit it. Optional here.
    if let Some(policy) = opt_str(language, "policy", &language_path, None)? {
        one_of(policy, &["deterministic"], &language_path.key("policy"))?;
    }
    let mut counts = TemplateUse {
        name,
        language: code,
        body_params: 0,
        header_text_params: 0,
        components: &[],
    };
    let Some(components) = get(template, "components") else {
        return Ok(counts);
    };
    let components_path = path.key("components");
    let components = as_arr(components, &components_path)?;
    counts.components = components;
    for (i, component) in components.iter().enumerate() {
        let at = components_path.idx(i);
        let component = as_obj(component, &at)?;
        check_fields(component, "template.component", &[], &at)?;
        let kind = req_str(component, "type", &at, None)?.to_ascii_lowercase();
        one_of(&kind, COMPONENT_TYPES, &at.key("type"))?;
        if kind == "button" {
            let sub_type = req_str(component, "sub_type", &at, None)?.to_ascii_lowercase();
            one_of(
                &sub_type,
                &[
                    "quick_reply",
                    "url",
                    "copy_code",
                    "flow",
                    "catalog",
                    "mpm",
                    "voice_call",
                    "order_details",
                ],
                &at.key("sub_type"),
            )?;
            let index = req(component, "index", &at)?;
            let index_value = match index {
                Value::String(s) => s.parse::<u64>().ok(),
                Value::Number(n) => n.as_u64(),
                _ => None,
            };
            if index_value.is_none_or(|i| i >= 10) {
                return Err(ApiError::invalid(format!(
                    "Param {} must be a button index from 0 to 9.",
                    at.key("index")
                )));
            }
        }
        let Some(parameters) = get(component, "parameters") else {
            continue;
        };
        let parameters_path = at.key("parameters");
        let parameters = as_arr(parameters, &parameters_path)?;
        let mut text_params = 0;
        for (j, parameter) in parameters.iter().enumerate() {
            let parameter_path = parameters_path.idx(j);
            if check_template_parameter(as_obj(parameter, &parameter_path)?, &parameter_path)? {
                text_params += 1;
            }
        }
        match kind.as_str() {
            "body" => counts.body_params += parameters.len(),
            "header" => counts.header_text_params += text_params,
            _ => {}
        }
    }
    Ok(counts)
}

/// Checks one template parameter; returns whether it is a `text` parameter.
fn check_template_parameter(parameter: &Map<String, Value>, path: &Path<'_>) -> R<bool> {
    let kind = req_str(parameter, "type", path, None)?;
    match kind {
        "text" => {
            // One of Meta's examples sends booleans here; any scalar is taken as text.
            match req(parameter, "text", path)? {
                Value::Array(_) | Value::Object(_) => {
                    return Err(wrong_type(
                        &path.key("text"),
                        "a string",
                        &parameter["text"],
                    ));
                }
                _ => {}
            }
            return Ok(true);
        }
        "currency" => {
            let p = path.key("currency");
            let currency = req_obj(parameter, "currency", path)?;
            req_str(currency, "fallback_value", &p, None)?;
            req_str(currency, "code", &p, Some(3))?;
            let amount = req(currency, "amount_1000", &p)?;
            if !amount.is_number() {
                return Err(wrong_type(&p.key("amount_1000"), "a number", amount));
            }
        }
        "date_time" => {
            let p = path.key("date_time");
            let date_time = req_obj(parameter, "date_time", path)?;
            req_str(date_time, "fallback_value", &p, None)?;
        }
        "image" | "video" | "document" | "gif" => {
            let p = path.key(kind);
            check_media_ref(req_obj(parameter, kind, path)?, &p)?;
        }
        "location" => {
            let p = path.key("location");
            check_location(req_obj(parameter, "location", path)?, &p)?;
        }
        "payload" => {
            req_str(parameter, "payload", path, None)?;
        }
        "coupon_code" => {
            req_str(parameter, "coupon_code", path, None)?;
        }
        "action" => {
            req_obj(parameter, "action", path)?;
        }
        "product" | "limited_time_offer" | "tap_target_configuration" => {
            req(parameter, kind, path)?;
        }
        other => {
            return Err(ApiError::invalid(format!(
                "Param {} has an unknown parameter type '{other}'.",
                path.key("type")
            )));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(body: Value) -> i64 {
        match check_messages_request(&body) {
            Ok(_) => 0,
            Err(e) => e.code,
        }
    }

    #[test]
    fn text_rules() {
        let ok =
            json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"}});
        assert_eq!(code(ok), 0);
        let long = "x".repeat(4097);
        let err = check_messages_request(
            &json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":long}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 131_009);
        assert!(err.details.unwrap().contains("text['body']"));
        assert_eq!(
            code(json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{}})),
            131_008
        );
        assert_eq!(
            code(json!({"messaging_product":"sms","to":"1","type":"text","text":{"body":"x"}})),
            100
        );
        assert_eq!(
            code(json!({"messaging_product":"whatsapp","to":"1","type":"fax","fax":{}})),
            100
        );
    }

    #[test]
    fn path_rendering() {
        let root = Path::root("interactive");
        let action = root.key("action");
        let buttons = action.key("buttons");
        assert_eq!(
            buttons.idx(3).to_string(),
            "interactive['action']['buttons'][3]"
        );
    }
}
