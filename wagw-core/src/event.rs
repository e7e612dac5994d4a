//! The inbound event model: what Meta's webhooks report to a gateway.
//!
//! These are types only. The webhook envelope (`entry[].changes[]` with a `field` and a
//! `value`) is unpacked elsewhere; each item of `value.messages[]`, `value.statuses[]` and
//! `value.errors[]`, and the `value` of the other fields, deserialises directly into the
//! types below. Every type keeps fields it does not model in an `extra` map, and kinds or enum
//! values wagw does not know are kept verbatim, so nothing Meta sends is lost.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Number, Value};

use crate::content::Contact;
use crate::content::wire::{self, Extra, string_enum};

/// One event reported by a webhook.
// Events are short-lived values handed from the webhook parser to handlers; a few hundred
// bytes per event is cheaper than a heap allocation for every status update.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InboundEvent {
    /// A message from a user (`messages` field, `value.messages[]`).
    Message(InboundMessage),
    /// A delivery status of a message the business sent (`messages` field, `value.statuses[]`).
    Status(StatusUpdate),
    /// A template was approved, rejected, paused ... (`message_template_status_update`).
    TemplateStatus(TemplateStatusUpdate),
    /// A template's quality rating changed (`message_template_quality_update`).
    TemplateQuality(TemplateQualityUpdate),
    /// Meta re-categorised a template (`template_category_update`).
    TemplateCategory(TemplateCategoryUpdate),
    /// A phone number's quality or messaging limit changed (`phone_number_quality_update`).
    PhoneNumberQuality(PhoneNumberQualityUpdate),
    /// Something happened to the business account (`account_update`).
    AccountUpdate(AccountUpdate),
    /// An app- or account-level error (`messages` field, `value.errors[]`).
    Error(WebhookError),
    /// A field wagw does not model (groups, flows, calls ...), kept verbatim.
    Unknown {
        /// The webhook `field`.
        field: String,
        /// The change's `value`.
        value: Value,
    },
}

/// An inbound message: one item of `value.messages[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// Sender's WhatsApp id (phone number without `+`).
    pub from: String,
    /// The message's wamid.
    pub id: String,
    /// When the user sent it.
    pub timestamp: DateTime<Utc>,
    /// Sender's profile name. Not part of the message item: the envelope parser copies it from
    /// `value.contacts[]`, so it is neither read nor written by serde.
    pub profile_name: Option<String>,
    /// Reply, forward or product-enquiry context.
    pub context: Option<InboundContext>,
    /// Click-to-WhatsApp ad or post the conversation started from.
    pub referral: Option<Referral>,
    /// Errors attached to the message (for `unsupported` messages).
    pub errors: Vec<WebhookError>,
    /// The content, by `type`.
    pub kind: InboundKind,
    /// Fields wagw does not model, kept for the round trip.
    pub extra: Extra,
}

