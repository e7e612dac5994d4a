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
//! | `campaign_completed` | `campaign_id`, `state` (`completed`, `failed`, `cancelled`), `round`, `counters`, `failure_reason` |
//! | `template_status` | `template_id`, `channel_id`, `name`, `language`, `status`, `reason` |
//! | `flow_completed` | `session_id`, `channel_id`, `contact` (`+` E.164), `wa_id`, `flow_id`, `flow_version`, `node` (the end node), `outcome`, `variables` |
//! | `flow_handed_off` | `session_id`, `channel_id`, `contact`, `wa_id`, `flow_id`, `flow_version`, `node` (the hand-off node), `variables` |
//!
//! A receiver deduplicates by `id` (an event is delivered at least once).
//!
//! Every event is written in the same store step as the change it reports, so a crash never
//! keeps one without the other: `message_received` with the inbound message
//! ([`InboundStore::ingest_inbound`](crate::store::InboundStore::ingest_inbound)),
//! `message_status` and `campaign_progress` with the statuses ([`StatusOutbox`],
//! [`InboundStore::apply_statuses`](crate::store::InboundStore::apply_statuses); progress is
//! reported once per status webhook per campaign it touched), and `campaign_completed` with the
//! campaign's final state ([`campaign_completed`],
//! [`CampaignStore::update_campaign_with_deliveries`](crate::store::CampaignStore::update_campaign_with_deliveries):
//! the version check lets exactly one writer complete a campaign, so there is one event per
//! completion), and `flow_completed` / `flow_handed_off` with the session save of the turn that
//! ended the flow or handed it off ([`flow_outcome`],
//! [`ConversationStore::save_session_with_deliveries`](crate::store::ConversationStore::save_session_with_deliveries):
//! the session's version check lets one turn or sweeper save it, and the event id is derived
//! from the session and the version it was saved from, so a re-run carries the same id).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::flow_engine::FlowEvent;
use crate::ids::{CampaignId, TenantId};
use crate::model::campaign::{Campaign, CampaignCounters};
use crate::model::flow::ConversationSession;
use crate::model::message::{MessageRecord, StatusChange};
use crate::model::webhook::{EventKind, WebhookDelivery, WebhookSubscription};
use crate::store::WamidUpdate;

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

/// A status that moved, with the message it moved, as a backend hands it to
/// [`StatusOutbox::deliveries`].
#[derive(Debug, Clone, Copy)]
pub struct MovedStatus<'a> {
    /// The change (it moved).
    pub change: &'a StatusChange,
    /// The webhook's update.
    pub update: &'a WamidUpdate,
    /// The message as stored after the change.
    pub message: &'a MessageRecord,
}

/// The outbox rows status webhooks make: a `message_status` event per message that moved and a
/// `campaign_progress` event per campaign touched, fanned out to the tenant's subscriptions.
/// Backends build them inside the transaction that moves the statuses
/// ([`InboundStore::apply_statuses`](crate::store::InboundStore::apply_statuses)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusOutbox {
    subscriptions: Vec<WebhookSubscription>,
}

impl StatusOutbox {
    /// Events for these subscriptions (inactive ones and other kinds are left out).
    pub fn new(subscriptions: Vec<WebhookSubscription>) -> Self {
        Self { subscriptions }
    }

    /// No events at all: the statuses alone are written.
    pub fn none() -> Self {
        Self::default()
    }

    /// The subscriptions events go to.
    pub fn subscriptions(&self) -> &[WebhookSubscription] {
        &self.subscriptions
    }

    fn wants(&self, kind: EventKind) -> bool {
        self.subscriptions
            .iter()
            .any(|s| s.active && s.events.contains(&kind))
    }

    /// Whether any subscription wants `message_status` events; when not, backends need not
    /// read the messages that moved.
    pub fn wants_statuses(&self) -> bool {
        self.wants(EventKind::MessageStatus)
    }

    /// Whether any subscription wants `campaign_progress` events; when not, backends need not
    /// read campaign counters.
    pub fn wants_progress(&self) -> bool {
        self.wants(EventKind::CampaignProgress)
    }

