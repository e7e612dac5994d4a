//! The send envelope ([`OutboundMessage`]), its content ([`MessageContent`]) and the other body
//! accepted by the messages endpoint ([`MarkRead`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::contact::Contact;
use super::interactive::Interactive;
use super::media::Media;
use super::template::Template;
use super::wire::{self, Extra, string_enum};

/// The only `messaging_product` Meta accepts.
const MESSAGING_PRODUCT: &str = "whatsapp";

/// A message to send: the JSON body of `POST /{phone-number-id}/messages`.
///
/// Serialises to Meta's wire JSON (adding `"messaging_product": "whatsapp"`); fields wagw does
/// not model are kept in [`extra`](Self::extra) and written back unchanged.
///
/// ```
/// # use wagw_core::content::{MessageContent, OutboundMessage};
/// let message = OutboundMessage::new("628123456789", MessageContent::text("Halo"))
///     .in_reply_to("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
/// message.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// Recipient: phone number (E.164, with or without `+`) or group id.
    pub to: String,
    /// `individual` (Meta's default when absent) or `group`.
    pub recipient_type: Option<RecipientType>,
    /// The message this one replies to.
    pub context: Option<ReplyContext>,
    /// Opaque tracking string (at most 512 characters) echoed in status webhooks.
    pub biz_opaque_callback_data: Option<String>,
    /// What is sent.
    pub content: MessageContent,
    /// Envelope fields wagw does not model (e.g. `recipient`, `recipient_identity_key_hash`).
    pub extra: Extra,
}

impl OutboundMessage {
    /// A message to `to` with default envelope options.
    pub fn new(to: impl Into<String>, content: impl Into<MessageContent>) -> Self {
        Self {
            to: to.into(),
            recipient_type: None,
            context: None,
            biz_opaque_callback_data: None,
            content: content.into(),
            extra: Extra::new(),
        }
    }

    /// Sends the message as a reply to the message with the given wamid.
    pub fn in_reply_to(mut self, message_id: impl Into<String>) -> Self {
        self.context = Some(ReplyContext::new(message_id));
        self
    }

    /// Attaches a tracking string that Meta echoes in the status webhooks of this message.
    pub fn with_callback_data(mut self, data: impl Into<String>) -> Self {
        self.biz_opaque_callback_data = Some(data.into());
        self
    }

    /// Sets the recipient type explicitly.
    pub fn with_recipient_type(mut self, recipient_type: RecipientType) -> Self {
        self.recipient_type = Some(recipient_type);
        self
    }
}

impl Serialize for OutboundMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Extra::new();
        map.insert("messaging_product".to_owned(), MESSAGING_PRODUCT.into());
        wire::put_opt(&mut map, "recipient_type", self.recipient_type.as_ref())?;
        map.insert("to".to_owned(), self.to.clone().into());
        wire::put_opt(&mut map, "context", self.context.as_ref())?;
        wire::put_opt(
            &mut map,
            "biz_opaque_callback_data",
            self.biz_opaque_callback_data.as_ref(),
        )?;
        self.content.put_into(&mut map)?;
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OutboundMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;

        let mut map = Extra::deserialize(deserializer)?;
        match map.remove("messaging_product") {
            None => {}
            Some(Value::String(product)) if product == MESSAGING_PRODUCT => {}
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "messaging_product must be \"whatsapp\", got {other}"
                )));
            }
        }
        let to = wire::take_required(&mut map, "to")?;
        let recipient_type = wire::take(&mut map, "recipient_type")?;
        let context = wire::take(&mut map, "context")?;
        let biz_opaque_callback_data = wire::take(&mut map, "biz_opaque_callback_data")?;
        let content = MessageContent::take_from(&mut map)?;
        Ok(Self {
            to,
            recipient_type,
            context,
            biz_opaque_callback_data,
            content,
            extra: map,
        })
    }
}

string_enum! {
    /// Who a message is addressed to.
    pub enum RecipientType {
        /// A single WhatsApp user (Meta's default).
        Individual = "individual",
        /// A WhatsApp group created through the Groups API.
        Group = "group",
    }
}

