//! Chatbot flows: CRUD, GVINUM ChatFlow import, activation (per flow, and per number as the
//! channel's `active_flow`), and a dry run of inbound texts through wagw's flow engine on an
//! in-memory session (nothing sent, nothing stored).

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::event::InboundMessage;
use wagw_core::flow::{
    Engine, FlowHttp, FlowHttpRequest, FlowHttpResponse, Issue, Severity, activate, load_document,
    validate,
};
use wagw_core::ids::{ChannelId, FlowId, TenantId};
use wagw_core::model::channel::Channel;
use wagw_core::model::flow::{ConversationSession, Flow, FlowDocument, SessionState};
use wagw_core::phone::normalize;
use wagw_core::store::ConversationStore;
use wagw_store_memory::MemoryStore;

use super::envelope::{Data, ErrorBody, PageOf, PageParams, data, page_of};
use super::touched;
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Write};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(import_gvinum))
        .routes(routes!(read, replace, remove))
        .routes(routes!(activate_flow))
        .routes(routes!(deactivate_flow))
        .routes(routes!(dry_run))
        .routes(routes!(channel_flow))
}

/// One problem of a document, located by a JSON Pointer (`/nodes/menu/options/2`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssueView {
    /// `error` (blocks activation) or `warning`.
    pub severity: String,
    /// What kind of problem, e.g. `missing_target`.
    pub kind: String,
    /// Where, as a JSON Pointer into the document.
    pub pointer: String,
    /// In words.
    pub message: String,
}

impl From<&Issue> for IssueView {
    fn from(i: &Issue) -> Self {
        let name = |v: Value| v.as_str().unwrap_or_default().to_owned();
        Self {
            severity: name(serde_json::to_value(i.severity).unwrap_or(Value::Null)),
            kind: name(serde_json::to_value(i.kind).unwrap_or(Value::Null)),
            pointer: i.pointer.clone(),
            message: i.message.clone(),
        }
    }
}

/// A flow as the API shows it, with what validation says of its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    /// Identifier.
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// Whole messages that start it for a user without a session.
    pub triggers: Vec<String>,
    /// Published version (raised by each activation).
    pub version: u32,
    /// Whether new sessions may start.
    pub active: bool,
    /// The document `{start, vars, settings, nodes}`.
    pub document: Value,
    /// Validation warnings (a stored flow has no errors).
    pub issues: Vec<IssueView>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Flow> for FlowView {
    fn from(f: Flow) -> Self {
        let issues = validate(&f.document).iter().map(IssueView::from).collect();
        Self {
            id: f.id.0,
            name: f.name,
            triggers: f.triggers,
            version: f.version,
            active: f.active,
            document: serde_json::to_value(&f.document).unwrap_or(Value::Null),
            issues,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// Reads a document (wagw's envelope or GVINUM's ChatFlow map) and refuses one with
/// validation errors, listing every error with its pointer in `details.issues`.
fn checked_document(document: &Value) -> ApiResult<FlowDocument> {
    let doc = load_document(&document.to_string())?;
    let issues = validate(&doc);
    let errors: Vec<IssueView> = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .map(IssueView::from)
        .collect();
    if let Some(first) = errors.first() {
        let reason = format!("{} error(s) in the flow document", errors.len());
        return Err(ApiError::invalid(&first.pointer, reason.clone())
            .with_details(json!({ "field": first.pointer, "reason": reason, "issues": errors })));
    }
    Ok(doc)
}

fn check_name_and_triggers(name: &str, triggers: &[String]) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must have 1 to 200 characters"));
    }
    if triggers.len() > 50 {
        return Err(ApiError::invalid("triggers", "at most 50"));
    }
    if let Some(i) = triggers.iter().position(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid(
            &format!("triggers[{i}]"),
            "must not be blank",
        ));
    }
    Ok(())
}

