//! Scheduled messages: one-off at a time, or recurring by cron in a timezone.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::content::MessageContent;
use wagw_core::ids::{ChannelId, ScheduleId, TenantId};
use wagw_core::model::schedule::{Recurrence, ScheduledMessage};
use wagw_core::phone::PhoneNumber;
use wagw_core::phone::normalize;
use wagw_core::scheduler::next_run;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Send};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, remove))
        .routes(routes!(next))
}

/// When a scheduled message runs (the shape of wagw-core's `Recurrence`, for the document).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Recurrence)]
#[allow(dead_code)] // Describes the wire shape only; requests parse into wagw-core's type.
#[serde(tag = "kind", rename_all = "snake_case")]
enum RecurrenceSchema {
    /// Once, at a time.
    Once {
        /// RFC 3339.
        at: DateTime<Utc>,
    },
    /// By a 5-field cron expression in a timezone.
    Cron {
        /// For example `0 9 * * 1-5`.
        expression: String,
        /// IANA timezone, e.g. `Asia/Jakarta`.
        timezone: String,
    },
}

/// A schedule as the API shows it; `to` is the wa_id, `to_e164` the `+` form.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    #[schema(value_type = uuid::Uuid)]
    id: ScheduleId,
    #[schema(value_type = uuid::Uuid)]
    tenant_id: TenantId,
    #[schema(value_type = uuid::Uuid)]
    channel_id: ChannelId,
    /// The wa_id (digits).
    #[schema(value_type = String)]
    to: PhoneNumber,
    /// The message, in Meta's shape.
    #[schema(value_type = Object)]
    content: MessageContent,
    #[schema(value_type = RecurrenceSchema)]
    recurrence: Recurrence,
    next_run_at: Option<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    active: bool,
    version: u64,
    created_at: DateTime<Utc>,
    /// E.164 with `+`.
    to_e164: String,
}

fn view(s: &ScheduledMessage) -> ScheduleView {
    ScheduleView {
        id: s.id,
        tenant_id: s.tenant_id,
        channel_id: s.channel_id,
        to: s.to.clone(),
        content: s.content.clone(),
        recurrence: s.recurrence.clone(),
        next_run_at: s.next_run_at,
        last_run_at: s.last_run_at,
        last_error: s.last_error.clone(),
        active: s.active,
        version: s.version,
        created_at: s.created_at,
        to_e164: s.to.e164(),
    }
}

/// A new scheduled message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSchedule {
    channel_id: uuid::Uuid,
    /// The recipient, in any format of the tenant's region (`08123456789`).
    to: String,
    /// Content in Meta's shape: `{"type": "text", "text": {"body": "…"}}`.
    #[schema(value_type = Object)]
    message: Value,
    /// `{"kind": "once", "at": RFC 3339}` or `{"kind": "cron", "expression", "timezone"}`.
    /// Read as JSON first, so a wrong recurrence (an unknown timezone…) is a 422 naming
    /// `recurrence`, like a wrong message.
    #[schema(value_type = RecurrenceSchema)]
    recurrence: Value,
}

#[utoipa::path(post, path = "/schedules", tag = "schedules", summary = "Schedule a message",
    request_body = NewSchedule,
    responses(
        (status = 201, description = "Created", body = Envelope<ScheduleView>),
        (status = 404, description = "No such channel for this tenant", body = crate::openapi::ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Json(body): Json<NewSchedule>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let to = normalize(&body.to, tenant.default_region)?;
    let content: MessageContent = serde_json::from_value(body.message)
        .map_err(|e| ApiError::invalid("message", e.to_string()))?;
    let recurrence: Recurrence = serde_json::from_value(body.recurrence)
        .map_err(|e| ApiError::invalid("recurrence", e.to_string()))?;
    let schedule = ScheduledMessage {
        id: ScheduleId::new(),
        tenant_id: tenant.id,
        channel_id: ChannelId(body.channel_id),
        to,
        content,
        recurrence,
        next_run_at: None,
        last_run_at: None,
        last_error: None,
        active: true,
        version: 0,
        created_at: Utc::now(),
    };
    let stored = state.scheduler.create(&schedule).await?;
    Ok(touched(stored.id, (StatusCode::CREATED, ok(view(&stored)))))
}

#[utoipa::path(get, path = "/schedules", tag = "schedules", summary = "List scheduled messages",
    params(PageQuery),
    responses((status = 200, description = "A page of schedules", body = PageEnvelope<ScheduleView>)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_schedules(auth.tenant(), q.page()?).await?,
        |s| view(&s),
    ))
}

#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", summary = "Read a scheduled message",
    params(("id" = uuid::Uuid, Path, description = "Schedule id")),
    responses((status = 200, description = "The schedule", body = Envelope<ScheduleView>)))]
async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(ok(view(
        &state
            .store
            .get_schedule(auth.tenant(), ScheduleId(id))
            .await?,
    )))
}

#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", summary = "Delete a scheduled message",
    params(("id" = uuid::Uuid, Path, description = "Schedule id")),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .delete_schedule(auth.tenant(), ScheduleId(id))
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

/// `?count=` of the next runs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    /// How many (1..=20, default 5).
    #[param(minimum = 1, maximum = 20)]
    count: Option<usize>,
}

/// The next run times.
#[derive(Debug, Serialize, ToSchema)]
struct NextRuns {
    runs: Vec<DateTime<Utc>>,
}

/// The next runs (at most 20).
#[utoipa::path(get, path = "/schedules/{id}/next", tag = "schedules", summary = "The next run times",
    params(("id" = uuid::Uuid, Path, description = "Schedule id"), NextQuery),
    responses((status = 200, description = "The next runs (fewer when a one-off is past)", body = Envelope<NextRuns>)))]
async fn next(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<NextQuery>,
) -> ApiResult<Json<Value>> {
    let s = state
        .store
        .get_schedule(auth.tenant(), ScheduleId(id))
        .await?;
    let count = q.count.unwrap_or(5);
    if !(1..=20).contains(&count) {
        return Err(ApiError::invalid("count", "must be between 1 and 20"));
    }
    let mut runs: Vec<DateTime<Utc>> = Vec::new();
    let mut after = Utc::now();
    while runs.len() < count {
        match next_run(&s.recurrence, after)? {
            Some(at) => {
                runs.push(at);
                after = at;
            }
            None => break,
        }
    }
    Ok(ok(NextRuns { runs }))
}
