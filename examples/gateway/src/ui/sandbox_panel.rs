//! `/ui/sandbox` (only while the gateway runs its sandbox, admins as in the API): inject a
//! user's message into a sandbox number and watch the conversation, bot answers included,
//! refresh every two seconds.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use wagw_core::ids::ChannelId;
use wagw_core::model::tenant::Scope;
use wagw_core::phone::normalize;
use wagw_core::store::Page;

use super::messages::{MessageRow, recent};
use super::{Form, Layout, Opt, Query, Session, UiResult, filled, go, link, phone, render};
use crate::app::AppState;
use crate::error::ApiError;
use crate::sandbox::{inject, sandbox_of};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox", get(page).post(send))
        .route("/sandbox/conversation", get(conversation))
}

#[derive(Debug, Default, Deserialize)]
struct Watch {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    from: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "ui/sandbox.html")]
struct SandboxPage {
    l: Layout,
    channels: Vec<Opt>,
    from: String,
    watch: Option<String>,
    rows: Vec<MessageRow>,
}

#[derive(askama::Template)]
#[template(path = "ui/sandbox_conversation.html")]
struct ConversationFragment {
    watch: Option<String>,
    rows: Vec<MessageRow>,
}

/// The watched conversation, when both a number and a sender are given.
async fn watched(
    state: &AppState,
    session: &Session,
    w: &Watch,
) -> UiResult<(Option<String>, Vec<MessageRow>)> {
    let (Some(channel), Some(from)) = (filled(&w.channel_id), filled(&w.from)) else {
        return Ok((None, Vec::new()));
    };
    let channel = ChannelId(
        channel
            .parse()
            .map_err(|_| ApiError::invalid("channel_id", "is not an id"))?,
    );
    let from = normalize(from, session.tenant.default_region)?;
    let rows = recent(state, session, channel, &from).await?;
    let url = link(
        "/ui/sandbox/conversation",
        &[
            ("channel_id", &channel.to_string()),
            ("from", from.as_str()),
        ],
    );
    Ok((Some(url), rows))
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(w): Query<Watch>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    sandbox_of(&state, session.tenant_id())?;
    let channels = state
        .store
        .list_channels(session.tenant_id(), Page::first(Page::MAX_LIMIT))
        .await?
        .items;
    let current = w.channel_id.clone().unwrap_or_default();
    let (watch, rows) = watched(&state, &session, &w).await?;
    render(&SandboxPage {
        l: session.layout("Sandbox", "sandbox"),
        channels: channels
            .iter()
            .map(|c| {
                Opt::new(
                    c.id.to_string(),
                    format!("{} ({})", c.name, phone(&c.display_number)),
                    &current,
                )
            })
            .collect(),
        from: filled(&w.from).unwrap_or("08123456789").to_owned(),
        watch,
        rows,
    })
}

async fn conversation(
    State(state): State<AppState>,
    session: Session,
    Query(w): Query<Watch>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    sandbox_of(&state, session.tenant_id())?;
    let (watch, rows) = watched(&state, &session, &w).await?;
    render(&ConversationFragment { watch, rows })
}

#[derive(Debug, Deserialize)]
struct Inbound {
    channel_id: String,
    from: String,
    text: String,
}

async fn send(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<Inbound>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    let channel = ChannelId(
        form.channel_id
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("channel_id", "choose a number"))?,
    );
    let (wamid, from, channel) = inject(
        &state,
        session.tenant_id(),
        channel,
        &form.from,
        form.text,
        None,
    )
    .await?;
    let to = link(
        "/ui/sandbox",
        &[
            ("channel_id", &channel.to_string()),
            ("from", from.as_str()),
        ],
    );
    Ok(crate::api::touched(wamid, go(&headers, &to)))
}
