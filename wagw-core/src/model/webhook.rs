//! Outgoing webhooks: tenants' subscriptions and the durable outbox of deliveries.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{DeliveryId, SubscriptionId, TenantId};
use crate::model::Secret;

/// A tenant's URL that receives events, signed with HMAC-SHA256 of its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscription {
    /// Identifier.
    pub id: SubscriptionId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Signing secret.
    pub secret: Secret,
    /// The events it receives.
    pub events: BTreeSet<EventKind>,
    /// Whether deliveries are made.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Kinds of events a tenant can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A user sent a message.
    MessageReceived,
    /// An outbound message changed status.
    MessageStatus,
    /// A campaign's counters or state changed.
    CampaignProgress,
    /// A template's approval status changed.
    TemplateStatus,
    /// A campaign finished (every recipient reached a final state, or it was cancelled).
    CampaignCompleted,
    /// A chatbot flow reached an end.
    FlowCompleted,
    /// A chatbot flow handed the conversation to a human.
    FlowHandedOff,
}

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Identifier; sent as the delivery id so receivers can deduplicate.
    pub id: DeliveryId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// The event kind.
    pub event: EventKind,
    /// The JSON payload.
    pub payload: serde_json::Value,
    /// Delivery state.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last HTTP status received.
    pub last_status: Option<u16>,
    /// The last error.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl WebhookDelivery {
    /// A pending delivery due now.
    pub fn new(
        tenant_id: TenantId,
        subscription_id: SubscriptionId,
        event: EventKind,
        payload: serde_json::Value,
    ) -> Self {
        let now = Utc::now();
        Self {
            id: DeliveryId::new(),
            tenant_id,
            subscription_id,
            event,
            payload,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        }
    }
}

/// State of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Gave up after the last attempt; can be replayed.
    Dead,
}

/// The result of one delivery attempt, recorded by
/// [`WebhookStore::record_delivery_attempt`](crate::store::WebhookStore::record_delivery_attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryOutcome {
    /// Delivered.
    Delivered {
        /// HTTP status.
        status: u16,
    },
    /// Failed; try again at `retry_at`.
    Retry {
        /// HTTP status, if a response came.
        status: Option<u16>,
        /// The error.
        error: String,
        /// Next attempt.
        retry_at: DateTime<Utc>,
    },
    /// Failed for the last time.
    Dead {
        /// HTTP status, if a response came.
        status: Option<u16>,
        /// The error.
        error: String,
    },
}

impl DeliveryOutcome {
    /// The HTTP status the receiver answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Delivered { status } => Some(*status),
            Self::Retry { status, .. } | Self::Dead { status, .. } => *status,
        }
    }

    /// The error, for an attempt that failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Delivered { .. } => None,
            Self::Retry { error, .. } | Self::Dead { error, .. } => Some(error),
        }
    }
}

/// When a delivery attempt started and how long it took, logged with its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptTiming {
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// From the start until the answer (or the error), in milliseconds.
    pub duration_ms: u64,
}

/// One logged attempt of a webhook delivery
/// ([`WebhookStore::list_delivery_attempts`](crate::store::WebhookStore::list_delivery_attempts)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// 1 for the first attempt, counting on across replays.
    pub number: u32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// The error, when the attempt failed.
    pub error: Option<String>,
}

impl DeliveryAttempt {
    /// The log entry of attempt `number` of a delivery.
    pub fn new(
        tenant_id: TenantId,
        delivery_id: DeliveryId,
        number: u32,
        outcome: &DeliveryOutcome,
        timing: &AttemptTiming,
    ) -> Self {
        Self {
            delivery_id,
            tenant_id,
            number,
            started_at: timing.started_at,
            duration_ms: timing.duration_ms,
            status: outcome.status(),
            error: outcome.error().map(str::to_owned),
        }
    }
}
