//! Interactive messages: reply buttons, lists, CTA URL, flows, products and catalogs.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::media::Media;
use super::wire::{self, Extra};

/// The payload of an `interactive` message.
///
/// Meta's `interactive.type` is implied by the [`action`](Self::action) variant, so the two can
/// never disagree.
///
/// ```
/// # use wagw_core::content::{Interactive, InteractiveHeader, ReplyButton};
/// let menu = Interactive::buttons(
///     "Confirm your order?",
///     [ReplyButton::new("yes", "Yes"), ReplyButton::new("no", "No")],
/// )
/// .with_header(InteractiveHeader::text("Order #42"))
/// .with_footer("Reply within 24h");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Interactive {
    /// Header shown above the body.
    pub header: Option<InteractiveHeader>,
    /// Body text (required for most subtypes), at most 1024 characters.
    pub body: Option<InteractiveText>,
    /// Footer text, at most 60 characters.
    pub footer: Option<InteractiveText>,
    /// What the user can do; determines `interactive.type`.
    pub action: InteractiveAction,
    /// Fields wagw does not model, kept for the round trip.
    pub extra: Extra,
}

impl Interactive {
    /// A message with `body` text and the given action.
    pub fn new(body: impl Into<String>, action: InteractiveAction) -> Self {
        Self {
            header: None,
            body: Some(InteractiveText::new(body)),
            footer: None,
            action,
            extra: Extra::new(),
        }
    }

    /// Up to three reply buttons under `body`.
    pub fn buttons(
        body: impl Into<String>,
        buttons: impl IntoIterator<Item = ReplyButton>,
    ) -> Self {
        Self::new(
            body,
            InteractiveAction::Buttons(ReplyButtons {
                buttons: buttons.into_iter().collect(),
                extra: Extra::new(),
            }),
        )
    }

    /// A list opened by a button labelled `button`.
    pub fn list(
        body: impl Into<String>,
        button: impl Into<String>,
        sections: impl IntoIterator<Item = ListSection>,
    ) -> Self {
        Self::new(
            body,
            InteractiveAction::List(ListAction {
                button: button.into(),
                sections: sections.into_iter().collect(),
                extra: Extra::new(),
            }),
        )
    }

    /// A call-to-action button that opens `url`.
    pub fn cta_url(
        body: impl Into<String>,
        display_text: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        Self::new(
            body,
            InteractiveAction::CtaUrl(NamedAction::new(CtaUrlParameters {
                display_text: display_text.into(),
                url: url.into(),
                extra: Extra::new(),
            })),
        )
    }

    /// A button that opens a WhatsApp Flow.
    pub fn flow(body: impl Into<String>, parameters: FlowParameters) -> Self {
        Self::new(body, InteractiveAction::Flow(NamedAction::new(parameters)))
    }

    /// Sets the header.
    pub fn with_header(mut self, header: InteractiveHeader) -> Self {
        self.header = Some(header);
        self
    }

    /// Sets the footer text.
    pub fn with_footer(mut self, footer: impl Into<String>) -> Self {
        self.footer = Some(InteractiveText::new(footer));
        self
    }
}

impl Serialize for Interactive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Extra::new();
        map.insert("type".to_owned(), self.action.kind().into());
        wire::put_opt(&mut map, "header", self.header.as_ref())?;
        wire::put_opt(&mut map, "body", self.body.as_ref())?;
        wire::put_opt(&mut map, "footer", self.footer.as_ref())?;
        wire::put_opt(&mut map, "action", self.action.to_wire()?.as_ref())?;
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Interactive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Extra::deserialize(deserializer)?;
        let kind: String = wire::take_required(&mut map, "type")?;
        let header = wire::take(&mut map, "header")?;
        let body = wire::take(&mut map, "body")?;
        let footer = wire::take(&mut map, "footer")?;
        let action = InteractiveAction::from_wire(kind, map.remove("action"))?;
        Ok(Self {
            header,
            body,
            footer,
            action,
            extra: map,
        })
    }
}

/// A `{"text": ...}` object: the body or footer of an interactive message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractiveText {
    /// The text.
    pub text: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl InteractiveText {
    /// A text object.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            extra: Extra::new(),
        }
    }
}

/// The header of an interactive message.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractiveHeader {
    /// What the header shows.
    pub content: HeaderContent,
    /// Fields wagw does not model (e.g. `sub_text`), kept for the round trip.
    pub extra: Extra,
}

