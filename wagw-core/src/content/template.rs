//! Template messages: the template reference, its components and their parameters, and
//! [`placeholders`] for matching parameters to a template's text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::media::Media;
use super::message::Location;
use super::wire::{self, Extra, string_enum};

/// The payload of a `template` message.
///
/// ```
/// # use wagw_core::content::{Template, TemplateComponent, TemplateParameter};
/// let template = Template::new("order_confirmation", "en_US")
///     .with_component(TemplateComponent::body([
///         TemplateParameter::text("Pablo"),
///         TemplateParameter::text("860198"),
///     ]))
///     .with_component(TemplateComponent::quick_reply(0, "TRACK_ORDER"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Template name as approved by Meta.
    pub name: String,
    /// Language of the approved translation to use.
    pub language: TemplateLanguage,
    /// Parameter values per component; empty for templates without placeholders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<TemplateComponent>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Template {
    /// A reference to the template `name` in the language `code` (e.g. `en_US`).
    pub fn new(name: impl Into<String>, code: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            language: TemplateLanguage {
                code: code.into(),
                policy: None,
                extra: Extra::new(),
            },
            components: Vec::new(),
            extra: Extra::new(),
        }
    }

    /// Appends a component.
    pub fn with_component(mut self, component: TemplateComponent) -> Self {
        self.components.push(component);
        self
    }
}

/// The language of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateLanguage {
    /// Language or locale code, e.g. `en` or `en_US`.
    pub code: String,
    /// `deterministic` (the only policy). Optional in practice, whatever the OpenAPI schema says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

string_enum! {
    /// The `type` of a template component.
    pub enum ComponentType {
        /// The header (at most one parameter).
        Header = "header",
        /// The body.
        Body = "body",
        /// One button, addressed by `index`.
        Button = "button",
        /// A carousel of cards.
        Carousel = "carousel",
        /// A limited-time offer.
        LimitedTimeOffer = "limited_time_offer",
    }
}

string_enum! {
    /// The `sub_type` of a button component.
    pub enum ButtonSubType {
        /// Quick-reply button; parameter `payload`.
        QuickReply = "quick_reply",
        /// URL button; parameter `text` is the URL suffix.
        Url = "url",
        /// Copy-code button; parameter `coupon_code`.
        CopyCode = "copy_code",
        /// Flow button; parameter `action`.
        Flow = "flow",
        /// Catalog button; parameter `action`.
        Catalog = "catalog",
        /// Multi-product button; parameter `action`.
        Mpm = "mpm",
    }
}

/// Parameter values for one component of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateComponent {
    /// Which component the parameters fill.
    #[serde(rename = "type")]
    pub kind: ComponentType,
    /// Button kind; required for buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<ButtonSubType>,
    /// Zero-based button position; required for buttons. Accepted as a number or a string and
    /// written as a string, the form Meta documents.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "index_string"
    )]
    pub index: Option<u32>,
    /// The parameters, in placeholder order for positional templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<TemplateParameter>,
    /// Fields wagw does not model (e.g. carousel `cards`), kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TemplateComponent {
    fn new(kind: ComponentType, parameters: impl IntoIterator<Item = TemplateParameter>) -> Self {
        Self {
            kind,
            sub_type: None,
            index: None,
            parameters: parameters.into_iter().collect(),
            extra: Extra::new(),
        }
    }

    /// Header parameters.
    pub fn header(parameters: impl IntoIterator<Item = TemplateParameter>) -> Self {
        Self::new(ComponentType::Header, parameters)
    }

    /// Body parameters.
    pub fn body(parameters: impl IntoIterator<Item = TemplateParameter>) -> Self {
        Self::new(ComponentType::Body, parameters)
    }

    /// Parameters of the button at `index`.
    pub fn button(
        sub_type: ButtonSubType,
        index: u32,
        parameters: impl IntoIterator<Item = TemplateParameter>,
    ) -> Self {
        Self {
            sub_type: Some(sub_type),
            index: Some(index),
            ..Self::new(ComponentType::Button, parameters)
        }
    }

    /// The payload returned when the quick-reply button at `index` is tapped.
    pub fn quick_reply(index: u32, payload: impl Into<String>) -> Self {
        Self::button(
            ButtonSubType::QuickReply,
            index,
            [TemplateParameter::payload(payload)],
        )
    }

    /// The suffix appended to the URL of the URL button at `index`.
    pub fn url_button(index: u32, suffix: impl Into<String>) -> Self {
        Self::button(ButtonSubType::Url, index, [TemplateParameter::text(suffix)])
    }

    /// The code copied by the copy-code button at `index`.
    pub fn copy_code(index: u32, code: impl Into<String>) -> Self {
        Self::button(
            ButtonSubType::CopyCode,
            index,
            [TemplateParameter::coupon_code(code)],
        )
    }
}

