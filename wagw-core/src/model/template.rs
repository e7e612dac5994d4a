//! Message templates: created locally, approved by Meta, required outside the 24-hour window.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, TemplateId, TenantId};

/// A template as the gateway keeps it. Unique per (tenant, channel, name, language).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Identifier.
    pub id: TemplateId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The channel whose business account owns the template.
    pub channel_id: ChannelId,
    /// What was (or will be) submitted.
    #[serde(flatten)]
    pub draft: TemplateDraft,
    /// Approval status.
    pub status: TemplateStatus,
    /// Meta's template id once submitted.
    pub remote_id: Option<String>,
    /// Meta's reason when rejected, paused or disabled.
    pub reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Template {
    /// Checks a template message against this template before it is sent: the template must
    /// be approved, name and language must match, and header and body must carry exactly the
    /// parameters the template declares ([`TemplateParamMismatch`](crate::Error::TemplateParamMismatch)).
    pub fn check_send(&self, message: &crate::content::Template) -> crate::Result<()> {
        use crate::content::ComponentType;
        if !self.status.is_sendable() {
            return Err(crate::Error::InvalidState {
                entity: "template",
                state: format!("{:?}", self.status).to_uppercase(),
                action: "send",
            });
        }
        if message.name != self.draft.name || message.language.code != self.draft.language {
            return Err(crate::Error::invalid_input(
                "template",
                format!(
                    "message names {} ({}), expected {} ({})",
                    message.name, message.language.code, self.draft.name, self.draft.language
                ),
            ));
        }
        let (header, body) = self.draft.parameter_counts();
        for (kind, expected, component) in [
            (ComponentType::Header, header, "header"),
            (ComponentType::Body, body, "body"),
        ] {
            let actual = message
                .components
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.parameters.len())
                .sum();
            if actual != expected {
                return Err(crate::Error::TemplateParamMismatch {
                    template: self.draft.name.clone(),
                    component: component.into(),
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// A local draft, not yet submitted.
    pub fn new(tenant_id: TenantId, channel_id: ChannelId, draft: TemplateDraft) -> Self {
        let now = Utc::now();
        Self {
            id: TemplateId::new(),
            tenant_id,
            channel_id,
            draft,
            status: TemplateStatus::Draft,
            remote_id: None,
            reason: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The submittable part of a template, in Meta's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateDraft {
    /// Lower-case name with underscores.
    pub name: String,
    /// Language code, e.g. `id` or `en_US`.
    pub language: String,
    /// Category.
    pub category: TemplateCategory,
    /// Components (header, body, footer, buttons) as Meta defines them.
    pub components: Vec<serde_json::Value>,
}

impl TemplateDraft {
    /// Checks the name and that there is exactly one body component.
    pub fn validate(&self) -> crate::Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 512
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(crate::Error::invalid_input(
                "name",
                "use 1-512 lower-case letters, digits and underscores",
            ));
        }
        if self.language.is_empty() {
            return Err(crate::Error::invalid_input("language", "is required"));
        }
        let bodies = self.components_of("BODY").count();
        if bodies != 1 {
            return Err(crate::Error::invalid_input(
                "components",
                format!("need exactly one BODY component, found {bodies}"),
            ));
        }
        Ok(())
    }

    /// The number of parameters a send must supply: `(header, body)`. Text components need
    /// one per distinct placeholder (`{{1}}` or `{{name}}`); a media or location header needs one.
    pub fn parameter_counts(&self) -> (usize, usize) {
        let count = |kind: &str| {
            self.components_of(kind)
                .map(|c| {
                    let format = c.get("format").and_then(serde_json::Value::as_str);
                    match (format, c.get("text").and_then(serde_json::Value::as_str)) {
                        (Some(f), _) if !f.eq_ignore_ascii_case("TEXT") => 1,
                        (_, Some(text)) => crate::content::placeholders(text).len(),
                        (_, None) => 0,
                    }
                })
                .sum()
        };
        (count("HEADER"), count("BODY"))
    }

    /// The header's format (`TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`), upper-case.
    pub fn header_format(&self) -> Option<String> {
        self.components_of("HEADER")
            .find_map(|c| c.get("format").and_then(serde_json::Value::as_str))
            .map(str::to_uppercase)
    }

    fn components_of<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
        self.components.iter().filter(move |c| {
            c.get("type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    }
}

/// Meta's template categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    /// Promotions and offers.
    Marketing,
    /// Transactional updates.
    Utility,
    /// One-time passwords.
    Authentication,
}

/// Approval status of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    /// Local only, never submitted.
    Draft,
    /// Submitted, waiting for review.
    Pending,
    /// Approved: may be sent.
    Approved,
    /// Rejected by review.
    Rejected,
    /// Paused for low quality.
    Paused,
    /// Disabled after repeated pauses.
    Disabled,
    /// Under appeal.
    InAppeal,
    /// Deleted on Meta's side.
    Deleted,
    /// Deletion requested, not finished.
    PendingDeletion,
    /// Flagged for low quality; paused if it does not improve.
    Flagged,
    /// The business hit its template limit.
    LimitExceeded,
    /// Archived by the business.
    Archived,
    /// Any status Meta adds later.
    #[serde(other)]
    Unknown,
}

impl TemplateStatus {
    /// Whether messages may use the template.
    pub fn is_sendable(self) -> bool {
        self == Self::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::content::{self, TemplateComponent, TemplateParameter};

    fn approved() -> Template {
        let draft = TemplateDraft {
            name: "tagihan".into(),
            language: "id".into(),
            category: TemplateCategory::Utility,
            components: vec![
                serde_json::json!({"type": "HEADER", "format": "DOCUMENT"}),
                serde_json::json!({"type": "BODY", "text": "Halo {{1}}, tagihan {{2}} sebesar {{3}}. Terima kasih {{1}}."}),
            ],
        };
        let mut t = Template::new(TenantId::new(), ChannelId::new(), draft);
        t.status = TemplateStatus::Approved;
        t
    }

    fn send(body_params: usize) -> content::Template {
        let media = content::Media::from_link("https://example.co.id/invoice.pdf");
        content::Template::new("tagihan", "id")
            .with_component(TemplateComponent::header([TemplateParameter::document(
                media,
            )]))
            .with_component(TemplateComponent::body(
                (0..body_params).map(|n| TemplateParameter::text(n.to_string())),
            ))
    }

    #[test]
    fn counts_distinct_placeholders_and_media_headers() {
        assert_eq!(approved().draft.parameter_counts(), (1, 3));
    }

    #[test]
    fn a_matching_send_passes() {
        approved()
            .check_send(&send(3))
            .expect("three body parameters fit");
    }

    #[test]
    fn a_parameter_count_mismatch_is_typed() {
        let err = approved().check_send(&send(2)).expect_err("two is too few");
        assert_eq!(err.code(), ErrorCode::TemplateParamMismatch);
        assert!(err.to_string().contains("expected 3"), "{err}");
    }

    #[test]
    fn unapproved_templates_cannot_be_sent() {
        let mut t = approved();
        t.status = TemplateStatus::Pending;
        assert_eq!(
            t.check_send(&send(3)).unwrap_err().code(),
            ErrorCode::InvalidState
        );
    }

    #[test]
    fn draft_validation_names_the_problem() {
        let mut draft = approved().draft;
        draft.name = "Tagihan Bulanan".into();
        assert_eq!(
            draft.validate().unwrap_err().code(),
            ErrorCode::InvalidInput
        );
    }
}
