//! Channels: the tenant's WhatsApp numbers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::{ChannelId, FlowId, TenantId};
use wagw_core::model::Secret;
use wagw_core::model::channel::{Channel, ChannelStatus, QualityRating, Throughput};
use wagw_core::model::tenant::QuotaResource;
use wagw_core::phone::normalize;
use wagw_core::store::Page;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Admin, Auth, Read};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope, string_enum};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, patch, remove))
        .routes(routes!(health))
}

/// Values of a channel's `status`.
pub fn channel_status_schema() -> utoipa::openapi::schema::Object {
    string_enum(&[
        "pending",
        "connected",
        "flagged",
        "restricted",
        "disconnected",
        "banned",
    ])
}

fn quality_schema() -> utoipa::openapi::schema::Object {
    string_enum(&["GREEN", "YELLOW", "RED", "UNKNOWN"])
}

/// A channel as the API shows it: never its access token. `display_number` is E.164 with
/// `+`, for people; `phone_number_id` is Meta's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    #[schema(value_type = uuid::Uuid)]
    id: ChannelId,
    name: String,
    /// Meta's id of the number.
    phone_number_id: String,
    /// Meta's WhatsApp Business Account id.
    waba_id: String,
    /// E.164 with `+`.
    display_number: String,
    /// Messages per second.
    throughput: u32,
    #[schema(schema_with = quality_schema)]
    quality: QualityRating,
    #[schema(schema_with = channel_status_schema)]
    status: ChannelStatus,
    #[schema(value_type = Option<uuid::Uuid>)]
    active_flow: Option<FlowId>,
    /// Whether the channel sends with its own Meta token rather than the gateway's.
    has_own_access_token: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The view of `c`.
pub fn channel_view(c: &Channel) -> ChannelView {
    ChannelView {
        id: c.id,
        name: c.name.clone(),
        phone_number_id: c.phone_number_id.clone(),
        waba_id: c.waba_id.clone(),
        display_number: c.display_number.e164(),
        throughput: c.throughput.get(),
        quality: c.quality,
        status: c.status,
        active_flow: c.active_flow,
        has_own_access_token: c.access_token.is_some(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A new channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    name: String,
    /// Meta's numeric id of the number.
    phone_number_id: String,
    waba_id: String,
    /// The number, local (`08…`, the tenant's region) or international.
    display_number: String,
    /// Messages per second.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 1000)]
    throughput: Option<u32>,
    /// The channel's own Meta token (never shown again).
    access_token: Option<String>,
    /// Skip registration (a number already registered with Meta).
    #[serde(default)]
    connected: bool,
}

/// Reads a count that JSON may write as `5` or `5.0` (both are the integer 5 to JSON Schema,
/// and so to the OpenAPI document).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
        Ok(Some(n as u32))
    } else {
        Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of messages per second"
        )))
    }
}

/// A channel's health.
#[derive(Debug, Serialize, ToSchema)]
struct ChannelHealth {
    #[schema(schema_with = channel_status_schema)]
    status: ChannelStatus,
    #[schema(schema_with = quality_schema)]
    quality: QualityRating,
    /// Configured messages per second.
    throughput: u32,
    /// Messages per second the dispatcher sends at now (after Meta's throttling); `null`
    /// before the channel's first send.
    effective_rate: Option<u32>,
    /// Whether the status allows sending.
    can_send: bool,
}

#[utoipa::path(post, path = "/channels", tag = "channels", summary = "Add a channel",
    request_body = NewChannel,
    responses(
        (status = 201, description = "Created", body = Envelope<ChannelView>),
        (status = 409, description = "The phone-number id is registered already", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(get, path = "/channels", tag = "channels", summary = "List channels",
    params(PageQuery),
    responses((status = 200, description = "A page of channels", body = PageEnvelope<ChannelView>)))]
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

#[utoipa::path(get, path = "/channels/{id}", tag = "channels", summary = "Read a channel",
    params(("id" = uuid::Uuid, Path, description = "Channel id")),
    responses((status = 200, description = "The channel", body = Envelope<ChannelView>)))]
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

/// Changes to a channel (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChannelPatch {
    name: Option<String>,
    /// Messages per second.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 1000)]
    throughput: Option<u32>,
    #[schema(schema_with = channel_status_schema)]
    status: Option<ChannelStatus>,
}

#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", summary = "Change a channel",
    params(("id" = uuid::Uuid, Path, description = "Channel id")),
    request_body = ChannelPatch,
    responses((status = 200, description = "The changed channel", body = Envelope<ChannelView>)))]
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

#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", summary = "Delete a channel",
    params(("id" = uuid::Uuid, Path, description = "Channel id")),
    responses((status = 204, description = "Deleted")))]
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

#[utoipa::path(get, path = "/channels/{id}/health", tag = "channels", summary = "A channel's health",
    params(("id" = uuid::Uuid, Path, description = "Channel id")),
    responses((status = 200, description = "Status, quality and rates", body = Envelope<ChannelHealth>)))]
async fn health(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(id))
        .await?;
    Ok(ok(ChannelHealth {
        status: channel.status,
        quality: channel.quality,
        throughput: channel.throughput.get(),
        effective_rate: state.dispatcher.effective_rate(channel.id),
        can_send: channel.ensure_can_send().is_ok(),
    }))
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
