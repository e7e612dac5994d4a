//! Campaigns (blasts): create with an audience and a schedule, start, pause, resume,
//! cancel, retry the failed, progress (polled, or live as Server-Sent Events), report as JSON
//! or CSV.

use axum::extract::State;
use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
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
use crate::openapi::{Envelope, PageEnvelope, string_enum};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, remove))
        .routes(routes!(start))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(stop))
        .routes(routes!(retry_failed))
        .routes(routes!(recipients))
        .routes(routes!(progress))
        .routes(routes!(events))
        .routes(routes!(report))
        .routes(routes!(report_csv))
}

/// What a campaign sends: a text, or an approved template with its parameters.
#[derive(Debug, Deserialize, ToSchema)]
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

/// The daily hours sending is allowed in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WindowIn {
    /// `HH:MM` in the tenant's timezone.
    start: String,
    /// `HH:MM` in the tenant's timezone.
    end: String,
}

/// A new campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCampaign {
    name: String,
    channel_id: uuid::Uuid,
    /// Read as JSON first, so a wrong content is a 422 naming `content`, like a wrong value.
    #[schema(value_type = ContentIn)]
    content: Value,
    /// Contacts selected by lists, tags and fields.
    #[schema(value_type = Option<Object>)]
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

#[utoipa::path(post, path = "/campaigns", tag = "campaigns", summary = "Create a campaign",
    request_body = NewCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeats with the same key and body answer the first campaign")),
    responses(
        (status = 201, description = "Created, with the audience's expansion report", body = Envelope<CreatedCampaignSchema>),
        (status = 200, description = "Created before with this `Idempotency-Key` and the same body (`created: false`)", body = Envelope<CreatedCampaignSchema>),
        (status = 409, description = "This `Idempotency-Key` was used with a different body", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such channel, template or list for this tenant", body = crate::openapi::ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    auth: Auth<Send>,
    headers: HeaderMap,
    Json(body): Json<NewCampaign>,
) -> ApiResult<Response> {
    let idempotency_key = super::messages::idempotency_key(&headers)?;
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let content: ContentIn = serde_json::from_value(body.content)
        .map_err(|e| ApiError::invalid("content", e.to_string()))?;
    let content = match content {
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

#[utoipa::path(get, path = "/campaigns", tag = "campaigns", summary = "List campaigns",
    params(PageQuery),
    responses((status = 200, description = "A page of campaigns", body = PageEnvelope<CampaignSchema>)))]
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

#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns", summary = "Read a campaign with its counters",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses((status = 200, description = "The campaign", body = Envelope<CampaignSchema>)))]
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

#[utoipa::path(delete, path = "/campaigns/{id}", tag = "campaigns", summary = "Delete a campaign",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Running campaigns are cancelled first", body = crate::openapi::ErrorBody),
    ))]
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

/// `?send_at=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StartQuery {
    /// As `send_at` of the creation; absent: now.
    send_at: Option<String>,
}

#[utoipa::path(post, path = "/campaigns/{id}/start", tag = "campaigns", summary = "Start or schedule a campaign",
    params(("id" = uuid::Uuid, Path, description = "Campaign id"), StartQuery),
    responses(
        (status = 200, description = "The campaign", body = Envelope<CampaignSchema>),
        (status = 409, description = "Not allowed in the campaign's state", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(post, path = "/campaigns/{id}/pause", tag = "campaigns", summary = "Pause a campaign",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign", body = Envelope<CampaignSchema>),
        (status = 409, description = "Not allowed in the campaign's state", body = crate::openapi::ErrorBody),
    ))]
async fn pause(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let c = state.campaigns.pause(auth.tenant(), CampaignId(id)).await?;
    Ok(touched(id, ok(campaign_view(&c, None))))
}

#[utoipa::path(post, path = "/campaigns/{id}/resume", tag = "campaigns", summary = "Resume a campaign",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign", body = Envelope<CampaignSchema>),
        (status = 409, description = "Not allowed in the campaign's state", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(post, path = "/campaigns/{id}/cancel", tag = "campaigns", summary = "Cancel a campaign",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign", body = Envelope<CampaignSchema>),
        (status = 409, description = "Not allowed in the campaign's state", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(post, path = "/campaigns/{id}/retry-failed", tag = "campaigns", summary = "Send again to the failed recipients",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "How many recipients were reset", body = Envelope<RetrySchema>),
        (status = 409, description = "Not allowed in the campaign's state", body = crate::openapi::ErrorBody),
    ))]
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

/// Filters of a campaign's recipients.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecipientsQuery {
    #[param(schema_with = recipient_status_filter_schema)]
    status: Option<RecipientStatus>,
    /// Items per page (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/campaigns/{id}/recipients", tag = "campaigns", summary = "A campaign's recipients",
    params(("id" = uuid::Uuid, Path, description = "Campaign id"), RecipientsQuery),
    responses((status = 200, description = "A page of recipients", body = PageEnvelope<RecipientSchema>)))]
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

#[utoipa::path(get, path = "/campaigns/{id}/progress", tag = "campaigns", summary = "A campaign's progress",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses((status = 200, description = "Counters, rate and ETA", body = Envelope<ProgressSchema>)))]
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
#[utoipa::path(get, path = "/campaigns/{id}/events", tag = "campaigns", summary = "Live progress (Server-Sent Events)",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses((status = 200, description = "`progress` events carrying the progress JSON, until the campaign is final", body = String, content_type = "text/event-stream")))]
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

