//! The [`Store`]: all persistence of the domain model, split by aggregate.
//!
//! A backend implements each sub-trait; [`Store`] is then implemented for it automatically and
//! can be used as `Arc<dyn Store>`. Rules every backend follows (the conformance suite in
//! [`testkit`](crate::testkit) checks them):
//!
//! - **Tenant scope.** Every method takes the tenant (or an entity carrying it) and never
//!   reads or changes another tenant's data; another tenant's entity is simply
//!   [`NotFound`](crate::Error::NotFound). The few cross-tenant lookups that routing and
//!   background workers need (`find_api_key`, `find_channel_by_phone_number_id`,
//!   `due_schedules`, `due_campaigns`, `claim_due_deliveries`, `queued_messages`) say so and
//!   return records that carry their tenant.
//! - **Bad input changes nothing.** A call that returns an error has written nothing.
//! - **Statuses move forward only**, by [`MessageStatus::transition`] and
//!   [`RecipientStatus::can_move_to`]; stale updates are ignored, not errors.
//! - **Optimistic concurrency** for campaigns, sessions and schedules: an update carries the
//!   version it read; a stale version is a [`Conflict`](crate::Error::Conflict).
//! - **Listings page by cursor**: ids are time-ordered, results come oldest first.

mod page;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

pub use page::{Page, Paged};

use crate::Result;
use crate::conversation::events::StatusOutbox;
use crate::ids::*;
use crate::model::activity::ActivityEntry;
use crate::model::auto_reply::AutoReplyRule;
use crate::model::campaign::{
    Campaign, CampaignCounters, CampaignRecipient, RecipientStatus, Rejection,
};
use crate::model::channel::Channel;
use crate::model::contact::{Contact, ContactFilter, ContactList};
use crate::model::conversation::{
    ConversationJob, EngagementCount, HandledCount, InboundIngest, IngestResult, JobSettlement,
    VolumeBucket,
};
use crate::model::flow::{ConversationSession, Flow, FlowEngagement};
use crate::model::message::{
    Direction, MessageError, MessageRecord, MessageStatus, StatusChange, StatusUpdate,
};
use crate::model::schedule::ScheduledMessage;
use crate::model::template::{Template, TemplateStatus};
use crate::model::tenant::{ApiKey, QuotaResource, Tenant, UsagePeriod, User};
use crate::model::webhook::{
    AttemptTiming, DeliveryAttempt, DeliveryOutcome, WebhookDelivery, WebhookSubscription,
};
use crate::phone::PhoneNumber;

/// All persistence of the domain model. Implemented automatically for any type that
/// implements every sub-trait.
pub trait Store:
    TenantStore
    + ChannelStore
    + ContactStore
    + TemplateStore
    + MessageStore
    + CampaignStore
    + ConversationStore
    + ScheduleStore
    + WebhookStore
    + ActivityStore
    + InboundStore
    + AnalyticsStore
{
}

impl<T> Store for T where
    T: TenantStore
        + ChannelStore
        + ContactStore
        + TemplateStore
        + MessageStore
        + CampaignStore
        + ConversationStore
        + ScheduleStore
        + WebhookStore
        + ActivityStore
        + InboundStore
        + AnalyticsStore
        + ?Sized
{
}

/// Tenants, users, API keys and usage counters.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// Reads a tenant.
    async fn get_tenant(&self, id: TenantId) -> Result<Tenant>;
    /// Replaces a tenant's settings.
    async fn update_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// Lists tenants (operator view of the whole gateway).
    async fn list_tenants(&self, page: Page) -> Result<Paged<Tenant>>;

    /// Creates a user; the e-mail must be unique within the tenant.
    async fn create_user(&self, user: &User) -> Result<()>;
    /// Reads a user.
    async fn get_user(&self, tenant: TenantId, id: UserId) -> Result<User>;
    /// Finds a user by e-mail (case-insensitive) for login.
    async fn find_user_by_email(&self, tenant: TenantId, email: &str) -> Result<User>;
    /// Lists users.
    async fn list_users(&self, tenant: TenantId, page: Page) -> Result<Paged<User>>;
    /// Replaces a user.
    async fn update_user(&self, user: &User) -> Result<()>;
    /// Deletes a user.
    async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<()>;

    /// Stores an API key (its hash).
    async fn create_api_key(&self, key: &ApiKey) -> Result<()>;
    /// Cross-tenant: finds the key with this hash; this is how a request finds its tenant.
    async fn find_api_key(&self, hash: &str) -> Result<ApiKey>;
    /// Lists a tenant's keys.
    async fn list_api_keys(&self, tenant: TenantId, page: Page) -> Result<Paged<ApiKey>>;
    /// Revokes a key.
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, at: DateTime<Utc>)
    -> Result<()>;

    /// Atomically adds `amount` to a usage counter and returns the new total. With a `limit`,
    /// a total above it is refused with [`QuotaExceeded`](crate::Error::QuotaExceeded) and
    /// nothing is added.
    async fn add_usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
        amount: u64,
        limit: Option<u64>,
    ) -> Result<u64>;
    /// Reads a usage counter (zero when never used).
    async fn usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
    ) -> Result<u64>;
}

