//! `/webhooks/meta`: Meta's verification handshake (GET) and signed event deliveries (POST,
//! `X-Hub-Signature-256` over the raw body).
//!
//! A POST goes through wagw's inbound pipeline ([`apply`]); the answer is 200 only once
//! everything is stored, and 500 on a store error, so that Meta delivers again.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use wagw_core::conversation::{InboundPipeline, RoutedEvent};
use wagw_meta::WebhookEvent;

use crate::app::AppState;
use crate::error::ApiError;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handshake, receive))
}

#[utoipa::path(get, path = "/webhooks/meta", tag = "meta", summary = "Meta's verification handshake",
    params(
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "The configured verify token"),
        ("hub.challenge" = Option<String>, Query, description = "Echoed back on success"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong verify token or mode", body = crate::openapi::ErrorBody),
    ))]
async fn handshake(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    match wagw_meta::webhook::verify_subscription_query(
        query.as_deref().unwrap_or_default(),
        &state.meta.verify_token,
    ) {
        Ok(challenge) => challenge.into_response(),
        Err(_) => ApiError::forbidden("verification token mismatch").into_response(),
    }
}

#[utoipa::path(post, path = "/webhooks/meta", tag = "meta", summary = "Meta's signed event deliveries",
    params(("X-Hub-Signature-256" = Option<String>, Header, description = "`sha256=` HMAC of the raw body with the app secret")),
    request_body(content = Object, description = "Meta's webhook payload (`{\"object\": \"whatsapp_business_account\", \"entry\": [...]}`)"),
    responses(
        (status = 200, description = "Stored"),
        (status = 401, description = "Bad signature or payload", body = crate::openapi::ErrorBody),
    ))]
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

/// Stores what a delivery says through wagw's inbound pipeline: inbound messages once by
/// wamid with their contact, window, conversation job and outbox events; statuses forward
/// only; template status changes. Answers (auto-replies, flows) run afterwards in the worker's
/// conversation runner, from the durable jobs.
pub async fn apply(state: &AppState, events: Vec<WebhookEvent>) -> wagw_core::Result<()> {
    let events: Vec<RoutedEvent> = events.into_iter().map(RoutedEvent::from).collect();
    InboundPipeline::new(Arc::clone(&state.store))
        .ingest(&events)
        .await?;
    Ok(())
}
