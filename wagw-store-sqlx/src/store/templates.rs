use async_trait::async_trait;
use chrono::Utc;
use wagw_core::ids::{ChannelId, TemplateId, TenantId};
use wagw_core::model::template::{Template, TemplateStatus};
use wagw_core::store::{Page, Paged, TemplateStore};
use wagw_core::{Error, Result};

use crate::SqlStore;
use crate::db::{SqlRow, db_err, in_tx, on_read, on_write, to_json, unique_err};

fn taken(t: &Template) -> String {
    format!(
        "{} ({}) exists on this channel",
        t.draft.name, t.draft.language
    )
}

#[async_trait]
impl TemplateStore for SqlStore {
    async fn create_template(&self, template: &Template) -> Result<()> {
        let doc = to_json(template)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO templates (tenant_id, id, channel_id, name, language, remote_id, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(template.tenant_id.0)
            .bind(template.id.0)
            .bind(template.channel_id.0)
            .bind(&template.draft.name)
            .bind(&template.draft.language)
            .bind(&template.remote_id)
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(unique_err("template", taken(template)))?;
        });
        Ok(())
    }

    async fn get_template(&self, tenant: TenantId, id: TemplateId) -> Result<Template> {
        self.get_doc("templates", "template", tenant.0, id.0).await
    }

    async fn find_template(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        name: &str,
        language: &str,
    ) -> Result<Template> {
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query(
                "SELECT doc FROM templates \
                 WHERE tenant_id = $1 AND channel_id = $2 AND name = $3 AND language = $4",
            )
            .bind(tenant.0)
            .bind(channel.0)
            .bind(name)
            .bind(language)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            {
                Some(r) => Some(r.json::<Template>("doc")?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("template", format!("{name} ({language})")))
    }

    async fn list_templates(&self, tenant: TenantId, page: Page) -> Result<Paged<Template>> {
        self.list_docs("templates", tenant.0, &page, |t: &Template| {
            t.id.to_string()
        })
        .await
    }

    async fn update_template(&self, template: &Template) -> Result<()> {
        let doc = to_json(template)?;
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE templates SET channel_id = $3, name = $4, language = $5, remote_id = $6, \
                 doc = $7 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(template.tenant_id.0)
            .bind(template.id.0)
            .bind(template.channel_id.0)
            .bind(&template.draft.name)
            .bind(&template.draft.language)
            .bind(&template.remote_id)
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(unique_err("template", taken(template)))?
            .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("template", template.id));
        }
        Ok(())
    }

    async fn delete_template(&self, tenant: TenantId, id: TemplateId) -> Result<()> {
        self.delete_row("templates", "template", tenant.0, id.0)
            .await
    }

    async fn set_template_status(
        &self,
        tenant: TenantId,
        remote_id: &str,
        status: TemplateStatus,
        reason: Option<String>,
    ) -> Result<Template> {
        Ok(in_tx!(&self.db, |tx, pg| {
            let sql = if pg {
                "SELECT doc FROM templates WHERE tenant_id = $1 AND remote_id = $2 \
                 ORDER BY id LIMIT 1 FOR UPDATE"
            } else {
                "SELECT doc FROM templates WHERE tenant_id = $1 AND remote_id = $2 \
                 ORDER BY id LIMIT 1"
            };
            let row = sqlx::query(sql)
                .bind(tenant.0)
                .bind(remote_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found("template", remote_id))?;
            let mut template: Template = row.json("doc")?;
            template.status = status;
            template.reason = reason;
            template.updated_at = Utc::now();
            sqlx::query("UPDATE templates SET doc = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(template.id.0)
                .bind(to_json(&template)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            template
        }))
    }
}
