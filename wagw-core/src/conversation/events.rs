//! Outbox events: what the inbound pipeline and the runner tell tenants' webhook
//! subscriptions, written as [`WebhookDelivery`] rows the delivery worker POSTs.
//!
//! Every delivery's payload has one shape:
//!
//! ```json
//! {
//!   "id": "0193…",                 // the event id, the same in every subscription's delivery
//!   "type": "message_received",    // the EventKind in snake_case
//!   "created_at": "2026-11-29T01:02:03.456Z",
//!   "tenant_id": "0193…",
//!   "data": { … }                  // per type, below
//! }
//! ```
//!
//! | type | data |
//! |---|---|
//! | `message_received` | `message_id`, `channel_id`, `from`, `wamid`, `profile_name`, `message` (Meta's message object) |
//! | `message_status` | `message_id`, `channel_id`, `to`, `wamid`, `status`, `campaign_id`, `error` |
//! | `campaign_progress` | `campaign_id`, `counters` (per recipient status) |
//! | `template_status` | `template_id`, `channel_id`, `name`, `language`, `status`, `reason` |
//!
//! A receiver deduplicates by `id` (an event is delivered at least once).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ids::TenantId;
use crate::model::webhook::{EventKind, WebhookDelivery, WebhookSubscription};

/// One event, before it is fanned out to subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Event id (time-ordered), shared by all its deliveries.
    pub id: Uuid,
    /// The kind.
    pub kind: EventKind,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// The type-specific part.
    pub data: Value,
}

impl OutboxEvent {
    /// A new event happening now.
    pub fn new(tenant_id: TenantId, kind: EventKind, data: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind,
            tenant_id,
            created_at: Utc::now(),
            data,
        }
    }

    /// The delivered JSON: `{"id", "type", "created_at", "tenant_id", "data"}`.
    pub fn payload(&self) -> Value {
        json!({
            "id": self.id,
            "type": serde_json::to_value(self.kind).unwrap_or(Value::Null),
            "created_at": self.created_at,
            "tenant_id": self.tenant_id,
            "data": self.data,
        })
    }

    /// One pending delivery per active subscription of the tenant that subscribed to the kind.
    pub fn deliveries(&self, subscriptions: &[WebhookSubscription]) -> Vec<WebhookDelivery> {
        let payload = self.payload();
        subscriptions
            .iter()
            .filter(|s| s.active && s.tenant_id == self.tenant_id && s.events.contains(&self.kind))
            .map(|s| {
                let mut d = WebhookDelivery::new(self.tenant_id, s.id, self.kind, payload.clone());
                d.created_at = self.created_at;
                d.next_attempt_at = self.created_at;
                d
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ids::SubscriptionId;
    use crate::model::Secret;

    fn sub(tenant: TenantId, events: &[EventKind], active: bool) -> WebhookSubscription {
        WebhookSubscription {
            id: SubscriptionId::new(),
            tenant_id: tenant,
            url: "https://crm.example.co.id/wa".into(),
            secret: Secret::new("s"),
            events: events.iter().copied().collect::<BTreeSet<_>>(),
            active,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn fans_out_to_active_subscribers_of_the_kind_only() {
        let tenant = TenantId::new();
        let event = OutboxEvent::new(tenant, EventKind::MessageReceived, json!({"wamid": "w"}));
        let subs = vec![
            sub(tenant, &[EventKind::MessageReceived], true),
            sub(tenant, &[EventKind::MessageStatus], true),
            sub(tenant, &[EventKind::MessageReceived], false),
            sub(TenantId::new(), &[EventKind::MessageReceived], true),
        ];
        let deliveries = event.deliveries(&subs);
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].subscription_id, subs[0].id);
        let payload = &deliveries[0].payload;
        assert_eq!(payload["type"], "message_received");
        assert_eq!(payload["id"], json!(event.id));
        assert_eq!(payload["tenant_id"], json!(tenant));
        assert_eq!(payload["data"]["wamid"], "w");
        assert!(payload["created_at"].is_string());
    }
}
