//! [`MemoryStore`]: every `Store` sub-trait over maps behind one lock.

mod campaigns;
mod channels;
mod contacts;
mod conversations;
mod inbound;
mod messages;
mod table;
mod templates;
mod tenants;
mod webhooks;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use wagw_core::ids::*;
use wagw_core::model::activity::ActivityEntry;
use wagw_core::model::auto_reply::AutoReplyRule;
use wagw_core::model::campaign::{Campaign, CampaignCounters, CampaignRecipient, Rejection};
use wagw_core::model::channel::Channel;
use wagw_core::model::contact::{Contact, ContactList};
use wagw_core::model::flow::{ConversationSession, Flow, FlowEngagement};
use wagw_core::model::message::StatusUpdate;
use wagw_core::model::schedule::ScheduledMessage;
use wagw_core::model::template::Template;
use wagw_core::model::tenant::{ApiKey, QuotaResource, Tenant, User};
use wagw_core::model::webhook::{DeliveryAttempt, WebhookDelivery, WebhookSubscription};
use wagw_core::phone::PhoneNumber;

use table::Table;

/// An in-memory [`Store`](wagw_core::Store). Cheap to create; data lives as long as the value.
///
/// One reader-writer lock guards all data, so every call is atomic and isolated. It suits
/// tests, the sandbox and single-process gateways; use `wagw-store-sqlx` for durability.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Debug)]
struct State {
    tenants: BTreeMap<TenantId, Tenant>,
    users: Table<UserId, User>,
    api_keys: Table<ApiKeyId, ApiKey>,
    api_key_by_hash: HashMap<String, (TenantId, ApiKeyId)>,
    usage: HashMap<(TenantId, String, QuotaResource), u64>,

    channels: Table<ChannelId, Channel>,
    channel_by_phone_number_id: HashMap<String, (TenantId, ChannelId)>,

    contacts: Table<ContactId, Contact>,
    contact_by_phone: HashMap<(TenantId, PhoneNumber), ContactId>,
    lists: Table<ContactListId, ContactList>,

    templates: Table<TemplateId, Template>,

    messages: Table<MessageId, messages::StoredMessage>,
    /// Status updates for wamids not recorded yet, kept until the wamid is recorded.
    pending_statuses: HashMap<(TenantId, String), Vec<StatusUpdate>>,
    message_by_key: HashMap<(TenantId, String), MessageId>,
    message_by_wamid: HashMap<(TenantId, String), MessageId>,
    last_inbound: HashMap<(TenantId, ChannelId, PhoneNumber), DateTime<Utc>>,

    campaigns: Table<CampaignId, Campaign>,
    recipients: BTreeMap<(CampaignId, RecipientId), CampaignRecipient>,
    recipient_campaign: HashMap<RecipientId, CampaignId>,
    recipient_phones: HashSet<(CampaignId, PhoneNumber)>,
    counters: HashMap<CampaignId, CampaignCounters>,
    rejections: BTreeMap<(CampaignId, RejectionId), Rejection>,
    /// Running and scheduled campaigns, the only ones `due_campaigns` reads.
    active_campaigns: BTreeMap<CampaignId, TenantId>,

    flows: Table<FlowId, Flow>,
    sessions: Table<SessionId, ConversationSession>,
    session_by_user: HashMap<(TenantId, ChannelId, PhoneNumber), SessionId>,
    rules: Table<RuleId, AutoReplyRule>,
    /// Flow-engagement steps, in the order they were recorded.
    engagement: Vec<FlowEngagement>,

    schedules: Table<ScheduleId, ScheduledMessage>,

    subscriptions: Table<SubscriptionId, WebhookSubscription>,
    deliveries: Table<DeliveryId, WebhookDelivery>,
    /// The attempt log of each delivery, oldest first.
    attempts: HashMap<DeliveryId, Vec<DeliveryAttempt>>,

    activity: Table<ActivityId, ActivityEntry>,

    inbound: inbound::InboundState,
}

impl Default for State {
    fn default() -> Self {
        Self {
            tenants: BTreeMap::new(),
            users: Table::new("user"),
            api_keys: Table::new("api key"),
            api_key_by_hash: HashMap::new(),
            usage: HashMap::new(),
            channels: Table::new("channel"),
            channel_by_phone_number_id: HashMap::new(),
            contacts: Table::new("contact"),
            contact_by_phone: HashMap::new(),
            lists: Table::new("contact list"),
            templates: Table::new("template"),
            messages: Table::new("message"),
            pending_statuses: HashMap::new(),
            message_by_key: HashMap::new(),
            message_by_wamid: HashMap::new(),
            last_inbound: HashMap::new(),
            campaigns: Table::new("campaign"),
            recipients: BTreeMap::new(),
            recipient_campaign: HashMap::new(),
            recipient_phones: HashSet::new(),
            counters: HashMap::new(),
            rejections: BTreeMap::new(),
            active_campaigns: BTreeMap::new(),
            flows: Table::new("flow"),
            sessions: Table::new("session"),
            session_by_user: HashMap::new(),
            rules: Table::new("auto-reply rule"),
            engagement: Vec::new(),
            schedules: Table::new("schedule"),
            subscriptions: Table::new("webhook subscription"),
            deliveries: Table::new("webhook delivery"),
            attempts: HashMap::new(),
            activity: Table::new("activity entry"),
            inbound: inbound::InboundState::default(),
        }
    }
}
