//! Analytics from stored data, per tenant and in the tenant's timezone.
//!
//! - [`campaign_funnel`]: sent → delivered → read → replied for one campaign; a reply is an
//!   inbound message from the recipient on the campaign's channel within a window after the
//!   campaign message (72 hours by default, [`REPLY_WINDOW`]);
//! - [`daily_volume`]: messages per number and per local day, in and out, by status;
//! - [`answers`]: how inbound messages were answered (per auto-reply rule, by flows, handed
//!   off, unanswered), the auto-reply hit counts;
//! - [`template_overview`]: templates per approval status;
//! - [`flow_engagement`]: per flow, how many users started, completed, were handed off and
//!   dropped off (at which node) over local days, from the steps recorded with each session
//!   save (`flow_engagement (tenant_id, at)` on PostgreSQL and SQLite).
//!
//! Every figure comes from one indexed query of the [`AnalyticsStore`](crate::store::AnalyticsStore)
//! (or the campaign counters kept up to date as recipients change), so the cost follows the
//! rows in range, not the whole history: on PostgreSQL `message_volume` reads the covering
//! index `messages_volume (tenant_id, created_at) INCLUDE (channel_id, direction, status)`,
//! `campaign_replies` walks `messages_campaign` and probes `messages_inbound` once per campaign
//! message, and `handled_counts` reads `conversation_jobs_done`. BENCHMARKS.md has their times
//! on 1,000,000 messages.
//!
//! Local days are regrouped from 15-minute UTC buckets, which every timezone offset in use
//! divides, so a day in `Asia/Jakarta` (UTC+7) or `Asia/Kolkata` (UTC+5:30) is exact.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::ids::{CampaignId, ChannelId, FlowId, RuleId, TenantId};
use crate::model::conversation::HandledBy;
use crate::model::flow::EngagementKind;
use crate::model::message::{Direction, MessageStatus};
use crate::model::template::TemplateStatus;
use crate::store::{Page, Store};

/// How long after a campaign message an inbound message counts as its reply, by default.
pub const REPLY_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// A campaign's funnel. Each stage counts the recipients that got at least that far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    /// Recipients (refused inputs included, as `skipped`).
    pub total: u64,
    /// Accepted by WhatsApp (sent, delivered or read).
    pub sent: u64,
    /// Delivered (or read).
    pub delivered: u64,
    /// Read.
    pub read: u64,
    /// Answered within the reply window.
    pub replied: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped or refused.
    pub skipped: u64,
    /// Not sent yet.
    pub pending: u64,
}

/// The funnel of one campaign; replies count within `reply_window` (see [`REPLY_WINDOW`]).
pub async fn campaign_funnel<S: Store + ?Sized>(
    store: &S,
    tenant: TenantId,
    campaign: CampaignId,
    reply_window: Duration,
) -> Result<Funnel> {
    let c = store.campaign_counters(tenant, campaign).await?;
    let replied = store
        .campaign_replies(tenant, campaign, reply_window)
        .await?;
    Ok(Funnel {
        total: c.total,
        sent: c.sent + c.delivered + c.read,
        delivered: c.delivered + c.read,
        read: c.read,
        replied,
        failed: c.failed,
        skipped: c.skipped,
        pending: c.pending,
    })
}

/// Messages of one number on one local day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayVolume {
    /// The local day.
    pub day: NaiveDate,
    /// The number.
    pub channel_id: ChannelId,
    /// Inbound messages.
    pub received: u64,
    /// Outbound messages by current status.
    pub outbound: BTreeMap<MessageStatus, u64>,
}

/// Messages per number and local day for the days `from..=to` in the tenant's timezone,
/// ordered by day then channel.
pub async fn daily_volume<S: Store + ?Sized>(
    store: &S,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayVolume>> {
    let tz = store.get_tenant(tenant).await?.timezone;
    let start = local_midnight(&tz, from)?;
    let end = local_midnight(&tz, to.succ_opt().unwrap_or(to))?;
    let buckets = store.message_volume(tenant, start, end).await?;
    let mut days: BTreeMap<(NaiveDate, ChannelId), DayVolume> = BTreeMap::new();
    for b in buckets {
        let day = b.start.with_timezone(&tz).date_naive();
        let entry = days
            .entry((day, b.channel_id))
            .or_insert_with(|| DayVolume {
                day,
                channel_id: b.channel_id,
                ..DayVolume::default()
            });
        match b.direction {
            Direction::Inbound => entry.received += b.count,
            Direction::Outbound => *entry.outbound.entry(b.status).or_default() += b.count,
        }
    }
    Ok(days.into_values().collect())
}

fn local_midnight(tz: &chrono_tz::Tz, day: NaiveDate) -> Result<DateTime<Utc>> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| crate::Error::invalid_input("day", format!("{day} has no midnight")))
}

