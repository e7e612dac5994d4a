//! Authentication, tenancy, scopes, rate limits and the activity log, in one place.
//!
//! - **Machines** present an API key (`x-api-key: wagw_…` or `Authorization: Bearer wagw_…`);
//!   the key is looked up by its SHA-256, and must be neither expired nor revoked.
//! - **People** log in (`POST /v1/auth/login`) with an argon2-hashed password and present the
//!   HS256 JWT they get (`Authorization: Bearer eyJ…`); the user is read again on every
//!   request, so a deactivated user or a changed role takes effect at once.
//! - **The platform operator** presents the platform token on `/platform/v1/*` only.
//!
//! [`authenticate`] resolves the credential once into a [`Principal`] and puts it in the
//! request; [`Auth`] hands it to the handler after checking the route's scope. The tenant a
//! handler works on comes only from there: no handler reads a tenant id from the path, query
//! or body. After the handler, every mutating request (POST, PUT, PATCH, DELETE) is written to
//! the tenant's activity log with its route, status and request id.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use wagw_core::ids::{TenantId, UserId};
use wagw_core::model::activity::{ActivityEntry, Actor};
use wagw_core::model::tenant::{ApiKey, Plan, Role, Scope, Tenant, User};

use crate::app::AppState;
use crate::error::{ApiError, RequestId};

/// Secrets and token settings.
#[derive(Clone)]
pub struct AuthConfig {
    /// Signs and checks JWTs (HS256).
    pub jwt_secret: Vec<u8>,
    /// How long a login token lasts.
    pub jwt_ttl: Duration,
    /// The platform operator's token; `None` turns `/platform/v1` off.
    pub platform_token: Option<String>,
    /// Mark the dashboard's session cookie `Secure` even on plain http (behind a TLS proxy
    /// that does not send `X-Forwarded-Proto`).
    pub secure_cookie: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_ttl", &self.jwt_ttl)
            .finish_non_exhaustive()
    }
}

const ISSUER: &str = "wagw-gateway";
const AUDIENCE: &str = "wagw-api";

/// Who is calling, resolved once per request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant every store call of the request is scoped to.
    pub tenant: TenantId,
    /// The user or key, for the activity log.
    pub actor: Actor,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// The tenant's plan (rate-limit defaults, quotas).
    pub plan: Plan,
    /// The tenant as read while authenticating this request, so that handlers needing its
    /// region or plan do not read it a second time.
    pub tenant_record: Arc<Tenant>,
}

impl Principal {
    /// Refuses with 403 unless the principal holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this credential lacks the {} scope",
                scope_name(scope)
            )))
        }
    }
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "read",
        Scope::Send => "send",
        Scope::Write => "write",
        Scope::Admin => "admin",
    }
}

/// A scope a route needs, as a type: `Auth<Send>` in a handler's arguments.
pub trait Grant {
    /// The scope.
    const SCOPE: Scope;
}
/// Needs [`Scope::Read`].
#[derive(Debug)]
pub struct Read;
/// Needs [`Scope::Send`].
#[derive(Debug)]
pub struct Send;
/// Needs [`Scope::Write`].
#[derive(Debug)]
pub struct Write;
/// Needs [`Scope::Admin`].
#[derive(Debug)]
pub struct Admin;
impl Grant for Read {
    const SCOPE: Scope = Scope::Read;
}
impl Grant for Send {
    const SCOPE: Scope = Scope::Send;
}
impl Grant for Write {
    const SCOPE: Scope = Scope::Write;
}
impl Grant for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// The authenticated caller of a tenant route, holding scope `G`. The only source of the
/// tenant id in handlers.
#[derive(Debug)]
pub struct Auth<G> {
    /// The caller.
    pub principal: Principal,
    _grant: PhantomData<G>,
}

impl<G> Auth<G> {
    /// The tenant of the request.
    pub fn tenant(&self) -> TenantId {
        self.principal.tenant
    }

    /// The tenant record read when the request was authenticated (same request, no
    /// second read).
    pub fn tenant_record(&self) -> &Tenant {
        &self.principal.tenant_record
    }
}

impl<G: Grant, S: std::marker::Send + Sync> FromRequestParts<S> for Auth<G> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("credentials required"))?;
        principal.require(G::SCOPE)?;
        Ok(Self {
            principal,
            _grant: PhantomData,
        })
    }
}

/// The platform operator, on `/platform/v1`.
#[derive(Debug)]
pub struct Platform;

impl FromRequestParts<AppState> for Platform {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = state.auth.platform_token.as_deref() else {
            return Err(ApiError::not_found());
        };
        let given = bearer(&parts.headers).unwrap_or_default();
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized("a valid platform token is required"))
        }
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Comparing digests keeps the time independent of where the inputs differ and of length.
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The claims of a login token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    /// The user's tenant.
    pub tid: String,
    /// The role at login (informative: the stored role is what counts).
    pub role: Role,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Issues a login token for `user`.