impl Serialize for InboundMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Extra::new();
        map.insert("from".to_owned(), self.from.clone().into());
        map.insert("id".to_owned(), self.id.clone().into());
        map.insert(
            "timestamp".to_owned(),
            self.timestamp.timestamp().to_string().into(),
        );
        wire::put_opt(&mut map, "context", self.context.as_ref())?;
        wire::put_opt(&mut map, "referral", self.referral.as_ref())?;
        if !self.errors.is_empty() {
            map.insert("errors".to_owned(), wire::to_value(&self.errors)?);
        }
        let payload = match &self.kind {
            InboundKind::Text(text) => Some(wire::to_value(text)?),
            InboundKind::Image(media)
            | InboundKind::Video(media)
            | InboundKind::Audio(media)
            | InboundKind::Document(media)
            | InboundKind::Sticker(media) => Some(wire::to_value(media)?),
            InboundKind::Location(location) => Some(wire::to_value(location)?),
            InboundKind::Contacts(contacts) => Some(wire::to_value(contacts)?),
            InboundKind::Reaction(reaction) => Some(wire::to_value(reaction)?),
            InboundKind::Interactive(interactive) => Some(wire::to_value(interactive)?),
            InboundKind::Button(button) => Some(wire::to_value(button)?),
            InboundKind::Order(order) => Some(wire::to_value(order)?),
            InboundKind::System(system) => Some(wire::to_value(system)?),
            InboundKind::Unsupported(detail) => detail.clone().map(Value::Object),
            InboundKind::RequestWelcome | InboundKind::Unknown(_) => None,
        };
        wire::put_tagged(&mut map, self.kind.kind(), payload);
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for InboundMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Extra::deserialize(deserializer)?;
        let from = wire::take_required(&mut map, "from")?;
        let id = wire::take_required(&mut map, "id")?;
        let timestamp = wire::take_required::<UnixSeconds, _>(&mut map, "timestamp")?.0;
        let context = wire::take(&mut map, "context")?;
        let referral = wire::take(&mut map, "referral")?;
        let errors = wire::take(&mut map, "errors")?.unwrap_or_default();
        let kind: String = wire::take_required(&mut map, "type")?;
        // Payload-less kinds leave their key (if any) in `extra`, so it still round-trips.
        let mut payload = || map.remove(&kind);
        let parsed = match kind.as_str() {
            "text" => InboundKind::Text(wire::payload(&kind, payload())?),
            "image" => InboundKind::Image(wire::payload(&kind, payload())?),
            "video" => InboundKind::Video(wire::payload(&kind, payload())?),
            "audio" => InboundKind::Audio(wire::payload(&kind, payload())?),
            "document" => InboundKind::Document(wire::payload(&kind, payload())?),
            "sticker" => InboundKind::Sticker(wire::payload(&kind, payload())?),
            "location" => InboundKind::Location(wire::payload(&kind, payload())?),
            "contacts" => InboundKind::Contacts(wire::payload(&kind, payload())?),
            "reaction" => InboundKind::Reaction(wire::payload(&kind, payload())?),
            "interactive" => InboundKind::Interactive(wire::payload(&kind, payload())?),
            "button" => InboundKind::Button(wire::payload(&kind, payload())?),
            "order" => InboundKind::Order(wire::payload(&kind, payload())?),
            "system" => InboundKind::System(wire::payload(&kind, payload())?),
            "request_welcome" => InboundKind::RequestWelcome,
            "unsupported" => InboundKind::Unsupported(
                payload()
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(serde::de::Error::custom)?,
            ),
            _ => InboundKind::Unknown(kind.clone()),
        };
        Ok(Self {
            from,
            id,
            timestamp,
            profile_name: None,
            context,
            referral,
            errors,
            kind: parsed,
            extra: map,
        })
    }
}

/// Adapter so `wire::take` can read a timestamp field.
#[derive(Deserialize)]
struct UnixSeconds(#[serde(with = "wire::unix_seconds")] DateTime<Utc>);

/// The content of an inbound message, by Meta's `type`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InboundKind {
    /// Text.
    Text(InboundText),
    /// An image.
    Image(InboundMedia),
    /// A video.
    Video(InboundMedia),
    /// An audio file or voice note (`voice`).
    Audio(InboundMedia),
    /// A document.
    Document(InboundMedia),
    /// A sticker (`animated` or not).
    Sticker(InboundMedia),
    /// A shared location.
    Location(InboundLocation),
    /// Shared contact cards.
    Contacts(Vec<Contact>),
    /// A reaction, or its removal.
    Reaction(InboundReaction),
    /// A reply to an interactive message (button, list row, completed flow).
    Interactive(InboundInteractive),
    /// A tap on a template's quick-reply button.
    Button(TemplateButtonReply),
    /// An order from the catalog.
    Order(Order),
    /// A system notice (number or identity change).
    System(SystemNotice),
    /// The user opened the chat for the first time (no payload).
    RequestWelcome,
    /// A message type Meta does not support (see the message's `errors`); holds the
    /// `unsupported` object when Meta sends one (e.g. `{"type": "poll"}`).
    Unsupported(Option<Extra>),
    /// A `type` wagw does not know; its payload stays in the message's `extra`.
    Unknown(String),
}