#[utoipa::path(get, path = "/campaigns/{id}/report", tag = "campaigns", summary = "A campaign's report",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses((status = 200, description = "The campaign, its counters and every recipient", body = Envelope<ReportSchema>)))]
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
#[utoipa::path(get, path = "/campaigns/{id}/report.csv", tag = "campaigns", summary = "A campaign's report as CSV",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses((status = 200, description = "`phone,status,reason,message_id,updated_at,line,input`", body = String, content_type = "text/csv")))]
async fn report_csv(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    report_csv_download(&state, auth.tenant(), CampaignId(id)).await
}

/// The report CSV as a download (the API's `report.csv` and the dashboard's button).
pub async fn report_csv_download(
    state: &AppState,
    tenant: TenantId,
    id: CampaignId,
) -> ApiResult<Response> {
    let report = state.campaigns.report(tenant, id).await?;
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

#[utoipa::path(post, path = "/campaigns/{id}/stop", tag = "campaigns", summary = "Cancel a campaign (the seed systems' name)",
    params(("id" = uuid::Uuid, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign", body = Envelope<CampaignSchema>),
        (status = 409, description = "Not allowed in the campaign's state", body = crate::openapi::ErrorBody),
    ))]
async fn stop(
    state: State<AppState>,
    auth: Auth<Send>,
    id: Path<uuid::Uuid>,
) -> ApiResult<Response> {
    cancel(state, auth, id).await
}

// The wire shapes of wagw-core's campaign types, for the OpenAPI document (the handlers
// answer the core types as they serialise).

fn campaign_state_schema() -> utoipa::openapi::schema::Object {
    string_enum(&[
        "draft",
        "scheduled",
        "running",
        "paused",
        "completed",
        "cancelled",
        "failed",
    ])
}

const RECIPIENT_STATUSES: &[&str] = &["pending", "sent", "delivered", "read", "failed", "skipped"];

fn recipient_status_schema() -> utoipa::openapi::schema::Object {
    string_enum(RECIPIENT_STATUSES)
}

fn recipient_status_filter_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::nullable_string_enum(RECIPIENT_STATUSES)
}

/// A campaign (`counters` only where stated).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Campaign)]
#[allow(dead_code)]
struct CampaignSchema {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    channel_id: uuid::Uuid,
    name: String,
    /// `{"kind": "text", "body"}` or `{"kind": "template", "template_id", "body_params", "header_params"}`.
    #[schema(value_type = Object)]
    content: Value,
    /// `{"filter", "numbers", "csv"}`.
    #[schema(value_type = Object)]
    audience: Value,
    start_at: Option<DateTime<Utc>>,
    /// `{"start": "HH:MM:SS", "end": "HH:MM:SS"}` in the tenant's timezone.
    #[schema(value_type = Option<Object>)]
    window: Option<Value>,
    delay_between_messages_ms: Option<u64>,
    #[schema(schema_with = campaign_state_schema)]
    state: String,
    failure_reason: Option<String>,
    /// How many times failed recipients were retried.
    round: u32,
    /// Where the audience expansion is.
    #[schema(value_type = Object)]
    feed: Value,
    version: u64,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    counters: Option<CountersSchema>,
}

/// Recipients by status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CampaignCounters)]
#[allow(dead_code)]
struct CountersSchema {
    total: u64,
    pending: u64,
    sent: u64,
    delivered: u64,
    read: u64,
    failed: u64,
    skipped: u64,
    /// Inputs refused when the audience was expanded.
    rejected: u64,
}

/// A created campaign and how its audience expanded.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedCampaign)]
#[allow(dead_code)]
struct CreatedCampaignSchema {
    campaign: CampaignSchema,
    /// `{"added", "duplicates", "rejected", "rejections": [{"line"?, "input", "reason"}]}`.
    #[schema(value_type = Object)]
    expansion: Value,
}

/// Recipients reset for another round.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RetriedFailed)]
#[allow(dead_code)]
struct RetrySchema {
    reset: u64,
}

/// One recipient of a campaign.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Recipient)]
#[allow(dead_code)]
struct RecipientSchema {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    campaign_id: uuid::Uuid,
    /// The wa_id (digits).
    phone: String,
    contact_id: Option<uuid::Uuid>,
    /// Per-recipient template variables.
    variables: std::collections::BTreeMap<String, String>,
    #[schema(schema_with = recipient_status_schema)]
    status: String,
    reason: Option<String>,
    message_id: Option<uuid::Uuid>,
    updated_at: DateTime<Utc>,
    /// E.164 with `+`.
    phone_e164: String,
}

/// A campaign's progress.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CampaignProgress)]
#[allow(dead_code)]
struct ProgressSchema {
    #[schema(schema_with = campaign_state_schema)]
    state: String,
    counters: CountersSchema,
    /// Recipients no longer pending.
    done: u64,
    percent: f64,
    /// Messages per second since the start.
    rate_per_second: Option<f64>,
    /// Seconds to go at that rate, while running.
    eta_seconds: Option<f64>,
}

/// A campaign's report.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CampaignReport)]
#[allow(dead_code)]
struct ReportSchema {
    campaign: CampaignSchema,
    counters: CountersSchema,
    /// `{"phone", "status", "reason", "message_id", "updated_at", "line"?, "input"?}` each.
    #[schema(value_type = Vec<Object>)]
    recipients: Vec<Value>,
}
