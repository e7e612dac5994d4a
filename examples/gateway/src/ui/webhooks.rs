//! `/ui/webhooks`: the tenant's webhook subscriptions, the delivery log (state, attempts,
//! last answer) and replay of a delivery.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use wagw_core::ids::{DeliveryId, SubscriptionId};
use wagw_core::model::Secret;
use wagw_core::model::tenant::Scope;
use wagw_core::model::webhook::{DeliveryState, EventKind, WebhookSubscription};

use super::{Cursor, Layout, Query, Session, UiResult, go, label, link, render, when};
use crate::api::touched;
use crate::api::webhooks::check_url;
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(page).post(create))
        .route("/webhooks/{id}/delete", post(remove))
        .route("/webhooks/deliveries/{id}/replay", post(replay))
}

/// The events a subscription may name, as (wire name, words).
const EVENTS: [(EventKind, &str); 7] = [
    (EventKind::MessageReceived, "a message is received"),
    (EventKind::MessageStatus, "a message's status changes"),
    (EventKind::CampaignProgress, "a campaign progresses"),
    (EventKind::CampaignCompleted, "a campaign completes"),
    (EventKind::TemplateStatus, "a template's status changes"),
    (EventKind::FlowCompleted, "a flow completes"),
    (EventKind::FlowHandedOff, "a flow hands off to a person"),
];

/// A subscription as the page shows it.
#[derive(Debug)]
pub struct SubscriptionRow {
    id: String,
    url: String,
    events: String,
    active: bool,
}

/// A delivery as the page shows it.
#[derive(Debug)]
pub struct DeliveryRow {
    id: String,
    event: String,
    state: String,
    replayable: bool,
    attempts: u32,
    last_status: String,
    last_error: String,
    created: String,
    next_attempt: String,
}

/// An event checkbox.
#[derive(Debug)]
pub struct EventChoice {
    value: String,
    text: &'static str,
}

#[derive(askama::Template)]
#[template(path = "ui/webhooks.html")]
struct WebhooksPage {
    l: Layout,
    subscriptions: Vec<SubscriptionRow>,
    deliveries: Vec<DeliveryRow>,
    next: Option<String>,
    events: Vec<EventChoice>,
    /// A new subscription's signing secret, shown once (as the API does).
    secret: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    #[serde(default)]
    after: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<PageQuery>,
) -> UiResult<Response> {
    show(&state, &session, q.after, None).await
}

async fn show(
    state: &AppState,
    session: &Session,
    after: Option<String>,
    secret: Option<String>,
) -> UiResult<Response> {
    let tz = session.tenant.timezone;
    let tenant = session.tenant_id();
    // Subscriptions are few per tenant: the store lists them whole.
    let subscriptions = state.store.list_subscriptions(tenant).await?;
    let cursor = Cursor { after };
    let deliveries = state
        .store
        .list_deliveries(tenant, None, cursor.page())
        .await?;
    render(&WebhooksPage {
        l: session.layout("Webhooks", "webhooks"),
        subscriptions: subscriptions
            .iter()
            .map(|s| SubscriptionRow {
                id: s.id.to_string(),
                url: s.url.clone(),
                events: s.events.iter().map(label).collect::<Vec<_>>().join(", "),
                active: s.active,
            })
            .collect(),
        deliveries: deliveries
            .items
            .iter()
            .map(|d| DeliveryRow {
                id: d.id.to_string(),
                event: label(&d.event),
                state: label(&d.state),
                // Delivered, dead, or pending after a failed attempt (waiting for its retry).
                replayable: d.state != DeliveryState::Pending || d.attempts > 0,
                attempts: d.attempts,
                last_status: d.last_status.map(|s| s.to_string()).unwrap_or_default(),
                last_error: d.last_error.clone().unwrap_or_default(),
                created: when(tz, d.created_at),
                next_attempt: when(tz, d.next_attempt_at),
            })
            .collect(),
        next: deliveries
            .next
            .map(|after| link("/ui/webhooks", &[("after", &after)])),
        events: EVENTS
            .iter()
            .map(|(kind, text)| EventChoice {
                value: label(kind),
                text,
            })
            .collect(),
        secret,
    })
}

/// The form: `url` and any number of `event` checkboxes (a repeated key, which
/// `axum::Form` cannot read into a struct).
async fn create(
    State(state): State<AppState>,
    session: Session,
    body: axum::body::Bytes,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::bad_request(format!("the form did not parse: {e}")))?;
    let url = pairs
        .iter()
        .find(|(k, _)| k == "url")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    check_url(&url)?;
    let mut events = BTreeSet::new();
    for (_, value) in pairs.iter().filter(|(k, _)| k == "event") {
        let kind = EVENTS
            .iter()
            .map(|(kind, _)| *kind)
            .find(|kind| label(kind) == *value)
            .ok_or_else(|| ApiError::invalid("event", format!("unknown event {value:?}")))?;
        events.insert(kind);
    }
    if events.is_empty() {
        return Err(ApiError::invalid("events", "choose at least one event").into());
    }
    let subscription = WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: session.tenant_id(),
        url,
        secret: Secret::new(format!("whsec_{}", uuid::Uuid::new_v4().simple())),
        events,
        active: true,
        created_at: Utc::now(),
    };
    state.store.create_subscription(&subscription).await?;
    // The page itself, not a redirect: the secret is shown this once and never stored in a
    // URL or a second request.
    let response = show(
        &state,
        &session,
        None,
        Some(subscription.secret.expose().to_owned()),
    )
    .await?;
    Ok(touched(subscription.id, response))
}

async fn remove(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    state
        .store
        .delete_subscription(session.tenant_id(), SubscriptionId(id))
        .await?;
    Ok(touched(id, go(&headers, "/ui/webhooks")))
}

/// Makes a delivery pending again, due now (the outbox worker sends it).
async fn replay(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    session.require(Scope::Admin)?;
    wagw_core::outbox::replay(&*state.store, session.tenant_id(), DeliveryId(id)).await?;
    Ok(touched(id, go(&headers, "/ui/webhooks")))
}
