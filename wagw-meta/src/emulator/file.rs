//! A scenario file for the emulator: numbers, templates and webhook settings, loaded by
//! `wagw-emulator --config FILE` or by [`ScenarioFile::load`] in tests.
//!
//! YAML (`.yaml` / `.yml`) or JSON (any other name):
//!
//! ```yaml
//! numbers:
//!   - id: "106540352242922"
//!     display_phone_number: "6281299990001"
//!     waba_id: "419561257915477"
//!     verified_name: Toko Maju        # optional
//!     throughput: 80                  # optional: messages/s, or "off"
//!     registered: true                # optional, default true
//! templates:
//!   - waba_id: "419561257915477"
//!     name: order_update
//!     language: id
//!     category: UTILITY               # optional, default UTILITY
//!     status: APPROVED                # optional, default APPROVED
//!     components: [{type: BODY, text: "Pesanan {{1}} dikirim"}]
//! webhook:
//!   url: http://127.0.0.1:8080/webhook
//!   app_secret: my-app-secret
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{EmulatorBuilder, PhoneNumberSpec, TemplateSpec, Throughput};
use crate::error::Error;

/// The contents of a scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScenarioFile {
    /// Business numbers.
    #[serde(default)]
    pub numbers: Vec<NumberEntry>,
    /// Templates present from the start.
    #[serde(default)]
    pub templates: Vec<TemplateEntry>,
    /// Where status and inbound webhooks go.
    #[serde(default)]
    pub webhook: Option<WebhookEntry>,
}

/// One number of a [`ScenarioFile`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumberEntry {
    /// Phone-number id.
    pub id: String,
    /// Display phone number.
    pub display_phone_number: String,
    /// The WABA it belongs to.
    pub waba_id: String,
    /// Verified business name.
    #[serde(default)]
    pub verified_name: Option<String>,
    /// Messages per second, or `"off"`.
    #[serde(default)]
    pub throughput: Option<ThroughputEntry>,
    /// Whether it starts registered (default true).
    #[serde(default = "yes")]
    pub registered: bool,
}

fn yes() -> bool {
    true
}

/// A throughput: a number of messages per second or `"off"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ThroughputEntry {
    /// Messages per second.
    PerSecond(u32),
    /// `"off"`: no limit.
    Word(String),
}

/// One template of a [`ScenarioFile`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateEntry {
    /// The WABA it belongs to.
    pub waba_id: String,
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Category, default `UTILITY`.
    #[serde(default)]
    pub category: Option<String>,
    /// Status, default `APPROVED`.
    #[serde(default)]
    pub status: Option<String>,
    /// Components in Meta's creation shape.
    #[serde(default)]
    pub components: Value,
}

/// Webhook settings of a [`ScenarioFile`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookEntry {
    /// The callback URL.
    pub url: String,
    /// The app secret the bodies are signed with (must not be empty).
    pub app_secret: String,
}

impl ScenarioFile {
    /// Reads a scenario file: YAML for `.yaml` / `.yml`, JSON otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read; [`Error::Config`] when it does not parse, names
    /// an unknown key, or holds an invalid value (see [`ScenarioFile::parse`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        Self::parse(&text, yaml).map_err(|e| match e {
            Error::Config(reason) => Error::Config(format!("{}: {reason}", path.display())),
            other => other,
        })
    }

    /// Parses a scenario from text (`yaml` or JSON) and checks its values.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when it does not parse, names an unknown key, has an empty webhook
    /// app secret, a throughput that is neither a positive number nor `"off"`, or an empty id.
    pub fn parse(text: &str, yaml: bool) -> Result<Self, Error> {
        let file: Self = if yaml {
            serde_norway::from_str(text).map_err(|e| Error::Config(e.to_string()))?
        } else {
            serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?
        };
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> Result<(), Error> {
        for number in &self.numbers {
            for (name, value) in [
                ("id", &number.id),
                ("display_phone_number", &number.display_phone_number),
                ("waba_id", &number.waba_id),
            ] {
                if value.trim().is_empty() {
                    return Err(Error::Config(format!("a number has an empty {name}")));
                }
            }
            number.throughput()?;
        }
        for template in &self.templates {
            if template.name.trim().is_empty() || template.language.trim().is_empty() {
                return Err(Error::Config(
                    "a template needs a name and a language".to_owned(),
                ));
            }
        }
        if let Some(webhook) = &self.webhook
            && webhook.app_secret.trim().is_empty()
        {
            return Err(Error::Config(
                "webhook.app_secret must not be empty (receivers refuse unsigned webhooks)"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// Adds the file's numbers, templates and webhook to `builder`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid throughput (checked again here for files built in
    /// code).
    pub fn apply(&self, mut builder: EmulatorBuilder) -> Result<EmulatorBuilder, Error> {
        self.check()?;
        for number in &self.numbers {
            let mut spec = PhoneNumberSpec::new(
                number.id.clone(),
                number.display_phone_number.clone(),
                number.waba_id.clone(),
            );
            if let Some(name) = &number.verified_name {
                spec = spec.verified_name(name.clone());
            }
            if let Some(throughput) = number.throughput()? {
                spec = spec.throughput(throughput);
            }
            if !number.registered {
                spec = spec.unregistered();
            }
            builder = builder.number(spec);
        }
        for template in &self.templates {
            let mut spec = TemplateSpec::approved(
                template.waba_id.clone(),
                template.name.clone(),
                template.language.clone(),
                match &template.components {
                    Value::Null => Value::Array(Vec::new()),
                    other => other.clone(),
                },
            );
            if let Some(category) = &template.category {
                spec = spec.category(category.clone());
            }
            if let Some(status) = &template.status {
                spec = spec.status(status.clone());
            }
            builder = builder.template(spec);
        }
        if let Some(webhook) = &self.webhook {
            builder = builder.webhook(webhook.url.clone(), webhook.app_secret.clone());
        }
        Ok(builder)
    }
}

impl NumberEntry {
    fn throughput(&self) -> Result<Option<Throughput>, Error> {
        match &self.throughput {
            None => Ok(None),
            Some(ThroughputEntry::PerSecond(0)) => Err(Error::Config(format!(
                "number {}: throughput must be positive or \"off\"",
                self.id
            ))),
            Some(ThroughputEntry::PerSecond(n)) => Ok(Some(Throughput::per_second(*n))),
            Some(ThroughputEntry::Word(word)) if word.eq_ignore_ascii_case("off") => {
                Ok(Some(Throughput::Off))
            }
            Some(ThroughputEntry::Word(word)) => Err(Error::Config(format!(
                "number {}: throughput {word:?} is neither a number nor \"off\"",
                self.id
            ))),
        }
    }
}