/// Channels (WhatsApp numbers).
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Creates a channel; its phone-number id must be unused by every tenant.
    async fn create_channel(&self, channel: &Channel) -> Result<()>;
    /// Reads a channel.
    async fn get_channel(&self, tenant: TenantId, id: ChannelId) -> Result<Channel>;
    /// Cross-tenant: the channel with Meta's phone-number id, to route inbound webhooks.
    async fn find_channel_by_phone_number_id(&self, phone_number_id: &str) -> Result<Channel>;
    /// Lists channels.
    async fn list_channels(&self, tenant: TenantId, page: Page) -> Result<Paged<Channel>>;
    /// Counts a tenant's channels (plan limit).
    async fn count_channels(&self, tenant: TenantId) -> Result<u64>;
    /// Replaces a channel.
    async fn update_channel(&self, channel: &Channel) -> Result<()>;
    /// Deletes a channel.
    async fn delete_channel(&self, tenant: TenantId, id: ChannelId) -> Result<()>;
}

/// How many contacts an upsert created and changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// New contacts.
    pub inserted: u64,
    /// Existing contacts merged.
    pub updated: u64,
}

/// Contacts and contact lists.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Inserts contacts or merges them into the existing contact with the same phone: the
    /// name is replaced when given, fields are overwritten key by key, tags and lists are
    /// added. Ids of merged contacts stay those stored.
    async fn upsert_contacts(&self, tenant: TenantId, contacts: &[Contact])
    -> Result<UpsertCounts>;
    /// Reads a contact.
    async fn get_contact(&self, tenant: TenantId, id: ContactId) -> Result<Contact>;
    /// Finds a contact by phone.
    async fn find_contact_by_phone(&self, tenant: TenantId, phone: &PhoneNumber)
    -> Result<Contact>;
    /// Replaces a contact (tags and fields included).
    async fn update_contact(&self, contact: &Contact) -> Result<()>;
    /// Deletes a contact.
    async fn delete_contact(&self, tenant: TenantId, id: ContactId) -> Result<()>;
    /// Lists contacts passing a filter.
    async fn list_contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        page: Page,
    ) -> Result<Paged<Contact>>;

    /// Streams every contact passing a filter, for campaign expansion: memory stays flat
    /// whatever the audience size. The default pages through [`list_contacts`](Self::list_contacts).
    fn stream_contacts<'a>(
        &'a self,
        tenant: TenantId,
        filter: ContactFilter,
    ) -> BoxStream<'a, Result<Contact>> {
        page::stream_pages(move |page| {
            let filter = filter.clone();
            async move { self.list_contacts(tenant, &filter, page).await }
        })
    }

    /// Creates a list; its name must be unique within the tenant.
    async fn create_list(&self, list: &ContactList) -> Result<()>;
    /// Reads a list.
    async fn get_list(&self, tenant: TenantId, id: ContactListId) -> Result<ContactList>;
    /// Lists lists.
    async fn list_lists(&self, tenant: TenantId, page: Page) -> Result<Paged<ContactList>>;
    /// Deletes a list and its memberships (not the contacts).
    async fn delete_list(&self, tenant: TenantId, id: ContactListId) -> Result<()>;
    /// Adds contacts to a list; returns how many were not members before.
    async fn add_to_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64>;
    /// Removes contacts from a list; returns how many were members.
    async fn remove_from_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64>;
}

