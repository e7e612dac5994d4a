//! The inbound side of conversations as the store keeps it: what one inbound message writes
//! durably ([`InboundIngest`]), the conversation job that answers it later
//! ([`ConversationJob`]), and the figures analytics reads back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, ContactId, MessageId, RuleId, TenantId};
use crate::model::message::{Direction, MessageRecord, MessageStatus};
use crate::model::webhook::WebhookDelivery;
use crate::phone::PhoneNumber;

/// What a user's WhatsApp profile tells about them, upserted into their contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactProfile {
    /// The profile name (`contacts[].profile.name`). It becomes the contact's name only when
    /// the contact has none; it is always kept in the field [`PROFILE_NAME_FIELD`].
    pub profile_name: Option<String>,
    /// Meta's business-scoped user id (`contacts[].user_id`), kept in [`USER_ID_FIELD`].
    pub user_id: Option<String>,
}

/// Contact field holding the user's WhatsApp profile name.
pub const PROFILE_NAME_FIELD: &str = "wa_profile_name";
/// Contact field holding Meta's business-scoped user id.
pub const USER_ID_FIELD: &str = "wa_user_id";

/// Everything one inbound message writes, in one atomic step
/// ([`InboundStore::ingest_inbound`](crate::store::InboundStore::ingest_inbound)).
#[derive(Debug, Clone, PartialEq)]
pub struct InboundIngest {
    /// The inbound message record; its idempotency key (`in:{wamid}`) deduplicates.
    pub message: MessageRecord,
    /// Profile details for the sender's contact.
    pub profile: ContactProfile,
    /// Whether to write a [`ConversationJob`] so bots answer the message.
    pub answer: bool,
    /// Outbox rows describing the message (one per subscribed active subscription).
    pub deliveries: Vec<WebhookDelivery>,
}

/// What [`ingest_inbound`](crate::store::InboundStore::ingest_inbound) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestResult {
    /// The stored message (the existing one for a redelivery).
    pub message_id: MessageId,
    /// `false` when the wamid was stored before: then nothing at all was written.
    pub created: bool,
    /// The sender's contact (created when new). `None` for a redelivery.
    pub contact_id: Option<ContactId>,
}

/// A durable job that runs the bots for one inbound message, after the webhook was
/// acknowledged. Keyed by the inbound message; jobs of one contact run one at a time, oldest
/// first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationJob {
    /// The inbound message the job answers (also the job's key).
    pub message_id: MessageId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The channel the message came in on.
    pub channel_id: ChannelId,
    /// The sender.
    pub contact_phone: PhoneNumber,
    /// The inbound message's wamid; replies derive their idempotency keys from it.
    pub wamid: String,
    /// Where the job stands.
    pub state: JobState,
    /// Claims so far.
    pub attempts: u32,
    /// When the job may next be claimed (pushed past the lease while claimed).
    pub run_at: DateTime<Utc>,
    /// What answered the message, once done.
    pub handled_by: Option<HandledBy>,
    /// The last error, when a run failed.
    pub last_error: Option<String>,
    /// Creation time (the message's arrival).
    pub created_at: DateTime<Utc>,
    /// When the job finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// State of a [`ConversationJob`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to run, or running under a lease.
    Pending,
    /// Finished; see `handled_by`.
    Done,
    /// Gave up after repeated errors.
    Failed,
}

/// What answered an inbound message. Stored as text, e.g. `rule:0190…`, `flow`, `none`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HandledBy {
    /// The active flow session (or a flow started by its trigger words or the channel's
    /// active flow).
    Flow,
    /// An auto-reply rule.
    Rule(RuleId),
    /// A human has the conversation; the bots stayed silent.
    HandedOff,
    /// Nothing matched.
    Unanswered,
    /// The message was too old or older than the session's last input; no bot ran.
    Stale,
    /// The kind of message is not for bots (reactions, system notices ...).
    Ignored,
}

impl HandledBy {
    /// The stored text form.
    pub fn as_text(&self) -> String {
        match self {
            Self::Flow => "flow".into(),
            Self::Rule(id) => format!("rule:{id}"),
            Self::HandedOff => "handed_off".into(),
            Self::Unanswered => "unanswered".into(),
            Self::Stale => "stale".into(),
            Self::Ignored => "ignored".into(),
        }
    }

    /// Parses the stored text form.
    pub fn parse(text: &str) -> crate::Result<Self> {
        Ok(match text {
            "flow" => Self::Flow,
            "handed_off" => Self::HandedOff,
            "unanswered" => Self::Unanswered,
            "stale" => Self::Stale,
            "ignored" => Self::Ignored,
            other => match other.strip_prefix("rule:") {
                Some(id) => Self::Rule(id.parse()?),
                None => {
                    return Err(crate::Error::invalid_input(
                        "handled_by",
                        format!("{other:?} is not a known value"),
                    ));
                }
            },
        })
    }
}

impl Serialize for HandledBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl<'de> Deserialize<'de> for HandledBy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// How a run of a [`ConversationJob`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSettlement {
    /// Finished.
    Done(HandledBy),
    /// Failed this time; claimable again at `at`.
    Retry {
        /// When to try again.
        at: DateTime<Utc>,
        /// What went wrong.
        error: String,
    },
    /// Failed for good.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// Messages counted in one 15-minute bucket, by channel, direction and status. Fifteen minutes
/// divide every timezone offset in use, so buckets regroup exactly into days of any timezone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeBucket {
    /// Start of the bucket (UTC, a multiple of 15 minutes).
    pub start: DateTime<Utc>,
    /// The channel.
    pub channel_id: ChannelId,
    /// In or out.
    pub direction: Direction,
    /// Current status of the counted messages.
    pub status: MessageStatus,
    /// How many.
    pub count: u64,
}

/// Length of a [`VolumeBucket`], in seconds.
pub const VOLUME_BUCKET_SECS: i64 = 900;

/// How many conversation jobs ended one way, per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandledCount {
    /// The channel.
    pub channel_id: ChannelId,
    /// What answered.
    pub handled_by: HandledBy,
    /// How many messages.
    pub count: u64,
}

/// How many flow-engagement steps of one kind a flow had (at one node, for drop-offs and
/// hand-offs), as [`AnalyticsStore::flow_engagement_counts`](crate::store::AnalyticsStore::flow_engagement_counts) returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngagementCount {
    /// The flow.
    pub flow_id: crate::ids::FlowId,
    /// What happened.
    pub kind: crate::model::flow::EngagementKind,
    /// Where, when recorded.
    pub node: Option<String>,
    /// How many times.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handled_by_round_trips_through_text() {
        for h in [
            HandledBy::Flow,
            HandledBy::Rule(RuleId::new()),
            HandledBy::HandedOff,
            HandledBy::Unanswered,
            HandledBy::Stale,
            HandledBy::Ignored,
        ] {
            assert_eq!(HandledBy::parse(&h.as_text()).expect("parses"), h);
        }
        assert!(HandledBy::parse("rule:nope").is_err());
        assert!(HandledBy::parse("bot").is_err());
    }
}