/// Lists the tenant's flows.
#[utoipa::path(get, path = "/flows", tag = "flows", params(PageParams),
    responses((status = 200, body = PageOf<FlowView>), (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<PageOf<FlowView>>> {
    let page = q.page()?;
    Ok(page_of(
        state.store.list_flows(auth.tenant(), page).await?,
        FlowView::from,
    ))
}

/// A new flow, or the replacement of one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlow {
    /// Name.
    pub name: String,
    /// Whole messages that start it (case and accents ignored).
    #[serde(default)]
    pub triggers: Vec<String>,
    /// wagw's envelope `{version: 1, start, vars, settings, nodes}`, or a GVINUM ChatFlow map.
    pub document: Value,
}

/// Creates an inactive flow; a document with errors is refused with every error's pointer.
#[utoipa::path(post, path = "/flows", tag = "flows", request_body = NewFlow,
    responses((status = 201, body = Data<FlowView>), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Json(body): Json<NewFlow>,
) -> ApiResult<Response> {
    check_name_and_triggers(&body.name, &body.triggers)?;
    let document = checked_document(&body.document)?;
    let mut flow = Flow::new(auth.tenant(), body.name, document);
    flow.triggers = body.triggers;
    state.store.create_flow(&flow).await?;
    Ok(touched(
        flow.id,
        (StatusCode::CREATED, data(FlowView::from(flow))),
    ))
}

/// `POST /flows/import/gvinum?name=&triggers=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// The new flow's name.
    name: String,
    /// Trigger words, comma-separated.
    triggers: Option<String>,
}

/// Imports a GVINUM ChatFlow JSON (the map of state name to node, posted as it is) as a new
/// inactive flow starting at `root`; validation errors are answered with their pointers.
#[utoipa::path(post, path = "/flows/import/gvinum", tag = "flows", params(ImportQuery),
    request_body(content = Object, description = "GVINUM ChatFlow JSON"),
    responses((status = 201, body = Data<FlowView>), (status = 422, body = ErrorBody)))]
async fn import_gvinum(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Query(q): Query<ImportQuery>,
    Json(chatflow): Json<Value>,
) -> ApiResult<Response> {
    let triggers: Vec<String> = q
        .triggers
        .as_deref()
        .map(|t| t.split(',').map(|w| w.trim().to_owned()).collect())
        .unwrap_or_default();
    check_name_and_triggers(&q.name, &triggers)?;
    let document = checked_document(&chatflow)?;
    let mut flow = Flow::new(auth.tenant(), q.name, document);
    flow.triggers = triggers;
    state.store.create_flow(&flow).await?;
    Ok(touched(
        flow.id,
        (StatusCode::CREATED, data(FlowView::from(flow))),
    ))
}

