//! Typed identifiers. Each is a UUIDv7, so ids sort by creation time and serve as cursors.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta] $name:ident),+ $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| crate::Error::invalid_input(stringify!($name), e.to_string()))
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    )+};
}

typed_id! {
    /// Identifies a tenant: the unit of isolation.
    TenantId,
    /// Identifies a user of a tenant.
    UserId,
    /// Identifies an API key.
    ApiKeyId,
    /// Identifies a channel (one WhatsApp Business number).
    ChannelId,
    /// Identifies a contact.
    ContactId,
    /// Identifies a contact list.
    ContactListId,
    /// Identifies a message template.
    TemplateId,
    /// Identifies a message record (inbound or outbound).
    MessageId,
    /// Identifies a campaign.
    CampaignId,
    /// Identifies one recipient of a campaign.
    RecipientId,
    /// Identifies a chatbot flow.
    FlowId,
    /// Identifies a conversation session (a user inside a flow).
    SessionId,
    /// Identifies an auto-reply rule.
    RuleId,
    /// Identifies a scheduled message.
    ScheduleId,
    /// Identifies a webhook subscription.
    SubscriptionId,
    /// Identifies one webhook delivery in the outbox.
    DeliveryId,
    /// Identifies an activity-log entry.
    ActivityId,
    /// Identifies a queue job.
    JobId,
    /// Identifies an audience input a campaign refused at expansion.
    RejectionId,
}
