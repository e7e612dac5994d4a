use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::ids::{CampaignId, ChannelId, MessageId, TenantId};
use wagw_core::model::campaign::RecipientStatus;
use wagw_core::model::message::{
    Direction, MessageError, MessageRecord, MessageStatus, StatusChange, StatusUpdate, Transition,
};
use wagw_core::model::tenant::{QuotaResource, UsagePeriod};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{
    Inserted, MessageQuery, MessageStore, Page, Paged, RecipientUpdate, WamidUpdate,
};
use wagw_core::{Error, Result};

use super::table::parse_cursor;
use super::{MemoryStore, State};

/// A message as the memory store keeps it: the record and what only the store tracks.
#[derive(Debug, Clone)]
pub(super) struct StoredMessage {
    record: MessageRecord,
    /// Whether the message was charged to the monthly quota.
    charged: bool,
}

impl StoredMessage {
    /// The record as stored.
    pub(super) fn record(&self) -> &MessageRecord {
        &self.record
    }
}

/// What applying one status update did, with the kept statuses it pulled in.
struct Applied {
    change: StatusChange,
    /// Whether kept statuses for the recorded wamid were applied.
    took_pending: bool,
    /// The reason of a kept `failed` that became the final status.
    pending_failure: Option<String>,
}

impl State {
    pub(super) fn insert_message(&mut self, message: &MessageRecord) -> Result<Inserted> {
        let tenant = message.tenant_id;
        if let Some(key) = &message.idempotency_key
            && let Some(existing) = self.message_by_key.get(&(tenant, key.clone()))
        {
            return Ok(Inserted {
                id: *existing,
                created: false,
            });
        }
        let stored = StoredMessage {
            record: message.clone(),
            charged: false,
        };
        self.messages.insert_new(tenant, message.id, stored)?;
        if let Some(key) = &message.idempotency_key {
            self.message_by_key
                .insert((tenant, key.clone()), message.id);
        }
        if let Some(wamid) = &message.wamid {
            self.message_by_wamid
                .insert((tenant, wamid.clone()), message.id);
        }
        if message.direction == Direction::Inbound {
            let last = self
                .last_inbound
                .entry((tenant, message.channel_id, message.contact_phone.clone()))
                .or_insert(message.created_at);
            *last = (*last).max(message.created_at);
        }
        Ok(Inserted {
            id: message.id,
            created: true,
        })
    }

