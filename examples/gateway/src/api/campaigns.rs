//! Campaigns (blasts): create with an audience and a schedule, start, pause, resume,
//! cancel, retry the failed, progress, report as JSON or CSV.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use wagw_core::campaign::parse_schedule;
use wagw_core::ids::{CampaignId, ChannelId, TemplateId};
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignCounters, CampaignState, RecipientStatus,
    SendingWindow,
};
use wagw_core::model::contact::ContactFilter;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Send};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list).post(create))
        .route("/campaigns/{id}", get(read).delete(remove))
        .route("/campaigns/{id}/start", post(start))
        .route("/campaigns/{id}/pause", post(pause))
        .route("/campaigns/{id}/resume", post(resume))
        .route("/campaigns/{id}/cancel", post(cancel))
        .route("/campaigns/{id}/stop", post(cancel))
        .route("/campaigns/{id}/retry-failed", post(retry_failed))
        .route("/campaigns/{id}/recipients", get(recipients))
        .route("/campaigns/{id}/progress", get(progress))
        .route("/campaigns/{id}/report", get(report))
        .route("/campaigns/{id}/report.csv", get(report_csv))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
enum ContentIn {
    Text {
        body: String,
    },
    Template {
        template_id: uuid::Uuid,
        #[serde(default)]
        body_params: Vec<String>,
        #[serde(default)]
        header_params: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowIn {
    /// `HH:MM` in the tenant's timezone.
    start: String,
    /// `HH:MM` in the tenant's timezone.
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCampaign {
    name: String,
    channel_id: uuid::Uuid,
    content: ContentIn,
    /// Contacts selected by lists, tags and fields.
    filter: Option<ContactFilter>,
    /// Explicit numbers in any format of the tenant's region; invalid ones are reported.
    #[serde(default)]
    numbers: Vec<String>,
    /// `now`, `YYYY-MM-DD HH:MM[:SS]`, `YYYY-MM-DD` (09:00) or `HH:MM` in the tenant's
    /// timezone; absent or null: a draft, started later.
    send_at: Option<String>,
    window: Option<WindowIn>,
    delay_between_messages_ms: Option<u64>,
}

fn parse_time(field: &str, value: &str) -> ApiResult<NaiveTime> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .map_err(|_| ApiError::invalid(field, format!("{value:?} is not HH:MM")))
}

/// A campaign as the API shows it, with its counters.
fn campaign_view(c: &Campaign, counters: Option<Value>) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Some(counters) = counters {
        v["counters"] = counters;
    }
    v
}

async fn create(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Json(body): Json<NewCampaign>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let content = match body.content {
        ContentIn::Text { body } => CampaignContent::Text { body },
        ContentIn::Template {
            template_id,
            body_params,
            header_params,
        } => CampaignContent::Template {
            template_id: TemplateId(template_id),
            body_params,
            header_params,
        },
    };
    let audience = Audience {
        filter: body.filter,
        numbers: body.numbers,
        csv: false,
    };
    if audience.filter.is_none() && audience.numbers.is_empty() {
        return Err(ApiError::invalid(
            "numbers",
            "give numbers, a filter, or both",
        ));
    }
    let mut campaign = Campaign::new(
        tenant.id,
        ChannelId(body.channel_id),
        body.name,
        content,
        audience,
    );
    if let Some(w) = body.window {
        campaign.window = Some(SendingWindow {
            start: parse_time("window.start", &w.start)?,
            end: parse_time("window.end", &w.end)?,
        });
    }
    if let Some(ms) = body.delay_between_messages_ms {
        if ms > 3_600_000 {
            return Err(ApiError::invalid(
                "delay_between_messages_ms",
                "at most one hour",
            ));
        }
        campaign.delay_between_messages_ms = Some(ms);
    }
    let start_at = match body.send_at.as_deref() {
        None => None,
        Some(s) => Some(parse_schedule(s, tenant.timezone, Utc::now())?),
    };
    state.campaigns.create(&campaign).await?;
    let report = state.campaigns.expand(tenant.id, campaign.id).await?;
    let campaign = match start_at {
        Some(at) if report.added > 0 => state.campaigns.start(tenant.id, campaign.id, at).await?,
        _ => campaign,
    };
    let counters = state
        .store
        .campaign_counters(tenant.id, campaign.id)
        .await?;
    Ok(touched(
        campaign.id,
        (
            StatusCode::CREATED,
            ok(json!({
                "campaign": campaign_view(&campaign, Some(json!(counters))),
                "expansion": report,
            })),
        ),
    ))
}

async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_campaigns(auth.tenant(), q.page()?).await?,
        |c| campaign_view(&c, None),
    ))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let c = state
        .store
        .get_campaign(auth.tenant(), CampaignId(id))
        .await?;
    let counters = state.store.campaign_counters(auth.tenant(), c.id).await?;
    Ok(ok(campaign_view(&c, Some(json!(counters)))))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .delete_campaign(auth.tenant(), CampaignId(id))
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartQuery {
    /// As `send_at` of the creation; absent: now.
    send_at: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<StartQuery>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let at = match q.send_at.as_deref() {
        None => None,
        Some(s) => parse_schedule(s, tenant.timezone, Utc::now())?,
    };
    let c = state.campaigns.start(tenant.id, CampaignId(id), at).await?;
    Ok(touched(id, ok(campaign_view(&c, None))))
}

