//! The router: every route of the API, its layers, and the state handlers share.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::middleware;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use wagw_core::campaign::CampaignEngine;
use wagw_core::dispatch::{Acceptor, Dispatcher};
use wagw_core::scheduler::Scheduler;
use wagw_core::{Queue, Store, Transport};

use crate::auth::{self, AuthConfig, RateLimits};
use crate::error::{self, ApiError};
use crate::openapi::ApiDoc;
use crate::{api, sandbox, ui};

/// The dispatcher over the gateway's dynamic backends.
pub type GatewayDispatcher = Dispatcher<dyn Store, dyn Queue, dyn Transport>;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The queue.
    pub queue: Arc<dyn Queue>,
    /// The transport (Meta's Cloud API or the sandbox emulator).
    pub transport: Arc<dyn Transport>,
    /// Accepts messages (records and queues them; sending is the worker's).
    pub dispatcher: GatewayDispatcher,
    /// Accepts single sends with group commit (concurrent requests share one store write).
    pub acceptor: Acceptor,
    /// Campaign operations.
    pub campaigns: Arc<CampaignEngine<dyn Store, dyn Queue, dyn Transport>>,
    /// Scheduled messages.
    pub scheduler: Arc<Scheduler<dyn Store, dyn Queue, dyn Transport>>,
    /// Credentials and limits.
    pub auth: Arc<AuthConfig>,
    /// Per-credential request limits.
    pub limits: Arc<RateLimits>,
    /// Meta webhook settings.
    pub meta: Arc<MetaWebhook>,
    /// The sandbox, when the emulator stands in for Meta.
    pub sandbox: Option<Arc<sandbox::Sandbox>>,
    /// Renders `/metrics`, when a recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// False while starting and once draining: `/readyz` answers 503.
    pub ready: Arc<AtomicBool>,
}

impl AppState {
    /// Whether `/readyz` should answer 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// How Meta's webhooks are checked.
#[derive(Debug, Clone)]
pub struct MetaWebhook {
    /// The app secret that signs POSTs (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The token of the GET verification handshake.
    pub verify_token: String,
}

/// `axum::Json` whose rejections use the one error shape, and which takes only a JSON
/// object: every request body of this API is one. Serde's derived `Deserialize` would also
/// read a struct from an array of its fields in order (`[null, null]`), an undocumented
/// second spelling that this closes for every route at once.
///
/// A number with a zero fraction (`5.0`) is an integer to JSON Schema, and so to the OpenAPI
/// document, but not to serde: a body refused for that alone is read again with such numbers
/// as integers (only then, so well-formed bodies are parsed once).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::bad_request(
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        match axum::Json::<JsonObject<T>>::from_bytes(&bytes) {
            Ok(axum::Json(JsonObject(value))) => Ok(Self(value)),
            Err(rejection) => integral_floats_as_integers(&bytes)
                .and_then(|value| JsonObject::<T>::deserialize(value).ok())
                .map(|JsonObject(value)| Self(value))
                .ok_or_else(|| rejection.into()),
        }
    }
}

/// `application/json` or `application/…+json`, parameters aside (as `axum::Json` accepts).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// The body with every number that has a zero fraction written as an integer; `None` when
/// it is not JSON or holds no such number (so retrying cannot help).
fn integral_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    fn visit(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) => {
                let Some(f) = n.as_f64().filter(|_| n.is_f64()) else {
                    return false;
                };
                // Within ±2^53 an f64 with no fraction is an exact integer.
                if f.fract() != 0.0 || f.abs() > 9_007_199_254_740_992.0 {
                    return false;
                }
                #[allow(clippy::cast_possible_truncation)]
                let integer = f as i64;
                *n = integer.into();
                true
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| visit(v) | c),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, v| visit(v) | c),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    visit(&mut value).then_some(value)
}

/// A `T` read only from a JSON object.
struct JsonObject<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(JsonObject)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` whose rejections use the one error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` whose rejections use the one error shape (404, like an unknown id).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Every documented route with its layers, over [`ApiDoc`]'s root. With `state`, the tenant
/// routes get the authentication layer; without (to print the document) they do not, and
/// the document is the same.
pub fn routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let authenticated = |router: OpenApiRouter<AppState>| match state {
        Some(state) => router.route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        )),
        None => router,
    };
    let tenant_api = authenticated(api::routes()).layer(DefaultBodyLimit::max(1024 * 1024));
    let import_api =
        authenticated(api::import_routes()).layer(DefaultBodyLimit::max(50 * 1024 * 1024));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/v1",
            tenant_api.merge(import_api).merge(api::public_routes()),
        )
        .nest("/platform/v1", api::platform::routes())
        .merge(api::meta_webhook::routes())
        .merge(api::ops::routes())
}

/// The whole application: the documented routes, and Swagger UI at `/docs` (vendored
/// assets, reading `/openapi.json`).
pub fn app(state: AppState) -> Router {
    let (router, _) = routes(Some(&state)).split_for_parts();
    router
        .merge(crate::openapi::swagger_ui())
        .nest("/ui", ui::routes(state.clone()))
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such route",
            )
        })
        .layer(middleware::from_fn(error::timeout))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn(error::render_errors))
        .with_state(state)
}
