//! A template send checked against the registered template, as Meta checks it.
//!
//! The shape checks of [`super::check`] know nothing about the template; these rules compare
//! the send's `components` with the template's own (Meta's creation shape, `HEADER` /
//! `BODY` / `BUTTONS`):
//!
//! | Rule | Code |
//! |---|---|
//! | header or body: the number of parameters differs from the template's placeholders | 132000 |
//! | a media header (`IMAGE` / `VIDEO` / `DOCUMENT` / `LOCATION`) without its parameter, with another type, or a media parameter for a template without one | 132012 |
//! | a named template (`{{order_id}}`) given a parameter without `parameter_name`, or a positional one given `parameter_name` | 132012 |
//! | a named template: the names given differ from the template's (unknown, repeated or missing) | 132000 |
//! | a button component whose `index` is not a button of the template, or repeated | 131009 |
//! | a button component whose `sub_type` differs from the template's button type | 132012 |
//! | a quick-reply button without exactly one `payload` (or `text`) parameter, a URL button with a parameter count other than its URL's placeholders, a copy-code button without one `coupon_code` | 132000 (count) / 132012 (type) |
//! | a template button that needs a parameter (a dynamic URL, a copy code) with no button component for it | 131008 |
//!
//! Details follow Meta's wording where it is known (`header: Format mismatch, expected
//! IMAGE, received UNKNOWN`; `buttons: Button at index 0 of type Url requires a parameter`).

use std::collections::BTreeSet;

use serde_json::Value;
use wagw_core::content::Placeholder;

use super::api_error::{ApiError, codes};

/// The template's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderShape {
    /// No header component.
    None,
    /// A text header (its placeholders are in [`TemplateShape::header_names`]).
    Text,
    /// A media header: `IMAGE`, `VIDEO`, `DOCUMENT` or `LOCATION`.
    Media(String),
}

/// One button of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ButtonShape {
    /// Meta's button type, upper case: `QUICK_REPLY`, `URL`, `COPY_CODE`, `FLOW` ...
    pub(crate) kind: String,
    /// Placeholders in a `URL` button's `url` (1 for a dynamic URL, 0 for a static one).
    pub(crate) url_params: usize,
}

/// What a send of the template must supply, read from its components once when stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateShape {
    pub(crate) header: HeaderShape,
    /// Distinct placeholder names of a text header, in order.
    pub(crate) header_names: Vec<String>,
    /// Distinct placeholder names of the body, in order.
    pub(crate) body_names: Vec<String>,
    /// Whether placeholders are named (`{{order_id}}`) rather than numbered (`{{1}}`).
    pub(crate) named: bool,
    pub(crate) buttons: Vec<ButtonShape>,
}

/// Distinct placeholder names of a template text, in order of appearance (`1`, `order_id`),
/// by wagw-core's reading of Meta's placeholder syntax.
fn placeholders(text: &str) -> Vec<String> {
    wagw_core::content::placeholders(text)
        .into_iter()
        .map(|placeholder| match placeholder {
            Placeholder::Positional(number) => number.to_string(),
            Placeholder::Named(name) => name,
        })
        .collect()
}

fn upper(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or("").to_ascii_uppercase()
}

impl TemplateShape {
    /// Reads a template's components (Meta's creation shape).
    pub(crate) fn of(components: &Value) -> Self {
        let mut shape = Self {
            header: HeaderShape::None,
            header_names: Vec::new(),
            body_names: Vec::new(),
            named: false,
            buttons: Vec::new(),
        };
        for component in components.as_array().into_iter().flatten() {
            let text = component["text"].as_str().unwrap_or("");
            match upper(component, "type").as_str() {
                "BODY" => shape.body_names = placeholders(text),
                "HEADER" => {
                    let format = upper(component, "format");
                    if format.is_empty() || format == "TEXT" {
                        shape.header = HeaderShape::Text;
                        shape.header_names = placeholders(text);
                    } else {
                        shape.header = HeaderShape::Media(format);
                    }
                }
                "BUTTONS" => {
                    for button in component["buttons"].as_array().into_iter().flatten() {
                        shape.buttons.push(ButtonShape {
                            kind: upper(button, "type"),
                            url_params: placeholders(button["url"].as_str().unwrap_or("")).len(),
                        });
                    }
                }
                _ => {}
            }
        }
        shape.named = shape
            .header_names
            .iter()
            .chain(&shape.body_names)
            .any(|name| !name.bytes().all(|b| b.is_ascii_digit()));
        shape
    }

