//! `/platform/v1`: tenant administration with the platform token, apart from the tenant API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::TenantId;
use wagw_core::model::tenant::{Plan, Tenant};

use super::tenant::{
    KeyView, NewKey, NewUser, TenantView, UserView, create_key_in, create_user_in, new_key_view,
    tenant_view, user_view,
};
use super::{PageQuery, ok, page};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::Platform;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope, string_enum};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, patch))
        .routes(routes!(add_user))
        .routes(routes!(add_key))
}

fn plan_schema() -> utoipa::openapi::schema::Object {
    string_enum(&["basic", "premium", "enterprise"])
}

/// A plan by name: `basic`, `premium` or `enterprise`.
pub fn plan_named(name: &str) -> Result<Plan, ApiError> {
    match name {
        "basic" => Ok(Plan::basic()),
        "premium" => Ok(Plan::premium()),
        "enterprise" => Ok(Plan::enterprise()),
        other => Err(ApiError::invalid(
            "plan",
            format!("unknown plan {other:?} (basic, premium, enterprise)"),
        )),
    }
}

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[schema(schema_with = plan_schema)]
    plan: String,
    /// IANA timezone (default `Asia/Jakarta`).
    timezone: Option<String>,
}

#[utoipa::path(post, path = "/tenants", tag = "platform", summary = "Create a tenant",
    request_body = NewTenant,
    responses((status = 201, description = "Created", body = Envelope<TenantView>)))]
async fn create(
    State(state): State<AppState>,
    _: Platform,
    Json(body): Json<NewTenant>,
) -> ApiResult<Response> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let mut tenant = Tenant::new(body.name, plan_named(&body.plan)?);
    if let Some(tz) = body.timezone {
        tenant.timezone = tz
            .parse()
            .map_err(|_| ApiError::invalid("timezone", format!("unknown IANA timezone {tz:?}")))?;
    }
    state.store.create_tenant(&tenant).await?;
    Ok((StatusCode::CREATED, ok(tenant_view(tenant))).into_response())
}

#[utoipa::path(get, path = "/tenants", tag = "platform", summary = "List tenants",
    params(PageQuery),
    responses((status = 200, description = "A page of tenants", body = PageEnvelope<TenantView>)))]

async fn list(
    State(state): State<AppState>,
    _: Platform,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_tenants(q.page()?).await?,
        tenant_view,
    ))
}

#[utoipa::path(get, path = "/tenants/{id}", tag = "platform", summary = "Read a tenant",
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    responses((status = 200, description = "The tenant", body = Envelope<TenantView>)))]

async fn read(
    State(state): State<AppState>,
    _: Platform,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(ok(tenant_view(state.store.get_tenant(TenantId(id)).await?)))
}

/// Changes to a tenant (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PlatformTenantPatch)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    #[schema(schema_with = plan_schema)]
    plan: Option<String>,
    active: Option<bool>,
    name: Option<String>,
}

#[utoipa::path(patch, path = "/tenants/{id}", tag = "platform", summary = "Change a tenant (plan, active, name)",
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    request_body = TenantPatch,
    responses((status = 200, description = "The changed tenant", body = Envelope<TenantView>)))]
async fn patch(
    State(state): State<AppState>,
    _: Platform,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<TenantPatch>,
) -> ApiResult<Json<Value>> {
    let mut tenant = state.store.get_tenant(TenantId(id)).await?;
    if let Some(plan) = body.plan {
        tenant.plan = plan_named(&plan)?;
    }
    if let Some(active) = body.active {
        tenant.active = active;
    }
    if let Some(name) = body.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "must not be empty"));
        }
        tenant.name = name;
    }
    state.store.update_tenant(&tenant).await?;
    Ok(ok(tenant_view(tenant)))
}

#[utoipa::path(post, path = "/tenants/{id}/users", tag = "platform", summary = "Add a user to a tenant",
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = Envelope<UserView>),
        (status = 409, description = "The e-mail is taken", body = crate::openapi::ErrorBody),
    ))]
async fn add_user(
    State(state): State<AppState>,
    _: Platform,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<NewUser>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(TenantId(id)).await?;
    let user = create_user_in(&state, tenant.id, body).await?;
    Ok((StatusCode::CREATED, ok(user_view(&user))).into_response())
}

#[utoipa::path(post, path = "/tenants/{id}/api-keys", tag = "platform", summary = "Create an API key for a tenant",
    params(("id" = uuid::Uuid, Path, description = "Tenant id")),
    request_body = NewKey,
    responses((status = 201, description = "Created; `secret` is shown this once", body = Envelope<KeyView>)))]
async fn add_key(
    State(state): State<AppState>,
    _: Platform,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<NewKey>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(TenantId(id)).await?;
    let (key, secret) = create_key_in(&state, tenant.id, body).await?;
    Ok((StatusCode::CREATED, ok(new_key_view(&key, secret))).into_response())
}
