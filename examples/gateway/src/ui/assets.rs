//! Static files compiled into the binary: the stylesheet and the vendored htmx
//! (`static/vendor/htmx/VENDOR.md` says where it came from and its checksum).

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::UiError;
use crate::app::AppState;
use crate::error::ApiError;

/// The stylesheet.
pub const APP_CSS: &str = include_str!("../../static/app.css");
/// htmx, as published in the npm package `htmx.org` ([`HTMX_VERSION`]).
pub const HTMX_JS: &str = include_str!("../../static/vendor/htmx/htmx.min.js");
/// The htmx version vendored.
pub const HTMX_VERSION: &str = "2.0.11";
/// SHA-256 of `htmx.min.js` as unpacked from the npm package; a test checks the file
/// against it, so a changed copy is noticed.
pub const HTMX_SHA256: &str = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717";

/// `GET /static/{*file}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/static/{*file}", get(file))
}

async fn file(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "vendor/htmx/htmx.min.js" => (HTMX_JS, "text/javascript; charset=utf-8"),
        _ => return UiError(ApiError::not_found()).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // Compiled into the binary: fixed for the life of a process. A day, revalidated
            // after, so an upgrade shows within a day at worst.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
