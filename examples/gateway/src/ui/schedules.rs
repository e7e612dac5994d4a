//! `/ui/schedules`: scheduled messages: list, create a one-off text or template at a local
//! time, delete.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use wagw_core::content::MessageContent;
use wagw_core::ids::{ChannelId, ScheduleId};
use wagw_core::model::schedule::{Recurrence, ScheduledMessage};
use wagw_core::model::tenant::Scope;
use wagw_core::phone::normalize;
use wagw_core::store::Page;

use super::{
    Cursor, Form, Layout, Opt, Query, Session, UiResult, go, link, phone, render, when_opt,
};
use crate::api::touched;
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(page).post(create))
        .route("/schedules/{id}/delete", post(remove))
}

/// A schedule as the page shows it.
#[derive(Debug)]
pub struct ScheduleRow {
    id: String,
    to: String,
    what: String,
    recurrence: String,
    next: String,
    last: String,
    error: String,
    active: bool,
}

#[derive(askama::Template)]
#[template(path = "ui/schedules.html")]
struct SchedulesPage {
    l: Layout,
    rows: Vec<ScheduleRow>,
    next: Option<String>,
    channels: Vec<Opt>,
    timezone: String,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(cursor): Query<Cursor>,
) -> UiResult<Response> {
    let tz = session.tenant.timezone;
    let found = state
        .store
        .list_schedules(session.tenant_id(), cursor.page())
        .await?;
    let channels = state
        .store
        .list_channels(session.tenant_id(), Page::first(Page::MAX_LIMIT))
        .await?
        .items;
    render(&SchedulesPage {
        l: session.layout("Scheduled messages", "schedules"),
        rows: found
            .items
            .iter()
            .map(|s| ScheduleRow {
                id: s.id.to_string(),
                to: phone(&s.to),
                what: serde_json::to_value(&s.content)
                    .ok()
                    .and_then(|v| {
                        v["text"]["body"].as_str().map(str::to_owned).or_else(|| {
                            v["template"]["name"]
                                .as_str()
                                .map(|n| format!("template {n}"))
                        })
                    })
                    .unwrap_or_else(|| "(message)".to_owned()),
                recurrence: match &s.recurrence {
                    Recurrence::Once { .. } => "once".to_owned(),
                    Recurrence::Cron {
                        expression,
                        timezone,
                    } => format!("cron {expression} ({timezone})"),
                },
                next: when_opt(tz, s.next_run_at),
                last: when_opt(tz, s.last_run_at),
                error: s.last_error.clone().unwrap_or_default(),
                active: s.active,
            })
            .collect(),
        next: found
            .next
            .map(|after| link("/ui/schedules", &[("after", &after)])),
        channels: channels
            .iter()
            .map(|c| {
                Opt::new(
                    c.id.to_string(),
                    format!("{} ({})", c.name, phone(&c.display_number)),
                    "",
                )
            })
            .collect(),
        timezone: tz.to_string(),
    })
}

#[derive(Debug, Deserialize)]
struct NewSchedule {
    channel_id: String,
    to: String,
    text: String,
    /// `YYYY-MM-DDTHH:MM` in the tenant's timezone (a `datetime-local` field).
    at: String,
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<NewSchedule>,
) -> UiResult<Response> {
    session.require(Scope::Send)?;
    let tenant = &session.tenant;
    let channel = ChannelId(
        form.channel_id
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("channel_id", "choose a number"))?,
    );
    let to = normalize(&form.to, tenant.default_region)?;
    let local = NaiveDateTime::parse_from_str(form.at.trim(), "%Y-%m-%dT%H:%M")
        .map_err(|_| ApiError::invalid("at", "give a date and time"))?;
    let at = tenant
        .timezone
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| ApiError::invalid("at", "that time does not exist here"))?
        .with_timezone(&Utc);
    let schedule = ScheduledMessage {
        id: ScheduleId::new(),
        tenant_id: tenant.id,
        channel_id: channel,
        to,
        content: MessageContent::text(form.text.trim()),
        recurrence: Recurrence::Once { at },
        next_run_at: None,
        last_run_at: None,
        last_error: None,
        active: true,
        version: 0,
        created_at: Utc::now(),
    };
    let stored = state.scheduler.create(&schedule).await?;
    Ok(touched(stored.id, go(&headers, "/ui/schedules")))
}

async fn remove(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    session.require(Scope::Send)?;
    state
        .store
        .delete_schedule(session.tenant_id(), ScheduleId(id))
        .await?;
    Ok(touched(id, go(&headers, "/ui/schedules")))
}
