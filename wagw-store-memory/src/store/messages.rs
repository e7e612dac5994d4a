use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::Result;
use wagw_core::ids::{ChannelId, MessageId, TenantId};
use wagw_core::model::message::{
    Direction, MessageRecord, MessageStatus, StatusChange, StatusUpdate, Transition,
};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{Inserted, MessageQuery, MessageStore, Page, Paged, WamidUpdate};

use super::{MemoryStore, State};

impl State {
    fn insert_message(&mut self, message: &MessageRecord) -> Result<Inserted> {
        let tenant = message.tenant_id;
        if let Some(key) = &message.idempotency_key
            && let Some(existing) = self.message_by_key.get(&(tenant, key.clone()))
        {
            return Ok(Inserted {
                id: *existing,
                created: false,
            });
        }
        self.messages
            .insert_new(tenant, message.id, message.clone())?;
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

    fn update_status(
        &mut self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<StatusChange> {
        let stored = self.messages.get_mut(tenant, id)?;
        let from = stored.status;
        if stored.apply(update)
            && let Some(wamid) = &update.wamid
        {
            self.message_by_wamid.insert((tenant, wamid.clone()), id);
        }
        let message = self.messages.get(tenant, id)?;
        Ok(StatusChange {
            message_id: id,
            from,
            to: message.status,
            recipient_id: message.recipient_id,
        })
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
        self.state.read().messages.get(tenant, id).cloned()
    }

    async fn find_message_by_wamid(&self, tenant: TenantId, wamid: &str) -> Result<MessageRecord> {
        let state = self.state.read();
        let id = state
            .message_by_wamid
            .get(&(tenant, wamid.to_owned()))
            .ok_or_else(|| wagw_core::Error::not_found("message", wamid))?;
        state.messages.get(tenant, *id).cloned()
    }

    async fn list_messages(
        &self,
        tenant: TenantId,
        query: &MessageQuery,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        self.state
            .read()
            .messages
            .page(tenant, &page, |m| query.matches(m))
    }

    async fn update_status(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<StatusChange> {
        self.state.write().update_status(tenant, id, update)
    }

    async fn update_statuses_by_wamid(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        let mut state = self.state.write();
        updates
            .iter()
            .map(|u| {
                match state
                    .message_by_wamid
                    .get(&(tenant, u.wamid.clone()))
                    .copied()
                {
                    Some(id) => state.update_status(tenant, id, &u.update).map(Some),
                    None => Ok(None),
                }
            })
            .collect()
    }

    async fn record_attempt(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        let mut state = self.state.write();
        let message = state.messages.get_mut(tenant, id)?;
        if message.status.transition(MessageStatus::Sending) != Transition::Stale {
            message.status = MessageStatus::Sending;
            message.attempts += 1;
            message.updated_at = Utc::now();
        }
        Ok(message.clone())
    }

    async fn mark_ambiguous(&self, tenant: TenantId, id: MessageId) -> Result<()> {
        self.state.write().messages.get_mut(tenant, id)?.ambiguous = true;
        Ok(())
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
}
