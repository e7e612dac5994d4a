//! The inbound pipeline: verified, parsed webhook events → durable state, before the webhook
//! is acknowledged.
//!
//! For each event, in delivery order:
//!
//! - **message**: routed by `phone_number_id` to its channel (and tenant), then stored in one
//!   atomic step ([`InboundStore::ingest_inbound`](crate::store::InboundStore::ingest_inbound)):
//!   the message deduplicated by wamid (Meta redelivers), the contact upserted with the profile
//!   name and business-scoped user id, the 24-hour window moved (it runs from the latest
//!   stored inbound message), a [`ConversationJob`](crate::model::conversation::ConversationJob)
//!   for the [runner](super::runner), and the `message_received` outbox rows;
//! - **status**: applied forward-only with campaign recipients following, together with the
//!   `message_status` and `campaign_progress` outbox rows for the messages that moved, in one
//!   atomic step ([`InboundStore::apply_statuses`](crate::store::InboundStore::apply_statuses));
//! - **template status**: routed by the business account to its tenants, the stored template
//!   updated by Meta's id, then a `template_status` outbox row.
//!
//! When [`ingest`](InboundPipeline::ingest) returns `Ok`, everything is durable and the
//! webhook can be acknowledged; on `Err` answer 5xx and Meta delivers again, which is safe
//! since every step is idempotent. Events that can never be stored (an unknown number, a
//! sender id that is no phone number) are counted in the report and logged, not errors: Meta
//! would otherwise retry them for a week. Bots answer later, from the durable job, never inside
//! the webhook request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::events::{OutboxEvent, StatusOutbox};
use crate::event::{
    InboundEvent, InboundKind, InboundMessage, TemplateStatusEvent, TemplateStatusUpdate,
};
use crate::ids::{ChannelId, TenantId};
use crate::model::channel::Channel;
use crate::model::conversation::{ContactProfile, InboundIngest};
use crate::model::message::MessageRecord;
use crate::model::template::TemplateStatus;
use crate::model::webhook::{EventKind, WebhookSubscription};
use crate::phone::PhoneNumber;
use crate::store::{Store, WamidUpdate};
use crate::{Error, Result};

/// One event of a verified webhook with what routes it: the business account and, for
/// number-level fields, the phone-number id. `wagw_meta::webhook::WebhookEvent` converts into
/// it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedEvent {
    /// The WhatsApp Business Account id (`entry[].id`).
    pub waba_id: String,
    /// The business number's phone-number id (`value.metadata.phone_number_id`).
    pub phone_number_id: Option<String>,
    /// For messages: the sender's `value.contacts[]` entry (`profile.name`, `user_id` ...).
    pub contact: Option<Value>,
    /// The event.
    pub event: InboundEvent,
}

/// What one [`ingest`](InboundPipeline::ingest) call stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Inbound messages stored for the first time.
    pub messages: u64,
    /// Inbound messages stored before (Meta's redeliveries).
    pub duplicates: u64,
    /// Status updates that moved a message.
    pub statuses_moved: u64,
    /// Status updates that changed nothing (stale or repeated) or wait for their wamid.
    pub statuses_unmoved: u64,
    /// Templates whose status was updated.
    pub templates: u64,
    /// Outbox rows written.
    pub deliveries: u64,
    /// Events that cannot be stored: unknown number or template, a sender that is not a phone
    /// number, kinds wagw does not store.
    pub skipped: u64,
}

/// Turns webhook events into durable state. Cheap to clone.
#[derive(Debug)]
pub struct InboundPipeline<S: ?Sized> {
    store: Arc<S>,
}

impl<S: ?Sized> Clone for InboundPipeline<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
        }
    }
}

/// Channels and subscriptions looked up once per call.
#[derive(Default)]
struct Lookups {
    channels: HashMap<String, Option<Channel>>,
    subscriptions: HashMap<TenantId, Vec<WebhookSubscription>>,
}

impl<S: Store + ?Sized> InboundPipeline<S> {
    /// A pipeline writing into `store`.
    pub fn new(store: Arc<S>) -> Self {
        Self { store }
    }