    /// `NAMED` or `POSITIONAL`, as Meta reports a template's `parameter_format`.
    pub(crate) fn parameter_format(&self) -> &'static str {
        if self.named { "NAMED" } else { "POSITIONAL" }
    }
}

fn format_mismatch(details: String) -> ApiError {
    ApiError::new(codes::TEMPLATE_PARAM_FORMAT, details)
}

fn count_mismatch(what: &str, actual: usize, expected: usize) -> ApiError {
    ApiError::new(
        codes::TEMPLATE_PARAM_COUNT,
        format!(
            "{what}: number of localizable_params ({actual}) does not match the expected number \
             of params ({expected})"
        ),
    )
}

fn parameters(component: &Value) -> &[Value] {
    component["parameters"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn kind_of(parameter: &Value) -> &str {
    parameter["type"].as_str().unwrap_or("")
}

/// Meta's spelling of a button type in its details (`QUICK_REPLY` → `QuickReply`).
fn camel(kind: &str) -> String {
    kind.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect()
}

/// Checks a send's `template.components` (already shape-checked) against the template.
///
/// # Errors
///
/// The [`ApiError`] Meta answers; see the module's table.
pub(crate) fn check_send(shape: &TemplateShape, components: &[Value]) -> Result<(), ApiError> {
    fn of_type<'v>(
        components: &'v [Value],
        name: &'static str,
    ) -> impl Iterator<Item = &'v Value> + 'v {
        components.iter().filter(move |c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(name))
        })
    }
    let header: Vec<&Value> = of_type(components, "header").flat_map(parameters).collect();
    let body: Vec<&Value> = of_type(components, "body").flat_map(parameters).collect();
    let header_text: Vec<&Value> = header
        .iter()
        .copied()
        .filter(|p| kind_of(p) == "text")
        .collect();

    // Counts first: the error Meta gives most often, and the one senders know best.
    if header_text.len() != shape.header_names.len() {
        return Err(count_mismatch(
            "header",
            header_text.len(),
            shape.header_names.len(),
        ));
    }
    if body.len() != shape.body_names.len() {
        return Err(count_mismatch("body", body.len(), shape.body_names.len()));
    }

    check_header_media(shape, &header)?;
    check_names(shape, "header", &header_text, &shape.header_names)?;
    check_names(shape, "body", &body, &shape.body_names)?;
    check_buttons(shape, of_type(components, "button"))
}

fn check_header_media(shape: &TemplateShape, header: &[&Value]) -> Result<(), ApiError> {
    let media = header
        .iter()
        .map(|p| kind_of(p))
        .find(|kind| *kind != "text")
        .map(str::to_ascii_uppercase);
    let expected = match &shape.header {
        HeaderShape::Media(format) => format.as_str(),
        HeaderShape::Text => "TEXT",
        HeaderShape::None => "NONE",
    };
    let fits = match (&shape.header, &media) {
        (HeaderShape::Media(format), Some(given)) => format == given,
        (HeaderShape::Media(_), None) => false,
        (_, given) => given.is_none(),
    };
    if fits {
        return Ok(());
    }
    Err(format_mismatch(format!(
        "header: Format mismatch, expected {expected}, received {}",
        media.as_deref().unwrap_or("UNKNOWN")
    )))
}

