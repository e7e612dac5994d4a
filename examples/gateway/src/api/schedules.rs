//! Scheduled messages: one-off at a time, or recurring by cron in a timezone.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use wagw_core::content::MessageContent;
use wagw_core::ids::{ChannelId, ScheduleId};
use wagw_core::model::schedule::{Recurrence, ScheduledMessage};
use wagw_core::phone::normalize;
use wagw_core::scheduler::next_run;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Send};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(list).post(create))
        .route("/schedules/{id}", get(read).delete(remove))
        .route("/schedules/{id}/next", get(next))
}

/// A schedule as the API shows it; `to` is the wa_id, `to_e164` the `+` form.
fn view(s: &ScheduledMessage) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    v["to_e164"] = Value::String(s.to.e164());
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSchedule {
    channel_id: uuid::Uuid,
    to: String,
    /// Content in Meta's shape: `{"type": "text", "text": {"body": "…"}}`.
    message: Value,
    /// `{"kind": "once", "at": RFC 3339}` or `{"kind": "cron", "expression", "timezone"}`.
    recurrence: Recurrence,
}

async fn create(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Json(body): Json<NewSchedule>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let to = normalize(&body.to, tenant.default_region)?;
    let content: MessageContent = serde_json::from_value(body.message)
        .map_err(|e| ApiError::invalid("message", e.to_string()))?;
    let schedule = ScheduledMessage {
        id: ScheduleId::new(),
        tenant_id: tenant.id,
        channel_id: ChannelId(body.channel_id),
        to,
        content,
        recurrence: body.recurrence,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    count: Option<usize>,
}

/// The next runs (at most 20).
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
    Ok(ok(json!({ "runs": runs })))
}
