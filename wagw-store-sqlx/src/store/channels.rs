use async_trait::async_trait;
use wagw_core::ids::{ChannelId, TenantId};
use wagw_core::model::channel::Channel;
use wagw_core::store::{ChannelStore, Page, Paged};
use wagw_core::{Error, Result};

use crate::SqlStore;
use crate::db::{SqlRow, db_err, on_read, on_write, to_json, unique_err};

fn taken(channel: &Channel) -> String {
    format!("phone-number id {} is registered", channel.phone_number_id)
}

#[async_trait]
impl ChannelStore for SqlStore {
    async fn create_channel(&self, channel: &Channel) -> Result<()> {
        let doc = to_json(channel)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO channels (tenant_id, id, phone_number_id, doc) VALUES ($1, $2, $3, $4)",
            )
            .bind(channel.tenant_id.0)
            .bind(channel.id.0)
            .bind(&channel.phone_number_id)
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(unique_err("channel", taken(channel)))?;
        });
        Ok(())
    }

    async fn get_channel(&self, tenant: TenantId, id: ChannelId) -> Result<Channel> {
        self.get_doc("channels", "channel", tenant.0, id.0).await
    }

    async fn find_channel_by_phone_number_id(&self, phone_number_id: &str) -> Result<Channel> {
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query("SELECT doc FROM channels WHERE phone_number_id = $1")
                .bind(phone_number_id)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(r.json::<Channel>("doc")?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("channel", phone_number_id))
    }

    async fn list_channels(&self, tenant: TenantId, page: Page) -> Result<Paged<Channel>> {
        self.list_docs("channels", tenant.0, &page, |c: &Channel| c.id.to_string())
            .await
    }

    async fn count_channels(&self, tenant: TenantId) -> Result<u64> {
        self.count_rows("channels", tenant.0).await
    }

    async fn update_channel(&self, channel: &Channel) -> Result<()> {
        let doc = to_json(channel)?;
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE channels SET phone_number_id = $3, doc = $4 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(channel.tenant_id.0)
            .bind(channel.id.0)
            .bind(&channel.phone_number_id)
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(unique_err("channel", taken(channel)))?
            .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("channel", channel.id));
        }
        Ok(())
    }

    async fn delete_channel(&self, tenant: TenantId, id: ChannelId) -> Result<()> {
        self.delete_row("channels", "channel", tenant.0, id.0).await
    }
}