/// The `context` of a reply: the wamid of the quoted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    /// wamid of the message being replied to.
    pub message_id: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ReplyContext {
    /// Context quoting the message with the given wamid.
    pub fn new(message_id: impl Into<String>) -> Self {
        Self {
            message_id: message_id.into(),
            extra: Extra::new(),
        }
    }
}

/// The content of an outbound message: Meta's `type` plus the object stored under the key
/// named after it (`{"type": "text", "text": {...}}`).
///
/// Standalone it (de)serialises as exactly those two keys, which suits storing content apart
/// from its recipient; inside [`OutboundMessage`] the two keys sit in the envelope.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessageContent {
    /// A text message.
    Text(Text),
    /// An image (JPEG or PNG), optionally captioned.
    Image(Media),
    /// A video (MP4 or 3GP), optionally captioned.
    Video(Media),
    /// An audio file or, with `voice`, a voice note.
    Audio(Media),
    /// A document, optionally with caption and file name.
    Document(Media),
    /// A WebP sticker.
    Sticker(Media),
    /// A location pin.
    Location(Location),
    /// One or more contact cards.
    Contacts(Vec<Contact>),
    /// A reaction to an earlier message; an empty emoji removes it.
    Reaction(Reaction),
    /// An interactive message (buttons, list, CTA URL, flow, products ...); boxed because it
    /// is several times larger than the other variants.
    Interactive(Box<Interactive>),
    /// A pre-approved template, the only content allowed outside the 24-hour window.
    Template(Template),
}

impl MessageContent {
    /// Every `type` wagw models, in the order used to infer a missing `type`.
    const KINDS: [&'static str; 11] = [
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
        "interactive",
        "template",
    ];