/// One parameter value: `{"type": ..., <type>: ..., "parameter_name"?: ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateParameter {
    /// Placeholder name for templates with named parameters (`{{order_id}}`).
    pub parameter_name: Option<String>,
    /// The value.
    pub value: ParameterValue,
    /// Fields wagw does not model, kept for the round trip.
    pub extra: Extra,
}

impl TemplateParameter {
    fn positional(value: ParameterValue) -> Self {
        Self {
            parameter_name: None,
            value,
            extra: Extra::new(),
        }
    }

    /// A text value for a positional placeholder (`{{1}}`), or a URL-button suffix.
    pub fn text(text: impl Into<String>) -> Self {
        Self::positional(ParameterValue::Text(text.into()))
    }

    /// A text value for the named placeholder `{{name}}`.
    pub fn named_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            parameter_name: Some(name.into()),
            ..Self::text(text)
        }
    }

    /// A header image.
    pub fn image(media: Media) -> Self {
        Self::positional(ParameterValue::Image(media))
    }

    /// A header video.
    pub fn video(media: Media) -> Self {
        Self::positional(ParameterValue::Video(media))
    }

    /// A header document.
    pub fn document(media: Media) -> Self {
        Self::positional(ParameterValue::Document(media))
    }

    /// A header location.
    pub fn location(location: Location) -> Self {
        Self::positional(ParameterValue::Location(location))
    }

    /// A currency amount; `amount_1000` is the amount multiplied by 1000.
    pub fn currency(
        fallback_value: impl Into<String>,
        code: impl Into<String>,
        amount_1000: i64,
    ) -> Self {
        Self::positional(ParameterValue::Currency(Currency {
            fallback_value: fallback_value.into(),
            code: code.into(),
            amount_1000,
            extra: Extra::new(),
        }))
    }

    /// A date and time, rendered as `fallback_value`.
    pub fn date_time(fallback_value: impl Into<String>) -> Self {
        Self::positional(ParameterValue::DateTime(DateTimeParameter {
            fallback_value: fallback_value.into(),
            extra: Extra::new(),
        }))
    }

    /// A quick-reply button payload.
    pub fn payload(payload: impl Into<String>) -> Self {
        Self::positional(ParameterValue::Payload(payload.into()))
    }

    /// A copy-code button code.
    pub fn coupon_code(code: impl Into<String>) -> Self {
        Self::positional(ParameterValue::CouponCode(code.into()))
    }
}

/// The value of a template parameter, tagged by `type` with the payload under the same key.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParameterValue {
    /// Text for a placeholder or URL-button suffix. Meta's own examples sometimes give a bare
    /// boolean or number here; those are read as their text form.
    Text(String),
    /// A currency amount.
    Currency(Currency),
    /// A date and time.
    DateTime(DateTimeParameter),
    /// A header image.
    Image(Media),
    /// A header video.
    Video(Media),
    /// A header document.
    Document(Media),
    /// A header location.
    Location(Location),
    /// A quick-reply button payload.
    Payload(String),
    /// A copy-code button code.
    CouponCode(String),
    /// A flow, catalog or multi-product button action object.
    Action(Extra),
    /// A parameter type wagw does not know; its payload stays in the parameter's `extra`.
    Other(String),
}