    /// Applies an update and, when it records a wamid, the statuses kept for that wamid.
    fn apply_update(
        &mut self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<Applied> {
        let stored = &mut self.messages.get_mut(tenant, id)?.record;
        let from = stored.status;
        let mut took_pending = false;
        let mut pending_failure = None;
        if stored.apply(update)
            && let Some(wamid) = &update.wamid
        {
            let key = (tenant, wamid.clone());
            if let Some(mut kept) = self.pending_statuses.remove(&key) {
                // Forward-only, so any order converges; sorting makes the rare
                // failed-versus-delivered pair deterministic.
                kept.sort_by_key(|u| (u.at, u.status.rank()));
                for k in &kept {
                    if stored.apply(k) && k.status == MessageStatus::Failed {
                        pending_failure = k.error.as_ref().map(|e| e.reason.clone());
                    }
                }
                took_pending = true;
            }
            self.message_by_wamid.insert(key, id);
        }
        Ok(Applied {
            change: StatusChange {
                message_id: id,
                from,
                to: stored.status,
                recipient_id: stored.recipient_id,
            },
            took_pending,
            pending_failure,
        })
    }

    /// Applies updates by wamid, keeping those for unknown wamids
    /// ([`MessageStore::update_statuses_by_wamid`]).
    pub(super) fn apply_by_wamid(
        &mut self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        updates
            .iter()
            .map(|u| {
                match self
                    .message_by_wamid
                    .get(&(tenant, u.wamid.clone()))
                    .copied()
                {
                    Some(id) => Ok(Some(self.apply_update(tenant, id, &u.update)?.change)),
                    None => {
                        self.keep_pending(tenant, u);
                        Ok(None)
                    }
                }
            })
            .collect()
    }

    /// Keeps an update for a wamid not recorded yet; a redelivered one is kept once.
    fn keep_pending(&mut self, tenant: TenantId, update: &WamidUpdate) {
        let kept = self
            .pending_statuses
            .entry((tenant, update.wamid.clone()))
            .or_default();
        if !kept.iter().any(|k| k.status == update.update.status) {
            kept.push(update.update.clone());
        }
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn insert_message(&self, message: &MessageRecord) -> Result<Inserted> {
        self.state.write().insert_message(message)
    }

    async fn insert_messages(&self, messages: &[MessageRecord]) -> Result<Vec<Inserted>> {
        let mut state = self.state.write();
        messages.iter().map(|m| state.insert_message(m)).collect()
    }

    async fn get_message(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        Ok(self.state.read().messages.get(tenant, id)?.record.clone())
    }

    async fn find_message_by_wamid(&self, tenant: TenantId, wamid: &str) -> Result<MessageRecord> {
        let state = self.state.read();
        let id = state
            .message_by_wamid
            .get(&(tenant, wamid.to_owned()))
            .ok_or_else(|| Error::not_found("message", wamid))?;
        Ok(state.messages.get(tenant, *id)?.record.clone())
    }

    async fn list_messages(
        &self,
        tenant: TenantId,
        query: &MessageQuery,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        let paged = self
            .state
            .read()
            .messages
            .page(tenant, &page, |m| query.matches(&m.record))?;
        Ok(Paged {
            items: paged.items.into_iter().map(|m| m.record).collect(),
            next: paged.next,
        })
    }

    async fn update_status(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<StatusChange> {
        Ok(self.state.write().apply_update(tenant, id, update)?.change)
    }

    async fn update_statuses_by_wamid(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        self.state.write().apply_by_wamid(tenant, updates)
    }

    async fn record_attempt(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        let mut state = self.state.write();
        let message = &mut state.messages.get_mut(tenant, id)?.record;
        if message.status.transition(MessageStatus::Sending) != Transition::Stale {
            message.status = MessageStatus::Sending;
            message.attempts += 1;
            message.updated_at = Utc::now();
        }
        Ok(message.clone())
    }

    async fn mark_ambiguous(&self, tenant: TenantId, id: MessageId) -> Result<()> {
        self.state
            .write()
            .messages
            .get_mut(tenant, id)?
            .record
            .ambiguous = true;
        Ok(())
    }

    async fn requeue_message(&self, tenant: TenantId, id: MessageId, attempt: u32) -> Result<bool> {
        let mut state = self.state.write();
        let message = &mut state.messages.get_mut(tenant, id)?.record;
        if message.status != MessageStatus::Sending || message.attempts != attempt {
            return Ok(false);
        }
        message.status = MessageStatus::Queued;
        message.updated_at = Utc::now();
        Ok(true)
    }

    async fn last_inbound_at(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .state
            .read()
            .last_inbound
            .get(&(tenant, channel, user.clone()))
            .copied())
    }

    async fn record_outcome(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
        recipient: Option<&RecipientUpdate>,
    ) -> Result<StatusChange> {
        // One lock scope: the message and its recipient move together or not at all.
        let mut state = self.state.write();
        let applied = state.apply_update(tenant, id, update)?;
        if let Some(recipient) = recipient {
            let mut recipient = recipient.clone();
            if applied.took_pending {
                recipient.status = RecipientStatus::from_message(applied.change.to);
                if applied.pending_failure.is_some() {
                    recipient.reason = applied.pending_failure;
                }
            }
            state.apply_recipient_update(tenant, &recipient);
        }
        Ok(applied.change)
    }

    async fn prune_pending_statuses(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut state = self.state.write();
        let mut pruned = 0u64;
        state.pending_statuses.retain(|_, kept| {
            let len = kept.len();
            kept.retain(|u| u.at >= before);
            pruned += (len - kept.len()) as u64;
            !kept.is_empty()
        });
        Ok(pruned)
    }

    async fn charge_message(
        &self,
        tenant: TenantId,
        id: MessageId,
        period: &UsagePeriod,
        limit: Option<u64>,
    ) -> Result<bool> {
        let mut state = self.state.write();
        if state.messages.get(tenant, id)?.charged {
            return Ok(false);
        }
        state.add_usage(tenant, period, QuotaResource::MessagesPerMonth, 1, limit)?;
        state.messages.get_mut(tenant, id)?.charged = true;
        Ok(true)
    }

    async fn queued_messages(
        &self,
        created_before: DateTime<Utc>,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        let limit = page.effective_limit();
        let after = parse_cursor::<MessageId>(&page)?;
        let state = self.state.read();
        // Rows are keyed by tenant first; the cross-tenant order is by id alone.
        let mut items: Vec<MessageRecord> = state
            .messages
            .all()
            .map(|m| &m.record)
            .filter(|m| {
                m.status == MessageStatus::Queued
                    && m.direction == Direction::Outbound
                    && m.created_at < created_before
                    && after.is_none_or(|after| m.id > after)
            })
            .cloned()
            .collect();
        items.sort_by_key(|m| m.id);
        items.truncate(limit + 1);
        Ok(Paged::from_overfetch(items, limit, |m| m.id.to_string()))
    }

    async fn sending_messages(&self, page: Page) -> Result<Paged<MessageRecord>> {
        let limit = page.effective_limit();
        let after = parse_cursor::<MessageId>(&page)?;
        let state = self.state.read();
        let mut items: Vec<MessageRecord> = state
            .messages
            .all()
            .map(|m| &m.record)
            .filter(|m| {
                m.status == MessageStatus::Sending
                    && m.direction == Direction::Outbound
                    && after.is_none_or(|after| m.id > after)
            })
            .cloned()
            .collect();
        items.sort_by_key(|m| m.id);
        items.truncate(limit + 1);
        Ok(Paged::from_overfetch(items, limit, |m| m.id.to_string()))
    }

    async fn fail_queued_campaign_messages(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        error: &MessageError,
        recipient_status: RecipientStatus,
    ) -> Result<u64> {
        let mut state = self.state.write();
        state.campaigns.get(tenant, campaign)?;
        let update = StatusUpdate::failed(error.clone(), Utc::now());
        let mut recipients = Vec::new();
        let mut failed = 0u64;
        for stored in state.messages.tenant_rows_mut(tenant) {
            let m = &mut stored.record;
            if m.campaign_id == Some(campaign)
                && m.status == MessageStatus::Queued
                && m.direction == Direction::Outbound
                && m.apply(&update)
            {
                failed += 1;
                recipients.extend(m.recipient_id);
            }
        }
        for id in recipients {
            let recipient = RecipientUpdate {
                id,
                status: recipient_status,
                reason: Some(error.reason.clone()),
                message_id: None,
            };
            state.apply_recipient_update(tenant, &recipient);
        }
        Ok(failed)
    }
}
