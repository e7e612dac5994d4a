//! [`CrashingStore`]: a [`Store`] decorator whose process "dies" after a chosen number of
//! store calls, to prove that a multi-step operation leaves nothing half-written.
//!
//! The first `n` calls reach the inner store; every later call fails with a transient
//! [`Backend`](crate::Error::Backend) error without touching it, as nothing runs in a dead
//! process. A test runs an operation through the decorator for every `n` until it completes,
//! then "restarts" on the inner store, which holds exactly what the dead process left behind,
//! and checks the outcome.
//!
//! ```
//! use std::sync::Arc;
//! use wagw_core::testkit::crashing_store::CrashingStore;
//! # fn demo(inner: Arc<dyn wagw_core::Store>) {
//! let dying = CrashingStore::new(inner, 3);
//! assert!(!dying.crashed());
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
use crate::model::message::{MessageError, MessageRecord, StatusChange, StatusUpdate};
use crate::model::schedule::ScheduledMessage;
use crate::model::template::{Template, TemplateStatus};
use crate::model::tenant::{ApiKey, QuotaResource, Tenant, UsagePeriod, User};
use crate::model::webhook::{
    AttemptTiming, DeliveryAttempt, DeliveryOutcome, WebhookDelivery, WebhookSubscription,
};
use crate::phone::PhoneNumber;
use crate::store::*;
use crate::{Error, Result};

/// A [`Store`] that passes its first `survive` calls to `inner` and fails every later one.
#[derive(Debug)]
pub struct CrashingStore<S: ?Sized> {
    inner: Arc<S>,
    survive: u64,
    calls: AtomicU64,
}

impl<S: ?Sized> CrashingStore<S> {
    /// Dies after `survive` calls.
    pub fn new(inner: Arc<S>, survive: u64) -> Self {
        Self {
            inner,
            survive,
            calls: AtomicU64::new(0),
        }
    }

    /// Whether a call was refused: the simulated process died before its work was done.
    pub fn crashed(&self) -> bool {
        self.calls.load(Ordering::Acquire) > self.survive
    }

