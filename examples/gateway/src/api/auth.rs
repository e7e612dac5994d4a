//! `POST /v1/auth/login` and `GET /v1/me`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::TenantId;
use wagw_core::model::activity::Actor;
use wagw_core::model::tenant::User;

use super::ok;
use super::tenant::{UserView, user_view};
use crate::app::{AppState, Json};
use crate::auth::{Auth, Read, issue_token, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::openapi::Envelope;
use wagw_core::model::tenant::{Scope, Tenant};

/// Routes that need no credential.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

/// Routes about the caller.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// A person's login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    /// The tenant's id.
    tenant: uuid::Uuid,
    email: String,
    password: String,
}

/// A login token.
#[derive(Debug, Serialize, ToSchema)]
struct LoginToken {
    /// The JWT, for `Authorization: Bearer`.
    token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// When it stops working (Unix seconds).
    expires_at: i64,
    user: UserView,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", summary = "Log in (a person)",
    request_body = Login,
    responses(
        (status = 200, description = "A token", body = Envelope<LoginToken>),
        (status = 401, description = "Wrong tenant, e-mail or password", body = crate::openapi::ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    Json(body): Json<Login>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = check_login(&state, TenantId(body.tenant), &body.email, body.password).await?;
    let (token, exp) = issue_token(&state.auth, &user)?;
    Ok(ok(LoginToken {
        token,
        token_type: "Bearer",
        expires_at: exp,
        user: user_view(&user),
    }))
}

/// Checks a person's tenant, e-mail and password (the API's login and the dashboard's):
/// the active user of an active tenant, or 401 with the same words whatever was wrong.
pub async fn check_login(
    state: &AppState,
    tenant: TenantId,
    email: &str,
    password: String,
) -> ApiResult<User> {
    let refused = || ApiError::unauthorized("wrong tenant, e-mail or password");
    let user = match state
        .store
        .find_user_by_email(tenant, &email.to_lowercase())
        .await
    {
        Ok(u) => Some(u),
        Err(wagw_core::Error::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    // Unknown e-mails are checked against a dummy hash: the answer takes as long either way.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = verify_password(password, hash).await;
    let user = user.filter(|u| matches && u.active).ok_or_else(refused)?;
    let tenant = state.store.get_tenant(user.tenant_id).await?;
    if !tenant.active {
        return Err(refused());
    }
    Ok(user)
}

/// The caller: who, with which scopes, of which tenant.
#[derive(Debug, Serialize, ToSchema)]
struct Me {
    /// `{"kind": "user", "user": …}`, `{"kind": "api_key", "id"}` or `{"kind": "system"}`.
    #[schema(value_type = Object)]
    actor: serde_json::Value,
    /// The credential's scopes (`read`, `send`, `write`, `admin`).
    #[schema(value_type = Vec<String>)]
    scopes: Vec<Scope>,
    #[schema(value_type = Object)]
    tenant: Tenant,
}

#[utoipa::path(get, path = "/me", tag = "auth", summary = "The caller",
    responses((status = 200, description = "The caller", body = Envelope<Me>)))]

async fn me(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<serde_json::Value>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let who = match auth.principal.actor {
        Actor::User(id) => {
            let user = state.store.get_user(auth.tenant(), id).await?;
            json!({ "kind": "user", "user": user_view(&user) })
        }
        Actor::ApiKey(id) => json!({ "kind": "api_key", "id": id }),
        Actor::System => json!({ "kind": "system" }),
    };
    let scopes = auth.principal.scopes.iter().copied().collect();
    Ok(ok(Me {
        actor: who,
        scopes,
        tenant,
    }))
}
