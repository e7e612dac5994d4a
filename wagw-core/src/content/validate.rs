//! Client-side checks of Meta's limits, so a bad message fails before it costs an API call.
//!
//! Every failure is an [`Error::InvalidContent`] naming the offending field by its JSON path
//! (`interactive.action.buttons[3].reply.title`) and the rule it breaks. Lengths count Unicode
//! scalar values (`chars`), as Meta does, not bytes.

use std::collections::HashMap;

use super::interactive::{HeaderContent, Interactive, InteractiveAction};
use super::media::Media;
use super::message::{MessageContent, OutboundMessage};
use super::template::{ComponentType, Template, TemplateComponent};
use crate::error::{Error, Result};

/// Meta's limits, in characters unless stated otherwise.
pub mod limits {
    /// `text.body`.
    pub const TEXT_BODY: usize = 4096;
    /// Media `caption`.
    pub const CAPTION: usize = 1024;
    /// `biz_opaque_callback_data`.
    pub const CALLBACK_DATA: usize = 512;
    /// Contact cards per message.
    pub const CONTACTS: usize = 257;
    /// Interactive `body.text`.
    pub const INTERACTIVE_BODY: usize = 1024;
    /// Interactive `footer.text`.
    pub const INTERACTIVE_FOOTER: usize = 60;
    /// Interactive header `text`.
    pub const INTERACTIVE_HEADER_TEXT: usize = 60;
    /// Reply buttons per message.
    pub const REPLY_BUTTONS: usize = 3;
    /// Reply button `title`.
    pub const REPLY_BUTTON_TITLE: usize = 20;
    /// Reply button `id`.
    pub const REPLY_BUTTON_ID: usize = 256;
    /// List `button` label.
    pub const LIST_BUTTON: usize = 20;
    /// Sections of a list or multi-product message.
    pub const SECTIONS: usize = 10;
    /// Rows of a list, all sections combined.
    pub const LIST_ROWS: usize = 10;
    /// Section `title` of a list or multi-product message.
    pub const SECTION_TITLE: usize = 24;
    /// List row `id`.
    pub const ROW_ID: usize = 200;
    /// List row `title`.
    pub const ROW_TITLE: usize = 24;
    /// List row `description`.
    pub const ROW_DESCRIPTION: usize = 72;
    /// Products of a multi-product message, all sections combined.
    pub const PRODUCTS: usize = 30;
    /// CTA URL `display_text`.
    pub const CTA_DISPLAY_TEXT: usize = 20;
    /// Flow `flow_cta` (Meta's OpenAPI schema; its own examples exceed 20).
    pub const FLOW_CTA: usize = 30;
    /// Highest template button `index` (ten buttons).
    pub const TEMPLATE_BUTTON_INDEX: u32 = 9;
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::invalid_content(field, reason)
}

/// Fails when `value` is longer than `max` characters.
fn at_most(field: &str, value: &str, max: usize) -> Result<()> {
    let count = value.chars().count();
    if count > max {
        return Err(invalid(
            field,
            format!("must be at most {max} characters (got {count})"),
        ));
    }
    Ok(())
}

/// Fails when `value` is blank or longer than `max` characters.
fn required(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    at_most(field, value, max)
}

/// Fails when `count` items is outside `min..=max`.
fn item_count(field: &str, count: usize, min: usize, max: usize) -> Result<()> {
    if count < min || count > max {
        return Err(invalid(
            field,
            format!("must have {min} to {max} items (got {count})"),
        ));
    }
    Ok(())
}

/// Tracks values that must be unique and reports the first duplicate with both paths.
#[derive(Default)]
struct Unique<'a> {
    seen: HashMap<&'a str, String>,
}

impl<'a> Unique<'a> {
    fn check(&mut self, field: String, value: &'a str) -> Result<()> {
        if let Some(first) = self.seen.get(value) {
            return Err(invalid(field, format!("must be unique (same as {first})")));
        }
        self.seen.insert(value, field);
        Ok(())
    }
}

/// Exactly one of `id` and `link`, and a usable one.
fn media_source(field: &str, media: &Media) -> Result<()> {
    match (&media.id, &media.link) {
        (Some(_), Some(_)) => Err(invalid(field, "must have either `id` or `link`, not both")),
        (None, None) => Err(invalid(field, "must have either `id` or `link`")),
        (Some(id), None) => required(&format!("{field}.id"), id, usize::MAX),
        (None, Some(link)) => required(&format!("{field}.link"), link, usize::MAX),
    }
}