    /// The campaigns whose progress the `moved` messages touched, first-seen order.
    pub fn campaigns(moved: &[MovedStatus<'_>]) -> Vec<CampaignId> {
        let mut campaigns: Vec<CampaignId> = Vec::new();
        for m in moved {
            if let Some(c) = m.message.campaign_id
                && !campaigns.contains(&c)
            {
                campaigns.push(c);
            }
        }
        campaigns
    }

    /// The deliveries: `message_status` for each of `moved`, then `campaign_progress` for each
    /// of `progress` (counters read after the move).
    pub fn deliveries(
        &self,
        tenant: TenantId,
        moved: &[MovedStatus<'_>],
        progress: &[(CampaignId, CampaignCounters)],
    ) -> Vec<WebhookDelivery> {
        let mut deliveries = Vec::new();
        if self.wants_statuses() {
            for m in moved {
                let event = OutboxEvent::new(
                    tenant,
                    EventKind::MessageStatus,
                    json!({
                        "message_id": m.message.id,
                        "channel_id": m.message.channel_id,
                        "to": m.message.contact_phone.as_str(),
                        "wamid": m.update.wamid,
                        "status": m.change.to,
                        "campaign_id": m.message.campaign_id,
                        "error": m.update.update.error,
                    }),
                );
                deliveries.extend(event.deliveries(&self.subscriptions));
            }
        }
        if self.wants_progress() {
            for (campaign, counters) in progress {
                let event = OutboxEvent::new(
                    tenant,
                    EventKind::CampaignProgress,
                    json!({ "campaign_id": campaign, "counters": counters }),
                );
                deliveries.extend(event.deliveries(&self.subscriptions));
            }
        }
        deliveries
    }
}

/// The `campaign_completed` event of a campaign that reached a final state, fanned out to
/// `subscriptions`; stored with the state change by
/// [`CampaignStore::update_campaign_with_deliveries`](crate::store::CampaignStore::update_campaign_with_deliveries).
pub fn campaign_completed(
    campaign: &Campaign,
    counters: &CampaignCounters,
    subscriptions: &[WebhookSubscription],
) -> Vec<WebhookDelivery> {
    OutboxEvent::new(
        campaign.tenant_id,
        EventKind::CampaignCompleted,
        json!({
            "campaign_id": campaign.id,
            "state": campaign.state,
            "round": campaign.round,
            "counters": counters,
            "failure_reason": campaign.failure_reason,
        }),
    )
    .deliveries(subscriptions)
}

/// Whether a turn's `events` end a flow or hand it off, i.e. whether [`flow_outcome`] makes
/// any event: a runner reads the tenant's subscriptions only then.
pub fn ends_or_hands_off(events: &[FlowEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, FlowEvent::Completed { .. } | FlowEvent::HandedOff { .. }))
}

/// The `flow_completed` and `flow_handed_off` events of a turn's `events`, for `session` as it
/// is about to be saved (its `version` is the one the save checks), fanned out to
/// `subscriptions`; stored with the session by
/// [`ConversationStore::save_session_with_deliveries`](crate::store::ConversationStore::save_session_with_deliveries).
pub fn flow_outcome(
    session: &ConversationSession,
    events: &[FlowEvent],
    at: DateTime<Utc>,
    subscriptions: &[WebhookSubscription],
) -> Vec<WebhookDelivery> {
    let mut deliveries = Vec::new();
    for (n, e) in events.iter().enumerate() {
        let (kind, flow, node, outcome) = match e {
            FlowEvent::Completed {
                flow,
                outcome,
                node,
            } => (EventKind::FlowCompleted, flow, node, Some(outcome)),
            FlowEvent::HandedOff { flow, node } => (EventKind::FlowHandedOff, flow, node, None),
            _ => continue,
        };
        let mut data = json!({
            "session_id": session.id,
            "channel_id": session.channel_id,
            "contact": session.user.e164(),
            "wa_id": session.user.as_str(),
            "flow_id": flow,
            "flow_version": session.flow_version,
            "node": node,
            "variables": session.variables,
        });
        if let Some(outcome) = outcome {
            data["outcome"] = json!(outcome);
        }
        let event = OutboxEvent {
            id: session_event_id(session, n),
            kind,
            tenant_id: session.tenant_id,
            created_at: at,
            data,
        };
        deliveries.extend(event.deliveries(subscriptions));
    }
    deliveries
}

/// The id of the `n`-th event of the turn that saves `session` from its version: the same for
/// a re-run of that turn (whose save the version check refuses), another for any other turn.
/// The session id's bytes with the version and position folded into the last eight, as a
/// UUIDv8 (custom layout); injective per session for versions below 2^54 and 256 events.
fn session_event_id(session: &ConversationSession, n: usize) -> Uuid {
    let mut bytes = *session.id.0.as_bytes();
    let position = u64::try_from(n).unwrap_or(u64::MAX) & 0xff;
    let fold = (session.version << 8) | position;
    for (b, f) in bytes[8..].iter_mut().zip(fold.to_be_bytes()) {
        *b ^= f;
    }
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
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
