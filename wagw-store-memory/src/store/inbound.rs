//! The inbound pipeline's durable steps, conversation jobs, rule cooldowns and analytics.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use wagw_core::conversation::events::{MovedStatus, StatusOutbox};
use wagw_core::ids::{CampaignId, ChannelId, FlowId, MessageId, RuleId, TenantId};
use wagw_core::ingest::recipient_updates;
use wagw_core::model::channel::Channel;
use wagw_core::model::contact::Contact;
use wagw_core::model::conversation::{
    ConversationJob, EngagementCount, HandledCount, InboundIngest, IngestResult, JobSettlement,
    JobState, PROFILE_NAME_FIELD, USER_ID_FIELD, VOLUME_BUCKET_SECS, VolumeBucket,
};
use wagw_core::model::flow::EngagementKind;
use wagw_core::model::message::{Direction, MessageRecord, MessageStatus, StatusChange};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{AnalyticsStore, AppliedStatuses, InboundStore, WamidUpdate};
use wagw_core::{Error, Result};

use super::{MemoryStore, State};

/// A cooldown's key: (tenant, rule, channel, contact).
type CooldownKey = (TenantId, RuleId, ChannelId, PhoneNumber);

/// What only the inbound side keeps.
#[derive(Debug, Default)]
pub(super) struct InboundState {
    /// Conversation jobs by (tenant, inbound message).
    jobs: BTreeMap<(TenantId, MessageId), ConversationJob>,
    /// Cooldown ends by (tenant, rule, channel, contact).
    /// Until when, and for which job (inbound wamid).
    cooldowns: HashMap<CooldownKey, (DateTime<Utc>, String)>,
}

fn lease_delta(lease: Duration) -> Result<TimeDelta> {
    TimeDelta::from_std(lease).map_err(|_| Error::invalid_input("lease", "is too long"))
}

impl State {
    /// Checks everything `ingest_inbound` could refuse, before anything is written.
    fn check_ingest(&self, ingest: &InboundIngest) -> Result<()> {
        let message = &ingest.message;
        if message.direction != Direction::Inbound || message.wamid.is_none() {
            return Err(Error::invalid_input(
                "message",
                "an ingested message must be inbound and carry its wamid",
            ));
        }
        for d in &ingest.deliveries {
            if d.tenant_id != message.tenant_id {
                return Err(Error::invalid_input(
                    "deliveries",
                    "a delivery belongs to another tenant",
                ));
            }
            self.subscriptions.get(d.tenant_id, d.subscription_id)?;
            if self.deliveries.contains(d.tenant_id, d.id) {
                return Err(Error::conflict(
                    "webhook delivery",
                    format!("{} exists", d.id),
                ));
            }
        }
        self.channels.get(message.tenant_id, message.channel_id)?;
        Ok(())
    }
}

#[async_trait]
impl InboundStore for MemoryStore {
    async fn ingest_inbound(&self, ingest: &InboundIngest) -> Result<IngestResult> {
        let mut state = self.state.write();
        state.check_ingest(ingest)?;
        let message = &ingest.message;
        let tenant = message.tenant_id;
        let inserted = state.insert_message(message)?;
        if !inserted.created {
            return Ok(IngestResult {
                message_id: inserted.id,
                created: false,
                contact_id: None,
            });
        }
        let now = Utc::now();
        let profile = &ingest.profile;
        let key = (tenant, message.contact_phone.clone());
        let contact_id = match state.contact_by_phone.get(&key).copied() {
            Some(id) => {
                let contact = state.contacts.get_mut(tenant, id)?;
                if contact.name.is_none() {
                    contact.name.clone_from(&profile.profile_name);
                }
                if let Some(name) = &profile.profile_name {
                    contact
                        .fields
                        .insert(PROFILE_NAME_FIELD.into(), name.clone());
                }
                if let Some(user) = &profile.user_id {
                    contact.fields.insert(USER_ID_FIELD.into(), user.clone());
                }
                contact.updated_at = now;
                id
            }
            None => {
                let mut contact = Contact::new(
                    tenant,
                    message.contact_phone.clone(),
                    profile.profile_name.clone(),
                );
                if let Some(name) = &profile.profile_name {
                    contact
                        .fields
                        .insert(PROFILE_NAME_FIELD.into(), name.clone());
                }
                if let Some(user) = &profile.user_id {
                    contact.fields.insert(USER_ID_FIELD.into(), user.clone());
                }
                let id = contact.id;
                state.contacts.insert_new(tenant, id, contact)?;
                state.contact_by_phone.insert(key, id);
                id
            }
        };
        if ingest.answer {
            let job = ConversationJob {
                message_id: message.id,
                tenant_id: tenant,
                channel_id: message.channel_id,
                contact_phone: message.contact_phone.clone(),
                wamid: message.wamid.clone().unwrap_or_default(),
                state: JobState::Pending,
                attempts: 0,
                run_at: message.created_at,
                handled_by: None,
                last_error: None,
                created_at: message.created_at,
                finished_at: None,
            };
            state.inbound.jobs.insert((tenant, message.id), job);
        }
        for d in &ingest.deliveries {
            state.deliveries.insert_new(d.tenant_id, d.id, d.clone())?;
        }
        Ok(IngestResult {
            message_id: message.id,
            created: true,
            contact_id: Some(contact_id),
        })
    }