/// `url` must be an absolute HTTP(S) URL.
fn http_url(field: &str, url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(invalid(field, "must be an http:// or https:// URL")),
    }
}

impl OutboundMessage {
    /// Checks the message against Meta's documented limits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidContent`] for the first rule broken, naming the field's JSON path.
    pub fn validate(&self) -> Result<()> {
        if self.to.trim().is_empty() {
            return Err(invalid("to", "must not be empty"));
        }
        if let Some(data) = &self.biz_opaque_callback_data {
            at_most("biz_opaque_callback_data", data, limits::CALLBACK_DATA)?;
        }
        if let Some(context) = &self.context {
            if matches!(self.content, MessageContent::Reaction(_)) {
                return Err(invalid("context", "is not allowed on reactions"));
            }
            required("context.message_id", &context.message_id, usize::MAX)?;
        }
        self.content.validate()
    }
}

impl MessageContent {
    /// Checks the content against Meta's documented limits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidContent`] for the first rule broken, naming the field's JSON path.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Text(text) => required("text.body", &text.body, limits::TEXT_BODY),
            Self::Image(_)
            | Self::Video(_)
            | Self::Audio(_)
            | Self::Document(_)
            | Self::Sticker(_) => self.validate_media(),
            Self::Location(location) => {
                if !(-90.0..=90.0).contains(&location.latitude) {
                    return Err(invalid(
                        "location.latitude",
                        format!("must be between -90 and 90 (got {})", location.latitude),
                    ));
                }
                if !(-180.0..=180.0).contains(&location.longitude) {
                    return Err(invalid(
                        "location.longitude",
                        format!("must be between -180 and 180 (got {})", location.longitude),
                    ));
                }
                Ok(())
            }
            Self::Contacts(contacts) => {
                item_count("contacts", contacts.len(), 1, limits::CONTACTS)?;
                for (i, contact) in contacts.iter().enumerate() {
                    required(
                        &format!("contacts[{i}].name.formatted_name"),
                        &contact.name.formatted_name,
                        usize::MAX,
                    )?;
                }
                Ok(())
            }
            Self::Reaction(reaction) => {
                // An empty emoji is valid: it removes the reaction.
                required("reaction.message_id", &reaction.message_id, usize::MAX)
            }
            Self::Interactive(interactive) => validate_interactive(interactive),
            Self::Template(template) => validate_template(template),
        }
    }

    fn validate_media(&self) -> Result<()> {
        let Some(media) = self.media() else {
            return Ok(());
        };
        let kind = self.kind();
        media_source(kind, media)?;
        if let Some(caption) = &media.caption {
            if matches!(self, Self::Audio(_) | Self::Sticker(_)) {
                return Err(invalid(
                    format!("{kind}.caption"),
                    format!("is not allowed on {kind} messages"),
                ));
            }
            at_most(&format!("{kind}.caption"), caption, limits::CAPTION)?;
        }
        if media.filename.is_some() && !matches!(self, Self::Document(_)) {
            return Err(invalid(
                format!("{kind}.filename"),
                "is only allowed on document messages",
            ));
        }
        if media.voice.is_some() && !matches!(self, Self::Audio(_)) {
            return Err(invalid(
                format!("{kind}.voice"),
                "is only allowed on audio messages",
            ));
        }
        Ok(())
    }
}

