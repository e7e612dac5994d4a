//! What a caller hands the dispatcher: the few things a caller may decide about a message.
//! Everything else in the stored record (status, attempts, wamid, timestamps) is the
//! dispatcher's, so a caller cannot forge it.

use crate::content::{MessageContent, OutboundMessage};
use crate::ids::{CampaignId, ChannelId, RecipientId, TenantId};
use crate::model::message::{MessageRecord, Priority};
use crate::phone::PhoneNumber;

/// A message to send, as [`Dispatcher::submit`](super::Dispatcher::submit) accepts it.
///
/// ```
/// use wagw_core::content::MessageContent;
/// use wagw_core::dispatch::NewMessage;
/// use wagw_core::ids::{ChannelId, TenantId};
/// use wagw_core::model::message::Priority;
/// use wagw_core::phone::PhoneNumber;
///
/// let to = PhoneNumber::from_wa_id("628123456789").unwrap();
/// let message = NewMessage::new(TenantId::new(), ChannelId::new(), to, MessageContent::text("Halo"))
///     .priority(Priority::Urgent)
///     .idempotency_key("order-1042-paid");
/// assert_eq!(message.to.as_str(), "628123456789");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewMessage {
    /// The tenant sending it; the channel must be this tenant's.
    pub tenant: TenantId,
    /// The number it is sent from.
    pub channel: ChannelId,
    /// The recipient, stated once: the Cloud API body is addressed from it.
    pub to: PhoneNumber,
    /// What is sent.
    pub content: MessageContent,
    /// The wamid of the message this one replies to.
    pub reply_to: Option<String>,
    /// Opaque tracking string Meta echoes in status webhooks.
    pub callback_data: Option<String>,
    /// Dispatch priority.
    pub priority: Priority,
    /// A second message with the same key in the same tenant is not created.
    pub idempotency_key: Option<String>,
    /// The campaign and recipient it is sent for.
    pub campaign: Option<(CampaignId, RecipientId)>,
}

impl NewMessage {
    /// A normal-priority message with no key or campaign. (Messages for later go through the
    /// [`Scheduler`](crate::scheduler::Scheduler).)
    pub fn new(
        tenant: TenantId,
        channel: ChannelId,
        to: PhoneNumber,
        content: MessageContent,
    ) -> Self {
        Self {
            tenant,
            channel,
            to,
            content,
            reply_to: None,
            callback_data: None,
            priority: Priority::Normal,
            idempotency_key: None,
            campaign: None,
        }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sends it as a reply to the message with this wamid.
    pub fn in_reply_to(mut self, wamid: impl Into<String>) -> Self {
        self.reply_to = Some(wamid.into());
        self
    }

    /// Attaches a tracking string Meta echoes in status webhooks.
    pub fn callback_data(mut self, data: impl Into<String>) -> Self {
        self.callback_data = Some(data.into());
        self
    }

    /// Marks it as a campaign's message to one of its recipients.
    pub fn campaign(mut self, campaign: CampaignId, recipient: RecipientId) -> Self {
        self.campaign = Some((campaign, recipient));
        self
    }

    /// The Cloud API body, addressed to [`to`](Self::to).
    pub fn body(&self) -> OutboundMessage {
        let mut body = OutboundMessage::new(self.to.as_str(), self.content.clone());
        body.context = self
            .reply_to
            .as_ref()
            .map(crate::content::ReplyContext::new);
        body.biz_opaque_callback_data
            .clone_from(&self.callback_data);
        body
    }

    /// The record the dispatcher stores: queued, no attempts, no wamid.
    pub(crate) fn into_record(self) -> MessageRecord {
        let body = self.body();
        let mut record =
            MessageRecord::outbound(self.tenant, self.channel, self.to, body, self.priority);
        record.idempotency_key = self.idempotency_key;
        if let Some((campaign, recipient)) = self.campaign {
            record.campaign_id = Some(campaign);
            record.recipient_id = Some(recipient);
        }
        record
    }
}
