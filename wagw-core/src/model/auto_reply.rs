//! Keyword auto-reply rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::MessageContent;
use crate::ids::{ChannelId, RuleId, TenantId};

/// Answers inbound text that matches keywords.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoReplyRule {
    /// Identifier.
    pub id: RuleId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Limit to one channel; `None` applies to all of the tenant's channels.
    pub channel_id: Option<ChannelId>,
    /// Name.
    pub name: String,
    /// How keywords are compared.
    pub matching: KeywordMatch,
    /// The keywords; any one matching fires the rule.
    pub keywords: Vec<String>,
    /// Compare case-sensitively.
    pub case_sensitive: bool,
    /// The reply.
    pub reply: MessageContent,
    /// Higher is tried first.
    pub priority: i32,
    /// Whether the rule is in force.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl AutoReplyRule {
    /// Whether the rule fires for `text` on `channel`.
    pub fn matches(&self, channel: ChannelId, text: &str) -> bool {
        if !self.active || self.channel_id.is_some_and(|c| c != channel) {
            return false;
        }
        let fold = |s: &str| {
            if self.case_sensitive {
                s.trim().to_owned()
            } else {
                s.trim().to_lowercase()
            }
        };
        let text = fold(text);
        self.keywords
            .iter()
            .map(|k| fold(k))
            .any(|k| match self.matching {
                KeywordMatch::Exact => text == k,
                KeywordMatch::StartsWith => text.starts_with(&k),
                KeywordMatch::Contains => text.contains(&k),
                KeywordMatch::Word => text
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|word| word == k),
            })
    }
}

/// How a keyword is compared with inbound text (after trimming).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMatch {
    /// The whole text equals the keyword.
    Exact,
    /// The text starts with the keyword.
    StartsWith,
    /// The keyword appears anywhere.
    Contains,
    /// The keyword appears as a whole word.
    Word,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(matching: KeywordMatch, channel: Option<ChannelId>) -> AutoReplyRule {
        AutoReplyRule {
            id: RuleId::new(),
            tenant_id: TenantId::new(),
            channel_id: channel,
            name: "harga".into(),
            matching,
            keywords: vec!["Harga".into()],
            case_sensitive: false,
            reply: MessageContent::text("Mulai Rp 150.000"),
            priority: 0,
            active: true,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn each_matching_mode_compares_as_documented() {
        let ch = ChannelId::new();
        let text = "  berapa harga paket?  ";
        assert!(!rule(KeywordMatch::Exact, None).matches(ch, text));
        assert!(rule(KeywordMatch::Exact, None).matches(ch, " HARGA "));
        assert!(!rule(KeywordMatch::StartsWith, None).matches(ch, text));
        assert!(rule(KeywordMatch::StartsWith, None).matches(ch, "harga paket"));
        assert!(rule(KeywordMatch::Contains, None).matches(ch, text));
        assert!(rule(KeywordMatch::Word, None).matches(ch, text));
        assert!(!rule(KeywordMatch::Word, None).matches(ch, "hargai dia"));
    }

    #[test]
    fn channel_limits_case_and_inactive_rules_hold() {
        let (ch, other) = (ChannelId::new(), ChannelId::new());
        assert!(!rule(KeywordMatch::Contains, Some(other)).matches(ch, "harga"));
        let mut strict = rule(KeywordMatch::Contains, None);
        strict.case_sensitive = true;
        assert!(!strict.matches(ch, "harga"));
        assert!(strict.matches(ch, "Harga"));
        strict.active = false;
        assert!(!strict.matches(ch, "Harga"));
    }
}
