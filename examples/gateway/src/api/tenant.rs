//! The caller's tenant, plan and usage, users and API keys.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::{ApiKeyId, TenantId, UserId};
use wagw_core::model::tenant::{
    ApiKey, Plan, QuotaResource, Role, Scope, Tenant, UsagePeriod, User,
};
use wagw_core::phone::Region;

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Admin, Auth, Read, hash_password, parse_scopes};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope, string_enum};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant, patch_tenant))
        .routes(routes!(usage))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, patch_user, delete_user))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .merge(super::auth::routes())
}

/// Values of a user's `role`.
pub fn role_schema() -> utoipa::openapi::schema::Object {
    string_enum(&["admin", "operator", "viewer"])
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    #[schema(value_type = uuid::Uuid)]
    id: TenantId,
    name: String,
    plan: PlanView,
    /// IANA timezone of schedules and sending windows, e.g. `Asia/Jakarta`.
    #[schema(value_type = String)]
    timezone: chrono_tz::Tz,
    /// Region of national phone numbers, e.g. `ID`.
    #[schema(value_type = String)]
    default_region: Region,
    active: bool,
    created_at: DateTime<Utc>,
}

/// A plan's limits (`null`: unlimited).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// `basic`, `premium`, `enterprise` or a custom name.
    name: String,
    channels: Option<u64>,
    messages_per_month: Option<u64>,
    auto_reply_rules: Option<u64>,
    scheduled_messages: Option<u64>,
}

/// The view of `t`.
pub fn tenant_view(t: Tenant) -> TenantView {
    let Plan {
        name,
        channels,
        messages_per_month,
        auto_reply_rules,
        scheduled_messages,
    } = t.plan;
    TenantView {
        id: t.id,
        name: t.name,
        plan: PlanView {
            name,
            channels,
            messages_per_month,
            auto_reply_rules,
            scheduled_messages,
        },
        timezone: t.timezone,
        default_region: t.default_region,
        active: t.active,
        created_at: t.created_at,
    }
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = uuid::Uuid)]
    id: UserId,
    email: String,
    name: String,
    #[schema(schema_with = role_schema)]
    role: Role,
    active: bool,
    created_at: DateTime<Utc>,
}

/// The view of `user`.
pub fn user_view(user: &User) -> UserView {
    UserView {
        id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role,
        active: user.active,
        created_at: user.created_at,
    }
}

/// An API key as the API shows it (never the hash; the secret only when created).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    #[schema(value_type = uuid::Uuid)]
    id: ApiKeyId,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    /// `read`, `send`, `write`, `admin`.
    #[schema(value_type = Vec<String>)]
    scopes: BTreeSet<Scope>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// The key itself: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// The view of `key`.
pub fn key_view(key: &ApiKey) -> KeyView {
    KeyView {
        id: key.id,
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        scopes: key.scopes.clone(),
        expires_at: key.expires_at,
        revoked_at: key.revoked_at,
        created_at: key.created_at,
        secret: None,
    }
}

/// The view of a new key with its secret, shown this once.
pub fn new_key_view(key: &ApiKey, secret: String) -> KeyView {
    KeyView {
        secret: Some(secret),
        ..key_view(key)
    }
}

#[utoipa::path(get, path = "/tenant", tag = "tenant", summary = "The caller's tenant",
    responses((status = 200, description = "The tenant", body = Envelope<TenantView>)))]
async fn get_tenant(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<Value>> {
    Ok(ok(tenant_view(
        state.store.get_tenant(auth.tenant()).await?,
    )))
}

/// Changes to the tenant (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TenantPatch {
    name: Option<String>,
    /// IANA timezone, e.g. `Asia/Jakarta`.
    timezone: Option<String>,
    /// ISO 3166 region of national numbers, e.g. `ID`.
    default_region: Option<String>,
}

#[utoipa::path(patch, path = "/tenant", tag = "tenant", summary = "Change the tenant",
    request_body = TenantPatch,
    responses((status = 200, description = "The changed tenant", body = Envelope<TenantView>)))]
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
    Ok(touched(tenant.id, ok(tenant_view(tenant))))
}