    /// A plain text message.
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text(Text::new(body))
    }

    /// An image message.
    pub fn image(media: Media) -> Self {
        Self::Image(media)
    }

    /// A video message.
    pub fn video(media: Media) -> Self {
        Self::Video(media)
    }

    /// An audio message (see [`Media::as_voice`] for voice notes).
    pub fn audio(media: Media) -> Self {
        Self::Audio(media)
    }

    /// A document message.
    pub fn document(media: Media) -> Self {
        Self::Document(media)
    }

    /// A sticker message.
    pub fn sticker(media: Media) -> Self {
        Self::Sticker(media)
    }

    /// A location pin.
    pub fn location(latitude: f64, longitude: f64) -> Self {
        Self::Location(Location::new(latitude, longitude))
    }

    /// Contact cards.
    pub fn contacts(contacts: impl IntoIterator<Item = Contact>) -> Self {
        Self::Contacts(contacts.into_iter().collect())
    }

    /// A reaction with `emoji` to the message with wamid `message_id`.
    pub fn reaction(message_id: impl Into<String>, emoji: impl Into<String>) -> Self {
        Self::Reaction(Reaction {
            message_id: message_id.into(),
            emoji: emoji.into(),
            extra: Extra::new(),
        })
    }

    /// Removes an earlier reaction to the message with wamid `message_id`.
    pub fn remove_reaction(message_id: impl Into<String>) -> Self {
        Self::reaction(message_id, "")
    }

    /// An interactive message.
    pub fn interactive(interactive: Interactive) -> Self {
        Self::Interactive(Box::new(interactive))
    }

    /// A template message.
    pub fn template(template: Template) -> Self {
        Self::Template(template)
    }

    /// Meta's `type` for this content, which is also the key of its payload.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Image(_) => "image",
            Self::Video(_) => "video",
            Self::Audio(_) => "audio",
            Self::Document(_) => "document",
            Self::Sticker(_) => "sticker",
            Self::Location(_) => "location",
            Self::Contacts(_) => "contacts",
            Self::Reaction(_) => "reaction",
            Self::Interactive(_) => "interactive",
            Self::Template(_) => "template",
        }
    }

    /// The media object, for the five media types.
    pub fn media(&self) -> Option<&Media> {
        match self {
            Self::Image(media)
            | Self::Video(media)
            | Self::Audio(media)
            | Self::Document(media)
            | Self::Sticker(media) => Some(media),
            _ => None,
        }
    }

    /// Writes `type` and the payload into an envelope map.
    fn put_into<E: serde::ser::Error>(&self, map: &mut Extra) -> Result<(), E> {
        let payload = match self {
            Self::Text(text) => wire::to_value(text)?,
            Self::Image(media)
            | Self::Video(media)
            | Self::Audio(media)
            | Self::Document(media)
            | Self::Sticker(media) => wire::to_value(media)?,
            Self::Location(location) => wire::to_value(location)?,
            Self::Contacts(contacts) => wire::to_value(contacts)?,
            Self::Reaction(reaction) => wire::to_value(reaction)?,
            Self::Interactive(interactive) => wire::to_value(interactive)?,
            Self::Template(template) => wire::to_value(template)?,
        };
        wire::put_tagged(map, self.kind(), Some(payload));
        Ok(())
    }

    /// Takes `type` and its payload out of an envelope map.
    ///
    /// A missing `type` is inferred from the one payload key present: Meta documents `type` as
    /// optional (defaulting to `text`) and some of its own examples omit it.
    fn take_from<E: serde::de::Error>(map: &mut Extra) -> Result<Self, E> {
        let kind = match map.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(other) => return Err(E::custom(format!("`type` must be a string, got {other}"))),
            None => {
                let mut present = Self::KINDS.iter().filter(|kind| map.contains_key(**kind));
                match (present.next(), present.next()) {
                    (Some(kind), None) => (*kind).to_owned(),
                    (None, _) => return Err(E::missing_field("type")),
                    (Some(first), Some(second)) => {
                        return Err(E::custom(format!(
                            "`type` is missing and both `{first}` and `{second}` are present"
                        )));
                    }
                }
            }
        };
        let payload = map.remove(&kind);
        Ok(match kind.as_str() {
            "text" => Self::Text(wire::payload(&kind, payload)?),
            "image" => Self::Image(wire::payload(&kind, payload)?),
            "video" => Self::Video(wire::payload(&kind, payload)?),
            "audio" => Self::Audio(wire::payload(&kind, payload)?),
            "document" => Self::Document(wire::payload(&kind, payload)?),
            "sticker" => Self::Sticker(wire::payload(&kind, payload)?),
            "location" => Self::Location(wire::payload(&kind, payload)?),
            "contacts" => Self::Contacts(wire::payload(&kind, payload)?),
            "reaction" => Self::Reaction(wire::payload(&kind, payload)?),
            "interactive" => Self::Interactive(wire::payload(&kind, payload)?),
            "template" => Self::Template(wire::payload(&kind, payload)?),
            other => return Err(E::custom(format!("unsupported message type `{other}`"))),
        })
    }
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Extra::new();
        self.put_into(&mut map)?;
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::take_from(&mut Extra::deserialize(deserializer)?)
    }
}

impl From<Text> for MessageContent {
    fn from(text: Text) -> Self {
        Self::Text(text)
    }
}

impl From<Location> for MessageContent {
    fn from(location: Location) -> Self {
        Self::Location(location)
    }
}

impl From<Reaction> for MessageContent {
    fn from(reaction: Reaction) -> Self {
        Self::Reaction(reaction)
    }
}

impl From<Interactive> for MessageContent {
    fn from(interactive: Interactive) -> Self {
        Self::interactive(interactive)
    }
}

impl From<Template> for MessageContent {
    fn from(template: Template) -> Self {
        Self::Template(template)
    }
}

/// The payload of a text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The text, at most 4096 characters; URLs are linked automatically.
    pub body: String,
    /// Render a preview of the first URL in `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Text {
    /// Text without link preview.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            preview_url: None,
            extra: Extra::new(),
        }
    }

    /// Asks WhatsApp to render a preview of the first URL in the body.
    pub fn with_preview_url(mut self) -> Self {
        self.preview_url = Some(true);
        self
    }
}

