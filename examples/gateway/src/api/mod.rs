//! The REST API, one file per resource.

pub mod activity;
pub mod analytics;
pub mod auth;
pub mod auto_reply;
pub mod campaigns;
pub mod channels;
pub mod contacts;
pub mod envelope;
pub mod flows;
pub mod media;
pub mod messages;
pub mod meta_webhook;
pub mod ops;
pub mod platform;
pub mod registration;
pub mod schedules;
pub mod templates;
pub mod tenant;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use wagw_core::store::{Page, Paged};

use crate::app::{AppState, Json};
use crate::error::ApiError;

/// Tenant routes under `/v1` that need a credential (1 MiB bodies). A new resource module
/// plugs in with one `.merge(module::routes())` line.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tenant::routes())
        .merge(channels::routes())
        .merge(messages::routes())
        .merge(contacts::routes())
        .merge(campaigns::routes())
        .merge(schedules::routes())
        .merge(webhooks::routes())
        .merge(activity::routes())
        .merge(crate::sandbox::routes())
        .merge(templates::routes())
        .merge(auto_reply::routes())
        .merge(flows::routes())
        .merge(registration::routes())
        .merge(analytics::routes())
}

/// Tenant routes under `/v1` that take large uploads (CSV imports, media, 50 MiB).
pub fn import_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(contacts::import_routes())
        .merge(media::routes())
}

/// Routes under `/v1` that need no credential.
pub fn public_routes() -> OpenApiRouter<AppState> {
    auth::public_routes()
}

/// `?limit=&after=` of a listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The store's page.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1_000).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
        }
        Ok(Page {
            limit,
            // `?after=` with nothing is no cursor: the first page.
            after: self.after.clone().filter(|a| !a.is_empty()),
        })
    }
}

/// `{"success": true, "data": …}`.
pub fn ok<T: Serialize>(data: T) -> Json<Value> {
    Json(json!({ "success": true, "data": data }))
}

/// `{"success": true, "data": [...], "next": cursor}`.
pub fn page<T, U: Serialize>(paged: Paged<T>, view: impl Fn(T) -> U) -> Json<Value> {
    let items: Vec<U> = paged.items.into_iter().map(view).collect();
    Json(json!({ "success": true, "data": items, "next": paged.next }))
}

/// Parses a path id; a malformed one answers like an unknown one.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Attaches the touched entity's id to a response for the activity log.
pub fn touched<R: axum::response::IntoResponse>(
    id: impl ToString,
    response: R,
) -> axum::response::Response {
    let mut response = response.into_response();
    response
        .extensions_mut()
        .insert(crate::auth::EntityId(id.to_string()));
    response
}
