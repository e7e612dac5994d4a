use async_trait::async_trait;
use wagw_core::ids::{ChannelId, TenantId};
use wagw_core::model::channel::Channel;
use wagw_core::store::{ChannelStore, Page, Paged};
use wagw_core::{Error, Result};

use super::MemoryStore;

#[async_trait]
impl ChannelStore for MemoryStore {
    async fn create_channel(&self, channel: &Channel) -> Result<()> {
        let mut state = self.state.write();
        if state
            .channel_by_phone_number_id
            .contains_key(&channel.phone_number_id)
        {
            return Err(Error::conflict(
                "channel",
                format!("phone-number id {} is registered", channel.phone_number_id),
            ));
        }
        state
            .channels
            .insert_new(channel.tenant_id, channel.id, channel.clone())?;
        state.channel_by_phone_number_id.insert(
            channel.phone_number_id.clone(),
            (channel.tenant_id, channel.id),
        );
        Ok(())
    }

    async fn get_channel(&self, tenant: TenantId, id: ChannelId) -> Result<Channel> {
        self.state.read().channels.get(tenant, id).cloned()
    }

    async fn find_channel_by_phone_number_id(&self, phone_number_id: &str) -> Result<Channel> {
        let state = self.state.read();
        let (tenant, id) = state
            .channel_by_phone_number_id
            .get(phone_number_id)
            .ok_or_else(|| Error::not_found("channel", phone_number_id))?;
        state.channels.get(*tenant, *id).cloned()
    }

    async fn list_channels(&self, tenant: TenantId, page: Page) -> Result<Paged<Channel>> {
        self.state.read().channels.page(tenant, &page, |_| true)
    }

    async fn count_channels(&self, tenant: TenantId) -> Result<u64> {
        Ok(self.state.read().channels.tenant_rows(tenant).count() as u64)
    }

    async fn update_channel(&self, channel: &Channel) -> Result<()> {
        let mut state = self.state.write();
        let old = state
            .channels
            .get(channel.tenant_id, channel.id)?
            .phone_number_id
            .clone();
        if old != channel.phone_number_id {
            if state
                .channel_by_phone_number_id
                .contains_key(&channel.phone_number_id)
            {
                return Err(Error::conflict(
                    "channel",
                    format!("phone-number id {} is registered", channel.phone_number_id),
                ));
            }
            state.channel_by_phone_number_id.remove(&old);
            state.channel_by_phone_number_id.insert(
                channel.phone_number_id.clone(),
                (channel.tenant_id, channel.id),
            );
        }
        state
            .channels
            .replace(channel.tenant_id, channel.id, channel.clone())
    }

    async fn delete_channel(&self, tenant: TenantId, id: ChannelId) -> Result<()> {
        let mut state = self.state.write();
        let removed = state.channels.remove(tenant, id)?;
        state
            .channel_by_phone_number_id
            .remove(&removed.phone_number_id);
        Ok(())
    }
}
