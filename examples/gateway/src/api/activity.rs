//! `GET /v1/activity`: the tenant's activity log.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::{ActivityId, TenantId};
use wagw_core::model::activity::{ActivityEntry, Actor};

use super::{PageQuery, page};
use crate::app::{AppState, Json, Query};
use crate::auth::{Admin, Auth};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// An activity log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityView {
    #[schema(value_type = uuid::Uuid)]
    id: ActivityId,
    #[schema(value_type = uuid::Uuid)]
    tenant_id: TenantId,
    /// Who acted: `{"kind": "user" | "api_key", "id"}` or `{"kind": "system"}`.
    #[schema(value_type = Object)]
    actor: Actor,
    /// What was done, e.g. `campaign.start`.
    action: String,
    /// The entity kind, e.g. `campaign`.
    entity: String,
    /// The entity's id.
    entity_id: Option<String>,
    /// Details.
    #[schema(value_type = Option<Object>)]
    details: Value,
    /// When.
    at: DateTime<Utc>,
}

impl From<ActivityEntry> for ActivityView {
    fn from(e: ActivityEntry) -> Self {
        Self {
            id: e.id,
            tenant_id: e.tenant_id,
            actor: e.actor,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id,
            details: e.details,
            at: e.at,
        }
    }
}

#[utoipa::path(get, path = "/activity", tag = "activity", summary = "The activity log, newest first",
    params(PageQuery),
    responses((status = 200, description = "A page of entries", body = crate::openapi::PageEnvelope<ActivityView>)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    Ok(page(
        state.store.list_activity(auth.tenant(), q.page()?).await?,
        ActivityView::from,
    ))
}