/// Reads a flow.
#[utoipa::path(get, path = "/flows/{id}", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Flow id")),
    responses((status = 200, body = Data<FlowView>), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Data<FlowView>>> {
    Ok(data(
        state
            .store
            .get_flow(auth.tenant(), FlowId(id))
            .await?
            .into(),
    ))
}

/// Replaces a flow's name, triggers and document; an active flow is published again (its
/// version rises; running sessions keep the version they started with).
#[utoipa::path(put, path = "/flows/{id}", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Flow id")), request_body = NewFlow,
    responses((status = 200, body = Data<FlowView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn replace(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<NewFlow>,
) -> ApiResult<Response> {
    let mut flow = state.store.get_flow(auth.tenant(), FlowId(id)).await?;
    check_name_and_triggers(&body.name, &body.triggers)?;
    flow.document = checked_document(&body.document)?;
    flow.name = body.name;
    flow.triggers = body.triggers;
    flow.updated_at = Utc::now();
    if flow.active {
        activate(&mut flow)?;
    }
    state.store.update_flow(&flow).await?;
    Ok(touched(flow.id, data(FlowView::from(flow))))
}

/// Deletes a flow; refused (409) while a number runs it as its active flow.
#[utoipa::path(delete, path = "/flows/{id}", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Flow id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let flow = state.store.get_flow(auth.tenant(), FlowId(id)).await?;
    let using = channels_running(&state, auth.tenant(), flow.id).await?;
    if let Some(channel) = using.first() {
        return Err(wagw_core::Error::Conflict {
            entity: "flow",
            reason: format!("channel {} runs it; deactivate it there first", channel.id),
        }
        .into());
    }
    state.store.delete_flow(auth.tenant(), flow.id).await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

/// The tenant's channels whose active flow is `flow`.
async fn channels_running(
    state: &AppState,
    tenant: TenantId,
    flow: FlowId,
) -> ApiResult<Vec<Channel>> {
    let mut channels = super::channels::all_channels(state, tenant).await?;
    channels.retain(|c| c.active_flow == Some(flow));
    Ok(channels)
}

/// Activates a flow: validated, published (version raised), its trigger words in force.
#[utoipa::path(post, path = "/flows/{id}/activate", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Flow id")),
    responses((status = 200, body = Data<FlowView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn activate_flow(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let mut flow = state.store.get_flow(auth.tenant(), FlowId(id)).await?;
    activate(&mut flow)?;
    state.store.update_flow(&flow).await?;
    Ok(touched(flow.id, data(FlowView::from(flow))))
}

/// Deactivates a flow: no new sessions start, and the numbers running it as their active flow
/// stop (running sessions finish on the version they pinned).
#[utoipa::path(post, path = "/flows/{id}/deactivate", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Flow id")),
    responses((status = 200, body = Data<FlowView>), (status = 404, body = ErrorBody)))]
async fn deactivate_flow(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let mut flow = state.store.get_flow(auth.tenant(), FlowId(id)).await?;
    for mut channel in channels_running(&state, auth.tenant(), flow.id).await? {
        channel.active_flow = None;
        channel.updated_at = Utc::now();
        state.store.update_channel(&channel).await?;
    }
    flow.active = false;
    flow.updated_at = Utc::now();
    state.store.update_flow(&flow).await?;
    Ok(touched(flow.id, data(FlowView::from(flow))))
}

/// Which flow a number runs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelFlow {
    /// The flow to run for every message no rule or trigger takes; `null` turns it off.
    pub flow_id: Option<uuid::Uuid>,
}

/// A number and the flow it runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelFlowView {
    /// The channel.
    pub channel_id: uuid::Uuid,
    /// Its active flow, if any.
    pub active_flow: Option<uuid::Uuid>,
}

/// Sets (or clears, with `null`) the flow a number runs; an inactive flow is activated
/// first, which fails with its validation errors.
#[utoipa::path(post, path = "/channels/{id}/flow", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Channel id")), request_body = ChannelFlow,
    responses((status = 200, body = Data<ChannelFlowView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn channel_flow(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<ChannelFlow>,
) -> ApiResult<Response> {
    let mut channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(id))
        .await?;
    let flow = match body.flow_id {
        None => None,
        Some(flow_id) => {
            let mut flow = state.store.get_flow(auth.tenant(), FlowId(flow_id)).await?;
            if !flow.active {
                activate(&mut flow)?;
                state.store.update_flow(&flow).await?;
            }
            Some(flow.id)
        }
    };
    channel.active_flow = flow;
    channel.updated_at = Utc::now();
    state.store.update_channel(&channel).await?;
    Ok(touched(
        channel.id,
        data(ChannelFlowView {
            channel_id: channel.id.0,
            active_flow: channel.active_flow.map(|f| f.0),
        }),
    ))
}

/// The most inbound texts one dry run takes.
const DRY_RUN_MAX_TEXTS: usize = 50;

/// Inbound texts to run through a flow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowDryRunRequest {
    /// The user's messages in order; the first starts the flow (as a number's active flow
    /// starts on any first message), the rest answer it. 1 to 50.
    pub texts: Vec<String>,
    /// The user's number (default 08123456789), for flows that use it.
    pub from: Option<String>,
}

/// One inbound text and what the flow answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDryRunTurn {
    /// The text.
    pub input: String,
    /// Whether the flow took it (`false`: rules or a human would get it).
    pub handled: bool,
    /// The replies in Meta's shape.
    pub replies: Vec<Value>,
    /// What happened (`started`, `completed`, `handed_off` ...).
    pub events: Vec<Value>,
}

/// Where the session ended up.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDryRunSession {
    /// `idle`, `active`, `handed_off`, `ended` or `expired`.
    pub state: String,
    /// The node waiting for an answer, if any.
    pub node: Option<String>,
    /// The variables.
    pub variables: Value,
}

/// The turns and the final session of a dry run.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDryRunView {
    /// One per inbound text.
    pub turns: Vec<FlowDryRunTurn>,
    /// The session after the last text.
    pub session: FlowDryRunSession,
}