/// Message templates.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Creates a template; (channel, name, language) must be unique.
    async fn create_template(&self, template: &Template) -> Result<()>;
    /// Reads a template.
    async fn get_template(&self, tenant: TenantId, id: TemplateId) -> Result<Template>;
    /// Finds a template by channel, name and language.
    async fn find_template(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        name: &str,
        language: &str,
    ) -> Result<Template>;
    /// Lists templates.
    async fn list_templates(&self, tenant: TenantId, page: Page) -> Result<Paged<Template>>;
    /// Replaces a template.
    async fn update_template(&self, template: &Template) -> Result<()>;
    /// Deletes a template.
    async fn delete_template(&self, tenant: TenantId, id: TemplateId) -> Result<()>;
    /// Sets the status of the template with Meta's id (status webhooks and sync).
    async fn set_template_status(
        &self,
        tenant: TenantId,
        remote_id: &str,
        status: TemplateStatus,
        reason: Option<String>,
    ) -> Result<Template>;
}

/// Whether an insert created a record or found one with the same idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The id of the created or existing message.
    pub id: MessageId,
    /// `false` when a message with the same idempotency key already existed.
    pub created: bool,
}

/// A status update addressed by WhatsApp message id, as status webhooks carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WamidUpdate {
    /// The WhatsApp message id.
    pub wamid: String,
    /// The update.
    pub update: StatusUpdate,
}

/// Which messages to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageQuery {
    /// Only this channel.
    pub channel: Option<ChannelId>,
    /// Only this other party.
    pub contact: Option<PhoneNumber>,
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only this status.
    pub status: Option<MessageStatus>,
    /// Only this campaign.
    pub campaign: Option<CampaignId>,
    /// Only messages created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only messages created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only messages whose [searchable text](MessageQuery::SEARCHED_PATHS) contains this,
    /// ignoring the case of ASCII letters (other characters match exactly, on every backend).
    pub text: Option<String>,
}

impl MessageQuery {
    /// Whether `message` passes the query.
    pub fn matches(&self, message: &MessageRecord) -> bool {
        self.channel.is_none_or(|c| c == message.channel_id)
            && self
                .contact
                .as_ref()
                .is_none_or(|c| *c == message.contact_phone)
            && self.direction.is_none_or(|d| d == message.direction)
            && self.status.is_none_or(|s| s == message.status)
            && self.campaign.is_none_or(|c| Some(c) == message.campaign_id)
            && self.since.is_none_or(|at| message.created_at >= at)
            && self.until.is_none_or(|at| message.created_at < at)
            && self.text.as_deref().is_none_or(|needle| {
                searchable_text(message)
                    .to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase())
            })
    }

    /// The parts of a stored message body that [`text`](Self::text) searches, as paths into
    /// its JSON form (`{"direction", "message": <Meta's wire shape>}`): the text, captions,
    /// a document's file name, a template's name and the titles of interactive replies.
    /// SQL backends read the same paths, joined by newlines in this order (absent ones empty).
    pub const SEARCHED_PATHS: [&'static [&'static str]; 8] = [
        &["message", "text", "body"],
        &["message", "image", "caption"],
        &["message", "video", "caption"],
        &["message", "document", "caption"],
        &["message", "document", "filename"],
        &["message", "template", "name"],
        &["message", "interactive", "button_reply", "title"],
        &["message", "interactive", "list_reply", "title"],
    ];
}

/// The text [`MessageQuery::text`] searches in a message: the string values at
/// [`MessageQuery::SEARCHED_PATHS`], an absent one as the empty string, joined by newlines.
pub fn searchable_text(message: &MessageRecord) -> String {
    let Ok(body) = serde_json::to_value(&message.body) else {
        return String::new();
    };
    let parts: Vec<&str> = MessageQuery::SEARCHED_PATHS
        .iter()
        .map(|path| {
            path.iter()
                .try_fold(&body, |value, key| value.get(key))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
        })
        .collect();
    parts.join("\n")
}

/// What [`InboundStore::apply_statuses`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedStatuses {
    /// Per update, in input order: the change, or `None` for a wamid not recorded yet (the
    /// update is kept, as by [`MessageStore::update_statuses_by_wamid`]).
    pub changes: Vec<Option<StatusChange>>,
    /// Outbox rows written.
    pub deliveries: u64,
}

