//! The caller's tenant, plan and usage, users and API keys.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use wagw_core::ids::{ApiKeyId, UserId};
use wagw_core::model::tenant::{ApiKey, QuotaResource, Role, UsagePeriod, User};

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Admin, Auth, Read, hash_password, parse_scopes};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenant", get(get_tenant).patch(patch_tenant))
        .route("/usage", get(usage))
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/api-keys", get(list_keys).post(create_key))
        .route("/api-keys/{id}", delete(revoke_key))
        .merge(super::auth::routes())
}

/// A user as the API shows it (never the password hash).
pub fn user_view(user: &User) -> Value {
    json!({
        "id": user.id, "email": user.email, "name": user.name, "role": user.role,
        "active": user.active, "created_at": user.created_at,
    })
}

/// An API key as the API shows it (never the hash).
pub fn key_view(key: &ApiKey) -> Value {
    json!({
        "id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes,
        "expires_at": key.expires_at, "revoked_at": key.revoked_at, "created_at": key.created_at,
    })
}

async fn get_tenant(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<Value>> {
    Ok(ok(state.store.get_tenant(auth.tenant()).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    name: Option<String>,
    timezone: Option<String>,
    default_region: Option<String>,
}

async fn patch_tenant(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(patch): Json<TenantPatch>,
) -> ApiResult<Response> {
    let mut tenant = state.store.get_tenant(auth.tenant()).await?;
    if let Some(name) = patch.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "must not be empty"));
        }
        tenant.name = name;
    }
    if let Some(tz) = patch.timezone {
        tenant.timezone = tz
            .parse()
            .map_err(|_| ApiError::invalid("timezone", format!("unknown IANA timezone {tz:?}")))?;
    }
    if let Some(region) = patch.default_region {
        tenant.default_region =
            serde_json::from_value(Value::String(region.clone())).map_err(|_| {
                ApiError::invalid("default_region", format!("unknown region {region:?}"))
            })?;
    }
    state.store.update_tenant(&tenant).await?;
    Ok(touched(tenant.id, ok(tenant)))
}

async fn usage(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<Value>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let period = UsagePeriod::month_of(Utc::now());
    let messages = state
        .store
        .usage(tenant.id, &period, QuotaResource::MessagesPerMonth)
        .await?;
    let channels = state.store.count_channels(tenant.id).await?;
    let schedules = state.store.count_schedules(tenant.id).await?;
    let rules = state.store.list_rules(tenant.id).await?.len() as u64;
    let item = |r: QuotaResource, used: u64| json!({ "limit": tenant.plan.limit(r), "used": used });
    Ok(ok(json!({
        "plan": tenant.plan.name,
        "period": period,
        "messages_per_month": item(QuotaResource::MessagesPerMonth, messages),
        "channels": item(QuotaResource::Channels, channels),
        "scheduled_messages": item(QuotaResource::ScheduledMessages, schedules),
        "auto_reply_rules": item(QuotaResource::AutoReplyRules, rules),
    })))
}

async fn list_users(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let users = state.store.list_users(auth.tenant(), q.page()?).await?;
    Ok(page(users, |u| user_view(&u)))
}

/// A new user (also used by the platform API).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Password (at least 8 characters).
    pub password: String,
}

/// Validates and stores a new user of `tenant`.
pub async fn create_user_in(
    state: &AppState,
    tenant: wagw_core::ids::TenantId,
    body: NewUser,
) -> ApiResult<User> {
    let email = body.email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::invalid("email", "is not an e-mail address"));
    }
    if body.password.chars().count() < 8 {
        return Err(ApiError::invalid(
            "password",
            "must have at least 8 characters",
        ));
    }
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let user = User {
        id: UserId::new(),
        tenant_id: tenant,
        email,
        name: body.name,
        role: body.role,
        password_hash: hash_password(body.password).await?,
        active: true,
        created_at: Utc::now(),
    };
    state.store.create_user(&user).await?;
    Ok(user)
}

async fn create_user(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(body): Json<NewUser>,
) -> ApiResult<Response> {
    let user = create_user_in(&state, auth.tenant(), body).await?;
    Ok(touched(
        user.id,
        (StatusCode::CREATED, ok(user_view(&user))),
    ))
}

async fn get_user(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let user = state.store.get_user(auth.tenant(), UserId(id)).await?;
    Ok(ok(user_view(&user)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    name: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
    password: Option<String>,
}

async fn patch_user(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
    Json(patch): Json<UserPatch>,
) -> ApiResult<Response> {
    let mut user = state.store.get_user(auth.tenant(), UserId(id)).await?;
    if let Some(name) = patch.name {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name", "must not be empty"));
        }
        user.name = name;
    }
    if let Some(password) = patch.password {
        if password.chars().count() < 8 {
            return Err(ApiError::invalid(
                "password",
                "must have at least 8 characters",
            ));
        }
        user.password_hash = hash_password(password).await?;
    }
    if let Some(role) = patch.role {
        user.role = role;
    }
    if let Some(active) = patch.active {
        user.active = active;
    }
    state.store.update_user(&user).await?;
    Ok(touched(user.id, ok(user_view(&user))))
}

async fn delete_user(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state.store.delete_user(auth.tenant(), UserId(id)).await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

async fn list_keys(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let keys = state.store.list_api_keys(auth.tenant(), q.page()?).await?;
    Ok(page(keys, |k| key_view(&k)))
}

/// A new API key (also used by the platform API).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A label.
    pub name: String,
    /// `read`, `send`, `write`, `admin` (all four), `role:operator` or `role:viewer`.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key for `tenant`; the answer carries the secret, shown this once.
pub async fn create_key_in(
    state: &AppState,
    tenant: wagw_core::ids::TenantId,
    body: NewKey,
) -> ApiResult<(ApiKey, String)> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let scopes: BTreeSet<_> = parse_scopes(&body.scopes)?;
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let (key, secret) = ApiKey::generate(tenant, body.name, scopes, body.expires_at);
    state.store.create_api_key(&key).await?;
    Ok((key, secret))
}

async fn create_key(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(body): Json<NewKey>,
) -> ApiResult<Response> {
    let (key, secret) = create_key_in(&state, auth.tenant(), body).await?;
    let mut view = key_view(&key);
    view["secret"] = Value::String(secret);
    Ok(touched(key.id, (StatusCode::CREATED, ok(view))))
}

async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state
        .store
        .revoke_api_key(auth.tenant(), ApiKeyId(id), Utc::now())
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT.into_response()))
}