pub fn issue_token(config: &AuthConfig, user: &User) -> Result<(String, i64), ApiError> {
    let exp = Utc::now().timestamp() + i64::try_from(config.jwt_ttl.as_secs()).unwrap_or(43_200);
    let claims = Claims {
        sub: user.id.to_string(),
        tid: user.tenant_id.to_string(),
        role: user.role,
        exp,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&config.jwt_secret),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "signing a token failed");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    })?;
    Ok((token, exp))
}

fn decode_token(config: &AuthConfig, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(&config.jwt_secret),
        &validation,
    )
    .ok()
    .map(|data| data.claims)
}

/// Hashes a password (Argon2id, PHC string), off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt =
            SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(|e| e.to_string())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|e| {
        tracing::error!(error = %e, "hashing a password failed");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    })
}

/// A hash of a random password, made once, checked for unknown e-mails so that the answer
/// takes as long whether the e-mail exists or not.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes());
        salt.ok()
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(uuid::Uuid::new_v4().to_string().as_bytes(), &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

/// Checks a password against a PHC hash (or the dummy hash when `hash` is `None`), off the
/// async threads.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        let matches = PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && matches
    })
    .await
    .unwrap_or(false)
}

/// Requests per credential, by plan name, and stricter budgets for campaign creation and
/// uploads.
pub struct RateLimits {
    plans: HashMap<String, PlanLimits>,
}

/// One plan's limiters, each keyed by credential.
struct PlanLimits {
    requests: DefaultKeyedRateLimiter<String>,
    campaigns: DefaultKeyedRateLimiter<String>,
    /// Media uploads, URL→media fetches and CSV imports.
    uploads: DefaultKeyedRateLimiter<String>,
}

/// The routes charged to the upload budget (POST only): each stores or fetches up to 50 MiB.
pub const UPLOAD_ROUTES: [&str; 4] = [
    "/v1/media",
    "/v1/media/from-url",
    "/v1/contacts/import",
    "/v1/lists/{id}/import",
];

/// What a request is charged to besides the request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// The request budget only.
    Request,
    /// Also one campaign creation.
    Campaign,
    /// Also one upload (media, URL→media, CSV import).
    Upload,
}

