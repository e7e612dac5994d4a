//! Tenants, their users and API keys, plans and usage.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::phone::Region;

/// A customer of the gateway: the unit of isolation. Nothing of one tenant is visible to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// The plan that sets the tenant's limits.
    pub plan: Plan,
    /// IANA timezone used for schedules and sending windows, e.g. `Asia/Jakarta`.
    pub timezone: chrono_tz::Tz,
    /// Region used to normalise national phone numbers, e.g. `ID`.
    pub default_region: Region,
    /// Whether the tenant may use the gateway.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Tenant {
    /// A new active tenant in Jakarta time with region `ID` on the given plan.
    pub fn new(name: impl Into<String>, plan: Plan) -> Self {
        Self {
            id: TenantId::new(),
            name: name.into(),
            plan,
            timezone: chrono_tz::Asia::Jakarta,
            default_region: Region::default(),
            active: true,
            created_at: Utc::now(),
        }
    }
}

/// A plan and its limits. `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan name (`basic`, `premium`, `enterprise` or a custom one).
    pub name: String,
    /// Maximum number of channels.
    pub channels: Option<u64>,
    /// Maximum outbound messages per calendar month.
    pub messages_per_month: Option<u64>,
    /// Maximum auto-reply rules.
    pub auto_reply_rules: Option<u64>,
    /// Maximum scheduled messages.
    pub scheduled_messages: Option<u64>,
}

impl Plan {
    /// Basic: 1 number, 1,000 messages a month, 10 auto-reply rules, 50 scheduled messages.
    pub fn basic() -> Self {
        Self::limited("basic", 1, 1_000, 10, 50)
    }

    /// Premium: 5 numbers, 10,000 messages a month, 100 rules, 500 scheduled messages.
    pub fn premium() -> Self {
        Self::limited("premium", 5, 10_000, 100, 500)
    }

    /// Enterprise: unlimited.
    pub fn enterprise() -> Self {
        Self {
            name: "enterprise".into(),
            channels: None,
            messages_per_month: None,
            auto_reply_rules: None,
            scheduled_messages: None,
        }
    }

    fn limited(name: &str, channels: u64, messages: u64, rules: u64, scheduled: u64) -> Self {
        Self {
            name: name.into(),
            channels: Some(channels),
            messages_per_month: Some(messages),
            auto_reply_rules: Some(rules),
            scheduled_messages: Some(scheduled),
        }
    }

    /// The limit for a resource, `None` when unlimited.
    pub fn limit(&self, resource: QuotaResource) -> Option<u64> {
        match resource {
            QuotaResource::Channels => self.channels,
            QuotaResource::MessagesPerMonth => self.messages_per_month,
            QuotaResource::AutoReplyRules => self.auto_reply_rules,
            QuotaResource::ScheduledMessages => self.scheduled_messages,
        }
    }
}

/// A resource a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaResource {
    /// Channels owned.
    Channels,
    /// Outbound messages accepted this month.
    MessagesPerMonth,
    /// Auto-reply rules defined.
    AutoReplyRules,
    /// Scheduled messages defined.
    ScheduledMessages,
}

impl QuotaResource {
    /// Stable snake_case name used in storage and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Channels => "channels",
            Self::MessagesPerMonth => "messages_per_month",
            Self::AutoReplyRules => "auto_reply_rules",
            Self::ScheduledMessages => "scheduled_messages",
        }
    }
}

/// A usage period: a calendar month in UTC, written `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UsagePeriod(String);

impl UsagePeriod {
    /// The month containing `at`.
    pub fn month_of(at: DateTime<Utc>) -> Self {
        Self(format!("{:04}-{:02}", at.year(), at.month()))
    }

    /// The period as `YYYY-MM`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's role within a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages everything, including users, keys and channels.
    Admin,
    /// Sends messages, runs campaigns, edits contacts, flows and rules.
    Operator,
    /// Reads only.
    Viewer,
}

/// What an actor may do, checked against [`Role`] and [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read anything of the tenant.
    Read,
    /// Send messages and run campaigns.
    Send,
    /// Change contacts, templates, flows, rules and schedules.
    Write,
    /// Manage users, API keys, channels and webhooks.
    Admin,
}

impl Role {
    /// Whether this role grants `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        match self {
            Self::Admin => true,
            Self::Operator => scope != Scope::Admin,
            Self::Viewer => scope == Scope::Read,
        }
    }
}

/// A person who logs in to a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Login e-mail, unique within the tenant, stored lower-case.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Password hash (PHC string); never the password.
    pub password_hash: String,
    /// Whether the user may log in.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// An API key. Only the SHA-256 hash of the secret is stored; the secret is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Identifier.
    pub id: ApiKeyId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// A label for people.
    pub name: String,
    /// The first characters of the secret, to recognise a key in lists.
    pub prefix: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// What the key may do.
    pub scopes: BTreeSet<Scope>,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl ApiKey {
    /// Generates a key; returns the record to store and the secret to show once.
    ///
    /// The secret has 244 random bits, so a fast hash is enough: no password-style stretching
    /// is needed to resist guessing, and lookups by hash stay cheap on every request.
    pub fn generate(
        tenant_id: TenantId,
        name: impl Into<String>,
        scopes: BTreeSet<Scope>,
        expires_at: Option<DateTime<Utc>>,
    ) -> (Self, String) {
        let secret = format!(
            "wagw_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let key = Self {
            id: ApiKeyId::new(),
            tenant_id,
            name: name.into(),
            prefix: secret[..12].to_owned(),
            hash: Self::hash_secret(&secret),
            scopes,
            expires_at,
            revoked_at: None,
            created_at: Utc::now(),
        };
        (key, secret)
    }

    /// The stored form of a secret.
    pub fn hash_secret(secret: &str) -> String {
        let digest = Sha256::digest(secret.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether the key works at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_say() {
        assert!(Role::Admin.allows(Scope::Admin));
        assert!(Role::Operator.allows(Scope::Send) && Role::Operator.allows(Scope::Write));
        assert!(!Role::Operator.allows(Scope::Admin));
        assert!(Role::Viewer.allows(Scope::Read));
        assert!(!Role::Viewer.allows(Scope::Send));
    }

    #[test]
    fn plans_carry_the_documented_limits() {
        let basic = Plan::basic();
        assert_eq!(basic.limit(QuotaResource::Channels), Some(1));
        assert_eq!(basic.limit(QuotaResource::MessagesPerMonth), Some(1_000));
        assert_eq!(
            Plan::premium().limit(QuotaResource::ScheduledMessages),
            Some(500)
        );
        assert_eq!(
            Plan::enterprise().limit(QuotaResource::AutoReplyRules),
            None
        );
    }

    #[test]
    fn api_keys_store_only_a_hash_and_expire() {
        let now = Utc::now();
        let expiry = now + chrono::TimeDelta::days(1);
        let (key, secret) = ApiKey::generate(TenantId::new(), "crm", BTreeSet::new(), Some(expiry));
        assert_eq!(key.hash, ApiKey::hash_secret(&secret));
        assert_ne!(key.hash, secret);
        assert!(secret.starts_with(&key.prefix));
        assert!(key.is_usable(now));
        assert!(!key.is_usable(expiry));
    }

    #[test]
    fn usage_periods_are_calendar_months() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 23, 59, 0).unwrap();
        assert_eq!(UsagePeriod::month_of(at).as_str(), "2026-11");
    }
}