    async fn claim_conversation_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ConversationJob>> {
        let until = now + lease_delta(lease)?;
        let mut state = self.state.write();
        let jobs = &mut state.inbound.jobs;
        // The oldest pending job of each contact, by message id (time-ordered).
        let mut heads: HashMap<(TenantId, ChannelId, PhoneNumber), MessageId> = HashMap::new();
        for job in jobs.values().filter(|j| j.state == JobState::Pending) {
            let key = (job.tenant_id, job.channel_id, job.contact_phone.clone());
            let head = heads.entry(key).or_insert(job.message_id);
            *head = (*head).min(job.message_id);
        }
        let mut due: Vec<&mut ConversationJob> = jobs
            .values_mut()
            .filter(|j| {
                j.state == JobState::Pending
                    && j.run_at <= now
                    && heads.get(&(j.tenant_id, j.channel_id, j.contact_phone.clone()))
                        == Some(&j.message_id)
            })
            .collect();
        due.sort_by_key(|j| (j.run_at, j.message_id));
        let mut claimed: Vec<ConversationJob> = due
            .into_iter()
            .take(limit)
            .map(|j| {
                j.run_at = until;
                j.attempts += 1;
                j.clone()
            })
            .collect();
        claimed.sort_by_key(|j| j.message_id);
        Ok(claimed)
    }

    async fn get_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<ConversationJob> {
        self.state
            .read()
            .inbound
            .jobs
            .get(&(tenant, message))
            .cloned()
            .ok_or_else(|| Error::not_found("conversation job", message))
    }

