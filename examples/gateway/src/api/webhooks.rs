//! Webhook subscriptions (the tenant's URLs for events), their delivery log and replay.
//! Deliveries are made by the outbox worker, which runs in the worker process.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::{DeliveryId, SubscriptionId, TenantId};
use wagw_core::model::Secret;
use wagw_core::model::webhook::{DeliveryState, EventKind, WebhookDelivery, WebhookSubscription};

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Admin, Auth, Read};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope, string_enum};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
        .routes(routes!(read, patch, remove))
}

const EVENT_KINDS: &[&str] = &[
    "message_received",
    "message_status",
    "campaign_progress",
    "template_status",
    "campaign_completed",
    "flow_completed",
    "flow_handed_off",
];

fn events_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(string_enum(EVENT_KINDS))
        .unique_items(true)
        .build()
}

fn event_schema() -> utoipa::openapi::schema::Object {
    string_enum(EVENT_KINDS)
}

fn delivery_state_schema() -> utoipa::openapi::schema::Object {
    string_enum(&["pending", "delivered", "dead"])
}

/// A subscription as the API shows it: never its secret, except once when created.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    #[schema(value_type = uuid::Uuid)]
    id: SubscriptionId,
    url: String,
    #[schema(schema_with = events_schema)]
    events: BTreeSet<EventKind>,
    active: bool,
    created_at: DateTime<Utc>,
    /// The secret that signs deliveries: only in the answer that created the subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn view(s: &WebhookSubscription) -> SubscriptionView {
    SubscriptionView {
        id: s.id,
        url: s.url.clone(),
        events: s.events.clone(),
        active: s.active,
        created_at: s.created_at,
        secret: None,
    }
}

/// One event on its way to one subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also sent with the delivery, so receivers can deduplicate.
    #[schema(value_type = uuid::Uuid)]
    id: DeliveryId,
    #[schema(value_type = uuid::Uuid)]
    tenant_id: TenantId,
    #[schema(value_type = uuid::Uuid)]
    subscription_id: SubscriptionId,
    #[schema(schema_with = event_schema)]
    event: EventKind,
    /// The JSON payload.
    #[schema(value_type = Object)]
    payload: Value,
    #[schema(schema_with = delivery_state_schema)]
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: DateTime<Utc>,
    /// The last HTTP status received.
    last_status: Option<u16>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            tenant_id: d.tenant_id,
            subscription_id: d.subscription_id,
            event: d.event,
            payload: d.payload,
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
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

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    /// An http(s) URL.
    url: String,
    #[schema(schema_with = events_schema)]
    events: BTreeSet<EventKind>,
}

#[utoipa::path(post, path = "/webhooks", tag = "webhooks", summary = "Subscribe a URL to events",
    request_body = NewSubscription,
    responses((status = 201, description = "Created; `secret` is shown this once", body = Envelope<SubscriptionView>)))]
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
    // Shown this once: it signs the deliveries.
    let v = SubscriptionView {
        secret: Some(secret),
        ..view(&subscription)
    };
    Ok(touched(subscription.id, (StatusCode::CREATED, ok(v))))
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks", summary = "List subscriptions",
    responses((status = 200, description = "Every subscription", body = Envelope<Vec<SubscriptionView>>)))]
async fn list(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<Value>> {
    let subs: Vec<SubscriptionView> = state
        .store
        .list_subscriptions(auth.tenant())
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(ok(subs))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", summary = "Read a subscription",
    params(("id" = uuid::Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription", body = Envelope<SubscriptionView>)))]
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

/// Changes to a subscription (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SubscriptionPatch)]
#[serde(deny_unknown_fields)]
struct Patch {
    url: Option<String>,
    #[schema(schema_with = events_schema)]
    events: Option<BTreeSet<EventKind>>,
    active: Option<bool>,
}

#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", summary = "Change a subscription",
    params(("id" = uuid::Uuid, Path, description = "Subscription id")),
    request_body = Patch,
    responses((status = 200, description = "The changed subscription", body = Envelope<SubscriptionView>)))]
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

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", summary = "Delete a subscription",
    params(("id" = uuid::Uuid, Path, description = "Subscription id")),
    responses((status = 204, description = "Deleted")))]
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

/// Filters of the delivery log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    /// Only this subscription's deliveries.
    subscription_id: Option<uuid::Uuid>,
    /// Items per page (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

#[utoipa::path(get, path = "/webhooks/deliveries", tag = "webhooks", summary = "The delivery log",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = PageEnvelope<DeliveryView>),
        (status = 404, description = "No such subscription", body = crate::openapi::ErrorBody),
    ))]
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
        DeliveryView::from,
    ))
}

/// A delivery queued again.
#[derive(Debug, Serialize, ToSchema)]
struct Replayed {
    id: uuid::Uuid,
    /// Always `pending`.
    state: &'static str,
}

#[utoipa::path(post, path = "/webhooks/deliveries/{id}/replay", tag = "webhooks", summary = "Deliver again",
    params(("id" = uuid::Uuid, Path, description = "Delivery id")),
    responses((status = 200, description = "Queued again", body = Envelope<Replayed>)))]

async fn replay(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .replay_delivery(auth.tenant(), DeliveryId(id), Utc::now())
        .await?;
    Ok(touched(
        id,
        ok(Replayed {
            id,
            state: "pending",
        }),
    ))
}