fn check_names(
    shape: &TemplateShape,
    what: &str,
    given: &[&Value],
    expected: &[String],
) -> Result<(), ApiError> {
    let names: Vec<Option<&str>> = given
        .iter()
        .map(|p| p.get("parameter_name").and_then(Value::as_str))
        .collect();
    if !shape.named {
        return match names.iter().position(Option::is_some) {
            None => Ok(()),
            Some(i) => Err(format_mismatch(format!(
                "{what}: parameter {i} has a parameter_name, but the template's parameters are \
                 positional ({{{{1}}}}, {{{{2}}}} ...)"
            ))),
        };
    }
    if let Some(i) = names.iter().position(|n| n.is_none_or(str::is_empty)) {
        return Err(format_mismatch(format!(
            "{what}: parameter {i} has no parameter_name; the template's parameters are named \
             ({})",
            expected.join(", ")
        )));
    }
    let given_set: BTreeSet<&str> = names.iter().flatten().copied().collect();
    let expected_set: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    if given_set != expected_set || given_set.len() != names.len() {
        let unknown: Vec<&str> = given_set.difference(&expected_set).copied().collect();
        let missing: Vec<&str> = expected_set.difference(&given_set).copied().collect();
        return Err(ApiError::new(
            codes::TEMPLATE_PARAM_COUNT,
            format!(
                "{what}: the parameter names do not match the template's: unknown [{}], \
                 missing [{}]",
                unknown.join(", "),
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

fn button_index(component: &Value) -> Option<usize> {
    match &component["index"] {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|i| usize::try_from(i).ok()),
        _ => None,
    }
}

fn check_buttons<'v>(
    shape: &TemplateShape,
    sent: impl Iterator<Item = &'v Value>,
) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    for component in sent {
        let index = button_index(component).unwrap_or(usize::MAX);
        let Some(button) = shape.buttons.get(index) else {
            return Err(ApiError::invalid(format!(
                "buttons: the template has {} button(s); there is no button at index {}",
                shape.buttons.len(),
                component["index"]
            )));
        };
        if !seen.insert(index) {
            return Err(ApiError::invalid(format!(
                "buttons: the button at index {index} is given twice"
            )));
        }
        let sub_type = upper(component, "sub_type");
        if sub_type != button.kind {
            return Err(format_mismatch(format!(
                "buttons: Button at index {index} is of type {}, received {}",
                camel(&button.kind),
                camel(&sub_type)
            )));
        }
        let params = parameters(component);
        let (expected, allowed): (usize, &[&str]) = match button.kind.as_str() {
            "QUICK_REPLY" => (1, &["payload", "text"]),
            "URL" => (button.url_params, &["text"]),
            "COPY_CODE" => (1, &["coupon_code"]),
            _ => continue,
        };
        let what = format!("button at index {index}");
        if params.len() != expected {
            return Err(count_mismatch(&what, params.len(), expected));
        }
        if let Some(wrong) = params.iter().map(kind_of).find(|k| !allowed.contains(k)) {
            return Err(format_mismatch(format!(
                "{what}: Format mismatch, expected {}, received {}",
                allowed[0].to_ascii_uppercase(),
                wrong.to_ascii_uppercase()
            )));
        }
    }
    for (index, button) in shape.buttons.iter().enumerate() {
        let needs_parameter =
            (button.kind == "URL" && button.url_params > 0) || button.kind == "COPY_CODE";
        if needs_parameter && !seen.contains(&index) {
            return Err(ApiError::missing_details(format!(
                "buttons: Button at index {index} of type {} requires a parameter",
                camel(&button.kind)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shape_of_a_full_template() {
        let shape = TemplateShape::of(&json!([
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{name}}, order {{order_id}} ({{name}})"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Yes"},
                {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"},
                {"type": "URL", "text": "Home", "url": "https://example.com"}
            ]}
        ]));
        assert_eq!(shape.header, HeaderShape::Media("IMAGE".into()));
        assert_eq!(shape.body_names, ["name", "order_id"]);
        assert!(shape.named);
        assert_eq!(shape.buttons[1].url_params, 1);
        assert_eq!(shape.buttons[2].url_params, 0);
        assert_eq!(camel("QUICK_REPLY"), "QuickReply");
    }
}
