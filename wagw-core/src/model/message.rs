//! Message records and the one function that moves their status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::OutboundMessage;
use crate::event::InboundMessage;
use crate::ids::{CampaignId, ChannelId, MessageId, RecipientId, TenantId};
use crate::phone::PhoneNumber;

/// A message in or out, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Identifier.
    pub id: MessageId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The number it was sent from or received on.
    pub channel_id: ChannelId,
    /// The other party.
    pub contact_phone: PhoneNumber,
    /// In or out.
    pub direction: Direction,
    /// The body.
    pub body: MessageBody,
    /// Current status.
    pub status: MessageStatus,
    /// WhatsApp's message id, once known.
    pub wamid: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<MessageError>,
    /// The campaign it belongs to.
    pub campaign_id: Option<CampaignId>,
    /// The campaign recipient it was sent to.
    pub recipient_id: Option<RecipientId>,
    /// Caller-chosen key; a second message with the same key in the same tenant is not created.
    pub idempotency_key: Option<String>,
    /// Dispatch priority.
    pub priority: Priority,
    /// Send attempts made so far.
    pub attempts: u32,
    /// An attempt whose outcome was unknown after a crash (see the dispatcher's policy).
    pub ambiguous: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl MessageRecord {
    /// A new queued outbound message.
    pub fn outbound(
        tenant_id: TenantId,
        channel_id: ChannelId,
        to: PhoneNumber,
        message: OutboundMessage,
        priority: Priority,
    ) -> Self {
        let now = Utc::now();
        Self {
            id: MessageId::new(),
            tenant_id,
            channel_id,
            contact_phone: to,
            direction: Direction::Outbound,
            body: MessageBody::Outbound(Box::new(message)),
            status: MessageStatus::Queued,
            wamid: None,
            error: None,
            campaign_id: None,
            recipient_id: None,
            idempotency_key: None,
            priority,
            attempts: 0,
            ambiguous: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// A received inbound message; its wamid doubles as idempotency key, so Meta's
    /// redeliveries are stored once.
    pub fn inbound(
        tenant_id: TenantId,
        channel_id: ChannelId,
        from: PhoneNumber,
        message: InboundMessage,
    ) -> Self {
        let now = Utc::now();
        let wamid = message.id.clone();
        Self {
            id: MessageId::new(),
            tenant_id,
            channel_id,
            contact_phone: from,
            direction: Direction::Inbound,
            body: MessageBody::Inbound(Box::new(message)),
            status: MessageStatus::Received,
            idempotency_key: Some(format!("in:{wamid}")),
            wamid: Some(wamid),
            error: None,
            campaign_id: None,
            recipient_id: None,
            priority: Priority::Normal,
            attempts: 0,
            ambiguous: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Applies a status update through [`MessageStatus::transition`]; returns whether it moved.
    pub fn apply(&mut self, update: &StatusUpdate) -> bool {
        if self.status.transition(update.status) != Transition::Advance {
            return false;
        }
        self.status = update.status;
        if update.wamid.is_some() {
            self.wamid.clone_from(&update.wamid);
        }
        if update.error.is_some() {
            self.error.clone_from(&update.error);
        }
        self.updated_at = update.at;
        true
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a user to the business.
    Inbound,
    /// From the business to a user.
    Outbound,
}

/// The body of a stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "direction", content = "message", rename_all = "snake_case")]
pub enum MessageBody {
    /// What was (or will be) sent.
    Outbound(Box<OutboundMessage>),
    /// What was received.
    Inbound(Box<InboundMessage>),
}

/// Dispatch priority: higher goes first on the same number, within its rate budget.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Campaign (blast) traffic.
    Bulk = 0,
    /// One-off API messages and scheduled messages.
    #[default]
    Normal = 1,
    /// Chatbot and auto-reply answers to a user who is waiting.
    Urgent = 2,
}

impl Priority {
    /// Numeric form used by queues (higher first).
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// From the numeric form; unknown values clamp to the nearest priority.
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Bulk,
            1 => Self::Normal,
            _ => Self::Urgent,
        }
    }
}

/// The status of a message.
///
/// Outbound: `queued → sending → sent → delivered → read`, with `failed` terminal.
/// Inbound messages are `received`, which is terminal too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Recorded, waiting in the queue.
    Queued,
    /// A send attempt is under way (or its outcome is unknown).
    Sending,
    /// Accepted by WhatsApp.
    Sent,
    /// Delivered to the user's device.
    Delivered,
    /// Read (or played) by the user.
    Read,
    /// Failed; terminal.
    Failed,
    /// An inbound message; terminal.
    Received,
}

/// The outcome of asking to move a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The new status is ahead: apply it.
    Advance,
    /// The same status again (a redelivered webhook, a retried attempt): nothing to do.
    Repeat,
    /// The new status is behind or the current one is terminal: ignore it.
    Stale,
}