    async fn settle_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
        settlement: &JobSettlement,
    ) -> Result<()> {
        let mut state = self.state.write();
        let job = state
            .inbound
            .jobs
            .get_mut(&(tenant, message))
            .ok_or_else(|| Error::not_found("conversation job", message))?;
        match settlement {
            JobSettlement::Done(handled_by) => {
                job.state = JobState::Done;
                job.handled_by = Some(handled_by.clone());
                job.finished_at = Some(Utc::now());
            }
            JobSettlement::Retry { at, error } => {
                job.state = JobState::Pending;
                job.run_at = *at;
                job.last_error = Some(error.clone());
            }
            JobSettlement::Failed { error } => {
                job.state = JobState::Failed;
                job.last_error = Some(error.clone());
                job.finished_at = Some(Utc::now());
            }
        }
        Ok(())
    }

    async fn take_cooldown(
        &self,
        tenant: TenantId,
        rule: RuleId,
        channel: ChannelId,
        contact: &PhoneNumber,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let mut state = self.state.write();
        let held = state
            .inbound
            .cooldowns
            .entry((tenant, rule, channel, contact.clone()))
            .or_insert((DateTime::<Utc>::MIN_UTC, String::new()));
        if held.0 > now && held.1 != holder {
            return Ok(false);
        }
        *held = (until, holder.to_owned());
        Ok(true)
    }

    async fn prune_cooldowns(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut state = self.state.write();
        let cooldowns = &mut state.inbound.cooldowns;
        let was = cooldowns.len();
        cooldowns.retain(|_, (until, _)| *until >= before);
        Ok((was - cooldowns.len()) as u64)
    }

    async fn apply_statuses(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
        outbox: &StatusOutbox,
    ) -> Result<AppliedStatuses> {
        // One lock scope: statuses, recipients and events are stored together.
        let mut state = self.state.write();
        // Checked before anything moves, so a refusal changes nothing; the deliveries made
        // below go to these subscriptions only, under fresh ids.
        for s in outbox.subscriptions() {
            state.subscriptions.get(s.tenant_id, s.id)?;
        }
        let changes = state.apply_by_wamid(tenant, updates)?;
        for recipient in recipient_updates(&changes, updates) {
            state.apply_recipient_update(tenant, &recipient);
        }
        let mut moved: Vec<(StatusChange, &WamidUpdate, MessageRecord)> = Vec::new();
        if outbox.wants_statuses() || outbox.wants_progress() {
            for (change, update) in changes.iter().zip(updates) {
                if let Some(change) = change.filter(StatusChange::moved) {
                    let message = state.messages.get(tenant, change.message_id)?.record();
                    moved.push((change, update, message.clone()));
                }
            }
        }
        let moved: Vec<MovedStatus<'_>> = moved
            .iter()
            .map(|(change, update, message)| MovedStatus {
                change,
                update,
                message,
            })
            .collect();
        let mut progress = Vec::new();
        if outbox.wants_progress() {
            for campaign in StatusOutbox::campaigns(&moved) {
                let counters = state.counters.get(&campaign).copied().unwrap_or_default();
                progress.push((campaign, counters));
            }
        }
        let deliveries = outbox.deliveries(tenant, &moved, &progress);
        state.insert_deliveries(&deliveries);
        Ok(AppliedStatuses {
            changes,
            deliveries: deliveries.len() as u64,
        })
    }

    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>> {
        Ok(self
            .state
            .read()
            .channels
            .all()
            .filter(|c| c.waba_id == waba_id)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AnalyticsStore for MemoryStore {
    async fn message_volume(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeBucket>> {
        let state = self.state.read();
        let mut counts: HashMap<(i64, ChannelId, Direction, MessageStatus), u64> = HashMap::new();
        for m in state.messages.tenant_rows(tenant).map(|m| m.record()) {
            if m.created_at < from || m.created_at >= to {
                continue;
            }
            let bucket = m.created_at.timestamp().div_euclid(VOLUME_BUCKET_SECS);
            *counts
                .entry((bucket, m.channel_id, m.direction, m.status))
                .or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by_key(|((bucket, channel, _, status), _)| (*bucket, *channel, *status));
        counts
            .into_iter()
            .map(|((bucket, channel_id, direction, status), count)| {
                let start = DateTime::from_timestamp(bucket * VOLUME_BUCKET_SECS, 0)
                    .ok_or_else(|| Error::invalid_input("from", "out of range"))?;
                Ok(VolumeBucket {
                    start,
                    channel_id,
                    direction,
                    status,
                    count,
                })
            })
            .collect()
    }

    async fn handled_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HandledCount>> {
        let state = self.state.read();
        let mut counts = BTreeMap::new();
        for job in state.inbound.jobs.values() {
            if job.tenant_id != tenant
                || job.state != JobState::Done
                || job.created_at < from
                || job.created_at >= to
            {
                continue;
            }
            if let Some(h) = &job.handled_by {
                *counts.entry((job.channel_id, h.clone())).or_insert(0u64) += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|((channel_id, handled_by), count)| HandledCount {
                channel_id,
                handled_by,
                count,
            })
            .collect())
    }

    async fn flow_engagement_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EngagementCount>> {
        let state = self.state.read();
        let mut counts: BTreeMap<(FlowId, EngagementKind, Option<String>), u64> = BTreeMap::new();
        for e in state
            .engagement
            .iter()
            .filter(|e| e.tenant_id == tenant && e.at >= from && e.at < to)
        {
            *counts
                .entry((e.flow_id, e.kind, e.node.clone()))
                .or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((flow_id, kind, node), count)| EngagementCount {
                flow_id,
                kind,
                node,
                count,
            })
            .collect())
    }

    async fn campaign_replies(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        within: Duration,
    ) -> Result<u64> {
        let within = TimeDelta::from_std(within)
            .map_err(|_| Error::invalid_input("within", "is too long"))?;
        let state = self.state.read();
        let records: Vec<_> = state
            .messages
            .tenant_rows(tenant)
            .map(|m| m.record())
            .collect();
        let replied = records
            .iter()
            .filter(|m| {
                m.campaign_id == Some(campaign)
                    && matches!(
                        m.status,
                        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read
                    )
            })
            .filter(|m| {
                records.iter().any(|i| {
                    i.direction == Direction::Inbound
                        && i.channel_id == m.channel_id
                        && i.contact_phone == m.contact_phone
                        && i.created_at > m.created_at
                        && i.created_at <= m.created_at + within
                })
            })
            .count();
        Ok(replied as u64)
    }
}
