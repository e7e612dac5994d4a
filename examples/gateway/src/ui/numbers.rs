//! `/ui/numbers`: each number's status, quality, throughput, live sending rate, and the
//! queue's depth; for a number not yet connected, the registration steps (request a code,
//! verify it, register with the two-step PIN) through the transport.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use wagw_core::ids::ChannelId;
use wagw_core::model::channel::ChannelStatus;
use wagw_core::model::tenant::Scope;
use wagw_core::transport::CodeMethod;

use super::{Cursor, Form, Layout, Query, Session, UiResult, go, label, link, phone, render};
use crate::api::touched;
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/numbers", get(page))
        .route("/numbers/{id}/request-code", post(request_code))
        .route("/numbers/{id}/verify", post(verify))
        .route("/numbers/{id}/register", post(register))
}

/// A number as the page shows it.
#[derive(Debug)]
pub struct NumberRow {
    id: String,
    name: String,
    number: String,
    status: String,
    quality: String,
    throughput: u32,
    live_rate: String,
    connected: bool,
    sandbox_code: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "ui/numbers.html")]
struct NumbersPage {
    l: Layout,
    rows: Vec<NumberRow>,
    ready: u64,
    delayed: u64,
    reserved: u64,
    dead: u64,
    next: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(cursor): Query<Cursor>,
) -> UiResult<Response> {
    let found = state
        .store
        .list_channels(session.tenant_id(), cursor.page())
        .await?;
    let sandbox = state
        .sandbox
        .as_ref()
        .filter(|s| s.tenant == session.tenant_id());
    let rows = found
        .items
        .iter()
        .map(|c| NumberRow {
            id: c.id.to_string(),
            name: c.name.clone(),
            number: phone(&c.display_number),
            status: label(&c.status),
            quality: label(&c.quality),
            throughput: c.throughput.get(),
            live_rate: state
                .dispatcher
                .effective_rate(c.id)
                .map_or_else(|| "idle".to_owned(), |r| format!("{r}/s")),
            connected: c.status == ChannelStatus::Connected,
            sandbox_code: sandbox.and_then(|s| s.emulator.verification_code(&c.phone_number_id)),
        })
        .collect();
    let stats = state.queue.stats().await?;
    render(&NumbersPage {
        l: session.layout("Numbers", "numbers"),
        rows,
        ready: stats.ready,
        delayed: stats.delayed,
        reserved: stats.reserved,
        dead: stats.dead,
        next: found
            .next
            .map(|after| link("/ui/numbers", &[("after", &after)])),
    })
}

#[derive(Debug, Deserialize)]
struct RequestCode {
    method: String,
}

async fn request_code(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<RequestCode>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    let channel = state
        .store
        .get_channel(session.tenant_id(), ChannelId(id))
        .await?;
    let method = match form.method.as_str() {
        "sms" => CodeMethod::Sms,
        "voice" => CodeMethod::Voice,
        _ => return Err(ApiError::invalid("method", "must be sms or voice").into()),
    };
    state
        .transport
        .request_code(&channel, method, "id")
        .await
        .map_err(wagw_core::Error::from)?;
    Ok(touched(id, go(&headers, "/ui/numbers")))
}

#[derive(Debug, Deserialize)]
struct Code {
    code: String,
}

async fn verify(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<Code>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    let channel = state
        .store
        .get_channel(session.tenant_id(), ChannelId(id))
        .await?;
    state
        .transport
        .verify_code(&channel, form.code.trim())
        .await
        .map_err(wagw_core::Error::from)?;
    Ok(touched(id, go(&headers, "/ui/numbers")))
}

#[derive(Debug, Deserialize)]
struct Pin {
    pin: String,
}

async fn register(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<Pin>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    let pin = form.pin.trim();
    if pin.len() != 6 || !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid("pin", "the two-step PIN has six digits").into());
    }
    let mut channel = state
        .store
        .get_channel(session.tenant_id(), ChannelId(id))
        .await?;
    state
        .transport
        .register(&channel, pin)
        .await
        .map_err(wagw_core::Error::from)?;
    channel.status = ChannelStatus::Connected;
    channel.updated_at = chrono::Utc::now();
    state.store.update_channel(&channel).await?;
    Ok(touched(id, go(&headers, "/ui/numbers")))
}