impl InboundKind {
    /// Meta's message `type`.
    pub fn kind(&self) -> &str {
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
            Self::Button(_) => "button",
            Self::Order(_) => "order",
            Self::System(_) => "system",
            Self::RequestWelcome => "request_welcome",
            Self::Unsupported(_) => "unsupported",
            Self::Unknown(kind) => kind,
        }
    }
}

/// Text of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundText {
    /// The text.
    pub body: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Media of an inbound message; download it through the media endpoint with `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMedia {
    /// Media id (valid for 7 days).
    pub id: String,
    /// MIME type, e.g. `image/jpeg` or `audio/ogg; codecs=opus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Base64 SHA-256 of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Caption (image, video, document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// File name (document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Whether an audio file is a voice note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// Whether a sticker is animated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
    /// Direct download URL, in newer payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A location shared by a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundLocation {
    /// Latitude in degrees (number or numeric string on the wire).
    #[serde(with = "wire::lenient_f64")]
    pub latitude: f64,
    /// Longitude in degrees (number or numeric string on the wire).
    #[serde(with = "wire::lenient_f64")]
    pub longitude: f64,
    /// Place name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Place address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Place URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reaction by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundReaction {
    /// wamid of the message reacted to.
    pub message_id: String,
    /// The emoji; absent or empty when the user removed the reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl InboundReaction {
    /// Whether this event removes an earlier reaction.
    pub fn is_removal(&self) -> bool {
        self.emoji.as_deref().is_none_or(str::is_empty)
    }
}

/// The `interactive` object of an inbound reply.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundInteractive {
    /// What the user chose.
    pub reply: InteractiveReply,
    /// Fields wagw does not model, kept for the round trip.
    pub extra: Extra,
}

/// What the user chose in an interactive message, by `interactive.type`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InteractiveReply {
    /// A reply button (`button_reply`).
    ButtonReply(ChosenOption),
    /// A list row (`list_reply`).
    ListReply(ChosenOption),
    /// A completed flow (`nfm_reply`).
    NfmReply(FlowReply),
    /// A reply type wagw does not know; its payload stays in the object's `extra`.
    Unknown(String),
}

impl InteractiveReply {
    /// Meta's `interactive.type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::ButtonReply(_) => "button_reply",
            Self::ListReply(_) => "list_reply",
            Self::NfmReply(_) => "nfm_reply",
            Self::Unknown(kind) => kind,
        }
    }
}

impl Serialize for InboundInteractive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = match &self.reply {
            InteractiveReply::ButtonReply(option) | InteractiveReply::ListReply(option) => {
                Some(wire::to_value(option)?)
            }
            InteractiveReply::NfmReply(flow) => Some(wire::to_value(flow)?),
            InteractiveReply::Unknown(_) => None,
        };
        let mut map = Extra::new();
        wire::put_tagged(&mut map, self.reply.kind(), payload);
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for InboundInteractive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Extra::deserialize(deserializer)?;
        let kind: String = wire::take_required(&mut map, "type")?;
        let reply = match kind.as_str() {
            "button_reply" => {
                InteractiveReply::ButtonReply(wire::payload(&kind, map.remove(&kind))?)
            }
            "list_reply" => InteractiveReply::ListReply(wire::payload(&kind, map.remove(&kind))?),
            "nfm_reply" => InteractiveReply::NfmReply(wire::payload(&kind, map.remove(&kind))?),
            _ => InteractiveReply::Unknown(kind),
        };
        Ok(Self { reply, extra: map })
    }
}

/// The button or list row a user chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenOption {
    /// The id the business gave the button or row.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The row's description (list replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The result of a completed WhatsApp Flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowReply {
    /// Always `flow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Text shown in the chat, e.g. `Sent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The flow's response as a JSON string (includes `flow_token`).
    pub response_json: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl FlowReply {
    /// Parses [`response_json`](Self::response_json).
    ///
    /// # Errors
    ///
    /// When the string is not valid JSON.
    pub fn response(&self) -> serde_json::Result<Value> {
        serde_json::from_str(&self.response_json)
    }
}

