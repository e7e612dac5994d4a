//! The one error shape of the gateway:
//! `{"success": false, "code", "error", "details", "request_id"}`.
//!
//! Handlers return [`ApiError`] (usually converted from [`wagw_core::Error`]); the response
//! carries it as an extension and [`render_errors`] (the outermost middleware, which knows
//! the request id) writes the body. Failures that never reach a handler (axum's rejections,
//! unknown routes and methods, body limits, timeouts, panics) are turned into the same shape
//! there, so a client parses one format whatever went wrong.

use std::time::Duration;

use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wagw_core::{Error, ErrorCode, TransportErrorKind};

/// A failure as the API reports it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `INVALID_NUMBER`.
    pub code: &'static str,
    /// Words for a person.
    pub message: String,
    /// Structured details (`null` when none).
    pub details: Value,
    /// Seconds after which a retry may succeed (429, 503).
    pub retry_after: Option<Duration>,
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A failure with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400 INVALID_INPUT for a body or query that cannot be parsed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
    }

    /// 422 INVALID_INPUT for a value that parses but is not acceptable.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::invalid_input(field, reason).into()
    }

    /// 404 NOT_FOUND with no details: the same for an id of another tenant as for an id that
    /// never existed.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "not found")
    }

    /// 401 UNAUTHORIZED.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    /// 403 FORBIDDEN.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 429 RATE_LIMITED with `Retry-After`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests for this credential",
        )
        .with_details(json!({ "retry_after_seconds": retry_after.as_secs().max(1) }));
        e.retry_after = Some(retry_after);
        e
    }

    fn body(&self, request_id: &str) -> Value {
        json!({
            "success": false,
            "code": self.code,
            "error": self.message,
            "details": self.details,
            "request_id": request_id,
        })
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        let (status, details) = match &e {
            Error::NotFound { .. } => {
                // No details: the caller learns nothing about ids it does not own.
                return Self::new(StatusCode::NOT_FOUND, code.as_str(), "not found");
            }
            Error::InvalidNumber { input, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, json!({ "input": input }))
            }
            Error::InvalidContent { field, reason } | Error::InvalidInput { field, reason } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "field": field, "reason": reason }),
            ),
            Error::TemplateParamMismatch {
                template,
                component,
                expected,
                actual,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "template": template, "component": component, "expected": expected, "actual": actual }),
            ),
            Error::FileTooLarge {
                size,
                limit,
                media_type,
            } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "size": size, "limit": limit, "media_type": media_type }),
            ),
            Error::Conflict { .. }
            | Error::InvalidState { .. }
            | Error::CampaignInProgress { .. }
            | Error::NotConnected { .. } => (StatusCode::CONFLICT, Value::Null),
            Error::QuotaExceeded { resource, limit } => (
                StatusCode::FORBIDDEN,
                json!({ "resource": resource, "limit": limit }),
            ),
            Error::RateLimited { retry_after } => {
                let mut err = Self::rate_limited(*retry_after);
                err.message = e.to_string();
                return err;
            }
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, Value::Null),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, Value::Null),
            Error::Transport(t) => {
                let details = json!({ "meta_code": t.code, "kind": format!("{:?}", t.kind) });
                let status = match t.kind {
                    // Meta's token failing is the gateway's problem, not the caller's key.
                    TransportErrorKind::Auth => StatusCode::BAD_GATEWAY,
                    TransportErrorKind::Permanent => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                let mut err =
                    Self::new(status, code.as_str(), t.message.clone()).with_details(details);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    err.retry_after = Some(t.retry_after.unwrap_or(Duration::from_secs(5)));
                }
                return err;
            }
            Error::Backend { transient, .. } => {
                tracing::error!(error = %e, "backend error");
                let status = if *transient {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                // The message may name tables or hosts: redacted.
                return Self::new(status, ErrorCode::BackendError.as_str(), "backend error");
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, Value::Null),
        };
        Self::new(status, code.as_str(), e.to_string()).with_details(details)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return too_large();
        }
        Self::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // A malformed id names nothing the caller owns: the same answer as an unknown one.
        Self::not_found()
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "FILE_TOO_LARGE",
        "the request body is larger than this route accepts",
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Marks a failure response whose body is its own (the readiness checklist): the renderer
/// leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct KeepBody;

/// The request id of a request: the client's `x-request-id` if it is short and printable,
/// otherwise a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Outermost middleware: assigns the request id, and writes every failure in the one shape.
pub async fn render_errors(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(e) => Some(e),
        None if response.extensions().get::<KeepBody>().is_some() => None,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            Some(framework_error(response.status()))
        }
        None => None,
    };
    let mut response = match error {
        Some(error) => {
            let mut r = (error.status, axum::Json(error.body(&id))).into_response();
            if let Some(after) = error.retry_after
                && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            if error.status == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"wagw\""),
                );
            }
            r
        }
        None => response,
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// An error response produced outside the handlers (no [`ApiError`] attached).
fn framework_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::new(status, "NOT_FOUND", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this route",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "the request took too long",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(status, "INVALID_INPUT", "unsupported content type")
        }
        s if s.is_client_error() => ApiError::new(s, "INVALID_INPUT", "bad request"),
        s => ApiError::new(s, "INTERNAL", "internal error"),
    }
}

/// Answers a panic in a handler with a 500 in the one shape (the panic message is logged,
/// never sent).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
    )
    .into_response()
}

/// Bounds a request's handling time; past it the answer is 503 `TIMEOUT`.
pub async fn timeout(request: Request, next: Next) -> Response {
    let limit = if request.uri().path().ends_with("/import") {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(30)
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "the request took too long",
        )
        .into_response(),
    }
}