/// How inbound messages were answered in a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    /// Hits per auto-reply rule.
    pub rules: BTreeMap<RuleId, u64>,
    /// Answered by flows.
    pub flow: u64,
    /// Held for a human.
    pub handed_off: u64,
    /// Nothing matched.
    pub unanswered: u64,
    /// Too old to answer.
    pub stale: u64,
    /// Not for bots.
    pub ignored: u64,
}

/// How inbound messages that arrived in `[from, to)` were answered, over all channels (or
/// one).
pub async fn answers<S: Store + ?Sized>(
    store: &S,
    tenant: TenantId,
    channel: Option<ChannelId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Answers> {
    let mut out = Answers::default();
    for h in store.handled_counts(tenant, from, to).await? {
        if channel.is_some_and(|c| c != h.channel_id) {
            continue;
        }
        match h.handled_by {
            HandledBy::Rule(id) => *out.rules.entry(id).or_default() += h.count,
            HandledBy::Flow => out.flow += h.count,
            HandledBy::HandedOff => out.handed_off += h.count,
            HandledBy::Unanswered => out.unanswered += h.count,
            HandledBy::Stale => out.stale += h.count,
            HandledBy::Ignored => out.ignored += h.count,
        }
    }
    Ok(out)
}

/// Templates per approval status, most common first.
pub async fn template_overview<S: Store + ?Sized>(
    store: &S,
    tenant: TenantId,
) -> Result<Vec<(TemplateStatus, u64)>> {
    let mut counts: Vec<(TemplateStatus, u64)> = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let templates = store.list_templates(tenant, page).await?;
        for t in &templates.items {
            match counts.iter_mut().find(|(s, _)| *s == t.status) {
                Some((_, n)) => *n += 1,
                None => counts.push((t.status, 1)),
            }
        }
        match templates.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => break,
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    Ok(counts)
}

/// How users went through one flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowFunnel {
    /// The flow.
    pub flow_id: FlowId,
    /// Users who entered it.
    pub started: u64,
    /// Users who reached an end.
    pub completed: u64,
    /// Users handed to a human.
    pub handed_off: u64,
    /// Users who left without an end, per node they stopped at (`""` when not known).
    pub dropped_off: BTreeMap<String, u64>,
}

impl FlowFunnel {
    /// Drop-offs at every node.
    pub fn dropped_off_total(&self) -> u64 {
        self.dropped_off.values().sum()
    }
}

/// Flow engagement for the days `from..=to` in the tenant's timezone, per flow (ordered by
/// flow id); a flow without any step in range is left out.
pub async fn flow_engagement<S: Store + ?Sized>(
    store: &S,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<FlowFunnel>> {
    let tz = store.get_tenant(tenant).await?.timezone;
    let start = local_midnight(&tz, from)?;
    let end = local_midnight(&tz, to.succ_opt().unwrap_or(to))?;
    let mut flows: BTreeMap<FlowId, FlowFunnel> = BTreeMap::new();
    for c in store.flow_engagement_counts(tenant, start, end).await? {
        let funnel = flows.entry(c.flow_id).or_insert_with(|| FlowFunnel {
            flow_id: c.flow_id,
            ..FlowFunnel::default()
        });
        match c.kind {
            EngagementKind::Started => funnel.started += c.count,
            EngagementKind::Completed => funnel.completed += c.count,
            EngagementKind::HandedOff => funnel.handed_off += c.count,
            EngagementKind::DroppedOff => {
                *funnel
                    .dropped_off
                    .entry(c.node.unwrap_or_default())
                    .or_default() += c.count;
            }
        }
    }
    Ok(flows.into_values().collect())
}