/// The key a credential's request budgets are kept under.
pub fn limit_key(actor: &Actor) -> String {
    match actor {
        Actor::ApiKey(id) => format!("key:{id}"),
        Actor::User(id) => format!("user:{id}"),
        Actor::System => "system".to_owned(),
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("plans", &self.plans.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for RateLimits {
    /// The plans' defaults, per API key or user:
    /// - basic: the broadcast seed's 100 requests per 15 minutes, 10 campaigns per hour and
    ///   5 uploads per minute;
    /// - premium: 600 requests per minute, 60 campaigns per hour and 30 uploads per minute;
    /// - enterprise and custom plans: unlimited.
    fn default() -> Self {
        let per = |n: u32, period: Duration| {
            let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(period / n.get())
                .map_or_else(|| Quota::per_second(n), |q| q.allow_burst(n));
            RateLimiter::keyed(quota)
        };
        let mut plans = HashMap::new();
        plans.insert(
            "basic".to_owned(),
            PlanLimits {
                requests: per(100, Duration::from_secs(15 * 60)),
                campaigns: per(10, Duration::from_secs(3_600)),
                uploads: per(5, Duration::from_secs(60)),
            },
        );
        plans.insert(
            "premium".to_owned(),
            PlanLimits {
                requests: per(600, Duration::from_secs(60)),
                campaigns: per(60, Duration::from_secs(3_600)),
                uploads: per(30, Duration::from_secs(60)),
            },
        );
        Self { plans }
    }
}

impl RateLimits {
    /// Charges one request (and one campaign creation or upload, if it is one) to `key`
    /// under `plan`; the error says when to retry.
    pub fn check(&self, key: &str, plan: &str, charge: Charge) -> Result<(), ApiError> {
        let Some(limits) = self.plans.get(plan) else {
            return Ok(());
        };
        let clock = DefaultClock::default();
        let key = key.to_owned();
        let refused = |not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(clock.now());
            ApiError::rate_limited(wait.max(Duration::from_secs(1)))
        };
        limits.requests.check_key(&key).map_err(refused)?;
        match charge {
            Charge::Request => {}
            Charge::Campaign => limits.campaigns.check_key(&key).map_err(refused)?,
            Charge::Upload => limits.uploads.check_key(&key).map_err(refused)?,
        }
        Ok(())
    }
}

/// Resolves the credential into a [`Principal`], applies the rate limit, runs the handler,
/// and writes the activity log for mutating requests.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match resolve(&state, request.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let method = request.method().clone();
    let charge = if method != Method::POST {
        Charge::Request
    } else if route.ends_with("/campaigns") {
        Charge::Campaign
    } else if UPLOAD_ROUTES.contains(&route.as_str()) {
        Charge::Upload
    } else {
        Charge::Request
    };
    let limit_key = limit_key(&principal.actor);
    if let Err(e) = state.limits.check(&limit_key, &principal.plan.name, charge) {
        return e.into_response();
    }
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    request.extensions_mut().insert(principal.clone());
    let response = next.run(request).await;
    let status = response.status();
    let entity = response.extensions().get::<EntityId>().map(|e| e.0.clone());
    record_activity(
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

/// Writes a mutating request (POST, PUT, PATCH, DELETE) to the tenant's activity log with its
/// route, status and request id; other methods are not logged. Shared by the API and `/ui`.
pub async fn record_activity(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    route: &str,
    request_id: &str,
    status: axum::http::StatusCode,
    entity_id: Option<String>,
) {
    if matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        let status = status.as_u16();
        let entity = route
            .trim_start_matches("/v1")
            .trim_start_matches("/ui")
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut entry = ActivityEntry::new(
            principal.tenant,
            principal.actor,
            format!("{method} {route}"),
            entity,
            entity_id,
        );
        entry.details = serde_json::json!({ "status": status, "request_id": request_id });
        if let Err(e) = state.store.append_activity(&entry).await {
            tracing::error!(error = %e, "writing the activity log failed");
        }
    }
}

/// The id of the entity a mutating request touched, attached to its response for the
/// activity log.
#[derive(Debug, Clone)]
pub struct EntityId(pub String);

/// Resolves the credential of `headers` (API key or login token) into a [`Principal`].
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let credential = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| bearer(headers))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::unauthorized("an API key or a login token is required"))?;
    let invalid = || ApiError::unauthorized("the credential is invalid, expired or revoked");
    let (tenant, actor, scopes) = if credential.starts_with("wagw_") {
        let key = match state
            .store
            .find_api_key(&ApiKey::hash_secret(credential))
            .await
        {
            Ok(k) => k,
            Err(wagw_core::Error::NotFound { .. }) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        if !key.is_usable(Utc::now()) {
            return Err(invalid());
        }
        (key.tenant_id, Actor::ApiKey(key.id), key.scopes)
    } else {
        let claims = decode_token(&state.auth, credential).ok_or_else(invalid)?;
        let tenant = claims
            .tid
            .parse::<uuid::Uuid>()
            .map(TenantId)
            .map_err(|_| invalid())?;
        let user_id = claims
            .sub
            .parse::<uuid::Uuid>()
            .map(UserId)
            .map_err(|_| invalid())?;
        let user = match state.store.get_user(tenant, user_id).await {
            Ok(u) => u,
            Err(wagw_core::Error::NotFound { .. }) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        if !user.active {
            return Err(invalid());
        }
        let scopes = [Scope::Read, Scope::Send, Scope::Write, Scope::Admin]
            .into_iter()
            .filter(|s| user.role.allows(*s))
            .collect();
        (tenant, Actor::User(user.id), scopes)
    };
    let tenant = match state.store.get_tenant(tenant).await {
        Ok(t) => t,
        Err(wagw_core::Error::NotFound { .. }) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    if !tenant.active {
        return Err(ApiError::forbidden("the tenant is deactivated"));
    }
    Ok(Principal {
        tenant: tenant.id,
        actor,
        scopes,
        plan: tenant.plan.clone(),
        tenant_record: Arc::new(tenant),
    })
}

/// Parses scope names (`read`, `send`, `write`, `admin`, or a role name for its scopes).
pub fn parse_scopes(names: &[String]) -> Result<BTreeSet<Scope>, ApiError> {
    let mut scopes = BTreeSet::new();
    for name in names {
        let granted: &[Scope] = match name.as_str() {
            "read" => &[Scope::Read],
            "send" => &[Scope::Send],
            "write" => &[Scope::Write],
            "admin" | "role:admin" => &[Scope::Read, Scope::Send, Scope::Write, Scope::Admin],
            "role:operator" => &[Scope::Read, Scope::Send, Scope::Write],
            "role:viewer" => &[Scope::Read],
            other => {
                return Err(ApiError::invalid(
                    "scopes",
                    format!(
                        "unknown scope {other:?} (read, send, write, admin, role:operator, role:viewer)"
                    ),
                ));
            }
        };
        scopes.extend(granted.iter().copied());
    }
    if scopes.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "at least one scope is required",
        ));
    }
    Ok(scopes)
}
