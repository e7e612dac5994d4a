//! `/healthz` (liveness), `/readyz` (readiness: store reachable, not draining), `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use wagw_core::store::Page;

use crate::app::AppState;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.list_tenants(Page::first(1)).await;
    let queue = state.queue.stats().await;
    let ready = state.is_ready() && store.is_ok() && queue.is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // The probe's own shape: a checklist, not the error shape (an orchestrator reads it).
    let body = json!({
        "ready": ready,
        "checks": {
            "accepting": state.is_ready(),
            "store": store.is_ok(),
            "queue": queue.is_ok(),
        }
    });
    let mut response = (status, axum::Json(body)).into_response();
    // Marked so the error renderer leaves the checklist as it is.
    response.extensions_mut().insert(crate::error::KeepBody);
    response
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => crate::error::ApiError::not_found().into_response(),
    }
}
