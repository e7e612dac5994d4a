//! Analytics over what wagw-core's analytics already computes: message volume per local day
//! (in the tenant's timezone), how inbound messages were answered, a campaign's funnel with
//! its replies.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::analytics::{REPLY_WINDOW, answers, campaign_funnel, daily_volume};
use wagw_core::ids::{CampaignId, ChannelId};
use wagw_core::model::tenant::Tenant;

use super::envelope::{Data, ErrorBody, data};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(messages))
        .routes(routes!(auto_replies))
        .routes(routes!(campaign))
}

/// The longest range one request covers.
const MAX_DAYS: i64 = 366;
/// The range when none is given: the last 7 local days, today included.
const DEFAULT_DAYS: u64 = 7;

/// A range of local days in the tenant's timezone.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DayRange {
    /// First day, `YYYY-MM-DD` (default: six days before `to`).
    from: Option<NaiveDate>,
    /// Last day, included, `YYYY-MM-DD` (default: today).
    to: Option<NaiveDate>,
    /// Only this channel.
    channel_id: Option<uuid::Uuid>,
}

impl DayRange {
    /// The days, checked: `from` ≤ `to`, at most a year.
    fn days(&self, tenant: &Tenant) -> ApiResult<(NaiveDate, NaiveDate)> {
        let today = Utc::now().with_timezone(&tenant.timezone).date_naive();
        let to = self.to.unwrap_or(today);
        let from = match self.from {
            Some(from) => from,
            None => to
                .checked_sub_days(chrono::Days::new(DEFAULT_DAYS - 1))
                .unwrap_or(to),
        };
        if from > to {
            return Err(ApiError::invalid("from", "must not be after to"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(ApiError::invalid(
                "to",
                format!("a range covers at most {MAX_DAYS} days"),
            ));
        }
        Ok((from, to))
    }

    /// The same days as UTC instants `[start, end)`.
    fn instants(&self, tenant: &Tenant) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
        let (from, to) = self.days(tenant)?;
        let midnight = |day: NaiveDate| {
            tenant
                .timezone
                .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| ApiError::invalid("from", format!("{day} has no midnight")))
        };
        Ok((midnight(from)?, midnight(to.succ_opt().unwrap_or(to))?))
    }
}

/// Messages of one number on one local day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayVolumeView {
    /// The local day (`YYYY-MM-DD`, tenant's timezone).
    #[schema(value_type = String, example = "2026-11-28")]
    pub day: NaiveDate,
    /// The number.
    pub channel_id: uuid::Uuid,
    /// Inbound messages.
    pub received: u64,
    /// Outbound messages by current status (`queued`, `sent`, `delivered`, `read`, `failed` ...).
    pub outbound: BTreeMap<String, u64>,
    /// All outbound messages.
    pub outbound_total: u64,
}

/// The volume of a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeView {
    /// First day.
    #[schema(value_type = String)]
    pub from: NaiveDate,
    /// Last day (included).
    #[schema(value_type = String)]
    pub to: NaiveDate,
    /// The tenant's timezone the days are in.
    pub timezone: String,
    /// Per day and number; days without messages are left out.
    pub days: Vec<DayVolumeView>,
}

/// Messages per number and local day, inbound and outbound by status.
#[utoipa::path(get, path = "/analytics/messages", tag = "analytics", params(DayRange),
    responses((status = 200, body = Data<VolumeView>),
        (status = 404, description = "No such `channel_id` for this tenant", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn messages(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<DayRange>,
) -> ApiResult<Json<Data<VolumeView>>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let (from, to) = q.days(&tenant)?;
    let channel = match q.channel_id {
        Some(id) => Some(state.store.get_channel(tenant.id, ChannelId(id)).await?.id),
        None => None,
    };
    let days = daily_volume(&*state.store, tenant.id, from, to)
        .await?
        .into_iter()
        .filter(|d| channel.is_none_or(|c| c == d.channel_id))
        .map(|d| DayVolumeView {
            day: d.day,
            channel_id: d.channel_id.0,
            received: d.received,
            outbound_total: d.outbound.values().sum(),
            outbound: d
                .outbound
                .into_iter()
                .map(|(status, n)| (status.as_str().to_owned(), n))
                .collect(),
        })
        .collect();
    Ok(data(VolumeView {
        from,
        to,
        timezone: tenant.timezone.name().to_owned(),
        days,
    }))
}

/// Hits of one rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleHits {
    /// The rule.
    pub rule_id: uuid::Uuid,
    /// Its name (`null` once deleted).
    pub name: Option<String>,
    /// Messages it answered.
    pub count: u64,
}

