//! `/ui/auto-replies`: keyword auto-reply rules: list, create (keywords and a text reply),
//! delete.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use wagw_core::content::MessageContent;
use wagw_core::ids::{ChannelId, RuleId};
use wagw_core::model::auto_reply::AutoReplyRule;
use wagw_core::model::tenant::Scope;
use wagw_core::store::Page;

use super::{Form, Layout, Opt, Session, UiResult, filled, go, label, phone, render};
use crate::api::touched;
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auto-replies", get(page).post(create))
        .route("/auto-replies/{id}/delete", post(remove))
}

/// A rule as the page shows it.
#[derive(Debug)]
pub struct RuleRow {
    id: String,
    name: String,
    keywords: String,
    matching: String,
    reply: String,
    channel: String,
    active: bool,
}

#[derive(askama::Template)]
#[template(path = "ui/auto_replies.html")]
struct RulesPage {
    l: Layout,
    rows: Vec<RuleRow>,
    channels: Vec<Opt>,
}

async fn page(State(state): State<AppState>, session: Session) -> UiResult<Response> {
    let tenant = session.tenant_id();
    // Rules are few per tenant (the plan caps them): the store lists them whole.
    let rules = state.store.list_rules(tenant).await?;
    let channels = state
        .store
        .list_channels(tenant, Page::first(Page::MAX_LIMIT))
        .await?
        .items;
    let name_of = |id: Option<ChannelId>| match id {
        None => "every number".to_owned(),
        Some(id) => channels
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_string(), |c| phone(&c.display_number)),
    };
    let mut channel_opts = vec![Opt::new("", "every number", "")];
    channel_opts.extend(channels.iter().map(|c| {
        Opt::new(
            c.id.to_string(),
            format!("{} ({})", c.name, phone(&c.display_number)),
            "",
        )
    }));
    render(&RulesPage {
        l: session.layout("Auto-replies", "auto_reply"),
        rows: rules
            .iter()
            .map(|r| RuleRow {
                id: r.id.to_string(),
                name: r.name.clone(),
                keywords: r.keywords.join(", "),
                matching: label(&r.matching),
                reply: serde_json::to_value(&r.reply)
                    .ok()
                    .and_then(|v| v["text"]["body"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "(not a text)".to_owned()),
                channel: name_of(r.channel_id),
                active: r.active,
            })
            .collect(),
        channels: channel_opts,
    })
}

#[derive(Debug, Deserialize)]
struct NewRule {
    name: String,
    keywords: String,
    reply: String,
    #[serde(default)]
    channel_id: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<NewRule>,
) -> UiResult<Response> {
    session.require(Scope::Write)?;
    let tenant = &session.tenant;
    let keywords: Vec<String> = form
        .keywords
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if form.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "is required").into());
    }
    if keywords.is_empty() {
        return Err(ApiError::invalid("keywords", "give at least one keyword").into());
    }
    let reply = MessageContent::text(form.reply.trim());
    let probe = wagw_core::content::OutboundMessage::new("628123456789", reply.clone());
    probe.validate()?;
    let mut rule = AutoReplyRule::new(tenant.id, form.name.trim(), keywords, reply);
    if let Some(channel) = filled(&form.channel_id) {
        let id = ChannelId(
            channel
                .parse()
                .map_err(|_| ApiError::invalid("channel_id", "is not an id"))?,
        );
        state.store.get_channel(tenant.id, id).await?;
        rule.channel_id = Some(id);
    }
    // Validated, and counted against the plan's quota in the same store step as the insert.
    wagw_core::conversation::auto_reply::create_rule(&*state.store, &rule).await?;
    Ok(touched(rule.id, go(&headers, "/ui/auto-replies")))
}

async fn remove(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    session.require(Scope::Write)?;
    state
        .store
        .delete_rule(session.tenant_id(), RuleId(id))
        .await?;
    Ok(touched(id, go(&headers, "/ui/auto-replies")))
}