fn validate_interactive(interactive: &Interactive) -> Result<()> {
    let action = &interactive.action;
    // Meta requires a body everywhere except on single-product messages and subtypes wagw
    // does not model (which Meta checks itself).
    let body_required = !matches!(
        action,
        InteractiveAction::Product(_)
            | InteractiveAction::CallPermissionRequest(_)
            | InteractiveAction::Other { .. }
    );
    match &interactive.body {
        Some(body) => required(
            "interactive.body.text",
            &body.text,
            limits::INTERACTIVE_BODY,
        )?,
        None if body_required => {
            return Err(invalid(
                "interactive.body",
                format!("is required for {} messages", action.kind()),
            ));
        }
        None => {}
    }
    if let Some(footer) = &interactive.footer {
        required(
            "interactive.footer.text",
            &footer.text,
            limits::INTERACTIVE_FOOTER,
        )?;
    }
    validate_header(interactive)?;

    match action {
        InteractiveAction::Buttons(buttons) => {
            item_count(
                "interactive.action.buttons",
                buttons.buttons.len(),
                1,
                limits::REPLY_BUTTONS,
            )?;
            let (mut ids, mut titles) = (Unique::default(), Unique::default());
            for (i, button) in buttons.buttons.iter().enumerate() {
                let path = format!("interactive.action.buttons[{i}].reply");
                let (id_path, title_path) = (format!("{path}.id"), format!("{path}.title"));
                required(&id_path, &button.reply.id, limits::REPLY_BUTTON_ID)?;
                if button.reply.id.trim() != button.reply.id {
                    return Err(invalid(id_path, "must not start or end with whitespace"));
                }
                required(&title_path, &button.reply.title, limits::REPLY_BUTTON_TITLE)?;
                ids.check(id_path, &button.reply.id)?;
                titles.check(title_path, &button.reply.title)?;
            }
        }
        InteractiveAction::List(list) => {
            required(
                "interactive.action.button",
                &list.button,
                limits::LIST_BUTTON,
            )?;
            let sections = &list.sections;
            item_count(
                "interactive.action.sections",
                sections.len(),
                1,
                limits::SECTIONS,
            )?;
            let rows: usize = sections.iter().map(|section| section.rows.len()).sum();
            item_count(
                "interactive.action.sections[].rows",
                rows,
                1,
                limits::LIST_ROWS,
            )?;
            let mut ids = Unique::default();
            for (s, section) in sections.iter().enumerate() {
                let path = format!("interactive.action.sections[{s}]");
                section_title(&path, section.title.as_deref(), sections.len())?;
                for (r, row) in section.rows.iter().enumerate() {
                    let row_path = format!("{path}.rows[{r}]");
                    let id_path = format!("{row_path}.id");
                    required(&id_path, &row.id, limits::ROW_ID)?;
                    ids.check(id_path, &row.id)?;
                    required(&format!("{row_path}.title"), &row.title, limits::ROW_TITLE)?;
                    if let Some(description) = &row.description {
                        at_most(
                            &format!("{row_path}.description"),
                            description,
                            limits::ROW_DESCRIPTION,
                        )?;
                    }
                }
            }
        }
        InteractiveAction::CtaUrl(cta) => {
            let parameters = &cta.parameters;
            required(
                "interactive.action.parameters.display_text",
                &parameters.display_text,
                limits::CTA_DISPLAY_TEXT,
            )?;
            http_url("interactive.action.parameters.url", &parameters.url)?;
        }
        InteractiveAction::Flow(flow) => {
            let parameters = &flow.parameters;
            required(
                "interactive.action.parameters.flow_cta",
                &parameters.flow_cta,
                limits::FLOW_CTA,
            )?;
            if parameters.flow_id.is_some() == parameters.flow_name.is_some() {
                return Err(invalid(
                    "interactive.action.parameters",
                    "must have either `flow_id` or `flow_name`, not both or neither",
                ));
            }
        }
        InteractiveAction::Product(product) => {
            required(
                "interactive.action.catalog_id",
                &product.catalog_id,
                usize::MAX,
            )?;
            required(
                "interactive.action.product_retailer_id",
                &product.product_retailer_id,
                usize::MAX,
            )?;
        }
        InteractiveAction::ProductList(list) => {
            required(
                "interactive.action.catalog_id",
                &list.catalog_id,
                usize::MAX,
            )?;
            let sections = &list.sections;
            item_count(
                "interactive.action.sections",
                sections.len(),
                1,
                limits::SECTIONS,
            )?;
            let products: usize = sections.iter().map(|s| s.product_items.len()).sum();
            item_count(
                "interactive.action.sections[].product_items",
                products,
                1,
                limits::PRODUCTS,
            )?;
            for (s, section) in sections.iter().enumerate() {
                let path = format!("interactive.action.sections[{s}]");
                section_title(&path, section.title.as_deref(), sections.len())?;
            }
        }
        InteractiveAction::CatalogMessage(_)
        | InteractiveAction::LocationRequest(_)
        | InteractiveAction::CallPermissionRequest(_)
        | InteractiveAction::Other { .. } => {}
    }
    Ok(())
}

/// Section titles are optional for a single section and required otherwise.
fn section_title(path: &str, title: Option<&str>, sections: usize) -> Result<()> {
    let field = format!("{path}.title");
    match title {
        Some(title) => required(&field, title, limits::SECTION_TITLE),
        None if sections > 1 => Err(invalid(
            field,
            "is required when there is more than one section",
        )),
        None => Ok(()),
    }
}

