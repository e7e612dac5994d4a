//! `/platform/v1`: tenant administration with the platform token, apart from the tenant API.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use wagw_core::ids::TenantId;
use wagw_core::model::tenant::{Plan, Tenant};

use super::tenant::{NewKey, NewUser, create_key_in, create_user_in, key_view, user_view};
use super::{PageQuery, ok, page};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::Platform;
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list).post(create))
        .route("/tenants/{id}", get(read).patch(patch))
        .route("/tenants/{id}/users", post(add_user))
        .route("/tenants/{id}/api-keys", post(add_key))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    plan: String,
    timezone: Option<String>,
}

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
    Ok((StatusCode::CREATED, ok(tenant)).into_response())
}

async fn list(
    State(state): State<AppState>,
    _: Platform,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(state.store.list_tenants(q.page()?).await?, |t| t))
}

async fn read(
    State(state): State<AppState>,
    _: Platform,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(ok(state.store.get_tenant(TenantId(id)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    plan: Option<String>,
    active: Option<bool>,
    name: Option<String>,
}

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
    Ok(ok(tenant))
}

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

async fn add_key(
    State(state): State<AppState>,
    _: Platform,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<NewKey>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(TenantId(id)).await?;
    let (key, secret) = create_key_in(&state, tenant.id, body).await?;
    let mut view = key_view(&key);
    view["secret"] = Value::String(secret);
    Ok((StatusCode::CREATED, ok(view)).into_response())
}