/// Runs inbound texts through the flow's current document with wagw's engine on an in-memory
/// session (the flow need not be active). Nothing is sent or stored; `http` nodes make no
/// call and take their `on_error` edge (`http.error` = `denied`).
#[utoipa::path(post, path = "/flows/{id}/dry-run", tag = "flows",
    params(("id" = uuid::Uuid, Path, description = "Flow id")), request_body = FlowDryRunRequest,
    responses((status = 200, body = Data<FlowDryRunView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn dry_run(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<FlowDryRunRequest>,
) -> ApiResult<Json<Data<FlowDryRunView>>> {
    let flow = state.store.get_flow(auth.tenant(), FlowId(id)).await?;
    if body.texts.is_empty() || body.texts.len() > DRY_RUN_MAX_TEXTS {
        return Err(ApiError::invalid(
            "texts",
            format!("must hold 1 to {DRY_RUN_MAX_TEXTS} texts"),
        ));
    }
    if let Some(i) = body
        .texts
        .iter()
        .position(|t| t.is_empty() || t.chars().count() > 4_096)
    {
        return Err(ApiError::invalid(
            &format!("texts[{i}]"),
            "must have 1 to 4096 characters",
        ));
    }
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let from = normalize(
        body.from.as_deref().unwrap_or("08123456789"),
        tenant.default_region,
    )?;
    Ok(data(
        run_dry(flow, &body.texts, from, tenant.default_region).await?,
    ))
}

/// Refuses every call: a dry run reaches nothing outside.
struct NoHttp;

#[async_trait]
impl FlowHttp for NoHttp {
    async fn call(
        &self,
        _request: FlowHttpRequest,
    ) -> Result<FlowHttpResponse, (&'static str, String)> {
        Err(("denied", "a dry run makes no HTTP calls".to_owned()))
    }
}

async fn run_dry(
    mut flow: Flow,
    texts: &[String],
    from: wagw_core::phone::PhoneNumber,
    region: wagw_core::phone::Region,
) -> ApiResult<FlowDryRunView> {
    // A private store holding only this flow: the engine reads flows from it, and the session
    // lives in this function, so nothing of the tenant's is read or written past this point.
    let store = Arc::new(MemoryStore::new());
    flow.active = true;
    store.create_flow(&flow).await?;
    let engine = Engine::new(store, Arc::new(NoHttp)).with_region(region);
    let mut session = ConversationSession::new(flow.tenant_id, ChannelId::new(), from.clone());
    let mut now = Utc::now();
    let mut turns = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let message = inbound_text(from.as_str(), i, now, text)?;
        let outcome = if i == 0 {
            engine
                .start_at(session, flow.id, Some(&message), now)
                .await?
        } else {
            engine.handle_at(session, &message, now).await?
        };
        turns.push(FlowDryRunTurn {
            input: text.clone(),
            handled: outcome.handled,
            replies: outcome
                .replies
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                .collect(),
            events: outcome
                .events
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                .collect(),
        });
        session = outcome.session;
        // A second between messages keeps the session's timestamps in order.
        now += chrono::Duration::seconds(1);
    }
    let state = match session.state {
        SessionState::Idle => "idle",
        SessionState::Active => "active",
        SessionState::HandedOff => "handed_off",
        SessionState::Ended => "ended",
        SessionState::Expired => "expired",
    };
    Ok(FlowDryRunView {
        turns,
        session: FlowDryRunSession {
            state: state.to_owned(),
            node: session.node.clone(),
            variables: serde_json::to_value(&session.variables).unwrap_or(Value::Null),
        },
    })
}

/// A text message from `from` in Meta's webhook shape.
fn inbound_text(
    from: &str,
    index: usize,
    at: DateTime<Utc>,
    text: &str,
) -> ApiResult<InboundMessage> {
    serde_json::from_value(json!({
        "from": from,
        "id": format!("wamid.dry-run.{index}"),
        "timestamp": at.timestamp().to_string(),
        "type": "text",
        "text": { "body": text },
    }))
    .map_err(|e| ApiError::invalid("texts", e.to_string()))
}