impl ParameterValue {
    /// Meta's parameter `type`.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text(_) => "text",
            Self::Currency(_) => "currency",
            Self::DateTime(_) => "date_time",
            Self::Image(_) => "image",
            Self::Video(_) => "video",
            Self::Document(_) => "document",
            Self::Location(_) => "location",
            Self::Payload(_) => "payload",
            Self::CouponCode(_) => "coupon_code",
            Self::Action(_) => "action",
            Self::Other(kind) => kind,
        }
    }

    /// The media object of an image, video or document parameter.
    pub fn media(&self) -> Option<&Media> {
        match self {
            Self::Image(media) | Self::Video(media) | Self::Document(media) => Some(media),
            _ => None,
        }
    }
}

impl Serialize for TemplateParameter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = match &self.value {
            ParameterValue::Text(text)
            | ParameterValue::Payload(text)
            | ParameterValue::CouponCode(text) => Some(Value::String(text.clone())),
            ParameterValue::Currency(currency) => Some(wire::to_value(currency)?),
            ParameterValue::DateTime(date_time) => Some(wire::to_value(date_time)?),
            ParameterValue::Image(media)
            | ParameterValue::Video(media)
            | ParameterValue::Document(media) => Some(wire::to_value(media)?),
            ParameterValue::Location(location) => Some(wire::to_value(location)?),
            ParameterValue::Action(action) => Some(Value::Object(action.clone())),
            ParameterValue::Other(_) => None,
        };
        let mut map = Extra::new();
        wire::put_tagged(&mut map, self.value.kind(), payload);
        wire::put_opt(&mut map, "parameter_name", self.parameter_name.as_ref())?;
        wire::put_extra(&mut map, &self.extra);
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TemplateParameter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;

        let mut map = Extra::deserialize(deserializer)?;
        let kind: String = wire::take_required(&mut map, "type")?;
        let parameter_name = wire::take(&mut map, "parameter_name")?;
        let mut take = || map.remove(&kind);
        let value = match kind.as_str() {
            "text" => ParameterValue::Text(match take() {
                Some(Value::String(text)) => text,
                Some(scalar @ (Value::Bool(_) | Value::Number(_))) => scalar.to_string(),
                Some(other) => {
                    return Err(D::Error::custom(format!(
                        "`text` must be a string, got {other}"
                    )));
                }
                None => return Err(D::Error::missing_field("text")),
            }),
            "payload" => ParameterValue::Payload(wire::payload(&kind, take())?),
            "coupon_code" => ParameterValue::CouponCode(wire::payload(&kind, take())?),
            "currency" => ParameterValue::Currency(wire::payload(&kind, take())?),
            "date_time" => ParameterValue::DateTime(wire::payload(&kind, take())?),
            "image" => ParameterValue::Image(wire::payload(&kind, take())?),
            "video" => ParameterValue::Video(wire::payload(&kind, take())?),
            "document" => ParameterValue::Document(wire::payload(&kind, take())?),
            "location" => ParameterValue::Location(wire::payload(&kind, take())?),
            "action" => ParameterValue::Action(wire::payload(&kind, take())?),
            _ => ParameterValue::Other(kind.clone()),
        };
        Ok(Self {
            parameter_name,
            value,
            extra: map,
        })
    }
}

/// A currency parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    /// Text shown where the amount cannot be localised, e.g. `$100.99`.
    pub fallback_value: String,
    /// ISO 4217 currency code.
    pub code: String,
    /// The amount multiplied by 1000.
    pub amount_1000: i64,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A date-time parameter. Meta renders `fallback_value`; the deprecated calendar fields
/// (`day_of_month`, `year` ...) are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateTimeParameter {
    /// The text shown.
    pub fallback_value: String,
    /// Fields wagw does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Button `index`: read from a number or a numeric string, written as a string.
mod index_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<u32>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(index) => serializer.serialize_str(&index.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u32>, D::Error> {
        use serde::de::Error as _;

        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Option::<Raw>::deserialize(deserializer)? {
            None => Ok(None),
            Some(Raw::Number(index)) => Ok(Some(index)),
            Some(Raw::Text(text)) => text.trim().parse().map(Some).map_err(|_| {
                D::Error::custom(format!("button index must be a number, got {text:?}"))
            }),
        }
    }
}

