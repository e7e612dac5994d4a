use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::audience::RecipientWriter;
use super::personalize::render;
use super::{CampaignReport, ExpansionReport};
use crate::content::{
    self, Media, MessageContent, OutboundMessage, TemplateComponent, TemplateParameter,
};
use crate::dispatch::Dispatcher;
use crate::ids::{CampaignId, TenantId};
use crate::model::campaign::{
    Campaign, CampaignContent, CampaignCounters, CampaignRecipient, CampaignState, RecipientStatus,
};
use crate::model::message::{MessageRecord, Priority};
use crate::model::template::Template;
use crate::model::tenant::Tenant;
use crate::queue::Queue;
use crate::store::{Page, RecipientUpdate, Store};
use crate::transport::Transport;
use crate::{Error, Result};

/// Recipients turned into messages per store round trip.
const FEED_BATCH: usize = 1_000;
/// How often a running campaign's pending recipients are fed again even when its version did
/// not change: messages held outside the sending window, jobs lost with a crash.
const REFEED_INTERVAL: Duration = Duration::from_secs(30);

/// Runs campaigns on top of a [`Dispatcher`]. Cheap to clone.
pub struct CampaignEngine<S: ?Sized, Q: ?Sized, T: ?Sized> {
    dispatcher: Dispatcher<S, Q, T>,
    /// The campaign version this process last fed each running campaign at, and when. A new
    /// version (resumed, rescheduled, by any process) or an old feed means feed again;
    /// feeding is idempotent, so that costs a pass over pending recipients, never a duplicate.
    fed: Arc<Mutex<HashMap<CampaignId, (u64, Instant)>>>,
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> Clone for CampaignEngine<S, Q, T> {
    fn clone(&self) -> Self {
        Self {
            dispatcher: self.dispatcher.clone(),
            fed: Arc::clone(&self.fed),
        }
    }
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> std::fmt::Debug for CampaignEngine<S, Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignEngine").finish_non_exhaustive()
    }
}

