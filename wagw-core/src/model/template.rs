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

    /// The number of positional or named parameters each component expects: `(header, body)`.
    pub fn parameter_counts(&self) -> (usize, usize) {
        let count = |kind: &str| {
            self.components_of(kind)
                .filter_map(|c| c.get("text").and_then(serde_json::Value::as_str))
                .map(|text| crate::content::placeholders(text).len())
                .sum()
        };
        (count("HEADER"), count("BODY"))
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