async fn pause(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let c = state.campaigns.pause(auth.tenant(), CampaignId(id)).await?;
    Ok(touched(id, ok(campaign_view(&c, None))))
}

async fn resume(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let c = state
        .campaigns
        .resume(auth.tenant(), CampaignId(id))
        .await?;
    Ok(touched(id, ok(campaign_view(&c, None))))
}

async fn cancel(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let c = state
        .campaigns
        .cancel(auth.tenant(), CampaignId(id))
        .await?;
    Ok(touched(id, ok(campaign_view(&c, None))))
}

async fn retry_failed(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let reset = state
        .campaigns
        .retry_failed(auth.tenant(), CampaignId(id))
        .await?;
    Ok(touched(id, ok(json!({ "reset": reset }))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientsQuery {
    status: Option<RecipientStatus>,
    limit: Option<usize>,
    after: Option<String>,
}

async fn recipients(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<RecipientsQuery>,
) -> ApiResult<Json<Value>> {
    let c = state
        .store
        .get_campaign(auth.tenant(), CampaignId(id))
        .await?;
    let page_query = PageQuery {
        limit: q.limit,
        after: q.after,
    };
    let found = state
        .store
        .list_recipients(auth.tenant(), c.id, q.status, page_query.page()?)
        .await?;
    Ok(page(found, |r| {
        let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
        v["phone_e164"] = Value::String(r.phone.e164());
        v
    }))
}

async fn progress(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let c = state
        .store
        .get_campaign(auth.tenant(), CampaignId(id))
        .await?;
    let counters = state.campaigns.counters(auth.tenant(), c.id).await?;
    let p = progress_of(&c, &counters);
    Ok(ok(json!({
        "state": c.state, "counters": counters, "done": p.done,
        "percent": p.percent, "rate_per_second": p.rate_per_second, "eta_seconds": p.eta_seconds,
    })))
}

/// A campaign's progress: what is done, the rate since it started and the time left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Recipients no longer pending.
    pub done: u64,
    /// `done` of all recipients, in percent.
    pub percent: f64,
    /// Messages settled per second since the start (`None` before the start).
    pub rate_per_second: Option<f64>,
    /// Seconds left at that rate, while running.
    pub eta_seconds: Option<f64>,
}

/// The progress of `c` from its counters (the API's `/progress` and the dashboard's).
pub fn progress_of(c: &Campaign, counters: &CampaignCounters) -> Progress {
    let done = counters.total - counters.pending;
    let elapsed = c.started_at.map(|at| {
        (c.finished_at.unwrap_or_else(Utc::now) - at)
            .num_milliseconds()
            .max(1)
    });
    let rate = elapsed.map(|ms| {
        (counters.sent + counters.delivered + counters.read + counters.failed) as f64 * 1_000.0
            / ms as f64
    });
    let eta_seconds = match (rate, c.state) {
        (Some(r), CampaignState::Running) if r > 0.0 => Some((counters.pending as f64 / r).ceil()),
        _ => None,
    };
    Progress {
        done,
        percent: if counters.total == 0 {
            0.0
        } else {
            done as f64 * 100.0 / counters.total as f64
        },
        rate_per_second: rate,
        eta_seconds,
    }
}

async fn report(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let report = state
        .campaigns
        .report(auth.tenant(), CampaignId(id))
        .await?;
    Ok(ok(json!({
        "campaign": campaign_view(&report.campaign, None),
        "counters": report.counters,
        "recipients": report.recipients,
    })))
}

/// The report as CSV: `phone,status,reason,message_id,updated_at,line,input`, with `phone`
/// in E.164 with `+` (re-importable); a refused input keeps what was given in `input`.
async fn report_csv(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let report = state
        .campaigns
        .report(auth.tenant(), CampaignId(id))
        .await?;
    let mut bytes = Vec::new();
    report.write_csv(&mut bytes)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"report.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