/// A quota: its limit (`null`: unlimited) and what is used.
#[derive(Debug, Serialize, ToSchema)]
struct QuotaUse {
    limit: Option<u64>,
    used: u64,
}

/// The plan and its use this month.
#[derive(Debug, Serialize, ToSchema)]
struct Usage {
    /// The plan's name.
    plan: String,
    /// The month, `YYYY-MM` (UTC).
    #[schema(value_type = String)]
    period: UsagePeriod,
    messages_per_month: QuotaUse,
    channels: QuotaUse,
    scheduled_messages: QuotaUse,
    auto_reply_rules: QuotaUse,
}

#[utoipa::path(get, path = "/usage", tag = "tenant", summary = "Plan and usage",
    responses((status = 200, description = "Limits and use this month", body = Envelope<Usage>)))]

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
    let item = |r: QuotaResource, used: u64| QuotaUse {
        limit: tenant.plan.limit(r),
        used,
    };
    Ok(ok(Usage {
        messages_per_month: item(QuotaResource::MessagesPerMonth, messages),
        channels: item(QuotaResource::Channels, channels),
        scheduled_messages: item(QuotaResource::ScheduledMessages, schedules),
        auto_reply_rules: item(QuotaResource::AutoReplyRules, rules),
        plan: tenant.plan.name,
        period,
    }))
}

#[utoipa::path(get, path = "/users", tag = "tenant", summary = "List users",
    params(PageQuery),
    responses((status = 200, description = "A page of users", body = PageEnvelope<UserView>)))]

async fn list_users(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let users = state.store.list_users(auth.tenant(), q.page()?).await?;
    Ok(page(users, |u| user_view(&u)))
}

/// A new user (also used by the platform API).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    #[schema(schema_with = role_schema)]
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

#[utoipa::path(post, path = "/users", tag = "tenant", summary = "Add a user",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = Envelope<UserView>),
        (status = 409, description = "The e-mail is taken", body = crate::openapi::ErrorBody),
    ))]
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

#[utoipa::path(get, path = "/users/{id}", tag = "tenant", summary = "Read a user",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user", body = Envelope<UserView>)))]
async fn get_user(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let user = state.store.get_user(auth.tenant(), UserId(id)).await?;
    Ok(ok(user_view(&user)))
}

/// Changes to a user (absent fields stay).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    name: Option<String>,
    #[schema(schema_with = role_schema)]
    role: Option<Role>,
    active: Option<bool>,
    password: Option<String>,
}

#[utoipa::path(patch, path = "/users/{id}", tag = "tenant", summary = "Change a user",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = UserPatch,
    responses((status = 200, description = "The changed user", body = Envelope<UserView>)))]
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

#[utoipa::path(delete, path = "/users/{id}", tag = "tenant", summary = "Delete a user",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 204, description = "Deleted")))]
async fn delete_user(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state.store.delete_user(auth.tenant(), UserId(id)).await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

#[utoipa::path(get, path = "/api-keys", tag = "tenant", summary = "List API keys",
    params(PageQuery),
    responses((status = 200, description = "A page of keys (never their secrets)", body = PageEnvelope<KeyView>)))]
async fn list_keys(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let keys = state.store.list_api_keys(auth.tenant(), q.page()?).await?;
    Ok(page(keys, |k| key_view(&k)))
}

/// A new API key (also used by the platform API).
#[derive(Debug, Deserialize, ToSchema)]
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

#[utoipa::path(post, path = "/api-keys", tag = "tenant", summary = "Create an API key",
    request_body = NewKey,
    responses((status = 201, description = "Created; `secret` is shown this once", body = Envelope<KeyView>)))]
async fn create_key(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(body): Json<NewKey>,
) -> ApiResult<Response> {
    let (key, secret) = create_key_in(&state, auth.tenant(), body).await?;
    Ok(touched(
        key.id,
        (StatusCode::CREATED, ok(new_key_view(&key, secret))),
    ))
}

#[utoipa::path(delete, path = "/api-keys/{id}", tag = "tenant", summary = "Revoke an API key",
    params(("id" = uuid::Uuid, Path, description = "API key id")),
    responses((status = 204, description = "Revoked")))]
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
