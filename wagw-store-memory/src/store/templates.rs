use async_trait::async_trait;
use chrono::Utc;
use wagw_core::ids::{ChannelId, TemplateId, TenantId};
use wagw_core::model::template::{Template, TemplateStatus};
use wagw_core::store::{Page, Paged, TemplateStore};
use wagw_core::{Error, Result};

use super::MemoryStore;

#[async_trait]
impl TemplateStore for MemoryStore {
    async fn create_template(&self, template: &Template) -> Result<()> {
        let mut state = self.state.write();
        let taken = state.templates.tenant_rows(template.tenant_id).any(|t| {
            t.channel_id == template.channel_id
                && t.draft.name == template.draft.name
                && t.draft.language == template.draft.language
        });
        if taken {
            return Err(Error::conflict(
                "template",
                format!(
                    "{} ({}) exists on this channel",
                    template.draft.name, template.draft.language
                ),
            ));
        }
        state
            .templates
            .insert_new(template.tenant_id, template.id, template.clone())
    }

    async fn get_template(&self, tenant: TenantId, id: TemplateId) -> Result<Template> {
        self.state.read().templates.get(tenant, id).cloned()
    }

    async fn find_template(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        name: &str,
        language: &str,
    ) -> Result<Template> {
        self.state
            .read()
            .templates
            .tenant_rows(tenant)
            .find(|t| {
                t.channel_id == channel && t.draft.name == name && t.draft.language == language
            })
            .cloned()
            .ok_or_else(|| Error::not_found("template", format!("{name} ({language})")))
    }

    async fn list_templates(&self, tenant: TenantId, page: Page) -> Result<Paged<Template>> {
        self.state.read().templates.page(tenant, &page, |_| true)
    }

    async fn update_template(&self, template: &Template) -> Result<()> {
        self.state
            .write()
            .templates
            .replace(template.tenant_id, template.id, template.clone())
    }

    async fn delete_template(&self, tenant: TenantId, id: TemplateId) -> Result<()> {
        self.state.write().templates.remove(tenant, id).map(drop)
    }

    async fn set_template_status(
        &self,
        tenant: TenantId,
        remote_id: &str,
        status: TemplateStatus,
        reason: Option<String>,
    ) -> Result<Template> {
        let mut state = self.state.write();
        let template = state
            .templates
            .tenant_rows_mut(tenant)
            .find(|t| t.remote_id.as_deref() == Some(remote_id))
            .ok_or_else(|| Error::not_found("template", remote_id))?;
        template.status = status;
        template.reason = reason;
        template.updated_at = Utc::now();
        Ok(template.clone())
    }
}
