//! Campaigns (blasts): create with an audience and a schedule, start, pause, resume,
//! cancel, retry the failed, progress (polled, or live as Server-Sent Events), report as JSON
//! or CSV.

use axum::Router;
use axum::extract::State;
use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wagw_core::campaign::parse_schedule;
use wagw_core::ids::{CampaignId, ChannelId, TemplateId, TenantId};
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
        .route("/campaigns/{id}/events", get(events))
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

/// The campaign id an `Idempotency-Key` stands for: the same key of the same tenant always
/// names the same campaign, so a repeat finds it (and a racing twin collides on the id).
/// Such an id is not time-ordered like other ids, so these campaigns list out of creation
/// order; a key column in the store would remove that.
fn idempotent_id(tenant: TenantId, key: &str) -> CampaignId {
    let digest = Sha256::digest(format!("campaign-idempotency:{tenant}:{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    CampaignId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// Whether a stored campaign is what `requested` asks for (everything but the send time,
/// which `now` or `HH:MM` resolve differently at each call).
fn same_request(stored: &Campaign, requested: &Campaign) -> bool {
    stored.channel_id == requested.channel_id
        && stored.name == requested.name
        && stored.content == requested.content
        && stored.audience == requested.audience
        && stored.window == requested.window
        && stored.delay_between_messages_ms == requested.delay_between_messages_ms
}

/// Answers a repeated `Idempotency-Key`: the campaign created by the first request (200), or
/// 409 when the key was used with a different body.
async fn answer_repeat(
    state: &AppState,
    stored: &Campaign,
    requested: &Campaign,
) -> ApiResult<Response> {
    if !same_request(stored, requested) {
        return Err(wagw_core::Error::Conflict {
            entity: "campaign",
            reason: "this Idempotency-Key was used with a different request body".into(),
        }
        .into());
    }
    let counters = state
        .store
        .campaign_counters(stored.tenant_id, stored.id)
        .await?;
    Ok(touched(
        stored.id,
        (
            StatusCode::OK,
            ok(json!({
                "campaign": campaign_view(stored, Some(json!(counters))),
                "expansion": null,
                "created": false,
            })),
        ),
    ))
}

async fn create(
    State(state): State<AppState>,
    auth: Auth<Send>,
    headers: HeaderMap,
    Json(body): Json<NewCampaign>,
) -> ApiResult<Response> {
    let idempotency_key = super::messages::idempotency_key(&headers)?;
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
    if let Some(key) = &idempotency_key {
        campaign.id = idempotent_id(tenant.id, key);
        match state.store.get_campaign(tenant.id, campaign.id).await {
            Ok(stored) => return answer_repeat(&state, &stored, &campaign).await,
            Err(wagw_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match state.campaigns.create(&campaign).await {
        Ok(()) => {}
        // A twin request with the same key won the race: answer as a repeat.
        Err(wagw_core::Error::Conflict { .. }) if idempotency_key.is_some() => {
            let stored = state.store.get_campaign(tenant.id, campaign.id).await?;
            return answer_repeat(&state, &stored, &campaign).await;
        }
        Err(e) => return Err(e.into()),
    }
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
                "created": true,
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
    let (view, _) = progress_view(&state, auth.tenant(), CampaignId(id)).await?;
    Ok(ok(view))
}

/// The progress of a campaign (counters, percent, rate, ETA) and whether it is final.
async fn progress_view(
    state: &AppState,
    tenant: TenantId,
    id: CampaignId,
) -> ApiResult<(Value, bool)> {
    let c = state.store.get_campaign(tenant, id).await?;
    let counters = state.campaigns.counters(tenant, c.id).await?;
    let p = progress_of(&c, &counters);
    let view = json!({
        "state": c.state, "counters": counters, "done": p.done,
        "percent": p.percent, "rate_per_second": p.rate_per_second, "eta_seconds": p.eta_seconds,
    });
    Ok((view, c.state.is_final()))
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

/// How often the live progress is read.
const EVENTS_POLL: Duration = Duration::from_secs(1);

/// Live progress as Server-Sent Events: a `progress` event with the progress JSON at once and
/// whenever it changes (read every second), until the campaign is completed, cancelled or
/// failed; the stream then ends. An `error` event ends it early if the store fails.
async fn events(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let tenant = auth.tenant();
    let id = CampaignId(id);
    // Read once before answering: an unknown (or another tenant's) id is a 404, not a stream.
    let first = progress_view(&state, tenant, id).await?;
    let stream = futures::stream::unfold(
        (state, Some(first), None::<Value>, false),
        move |(state, mut next, mut last, done)| async move {
            if done {
                return None;
            }
            loop {
                let (view, final_state) = match next.take() {
                    Some(v) => v,
                    None => {
                        tokio::time::sleep(EVENTS_POLL).await;
                        match progress_view(&state, tenant, id).await {
                            Ok(v) => v,
                            Err(e) => {
                                let event = Event::default().event("error").data(
                                    json!({ "code": e.code, "error": e.message }).to_string(),
                                );
                                return Some((
                                    Ok::<_, Infallible>(event),
                                    (state, None, last, true),
                                ));
                            }
                        }
                    }
                };
                if last.as_ref() == Some(&view) && !final_state {
                    continue;
                }
                let event = Event::default().event("progress").data(view.to_string());
                last = Some(view);
                return Some((Ok(event), (state, None, last, final_state)));
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
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