fn validate_header(interactive: &Interactive) -> Result<()> {
    let action = &interactive.action;
    let Some(header) = &interactive.header else {
        if matches!(action, InteractiveAction::ProductList(_)) {
            return Err(invalid(
                "interactive.header",
                "is required for product_list messages",
            ));
        }
        return Ok(());
    };
    match action {
        InteractiveAction::Product(_) => {
            return Err(invalid(
                "interactive.header",
                "is not allowed on product messages",
            ));
        }
        InteractiveAction::List(_) if !matches!(header.content, HeaderContent::Text(_)) => {
            return Err(invalid(
                "interactive.header.type",
                "must be text for list messages",
            ));
        }
        _ => {}
    }
    if let HeaderContent::Text(text) = &header.content {
        required(
            "interactive.header.text",
            text,
            limits::INTERACTIVE_HEADER_TEXT,
        )?;
    }
    if let Some(media) = header.content.media() {
        let field = format!("interactive.header.{}", header.content.kind());
        media_source(&field, media)?;
        if media.caption.is_some() {
            return Err(invalid(
                format!("{field}.caption"),
                "is not allowed on header media",
            ));
        }
    }
    Ok(())
}

fn validate_template(template: &Template) -> Result<()> {
    required("template.name", &template.name, usize::MAX)?;
    required(
        "template.language.code",
        &template.language.code,
        usize::MAX,
    )?;
    for (i, component) in template.components.iter().enumerate() {
        validate_component(&format!("template.components[{i}]"), component)?;
    }
    Ok(())
}