impl InteractiveHeader {
    /// A text header (at most 60 characters).
    pub fn text(text: impl Into<String>) -> Self {
        Self::from(HeaderContent::Text(text.into()))
    }

    /// An image header.
    pub fn image(media: Media) -> Self {
        Self::from(HeaderContent::Image(media))
    }

    /// A video header.
    pub fn video(media: Media) -> Self {
        Self::from(HeaderContent::Video(media))
    }

    /// A document header.
    pub fn document(media: Media) -> Self {
        Self::from(HeaderContent::Document(media))
    }
}

impl From<HeaderContent> for InteractiveHeader {
    fn from(content: HeaderContent) -> Self {
        Self {
            content,
            extra: Extra::new(),
        }
    }
}

/// What an interactive header shows, tagged by `type` with the payload under the same key.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HeaderContent {
    /// Text (`{"type": "text", "text": "..."}`).
    Text(String),
    /// An image.
    Image(Media),
    /// A video.
    Video(Media),
    /// A document.
    Document(Media),
    /// A header type wagw does not know; its payload stays in the header's `extra`.
    Other(String),
}

impl HeaderContent {
    /// Meta's header `type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text(_) => "text",
            Self::Image(_) => "image",
            Self::Video(_) => "video",
            Self::Document(_) => "document",
            Self::Other(kind) => kind,
        }
    }

    /// The media object of an image, video or document header.
    pub fn media(&self) -> Option<&Media> {
        match self {
            Self::Image(media) | Self::Video(media) | Self::Document(media) => Some(media),
            Self::Text(_) | Self::Other(_) => None,
        }
    }
}

impl Serialize for InteractiveHeader {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = match &self.content {
            HeaderContent::Text(text) => Some(Value::String(text.clone())),
            HeaderContent::Image(media)
            | HeaderContent::Video(media)
            | HeaderContent::Document(media) => Some(wire::to_value(media)?),
            HeaderContent::Other(_) => None,
        };
        let mut map = Extra::new();
        wire::put_tagged(&mut map, self.content.kind(), payload);
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for InteractiveHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Extra::deserialize(deserializer)?;
        let kind: String = wire::take_required(&mut map, "type")?;
        let content = match kind.as_str() {
            "text" => HeaderContent::Text(wire::payload(&kind, map.remove(&kind))?),
            "image" => HeaderContent::Image(wire::payload(&kind, map.remove(&kind))?),
            "video" => HeaderContent::Video(wire::payload(&kind, map.remove(&kind))?),
            "document" => HeaderContent::Document(wire::payload(&kind, map.remove(&kind))?),
            _ => HeaderContent::Other(kind),
        };
        Ok(Self {
            content,
            extra: map,
        })
    }
}

/// The `action` of an interactive message; each variant is one `interactive.type`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InteractiveAction {
    /// `button`: up to three quick-reply buttons.
    Buttons(ReplyButtons),
    /// `list`: a menu of rows grouped in sections.
    List(ListAction),
    /// `cta_url`: a button that opens a URL.
    CtaUrl(NamedAction<CtaUrlParameters>),
    /// `flow`: a button that opens a WhatsApp Flow.
    Flow(NamedAction<FlowParameters>),
    /// `product`: one product from a catalog.
    Product(ProductAction),
    /// `product_list`: up to 30 products from a catalog, in sections.
    ProductList(ProductListAction),
    /// `catalog_message`: a button that opens the business's catalog.
    CatalogMessage(NamedAction<CatalogParameters>),
    /// `location_request_message`: asks the user to share their location
    /// (`{"name": "send_location"}`); holds any other action fields.
    LocationRequest(Extra),
    /// `call_permission_request`: asks the user for permission to call them
    /// (`{"name": "call_permission_request"}`); holds any other action fields.
    CallPermissionRequest(Extra),
    /// Any other subtype (`order_details`, `order_status`, `carousel` ...), kept verbatim.
    Other {
        /// Meta's `interactive.type`.
        kind: String,
        /// The `action` object, if any.
        action: Option<Value>,
    },
}

