use std::ops::Bound;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use wagw_core::ids::{CampaignId, RecipientId, RejectionId, TenantId};
use wagw_core::model::campaign::{
    Campaign, CampaignCounters, CampaignRecipient, CampaignState, RecipientStatus, Rejection,
};
use wagw_core::model::webhook::WebhookDelivery;
use wagw_core::store::{CampaignStore, Page, Paged, RecipientUpdate};
use wagw_core::{Error, Result};

use super::table::parse_cursor;
use super::{MemoryStore, State};

impl State {
    fn recipient_range(
        &self,
        campaign: CampaignId,
        after: Option<RecipientId>,
    ) -> impl Iterator<Item = &CampaignRecipient> {
        let start = match after {
            Some(id) => Bound::Excluded((campaign, id)),
            None => Bound::Included((campaign, RecipientId::from(Uuid::nil()))),
        };
        self.recipients
            .range((start, Bound::Unbounded))
            .take_while(move |((c, _), _)| *c == campaign)
            .map(|(_, r)| r)
    }

    pub(super) fn apply_recipient_update(
        &mut self,
        tenant: TenantId,
        update: &RecipientUpdate,
    ) -> bool {
        let Some(campaign) = self.recipient_campaign.get(&update.id).copied() else {
            return false;
        };
        let Some(recipient) = self.recipients.get_mut(&(campaign, update.id)) else {
            return false;
        };
        if recipient.tenant_id != tenant {
            return false;
        }
        let from = recipient.status;
        let advances = from.can_move_to(update.status);
        // A repeat of the current status may still attach the message it was sent as.
        let attaches = from == update.status && update.message_id.is_some();
        if !(advances || attaches) {
            return false;
        }
        if advances {
            recipient.status = update.status;
        }
        if update.reason.is_some() {
            recipient.reason.clone_from(&update.reason);
        }
        if update.message_id.is_some() {
            recipient.message_id = update.message_id;
        }
        recipient.updated_at = Utc::now();
        if advances {
            // Counted here, the one routine every recipient move goes through, so no caller
            // can change a recipient and forget its campaign's counters.
            let counters = self.counters.entry(campaign).or_default();
            counters.remove(from, 1);
            counters.add(update.status, 1);
        }
        advances
    }

    /// Keeps the index of running and scheduled campaigns in step with `campaign`.
    /// Replaces a campaign with the version check of [`CampaignStore::update_campaign`].
    fn update_campaign(&mut self, campaign: &Campaign) -> Result<u64> {
        let stored = self.campaigns.get_mut(campaign.tenant_id, campaign.id)?;
        if stored.version != campaign.version {
            return Err(Error::conflict(
                "campaign",
                format!(
                    "version {} is stale; the stored version is {}",
                    campaign.version, stored.version
                ),
            ));
        }
        *stored = campaign.clone();
        stored.version += 1;
        let version = stored.version;
        self.index_campaign(campaign);
        Ok(version)
    }

    fn index_campaign(&mut self, campaign: &Campaign) {
        if matches!(
            campaign.state,
            CampaignState::Running | CampaignState::Scheduled
        ) {
            self.active_campaigns
                .insert(campaign.id, campaign.tenant_id);
        } else {
            self.active_campaigns.remove(&campaign.id);
        }
    }
}