    /// Stores every event of one webhook delivery; see the [module docs](self).
    pub async fn ingest(&self, events: &[RoutedEvent]) -> Result<IngestReport> {
        let mut report = IngestReport::default();
        let mut lookups = Lookups::default();
        // Statuses are applied in one batch per tenant, after the messages.
        let mut statuses: BTreeMap<TenantId, Vec<WamidUpdate>> = BTreeMap::new();
        for routed in events {
            match &routed.event {
                InboundEvent::Message(message) => {
                    self.ingest_message(routed, message, &mut lookups, &mut report)
                        .await?;
                }
                InboundEvent::Status(status) => {
                    let Some(channel) = self.route(routed, &mut lookups, &mut report).await? else {
                        continue;
                    };
                    match WamidUpdate::from_webhook(status) {
                        Some(update) => statuses.entry(channel.tenant_id).or_default().push(update),
                        None => report.skipped += 1,
                    }
                }
                InboundEvent::TemplateStatus(update) => {
                    self.ingest_template_status(routed, update, &mut lookups, &mut report)
                        .await?;
                }
                _ => report.skipped += 1,
            }
        }
        for (tenant, updates) in statuses {
            self.ingest_statuses(tenant, &updates, &mut lookups, &mut report)
                .await?;
        }
        tracing::debug!(?report, "webhook events stored");
        Ok(report)
    }

    /// The channel of a number-level event, or `None` (counted as skipped) when the number is
    /// not registered here.
    async fn route(
        &self,
        routed: &RoutedEvent,
        lookups: &mut Lookups,
        report: &mut IngestReport,
    ) -> Result<Option<Channel>> {
        let Some(pnid) = routed.phone_number_id.as_deref() else {
            report.skipped += 1;
            return Ok(None);
        };
        if let Some(known) = lookups.channels.get(pnid) {
            if known.is_none() {
                report.skipped += 1;
            }
            return Ok(known.clone());
        }
        let channel = match self.store.find_channel_by_phone_number_id(pnid).await {
            Ok(channel) => Some(channel),
            Err(Error::NotFound { .. }) => {
                tracing::warn!(
                    phone_number_id = pnid,
                    "webhook for an unknown number skipped"
                );
                report.skipped += 1;
                None
            }
            Err(e) => return Err(e),
        };
        lookups.channels.insert(pnid.to_owned(), channel.clone());
        Ok(channel)
    }

    async fn subscriptions<'a>(
        &self,
        tenant: TenantId,
        lookups: &'a mut Lookups,
    ) -> Result<&'a [WebhookSubscription]> {
        let subs = match lookups.subscriptions.entry(tenant) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(self.store.list_subscriptions(tenant).await?)
            }
        };
        Ok(subs.as_slice())
    }

    async fn ingest_message(
        &self,
        routed: &RoutedEvent,
        message: &InboundMessage,
        lookups: &mut Lookups,
        report: &mut IngestReport,
    ) -> Result<()> {
        let Some(channel) = self.route(routed, lookups, report).await? else {
            return Ok(());
        };
        let from = match PhoneNumber::from_wa_id(&message.from) {
            Ok(from) => from,
            Err(e) => {
                tracing::warn!(wamid = %message.id, error = %e, "inbound message from a sender that is no phone number skipped");
                report.skipped += 1;
                return Ok(());
            }
        };
        let profile = profile_of(routed.contact.as_ref(), message);
        let record =
            MessageRecord::inbound(channel.tenant_id, channel.id, from.clone(), message.clone());
        let event = OutboxEvent::new(
            channel.tenant_id,
            EventKind::MessageReceived,
            json!({
                "message_id": record.id,
                "channel_id": channel.id,
                "from": from.as_str(),
                "wamid": message.id,
                "profile_name": profile.profile_name,
                "message": message,
            }),
        );
        let deliveries = event.deliveries(self.subscriptions(channel.tenant_id, lookups).await?);
        let written = deliveries.len() as u64;
        let ingest = InboundIngest {
            message: record,
            profile,
            answer: wants_answer(&message.kind),
            deliveries,
        };
        let stored = self.store.ingest_inbound(&ingest).await?;
        if stored.created {
            report.messages += 1;
            report.deliveries += written;
            tracing::debug!(wamid = %message.id, tenant = %channel.tenant_id, "inbound message stored");
        } else {
            report.duplicates += 1;
        }
        Ok(())
    }

    async fn ingest_statuses(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
        lookups: &mut Lookups,
        report: &mut IngestReport,
    ) -> Result<()> {
        let subs = self.subscriptions(tenant, lookups).await?.to_vec();
        // The statuses, their recipients and their events in one store step: a crash between
        // them would otherwise store statuses whose events a redelivery never writes.
        let outbox = StatusOutbox::new(subs);
        let applied = self.store.apply_statuses(tenant, updates, &outbox).await?;
        report.deliveries += applied.deliveries;
        let changes = applied.changes;
        for change in changes.iter().flatten().filter(|c| c.moved()) {
            crate::metrics::status_moved(change.to);
        }
        let moved = changes.iter().flatten().filter(|c| c.moved()).count() as u64;
        report.statuses_moved += moved;
        report.statuses_unmoved += updates.len() as u64 - moved;
        Ok(())
    }

    async fn ingest_template_status(
        &self,
        routed: &RoutedEvent,
        update: &TemplateStatusUpdate,
        lookups: &mut Lookups,
        report: &mut IngestReport,
    ) -> Result<()> {
        let Some(status) = template_status(&update.event) else {
            report.skipped += 1;
            return Ok(());
        };
        let reason = update
            .reason
            .clone()
            .filter(|r| !r.eq_ignore_ascii_case("NONE") && !r.is_empty());
        let remote_id = update.message_template_id.to_string();
        let mut tenants: Vec<TenantId> = self
            .store
            .channels_by_waba_id(&routed.waba_id)
            .await?
            .into_iter()
            .map(|c| c.tenant_id)
            .collect();
        tenants.dedup();
        let mut updated = false;
        for tenant in tenants {
            let template = match self
                .store
                .set_template_status(tenant, &remote_id, status, reason.clone())
                .await
            {
                Ok(t) => t,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            updated = true;
            report.templates += 1;
            let event = template_event(
                tenant,
                &template.id.to_string(),
                template.channel_id,
                &template.draft.name,
                &template.draft.language,
                status,
                reason.as_deref(),
            );
            let deliveries = event.deliveries(self.subscriptions(tenant, lookups).await?);
            report.deliveries += deliveries.len() as u64;
            self.store.enqueue_deliveries(&deliveries).await?;
        }
        if !updated {
            tracing::info!(remote_id, "status of a template not stored here skipped");
            report.skipped += 1;
        }
        Ok(())
    }
}

