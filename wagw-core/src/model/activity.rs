//! The activity (audit) log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ActivityId, ApiKeyId, TenantId, UserId};

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A logged-in user.
    User(UserId),
    /// An API key.
    ApiKey(ApiKeyId),
    /// The gateway itself (scheduler, dispatcher ...).
    System,
}

/// One entry of a tenant's activity log; entries are only appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// Identifier.
    pub id: ActivityId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Who acted.
    pub actor: Actor,
    /// What was done, e.g. `campaign.start`.
    pub action: String,
    /// The entity kind, e.g. `campaign`.
    pub entity: String,
    /// The entity id.
    pub entity_id: Option<String>,
    /// Details.
    pub details: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

impl ActivityEntry {
    /// A new entry now.
    pub fn new(
        tenant_id: TenantId,
        actor: Actor,
        action: impl Into<String>,
        entity: impl Into<String>,
        entity_id: Option<String>,
    ) -> Self {
        Self {
            id: ActivityId::new(),
            tenant_id,
            actor,
            action: action.into(),
            entity: entity.into(),
            entity_id,
            details: serde_json::Value::Null,
            at: Utc::now(),
        }
    }
}