    /// Counts a call; refuses it past the survival count.
    fn step(&self, method: &'static str) -> Result<()> {
        let n = self.calls.fetch_add(1, Ordering::AcqRel) + 1;
        if n > self.survive {
            return Err(Error::Backend {
                message: format!("the process died before store call {n} ({method})"),
                transient: true,
                source: None,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl<S: Store + ?Sized> TenantStore for CrashingStore<S> {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.step("create_tenant")?;
        self.inner.create_tenant(tenant).await
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Tenant> {
        self.step("get_tenant")?;
        self.inner.get_tenant(id).await
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.step("update_tenant")?;
        self.inner.update_tenant(tenant).await
    }

    async fn list_tenants(&self, page: Page) -> Result<Paged<Tenant>> {
        self.step("list_tenants")?;
        self.inner.list_tenants(page).await
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        self.step("create_user")?;
        self.inner.create_user(user).await
    }

    async fn get_user(&self, tenant: TenantId, id: UserId) -> Result<User> {
        self.step("get_user")?;
        self.inner.get_user(tenant, id).await
    }

    async fn find_user_by_email(&self, tenant: TenantId, email: &str) -> Result<User> {
        self.step("find_user_by_email")?;
        self.inner.find_user_by_email(tenant, email).await
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> Result<Paged<User>> {
        self.step("list_users")?;
        self.inner.list_users(tenant, page).await
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        self.step("update_user")?;
        self.inner.update_user(user).await
    }

    async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<()> {
        self.step("delete_user")?;
        self.inner.delete_user(tenant, id).await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<()> {
        self.step("create_api_key")?;
        self.inner.create_api_key(key).await
    }

    async fn find_api_key(&self, hash: &str) -> Result<ApiKey> {
        self.step("find_api_key")?;
        self.inner.find_api_key(hash).await
    }

    async fn list_api_keys(&self, tenant: TenantId, page: Page) -> Result<Paged<ApiKey>> {
        self.step("list_api_keys")?;
        self.inner.list_api_keys(tenant, page).await
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.step("revoke_api_key")?;
        self.inner.revoke_api_key(tenant, id, at).await
    }

    async fn add_usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
        amount: u64,
        limit: Option<u64>,
    ) -> Result<u64> {
        self.step("add_usage")?;
        self.inner
            .add_usage(tenant, period, resource, amount, limit)
            .await
    }

    async fn usage(
        &self,
        tenant: TenantId,
        period: &UsagePeriod,
        resource: QuotaResource,
    ) -> Result<u64> {
        self.step("usage")?;
        self.inner.usage(tenant, period, resource).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> ChannelStore for CrashingStore<S> {
    async fn create_channel(&self, channel: &Channel) -> Result<()> {
        self.step("create_channel")?;
        self.inner.create_channel(channel).await
    }

    async fn get_channel(&self, tenant: TenantId, id: ChannelId) -> Result<Channel> {
        self.step("get_channel")?;
        self.inner.get_channel(tenant, id).await
    }

    async fn find_channel_by_phone_number_id(&self, phone_number_id: &str) -> Result<Channel> {
        self.step("find_channel_by_phone_number_id")?;
        self.inner
            .find_channel_by_phone_number_id(phone_number_id)
            .await
    }

    async fn list_channels(&self, tenant: TenantId, page: Page) -> Result<Paged<Channel>> {
        self.step("list_channels")?;
        self.inner.list_channels(tenant, page).await
    }

    async fn count_channels(&self, tenant: TenantId) -> Result<u64> {
        self.step("count_channels")?;
        self.inner.count_channels(tenant).await
    }

    async fn update_channel(&self, channel: &Channel) -> Result<()> {
        self.step("update_channel")?;
        self.inner.update_channel(channel).await
    }

    async fn delete_channel(&self, tenant: TenantId, id: ChannelId) -> Result<()> {
        self.step("delete_channel")?;
        self.inner.delete_channel(tenant, id).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> ContactStore for CrashingStore<S> {
    async fn upsert_contacts(
        &self,
        tenant: TenantId,
        contacts: &[Contact],
    ) -> Result<UpsertCounts> {
        self.step("upsert_contacts")?;
        self.inner.upsert_contacts(tenant, contacts).await
    }

    async fn get_contact(&self, tenant: TenantId, id: ContactId) -> Result<Contact> {
        self.step("get_contact")?;
        self.inner.get_contact(tenant, id).await
    }

    async fn find_contact_by_phone(
        &self,
        tenant: TenantId,
        phone: &PhoneNumber,
    ) -> Result<Contact> {
        self.step("find_contact_by_phone")?;
        self.inner.find_contact_by_phone(tenant, phone).await
    }

    async fn update_contact(&self, contact: &Contact) -> Result<()> {
        self.step("update_contact")?;
        self.inner.update_contact(contact).await
    }

    async fn delete_contact(&self, tenant: TenantId, id: ContactId) -> Result<()> {
        self.step("delete_contact")?;
        self.inner.delete_contact(tenant, id).await
    }

    async fn list_contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        page: Page,
    ) -> Result<Paged<Contact>> {
        self.step("list_contacts")?;
        self.inner.list_contacts(tenant, filter, page).await
    }

    async fn create_list(&self, list: &ContactList) -> Result<()> {
        self.step("create_list")?;
        self.inner.create_list(list).await
    }

    async fn get_list(&self, tenant: TenantId, id: ContactListId) -> Result<ContactList> {
        self.step("get_list")?;
        self.inner.get_list(tenant, id).await
    }

    async fn list_lists(&self, tenant: TenantId, page: Page) -> Result<Paged<ContactList>> {
        self.step("list_lists")?;
        self.inner.list_lists(tenant, page).await
    }

    async fn delete_list(&self, tenant: TenantId, id: ContactListId) -> Result<()> {
        self.step("delete_list")?;
        self.inner.delete_list(tenant, id).await
    }

    async fn add_to_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64> {
        self.step("add_to_list")?;
        self.inner.add_to_list(tenant, list, contacts).await
    }

    async fn remove_from_list(
        &self,
        tenant: TenantId,
        list: ContactListId,
        contacts: &[ContactId],
    ) -> Result<u64> {
        self.step("remove_from_list")?;
        self.inner.remove_from_list(tenant, list, contacts).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> TemplateStore for CrashingStore<S> {
    async fn create_template(&self, template: &Template) -> Result<()> {
        self.step("create_template")?;
        self.inner.create_template(template).await
    }

    async fn get_template(&self, tenant: TenantId, id: TemplateId) -> Result<Template> {
        self.step("get_template")?;
        self.inner.get_template(tenant, id).await
    }

    async fn find_template(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        name: &str,
        language: &str,
    ) -> Result<Template> {
        self.step("find_template")?;
        self.inner
            .find_template(tenant, channel, name, language)
            .await
    }

    async fn list_templates(&self, tenant: TenantId, page: Page) -> Result<Paged<Template>> {
        self.step("list_templates")?;
        self.inner.list_templates(tenant, page).await
    }

    async fn update_template(&self, template: &Template) -> Result<()> {
        self.step("update_template")?;
        self.inner.update_template(template).await
    }

    async fn delete_template(&self, tenant: TenantId, id: TemplateId) -> Result<()> {
        self.step("delete_template")?;
        self.inner.delete_template(tenant, id).await
    }

    async fn set_template_status(
        &self,
        tenant: TenantId,
        remote_id: &str,
        status: TemplateStatus,
        reason: Option<String>,
    ) -> Result<Template> {
        self.step("set_template_status")?;
        self.inner
            .set_template_status(tenant, remote_id, status, reason)
            .await
    }
}

#[async_trait]
impl<S: Store + ?Sized> MessageStore for CrashingStore<S> {
    async fn insert_message(&self, message: &MessageRecord) -> Result<Inserted> {
        self.step("insert_message")?;
        self.inner.insert_message(message).await
    }

    async fn insert_messages(&self, messages: &[MessageRecord]) -> Result<Vec<Inserted>> {
        self.step("insert_messages")?;
        self.inner.insert_messages(messages).await
    }

    async fn get_message(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        self.step("get_message")?;
        self.inner.get_message(tenant, id).await
    }

    async fn find_message_by_wamid(&self, tenant: TenantId, wamid: &str) -> Result<MessageRecord> {
        self.step("find_message_by_wamid")?;
        self.inner.find_message_by_wamid(tenant, wamid).await
    }

    async fn list_messages(
        &self,
        tenant: TenantId,
        query: &MessageQuery,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        self.step("list_messages")?;
        self.inner.list_messages(tenant, query, page).await
    }

    async fn sending_messages(&self, page: Page) -> Result<Paged<MessageRecord>> {
        self.step("sending_messages")?;
        self.inner.sending_messages(page).await
    }

    async fn update_status(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<StatusChange> {
        self.step("update_status")?;
        self.inner.update_status(tenant, id, update).await
    }

    async fn update_statuses_by_wamid(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        self.step("update_statuses_by_wamid")?;
        self.inner.update_statuses_by_wamid(tenant, updates).await
    }

    async fn record_attempt(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        self.step("record_attempt")?;
        self.inner.record_attempt(tenant, id).await
    }

    async fn mark_ambiguous(&self, tenant: TenantId, id: MessageId) -> Result<()> {
        self.step("mark_ambiguous")?;
        self.inner.mark_ambiguous(tenant, id).await
    }

    async fn requeue_message(&self, tenant: TenantId, id: MessageId, attempt: u32) -> Result<bool> {
        self.step("requeue_message")?;
        self.inner.requeue_message(tenant, id, attempt).await
    }

    async fn last_inbound_at(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<DateTime<Utc>>> {
        self.step("last_inbound_at")?;
        self.inner.last_inbound_at(tenant, channel, user).await
    }

    async fn record_outcome(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
        recipient: Option<&RecipientUpdate>,
    ) -> Result<StatusChange> {
        self.step("record_outcome")?;
        self.inner
            .record_outcome(tenant, id, update, recipient)
            .await
    }

    async fn prune_pending_statuses(&self, before: DateTime<Utc>) -> Result<u64> {
        self.step("prune_pending_statuses")?;
        self.inner.prune_pending_statuses(before).await
    }

    async fn charge_message(
        &self,
        tenant: TenantId,
        id: MessageId,
        period: &UsagePeriod,
        limit: Option<u64>,
    ) -> Result<bool> {
        self.step("charge_message")?;
        self.inner.charge_message(tenant, id, period, limit).await
    }

    async fn queued_messages(
        &self,
        created_before: DateTime<Utc>,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        self.step("queued_messages")?;
        self.inner.queued_messages(created_before, page).await
    }

    async fn fail_queued_campaign_messages(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        error: &MessageError,
        recipient_status: RecipientStatus,
    ) -> Result<u64> {
        self.step("fail_queued_campaign_messages")?;
        self.inner
            .fail_queued_campaign_messages(tenant, campaign, error, recipient_status)
            .await
    }
}

#[async_trait]
impl<S: Store + ?Sized> CampaignStore for CrashingStore<S> {
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()> {
        self.step("create_campaign")?;
        self.inner.create_campaign(campaign).await
    }

    async fn get_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        self.step("get_campaign")?;
        self.inner.get_campaign(tenant, id).await
    }

    async fn list_campaigns(&self, tenant: TenantId, page: Page) -> Result<Paged<Campaign>> {
        self.step("list_campaigns")?;
        self.inner.list_campaigns(tenant, page).await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> Result<u64> {
        self.step("update_campaign")?;
        self.inner.update_campaign(campaign).await
    }

    async fn update_campaign_with_deliveries(
        &self,
        campaign: &Campaign,
        deliveries: &[WebhookDelivery],
    ) -> Result<u64> {
        self.step("update_campaign_with_deliveries")?;
        self.inner
            .update_campaign_with_deliveries(campaign, deliveries)
            .await
    }

    async fn delete_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<()> {
        self.step("delete_campaign")?;
        self.inner.delete_campaign(tenant, id).await
    }

    async fn due_campaigns(&self, now: DateTime<Utc>, page: Page) -> Result<Paged<Campaign>> {
        self.step("due_campaigns")?;
        self.inner.due_campaigns(now, page).await
    }

    async fn insert_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<u64> {
        self.step("insert_recipients")?;
        self.inner
            .insert_recipients(tenant, campaign, recipients)
            .await
    }

    async fn insert_recipients_reporting(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<Vec<usize>> {
        self.step("insert_recipients_reporting")?;
        self.inner
            .insert_recipients_reporting(tenant, campaign, recipients)
            .await
    }

    async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<CampaignRecipient> {
        self.step("get_recipient")?;
        self.inner.get_recipient(tenant, id).await
    }

    async fn list_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        status: Option<RecipientStatus>,
        page: Page,
    ) -> Result<Paged<CampaignRecipient>> {
        self.step("list_recipients")?;
        self.inner
            .list_recipients(tenant, campaign, status, page)
            .await
    }

    async fn update_recipients(
        &self,
        tenant: TenantId,
        updates: &[RecipientUpdate],
    ) -> Result<u64> {
        self.step("update_recipients")?;
        self.inner.update_recipients(tenant, updates).await
    }

    async fn retry_failed_recipients(&self, tenant: TenantId, campaign: CampaignId) -> Result<u64> {
        self.step("retry_failed_recipients")?;
        self.inner.retry_failed_recipients(tenant, campaign).await
    }

    async fn campaign_counters(
        &self,
        tenant: TenantId,
        id: CampaignId,
    ) -> Result<CampaignCounters> {
        self.step("campaign_counters")?;
        self.inner.campaign_counters(tenant, id).await
    }

    async fn insert_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        rejections: &[Rejection],
    ) -> Result<u64> {
        self.step("insert_rejections")?;
        self.inner
            .insert_rejections(tenant, campaign, rejections)
            .await
    }

    async fn list_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Paged<Rejection>> {
        self.step("list_rejections")?;
        self.inner.list_rejections(tenant, campaign, page).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> ConversationStore for CrashingStore<S> {
    async fn create_flow(&self, flow: &Flow) -> Result<()> {
        self.step("create_flow")?;
        self.inner.create_flow(flow).await
    }

    async fn get_flow(&self, tenant: TenantId, id: FlowId) -> Result<Flow> {
        self.step("get_flow")?;
        self.inner.get_flow(tenant, id).await
    }

    async fn list_flows(&self, tenant: TenantId, page: Page) -> Result<Paged<Flow>> {
        self.step("list_flows")?;
        self.inner.list_flows(tenant, page).await
    }

    async fn update_flow(&self, flow: &Flow) -> Result<()> {
        self.step("update_flow")?;
        self.inner.update_flow(flow).await
    }

    async fn delete_flow(&self, tenant: TenantId, id: FlowId) -> Result<()> {
        self.step("delete_flow")?;
        self.inner.delete_flow(tenant, id).await
    }

    async fn get_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<ConversationSession>> {
        self.step("get_session")?;
        self.inner.get_session(tenant, channel, user).await
    }

    async fn save_session(&self, session: &ConversationSession) -> Result<u64> {
        self.step("save_session")?;
        self.inner.save_session(session).await
    }

    async fn save_session_with_engagement(
        &self,
        session: &ConversationSession,
        engagement: &[FlowEngagement],
    ) -> Result<u64> {
        self.step("save_session_with_engagement")?;
        self.inner
            .save_session_with_engagement(session, engagement)
            .await
    }

    async fn save_session_with_deliveries(
        &self,
        session: &ConversationSession,
        engagement: &[FlowEngagement],
        deliveries: &[WebhookDelivery],
    ) -> Result<u64> {
        self.step("save_session_with_deliveries")?;
        self.inner
            .save_session_with_deliveries(session, engagement, deliveries)
            .await
    }

    async fn delete_session(&self, tenant: TenantId, id: SessionId) -> Result<()> {
        self.step("delete_session")?;
        self.inner.delete_session(tenant, id).await
    }

    async fn due_sessions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ConversationSession>> {
        self.step("due_sessions")?;
        self.inner.due_sessions(now, limit).await
    }

    async fn create_rule(&self, rule: &AutoReplyRule, limit: Option<u64>) -> Result<()> {
        self.step("create_rule")?;
        self.inner.create_rule(rule, limit).await
    }

    async fn get_rule(&self, tenant: TenantId, id: RuleId) -> Result<AutoReplyRule> {
        self.step("get_rule")?;
        self.inner.get_rule(tenant, id).await
    }

    async fn list_rules(&self, tenant: TenantId) -> Result<Vec<AutoReplyRule>> {
        self.step("list_rules")?;
        self.inner.list_rules(tenant).await
    }

    async fn update_rule(&self, rule: &AutoReplyRule) -> Result<()> {
        self.step("update_rule")?;
        self.inner.update_rule(rule).await
    }

    async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<()> {
        self.step("delete_rule")?;
        self.inner.delete_rule(tenant, id).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> ScheduleStore for CrashingStore<S> {
    async fn create_schedule(&self, schedule: &ScheduledMessage) -> Result<()> {
        self.step("create_schedule")?;
        self.inner.create_schedule(schedule).await
    }

    async fn get_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<ScheduledMessage> {
        self.step("get_schedule")?;
        self.inner.get_schedule(tenant, id).await
    }

    async fn list_schedules(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Paged<ScheduledMessage>> {
        self.step("list_schedules")?;
        self.inner.list_schedules(tenant, page).await
    }

    async fn count_schedules(&self, tenant: TenantId) -> Result<u64> {
        self.step("count_schedules")?;
        self.inner.count_schedules(tenant).await
    }

    async fn update_schedule(&self, schedule: &ScheduledMessage) -> Result<u64> {
        self.step("update_schedule")?;
        self.inner.update_schedule(schedule).await
    }

    async fn delete_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<()> {
        self.step("delete_schedule")?;
        self.inner.delete_schedule(tenant, id).await
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduledMessage>> {
        self.step("due_schedules")?;
        self.inner.due_schedules(now, limit).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> WebhookStore for CrashingStore<S> {
    async fn create_subscription(&self, subscription: &WebhookSubscription) -> Result<()> {
        self.step("create_subscription")?;
        self.inner.create_subscription(subscription).await
    }

    async fn get_subscription(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<WebhookSubscription> {
        self.step("get_subscription")?;
        self.inner.get_subscription(tenant, id).await
    }

    async fn list_subscriptions(&self, tenant: TenantId) -> Result<Vec<WebhookSubscription>> {
        self.step("list_subscriptions")?;
        self.inner.list_subscriptions(tenant).await
    }

    async fn update_subscription(&self, subscription: &WebhookSubscription) -> Result<()> {
        self.step("update_subscription")?;
        self.inner.update_subscription(subscription).await
    }

    async fn delete_subscription(&self, tenant: TenantId, id: SubscriptionId) -> Result<()> {
        self.step("delete_subscription")?;
        self.inner.delete_subscription(tenant, id).await
    }

    async fn enqueue_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<()> {
        self.step("enqueue_deliveries")?;
        self.inner.enqueue_deliveries(deliveries).await
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<WebhookDelivery>> {
        self.step("claim_due_deliveries")?;
        self.inner.claim_due_deliveries(now, limit, lease).await
    }

    async fn record_delivery_attempt(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        outcome: &DeliveryOutcome,
        timing: &AttemptTiming,
    ) -> Result<WebhookDelivery> {
        self.step("record_delivery_attempt")?;
        self.inner
            .record_delivery_attempt(tenant, id, outcome, timing)
            .await
    }

    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>> {
        self.step("list_delivery_attempts")?;
        self.inner.list_delivery_attempts(tenant, id).await
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        subscription: Option<SubscriptionId>,
        page: Page,
    ) -> Result<Paged<WebhookDelivery>> {
        self.step("list_deliveries")?;
        self.inner.list_deliveries(tenant, subscription, page).await
    }

    async fn replay_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.step("replay_delivery")?;
        self.inner.replay_delivery(tenant, id, at).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> ActivityStore for CrashingStore<S> {
    async fn append_activity(&self, entry: &ActivityEntry) -> Result<()> {
        self.step("append_activity")?;
        self.inner.append_activity(entry).await
    }

    async fn list_activity(&self, tenant: TenantId, page: Page) -> Result<Paged<ActivityEntry>> {
        self.step("list_activity")?;
        self.inner.list_activity(tenant, page).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> InboundStore for CrashingStore<S> {
    async fn ingest_inbound(&self, ingest: &InboundIngest) -> Result<IngestResult> {
        self.step("ingest_inbound")?;
        self.inner.ingest_inbound(ingest).await
    }

    async fn claim_conversation_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<ConversationJob>> {
        self.step("claim_conversation_jobs")?;
        self.inner.claim_conversation_jobs(now, limit, lease).await
    }

    async fn get_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<ConversationJob> {
        self.step("get_conversation_job")?;
        self.inner.get_conversation_job(tenant, message).await
    }

    async fn settle_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
        settlement: &JobSettlement,
    ) -> Result<()> {
        self.step("settle_conversation_job")?;
        self.inner
            .settle_conversation_job(tenant, message, settlement)
            .await
    }

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
    ) -> Result<bool> {
        self.step("take_cooldown")?;
        self.inner
            .take_cooldown(tenant, rule, channel, contact, holder, now, until)
            .await
    }

    async fn prune_cooldowns(&self, before: DateTime<Utc>) -> Result<u64> {
        self.step("prune_cooldowns")?;
        self.inner.prune_cooldowns(before).await
    }

    async fn apply_statuses(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
        outbox: &StatusOutbox,
    ) -> Result<AppliedStatuses> {
        self.step("apply_statuses")?;
        self.inner.apply_statuses(tenant, updates, outbox).await
    }

    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>> {
        self.step("channels_by_waba_id")?;
        self.inner.channels_by_waba_id(waba_id).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> AnalyticsStore for CrashingStore<S> {
    async fn message_volume(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeBucket>> {
        self.step("message_volume")?;
        self.inner.message_volume(tenant, from, to).await
    }

    async fn handled_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HandledCount>> {
        self.step("handled_counts")?;
        self.inner.handled_counts(tenant, from, to).await
    }

    async fn flow_engagement_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EngagementCount>> {
        self.step("flow_engagement_counts")?;
        self.inner.flow_engagement_counts(tenant, from, to).await
    }

    async fn campaign_replies(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        within: std::time::Duration,
    ) -> Result<u64> {
        self.step("campaign_replies")?;
        self.inner.campaign_replies(tenant, campaign, within).await
    }
}
