//! The OpenAPI 3.1 document, generated from the routes.
//!
//! Every handler carries a `#[utoipa::path]` and is registered through utoipa-axum's
//! [`OpenApiRouter`](utoipa_axum::router::OpenApiRouter) with `routes!(…)`, so the document
//! lists exactly the routes the server answers. This module holds the shared pieces: the
//! root [`ApiDoc`] (title, tags, security schemes), the success envelopes and the one error
//! shape as schemas, and `StandardResponses`, which adds the failures every operation can
//! answer (by its security, path parameters and body) so handlers only list their own.

use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Security scheme: an API key in `x-api-key`.
pub const API_KEY: &str = "api_key";
/// Security scheme: `Authorization: Bearer` with a login JWT or an API key.
pub const BEARER: &str = "bearer";
/// Security scheme: the platform operator's token (`Authorization: Bearer`) on `/platform/v1`.
pub const PLATFORM_TOKEN: &str = "platform_token";

/// The document's root: everything that is not a route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wagw gateway",
        description = "The reference wagw gateway: a multi-tenant WhatsApp gateway REST API. \
            Successes answer `{\"success\": true, \"data\": …}` (listings add `next`, the cursor \
            of the following page); every failure answers the one error shape \
            `{\"success\": false, \"code\", \"error\", \"details\", \"request_id\"}`. \
            Another tenant's ids answer 404 exactly like ids that never existed."
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Login and the caller"),
        (name = "tenant", description = "The caller's tenant, plan, usage, users and API keys"),
        (name = "channels", description = "WhatsApp numbers"),
        (name = "messages", description = "Sending and message history"),
        (name = "contacts", description = "Contacts, tags and lists"),
        (name = "campaigns", description = "Broadcast campaigns"),
        (name = "schedules", description = "Scheduled messages, one-off and cron"),
        (name = "webhooks", description = "The tenant's webhook subscriptions and deliveries"),
        (name = "activity", description = "The activity log"),
        (name = "sandbox", description = "The sandbox (Cloud API emulator) only"),
        (name = "platform", description = "Tenant administration with the platform token"),
        (name = "meta", description = "Meta's webhook endpoint"),
        (name = "ops", description = "Probes, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// `{"success": true, "data": …}`: every success with a body that is not a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The answer.
    pub data: T,
}

/// `{"success": true, "data": [...], "next": …}`: a page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageEnvelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The page's items.
    pub data: Vec<T>,
    /// The cursor of the next page (`?after=`), `null` on the last one.
    pub next: Option<String>,
}

/// The one error shape of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// Machine-readable code, e.g. `NOT_FOUND`, `INVALID_NUMBER`, `RATE_LIMITED`.
    pub code: String,
    /// Words for a person.
    pub error: String,
    /// Structured details (`null` when none).
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
    /// The request's id (also in the `x-request-id` header).
    pub request_id: String,
}

/// Registers the three credentials.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key (`wagw_…`), created with POST /v1/api-keys and shown once",
            ))),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A login token from POST /v1/auth/login, or an API key",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            PLATFORM_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The platform operator's token (WAGW_PLATFORM_TOKEN)"))
                    .build(),
            ),
        );
    }
}

/// Which credential a path needs, from where it is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// `/v1/*` except login: an API key or a login token.
    Tenant,
    /// `/platform/v1/*`: the platform token.
    Platform,
    /// Everything else: no credential (Meta's webhook checks its own signature).
    Public,
}

fn guard_of(path: &str) -> Guard {
    if path.starts_with("/platform/v1/") {
        Guard::Platform
    } else if path.starts_with("/v1/") && path != "/v1/auth/login" {
        Guard::Tenant
    } else {
        Guard::Public
    }
}