/// How inbound messages of a range were answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswersView {
    /// First day.
    #[schema(value_type = String)]
    pub from: NaiveDate,
    /// Last day (included).
    #[schema(value_type = String)]
    pub to: NaiveDate,
    /// Per auto-reply rule, most hits first.
    pub rules: Vec<RuleHits>,
    /// Answered by flows.
    pub flow: u64,
    /// Held for a human.
    pub handed_off: u64,
    /// Nothing matched.
    pub unanswered: u64,
    /// Too old to answer.
    pub stale: u64,
    /// Not for bots (reactions, system messages ...).
    pub ignored: u64,
}

/// How inbound messages that arrived in the range were answered: per auto-reply rule, by
/// flows, handed off, unanswered.
#[utoipa::path(get, path = "/analytics/auto-replies", tag = "analytics", params(DayRange),
    responses((status = 200, body = Data<AnswersView>),
        (status = 404, description = "No such `channel_id` for this tenant", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn auto_replies(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<DayRange>,
) -> ApiResult<Json<Data<AnswersView>>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let (from, to) = q.days(&tenant)?;
    let (start, end) = q.instants(&tenant)?;
    let channel = match q.channel_id {
        Some(id) => Some(state.store.get_channel(tenant.id, ChannelId(id)).await?.id),
        None => None,
    };
    let counted = answers(&*state.store, tenant.id, channel, start, end).await?;
    let names: BTreeMap<_, _> = state
        .store
        .list_rules(tenant.id)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let mut rules: Vec<RuleHits> = counted
        .rules
        .into_iter()
        .map(|(id, count)| RuleHits {
            rule_id: id.0,
            name: names.get(&id).cloned(),
            count,
        })
        .collect();
    rules.sort_by_key(|r| std::cmp::Reverse(r.count));
    Ok(data(AnswersView {
        from,
        to,
        rules,
        flow: counted.flow,
        handed_off: counted.handed_off,
        unanswered: counted.unanswered,
        stale: counted.stale,
        ignored: counted.ignored,
    }))
}

/// `?reply_window_hours=` of a campaign's funnel.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FunnelQuery {
    /// How long after a campaign message an inbound message counts as its reply (1 to 720
    /// hours, default 72).
    reply_window_hours: Option<u64>,
}

/// A campaign's funnel: each stage counts the recipients that got at least that far.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelView {
    /// The campaign.
    pub campaign_id: uuid::Uuid,
    /// The reply window used, in hours.
    pub reply_window_hours: u64,
    /// Recipients (refused inputs included, as skipped).
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
    /// `replied` over `sent`, 0 when nothing was sent.
    pub reply_rate: f64,
}

/// A campaign's funnel: sent → delivered → read → replied.
#[utoipa::path(get, path = "/analytics/campaigns/{id}", tag = "analytics",
    params(("id" = uuid::Uuid, Path, description = "Campaign id"), FunnelQuery),
    responses((status = 200, body = Data<FunnelView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn campaign(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<FunnelQuery>,
) -> ApiResult<Json<Data<FunnelView>>> {
    let campaign = state
        .store
        .get_campaign(auth.tenant(), CampaignId(id))
        .await?;
    let hours = q
        .reply_window_hours
        .unwrap_or(REPLY_WINDOW.as_secs() / 3600);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::invalid(
            "reply_window_hours",
            "must be between 1 and 720",
        ));
    }
    let f = campaign_funnel(
        &*state.store,
        auth.tenant(),
        campaign.id,
        Duration::from_secs(hours * 3600),
    )
    .await?;
    Ok(data(FunnelView {
        campaign_id: campaign.id.0,
        reply_window_hours: hours,
        total: f.total,
        sent: f.sent,
        delivered: f.delivered,
        read: f.read,
        replied: f.replied,
        failed: f.failed,
        skipped: f.skipped,
        pending: f.pending,
        reply_rate: if f.sent == 0 {
            0.0
        } else {
            f.replied as f64 / f.sent as f64
        },
    }))
}