/// The `template_status` outbox event.
pub(crate) fn template_event(
    tenant: TenantId,
    template_id: &str,
    channel: ChannelId,
    name: &str,
    language: &str,
    status: TemplateStatus,
    reason: Option<&str>,
) -> OutboxEvent {
    OutboxEvent::new(
        tenant,
        EventKind::TemplateStatus,
        json!({
            "template_id": template_id,
            "channel_id": channel,
            "name": name,
            "language": language,
            "status": status,
            "reason": reason,
        }),
    )
}

/// The stored status a template status webhook asks for; `None` for events that change no
/// status (locks, quality notices).
pub fn template_status(event: &TemplateStatusEvent) -> Option<TemplateStatus> {
    Some(match event {
        TemplateStatusEvent::Approved
        | TemplateStatusEvent::Reinstated
        | TemplateStatusEvent::Unarchived => TemplateStatus::Approved,
        TemplateStatusEvent::Pending => TemplateStatus::Pending,
        TemplateStatusEvent::Rejected => TemplateStatus::Rejected,
        TemplateStatusEvent::Paused => TemplateStatus::Paused,
        TemplateStatusEvent::Disabled => TemplateStatus::Disabled,
        TemplateStatusEvent::InAppeal => TemplateStatus::InAppeal,
        TemplateStatusEvent::PendingDeletion => TemplateStatus::PendingDeletion,
        TemplateStatusEvent::Deleted => TemplateStatus::Deleted,
        TemplateStatusEvent::LimitExceeded => TemplateStatus::LimitExceeded,
        TemplateStatusEvent::Flagged => TemplateStatus::Flagged,
        TemplateStatusEvent::Archived => TemplateStatus::Archived,
        _ => return None,
    })
}

/// Profile details from the webhook's contact entry (or the message's copied profile name).
fn profile_of(contact: Option<&Value>, message: &InboundMessage) -> ContactProfile {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    ContactProfile {
        profile_name: text(contact.and_then(|c| c.pointer("/profile/name")))
            .or_else(|| message.profile_name.clone()),
        user_id: text(contact.and_then(|c| c.get("user_id"))),
    }
}

/// Whether bots should look at a message at all: reactions and system notices are stored and
/// forwarded, never answered.
fn wants_answer(kind: &InboundKind) -> bool {
    !matches!(kind, InboundKind::Reaction(_) | InboundKind::System(_))
}