/// Message records, in and out.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Records a message. A message whose idempotency key the tenant already used is not
    /// created; the existing id comes back with `created: false`.
    async fn insert_message(&self, message: &MessageRecord) -> Result<Inserted>;
    /// Records many messages with the same rule, in one go; results are in input order.
    async fn insert_messages(&self, messages: &[MessageRecord]) -> Result<Vec<Inserted>>;
    /// Reads a message.
    async fn get_message(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord>;
    /// Finds a message by WhatsApp message id.
    async fn find_message_by_wamid(&self, tenant: TenantId, wamid: &str) -> Result<MessageRecord>;
    /// Lists messages, oldest first.
    async fn list_messages(
        &self,
        tenant: TenantId,
        query: &MessageQuery,
        page: Page,
    ) -> Result<Paged<MessageRecord>>;
    /// Applies a status update if it moves the message forward; stale updates change nothing.
    /// An update that records a wamid also applies, in the same atomic step, the statuses
    /// kept for it (see [`update_statuses_by_wamid`](Self::update_statuses_by_wamid)); the
    /// returned `to` is then the final status.
    async fn update_status(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<StatusChange>;
    /// Applies status updates by WhatsApp id, in one go. Results are in input order; `None`
    /// for an unknown wamid.
    ///
    /// An update for an unknown wamid is kept, not lost: Meta can deliver a status webhook
    /// before the send's answer (the wamid) is recorded. Kept updates are applied, by the
    /// forward-only rule, when a status update carrying that wamid is recorded through
    /// [`update_status`](Self::update_status) or [`record_outcome`](Self::record_outcome);
    /// a redelivered kept update is kept once.
    async fn update_statuses_by_wamid(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>>;
    /// Records a send attempt: `queued` becomes `sending`, `attempts` grows by one. Returns the
    /// message as it is now; a message already past `sending` is returned unchanged, so the
    /// caller can see it must not be sent again.
    async fn record_attempt(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord>;
    /// Flags a message whose last attempt had an unknown outcome.
    async fn mark_ambiguous(&self, tenant: TenantId, id: MessageId) -> Result<()>;
    /// Puts a `sending` message back to `queued` after its attempt number `attempt` was
    /// refused without reaching WhatsApp (throttled, or a failure the transport knows happened
    /// before the request was taken), while it waits for its retry. The store then says what
    /// is true — the message is not out — and a queue rebuilt from the store after losing its
    /// data sends it again instead of settling it as an unknown outcome. Changes nothing and
    /// returns `false` unless the message is `sending` with exactly `attempt` attempts (a later
    /// attempt or an outcome wins).
    async fn requeue_message(&self, tenant: TenantId, id: MessageId, attempt: u32) -> Result<bool>;
    /// The `created_at` of the user's latest inbound message on this channel: the 24-hour
    /// customer-service window runs from then.
    async fn last_inbound_at(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<DateTime<Utc>>>;

    /// Records the outcome of a send in one atomic step: applies `update` with the rule of
    /// [`update_status`](Self::update_status) and, when given, the campaign `recipient` update
    /// with the rule of [`CampaignStore::update_recipients`], so a crash never leaves the
    /// message terminal and its recipient pending.
    ///
    /// Like `update_status`, an update carrying a wamid also applies the statuses kept for that
    /// wamid (see [`update_statuses_by_wamid`](Self::update_statuses_by_wamid)); the returned
    /// `to` is the final status. When kept statuses were applied, the recipient ends at
    /// [`RecipientStatus::from_message`] of the final status, with the failure's reason when
    /// the message ended `failed`. An unknown message is [`NotFound`](crate::Error::NotFound)
    /// and changes nothing.
    async fn record_outcome(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
        recipient: Option<&RecipientUpdate>,
    ) -> Result<StatusChange>;

    /// Deletes kept statuses (for wamids never recorded) whose time is before `before`, and
    /// returns how many. The dispatcher or runtime calls it now and then, e.g. for entries
    /// older than a day: Meta answers a send within seconds, so older ones will never match.
    async fn prune_pending_statuses(&self, before: DateTime<Utc>) -> Result<u64>;

    /// Charges one message to the tenant's [`MessagesPerMonth`](QuotaResource::MessagesPerMonth)
    /// usage for `period`, exactly once per message: the first call adds 1 (refused with
    /// [`QuotaExceeded`](crate::Error::QuotaExceeded) past `limit`, changing nothing, as
    /// [`TenantStore::add_usage`]) and marks the message charged, atomically, returning `true`;
    /// later calls return `false` and change nothing, however often the message is held,
    /// released, retried or fed again.
    async fn charge_message(
        &self,
        tenant: TenantId,
        id: MessageId,
        period: &UsagePeriod,
        limit: Option<u64>,
    ) -> Result<bool>;

    /// Cross-tenant: outbound messages still `queued` that were created before
    /// `created_before`, ordered by id (time-ordered), paged by cursor. The records carry their
    /// tenant. A reconciler uses it to enqueue again queued messages whose job was lost; its
    /// cost follows the queued messages, not all messages.
    async fn queued_messages(
        &self,
        created_before: DateTime<Utc>,
        page: Page,
    ) -> Result<Paged<MessageRecord>>;

    /// Cross-tenant: outbound messages in `sending` (an attempt recorded, its outcome not),
    /// ordered by id, paged by cursor. The records carry their tenant. After the queue lost
    /// its data, these messages lost their jobs too; a rebuild queues them again so that the
    /// dispatcher settles their unknown outcome instead of leaving them `sending` forever.
    async fn sending_messages(&self, page: Page) -> Result<Paged<MessageRecord>>;

    /// Fails every message of the campaign that is still `queued` (never attempted) with
    /// `error`, and moves their recipients to `recipient_status` with the error's reason (by
    /// the forward-only rule), atomically. Returns how many messages failed. Used when a
    /// campaign is cancelled (reason `campaign_cancelled`). Another tenant's campaign is
    /// [`NotFound`](crate::Error::NotFound).
    async fn fail_queued_campaign_messages(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        error: &MessageError,
        recipient_status: RecipientStatus,
    ) -> Result<u64>;
}

/// A change to a campaign recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientUpdate {
    /// The recipient.
    pub id: RecipientId,
    /// The new status; ignored if it would move backwards.
    pub status: RecipientStatus,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The message sent to the recipient.
    pub message_id: Option<MessageId>,
}

/// Campaigns, their recipients and the audience inputs they refused.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates a campaign (version 0).
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()>;
    /// Reads a campaign.
    async fn get_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign>;
    /// Lists campaigns.
    async fn list_campaigns(&self, tenant: TenantId, page: Page) -> Result<Paged<Campaign>>;
    /// Replaces a campaign if its `version` is the stored one; returns the new version.
    async fn update_campaign(&self, campaign: &Campaign) -> Result<u64>;
    /// Replaces a campaign like [`update_campaign`](Self::update_campaign) and adds `deliveries`
    /// to the outbox (rule of [`WebhookStore::enqueue_deliveries`]) in the same atomic step:
    /// a state change and its events (a campaign's completion) are stored together or not at
    /// all, and a stale version writes neither.
    async fn update_campaign_with_deliveries(
        &self,
        campaign: &Campaign,
        deliveries: &[WebhookDelivery],
    ) -> Result<u64>;
    /// Deletes a campaign with its recipients, rejections and counters; a running one is
    /// refused with [`CampaignInProgress`](crate::Error::CampaignInProgress).
    async fn delete_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<()>;
    /// Cross-tenant: the campaigns a driver has work for at `now`, paged by id: those
    /// `running`, and those `scheduled` whose `start_at` is unset or not after `now`. Backends
    /// read only these (an index on state and start time), never every tenant's campaigns.
    async fn due_campaigns(&self, now: DateTime<Utc>, page: Page) -> Result<Paged<Campaign>>;

    /// Adds recipients; a phone already in the campaign is skipped. Returns how many were added.
    async fn insert_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<u64> {
        let skipped = self
            .insert_recipients_reporting(tenant, campaign, recipients)
            .await?;
        Ok((recipients.len() - skipped.len()) as u64)
    }
    /// Adds recipients like [`insert_recipients`](Self::insert_recipients) and says which were
    /// skipped: the positions in `recipients`, ascending, of those whose phone the campaign
    /// already had (stored before, or earlier in `recipients`). Recipient ids must be new.
    async fn insert_recipients_reporting(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<Vec<usize>>;
    /// Reads a recipient.
    async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<CampaignRecipient>;
    /// Lists recipients, optionally of one status.
    async fn list_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        status: Option<RecipientStatus>,
        page: Page,
    ) -> Result<Paged<CampaignRecipient>>;
    /// Applies recipient updates that move the status forward (reason and message id come
    /// along); an update that repeats the current status may still attach a message id.
    /// Unknown ids and other tenants' recipients are ignored. Returns how many statuses moved.
    async fn update_recipients(&self, tenant: TenantId, updates: &[RecipientUpdate])
    -> Result<u64>;
    /// Makes the campaign's failed recipients pending again, without reason or message, for
    /// another round ([`CampaignEngine::retry_failed`](crate::campaign::CampaignEngine::retry_failed)).
    /// This is the one move back a recipient can make, and only by this explicit call.
    /// Returns how many were reset.
    async fn retry_failed_recipients(&self, tenant: TenantId, campaign: CampaignId) -> Result<u64>;
    /// Counts recipients by status, refused inputs as `skipped`. The counts are maintained as
    /// recipients change (by every path that changes them), not recounted: the cost does not
    /// grow with the audience.
    async fn campaign_counters(&self, tenant: TenantId, id: CampaignId)
    -> Result<CampaignCounters>;

    /// Stores audience inputs the campaign refused; every one counts as `skipped` and there is
    /// no cap. Each must belong to `tenant` and `campaign` (otherwise nothing is stored); an id
    /// already stored is not stored again. Returns how many were stored.
    async fn insert_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        rejections: &[Rejection],
    ) -> Result<u64>;
    /// Lists the campaign's refused inputs in the order they were refused.
    async fn list_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Paged<Rejection>>;
}

/// Chatbot flows, conversation sessions and auto-reply rules.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Creates a flow.
    async fn create_flow(&self, flow: &Flow) -> Result<()>;
    /// Reads a flow.
    async fn get_flow(&self, tenant: TenantId, id: FlowId) -> Result<Flow>;
    /// Lists flows.
    async fn list_flows(&self, tenant: TenantId, page: Page) -> Result<Paged<Flow>>;
    /// Replaces a flow.
    async fn update_flow(&self, flow: &Flow) -> Result<()>;
    /// Deletes a flow.
    async fn delete_flow(&self, tenant: TenantId, id: FlowId) -> Result<()>;

    /// The session of a user on a channel, if any.
    async fn get_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<ConversationSession>>;
    /// Saves a session. Version 0 creates it (a conflict if the user already has one);
    /// otherwise the stored version must equal the session's. Returns the new version.
    async fn save_session(&self, session: &ConversationSession) -> Result<u64> {
        self.save_session_with_engagement(session, &[]).await
    }
    /// Saves a session like [`save_session`](Self::save_session) and records the turn's
    /// `engagement` steps in the same atomic step: a stale version records nothing, so a turn
    /// that loses the race is never counted ([`AnalyticsStore::flow_engagement_counts`]).
    async fn save_session_with_engagement(
        &self,
        session: &ConversationSession,
        engagement: &[FlowEngagement],
    ) -> Result<u64> {
        self.save_session_with_deliveries(session, engagement, &[])
            .await
    }
    /// Saves a session with its turn's `engagement` steps like
    /// [`save_session_with_engagement`](Self::save_session_with_engagement) and writes the
    /// turn's outbox `deliveries` (`flow_completed`, `flow_handed_off`:
    /// [`flow_outcome`](crate::conversation::events::flow_outcome)) in the same atomic step,
    /// with the rule of [`WebhookStore::enqueue_deliveries`]. A stale version, a step of another
    /// tenant or a delivery refused writes none of them, so a crash or a lost race never keeps
    /// a session without its events, nor events of a turn that was not saved.
    async fn save_session_with_deliveries(
        &self,
        session: &ConversationSession,
        engagement: &[FlowEngagement],
        deliveries: &[WebhookDelivery],
    ) -> Result<u64>;
    /// Deletes a session.
    async fn delete_session(&self, tenant: TenantId, id: SessionId) -> Result<()>;
    /// Cross-tenant: sessions whose [`due_at`](ConversationSession::due_at) (node timeout,
    /// expiry or end of a hand-off) is not after `now`, earliest first, at most `limit`. A
    /// sweeper passes each to [`FlowEngine::wake`](crate::FlowEngine::wake) and saves the
    /// result with its version check, so two sweepers never both apply a wake-up. Backends
    /// keep the due time in an index as sessions are saved: the cost follows the due sessions.
    async fn due_sessions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ConversationSession>>;

    /// Creates an auto-reply rule. With a `limit`, the tenant's stored rules are counted and
    /// the rule is refused with [`QuotaExceeded`](crate::Error::QuotaExceeded) when it would
    /// make more than `limit`, nothing written. Count and insert are one atomic step: rules
    /// created concurrently never pass the limit together.
    async fn create_rule(&self, rule: &AutoReplyRule, limit: Option<u64>) -> Result<()>;
    /// Reads a rule.
    async fn get_rule(&self, tenant: TenantId, id: RuleId) -> Result<AutoReplyRule>;
    /// Lists rules, highest priority first.
    async fn list_rules(&self, tenant: TenantId) -> Result<Vec<AutoReplyRule>>;
    /// Replaces a rule.
    async fn update_rule(&self, rule: &AutoReplyRule) -> Result<()>;
    /// Deletes a rule.
    async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<()>;
}