/// A location pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude in degrees, -90 to 90. Numeric strings are accepted when parsing.
    #[serde(with = "wire::lenient_f64")]
    pub latitude: f64,
    /// Longitude in degrees, -180 to 180. Numeric strings are accepted when parsing.
    #[serde(with = "wire::lenient_f64")]
    pub longitude: f64,
    /// Name of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Address of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Location {
    /// A pin at the given coordinates.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            name: None,
            address: None,
            extra: Extra::new(),
        }
    }

    /// Sets the place name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the place address.
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
}

/// A reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// wamid of the message reacted to.
    pub message_id: String,
    /// The emoji; an empty string removes an earlier reaction.
    pub emoji: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The mark-as-read body, optionally showing a typing indicator:
/// `{"messaging_product": "whatsapp", "status": "read", "message_id": ..., "typing_indicator": {"type": "text"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRead {
    /// wamid of the inbound message to mark read (earlier ones are marked too).
    pub message_id: String,
    /// Show a typing indicator until the reply is sent (or for 25 seconds).
    pub typing_indicator: Option<TypingIndicator>,
    /// Fields wagw does not model, kept for the round trip.
    pub extra: Extra,
}

impl MarkRead {
    /// Marks the message with wamid `message_id` (and the ones before it) as read.
    pub fn new(message_id: impl Into<String>) -> Self {
        Self {
            message_id: message_id.into(),
            typing_indicator: None,
            extra: Extra::new(),
        }
    }

    /// Also shows a text typing indicator to the user.
    pub fn with_typing_indicator(mut self) -> Self {
        self.typing_indicator = Some(TypingIndicator {
            kind: TypingIndicatorKind::Text,
            extra: Extra::new(),
        });
        self
    }
}

impl Serialize for MarkRead {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Extra::new();
        map.insert("messaging_product".to_owned(), MESSAGING_PRODUCT.into());
        map.insert("status".to_owned(), "read".into());
        map.insert("message_id".to_owned(), self.message_id.clone().into());
        wire::put_opt(&mut map, "typing_indicator", self.typing_indicator.as_ref())?;
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MarkRead {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;

        let mut map = Extra::deserialize(deserializer)?;
        map.remove("messaging_product");
        let status: String = wire::take_required(&mut map, "status")?;
        if status != "read" {
            return Err(D::Error::custom(format!(
                "status must be \"read\", got {status:?}"
            )));
        }
        Ok(Self {
            message_id: wire::take_required(&mut map, "message_id")?,
            typing_indicator: wire::take(&mut map, "typing_indicator")?,
            extra: map,
        })
    }
}

/// A typing indicator shown while a reply is prepared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingIndicator {
    /// Kind of indicator; Meta supports `text`.
    #[serde(rename = "type")]
    pub kind: TypingIndicatorKind,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum! {
    /// Kind of typing indicator.
    pub enum TypingIndicatorKind {
        /// "typing..." text bubble.
        Text = "text",
    }
}

/// Any body accepted by `POST /{phone-number-id}/messages`: a message or a read receipt.
#[derive(Debug, Clone, PartialEq)]
pub enum MessagesRequest {
    /// A message to send.
    Message(OutboundMessage),
    /// A mark-as-read (and typing indicator) request.
    MarkRead(MarkRead),
}

impl Serialize for MessagesRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Message(message) => message.serialize(serializer),
            Self::MarkRead(read) => read.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MessagesRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;

        // Read receipts are told apart by their `status` key, which no message body has.
        let map = Extra::deserialize(deserializer)?;
        let is_read_receipt = map.contains_key("status");
        let value = Value::Object(map);
        if is_read_receipt {
            serde_json::from_value(value).map(Self::MarkRead)
        } else {
            serde_json::from_value(value).map(Self::Message)
        }
        .map_err(D::Error::custom)
    }
}

impl From<OutboundMessage> for MessagesRequest {
    fn from(message: OutboundMessage) -> Self {
        Self::Message(message)
    }
}

impl From<MarkRead> for MessagesRequest {
    fn from(read: MarkRead) -> Self {
        Self::MarkRead(read)
    }
}
