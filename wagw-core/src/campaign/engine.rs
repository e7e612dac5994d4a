use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::audience::RecipientWriter;
use super::{CampaignReport, ExpansionReport};
use crate::content::{MessageContent, OutboundMessage};
use crate::conversation::events::campaign_completed;
use crate::dispatch::Dispatcher;
use crate::ids::{CampaignId, TenantId};
use crate::model::campaign::{
    Campaign, CampaignContent, CampaignCounters, CampaignState, FeedCursor, RecipientStatus,
};
use crate::model::message::MessageError;
use crate::model::tenant::Tenant;
use crate::queue::Queue;
use crate::store::{Page, RecipientUpdate, Store};
use crate::transport::Transport;
use crate::{Error, Result};

/// Recipients turned into messages per store round trip.
pub(super) const FEED_BATCH: usize = 1_000;

/// Runs campaigns on top of a [`Dispatcher`]. Cheap to clone.
pub struct CampaignEngine<S: ?Sized, Q: ?Sized, T: ?Sized> {
    pub(super) dispatcher: Dispatcher<S, Q, T>,
    /// The campaigns this process saw sending (running, inside their window) at its last
    /// tick. A campaign that was not among them (new to this process, resumed, or back in
    /// its window) gets the messages the dispatcher held for it queued again.
    sending: Arc<Mutex<HashSet<CampaignId>>>,
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> Clone for CampaignEngine<S, Q, T> {
    fn clone(&self) -> Self {
        Self {
            dispatcher: self.dispatcher.clone(),
            sending: Arc::clone(&self.sending),
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
            sending: Arc::default(),
        }
    }

    pub(super) fn store(&self) -> &S {
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

    pub(super) async fn check_content(&self, campaign: &Campaign, sending: bool) -> Result<()> {
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
        // Refused input rows are counted too; they are not recipients.
        if counters.recipients() == 0 {
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

    /// Resumes a paused campaign where it stopped; what was sent is not sent again, and the
    /// messages held while it was paused are queued again.
    pub async fn resume(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        let campaign = self
            .move_to(tenant, id, CampaignState::Running, "resume")
            .await?;
        self.requeue_held(&campaign).await?;
        Ok(campaign)
    }

    /// Sends the failed recipients of a finished (completed or failed) campaign again, in a
    /// new round: new messages, so nothing already sent is sent again. A running or paused
    /// campaign is refused with [`InvalidState`](Error::InvalidState): its pending
    /// recipients already have messages, and a new round would give them a second one.
    /// Returns how many recipients were retried.
    pub async fn retry_failed(&self, tenant: TenantId, id: CampaignId) -> Result<u64> {
        let mut campaign = self.store().get_campaign(tenant, id).await?;
        if !matches!(
            campaign.state,
            CampaignState::Completed | CampaignState::Failed
        ) {
            return Err(Error::InvalidState {
                entity: "campaign",
                state: campaign.state.as_str().into(),
                action: "retry failed recipients before it has finished",
            });
        }
        campaign.transition(CampaignState::Running, "retry failed recipients")?;
        campaign.round += 1;
        campaign.feed = FeedCursor::default();
        campaign.failure_reason = None;
        // The campaign first: were the process to stop in between, a running campaign with
        // failed recipients is harmless, pending recipients in a completed one are not.
        self.store().update_campaign(&campaign).await?;
        let retried = self.store().retry_failed_recipients(tenant, id).await?;
        // A feeder in another process may have run between the two writes, found nothing
        // pending and closed the round: open it again now that the recipients are pending.
        loop {
            let mut campaign = self.store().get_campaign(tenant, id).await?;
            if !campaign.feed.done || campaign.state != CampaignState::Running {
                return Ok(retried);
            }
            campaign.feed = FeedCursor::default();
            match self.store().update_campaign(&campaign).await {
                Ok(_) => return Ok(retried),
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Cancels a campaign for good: messages not yet sent fail with reason
    /// `campaign_cancelled` and their recipients, like those never fed, are skipped. Calling
    /// it again on a cancelled campaign finishes that clean-up (after a crash, say).
    pub async fn cancel(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        let current = self.store().get_campaign(tenant, id).await?;
        let campaign = if current.state == CampaignState::Cancelled {
            current
        } else {
            self.move_to(tenant, id, CampaignState::Cancelled, "cancel")
                .await?
        };
        // Messages held while paused, or queued and not reached yet, never go out now.
        let error = MessageError {
            code: None,
            reason: CAMPAIGN_CANCELLED.into(),
        };
        self.store()
            .fail_queued_campaign_messages(tenant, id, &error, RecipientStatus::Skipped)
            .await?;
        self.skip_pending(tenant, id, CAMPAIGN_CANCELLED).await?;
        Ok(campaign)
    }

    /// Moves a campaign to `to`, reading it again if another writer (a feeder saving its
    /// cursor, say) got there first.
    pub(super) async fn move_to(
        &self,
        tenant: TenantId,
        id: CampaignId,
        to: CampaignState,
        action: &'static str,
    ) -> Result<Campaign> {
        let mut tries = 0;
        loop {
            let mut campaign = self.store().get_campaign(tenant, id).await?;
            campaign.transition(to, action)?;
            match self.save(&campaign).await {
                Ok(version) => {
                    campaign.version = version;
                    return Ok(campaign);
                }
                Err(Error::Conflict { .. }) if tries < 5 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Saves a campaign (version check as [`update_campaign`](crate::store::CampaignStore::update_campaign)).
    /// One that reaches a final state carries its `campaign_completed` outbox event in the same
    /// store step: the one writer whose version check passes writes the one event, and a driver
    /// running again finds the campaign final and writes nothing.
    async fn save(&self, campaign: &Campaign) -> Result<u64> {
        if !campaign.state.is_final() {
            return self.store().update_campaign(campaign).await;
        }
        let tenant = campaign.tenant_id;
        let counters = self.store().campaign_counters(tenant, campaign.id).await?;
        let subscriptions = self.store().list_subscriptions(tenant).await?;
        let deliveries = campaign_completed(campaign, &counters, &subscriptions);
        self.store()
            .update_campaign_with_deliveries(campaign, &deliveries)
            .await
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
    /// every second or so; concurrent callers in other processes are safe. It reads only
    /// campaigns that are due or running.
    pub async fn tick(&self) -> Result<()> {
        let now = Utc::now();
        let mut sending = HashSet::new();
        let mut cursor = Page::first(500);
        let mut tenants: HashMap<TenantId, Tenant> = HashMap::new();
        loop {
            let page = self.store().due_campaigns(now, cursor).await?;
            for campaign in page.items {
                let tenant = match tenants.get(&campaign.tenant_id) {
                    Some(t) => t.clone(),
                    None => {
                        let t = self.store().get_tenant(campaign.tenant_id).await?;
                        tenants.insert(t.id, t.clone());
                        t
                    }
                };
                let outcome = match campaign.state {
                    CampaignState::Scheduled => self
                        .move_to(tenant.id, campaign.id, CampaignState::Running, "start")
                        .await
                        .map(drop),
                    CampaignState::Running => {
                        self.drive(&tenant, campaign, now, &mut sending).await
                    }
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
                None => break,
            }
        }
        *self.sending.lock() = sending;
        Ok(())
    }

    async fn drive(
        &self,
        tenant: &Tenant,
        mut campaign: Campaign,
        now: DateTime<Utc>,
        sending: &mut HashSet<CampaignId>,
    ) -> Result<()> {
        let in_window = campaign
            .window
            .is_none_or(|w| w.contains(now.with_timezone(&tenant.timezone).time()));
        if !in_window {
            // The dispatcher holds messages outside the window; they are queued again when it
            // opens (the campaign is then new to `sending`).
            return Ok(());
        }
        sending.insert(campaign.id);
        if !self.sending.lock().contains(&campaign.id) {
            self.requeue_held(&campaign).await?;
        }
        if !campaign.feed.done {
            match self.feed(&mut campaign).await {
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
                    self.save(&campaign).await?;
                    tracing::warn!(campaign = %campaign.id, error = %e, "campaign failed");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            return Ok(());
        }
        let counters = self
            .store()
            .campaign_counters(tenant.id, campaign.id)
            .await?;
        if counters.is_drained() {
            campaign.transition(CampaignState::Completed, "complete")?;
            campaign.version = self.save(&campaign).await?;
            tracing::info!(campaign = %campaign.id, sent = counters.reached_sent(), failed = counters.failed, "campaign completed");
        }
        Ok(())
    }
}

/// The reason a cancelled campaign's unsent messages and recipients carry.
pub(super) const CAMPAIGN_CANCELLED: &str = "campaign_cancelled";
