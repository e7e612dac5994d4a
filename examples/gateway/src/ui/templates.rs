//! `/ui/templates`: message templates with their review status.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{Cursor, Layout, Query, Session, UiResult, label, link, render, when};
use crate::app::AppState;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/templates", get(page))
}

/// A template as the page shows it.
#[derive(Debug)]
pub struct TemplateRow {
    name: String,
    language: String,
    category: String,
    status: String,
    reason: String,
    updated: String,
}

#[derive(askama::Template)]
#[template(path = "ui/templates.html")]
struct TemplatesPage {
    l: Layout,
    rows: Vec<TemplateRow>,
    next: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(cursor): Query<Cursor>,
) -> UiResult<Response> {
    let tz = session.tenant.timezone;
    let found = state
        .store
        .list_templates(session.tenant_id(), cursor.page())
        .await?;
    render(&TemplatesPage {
        l: session.layout("Templates", "templates"),
        rows: found
            .items
            .iter()
            .map(|t| TemplateRow {
                name: t.draft.name.clone(),
                language: t.draft.language.clone(),
                category: label(&t.draft.category),
                status: label(&t.status),
                reason: t.reason.clone().unwrap_or_default(),
                updated: when(tz, t.updated_at),
            })
            .collect(),
        next: found
            .next
            .map(|after| link("/ui/templates", &[("after", &after)])),
    })
}