/// Adds to every operation the failures it can answer whatever its handler does, each with
/// the error shape, and its security requirement:
/// 401/403/429 where a credential is needed, 404 where the path names an id, 400/413/422
/// where a body or query is parsed, 503 (timeout, store unreachable) and 500 everywhere.
struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut Document) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let guard = guard_of(path);
            for operation in operations(item) {
                add_standard(path, guard, operation);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn add_standard(path: &str, guard: Guard, operation: &mut Operation) {
    // Handlers are named within their module (`list`, `create`…): the tag makes the id
    // unique in the document, as OpenAPI requires.
    if let (Some(tag), Some(id)) = (
        operation.tags.as_ref().and_then(|t| t.first()),
        operation.operation_id.as_ref(),
    ) {
        operation.operation_id = Some(format!("{tag}_{id}"));
    }
    let has_path_id = path.contains('{');
    let has_body = operation.request_body.is_some();
    let has_query = operation.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| {
                matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            })
    });
    let mut statuses: Vec<(&str, &str)> = Vec::new();
    match guard {
        Guard::Tenant => {
            statuses.push(("401", "No valid credential"));
            statuses.push((
                "403",
                "The credential lacks the scope, or a plan quota is used up (QUOTA_EXCEEDED)",
            ));
            statuses.push((
                "429",
                "Too many requests for this credential (`Retry-After` says when to retry)",
            ));
        }
        Guard::Platform => {
            statuses.push((
                "401",
                "No valid platform token (or the platform API is off)",
            ));
        }
        Guard::Public => {}
    }
    if has_path_id {
        statuses.push((
            "404",
            "No such id for this tenant (another tenant's ids answer the same)",
        ));
    }
    if has_body || has_query {
        statuses.push(("400", "The body or query cannot be parsed"));
        statuses.push(("422", "A value parses but is not acceptable"));
    }
    if has_body {
        statuses.push(("413", "The body is larger than this route accepts"));
    }
    statuses.push((
        "503",
        "The request took too long, or a backend is unreachable",
    ));
    statuses.push(("500", "Internal error"));
    for (status, description) in statuses {
        if operation.responses.responses.contains_key(status) {
            continue;
        }
        operation
            .responses
            .responses
            .insert(status.to_owned(), error_response(description));
    }
    let requirements = match guard {
        Guard::Tenant => vec![
            SecurityRequirement::new(API_KEY, Vec::<String>::new()),
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
        ],
        Guard::Platform => vec![SecurityRequirement::new(
            PLATFORM_TOKEN,
            Vec::<String>::new(),
        )],
        Guard::Public => Vec::new(),
    };
    if !requirements.is_empty() && operation.security.is_none() {
        operation.security = Some(requirements);
    }
}

/// A response with the error shape.
pub fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// Completes the document the routers collected: the standard failures and security of
/// every operation (`StandardResponses` needs the paths, so it runs after the routes are
/// in, not as a modifier of [`ApiDoc`]).
pub fn finish(mut openapi: Document) -> Document {
    StandardResponses.modify(&mut openapi);
    openapi
}

/// The whole document: the routes' operations over [`ApiDoc`].
pub fn document() -> Document {
    let (_, openapi) = crate::app::routes(None).split_for_parts();
    finish(openapi)
}

/// The document as pretty JSON with a trailing newline, as committed in
/// `examples/gateway/openapi.json`.
///
/// # Errors
///
/// Only if the document cannot be serialised (it always can).
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&document())?;
    text.push('\n');
    Ok(text)
}

/// A string schema limited to `values` (for wagw-core enums, which do not derive `ToSchema`).
pub fn string_enum(values: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// A string-or-null schema limited to `values`.
pub fn nullable_string_enum(values: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::String,
            utoipa::openapi::schema::Type::Null,
        ]))
        .enum_values(Some(values.iter().copied().map(Some).chain([None])))
        .build()
}

/// Swagger UI at `/docs`, from the assets vendored into the binary (no network at build or
/// run time), reading `/openapi.json`; the online validator is off.
pub fn swagger_ui<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    utoipa_swagger_ui::SwaggerUi::new("/docs")
        .config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none"))
        .into()
}