/// A tap on a template's quick-reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateButtonReply {
    /// The payload set when the template was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The button's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An order placed from the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Catalog id.
    pub catalog_id: String,
    /// Text the user sent with the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The ordered products.
    #[serde(default)]
    pub product_items: Vec<OrderItem>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One product of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// The product's retailer id (SKU).
    pub product_retailer_id: String,
    /// Quantity (number or numeric string on the wire).
    #[serde(with = "wire::lenient_u64")]
    pub quantity: u64,
    /// Unit price, kept exactly as sent (number or numeric string on the wire).
    #[serde(with = "wire::lenient_number")]
    pub item_price: Number,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum! {
    /// Kind of system notice.
    pub enum SystemNoticeKind {
        /// The user changed their phone number (`wa_id` is the new one).
        UserChangedNumber = "user_changed_number",
        /// Older name of [`Self::UserChangedNumber`].
        CustomerChangedNumber = "customer_changed_number",
        /// The user's identity (security code) changed.
        CustomerIdentityChanged = "customer_identity_changed",
        /// The user's business-scoped user id changed.
        UserChangedUserId = "user_changed_user_id",
    }
}

/// A system notice about the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemNotice {
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// What happened.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SystemNoticeKind>,
    /// The user's new WhatsApp id, after a number change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Context of an inbound message: what it replies to, whether it was forwarded, which product
/// it asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundContext {
    /// Sender of the quoted message (the business number for replies to its messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// wamid of the quoted message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The message was forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<bool>,
    /// The message was forwarded more than five times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequently_forwarded: Option<bool>,
    /// The product the user asks about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_product: Option<ReferredProduct>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A catalog product a message refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferredProduct {
    /// Catalog id.
    pub catalog_id: String,
    /// The product's retailer id (SKU).
    pub product_retailer_id: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The ad or post a conversation started from (Click-to-WhatsApp).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Referral {
    /// URL of the ad or post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Id of the ad or post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// `ad` or `post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Headline of the ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    /// Body of the ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `image` or `video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Image URL, for image ads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Video URL, for video ads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// Thumbnail URL, for video ads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Click id for conversion reporting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctwa_clid: Option<String>,
    /// Fields wagw does not model (e.g. `welcome_message`), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An error reported in a webhook (`value.errors[]`, `messages[].errors[]`, `statuses[].errors[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookError {
    /// Meta's error code, e.g. `131047` (number or numeric string on the wire).
    #[serde(with = "wire::lenient_u64")]
    pub code: u64,
    /// Short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Message (usually equal to the title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `{"details": ...}`; kept as raw JSON because some APIs send a bare string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<Value>,
    /// Link to Meta's error-code documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl WebhookError {
    /// The human-readable `error_data.details` (or a bare-string `error_data`).
    pub fn details(&self) -> Option<&str> {
        match self.error_data.as_ref()? {
            Value::String(details) => Some(details),
            data => data.get("details")?.as_str(),
        }
    }
}

string_enum! {
    /// Delivery status of an outbound message.
    pub enum DeliveryStatus {
        /// Accepted by WhatsApp's servers.
        Sent = "sent",
        /// Delivered to the user's device.
        Delivered = "delivered",
        /// Read by the user (implies delivered).
        Read = "read",
        /// A voice message was played.
        Played = "played",
        /// Could not be delivered; see `errors`.
        Failed = "failed",
    }
}

/// A delivery status update: one item of `value.statuses[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// wamid of the outbound message.
    pub id: String,
    /// The new status.
    pub status: DeliveryStatus,
    /// When the status changed.
    #[serde(with = "wire::unix_seconds")]
    pub timestamp: DateTime<Utc>,
    /// The recipient's WhatsApp id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// The tracking string given when sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    /// The conversation the message is billed in (absent on some statuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Conversation>,
    /// Pricing of the message (absent on failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// Why delivery failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<WebhookError>,
    /// Fields wagw does not model (e.g. `recipient_type`, group fields), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The conversation a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Conversation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the conversation window closes (string or number on the wire; written as string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "wire::unix_seconds_opt"
    )]
    pub expiration_timestamp: Option<DateTime<Utc>>,
    /// What opened the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<ConversationOrigin>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What opened a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationOrigin {
    /// The conversation category.
    #[serde(rename = "type")]
    pub kind: PricingCategory,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum! {
    /// Billing category of a conversation or message.
    pub enum PricingCategory {
        /// User-initiated service conversation.
        Service = "service",
        /// Marketing template.
        Marketing = "marketing",
        /// Utility template.
        Utility = "utility",
        /// Authentication template.
        Authentication = "authentication",
        /// Authentication template to a user in another country.
        AuthenticationInternational = "authentication_international",
        /// Marketing message sent through the Marketing Messages Lite API.
        MarketingLite = "marketing_lite",
        /// Free conversation from a Click-to-WhatsApp ad or Facebook page.
        ReferralConversion = "referral_conversion",
    }
}

