//! Webhook subscriptions (the tenant's URLs for events), their delivery log and replay.
//! Deliveries are made by the outbox worker, which runs in the worker process.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use wagw_core::ids::{DeliveryId, SubscriptionId};
use wagw_core::model::Secret;
use wagw_core::model::webhook::{EventKind, WebhookSubscription};

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Admin, Auth, Read};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/deliveries", get(deliveries))
        .route("/webhooks/deliveries/{id}/replay", post(replay))
        .route("/webhooks/{id}", get(read).patch(patch).delete(remove))
}

/// A subscription as the API shows it: never its secret.
fn view(s: &WebhookSubscription) -> Value {
    json!({
        "id": s.id, "url": s.url, "events": s.events, "active": s.active,
        "created_at": s.created_at,
    })
}

/// Refuses anything but an http(s) URL of sane length (the SSRF guard checks the host when
/// delivering).
pub fn check_url(url: &str) -> ApiResult<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2_048
        && !url.chars().any(char::is_whitespace)
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("url", "must be an http(s) URL"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    url: String,
    events: BTreeSet<EventKind>,
}

async fn create(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(body): Json<NewSubscription>,
) -> ApiResult<Response> {
    check_url(&body.url)?;
    if body.events.is_empty() {
        return Err(ApiError::invalid("events", "must name at least one event"));
    }
    let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
    let subscription = WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: auth.tenant(),
        url: body.url,
        secret: Secret::new(secret.clone()),
        events: body.events,
        active: true,
        created_at: Utc::now(),
    };
    state.store.create_subscription(&subscription).await?;
    let mut v = view(&subscription);
    // Shown this once: it signs the deliveries.
    v["secret"] = Value::String(secret);
    Ok(touched(subscription.id, (StatusCode::CREATED, ok(v))))
}

async fn list(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<Value>> {
    let subs: Vec<Value> = state
        .store
        .list_subscriptions(auth.tenant())
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(ok(subs))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(ok(view(
        &state
            .store
            .get_subscription(auth.tenant(), SubscriptionId(id))
            .await?,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    url: Option<String>,
    events: Option<BTreeSet<EventKind>>,
    active: Option<bool>,
}

async fn patch(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<Patch>,
) -> ApiResult<Response> {
    let mut s = state
        .store
        .get_subscription(auth.tenant(), SubscriptionId(id))
        .await?;
    if let Some(url) = body.url {
        check_url(&url)?;
        s.url = url;
    }
    if let Some(events) = body.events {
        if events.is_empty() {
            return Err(ApiError::invalid("events", "must name at least one event"));
        }
        s.events = events;
    }
    if let Some(active) = body.active {
        s.active = active;
    }
    state.store.update_subscription(&s).await?;
    Ok(touched(s.id, ok(view(&s))))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .delete_subscription(auth.tenant(), SubscriptionId(id))
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    subscription_id: Option<uuid::Uuid>,
    limit: Option<usize>,
    after: Option<String>,
}

async fn deliveries(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<DeliveriesQuery>,
) -> ApiResult<Json<Value>> {
    let subscription = match q.subscription_id {
        Some(id) => Some(
            state
                .store
                .get_subscription(auth.tenant(), SubscriptionId(id))
                .await?
                .id,
        ),
        None => None,
    };
    let page_query = PageQuery {
        limit: q.limit,
        after: q.after,
    };
    Ok(page(
        state
            .store
            .list_deliveries(auth.tenant(), subscription, page_query.page()?)
            .await?,
        |d| d,
    ))
}

async fn replay(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .replay_delivery(auth.tenant(), DeliveryId(id), Utc::now())
        .await?;
    Ok(touched(id, ok(json!({ "id": id, "state": "pending" }))))
}
