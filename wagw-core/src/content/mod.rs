//! The outbound content model: every message body Meta's Cloud API accepts on
//! `POST /{phone-number-id}/messages`, with Meta's limits checked by `validate()`.
//!
//! The serde shapes are Meta's wire JSON: a send body from Meta's documentation deserialises
//! into [`OutboundMessage`] and serialises back to the same JSON. Fields wagw does not model
//! are kept in `extra` maps so nothing is lost on the way through.
//!
//! ```
//! # use wagw_core::content::{Interactive, MessageContent, OutboundMessage, ReplyButton};
//! let greeting = OutboundMessage::new("628123456789", MessageContent::text("Halo"));
//! let menu = OutboundMessage::new(
//!     "628123456789",
//!     Interactive::buttons("Need help?", [ReplyButton::new("yes", "Yes"), ReplyButton::new("no", "No")]),
//! );
//! greeting.validate().unwrap();
//! menu.validate().unwrap();
//! assert_eq!(serde_json::to_value(&greeting).unwrap()["type"], "text");
//! ```

mod contact;
mod interactive;
mod media;
mod message;
mod template;
mod validate;
pub(crate) mod wire;

pub use contact::{
    Contact, ContactAddress, ContactEmail, ContactName, ContactOrg, ContactPhone, ContactUrl,
};
pub use interactive::{
    ButtonReply, CatalogParameters, CtaUrlParameters, FlowParameters, HeaderContent, Interactive,
    InteractiveAction, InteractiveHeader, InteractiveText, ListAction, ListRow, ListSection,
    NamedAction, ProductAction, ProductItem, ProductListAction, ProductSection, ReplyButton,
    ReplyButtons,
};
pub use media::Media;
pub use message::{
    Location, MarkRead, MessageContent, MessagesRequest, OutboundMessage, Reaction, RecipientType,
    ReplyContext, Text, TypingIndicator, TypingIndicatorKind,
};
pub use template::{
    ButtonSubType, ComponentType, Currency, DateTimeParameter, ParameterValue, Placeholder,
    Template, TemplateComponent, TemplateLanguage, TemplateParameter, placeholders,
};
pub use validate::limits;
pub use wire::Extra;