string_enum! {
    /// Pricing model.
    pub enum PricingModel {
        /// Conversation-based pricing (before July 2025).
        Cbp = "CBP",
        /// Per-message pricing.
        Pmp = "PMP",
    }
}

string_enum! {
    /// Whether and why a message is charged, under per-message pricing.
    pub enum PricingType {
        /// Charged at the regular rate.
        Regular = "regular",
        /// Free: inside the customer service window.
        FreeCustomerService = "free_customer_service",
        /// Free: inside a free entry-point window.
        FreeEntryPoint = "free_entry_point",
    }
}

/// Pricing of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pricing {
    /// Whether the message is charged (deprecated by Meta in favour of `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billable: Option<bool>,
    /// `CBP` or `PMP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_model: Option<PricingModel>,
    /// Billing category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<PricingCategory>,
    /// Whether and why the message is charged.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PricingType>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum! {
    /// Template status reported by `message_template_status_update`.
    pub enum TemplateStatusEvent {
        /// Approved; can be sent.
        Approved = "APPROVED",
        /// Awaiting review.
        Pending = "PENDING",
        /// Rejected; see `reason`.
        Rejected = "REJECTED",
        /// Paused for low quality.
        Paused = "PAUSED",
        /// Disabled after repeated pauses.
        Disabled = "DISABLED",
        /// Rejection under appeal.
        InAppeal = "IN_APPEAL",
        /// Deleted in WhatsApp Manager, pending deletion.
        PendingDeletion = "PENDING_DELETION",
        /// Deleted.
        Deleted = "DELETED",
        /// Template limit exceeded.
        LimitExceeded = "LIMIT_EXCEEDED",
        /// Flagged: at risk of being paused.
        Flagged = "FLAGGED",
        /// Reinstated after a pause.
        Reinstated = "REINSTATED",
        /// Archived.
        Archived = "ARCHIVED",
        /// Unarchived.
        Unarchived = "UNARCHIVED",
        /// Locked against edits.
        Locked = "LOCKED",
        /// Unlocked.
        Unlocked = "UNLOCKED",
    }
}

/// The `value` of a `message_template_status_update` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateStatusUpdate {
    /// The new status.
    pub event: TemplateStatusEvent,
    /// Template id (a JSON number here).
    #[serde(with = "wire::lenient_u64")]
    pub message_template_id: u64,
    /// Template name.
    pub message_template_name: String,
    /// Template language, e.g. `en_US`.
    pub message_template_language: String,
    /// Rejection or pause reason (`NONE` when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields wagw does not model (`disable_info`, `rejection_info` ...), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum! {
    /// Quality rating of a template or phone number.
    pub enum QualityScore {
        /// High quality.
        Green = "GREEN",
        /// Medium quality.
        Yellow = "YELLOW",
        /// Low quality.
        Red = "RED",
        /// Not rated yet.
        Unknown = "UNKNOWN",
    }
}

