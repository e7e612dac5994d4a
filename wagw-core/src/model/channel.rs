//! Channels: the WhatsApp Business numbers a tenant sends from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, FlowId, TenantId};
use crate::model::Secret;
use crate::phone::PhoneNumber;

/// One WhatsApp Business number registered on the Cloud API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Identifier.
    pub id: ChannelId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// A label for people.
    pub name: String,
    /// Meta's phone-number id, used in API paths and webhook metadata. Unique across tenants.
    pub phone_number_id: String,
    /// The WhatsApp Business Account the number belongs to.
    pub waba_id: String,
    /// The number itself.
    pub display_number: PhoneNumber,
    /// Access token for this number; `None` uses the transport's default token.
    pub access_token: Option<Secret>,
    /// Messages per second Meta allows this number.
    pub throughput: Throughput,
    /// Meta's quality rating.
    pub quality: QualityRating,
    /// Lifecycle status.
    pub status: ChannelStatus,
    /// The chatbot flow that answers inbound messages, if one is active.
    pub active_flow: Option<FlowId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Channel {
    /// A new connected channel at the default throughput.
    pub fn new(
        tenant_id: TenantId,
        name: impl Into<String>,
        phone_number_id: impl Into<String>,
        waba_id: impl Into<String>,
        display_number: PhoneNumber,
    ) -> Self {
        let now = Utc::now();
        Self {
            id: ChannelId::new(),
            tenant_id,
            name: name.into(),
            phone_number_id: phone_number_id.into(),
            waba_id: waba_id.into(),
            display_number,
            access_token: None,
            throughput: Throughput::default(),
            quality: QualityRating::Unknown,
            status: ChannelStatus::Connected,
            active_flow: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the number can send now; `Err` carries the reason.
    pub fn ensure_can_send(&self) -> crate::Result<()> {
        match self.status {
            ChannelStatus::Connected | ChannelStatus::Flagged => Ok(()),
            other => Err(crate::Error::NotConnected {
                id: self.id.to_string(),
                reason: format!("channel status is {other:?}"),
            }),
        }
    }
}

/// A number's throughput: messages per second, inbound and outbound together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Throughput(u32);

impl Throughput {
    /// Meta's default: 80 messages per second.
    pub const STANDARD: Self = Self(80);
    /// After Meta's automatic upgrade: 1,000 messages per second.
    pub const HIGH: Self = Self(1_000);
    /// Numbers shared with the WhatsApp Business app: 20 messages per second.
    pub const COEXISTENCE: Self = Self(20);

    /// A custom rate; zero is rejected.
    pub fn per_second(rate: u32) -> crate::Result<Self> {
        if rate == 0 {
            return Err(crate::Error::invalid_input(
                "throughput",
                "must be at least 1 message per second",
            ));
        }
        Ok(Self(rate))
    }

    /// Messages per second.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Throughput {
    fn default() -> Self {
        Self::STANDARD
    }
}

/// Meta's quality rating of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QualityRating {
    /// High quality.
    Green,
    /// Medium quality.
    Yellow,
    /// Low quality: limits may drop.
    Red,
    /// Not rated yet.
    #[serde(other)]
    Unknown,
}

/// Lifecycle of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    /// Added, registration not finished.
    Pending,
    /// Registered and able to send.
    Connected,
    /// Meta flagged the number (quality); it can still send.
    Flagged,
    /// Meta restricted the number; sending is refused.
    Restricted,
    /// Deregistered or disconnected by an operator.
    Disconnected,
    /// Banned by Meta.
    Banned,
}