/// A placeholder in a template's header or body text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `{{1}}`, `{{2}}` ... in templates with positional parameters.
    Positional(u32),
    /// `{{order_id}}` in templates with named parameters.
    Named(String),
}

impl std::fmt::Display for Placeholder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Positional(number) => write!(f, "{{{{{number}}}}}"),
            Self::Named(name) => write!(f, "{{{{{name}}}}}"),
        }
    }
}

/// The distinct placeholders of a template text, in order of first appearance.
///
/// A template needs one parameter per distinct placeholder, so `placeholders(text).len()` is
/// the parameter count of that component. Positional placeholders are `{{` digits `}}`; named
/// ones use Meta's alphabet for parameter names (lowercase letters, digits, underscores).
/// Anything else between braces is literal text.
///
/// ```
/// # use wagw_core::content::{placeholders, Placeholder};
/// let found = placeholders("Hi {{1}}, order {{2}} ships {{1}}");
/// assert_eq!(found, [Placeholder::Positional(1), Placeholder::Positional(2)]);
/// ```
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after_open = &rest[start + 2..];
        let Some(end) = after_open.find("}}") else {
            break;
        };
        let inner = &after_open[..end];
        let placeholder = if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            inner.parse().ok().map(Placeholder::Positional)
        } else if !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Some(Placeholder::Named(inner.to_owned()))
        } else {
            None
        };
        match placeholder {
            Some(placeholder) => {
                if !found.contains(&placeholder) {
                    found.push(placeholder);
                }
                rest = &after_open[end + 2..];
            }
            // Not a placeholder: resume right after the `{{` so `{{{{1}}` still finds `{{1}}`.
            None => rest = after_open,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_distinct_and_ordered() {
        assert_eq!(
            placeholders("{{2}} then {{1}} then {{2}}"),
            [Placeholder::Positional(2), Placeholder::Positional(1)]
        );
        assert_eq!(
            placeholders("Hi {{first_name}}, order {{order_id}} for {{first_name}}"),
            [
                Placeholder::Named("first_name".to_owned()),
                Placeholder::Named("order_id".to_owned())
            ]
        );
    }

    #[test]
    fn non_placeholders_are_ignored() {
        assert!(placeholders("no params, {single} braces, {{ 1 }}, {{Name}}, {{}}").is_empty());
        assert!(placeholders("unterminated {{1").is_empty());
        assert_eq!(placeholders("{{{{1}}"), [Placeholder::Positional(1)]);
    }

    #[test]
    fn placeholder_displays_as_written() {
        assert_eq!(Placeholder::Positional(3).to_string(), "{{3}}");
        assert_eq!(Placeholder::Named("otp".to_owned()).to_string(), "{{otp}}");
    }

    #[test]
    fn parameters_round_trip_with_names_and_unknown_types() {
        let json = serde_json::json!([
            {"type": "text", "parameter_name": "order_id", "text": "860198"},
            {"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": 1}},
            {"type": "action", "action": {"flow_token": "t"}}
        ]);
        let parameters: Vec<TemplateParameter> =
            serde_json::from_value(json.clone()).expect("parameters parse");
        assert_eq!(parameters[0].parameter_name.as_deref(), Some("order_id"));
        assert_eq!(
            parameters[1].value,
            ParameterValue::Other("limited_time_offer".to_owned())
        );
        assert_eq!(serde_json::to_value(&parameters).expect("serialises"), json);
    }

    #[test]
    fn button_index_reads_numbers_and_writes_strings() {
        let component: TemplateComponent = serde_json::from_value(serde_json::json!(
            {"type": "button", "sub_type": "quick_reply", "index": 1,
             "parameters": [{"type": "payload", "payload": "P"}]}
        ))
        .expect("component parses");
        assert_eq!(component, TemplateComponent::quick_reply(1, "P"));
        assert_eq!(
            serde_json::to_value(&component).expect("serialises")["index"],
            "1"
        );
    }
}