/// The `value` of a `message_template_quality_update` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateQualityUpdate {
    /// Rating before the change.
    pub previous_quality_score: QualityScore,
    /// Rating after the change.
    pub new_quality_score: QualityScore,
    /// Template id.
    #[serde(with = "wire::lenient_u64")]
    pub message_template_id: u64,
    /// Template name.
    pub message_template_name: String,
    /// Template language.
    pub message_template_language: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `value` of a `template_category_update` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateCategoryUpdate {
    /// Template id.
    #[serde(with = "wire::lenient_u64")]
    pub message_template_id: u64,
    /// Template name.
    pub message_template_name: String,
    /// Template language.
    pub message_template_language: String,
    /// Category before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_category: Option<String>,
    /// Category after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_category: Option<String>,
    /// Fields wagw does not model (e.g. `correct_category`), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `value` of a `phone_number_quality_update` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumberQualityUpdate {
    /// The business number, as displayed.
    pub display_phone_number: String,
    /// What changed, e.g. `FLAGGED`, `UPGRADE`, `THROUGHPUT_UPGRADE`.
    pub event: String,
    /// Messaging limit tier after the change (being replaced by
    /// `max_daily_conversations_per_business`, which stays in `extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_limit: Option<String>,
    /// Messaging limit tier before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_limit: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `value` of an `account_update` webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUpdate {
    /// What happened, e.g. `ACCOUNT_RESTRICTION`, `DISABLED_UPDATE`, `ACCOUNT_DELETED`.
    pub event: String,
    /// The affected phone number, when the event concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Fields wagw does not model (`ban_info`, `restriction_info` ...), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of a webhook change's `value.contacts[]`: who a message came from or a status
/// is about, with Meta's business-scoped user id (BSUID) fields where Meta sends them.
///
/// A BSUID (`user_id`, e.g. `US.13491208655302741918`) names a WhatsApp user for one
/// business portfolio without revealing the phone number; users who adopt a username may
/// reach a business with a BSUID only (no `wa_id`). Unknown keys stay in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundContact {
    /// The user's WhatsApp id (phone number without `+`); absent for BSUID-only users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The business-scoped user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The parent business-scoped user id (shared across a parent portfolio's businesses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_user_id: Option<String>,
    /// The user's WhatsApp username, when they set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `profile` (`{"name": ...}` and whatever Meta adds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
    /// Fields wagw does not model (`identity_key_hash` ...), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl InboundContact {
    /// `profile.name`, the user's chosen display name.
    pub fn profile_name(&self) -> Option<&str> {
        self.profile.as_ref()?.get("name")?.as_str()
    }

    /// Whether this contact is the user named by `wa_id` (a phone-number id) or `user_id`
    /// (a BSUID); `None` arguments match nothing.
    pub fn is(&self, wa_id: Option<&str>, user_id: Option<&str>) -> bool {
        (wa_id.is_some() && self.wa_id.as_deref() == wa_id)
            || (user_id.is_some() && self.user_id.as_deref() == user_id)
    }
}

fn extra_str<'a>(extra: &'a Extra, key: &str) -> Option<&'a str> {
    extra.get(key)?.as_str()
}

impl InboundMessage {
    /// The sender's business-scoped user id (`from_user_id`), when Meta sends one.
    pub fn from_user_id(&self) -> Option<&str> {
        extra_str(&self.extra, "from_user_id")
    }

    /// The sender's parent business-scoped user id (`from_parent_user_id`), when sent.
    pub fn from_parent_user_id(&self) -> Option<&str> {
        extra_str(&self.extra, "from_parent_user_id")
    }

    /// For a message in a group: the group id (`group_id`), when Meta sends one.
    pub fn group_id(&self) -> Option<&str> {
        extra_str(&self.extra, "group_id")
    }
}

impl StatusUpdate {
    /// The recipient's business-scoped user id (`recipient_user_id`), when Meta sends one.
    pub fn recipient_user_id(&self) -> Option<&str> {
        extra_str(&self.extra, "recipient_user_id")
    }

    /// The recipient's parent business-scoped user id (`recipient_parent_user_id`).
    pub fn recipient_parent_user_id(&self) -> Option<&str> {
        extra_str(&self.extra, "recipient_parent_user_id")
    }

    /// `recipient_type`: `individual` or `group` (absent means individual).
    pub fn recipient_type(&self) -> Option<&str> {
        extra_str(&self.extra, "recipient_type")
    }

    /// Whether the status is about a message sent to a group (then `recipient_id` is the
    /// group id and [`recipient_participant_id`](Self::recipient_participant_id) names the
    /// member it concerns).
    pub fn is_group(&self) -> bool {
        self.recipient_type() == Some("group")
    }

