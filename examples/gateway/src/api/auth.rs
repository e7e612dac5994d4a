//! `POST /v1/auth/login` and `GET /v1/me`.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use wagw_core::ids::TenantId;
use wagw_core::model::activity::Actor;
use wagw_core::model::tenant::User;

use super::ok;
use crate::app::{AppState, Json};
use crate::auth::{Auth, Read, issue_token, verify_password};
use crate::error::{ApiError, ApiResult};

/// Routes that need no credential.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/auth/login", post(login))
}

/// Routes about the caller.
pub fn routes() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    tenant: uuid::Uuid,
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    Json(body): Json<Login>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = check_login(&state, TenantId(body.tenant), &body.email, body.password).await?;
    let (token, exp) = issue_token(&state.auth, &user)?;
    Ok(ok(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_at": exp,
        "user": super::tenant::user_view(&user),
    })))
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

async fn me(State(state): State<AppState>, auth: Auth<Read>) -> ApiResult<Json<serde_json::Value>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let who = match auth.principal.actor {
        Actor::User(id) => {
            let user = state.store.get_user(auth.tenant(), id).await?;
            json!({ "kind": "user", "user": super::tenant::user_view(&user) })
        }
        Actor::ApiKey(id) => json!({ "kind": "api_key", "id": id }),
        Actor::System => json!({ "kind": "system" }),
    };
    let scopes: Vec<_> = auth.principal.scopes.iter().collect();
    Ok(ok(
        json!({ "actor": who, "scopes": scopes, "tenant": tenant }),
    ))
}
