use crate::Store;
use crate::content::{MessageContent, OutboundMessage};
use crate::ids::ChannelId;
use crate::model::channel::Channel;
use crate::model::message::{MessageRecord, Priority};
use crate::model::tenant::{Plan, Tenant};
use crate::phone::PhoneNumber;

/// Two tenants with one channel each: the starting point of most conformance cases.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The tenant a case works with.
    pub tenant: Tenant,
    /// Its channel.
    pub channel: Channel,
    /// A second tenant, to prove isolation.
    pub other: Tenant,
    /// The second tenant's channel.
    pub other_channel: Channel,
}

impl Fixture {
    /// Creates both tenants and channels in `store`.
    pub async fn new(store: &dyn Store) -> Self {
        let tenant = Tenant::new("Toko Maju", Plan::premium());
        let other = Tenant::new("Warung Sebelah", Plan::basic());
        let channel = Self::make_channel(&tenant, 1);
        let other_channel = Self::make_channel(&other, 2);
        for t in [&tenant, &other] {
            store.create_tenant(t).await.expect("create tenant");
        }
        for c in [&channel, &other_channel] {
            store.create_channel(c).await.expect("create channel");
        }
        Self {
            tenant,
            channel,
            other,
            other_channel,
        }
    }

    fn make_channel(tenant: &Tenant, n: u64) -> Channel {
        // Random phone-number ids keep fixtures independent when a store is shared.
        let pnid = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000_000) + 1;
        Channel::new(
            tenant.id,
            format!("channel {n}"),
            pnid.to_string(),
            "102290129340398",
            phone(9_000 + n),
        )
    }

    /// A queued text message from the fixture tenant's channel.
    pub fn message(&self, to: u64, body: &str) -> MessageRecord {
        message_for(&self.tenant, self.channel.id, to, body)
    }

    /// A queued text message from the other tenant's channel.
    pub fn other_message(&self, to: u64, body: &str) -> MessageRecord {
        message_for(&self.other, self.other_channel.id, to, body)
    }
}

fn message_for(tenant: &Tenant, channel: ChannelId, to: u64, body: &str) -> MessageRecord {
    let phone = phone(to);
    let content = OutboundMessage::new(phone.as_str(), MessageContent::text(body));
    MessageRecord::outbound(tenant.id, channel, phone, content, Priority::Normal)
}

/// A distinct, valid Indonesian mobile number for each `n` (6281200000000 + n).
pub fn phone(n: u64) -> PhoneNumber {
    PhoneNumber::from_wa_id(&format!("{}", 6_281_200_000_000u64 + n)).expect("valid test number")
}
