//! Turning a campaign's recipients into messages: once each, in id order, with the cursor
//! saved after every batch; and queuing again the messages the dispatcher held while the
//! campaign could not send.

use super::engine::{CampaignEngine, FEED_BATCH};
use super::personalize::render;
use crate::content::{self, Media, MessageContent, TemplateComponent, TemplateParameter};
use crate::dispatch::NewMessage;
use crate::model::campaign::{Campaign, CampaignContent, CampaignRecipient, RecipientStatus};
use crate::model::message::{MessageStatus, Priority};
use crate::model::template::Template;
use crate::queue::Queue;
use crate::store::{MessageQuery, Page, RecipientUpdate, Store};
use crate::transport::Transport;
use crate::{Error, Result};

impl<S, Q, T> CampaignEngine<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// Feeds the rest of the round: every pending recipient after the saved cursor gets its
    /// message. A recipient whose message cannot be sent (its rendered content is invalid)
    /// fails alone, with the reason. The cursor is saved after each batch; were the save to
    /// lose a race or the process to stop, the batch is fed again, which changes nothing.
    pub(super) async fn feed(&self, campaign: &mut Campaign) -> Result<()> {
        let tenant = campaign.tenant_id;
        // What holds for the whole campaign (its template is still approved and takes these
        // parameters) fails the campaign; only what one recipient's row breaks fails the row.
        self.check_content(campaign, true).await?;
        let prepared = match &campaign.content {
            CampaignContent::Text { body } => Prepared::Text(body.clone()),
            CampaignContent::Template {
                template_id,
                header_params,
                body_params,
            } => Prepared::Template {
                template: Box::new(self.store().get_template(tenant, *template_id).await?),
                header: header_params.clone(),
                body: body_params.clone(),
            },
        };
        loop {
            let page = match &campaign.feed.after {
                Some(after) => Page::after(FEED_BATCH, after.clone()),
                None => Page::first(FEED_BATCH),
            };
            let recipients = self
                .store()
                .list_recipients(tenant, campaign.id, Some(RecipientStatus::Pending), page)
                .await?;
            let messages = recipients
                .items
                .iter()
                .map(|r| message_for(campaign, &prepared, r))
                .collect();
            let results = self.dispatcher.submit_each(messages).await?;
            let updates: Vec<_> = recipients
                .items
                .iter()
                .zip(results)
                .filter_map(|(r, result)| match result {
                    Ok(inserted) if r.message_id != Some(inserted.id) => Some(RecipientUpdate {
                        id: r.id,
                        status: RecipientStatus::Pending,
                        reason: None,
                        message_id: Some(inserted.id),
                    }),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::info!(campaign = %campaign.id, recipient = %r.id, error = %e, "recipient refused");
                        Some(RecipientUpdate {
                            id: r.id,
                            status: RecipientStatus::Failed,
                            reason: Some(e.to_string()),
                            message_id: None,
                        })
                    }
                })
                .collect();
            if !updates.is_empty() {
                self.store().update_recipients(tenant, &updates).await?;
            }
            match recipients.next {
                Some(next) => campaign.feed.after = Some(next),
                None => campaign.feed.done = true,
            }
            match self.store().update_campaign(campaign).await {
                Ok(version) => campaign.version = version,
                // Paused, cancelled or fed by another process meanwhile: the next tick goes
                // on from the saved cursor.
                Err(Error::Conflict { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
            if campaign.feed.done {
                return Ok(());
            }
        }
    }

    /// Queues again the campaign's messages that are still `queued`: the dispatcher gives
    /// up the job of a message it holds (campaign paused, outside its window), and this
    /// brings it back. Jobs are deduplicated by message, so a message with a live job keeps
    /// just that one.
    pub(super) async fn requeue_held(&self, campaign: &Campaign) -> Result<()> {
        let query = MessageQuery {
            campaign: Some(campaign.id),
            status: Some(MessageStatus::Queued),
            ..MessageQuery::default()
        };
        let mut page = Page::first(FEED_BATCH);
        loop {
            let held = self
                .store()
                .list_messages(campaign.tenant_id, &query, page)
                .await?;
            self.dispatcher.requeue(&held.items).await?;
            match held.next {
                Some(next) => page = Page::after(FEED_BATCH, next),
                None => return Ok(()),
            }
        }
    }
}

/// A campaign's content with its template loaded, ready to render per recipient.
enum Prepared {
    Text(String),
    Template {
        template: Box<Template>,
        header: Vec<String>,
        body: Vec<String>,
    },
}

/// The message a recipient receives, rendered with their variables. Its idempotency key is
/// fixed per campaign, recipient and round, so feeding twice never makes two messages.
fn message_for(campaign: &Campaign, prepared: &Prepared, r: &CampaignRecipient) -> NewMessage {
    let content = match prepared {
        Prepared::Text(text) => MessageContent::text(render(text, &r.variables)),
        Prepared::Template {
            template,
            header,
            body,
        } => MessageContent::Template(template_content(template, header, body, r)),
    };
    NewMessage::new(r.tenant_id, campaign.channel_id, r.phone.clone(), content)
        .priority(Priority::Bulk)
        .idempotency_key(match campaign.round {
            0 => format!("campaign:{}:{}", campaign.id, r.id),
            round => format!("campaign:{}:{}:{round}", campaign.id, r.id),
        })
        .campaign(campaign.id, r.id)
}

/// A template message for one recipient. A media header's parameter is the media's link.
fn template_content(
    template: &Template,
    header_params: &[String],
    body_params: &[String],
    r: &CampaignRecipient,
) -> content::Template {
    let header_format = template.draft.header_format();
    let header = header_params.iter().map(|p| {
        let value = render(p, &r.variables);
        match header_format.as_deref() {
            Some("IMAGE") => TemplateParameter::image(Media::from_link(value)),
            Some("VIDEO") => TemplateParameter::video(Media::from_link(value)),
            Some("DOCUMENT") => TemplateParameter::document(Media::from_link(value)),
            _ => TemplateParameter::text(value),
        }
    });
    let body = body_params
        .iter()
        .map(|p| TemplateParameter::text(render(p, &r.variables)));
    let mut message =
        content::Template::new(template.draft.name.clone(), template.draft.language.clone());
    if !header_params.is_empty() {
        message = message.with_component(TemplateComponent::header(header));
    }
    if !body_params.is_empty() {
        message = message.with_component(TemplateComponent::body(body));
    }
    message
}
