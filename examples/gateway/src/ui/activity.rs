//! `/ui/activity`: the tenant's activity log (admins, as in the API).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use wagw_core::model::activity::Actor;
use wagw_core::model::tenant::Scope;

use super::{Cursor, Layout, Query, Session, UiResult, link, render, when};
use crate::app::AppState;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/activity", get(page))
}

/// An entry as the page shows it.
#[derive(Debug)]
pub struct EntryRow {
    at: String,
    actor: String,
    action: String,
    entity: String,
    status: String,
}

#[derive(askama::Template)]
#[template(path = "ui/activity.html")]
struct ActivityPage {
    l: Layout,
    rows: Vec<EntryRow>,
    next: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(cursor): Query<Cursor>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    let tz = session.tenant.timezone;
    let found = state
        .store
        .list_activity(session.tenant_id(), cursor.page())
        .await?;
    render(&ActivityPage {
        l: session.layout("Activity", "activity"),
        rows: found
            .items
            .iter()
            .map(|e| EntryRow {
                at: when(tz, e.at),
                actor: match e.actor {
                    Actor::User(id) => format!("user {id}"),
                    Actor::ApiKey(id) => format!("API key {id}"),
                    Actor::System => "system".to_owned(),
                },
                action: e.action.clone(),
                entity: match &e.entity_id {
                    Some(id) => format!("{} {id}", e.entity),
                    None => e.entity.clone(),
                },
                status: e.details["status"].to_string(),
            })
            .collect(),
        next: found
            .next
            .map(|after| link("/ui/activity", &[("after", &after)])),
    })
}
