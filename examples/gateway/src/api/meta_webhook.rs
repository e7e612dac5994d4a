//! `/webhooks/meta`: Meta's verification handshake (GET) and signed event deliveries (POST,
//! `X-Hub-Signature-256` over the raw body).
//!
//! For now a POST applies status updates (forward only, campaign recipients in step) and
//! records inbound messages (deduplicated by wamid, which opens the 24-hour window). The
//! inbound pipeline (auto-replies, flows, webhooks out) replaces this body in one place:
//! [`apply`]. The answer is 200 only once everything is stored, and 500 on a store error, so
//! that Meta delivers again.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use wagw_core::event::InboundEvent;
use wagw_core::ingest::apply_status_updates;
use wagw_core::model::message::MessageRecord;
use wagw_core::phone::PhoneNumber;
use wagw_core::store::WamidUpdate;
use wagw_meta::WebhookEvent;

use crate::app::AppState;
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/meta", get(handshake).post(receive))
}

async fn handshake(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    match wagw_meta::webhook::verify_subscription_query(
        query.as_deref().unwrap_or_default(),
        &state.meta.verify_token,
    ) {
        Ok(challenge) => challenge.into_response(),
        Err(_) => ApiError::forbidden("verification token mismatch").into_response(),
    }
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers
        .get(wagw_meta::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let events = match wagw_meta::webhook::verify_and_parse(
        state.meta.app_secret.as_bytes(),
        &body,
        signature,
    ) {
        Ok(events) => events,
        Err(e) => {
            metrics::counter!("wagw_webhook_in_total", "outcome" => "refused").increment(1);
            tracing::warn!(error = %e, "Meta webhook refused");
            return ApiError::unauthorized("bad signature or payload").into_response();
        }
    };
    metrics::counter!("wagw_webhook_in_total", "outcome" => "accepted").increment(1);
    match apply(&state, events).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "storing Meta webhook events failed; Meta will redeliver");
            ApiError::from(e).into_response()
        }
    }
}

/// Stores what a delivery says. The seam where the inbound pipeline plugs in.
pub async fn apply(state: &AppState, events: Vec<WebhookEvent>) -> wagw_core::Result<()> {
    for event in events {
        let Some(pnid) = event.phone_number_id.as_deref() else {
            continue;
        };
        let channel = match state.store.find_channel_by_phone_number_id(pnid).await {
            Ok(c) => c,
            Err(wagw_core::Error::NotFound { .. }) => {
                tracing::warn!(phone_number_id = pnid, "webhook for an unknown number");
                continue;
            }
            Err(e) => return Err(e),
        };
        match event.event {
            InboundEvent::Status(status) => {
                if let Some(update) = WamidUpdate::from_webhook(&status) {
                    apply_status_updates(&*state.store, channel.tenant_id, &[update]).await?;
                }
            }
            InboundEvent::Message(message) => {
                let Ok(from) = PhoneNumber::from_wa_id(&message.from) else {
                    tracing::warn!(from = %message.from, "inbound message from an invalid number");
                    continue;
                };
                let record = MessageRecord::inbound(channel.tenant_id, channel.id, from, message);
                state.store.insert_message(&record).await?;
            }
            _ => {}
        }
    }
    Ok(())
}