impl InteractiveAction {
    /// Meta's `interactive.type` for this action.
    pub fn kind(&self) -> &str {
        match self {
            Self::Buttons(_) => "button",
            Self::List(_) => "list",
            Self::CtaUrl(_) => "cta_url",
            Self::Flow(_) => "flow",
            Self::Product(_) => "product",
            Self::ProductList(_) => "product_list",
            Self::CatalogMessage(_) => "catalog_message",
            Self::LocationRequest(_) => "location_request_message",
            Self::CallPermissionRequest(_) => "call_permission_request",
            Self::Other { kind, .. } => kind,
        }
    }

    /// The `action.name` Meta requires for named actions.
    fn action_name(&self) -> Option<&'static str> {
        match self {
            Self::CtaUrl(_) => Some("cta_url"),
            Self::Flow(_) => Some("flow"),
            Self::CatalogMessage(_) => Some("catalog_message"),
            Self::LocationRequest(_) => Some("send_location"),
            Self::CallPermissionRequest(_) => Some("call_permission_request"),
            _ => None,
        }
    }

    fn to_wire<E: serde::ser::Error>(&self) -> Result<Option<Value>, E> {
        let mut map = match self {
            Self::Buttons(action) => wire::to_map(action)?,
            Self::List(action) => wire::to_map(action)?,
            Self::CtaUrl(action) => action.to_map()?,
            Self::Flow(action) => action.to_map()?,
            Self::Product(action) => wire::to_map(action)?,
            Self::ProductList(action) => wire::to_map(action)?,
            Self::CatalogMessage(action) => action.to_map()?,
            Self::LocationRequest(fields) | Self::CallPermissionRequest(fields) => fields.clone(),
            Self::Other { action, .. } => return Ok(action.clone()),
        };
        if let Some(name) = self.action_name() {
            map.insert("name".to_owned(), name.into());
        }
        Ok(Some(Value::Object(map)))
    }

    fn from_wire<E: serde::de::Error>(kind: String, action: Option<Value>) -> Result<Self, E> {
        let known = |action: Option<Value>| -> Result<Extra, E> {
            match action {
                Some(Value::Object(map)) => Ok(map),
                Some(other) => Err(E::custom(format!(
                    "`action` must be an object, got {other}"
                ))),
                None => Err(E::missing_field("action")),
            }
        };
        let parsed = match kind.as_str() {
            "button" => Self::Buttons(wire::payload("action", action)?),
            "list" => Self::List(wire::payload("action", action)?),
            "cta_url" => Self::CtaUrl(NamedAction::from_map(known(action)?, "cta_url")?),
            "flow" => Self::Flow(NamedAction::from_map(known(action)?, "flow")?),
            "product" => Self::Product(wire::payload("action", action)?),
            "product_list" => Self::ProductList(wire::payload("action", action)?),
            "catalog_message" => {
                Self::CatalogMessage(NamedAction::from_map(known(action)?, "catalog_message")?)
            }
            "location_request_message" => {
                let mut map = known(action)?;
                wire::take_constant(&mut map, "name", "send_location")?;
                Self::LocationRequest(map)
            }
            "call_permission_request" => {
                let mut map = known(action)?;
                wire::take_constant(&mut map, "name", "call_permission_request")?;
                Self::CallPermissionRequest(map)
            }
            _ => Self::Other { kind, action },
        };
        Ok(parsed)
    }
}

/// An action of the form `{"name": <fixed per subtype>, "parameters": {...}}`; the name is
/// implied by the [`InteractiveAction`] variant holding it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedAction<P> {
    /// The `parameters` object.
    pub parameters: P,
    /// Other fields of the `action` object, kept for the round trip.
    pub extra: Extra,
}

impl<P> NamedAction<P> {
    /// An action with the given parameters.
    pub fn new(parameters: P) -> Self {
        Self {
            parameters,
            extra: Extra::new(),
        }
    }
}

impl<P: Serialize> NamedAction<P> {
    fn to_map<E: serde::ser::Error>(&self) -> Result<Extra, E> {
        let mut map = Extra::new();
        map.insert("parameters".to_owned(), wire::to_value(&self.parameters)?);
        wire::put_extra(&mut map, &self.extra);
        Ok(map)
    }
}

impl<P: serde::de::DeserializeOwned> NamedAction<P> {
    fn from_map<E: serde::de::Error>(mut map: Extra, name: &str) -> Result<Self, E> {
        wire::take_constant(&mut map, "name", name)?;
        Ok(Self {
            parameters: wire::take_required(&mut map, "parameters")?,
            extra: map,
        })
    }
}

