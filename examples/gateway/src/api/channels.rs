//! Channels: the tenant's WhatsApp numbers.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use wagw_core::ids::{ChannelId, TenantId};
use wagw_core::model::Secret;
use wagw_core::model::channel::{Channel, ChannelStatus, Throughput};
use wagw_core::model::tenant::QuotaResource;
use wagw_core::phone::normalize;
use wagw_core::store::Page;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Admin, Auth, Read};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{id}", get(read).patch(patch).delete(remove))
        .route("/channels/{id}/health", get(health))
}

/// A channel as the API shows it: never its access token. `display_number` is E.164 with
/// `+`, for people; `phone_number_id` is Meta's id.
pub fn channel_view(c: &Channel) -> Value {
    json!({
        "id": c.id, "name": c.name, "phone_number_id": c.phone_number_id, "waba_id": c.waba_id,
        "display_number": c.display_number.e164(), "throughput": c.throughput.get(),
        "quality": c.quality, "status": c.status, "active_flow": c.active_flow,
        "has_own_access_token": c.access_token.is_some(),
        "created_at": c.created_at, "updated_at": c.updated_at,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    name: String,
    phone_number_id: String,
    waba_id: String,
    display_number: String,
    throughput: Option<u32>,
    access_token: Option<String>,
    /// Skip registration (a number already registered with Meta).
    #[serde(default)]
    connected: bool,
}

async fn create(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(body): Json<NewChannel>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    for (field, value) in [
        ("name", &body.name),
        ("phone_number_id", &body.phone_number_id),
        ("waba_id", &body.waba_id),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::invalid(field, "must not be empty"));
        }
    }
    if !body.phone_number_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "phone_number_id",
            "must be Meta's numeric id",
        ));
    }
    let display = normalize(&body.display_number, tenant.default_region)?;
    let mut channel = Channel::new(
        tenant.id,
        body.name,
        body.phone_number_id,
        body.waba_id,
        display,
    );
    if let Some(rate) = body.throughput {
        channel.throughput = Throughput::per_second(rate)?;
    }
    channel.access_token = body.access_token.map(Secret::new);
    if body.connected {
        channel.status = ChannelStatus::Connected;
    }
    if let Some(limit) = tenant.plan.limit(QuotaResource::Channels)
        && state.store.count_channels(tenant.id).await? >= limit
    {
        return Err(wagw_core::Error::QuotaExceeded {
            resource: QuotaResource::Channels.as_str().into(),
            limit,
        }
        .into());
    }
    state.store.create_channel(&channel).await?;
    Ok(touched(
        channel.id,
        (StatusCode::CREATED, ok(channel_view(&channel))),
    ))
}

async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_channels(auth.tenant(), q.page()?).await?,
        |c| channel_view(&c),
    ))
}

async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(id))
        .await?;
    Ok(ok(channel_view(&channel)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelPatch {
    name: Option<String>,
    throughput: Option<u32>,
    status: Option<ChannelStatus>,
}

async fn patch(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<ChannelPatch>,
) -> ApiResult<Response> {
    let mut channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(id))
        .await?;
    if let Some(name) = body.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "must not be empty"));
        }
        channel.name = name;
    }
    if let Some(rate) = body.throughput {
        channel.throughput = Throughput::per_second(rate)?;
        state
            .dispatcher
            .set_throughput(channel.id, channel.throughput);
    }
    if let Some(status) = body.status {
        channel.status = status;
    }
    channel.updated_at = chrono::Utc::now();
    state.store.update_channel(&channel).await?;
    Ok(touched(channel.id, ok(channel_view(&channel))))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .delete_channel(auth.tenant(), ChannelId(id))
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

async fn health(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(id))
        .await?;
    Ok(ok(json!({
        "status": channel.status,
        "quality": channel.quality,
        "throughput": channel.throughput.get(),
        "effective_rate": state.dispatcher.effective_rate(channel.id),
        "can_send": channel.ensure_can_send().is_ok(),
    })))
}

/// Every channel of a tenant, read page by page (tenants have a handful of numbers).
pub(crate) async fn all_channels(state: &AppState, tenant: TenantId) -> ApiResult<Vec<Channel>> {
    let mut out = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let found = state.store.list_channels(tenant, page).await?;
        out.extend(found.items);
        match found.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => return Ok(out),
        }
    }
}