/// Scheduled messages.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Creates a schedule (version 0).
    async fn create_schedule(&self, schedule: &ScheduledMessage) -> Result<()>;
    /// Reads a schedule.
    async fn get_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<ScheduledMessage>;
    /// Lists schedules.
    async fn list_schedules(&self, tenant: TenantId, page: Page)
    -> Result<Paged<ScheduledMessage>>;
    /// Counts a tenant's schedules (plan limit).
    async fn count_schedules(&self, tenant: TenantId) -> Result<u64>;
    /// Replaces a schedule if its `version` is the stored one; returns the new version. Two
    /// schedulers firing the same run race here and one gets a conflict.
    async fn update_schedule(&self, schedule: &ScheduledMessage) -> Result<u64>;
    /// Deletes a schedule.
    async fn delete_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<()>;
    /// Cross-tenant: active schedules due at `now`, earliest first.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduledMessage>>;
}

/// Webhook subscriptions and the delivery outbox.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Creates a subscription.
    async fn create_subscription(&self, subscription: &WebhookSubscription) -> Result<()>;
    /// Reads a subscription.
    async fn get_subscription(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<WebhookSubscription>;
    /// Lists a tenant's subscriptions.
    async fn list_subscriptions(&self, tenant: TenantId) -> Result<Vec<WebhookSubscription>>;
    /// Replaces a subscription.
    async fn update_subscription(&self, subscription: &WebhookSubscription) -> Result<()>;
    /// Deletes a subscription and its pending deliveries.
    async fn delete_subscription(&self, tenant: TenantId, id: SubscriptionId) -> Result<()>;

    /// Adds deliveries to the outbox.
    async fn enqueue_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<()>;
    /// Cross-tenant: takes up to `limit` pending deliveries due at `now` and hides them for
    /// `lease`, so that concurrent workers never take the same one.
    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Records the outcome of an attempt and appends it to the delivery's attempt log
    /// ([`list_delivery_attempts`](Self::list_delivery_attempts)) in one atomic step; returns
    /// the delivery as it is now.
    async fn record_delivery_attempt(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        outcome: &DeliveryOutcome,
        timing: &AttemptTiming,
    ) -> Result<WebhookDelivery>;
    /// Every logged attempt of a delivery, oldest first (numbered from 1). Another tenant's
    /// delivery is [`NotFound`](crate::Error::NotFound).
    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>>;
    /// Lists deliveries, optionally of one subscription.
    async fn list_deliveries(
        &self,
        tenant: TenantId,
        subscription: Option<SubscriptionId>,
        page: Page,
    ) -> Result<Paged<WebhookDelivery>>;
    /// Makes a delivered or dead delivery pending again, due at `at`.
    async fn replay_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

/// The activity log.
#[async_trait]
pub trait ActivityStore: Send + Sync {
    /// Appends an entry.
    async fn append_activity(&self, entry: &ActivityEntry) -> Result<()>;
    /// Lists entries, oldest first.
    async fn list_activity(&self, tenant: TenantId, page: Page) -> Result<Paged<ActivityEntry>>;
}

/// The inbound pipeline's durable steps: inbound messages stored once with their contact,
/// conversation job and outbox rows; status webhooks applied with their outbox rows;
/// conversation jobs; auto-reply cooldowns (and their pruning); routing of account-level
/// webhooks.
#[async_trait]
pub trait InboundStore: Send + Sync {
    /// Stores one inbound message with everything it implies, atomically: the message
    /// (deduplicated by its idempotency key `in:{wamid}`), the sender's contact upserted with
    /// the [`ContactProfile`](crate::model::conversation::ContactProfile) (a new contact is
    /// named after the profile; an existing contact keeps its name and gets the profile fields),
    /// a pending [`ConversationJob`] due now when `answer` is set, and the outbox `deliveries`.
    /// A message stored before is a redelivery: nothing is written and `created` is `false`.
    async fn ingest_inbound(&self, ingest: &InboundIngest) -> Result<IngestResult>;

    /// Cross-tenant: claims up to `limit` pending conversation jobs due at `now`, hiding them
    /// for `lease` and counting the attempt. Only the oldest pending job of each
    /// (tenant, channel, contact) can be claimed, so one contact's messages are answered one at
    /// a time and in order, by any number of workers. Results are oldest first.
    async fn claim_conversation_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<ConversationJob>>;

    /// Reads the conversation job of an inbound message.
    async fn get_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<ConversationJob>;

    /// Settles a run of a job: done (with what answered), retry later, or failed.
    async fn settle_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
        settlement: &JobSettlement,
    ) -> Result<()>;

    /// Takes a rule's cooldown for one contact on one channel, atomically: when no cooldown
    /// runs at `now`, or the running one was taken by the same `holder` (a re-run of the job
    /// that took it), one is set to run until `until` for `holder` and `true` comes back;
    /// otherwise nothing changes and `false` comes back.
    #[allow(clippy::too_many_arguments)]
    async fn take_cooldown(
        &self,
        tenant: TenantId,
        rule: RuleId,
        channel: ChannelId,
        contact: &PhoneNumber,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Cross-tenant: deletes the rule cooldowns that ended before `before` and returns how
    /// many. An ended cooldown changes nothing ([`take_cooldown`](Self::take_cooldown) treats
    /// it like none), so a runtime calls this now and then (e.g. hourly, with `now`) to keep
    /// the table as small as the running cooldowns.
    async fn prune_cooldowns(&self, before: DateTime<Utc>) -> Result<u64>;

    /// Applies status webhooks in one atomic step: the updates by wamid (rule of
    /// [`MessageStore::update_statuses_by_wamid`]), the campaign recipients of the messages that
    /// moved (rule of [`recipient_updates`](crate::ingest::recipient_updates)), and the outbox
    /// rows `outbox` makes of what moved
    /// ([`StatusOutbox::deliveries`](crate::conversation::events::StatusOutbox::deliveries),
    /// campaign counters read after the recipients moved). A crash therefore never stores a
    /// status without its events. Changes are in input order, as `update_statuses_by_wamid`.
    async fn apply_statuses(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
        outbox: &StatusOutbox,
    ) -> Result<AppliedStatuses>;

    /// Cross-tenant: the channels of a WhatsApp Business Account, to route account-level
    /// webhooks (template status) that name no phone number.
    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>>;
}

/// Read-only figures for analytics, computed by the backend over indexed columns.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Messages created in `[from, to)` counted per 15-minute bucket, channel, direction and
    /// current status; buckets without messages are left out.
    async fn message_volume(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeBucket>>;

    /// Conversation jobs done in `[from, to)` (by the inbound message's arrival) counted per
    /// channel and what answered them.
    async fn handled_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HandledCount>>;

    /// Flow-engagement steps recorded in `[from, to)`, counted per flow, kind and node.
    async fn flow_engagement_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EngagementCount>>;

    /// How many of the campaign's messages that reached WhatsApp (`sent` or further) got an
    /// inbound message from their recipient on the same channel within `within` after the
    /// message was created.
    async fn campaign_replies(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        within: std::time::Duration,
    ) -> Result<u64>;
}
