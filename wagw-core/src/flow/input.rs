//! Reading and checking a user's answer.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::event::{InboundKind, InboundMessage, InteractiveReply};
use crate::model::flow::InputSpec;
use crate::phone::{Region, normalize};

/// What an inbound message says, in the forms flows match on.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Answer {
    /// Typed text (or a template button's text).
    pub text: Option<String>,
    /// Reply id of a button, list row or template button payload.
    pub reply_id: Option<String>,
    /// Title of the chosen button or row.
    pub reply_title: Option<String>,
    /// Media id.
    pub media_id: Option<String>,
    /// A shared location.
    pub location: Option<Value>,
}

impl Answer {
    pub fn of(message: &InboundMessage) -> Self {
        let mut answer = Self::default();
        match &message.kind {
            InboundKind::Text(text) => answer.text = Some(text.body.clone()),
            InboundKind::Interactive(interactive) => match &interactive.reply {
                InteractiveReply::ButtonReply(option) | InteractiveReply::ListReply(option) => {
                    answer.reply_id = Some(option.id.clone());
                    answer.reply_title = Some(option.title.clone());
                }
                _ => {}
            },
            InboundKind::Button(button) => {
                answer.reply_id = button.payload.clone();
                answer.reply_title = button.text.clone();
            }
            InboundKind::Image(media)
            | InboundKind::Video(media)
            | InboundKind::Audio(media)
            | InboundKind::Document(media)
            | InboundKind::Sticker(media) => {
                answer.media_id = Some(media.id.clone());
                answer.text = media.caption.clone();
            }
            InboundKind::Location(location) => {
                answer.location = Some(json!({
                    "latitude": location.latitude,
                    "longitude": location.longitude,
                    "name": location.name,
                    "address": location.address,
                }));
            }
            _ => {}
        }
        answer
    }

    /// The words of the answer: typed text, else the chosen title.
    pub fn words(&self) -> Option<&str> {
        self.text.as_deref().or(self.reply_title.as_deref())
    }
}

/// Checks an answer against a typed input; `Ok` carries the value to save.
pub(crate) fn check(spec: &InputSpec, answer: &Answer, region: Region) -> Result<Value, String> {
    let words = || answer.words().map(str::trim).filter(|w| !w.is_empty());
    match spec {
        InputSpec::Choice => Err("choice is matched against options".into()),
        InputSpec::Text { min, max } => {
            let text = words().ok_or("expected text")?;
            let len = text.chars().count();
            if min.is_some_and(|min| len < min) || max.is_some_and(|max| len > max) {
                return Err(format!("{len} characters is out of bounds"));
            }
            Ok(json!(text))
        }
        InputSpec::Number { min, max } => {
            let number = parse_number(words().ok_or("expected a number")?).ok_or("not a number")?;
            if min.is_some_and(|min| number < min) || max.is_some_and(|max| number > max) {
                return Err(format!("{number} is out of bounds"));
            }
            Ok(if number.fract() == 0.0 && number.abs() < 9e15 {
                json!(number as i64)
            } else {
                json!(number)
            })
        }
        InputSpec::Email => {
            let text = words().ok_or("expected an e-mail address")?;
            let valid = match text.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains('@')
                        && !text.contains(char::is_whitespace)
                }
                None => false,
            };
            if valid {
                Ok(json!(text.to_lowercase()))
            } else {
                Err("not an e-mail address".into())
            }
        }
        InputSpec::Phone => {
            let text = words().ok_or("expected a phone number")?;
            normalize(text, region)
                .map(|phone| json!(phone.as_str()))
                .map_err(|e| e.to_string())
        }
        InputSpec::Date => {
            let text = words().ok_or("expected a date")?;
            ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"]
                .iter()
                .find_map(|format| NaiveDate::parse_from_str(text, format).ok())
                .map(|date| json!(date.format("%Y-%m-%d").to_string()))
                .ok_or_else(|| "not a date".into())
        }
        InputSpec::Regex { pattern } => {
            let text = words().ok_or("expected text")?;
            let anchored = format!("^(?:{pattern})$");
            let regex = regex::Regex::new(&anchored).map_err(|e| e.to_string())?;
            if regex.is_match(text) {
                Ok(json!(text))
            } else {
                Err("does not match".into())
            }
        }
        InputSpec::Media => answer
            .media_id
            .as_ref()
            .map(|id| json!(id))
            .ok_or_else(|| "expected media".into()),
        InputSpec::Location => answer
            .location
            .clone()
            .ok_or_else(|| "expected a location".into()),
    }
}

/// Reads `12`, `1.234,5` (Indonesian) and `1,234.5`.
fn parse_number(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Ok(n) = cleaned.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let (last_dot, last_comma) = (cleaned.rfind('.'), cleaned.rfind(','));
    let normalized = match (last_dot, last_comma) {
        (Some(d), Some(c)) if c > d => cleaned.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => cleaned.replace(',', ""),
        (None, Some(_)) => cleaned.replace(',', "."),
        (Some(_), None) => cleaned.replace('.', ""),
        (None, None) => return None,
    };
    normalized.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Answer {
        Answer {
            text: Some(t.into()),
            ..Answer::default()
        }
    }

    #[test]
    fn typed_inputs_normalise_what_they_save() {
        let id = Region::ID;
        let number = InputSpec::Number {
            min: Some(1.0),
            max: Some(100.0),
        };
        assert_eq!(check(&number, &text("12"), id), Ok(json!(12)));
        assert_eq!(check(&number, &text("1,5"), id), Ok(json!(1.5)));
        assert!(check(&number, &text("500"), id).is_err());
        assert!(check(&number, &text("dua"), id).is_err());
        assert_eq!(
            check(&InputSpec::Phone, &text("0812-3456-789"), id),
            Ok(json!("628123456789"))
        );
        assert_eq!(
            check(&InputSpec::Date, &text("17/08/2026"), id),
            Ok(json!("2026-08-17"))
        );
        assert_eq!(
            check(&InputSpec::Email, &text("Budi@Contoh.co.id"), id),
            Ok(json!("budi@contoh.co.id"))
        );
        assert!(check(&InputSpec::Email, &text("budi@"), id).is_err());
        let odp = InputSpec::Regex {
            pattern: "ODP-[0-9]{3}".into(),
        };
        assert!(check(&odp, &text("ODP-001"), id).is_ok());
        assert!(
            check(&odp, &text("xODP-001"), id).is_err(),
            "must match in full"
        );
        assert!(check(&InputSpec::Media, &text("foto"), id).is_err());
    }
}