impl<S, Q, T> CampaignEngine<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// An engine that sends through `dispatcher`.
    pub fn new(dispatcher: Dispatcher<S, Q, T>) -> Self {
        Self {
            dispatcher,
            fed: Arc::default(),
        }
    }

    fn store(&self) -> &S {
        self.dispatcher.store()
    }

    /// Validates and stores a draft campaign: the channel exists, the content is sendable
    /// (text within 4,096 characters; template of this channel with as many body parameters
    /// as its body has placeholders).
    pub async fn create(&self, campaign: &Campaign) -> Result<()> {
        if campaign.state != CampaignState::Draft {
            return Err(Error::invalid_input("state", "a new campaign is a draft"));
        }
        if campaign.name.trim().is_empty() {
            return Err(Error::invalid_input("name", "is required"));
        }
        self.store()
            .get_channel(campaign.tenant_id, campaign.channel_id)
            .await?;
        self.check_content(campaign, false).await?;
        self.store().create_campaign(campaign).await
    }

    async fn check_content(&self, campaign: &Campaign, sending: bool) -> Result<()> {
        match &campaign.content {
            CampaignContent::Text { body } => {
                let probe =
                    OutboundMessage::new("628123456789", MessageContent::text(body.clone()));
                probe.validate()
            }
            CampaignContent::Template {
                template_id,
                body_params,
                header_params,
            } => {
                let template = self
                    .store()
                    .get_template(campaign.tenant_id, *template_id)
                    .await?;
                if template.channel_id != campaign.channel_id {
                    return Err(Error::invalid_input(
                        "content.template_id",
                        "the template belongs to another channel",
                    ));
                }
                let (header, body) = template.draft.parameter_counts();
                for (component, expected, actual) in [
                    ("header", header, header_params.len()),
                    ("body", body, body_params.len()),
                ] {
                    if expected != actual {
                        return Err(Error::TemplateParamMismatch {
                            template: template.draft.name.clone(),
                            component: component.into(),
                            expected,
                            actual,
                        });
                    }
                }
                if sending && !template.status.is_sendable() {
                    return Err(Error::InvalidState {
                        entity: "template",
                        state: format!("{:?}", template.status).to_uppercase(),
                        action: "send a campaign with it",
                    });
                }
                Ok(())
            }
        }
    }

    /// Adds the campaign's stored audience (contact filter and explicit numbers) as
    /// recipients. Invalid numbers are reported, duplicates counted and skipped.
    pub async fn expand(&self, tenant: TenantId, id: CampaignId) -> Result<ExpansionReport> {
        let (campaign, tenant) = self.editable(tenant, id).await?;
        let mut writer = RecipientWriter::new(self.store(), tenant.id, id);
        if let Some(filter) = campaign.audience.filter.clone() {
            writer.contacts(filter).await?;
        }
        writer
            .numbers(&campaign.audience.numbers, tenant.default_region)
            .await?;
        writer.flush().await?;
        Ok(writer.report)
    }

    /// Adds the rows of a CSV (with a header naming a phone column) as recipients; the
    /// other columns become per-recipient variables. Bad rows are reported by line.
    pub async fn import_csv(
        &self,
        tenant: TenantId,
        id: CampaignId,
        csv: impl Read + Send,
    ) -> Result<ExpansionReport> {
        let (_, tenant) = self.editable(tenant, id).await?;
        let mut writer = RecipientWriter::new(self.store(), tenant.id, id);
        writer.csv(csv, tenant.default_region).await?;
        writer.flush().await?;
        Ok(writer.report)
    }

    async fn editable(&self, tenant: TenantId, id: CampaignId) -> Result<(Campaign, Tenant)> {
        let campaign = self.store().get_campaign(tenant, id).await?;
        if !matches!(
            campaign.state,
            CampaignState::Draft | CampaignState::Scheduled
        ) {
            return Err(Error::InvalidState {
                entity: "campaign",
                state: campaign.state.as_str().into(),
                action: "add recipients",
            });
        }
        Ok((campaign, self.store().get_tenant(tenant).await?))
    }

    /// Starts a campaign now (`at` = `None` or in the past) or schedules it. The template must
    /// be approved and the campaign must have recipients.
    pub async fn start(
        &self,
        tenant: TenantId,
        id: CampaignId,
        at: Option<DateTime<Utc>>,
    ) -> Result<Campaign> {
        let mut campaign = self.store().get_campaign(tenant, id).await?;
        self.check_content(&campaign, true).await?;
        let counters = self.store().campaign_counters(tenant, id).await?;
        if counters.total == 0 {
            return Err(Error::InvalidState {
                entity: "campaign",
                state: "empty".into(),
                action: "start without recipients",
            });
        }
        let now = Utc::now();
        match at.filter(|at| *at > now) {
            Some(at) => {
                campaign.transition(CampaignState::Scheduled, "schedule")?;
                campaign.start_at = Some(at);
            }
            None => {
                campaign.transition(CampaignState::Running, "start")?;
            }
        }
        campaign.version = self.store().update_campaign(&campaign).await?;
        Ok(campaign)
    }

    /// Pauses a running or scheduled campaign at once; nothing more is sent until it resumes.
    pub async fn pause(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        self.move_to(tenant, id, CampaignState::Paused, "pause")
            .await
    }

    /// Resumes a paused campaign where it stopped; what was sent is not sent again.
    pub async fn resume(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        let campaign = self
            .move_to(tenant, id, CampaignState::Running, "resume")
            .await?;
        self.fed.lock().remove(&id);
        Ok(campaign)
    }

    /// Sends failed recipients again in a new round (new messages, so nothing already sent is
    /// sent again): a completed or failed campaign runs again for them. Returns how many
    /// recipients were retried.
    pub async fn retry_failed(&self, tenant: TenantId, id: CampaignId) -> Result<u64> {
        let mut campaign = self.store().get_campaign(tenant, id).await?;
        if matches!(
            campaign.state,
            CampaignState::Completed | CampaignState::Failed
        ) {
            campaign.transition(CampaignState::Running, "retry failed recipients")?;
        } else if campaign.state != CampaignState::Running
            && campaign.state != CampaignState::Paused
        {
            return Err(Error::InvalidState {
                entity: "campaign",
                state: campaign.state.as_str().into(),
                action: "retry failed recipients",
            });
        }
        campaign.round += 1;
        campaign.failure_reason = None;
        // The campaign first: were the process to stop in between, a running campaign with
        // failed recipients is harmless, pending recipients in a completed one are not.
        self.store().update_campaign(&campaign).await?;
        self.store().retry_failed_recipients(tenant, id).await
    }

    /// Cancels a campaign for good; recipients not yet sent are skipped with a reason.
    pub async fn cancel(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        let campaign = self
            .move_to(tenant, id, CampaignState::Cancelled, "cancel")
            .await?;
        self.skip_pending(tenant, id, "the campaign was cancelled")
            .await?;
        Ok(campaign)
    }

    async fn move_to(
        &self,
        tenant: TenantId,
        id: CampaignId,
        to: CampaignState,
        action: &'static str,
    ) -> Result<Campaign> {
        let mut campaign = self.store().get_campaign(tenant, id).await?;
        campaign.transition(to, action)?;
        campaign.version = self.store().update_campaign(&campaign).await?;
        Ok(campaign)
    }

    async fn skip_pending(&self, tenant: TenantId, id: CampaignId, reason: &str) -> Result<()> {
        loop {
            // Skipped recipients leave the pending listing, so the first page is always next.
            let page = self
                .store()
                .list_recipients(
                    tenant,
                    id,
                    Some(RecipientStatus::Pending),
                    Page::first(FEED_BATCH),
                )
                .await?;
            if page.items.is_empty() {
                return Ok(());
            }
            let updates: Vec<_> = page
                .items
                .iter()
                .map(|r| RecipientUpdate {
                    id: r.id,
                    status: RecipientStatus::Skipped,
                    reason: Some(reason.to_owned()),
                    message_id: None,
                })
                .collect();
            self.store().update_recipients(tenant, &updates).await?;
        }
    }

    /// Live counts by recipient status.
    pub async fn counters(&self, tenant: TenantId, id: CampaignId) -> Result<CampaignCounters> {
        self.store().campaign_counters(tenant, id).await
    }

    /// The campaign, its counters and every recipient with status and reason.
    pub async fn report(&self, tenant: TenantId, id: CampaignId) -> Result<CampaignReport> {
        CampaignReport::build(self.store(), tenant, id).await
    }

    /// Drives every campaign of the gateway once: starts scheduled campaigns that are due,
    /// feeds running ones inside their sending window, and completes drained ones. Call it
    /// every second or so; concurrent callers in other processes are safe.
    pub async fn tick(&self) -> Result<()> {
        let now = Utc::now();
        let mut tenants = Page::first(500);
        loop {
            let page = self.store().list_tenants(tenants.clone()).await?;
            for tenant in &page.items {
                self.tick_tenant(tenant, now).await?;
            }
            match page.next {
                Some(next) => tenants = Page::after(500, next),
                None => return Ok(()),
            }
        }
    }

    async fn tick_tenant(&self, tenant: &Tenant, now: DateTime<Utc>) -> Result<()> {
        let mut cursor = Page::first(500);
        loop {
            let page = self.store().list_campaigns(tenant.id, cursor).await?;
            for campaign in page.items {
                let outcome = match campaign.state {
                    CampaignState::Scheduled if campaign.start_at.is_none_or(|at| at <= now) => {
                        self.move_to(tenant.id, campaign.id, CampaignState::Running, "start")
                            .await
                            .map(drop)
                    }
                    CampaignState::Running => self.drive(tenant, campaign, now).await,
                    _ => Ok(()),
                };
                match outcome {
                    // Another process moved the campaign first; it is in good hands.
                    Err(Error::Conflict { .. }) => {}
                    other => other?,
                }
            }
            match page.next {
                Some(next) => cursor = Page::after(500, next),
                None => return Ok(()),
            }
        }
    }

    async fn drive(
        &self,
        tenant: &Tenant,
        mut campaign: Campaign,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let in_window = campaign
            .window
            .is_none_or(|w| w.contains(now.with_timezone(&tenant.timezone).time()));
        if !in_window {
            // The dispatcher holds messages outside the window; feed again when it opens.
            self.fed.lock().remove(&campaign.id);
            return Ok(());
        }
        let counters = self
            .store()
            .campaign_counters(tenant.id, campaign.id)
            .await?;
        let stale = self
            .fed
            .lock()
            .get(&campaign.id)
            .is_none_or(|(version, at)| {
                *version != campaign.version || at.elapsed() >= REFEED_INTERVAL
            });
        if stale && !counters.is_drained() {
            match self.feed(&campaign).await {
                Ok(()) => {}
                // The template was paused, rejected, deleted or changed after the start: the
                // campaign cannot go on, and says why.
                Err(
                    e @ (Error::InvalidState { .. }
                    | Error::TemplateParamMismatch { .. }
                    | Error::NotFound {
                        entity: "template", ..
                    }),
                ) => {
                    campaign.transition(CampaignState::Failed, "fail")?;
                    campaign.failure_reason = Some(e.to_string());
                    self.store().update_campaign(&campaign).await?;
                    tracing::warn!(campaign = %campaign.id, error = %e, "campaign failed");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            self.fed
                .lock()
                .insert(campaign.id, (campaign.version, Instant::now()));
        } else if counters.is_drained() {
            campaign.transition(CampaignState::Completed, "complete")?;
            campaign.version = self.store().update_campaign(&campaign).await?;
            self.fed.lock().remove(&campaign.id);
            tracing::info!(campaign = %campaign.id, sent = counters.reached_sent(), failed = counters.failed, "campaign completed");
        }
        Ok(())
    }

    /// Submits a message for every pending recipient. Idempotent: a recipient's message has a
    /// fixed idempotency key, and the queue refuses a second job for the same message.
    async fn feed(&self, campaign: &Campaign) -> Result<()> {
        let tenant = campaign.tenant_id;
        let prepared = match &campaign.content {
            CampaignContent::Text { body } => Prepared::Text(body),
            CampaignContent::Template {
                template_id,
                header_params,
                body_params,
            } => Prepared::Template {
                template: Box::new(self.store().get_template(tenant, *template_id).await?),
                header: header_params,
                body: body_params,
            },
        };
        let mut page = Page::first(FEED_BATCH);
        loop {
            let recipients = self
                .store()
                .list_recipients(tenant, campaign.id, Some(RecipientStatus::Pending), page)
                .await?;
            let messages = recipients
                .items
                .iter()
                .map(|r| message_for(campaign, &prepared, r))
                .collect::<Vec<_>>();
            let inserted = self.dispatcher.submit_many(&messages).await?;
            let attach: Vec<_> = recipients
                .items
                .iter()
                .zip(&inserted)
                .filter(|(r, i)| r.message_id != Some(i.id))
                .map(|(r, i)| RecipientUpdate {
                    id: r.id,
                    status: RecipientStatus::Pending,
                    reason: None,
                    message_id: Some(i.id),
                })
                .collect();
            if !attach.is_empty() {
                self.store().update_recipients(tenant, &attach).await?;
            }
            match recipients.next {
                Some(next) => page = Page::after(FEED_BATCH, next),
                None => return Ok(()),
            }
        }
    }
}

/// A campaign's content with its template loaded, ready to render per recipient.
enum Prepared<'a> {
    Text(&'a str),
    Template {
        template: Box<Template>,
        header: &'a [String],
        body: &'a [String],
    },
}

/// The message a recipient receives, rendered with their variables.
fn message_for(
    campaign: &Campaign,
    prepared: &Prepared<'_>,
    r: &CampaignRecipient,
) -> MessageRecord {
    let content = match prepared {
        Prepared::Text(text) => MessageContent::text(render(text, &r.variables)),
        Prepared::Template {
            template,
            header,
            body,
        } => MessageContent::Template(template_content(template, header, body, r)),
    };
    let body = OutboundMessage::new(r.phone.as_str(), content);
    let mut message = MessageRecord::outbound(
        r.tenant_id,
        campaign.channel_id,
        r.phone.clone(),
        body,
        Priority::Bulk,
    )
    .with_idempotency_key(match campaign.round {
        0 => format!("campaign:{}:{}", campaign.id, r.id),
        round => format!("campaign:{}:{}:{round}", campaign.id, r.id),
    });
    message.campaign_id = Some(campaign.id);
    message.recipient_id = Some(r.id);
    message
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