fn validate_component(path: &str, component: &TemplateComponent) -> Result<()> {
    match component.kind {
        ComponentType::Header => {
            item_count(
                &format!("{path}.parameters"),
                component.parameters.len(),
                0,
                1,
            )?;
        }
        ComponentType::Button => {
            if component.sub_type.is_none() {
                return Err(invalid(
                    format!("{path}.sub_type"),
                    "is required for button components",
                ));
            }
            match component.index {
                None => {
                    return Err(invalid(
                        format!("{path}.index"),
                        "is required for button components",
                    ));
                }
                Some(index) if index > limits::TEMPLATE_BUTTON_INDEX => {
                    return Err(invalid(
                        format!("{path}.index"),
                        format!(
                            "must be between 0 and {} (got {index})",
                            limits::TEMPLATE_BUTTON_INDEX
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        _ => {}
    }
    let named = component
        .parameters
        .iter()
        .filter(|parameter| parameter.parameter_name.is_some())
        .count();
    if named != 0 && named != component.parameters.len() {
        return Err(invalid(
            format!("{path}.parameters"),
            "must be all named (`parameter_name`) or all positional",
        ));
    }
    let mut names = Unique::default();
    for (i, parameter) in component.parameters.iter().enumerate() {
        let parameter_path = format!("{path}.parameters[{i}]");
        if let Some(name) = &parameter.parameter_name {
            let field = format!("{parameter_path}.parameter_name");
            required(&field, name, usize::MAX)?;
            names.check(field, name)?;
        }
        if let Some(media) = parameter.value.media() {
            media_source(
                &format!("{parameter_path}.{}", parameter.value.kind()),
                media,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{
        Contact, FlowParameters, InteractiveHeader, ListRow, ListSection, Location, ProductItem,
        ProductListAction, ProductSection, ReplyButton, TemplateParameter, Text,
    };

    const WAMID: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";

    fn to(content: impl Into<MessageContent>) -> OutboundMessage {
        OutboundMessage::new("628123456789", content)
    }

    /// Asserts the message fails at `field` with a reason containing `reason`.
    #[track_caller]
    fn rejects(message: &OutboundMessage, field: &str, reason: &str) {
        match message.validate() {
            Err(Error::InvalidContent {
                field: got_field,
                reason: got_reason,
            }) => {
                assert_eq!(got_field, field, "reason: {got_reason}");
                assert!(
                    got_reason.contains(reason),
                    "{got_reason:?} does not contain {reason:?}"
                );
            }
            other => panic!("expected InvalidContent at {field}, got {other:?}"),
        }
    }

    #[track_caller]
    fn accepts(message: &OutboundMessage) {
        if let Err(error) = message.validate() {
            panic!("expected a valid message, got {error}");
        }
    }

    fn s(n: usize) -> String {
        // Multi-byte characters prove that limits count characters, not bytes.
        "é".repeat(n)
    }

    #[test]
    fn recipient_is_required() {
        rejects(
            &OutboundMessage::new(" ", MessageContent::text("hi")),
            "to",
            "empty",
        );
        accepts(&to(MessageContent::text("hi")));
    }

    #[test]
    fn text_body_limit() {
        rejects(
            &to(MessageContent::text(s(4097))),
            "text.body",
            "must be at most 4096 characters (got 4097)",
        );
        rejects(
            &to(MessageContent::text("")),
            "text.body",
            "must not be empty",
        );
        accepts(&to(MessageContent::text(s(4096))));
        accepts(&to(Text::new("https://example.com").with_preview_url()));
    }

    #[test]
    fn callback_data_limit() {
        rejects(
            &to(MessageContent::text("hi")).with_callback_data(s(513)),
            "biz_opaque_callback_data",
            "at most 512 characters (got 513)",
        );
        accepts(&to(MessageContent::text("hi")).with_callback_data(s(512)));
    }

    #[test]
    fn media_needs_exactly_one_source() {
        let both = Media {
            link: Some("https://example.com/a.jpg".to_owned()),
            ..Media::from_id("123")
        };
        rejects(&to(MessageContent::image(both)), "image", "not both");
        rejects(
            &to(MessageContent::video(Media::default())),
            "video",
            "either `id` or `link`",
        );
        rejects(
            &to(MessageContent::image(Media::from_id(""))),
            "image.id",
            "empty",
        );
        accepts(&to(MessageContent::image(Media::from_id("123"))));
        accepts(&to(MessageContent::video(Media::from_link(
            "https://example.com/v.mp4",
        ))));
    }

    #[test]
    fn caption_limit() {
        rejects(
            &to(MessageContent::image(
                Media::from_id("1").with_caption(s(1025)),
            )),
            "image.caption",
            "at most 1024 characters (got 1025)",
        );
        accepts(&to(MessageContent::document(
            Media::from_id("1").with_caption(s(1024)),
        )));
    }

    #[test]
    fn captions_not_allowed_on_audio_and_stickers() {
        rejects(
            &to(MessageContent::audio(Media::from_id("1").with_caption("x"))),
            "audio.caption",
            "not allowed on audio",
        );
        rejects(
            &to(MessageContent::sticker(
                Media::from_id("1").with_caption("x"),
            )),
            "sticker.caption",
            "not allowed on sticker",
        );
        accepts(&to(MessageContent::audio(Media::from_id("1").as_voice())));
        accepts(&to(MessageContent::sticker(Media::from_id("1"))));
    }

    #[test]
    fn filename_only_on_documents_and_voice_only_on_audio() {
        rejects(
            &to(MessageContent::image(
                Media::from_id("1").with_filename("a.jpg"),
            )),
            "image.filename",
            "only allowed on document",
        );
        rejects(
            &to(MessageContent::video(Media::from_id("1").as_voice())),
            "video.voice",
            "only allowed on audio",
        );
        accepts(&to(MessageContent::document(
            Media::from_id("1").with_filename("a.pdf"),
        )));
    }

    #[test]
    fn location_ranges() {
        rejects(
            &to(MessageContent::location(90.5, 0.0)),
            "location.latitude",
            "between -90 and 90",
        );
        rejects(
            &to(MessageContent::location(0.0, -180.1)),
            "location.longitude",
            "between -180 and 180",
        );
        rejects(
            &to(MessageContent::location(f64::NAN, 0.0)),
            "location.latitude",
            "between",
        );
        accepts(&to(Location::new(-90.0, 180.0).with_name("Pole")));
    }

    #[test]
    fn contacts_count_and_formatted_name() {
        rejects(
            &to(MessageContent::contacts([])),
            "contacts",
            "1 to 257 items (got 0)",
        );
        rejects(
            &to(MessageContent::contacts(vec![Contact::new("A"); 258])),
            "contacts",
            "1 to 257 items (got 258)",
        );
        rejects(
            &to(MessageContent::contacts([
                Contact::new("A"),
                Contact::new(""),
            ])),
            "contacts[1].name.formatted_name",
            "empty",
        );
        accepts(&to(MessageContent::contacts(vec![Contact::new("A"); 257])));
    }

    #[test]
    fn reactions_cannot_reply_and_may_be_removed() {
        rejects(
            &to(MessageContent::reaction(WAMID, "👍")).in_reply_to(WAMID),
            "context",
            "not allowed on reactions",
        );
        rejects(
            &to(MessageContent::reaction("", "👍")),
            "reaction.message_id",
            "empty",
        );
        accepts(&to(MessageContent::remove_reaction(WAMID)));
        accepts(&to(MessageContent::text("hi")).in_reply_to(WAMID));
    }

    fn buttons(titles: &[&str]) -> Interactive {
        Interactive::buttons(
            "Pick one",
            titles
                .iter()
                .enumerate()
                .map(|(i, title)| ReplyButton::new(format!("id-{i}"), *title)),
        )
    }

    #[test]
    fn interactive_body_footer_and_header_text() {
        rejects(
            &to(Interactive::buttons(s(1025), [ReplyButton::new("a", "A")])),
            "interactive.body.text",
            "at most 1024 characters (got 1025)",
        );
        rejects(
            &to(buttons(&["A"]).with_footer(s(61))),
            "interactive.footer.text",
            "at most 60 characters (got 61)",
        );
        rejects(
            &to(buttons(&["A"]).with_header(InteractiveHeader::text(s(61)))),
            "interactive.header.text",
            "at most 60 characters (got 61)",
        );
        let mut no_body = buttons(&["A"]);
        no_body.body = None;
        rejects(&to(no_body), "interactive.body", "required for button");
        accepts(&to(Interactive::buttons(
            s(1024),
            [ReplyButton::new("a", "A")],
        )
        .with_footer(s(60))
        .with_header(InteractiveHeader::text(s(60)))));
    }

    #[test]
    fn interactive_header_media() {
        rejects(
            &to(buttons(&["A"]).with_header(InteractiveHeader::image(
                Media::from_id("1").with_caption("c"),
            ))),
            "interactive.header.image.caption",
            "not allowed",
        );
        rejects(
            &to(buttons(&["A"]).with_header(InteractiveHeader::video(Media::default()))),
            "interactive.header.video",
            "either `id` or `link`",
        );
        accepts(&to(
            buttons(&["A"]).with_header(InteractiveHeader::document(Media::from_id("1")))
        ));
    }

    #[test]
    fn reply_button_count() {
        rejects(
            &to(buttons(&[])),
            "interactive.action.buttons",
            "1 to 3 items (got 0)",
        );
        rejects(
            &to(buttons(&["A", "B", "C", "D"])),
            "interactive.action.buttons",
            "1 to 3 items (got 4)",
        );
        accepts(&to(buttons(&["A", "B", "C"])));
    }

    #[test]
    fn reply_button_title_limit_and_uniqueness() {
        let long = s(21);
        rejects(
            &to(buttons(&["A", "B", &long])),
            "interactive.action.buttons[2].reply.title",
            "must be at most 20 characters (got 21)",
        );
        rejects(
            &to(buttons(&["Yes", "Yes"])),
            "interactive.action.buttons[1].reply.title",
            "must be unique (same as interactive.action.buttons[0].reply.title)",
        );
        rejects(
            &to(buttons(&[""])),
            "interactive.action.buttons[0].reply.title",
            "empty",
        );
        accepts(&to(buttons(&[&s(20), "B"])));
    }

    #[test]
    fn reply_button_id_limit_and_uniqueness() {
        let with_ids = |ids: &[String]| {
            to(Interactive::buttons(
                "Pick",
                ids.iter()
                    .enumerate()
                    .map(|(i, id)| ReplyButton::new(id.clone(), format!("T{i}"))),
            ))
        };
        rejects(
            &with_ids(&[s(257)]),
            "interactive.action.buttons[0].reply.id",
            "at most 256 characters (got 257)",
        );
        rejects(
            &with_ids(&["a".into(), "a".into()]),
            "interactive.action.buttons[1].reply.id",
            "must be unique",
        );
        rejects(
            &with_ids(&[" a".into()]),
            "interactive.action.buttons[0].reply.id",
            "whitespace",
        );
        accepts(&with_ids(&[s(256), "b".into()]));
    }

    fn list(sections: Vec<ListSection>) -> Interactive {
        Interactive::list("Choose", "Options", sections)
    }

    fn rows(prefix: &str, n: usize) -> Vec<ListRow> {
        (0..n)
            .map(|i| ListRow::new(format!("{prefix}{i}"), format!("Row {i}")))
            .collect()
    }

    #[test]
    fn list_button_limit() {
        let mut message = Interactive::list("Choose", s(21), [ListSection::new("S", rows("r", 1))]);
        rejects(
            &to(message.clone()),
            "interactive.action.button",
            "at most 20 characters (got 21)",
        );
        message = Interactive::list("Choose", s(20), [ListSection::new("S", rows("r", 1))]);
        accepts(&to(message));
    }

    #[test]
    fn list_section_and_row_counts() {
        let eleven: Vec<_> = (0..11)
            .map(|i| ListSection::new(format!("S{i}"), rows(&format!("s{i}-"), 1)))
            .collect();
        rejects(
            &to(list(eleven)),
            "interactive.action.sections",
            "1 to 10 items (got 11)",
        );
        rejects(
            &to(list(vec![])),
            "interactive.action.sections",
            "1 to 10 items (got 0)",
        );
        let too_many_rows = vec![
            ListSection::new("A", rows("a", 6)),
            ListSection::new("B", rows("b", 5)),
        ];
        rejects(
            &to(list(too_many_rows)),
            "interactive.action.sections[].rows",
            "1 to 10 items (got 11)",
        );
        let ten: Vec<_> = (0..10)
            .map(|i| ListSection::new(format!("S{i}"), rows(&format!("s{i}-"), 1)))
            .collect();
        accepts(&to(list(ten)));
        accepts(&to(list(vec![ListSection::new("A", rows("a", 10))])));
    }

    #[test]
    fn list_row_limits() {
        let row = |id: String, title: String, description: String| {
            list(vec![ListSection::new(
                "S",
                [ListRow::new(id, title).with_description(description)],
            )])
        };
        let path = "interactive.action.sections[0].rows[0]";
        rejects(
            &to(row(s(201), "t".into(), "d".into())),
            &format!("{path}.id"),
            "at most 200 characters (got 201)",
        );
        rejects(
            &to(row("i".into(), s(25), "d".into())),
            &format!("{path}.title"),
            "at most 24 characters (got 25)",
        );
        rejects(
            &to(row("i".into(), "t".into(), s(73))),
            &format!("{path}.description"),
            "at most 72 characters (got 73)",
        );
        accepts(&to(row(s(200), s(24), s(72))));
        let duplicate = list(vec![
            ListSection::new("A", rows("x", 1)),
            ListSection::new("B", rows("x", 1)),
        ]);
        rejects(
            &to(duplicate),
            "interactive.action.sections[1].rows[0].id",
            "must be unique",
        );
    }

    #[test]
    fn list_section_titles() {
        let mut untitled = ListSection::new("A", rows("a", 1));
        untitled.title = None;
        rejects(
            &to(list(vec![
                untitled.clone(),
                ListSection::new("B", rows("b", 1)),
            ])),
            "interactive.action.sections[0].title",
            "required when there is more than one section",
        );
        rejects(
            &to(list(vec![ListSection::new(s(25), rows("a", 1))])),
            "interactive.action.sections[0].title",
            "at most 24 characters (got 25)",
        );
        accepts(&to(list(vec![untitled])));
        accepts(&to(list(vec![ListSection::new(s(24), rows("a", 1))])));
    }

    #[test]
    fn list_header_must_be_text() {
        let message = list(vec![ListSection::new("A", rows("a", 1))]);
        rejects(
            &to(message
                .clone()
                .with_header(InteractiveHeader::image(Media::from_id("1")))),
            "interactive.header.type",
            "must be text",
        );
        accepts(&to(message.with_header(InteractiveHeader::text("Menu"))));
    }

    #[test]
    fn cta_url_limits() {
        rejects(
            &to(Interactive::cta_url("Body", s(21), "https://example.com")),
            "interactive.action.parameters.display_text",
            "at most 20 characters (got 21)",
        );
        rejects(
            &to(Interactive::cta_url("Body", "Open", "ftp://example.com")),
            "interactive.action.parameters.url",
            "http:// or https://",
        );
        rejects(
            &to(Interactive::cta_url("Body", "Open", "https://")),
            "interactive.action.parameters.url",
            "http:// or https://",
        );
        accepts(&to(Interactive::cta_url(
            "Body",
            s(20),
            "HTTPS://example.com/a?b=c",
        )));
        accepts(&to(Interactive::cta_url(
            "Body",
            "Open",
            "http://example.com",
        )));
    }

    #[test]
    fn flow_limits() {
        rejects(
            &to(Interactive::flow("Body", FlowParameters::by_id("1", s(31)))),
            "interactive.action.parameters.flow_cta",
            "at most 30 characters (got 31)",
        );
        let mut both = FlowParameters::by_id("1", "Open");
        both.flow_name = Some("signup".to_owned());
        rejects(
            &to(Interactive::flow("Body", both)),
            "interactive.action.parameters",
            "not both or neither",
        );
        accepts(&to(Interactive::flow(
            "Body",
            FlowParameters::by_id("1", s(30)),
        )));
        accepts(&to(Interactive::flow(
            "Body",
            FlowParameters::by_name("signup", "Open"),
        )));
    }

    #[test]
    fn product_list_limits() {
        let section = |title: Option<&str>, n: usize| ProductSection {
            title: title.map(str::to_owned),
            product_items: (0..n)
                .map(|i| ProductItem {
                    product_retailer_id: format!("sku{i}"),
                    extra: Default::default(),
                })
                .collect(),
            extra: Default::default(),
        };
        let message = |sections: Vec<ProductSection>| {
            to(Interactive::new(
                "Body",
                InteractiveAction::ProductList(ProductListAction {
                    catalog_id: "1".to_owned(),
                    sections,
                    extra: Default::default(),
                }),
            )
            .with_header(InteractiveHeader::text("Products")))
        };
        rejects(
            &message(vec![section(Some("A"), 16), section(Some("B"), 15)]),
            "interactive.action.sections[].product_items",
            "1 to 30 items (got 31)",
        );
        rejects(
            &message(vec![section(None, 1), section(Some("B"), 1)]),
            "interactive.action.sections[0].title",
            "required",
        );
        accepts(&message(vec![
            section(Some("A"), 15),
            section(Some("B"), 15),
        ]));
        let mut headless = message(vec![section(None, 1)]);
        if let MessageContent::Interactive(interactive) = &mut headless.content {
            interactive.header = None;
        }
        rejects(&headless, "interactive.header", "required for product_list");
    }

    #[test]
    fn template_button_components() {
        let with = |component: TemplateComponent| {
            to(Template::new("t", "en_US").with_component(component))
        };
        rejects(
            &with(TemplateComponent::quick_reply(10, "p")),
            "template.components[0].index",
            "between 0 and 9 (got 10)",
        );
        let mut no_index = TemplateComponent::quick_reply(0, "p");
        no_index.index = None;
        rejects(&with(no_index), "template.components[0].index", "required");
        let mut no_sub_type = TemplateComponent::url_button(0, "x");
        no_sub_type.sub_type = None;
        rejects(
            &with(no_sub_type),
            "template.components[0].sub_type",
            "required",
        );
        accepts(&with(TemplateComponent::copy_code(9, "SAVE10")));
    }

    #[test]
    fn template_parameters() {
        let with = |component: TemplateComponent| {
            to(Template::new("t", "en_US").with_component(component))
        };
        rejects(
            &with(TemplateComponent::body([
                TemplateParameter::named_text("a", "1"),
                TemplateParameter::text("2"),
            ])),
            "template.components[0].parameters",
            "all named",
        );
        rejects(
            &with(TemplateComponent::body([
                TemplateParameter::named_text("a", "1"),
                TemplateParameter::named_text("a", "2"),
            ])),
            "template.components[0].parameters[1].parameter_name",
            "must be unique",
        );
        rejects(
            &with(TemplateComponent::header([
                TemplateParameter::text("a"),
                TemplateParameter::text("b"),
            ])),
            "template.components[0].parameters",
            "0 to 1 items (got 2)",
        );
        rejects(
            &with(TemplateComponent::header([TemplateParameter::image(
                Media::default(),
            )])),
            "template.components[0].parameters[0].image",
            "either `id` or `link`",
        );
        rejects(&to(Template::new("", "en_US")), "template.name", "empty");
        rejects(
            &to(Template::new("t", "")),
            "template.language.code",
            "empty",
        );
        accepts(&with(TemplateComponent::header([
            TemplateParameter::image(Media::from_link("https://example.com/a.png")),
        ])));
        accepts(&with(TemplateComponent::body([
            TemplateParameter::named_text("name", "Pablo"),
            TemplateParameter::named_text("order_id", "860198"),
        ])));
    }
}