fn is_due(campaign: &Campaign, now: DateTime<Utc>) -> bool {
    match campaign.state {
        CampaignState::Running => true,
        CampaignState::Scheduled => campaign.start_at.is_none_or(|at| at <= now),
        _ => false,
    }
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()> {
        let mut state = self.state.write();
        state
            .campaigns
            .insert_new(campaign.tenant_id, campaign.id, campaign.clone())?;
        state
            .counters
            .insert(campaign.id, CampaignCounters::default());
        state.index_campaign(campaign);
        Ok(())
    }

    async fn get_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        self.state.read().campaigns.get(tenant, id).cloned()
    }

    async fn list_campaigns(&self, tenant: TenantId, page: Page) -> Result<Paged<Campaign>> {
        self.state.read().campaigns.page(tenant, &page, |_| true)
    }

    async fn update_campaign(&self, campaign: &Campaign) -> Result<u64> {
        self.state.write().update_campaign(campaign)
    }

    async fn update_campaign_with_deliveries(
        &self,
        campaign: &Campaign,
        deliveries: &[WebhookDelivery],
    ) -> Result<u64> {
        // One lock scope, every check before any write: both are stored or neither.
        let mut state = self.state.write();
        state.check_deliveries(deliveries)?;
        let version = state.update_campaign(campaign)?;
        state.insert_deliveries(deliveries);
        Ok(version)
    }

    async fn delete_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<()> {
        let mut state = self.state.write();
        if state.campaigns.get(tenant, id)?.state == CampaignState::Running {
            return Err(Error::CampaignInProgress { id: id.to_string() });
        }
        state.campaigns.remove(tenant, id)?;
        let keys: Vec<_> = state.recipient_range(id, None).map(|r| r.id).collect();
        for recipient in keys {
            if let Some(r) = state.recipients.remove(&(id, recipient)) {
                state.recipient_phones.remove(&(id, r.phone));
            }
            state.recipient_campaign.remove(&recipient);
        }
        state.counters.remove(&id);
        let rejections: Vec<_> = state
            .rejections
            .range((id, RejectionId::from(Uuid::nil()))..)
            .take_while(|((c, _), _)| *c == id)
            .map(|(key, _)| *key)
            .collect();
        for key in rejections {
            state.rejections.remove(&key);
        }
        state.active_campaigns.remove(&id);
        Ok(())
    }

    async fn due_campaigns(&self, now: DateTime<Utc>, page: Page) -> Result<Paged<Campaign>> {
        let state = self.state.read();
        let limit = page.effective_limit();
        let start = match parse_cursor::<CampaignId>(&page)? {
            Some(id) => Bound::Excluded(id),
            None => Bound::Unbounded,
        };
        let items: Vec<Campaign> = state
            .active_campaigns
            .range((start, Bound::Unbounded))
            .filter_map(|(id, tenant)| state.campaigns.get(*tenant, *id).ok())
            .filter(|c| is_due(c, now))
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(Paged::from_overfetch(items, limit, |c| c.id.to_string()))
    }

    async fn insert_recipients_reporting(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<Vec<usize>> {
        let mut state = self.state.write();
        state.campaigns.get(tenant, campaign)?;
        if let Some(bad) = recipients
            .iter()
            .find(|r| r.tenant_id != tenant || r.campaign_id != campaign)
        {
            return Err(Error::invalid_input(
                "recipients",
                format!("recipient {} belongs to another campaign", bad.id),
            ));
        }
        let mut skipped = Vec::new();
        for (i, r) in recipients.iter().enumerate() {
            // A reused id is skipped like a repeated phone, as the SQL backends' insert does.
            if state.recipient_campaign.contains_key(&r.id)
                || !state.recipient_phones.insert((campaign, r.phone.clone()))
            {
                skipped.push(i);
                continue;
            }
            state.recipient_campaign.insert(r.id, campaign);
            state.recipients.insert((campaign, r.id), r.clone());
            state.counters.entry(campaign).or_default().add(r.status, 1);
        }
        Ok(skipped)
    }

    async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<CampaignRecipient> {
        let state = self.state.read();
        state
            .recipient_campaign
            .get(&id)
            .and_then(|campaign| state.recipients.get(&(*campaign, id)))
            .filter(|r| r.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| Error::not_found("campaign recipient", id))
    }

    async fn list_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        status: Option<RecipientStatus>,
        page: Page,
    ) -> Result<Paged<CampaignRecipient>> {
        let state = self.state.read();
        state.campaigns.get(tenant, campaign)?;
        let limit = page.effective_limit();
        let after = parse_cursor::<RecipientId>(&page)?;
        let items: Vec<_> = state
            .recipient_range(campaign, after)
            .filter(|r| status.is_none_or(|s| r.status == s))
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(Paged::from_overfetch(items, limit, |r| r.id.to_string()))
    }

    async fn update_recipients(
        &self,
        tenant: TenantId,
        updates: &[RecipientUpdate],
    ) -> Result<u64> {
        let mut state = self.state.write();
        Ok(updates
            .iter()
            .map(|u| u64::from(state.apply_recipient_update(tenant, u)))
            .sum())
    }

    async fn retry_failed_recipients(&self, tenant: TenantId, campaign: CampaignId) -> Result<u64> {
        let mut state = self.state.write();
        state.campaigns.get(tenant, campaign)?;
        let start = (campaign, RecipientId::from(Uuid::nil()));
        let now = Utc::now();
        let mut reset = 0;
        for ((c, _), r) in state.recipients.range_mut(start..) {
            if *c != campaign {
                break;
            }
            if r.status == RecipientStatus::Failed {
                r.status = RecipientStatus::Pending;
                r.reason = None;
                r.message_id = None;
                r.updated_at = now;
                reset += 1;
            }
        }
        let counters = state.counters.entry(campaign).or_default();
        counters.failed -= reset;
        counters.pending += reset;
        Ok(reset)
    }

    async fn campaign_counters(
        &self,
        tenant: TenantId,
        id: CampaignId,
    ) -> Result<CampaignCounters> {
        let state = self.state.read();
        state.campaigns.get(tenant, id)?;
        Ok(state.counters.get(&id).copied().unwrap_or_default())
    }

    async fn insert_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        rejections: &[Rejection],
    ) -> Result<u64> {
        let mut state = self.state.write();
        state.campaigns.get(tenant, campaign)?;
        if let Some(bad) = rejections
            .iter()
            .find(|r| r.tenant_id != tenant || r.campaign_id != campaign)
        {
            return Err(Error::invalid_input(
                "rejections",
                format!("rejection {} belongs to another campaign", bad.id),
            ));
        }
        let mut stored = 0;
        for r in rejections {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                state.rejections.entry((campaign, r.id))
            {
                slot.insert(r.clone());
                stored += 1;
            }
        }
        state
            .counters
            .entry(campaign)
            .or_default()
            .add_rejected(stored);
        Ok(stored)
    }

    async fn list_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Paged<Rejection>> {
        let state = self.state.read();
        state.campaigns.get(tenant, campaign)?;
        let limit = page.effective_limit();
        let start = match parse_cursor::<RejectionId>(&page)? {
            Some(id) => Bound::Excluded((campaign, id)),
            None => Bound::Included((campaign, RejectionId::from(Uuid::nil()))),
        };
        let items: Vec<Rejection> = state
            .rejections
            .range((start, Bound::Unbounded))
            .take_while(|((c, _), _)| *c == campaign)
            .take(limit + 1)
            .map(|(_, r)| r.clone())
            .collect();
        Ok(Paged::from_overfetch(items, limit, |r| r.id.to_string()))
    }
}
