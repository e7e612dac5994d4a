//! Template sync: a periodic pull that keeps stored templates in step with Meta, next to the
//! `message_template_status_update` webhooks the [inbound pipeline](super::inbound) applies.
//!
//! [`sync_channel`] pages through the templates of a channel's business account
//! ([`Transport::list_templates`]) and, for each:
//!
//! - a stored template (same channel, name and language) whose status or Meta id differ is
//!   updated, and a `template_status` outbox event is written;
//! - a template Meta has but the store has not (made in WhatsApp Manager) is imported;
//! - after a complete listing, a stored template that carries a Meta id Meta no longer lists
//!   is marked [`Deleted`](TemplateStatus::Deleted).
//!
//! The dispatcher checks a template's stored status before every send, so campaigns that use
//! a template Meta paused or disabled fail those messages with the reason instead of sending
//! them to fail at Meta. Run it per channel every few minutes (or after a reconnect, when
//! webhooks may have been missed); it is idempotent.

use std::collections::HashSet;

use super::inbound::template_event;
use crate::Result;
use crate::model::channel::Channel;
use crate::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
use crate::model::webhook::WebhookDelivery;
use crate::store::{Page, Store};
use crate::transport::{RemoteTemplate, Transport};

/// What one sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Templates Meta listed.
    pub listed: u64,
    /// Stored templates whose status or Meta id changed.
    pub updated: u64,
    /// Templates imported from Meta.
    pub imported: u64,
    /// Stored templates Meta no longer lists, marked deleted.
    pub deleted: u64,
}

/// Pulls the channel's templates from Meta and brings the stored ones in step; see the
/// [module docs](self).
pub async fn sync_channel<S, T>(store: &S, transport: &T, channel: &Channel) -> Result<SyncReport>
where
    S: Store + ?Sized,
    T: Transport + ?Sized,
{
    let tenant = channel.tenant_id;
    let mut report = SyncReport::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut events: Vec<WebhookDelivery> = Vec::new();
    let subscriptions = store.list_subscriptions(tenant).await?;
    let mut after: Option<String> = None;
    loop {
        let page = transport.list_templates(channel, after.as_deref()).await?;
        for remote in &page.templates {
            report.listed += 1;
            seen.insert(remote.id.clone());
            let stored = match store
                .find_template(tenant, channel.id, &remote.name, &remote.language)
                .await
            {
                Ok(t) => Some(t),
                Err(crate::Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            match stored {
                Some(mut template) => {
                    if template.status == remote.status
                        && template.remote_id.as_deref() == Some(remote.id.as_str())
                    {
                        continue;
                    }
                    template.status = remote.status;
                    template.remote_id = Some(remote.id.clone());
                    template.updated_at = chrono::Utc::now();
                    store.update_template(&template).await?;
                    report.updated += 1;
                    events.extend(status_event(&template).deliveries(&subscriptions));
                }
                None => {
                    if let Some(template) = import(channel, remote) {
                        store.create_template(&template).await?;
                        report.imported += 1;
                        events.extend(status_event(&template).deliveries(&subscriptions));
                    }
                }
            }
        }
        match page.after {
            Some(next) if !page.templates.is_empty() => after = Some(next),
            _ => break,
        }
    }
    // Stored templates with a Meta id that Meta no longer lists were deleted there.
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let stored = store.list_templates(tenant, page).await?;
        for mut template in stored.items {
            let gone = template.channel_id == channel.id
                && template.status != TemplateStatus::Deleted
                && template
                    .remote_id
                    .as_ref()
                    .is_some_and(|id| !seen.contains(id));
            if gone {
                template.status = TemplateStatus::Deleted;
                template.updated_at = chrono::Utc::now();
                store.update_template(&template).await?;
                report.deleted += 1;
                events.extend(status_event(&template).deliveries(&subscriptions));
            }
        }
        match stored.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => break,
        }
    }
    store.enqueue_deliveries(&events).await?;
    tracing::debug!(channel = %channel.id, ?report, "templates synced");
    Ok(report)
}

fn status_event(template: &Template) -> super::OutboxEvent {
    template_event(
        template.tenant_id,
        &template.id.to_string(),
        template.channel_id,
        &template.draft.name,
        &template.draft.language,
        template.status,
        template.reason.as_deref(),
    )
}

/// A stored template for one Meta lists but the store lacks; `None` when its category or
/// components are not understood.
fn import(channel: &Channel, remote: &RemoteTemplate) -> Option<Template> {
    let category: TemplateCategory =
        serde_json::from_value(serde_json::Value::String(remote.category.clone()?)).ok()?;
    let components = remote.components.as_array()?.clone();
    let draft = TemplateDraft {
        name: remote.name.clone(),
        language: remote.language.clone(),
        category,
        components,
    };
    let mut template = Template::new(channel.tenant_id, channel.id, draft);
    template.status = remote.status;
    template.remote_id = Some(remote.id.clone());
    Some(template)
}
