//! `/healthz` (liveness), `/readyz` (readiness: store reachable, not draining), `/metrics`,
//! and `/openapi.json` (this API's document).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::store::Page;

use crate::app::AppState;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "ops", summary = "Liveness",
    responses((status = 200, description = "The process answers", body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The readiness checklist (its own shape, not the error shape: an orchestrator reads it).
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    /// All checks pass.
    ready: bool,
    checks: ReadinessChecks,
}

/// What `/readyz` checks.
#[derive(Debug, Serialize, ToSchema)]
struct ReadinessChecks {
    /// Started and not draining.
    accepting: bool,
    /// The store answers.
    store: bool,
    /// The queue answers.
    queue: bool,
}

#[utoipa::path(get, path = "/readyz", tag = "ops", summary = "Readiness",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Starting, draining, or a backend is unreachable", body = Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.list_tenants(Page::first(1)).await;
    let queue = state.queue.stats().await;
    let ready = state.is_ready() && store.is_ok() && queue.is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready,
        checks: ReadinessChecks {
            accepting: state.is_ready(),
            store: store.is_ok(),
            queue: queue.is_ok(),
        },
    };
    let mut response = (status, axum::Json(body)).into_response();
    // Marked so the error renderer leaves the checklist as it is.
    response.extensions_mut().insert(crate::error::KeepBody);
    response
}

#[utoipa::path(get, path = "/metrics", tag = "ops", summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 404, description = "No metrics recorder in this process", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(get, path = "/openapi.json", tag = "ops", summary = "This API's OpenAPI 3.1 document",
    responses((status = 200, description = "The document", body = Object)))]
async fn openapi_json() -> Response {
    // Built once: the document depends on the code only.
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| {
        crate::openapi::document_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document cannot be serialised");
            String::from("{}")
        })
    });
    ([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response()
}