    /// For a group message: the group member the status concerns
    /// (`recipient_participant_id`).
    pub fn recipient_participant_id(&self) -> Option<&str> {
        extra_str(&self.extra, "recipient_participant_id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(value: Value) -> T {
        let parsed: T = serde_json::from_value(value.clone()).expect("parses");
        assert_eq!(serde_json::to_value(&parsed).expect("serialises"), value);
        parsed
    }

    fn message(kind: &str, payload: Value) -> Value {
        json!({"from": "16505551234", "id": "wamid.X", "timestamp": "1749416383",
               "type": kind, kind: payload})
    }

    #[test]
    fn text_message_with_context_and_unknown_fields() {
        let mut value = message("text", json!({"body": "Hi"}));
        value["context"] = json!({"from": "15550783881", "id": "wamid.Y", "forwarded": true});
        value["from_user_id"] = json!("US.123");
        let parsed: InboundMessage = round_trip(value);
        assert_eq!(parsed.timestamp.timestamp(), 1_749_416_383);
        assert!(matches!(&parsed.kind, InboundKind::Text(text) if text.body == "Hi"));
        assert_eq!(parsed.context.and_then(|c| c.forwarded), Some(true));
        assert_eq!(parsed.extra["from_user_id"], "US.123");
    }

    #[test]
    fn media_kinds_keep_their_flags() {
        let voice: InboundMessage = round_trip(message(
            "audio",
            json!({"id": "1", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": true}),
        ));
        assert!(matches!(
            voice.kind,
            InboundKind::Audio(InboundMedia {
                voice: Some(true),
                ..
            })
        ));
        let sticker: InboundMessage =
            round_trip(message("sticker", json!({"id": "2", "animated": false})));
        assert!(matches!(sticker.kind, InboundKind::Sticker(_)));
    }

    #[test]
    fn location_accepts_string_coordinates() {
        let parsed: InboundMessage = serde_json::from_value(message(
            "location",
            json!({"latitude": "37.44", "longitude": "-122.16"}),
        ))
        .expect("parses");
        let InboundKind::Location(location) = parsed.kind else {
            panic!("expected a location");
        };
        assert_eq!((location.latitude, location.longitude), (37.44, -122.16));
    }

    #[test]
    fn reaction_removal() {
        let parsed: InboundMessage =
            round_trip(message("reaction", json!({"message_id": "wamid.Z"})));
        assert!(matches!(&parsed.kind, InboundKind::Reaction(r) if r.is_removal()));
    }

    #[test]
    fn interactive_replies() {
        let flow: InboundMessage = round_trip(message(
            "interactive",
            json!({"type": "nfm_reply", "nfm_reply":
                {"name": "flow", "body": "Sent", "response_json": "{\"flow_token\":\"t\"}"}}),
        ));
        let InboundKind::Interactive(InboundInteractive {
            reply: InteractiveReply::NfmReply(reply),
            ..
        }) = flow.kind
        else {
            panic!("expected an nfm_reply");
        };
        assert_eq!(reply.response().expect("valid JSON")["flow_token"], "t");
        let unknown: InboundMessage = round_trip(message(
            "interactive",
            json!({"type": "call_permission_reply", "call_permission_reply": {"response": "accept"}}),
        ));
        assert!(matches!(
            unknown.kind,
            InboundKind::Interactive(InboundInteractive {
                reply: InteractiveReply::Unknown(_),
                ..
            })
        ));
    }

    #[test]
    fn order_prices_keep_their_representation() {
        let parsed: InboundMessage = round_trip(message(
            "order",
            json!({"catalog_id": "1", "text": "", "product_items": [
                {"product_retailer_id": "a", "quantity": 2, "item_price": 30, "currency": "USD"},
                {"product_retailer_id": "b", "quantity": 1, "item_price": 25.5, "currency": "USD"}]}),
        ));
        assert!(
            matches!(&parsed.kind, InboundKind::Order(order) if order.product_items[0].quantity == 2)
        );
    }

    #[test]
    fn payloadless_unsupported_and_unknown_kinds_survive() {
        let welcome: InboundMessage = round_trip(json!(
            {"from": "1", "id": "wamid.W", "timestamp": "1", "type": "request_welcome"}));
        assert_eq!(welcome.kind, InboundKind::RequestWelcome);
        let mut unsupported = message("unsupported", json!({"type": "poll"}));
        unsupported["errors"] = json!([{"code": 131051, "title": "Message type unknown",
            "message": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."}}]);
        let parsed: InboundMessage = round_trip(unsupported);
        assert_eq!(parsed.errors[0].code, 131_051);
        assert_eq!(
            parsed.errors[0].details(),
            Some("Message type is currently not supported.")
        );
        let unknown: InboundMessage = round_trip(message("poll_vote", json!({"option": 2})));
        assert_eq!(unknown.kind, InboundKind::Unknown("poll_vote".to_owned()));
    }

    #[test]
    fn system_notice() {
        let parsed: InboundMessage = round_trip(message(
            "system",
            json!({"body": "User changed number", "wa_id": "12195555358", "type": "user_changed_number"}),
        ));
        assert!(matches!(
            &parsed.kind,
            InboundKind::System(SystemNotice {
                kind: Some(SystemNoticeKind::UserChangedNumber),
                ..
            })
        ));
    }

    #[test]
    fn sent_status_with_pricing() {
        let status: StatusUpdate = round_trip(json!({
            "id": "wamid.S", "status": "sent", "timestamp": "1698266945",
            "recipient_id": "972987654321", "biz_opaque_callback_data": "campaign-7",
            "conversation": {"id": "c1", "expiration_timestamp": "1698339900",
                             "origin": {"type": "marketing"}},
            "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing",
                        "type": "regular"}}));
        assert_eq!(status.status, DeliveryStatus::Sent);
        let pricing = status.pricing.expect("pricing");
        assert_eq!(pricing.category, Some(PricingCategory::Marketing));
        assert_eq!(pricing.kind, Some(PricingType::Regular));
    }

    #[test]
    fn failed_and_future_statuses() {
        let failed: StatusUpdate = round_trip(json!({
            "id": "wamid.F", "status": "failed", "timestamp": "1698266945", "recipient_id": "1",
            "errors": [{"code": 131047, "title": "Re-engagement message",
                        "message": "Re-engagement message",
                        "error_data": {"details": "More than 24 hours have passed."},
                        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]}));
        assert_eq!(failed.errors[0].code, 131_047);
        let future: StatusUpdate = round_trip(json!(
            {"id": "wamid.G", "status": "deleted", "timestamp": "1", "recipient_type": "group"}));
        assert_eq!(future.status, DeliveryStatus::Other("deleted".to_owned()));
        assert_eq!(future.extra["recipient_type"], "group");
    }

    #[test]
    fn template_webhooks() {
        let status: TemplateStatusUpdate = round_trip(json!({
            "event": "REJECTED", "message_template_id": 1_689_556_908_129_832_u64,
            "message_template_name": "order_confirmation", "message_template_language": "en_US",
            "reason": "INVALID_FORMAT",
            "rejection_info": {"reason": "x", "recommendation": "y"}}));
        assert_eq!(status.event, TemplateStatusEvent::Rejected);
        let quality: TemplateQualityUpdate = round_trip(json!({
            "previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
            "message_template_id": 1, "message_template_name": "t",
            "message_template_language": "en"}));
        assert_eq!(quality.new_quality_score, QualityScore::Yellow);
        round_trip::<TemplateCategoryUpdate>(json!({
            "message_template_id": 1, "message_template_name": "t",
            "message_template_language": "en", "previous_category": "UTILITY",
            "new_category": "MARKETING"}));
        round_trip::<PhoneNumberQualityUpdate>(json!({
            "display_phone_number": "15550783881", "event": "UPGRADE",
            "current_limit": "TIER_10K", "old_limit": "TIER_1K"}));
        round_trip::<AccountUpdate>(json!({"event": "ACCOUNT_RESTRICTION",
            "restriction_info": [{"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION"}]}));
    }
}
