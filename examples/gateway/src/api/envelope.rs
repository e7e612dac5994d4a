//! Typed answer envelopes for routes described in the OpenAPI document: the same JSON as
//! [`ok`](super::ok) and [`page`](super::page), but with a schema the generator can read.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::Json;
use crate::error::ApiResult;

/// `?limit=&after=` of a listing, described for OpenAPI (the same rules as
/// [`PageQuery`](super::PageQuery)).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (1..=1000, default 100).
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl PageParams {
    /// The store's page.
    pub fn page(self) -> ApiResult<wagw_core::store::Page> {
        super::PageQuery {
            limit: self.limit,
            after: self.after,
        }
        .page()
    }
}

/// `{"success": true, "data": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    /// Always `true`.
    pub success: bool,
    /// The payload.
    pub data: T,
}

/// Wraps `data` in the success envelope.
pub fn data<T: Serialize>(data: T) -> Json<Data<T>> {
    Json(Data {
        success: true,
        data,
    })
}

/// `{"success": true, "data": [...], "next": cursor}`: one page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    /// Always `true`.
    pub success: bool,
    /// The items of this page.
    pub data: Vec<T>,
    /// The cursor of the next page (`?after=`), `null` on the last.
    pub next: Option<String>,
}

/// Wraps a store page, converting each item with `view`.
pub fn page_of<T, U: Serialize>(
    paged: wagw_core::store::Paged<T>,
    view: impl Fn(T) -> U,
) -> Json<PageOf<U>> {
    Json(PageOf {
        success: true,
        data: paged.items.into_iter().map(view).collect(),
        next: paged.next,
    })
}

/// The one error shape of every failure (see [`crate::error`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// Machine-readable code, e.g. `INVALID_INPUT`, `NOT_FOUND`.
    pub code: String,
    /// Words for a person.
    pub error: String,
    /// Structured details (`null` when none), e.g. `{"field", "reason"}`.
    pub details: serde_json::Value,
    /// The request id (also in the `x-request-id` header).
    pub request_id: String,
}
