//! Keyword auto-reply rules.

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::content::MessageContent;
use crate::ids::{ChannelId, FlowId, RuleId, TenantId};

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
    /// What the rule does.
    #[serde(default)]
    pub action: RuleAction,
    /// Compare accents too (`café` ≠ `cafe`); by default accents are folded away.
    #[serde(default)]
    pub accent_sensitive: bool,
    /// When the rule is in force relative to `business_hours`.
    #[serde(default)]
    pub when: ActiveWhen,
    /// Opening hours in the tenant's timezone, for `when`.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    /// Once fired for a contact on a channel, the rule stays silent for them this long.
    #[serde(default)]
    pub cooldown_secs: u64,
}

impl AutoReplyRule {
    /// A reply rule in force on every channel, matching whole words case- and
    /// accent-insensitively, with no cooldown and no business-hours condition.
    pub fn new(
        tenant_id: TenantId,
        name: impl Into<String>,
        keywords: Vec<String>,
        reply: MessageContent,
    ) -> Self {
        Self {
            id: RuleId::new(),
            tenant_id,
            channel_id: None,
            name: name.into(),
            matching: KeywordMatch::Word,
            keywords,
            case_sensitive: false,
            reply,
            priority: 0,
            active: true,
            created_at: Utc::now(),
            action: RuleAction::Reply,
            accent_sensitive: false,
            when: ActiveWhen::Always,
            business_hours: None,
            cooldown_secs: 0,
        }
    }
}

/// What a rule does when it fires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleAction {
    /// Sends the rule's `reply`.
    #[default]
    Reply,
    /// Starts a flow for the contact (the rule's `reply` is not sent; the flow answers).
    StartFlow {
        /// The flow.
        flow_id: FlowId,
    },
    /// Sends the rule's `reply` and hands the conversation to a human: no rule or flow
    /// answers the contact on this channel until the session is released.
    Handoff,
}

/// When, relative to the tenant's business hours, a rule is in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActiveWhen {
    /// Always.
    #[default]
    Always,
    /// Only inside the rule's business hours.
    Open,
    /// Only outside them (the classic "we are closed" answer).
    Closed,
}

/// Opening hours in the tenant's timezone: the days open and the time window on those days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessHours {
    /// Open days.
    pub days: Vec<Weekday>,
    /// Opening time (inclusive).
    pub open: NaiveTime,
    /// Closing time (exclusive); before `open` means the hours span midnight (the day is the
    /// day the window opened).
    pub close: NaiveTime,
}

impl BusinessHours {
    /// Whether the business is open at local time `at`.
    pub fn is_open(&self, at: NaiveDateTime) -> bool {
        let (day, time) = (at.weekday(), at.time());
        if self.open <= self.close {
            self.days.contains(&day) && self.open <= time && time < self.close
        } else {
            (self.days.contains(&day) && time >= self.open)
                || (self.days.contains(&day.pred()) && time < self.close)
        }
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
    /// The keyword appears as a whole word (or words).
    Word,
    /// The text ends with the keyword.
    EndsWith,
    /// The keyword is a regular expression found anywhere in the text (the `regex` crate's
    /// syntax; matching runs in linear time).
    Regex,
}

impl KeywordMatch {
    /// How specific the mode is; among rules of equal priority the more specific wins.
    pub fn specificity(self) -> u8 {
        match self {
            Self::Exact => 4,
            Self::StartsWith | Self::EndsWith => 3,
            Self::Word => 2,
            Self::Contains => 1,
            Self::Regex => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, h: u32, m: u32) -> NaiveDateTime {
        // 2026-11-30 is a Monday.
        chrono::NaiveDate::from_ymd_opt(2026, 11, day)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .expect("valid")
    }

    #[test]
    fn business_hours_hold_on_open_days_only() {
        let hours = BusinessHours {
            days: vec![Weekday::Mon],
            open: NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
            close: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        };
        assert!(hours.is_open(at(30, 8, 0)));
        assert!(!hours.is_open(at(30, 17, 0)));
        assert!(!hours.is_open(at(30, 7, 59)));
        let tuesday = at(30, 9, 0) + chrono::Days::new(1);
        assert!(!hours.is_open(tuesday));
    }

    #[test]
    fn overnight_hours_belong_to_the_day_they_open() {
        let hours = BusinessHours {
            days: vec![Weekday::Mon],
            open: NaiveTime::from_hms_opt(22, 0, 0).expect("time"),
            close: NaiveTime::from_hms_opt(2, 0, 0).expect("time"),
        };
        assert!(hours.is_open(at(30, 23, 0)));
        assert!(hours.is_open(at(30, 1, 0) + chrono::Days::new(1)));
        assert!(!hours.is_open(at(30, 1, 0)));
    }

    #[test]
    fn old_documents_load_with_defaults() {
        let rule = AutoReplyRule::new(
            TenantId::new(),
            "harga",
            vec!["harga".into()],
            MessageContent::text("Mulai Rp 150.000"),
        );
        let mut doc = serde_json::to_value(&rule).expect("serialises");
        let map = doc.as_object_mut().expect("object");
        for key in [
            "action",
            "accent_sensitive",
            "when",
            "business_hours",
            "cooldown_secs",
        ] {
            map.remove(key);
        }
        let back: AutoReplyRule = serde_json::from_value(doc).expect("loads");
        assert_eq!(back, rule);
    }
}
