//! Login, logout and the session guard of every other page.
//!
//! The session is the API's login token (JWT) in the `wagw_session` cookie: HttpOnly (no
//! script reads it), SameSite=Strict (no other site's page sends it), `Path=/`, and `Secure`
//! when the request came over https (directly or through a proxy saying
//! `X-Forwarded-Proto: https`) or when the gateway is configured for it. The CSRF token is
//! derived from the token and the JWT secret, so it is per session and needs no storage.

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wagw_core::ids::TenantId;
use wagw_core::model::activity::Actor;
use wagw_core::model::tenant::{Scope, Tenant};

use super::{Form, UiError, UiResult, filled, go, label, render};
use crate::api::auth::check_login;
use crate::app::AppState;
use crate::auth::{self, AuthConfig, Charge, Principal, issue_token, limit_key};
use crate::error::{ApiError, RequestId};

/// The session cookie's name.
pub const COOKIE: &str = "wagw_session";
/// The header htmx sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is looking at a page: resolved by [`guard`] on every request.
#[derive(Debug, Clone)]
pub struct Session {
    /// The caller, exactly as the API resolves it.
    pub principal: Principal,
    /// The tenant (name, timezone, region).
    pub tenant: Tenant,
    /// The person's e-mail (or the key's id).
    pub who: String,
    /// The person's role.
    pub role: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Whether the sandbox runs for this tenant.
    pub sandbox: bool,
}

impl Session {
    /// The tenant id every store call of the request is scoped to.
    pub fn tenant_id(&self) -> TenantId {
        self.principal.tenant
    }

    /// Whether the role holds `scope`.
    pub fn can(&self, scope: Scope) -> bool {
        self.principal.scopes.contains(&scope)
    }

    /// Refuses with 403 unless the role holds `scope` (the pages hide what a role may not
    /// do; this is the check that counts).
    pub fn require(&self, scope: Scope) -> UiResult<()> {
        Ok(self.principal.require(scope)?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, UiError> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| UiError(ApiError::unauthorized("log in first")))
    }
}

/// The per-session CSRF token: a digest of the JWT secret and the session token.
pub fn csrf_token(config: &AuthConfig, token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"wagw-ui-csrf\0");
    hasher.update(&config.jwt_secret);
    hasher.update(b"\0");
    hasher.update(token.as_bytes());
    hasher
        .finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// To the login page: a redirect for a page, `HX-Redirect` for an htmx request.
fn to_login(headers: &HeaderMap) -> Response {
    let mut response = go(headers, "/ui/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("wagw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// Resolves the session of every page: no or a bad cookie → the login page; a POST without
/// the session's CSRF token → 403. Mutations are rate limited like the API's and written to
/// the activity log.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(token) = session_token(request.headers()) else {
        return to_login(request.headers());
    };
    let mut credential = HeaderMap::new();
    let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        return to_login(request.headers());
    };
    credential.insert(header::AUTHORIZATION, bearer);
    let principal = match auth::resolve(&state, &credential).await {
        Ok(p) => p,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return to_login(request.headers()),
        Err(e) => return UiError(e).into_response(),
    };
    let csrf = csrf_token(&state.auth, &token);
    let method = request.method().clone();
    let mutating = method != Method::GET && method != Method::HEAD;
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    if mutating {
        let given = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !auth::constant_time_eq(given.as_bytes(), csrf.as_bytes()) {
            return UiError(ApiError::forbidden(
                "the form's CSRF token is missing or wrong: reload the page",
            ))
            .into_response();
        }
        let charge = if route.ends_with("/campaigns") {
            Charge::Campaign
        } else {
            Charge::Request
        };
        if let Err(e) =
            state
                .limits
                .check(&limit_key(&principal.actor), &principal.plan.name, charge)
        {
            return UiError(e).into_response();
        }
    }
    let tenant = match state.store.get_tenant(principal.tenant).await {
        Ok(t) => t,
        Err(e) => return UiError(e.into()).into_response(),
    };
    let (who, role) = match principal.actor {
        Actor::User(id) => match state.store.get_user(tenant.id, id).await {
            Ok(user) => (user.email, label(&user.role)),
            Err(e) => return UiError(e.into()).into_response(),
        },
        Actor::ApiKey(id) => (format!("API key {id}"), "key".to_owned()),
        Actor::System => ("system".to_owned(), "system".to_owned()),
    };
    let session = Session {
        sandbox: state
            .sandbox
            .as_ref()
            .is_some_and(|s| s.tenant == tenant.id),
        principal: principal.clone(),
        tenant,
        who,
        role,
        csrf,
    };
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    request.extensions_mut().insert(session);
    let response = next.run(request).await;
    let status = response.status();
    let entity = response
        .extensions()
        .get::<auth::EntityId>()
        .map(|e| e.0.clone());
    auth::record_activity(
        &state,
        &principal,
        &method,
        &route,
        &request_id,
        status,
        entity,
    )
    .await;
    response
}

/// `GET/POST /login`.
pub fn login_routes() -> Router<AppState> {
    Router::new().route("/login", get(login_page).post(login))
}

/// `POST /logout` (behind the guard: it needs the CSRF token).
pub fn logout_routes() -> Router<AppState> {
    Router::new().route("/logout", post(logout))
}

#[derive(askama::Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    tenant: String,
    email: String,
    error: Option<String>,
    sandbox_hint: bool,
}

async fn login_page(State(state): State<AppState>) -> UiResult<Response> {
    let sandbox = state.sandbox.as_ref();
    render(&LoginPage {
        tenant: sandbox.map(|s| s.tenant.to_string()).unwrap_or_default(),
        email: String::new(),
        error: None,
        sandbox_hint: sandbox.is_some(),
    })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    tenant: String,
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> UiResult<Response> {
    let refused = |message: &str| {
        let mut response = render(&LoginPage {
            tenant: form.tenant.clone(),
            email: form.email.clone(),
            error: Some(message.to_owned()),
            sandbox_hint: state.sandbox.is_some(),
        })?;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.extensions_mut().insert(crate::error::KeepBody);
        Ok::<_, UiError>(response)
    };
    let Some(tenant) = filled(&Some(form.tenant.clone())).and_then(|t| t.parse().ok()) else {
        return refused("the tenant id is not an id");
    };
    let user = match check_login(
        &state,
        TenantId(tenant),
        form.email.trim(),
        form.password.clone(),
    )
    .await
    {
        Ok(user) => user,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return refused(&e.message),
        Err(e) => return Err(e.into()),
    };
    let (token, _) = issue_token(&state.auth, &user)?;
    let secure = state.auth.secure_cookie
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.auth.jwt_ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let mut response = go(&headers, "/ui");
    let cookie = HeaderValue::from_str(&cookie).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    })?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Forgets the cookie. The token itself stays valid until it expires (JWTs are not
/// revocable); deactivating the user ends every session at once.
async fn logout(headers: HeaderMap) -> Response {
    to_login(&headers)
}