impl MessageStatus {
    /// All statuses, in order.
    pub const ALL: [Self; 7] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Received,
    ];

    /// The single rule for status moves; every store applies it, in code or in SQL.
    ///
    /// Forward moves may skip steps (Meta omits `delivered` when `read` comes at once).
    /// `failed` is accepted until the message is delivered (Meta reports some failures after
    /// `sent`, never after delivery) and is terminal, as are `read` and `received`.
    pub fn transition(self, to: Self) -> Transition {
        use MessageStatus::*;
        if self == to {
            return Transition::Repeat;
        }
        match (self, to) {
            (Failed | Read | Received, _) | (_, Received) => Transition::Stale,
            (Queued | Sending | Sent, Failed) => Transition::Advance,
            (Delivered, Failed) => Transition::Stale,
            (from, to) if to.rank() > from.rank() => Transition::Advance,
            _ => Transition::Stale,
        }
    }

    /// Position on the outbound path; used by SQL stores to compare in a `WHERE` clause.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sending => 1,
            Self::Sent => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Failed => 5,
            Self::Received => 6,
        }
    }

    /// Whether nothing can follow this status.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Read | Self::Failed | Self::Received)
    }

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Received => "received",
        }
    }
}

/// Why a message failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageError {
    /// The far side's code (Meta's `error.code`), if any.
    pub code: Option<i64>,
    /// A reason a person can act on.
    pub reason: String,
}

/// A status change to apply to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The new status.
    pub status: MessageStatus,
    /// The WhatsApp message id, when the update carries it (on `sent`).
    pub wamid: Option<String>,
    /// The failure, for `failed`.
    pub error: Option<MessageError>,
    /// When the change happened.
    pub at: DateTime<Utc>,
}

impl StatusUpdate {
    /// A plain status change at `at`.
    pub fn new(status: MessageStatus, at: DateTime<Utc>) -> Self {
        Self {
            status,
            wamid: None,
            error: None,
            at,
        }
    }

    /// `sent`, with the WhatsApp message id.
    pub fn sent(wamid: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            wamid: Some(wamid.into()),
            ..Self::new(MessageStatus::Sent, at)
        }
    }

    /// `failed`, with the reason.
    pub fn failed(error: MessageError, at: DateTime<Utc>) -> Self {
        Self {
            error: Some(error),
            ..Self::new(MessageStatus::Failed, at)
        }
    }
}

/// What applying a status update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The message.
    pub message_id: MessageId,
    /// Its status before.
    pub from: MessageStatus,
    /// Its status after (equal to `from` when nothing moved).
    pub to: MessageStatus,
    /// The campaign recipient it was sent to, so that status ingestion can move the
    /// recipient without reading the message again.
    pub recipient_id: Option<RecipientId>,
}

impl StatusChange {
    /// Whether the status moved.
    pub fn moved(&self) -> bool {
        self.from != self.to
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;
    use super::*;

    #[test]
    fn priorities_order_urgent_first_and_round_trip() {
        assert!(Priority::Urgent > Priority::Normal && Priority::Normal > Priority::Bulk);
        for p in [Priority::Bulk, Priority::Normal, Priority::Urgent] {
            assert_eq!(Priority::from_u8(p.as_u8()), p);
        }
        assert_eq!(Priority::from_u8(200), Priority::Urgent);
    }

    #[test]
    fn forward_moves_apply_and_may_skip() {
        assert_eq!(Queued.transition(Sending), Transition::Advance);
        assert_eq!(Sending.transition(Sent), Transition::Advance);
        assert_eq!(Sent.transition(Read), Transition::Advance);
        assert_eq!(Delivered.transition(Read), Transition::Advance);
    }

    #[test]
    fn backward_and_terminal_moves_are_stale() {
        assert_eq!(Read.transition(Delivered), Transition::Stale);
        assert_eq!(Delivered.transition(Sent), Transition::Stale);
        assert_eq!(Failed.transition(Sent), Transition::Stale);
        assert_eq!(Delivered.transition(Failed), Transition::Stale);
        assert_eq!(Received.transition(Read), Transition::Stale);
        assert_eq!(Queued.transition(Received), Transition::Stale);
    }

    #[test]
    fn failure_is_accepted_until_delivery() {
        for from in [Queued, Sending, Sent] {
            assert_eq!(from.transition(Failed), Transition::Advance);
        }
    }

    #[test]
    fn any_order_of_updates_ends_at_the_furthest_status() {
        // Every permutation of sent/delivered/read ends at read.
        let perms = [
            [Sent, Delivered, Read],
            [Sent, Read, Delivered],
            [Delivered, Sent, Read],
            [Delivered, Read, Sent],
            [Read, Sent, Delivered],
            [Read, Delivered, Sent],
        ];
        for perm in perms {
            let mut status = Sending;
            for to in perm {
                if status.transition(to) == Transition::Advance {
                    status = to;
                }
            }
            assert_eq!(status, Read, "{perm:?}");
        }
    }
}