/// The action of a reply-buttons message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButtons {
    /// One to three buttons.
    pub buttons: Vec<ReplyButton>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A quick-reply button: `{"type": "reply", "reply": {"id": ..., "title": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyButton {
    /// The button's id and title.
    pub reply: ButtonReply,
    /// Fields wagw does not model, kept for the round trip.
    pub extra: Extra,
}

impl ReplyButton {
    /// A button returning `id` when tapped and showing `title`.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            reply: ButtonReply {
                id: id.into(),
                title: title.into(),
                extra: Extra::new(),
            },
            extra: Extra::new(),
        }
    }
}

impl Serialize for ReplyButton {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Extra::new();
        wire::put_tagged(&mut map, "reply", Some(wire::to_value(&self.reply)?));
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ReplyButton {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Extra::deserialize(deserializer)?;
        wire::take_constant(&mut map, "type", "reply")?;
        Ok(Self {
            reply: wire::take_required(&mut map, "reply")?,
            extra: map,
        })
    }
}

/// The id and title of a reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonReply {
    /// Returned in the webhook when tapped; at most 256 characters, unique.
    pub id: String,
    /// Label; at most 20 characters, unique.
    pub title: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The action of a list message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAction {
    /// Label of the button that opens the list; at most 20 characters.
    pub button: String,
    /// One to ten sections holding at most ten rows in total.
    pub sections: Vec<ListSection>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A section of a list message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    /// Title, at most 24 characters; required when there is more than one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The rows.
    pub rows: Vec<ListRow>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ListSection {
    /// A titled section.
    pub fn new(title: impl Into<String>, rows: impl IntoIterator<Item = ListRow>) -> Self {
        Self {
            title: Some(title.into()),
            rows: rows.into_iter().collect(),
            extra: Extra::new(),
        }
    }
}

/// A row of a list message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    /// Returned in the webhook when chosen; at most 200 characters, unique.
    pub id: String,
    /// Title, at most 24 characters.
    pub title: String,
    /// Description, at most 72 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ListRow {
    /// A row without description.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: None,
            extra: Extra::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// Parameters of a `cta_url` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtaUrlParameters {
    /// Button label, at most 20 characters.
    pub display_text: String,
    /// HTTP(S) URL opened by the button.
    pub url: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Parameters of a `flow` action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowParameters {
    /// Flow message version; Meta requires `"3"`.
    pub flow_message_version: String,
    /// Flow id; exactly one of `flow_id` and `flow_name` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// Flow name; exactly one of `flow_id` and `flow_name` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    /// Button label, 1 to 20 characters.
    pub flow_cta: String,
    /// Token identifying this flow session to the business (Meta's default: `unused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    /// `published` (default) or `draft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `navigate` (default) or `data_exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action: Option<String>,
    /// First screen and its data, for `navigate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_payload: Option<Value>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl FlowParameters {
    /// Opens the published flow with the given id behind a button labelled `flow_cta`.
    pub fn by_id(flow_id: impl Into<String>, flow_cta: impl Into<String>) -> Self {
        Self {
            flow_message_version: "3".to_owned(),
            flow_id: Some(flow_id.into()),
            flow_name: None,
            flow_cta: flow_cta.into(),
            flow_token: None,
            mode: None,
            flow_action: None,
            flow_action_payload: None,
            extra: Extra::new(),
        }
    }

    /// Opens the published flow with the given name behind a button labelled `flow_cta`.
    pub fn by_name(flow_name: impl Into<String>, flow_cta: impl Into<String>) -> Self {
        Self {
            flow_id: None,
            flow_name: Some(flow_name.into()),
            ..Self::by_id(String::new(), flow_cta)
        }
    }
}

/// Parameters of a `catalog_message` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogParameters {
    /// Product shown as the catalog thumbnail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_product_retailer_id: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The action of a single-product message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductAction {
    /// Catalog id.
    pub catalog_id: String,
    /// The product's retailer id (SKU).
    pub product_retailer_id: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The action of a multi-product message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductListAction {
    /// Catalog id.
    pub catalog_id: String,
    /// One to ten sections holding at most 30 products in total.
    pub sections: Vec<ProductSection>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A section of a multi-product message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSection {
    /// Title, at most 24 characters; required when there is more than one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The products.
    pub product_items: Vec<ProductItem>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A product of a multi-product section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductItem {
    /// The product's retailer id (SKU).
    pub product_retailer_id: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}
