//! `GET /v1/activity`: the tenant's activity log.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::Value;

use super::{PageQuery, page};
use crate::app::{AppState, Json, Query};
use crate::auth::{Admin, Auth};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/activity", get(list))
}

async fn list(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_activity(auth.tenant(), q.page()?).await?,
        |e| e,
    ))
}
