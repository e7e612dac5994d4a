//! Messages: send one (every type, in Meta's shape), send in bulk, history with filters,
//! CSV export, mark as read.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::content::MessageContent;
use wagw_core::dispatch::NewMessage;
use wagw_core::ids::{CampaignId, ChannelId, MessageId, TenantId};
use wagw_core::model::message::{
    Direction, MessageBody, MessageError, MessageRecord, MessageStatus, Priority,
};
use wagw_core::model::tenant::{QuotaResource, Tenant, UsagePeriod};
use wagw_core::phone::{PhoneNumber, normalize};
use wagw_core::store::{MessageQuery, Page};

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Send};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Envelope, PageEnvelope, nullable_string_enum, string_enum};

/// At most this many messages per bulk call.
pub const BULK_MAX: usize = 1_000;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, send))
        .routes(routes!(bulk))
        .routes(routes!(export))
        .routes(routes!(read))
        .routes(routes!(mark_read))
}

const STATUSES: &[&str] = &[
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "failed",
    "received",
];

fn status_schema() -> utoipa::openapi::schema::Object {
    string_enum(STATUSES)
}

fn status_filter_schema() -> utoipa::openapi::schema::Object {
    nullable_string_enum(STATUSES)
}

fn direction_schema() -> utoipa::openapi::schema::Object {
    string_enum(&["inbound", "outbound"])
}

fn direction_filter_schema() -> utoipa::openapi::schema::Object {
    nullable_string_enum(&["inbound", "outbound"])
}

fn priority_schema() -> utoipa::openapi::schema::Object {
    string_enum(&["bulk", "normal", "urgent"])
}

/// Why a message failed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MessageError)]
#[allow(dead_code)] // Describes wagw-core's `MessageError` on the wire.
struct MessageErrorSchema {
    /// Meta's error code.
    code: Option<i64>,
    reason: String,
}

/// A stored message as the API shows it; `contact_phone` is the wa_id (digits), as Meta
/// sends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    #[schema(value_type = uuid::Uuid)]
    id: MessageId,
    #[schema(value_type = uuid::Uuid)]
    channel_id: ChannelId,
    /// The wa_id (digits).
    #[schema(value_type = String)]
    contact_phone: PhoneNumber,
    #[schema(schema_with = direction_schema)]
    direction: Direction,
    #[schema(schema_with = status_schema)]
    status: MessageStatus,
    /// WhatsApp's message id, once Meta accepted it.
    wamid: Option<String>,
    #[schema(value_type = Option<MessageErrorSchema>)]
    error: Option<MessageError>,
    #[schema(value_type = Option<uuid::Uuid>)]
    campaign_id: Option<CampaignId>,
    #[schema(schema_with = priority_schema)]
    priority: Priority,
    attempts: u32,
    /// Sent, but Meta's answer was lost: it may or may not have arrived.
    ambiguous: bool,
    /// The content as sent or received, in Meta's shape.
    #[schema(value_type = Option<Object>)]
    message: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The view of `m`.
pub fn message_view(m: &MessageRecord) -> MessageView {
    let message = match &m.body {
        MessageBody::Outbound(b) => serde_json::to_value(b).unwrap_or(Value::Null),
        MessageBody::Inbound(b) => serde_json::to_value(b).unwrap_or(Value::Null),
    };
    MessageView {
        id: m.id,
        channel_id: m.channel_id,
        contact_phone: m.contact_phone.clone(),
        direction: m.direction,
        status: m.status,
        wamid: m.wamid.clone(),
        error: m.error.clone(),
        campaign_id: m.campaign_id,
        priority: m.priority,
        attempts: m.attempts,
        ambiguous: m.ambiguous,
        message,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// A message to send: `channel_id`, `to`, and the content in Meta's shape — `type` plus
/// the object of that type (`{"type": "text", "text": {"body": "…"}}`,
/// `{"type": "template", "template": {…}}`, `image`, `document`, `audio`, `video`,
/// `sticker`, `location`, `contacts`, `interactive`, `reaction`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SendMessage)]
#[allow(dead_code)] // Describes the wire shape; the handler parses the JSON itself.
struct SendMessageSchema {
    channel_id: uuid::Uuid,
    /// The recipient, in any format of the tenant's region (`08123456789`).
    to: String,
    /// The content's type; the object of the same name holds the content.
    #[serde(rename = "type")]
    #[schema(schema_with = message_type_schema)]
    kind: String,
    /// `normal` (default) or `urgent`; `bulk` is for campaigns.
    #[schema(schema_with = send_priority_schema)]
    priority: Option<String>,
    /// `{"message_id": wamid}`: reply to a message.
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
    /// Returned in the message's status webhooks.
    biz_opaque_callback_data: Option<String>,
}

fn message_type_schema() -> utoipa::openapi::schema::Object {
    string_enum(&[
        "text",
        "template",
        "image",
        "document",
        "audio",
        "video",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "reaction",
    ])
}

fn send_priority_schema() -> utoipa::openapi::schema::Object {
    nullable_string_enum(&["normal", "urgent"])
}

/// Turns one request item into a [`NewMessage`]: `channel_id`, `to` (any format the
/// tenant's region understands), optional `priority` (`normal` or `urgent`; `bulk` is for
/// campaigns), `context.message_id`, `biz_opaque_callback_data`, and the content in Meta's
/// shape (`type` plus the object of that type).
fn new_message(tenant: &Tenant, item: Value, at: &str) -> ApiResult<NewMessage> {
    let Value::Object(mut map) = item else {
        return Err(ApiError::invalid(at, "must be an object"));
    };
    let field = |name: &str| format!("{at}{}{name}", if at.is_empty() { "" } else { "." });
    let take_str = |map: &mut Map<String, Value>, name: &str| -> ApiResult<Option<String>> {
        match map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(&field(name), "must be a string")),
        }
    };
    let channel = take_str(&mut map, "channel_id")?
        .ok_or_else(|| ApiError::invalid(&field("channel_id"), "is required"))?;
    let channel: uuid::Uuid = channel
        .parse()
        .map_err(|_| ApiError::invalid(&field("channel_id"), "is not an id"))?;
    let to =
        take_str(&mut map, "to")?.ok_or_else(|| ApiError::invalid(&field("to"), "is required"))?;
    let to = normalize(&to, tenant.default_region)?;
    let priority = match take_str(&mut map, "priority")?.as_deref() {
        None | Some("normal") => Priority::Normal,
        Some("urgent") => Priority::Urgent,
        Some(other) => {
            return Err(ApiError::invalid(
                &field("priority"),
                format!("{other:?} is not normal or urgent"),
            ));
        }
    };
    let reply_to = match map.remove("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut c)) => match c.remove("message_id") {
            Some(Value::String(id)) => Some(id),
            _ => {
                return Err(ApiError::invalid(
                    &field("context.message_id"),
                    "is required",
                ));
            }
        },
        Some(_) => return Err(ApiError::invalid(&field("context"), "must be an object")),
    };
    let callback = take_str(&mut map, "biz_opaque_callback_data")?;
    map.remove("messaging_product");
    let content: MessageContent = serde_json::from_value(Value::Object(map))
        .map_err(|e| ApiError::invalid(&field("type"), e.to_string()))?;
    let mut message =
        NewMessage::new(tenant.id, ChannelId(channel), to, content).priority(priority);
    if let Some(wamid) = reply_to {
        message = message.in_reply_to(wamid);
    }
    if let Some(data) = callback {
        message = message.callback_data(data);
    }
    // The content is checked against Meta's limits before anything is stored.
    message.body().validate()?;
    Ok(message)
}

/// Refuses when the month's quota is already used up (the dispatcher charges each message
/// exactly once when it sends it; this answers early instead of accepting doomed messages).
async fn check_quota(state: &AppState, tenant: &Tenant, adding: u64) -> ApiResult<()> {
    if let Some(limit) = tenant.plan.limit(QuotaResource::MessagesPerMonth) {
        let used = state
            .store
            .usage(
                tenant.id,
                &UsagePeriod::month_of(Utc::now()),
                QuotaResource::MessagesPerMonth,
            )
            .await?;
        if used + adding > limit {
            return Err(ApiError::from(wagw_core::Error::QuotaExceeded {
                resource: QuotaResource::MessagesPerMonth.as_str().into(),
                limit,
            })
            .with_details(
                json!({ "resource": "messages_per_month", "limit": limit, "used": used }),
            ));
        }
    }
    Ok(())
}

/// The `Idempotency-Key` header, if any: 1-255 visible characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::invalid("Idempotency-Key", "must be 1-255 visible characters")
                })?;
            Ok(Some(key.to_owned()))
        }
    }
}

/// A message accepted.
#[derive(Debug, Serialize, ToSchema)]
struct Accepted {
    #[schema(value_type = uuid::Uuid)]
    id: MessageId,
    /// Always `queued`.
    status: &'static str,
    /// `false` when an earlier request with the same `Idempotency-Key` created it.
    created: bool,
}

#[utoipa::path(post, path = "/messages", tag = "messages", summary = "Send a message",
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a send with the same key answers the first message (200) instead of sending again")),
    request_body = SendMessageSchema,
    responses(
        (status = 202, description = "Queued", body = Envelope<Accepted>),
        (status = 200, description = "Already queued under this Idempotency-Key", body = Envelope<Accepted>),
        (status = 404, description = "No such channel for this tenant", body = crate::openapi::ErrorBody),
    ))]
async fn send(
    State(state): State<AppState>,
    auth: Auth<Send>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    // The tenant read while authenticating this request: no second read.
    let tenant = auth.tenant_record();
    let mut message = new_message(tenant, body, "")?;
    if let Some(key) = idempotency_key(&headers)? {
        message = message.idempotency_key(key);
    }
    check_quota(&state, tenant, 1).await?;
    // Group commit: recorded and queued together with the sends arriving meanwhile.
    let inserted = state.acceptor.submit(message).await?;
    let status = if inserted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(touched(
        inserted.id,
        (
            status,
            ok(Accepted {
                id: inserted.id,
                status: "queued",
                created: inserted.created,
            }),
        ),
    ))
}

/// Many messages at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Bulk {
    /// 1 to 1000 messages, each like the body of `POST /v1/messages` (`SendMessage`). Each
    /// is checked on its own: without `atomic` a bad item is refused in `results` and the
    /// others are queued, so items are not held to that schema here.
    #[schema(min_items = 1, max_items = 1000)]
    messages: Vec<Value>,
    /// All or nothing (`true`), or accept the good items and report the bad ones (`false`).
    #[serde(default)]
    atomic: bool,
}

/// The outcome of each bulk item, by position: `id` and `status` when queued, `code`,
/// `error` and `details` when refused.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkItem)]
#[allow(dead_code)] // Describes the items the handler builds as JSON.
struct BulkItemSchema {
    index: usize,
    id: Option<uuid::Uuid>,
    /// `queued`.
    status: Option<String>,
    code: Option<String>,
    error: Option<String>,
    #[schema(value_type = Option<Object>)]
    details: Option<Value>,
}

/// What a bulk send accepted and refused.
#[derive(Debug, Serialize, ToSchema)]
struct BulkOutcome {
    accepted: usize,
    refused: usize,
    #[schema(value_type = Vec<BulkItemSchema>)]
    results: Vec<Option<Value>>,
}

#[utoipa::path(post, path = "/messages/bulk", tag = "messages", summary = "Send many messages",
    request_body = Bulk,
    responses(
        (status = 202, description = "What was queued and what was refused", body = Envelope<BulkOutcome>),
        (status = 404, description = "No such channel (with `atomic`) for this tenant", body = crate::openapi::ErrorBody),
    ))]
async fn bulk(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Json(body): Json<Bulk>,
) -> ApiResult<Response> {
    if body.messages.is_empty() || body.messages.len() > BULK_MAX {
        return Err(ApiError::invalid(
            "messages",
            format!("must hold 1 to {BULK_MAX} messages"),
        ));
    }
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    check_quota(&state, &tenant, body.messages.len() as u64).await?;
    let mut parsed = Vec::with_capacity(body.messages.len());
    let mut results: Vec<Option<Value>> = vec![None; body.messages.len()];
    for (i, item) in body.messages.into_iter().enumerate() {
        match new_message(&tenant, item, &format!("messages[{i}]")) {
            Ok(m) => parsed.push((i, m)),
            Err(e) if body.atomic => return Err(e),
            Err(e) => {
                results[i] = Some(
                    json!({ "index": i, "code": e.code, "error": e.message, "details": e.details }),
                )
            }
        }
    }
    let (positions, messages): (Vec<usize>, Vec<NewMessage>) = parsed.into_iter().unzip();
    if body.atomic {
        let inserted = state.dispatcher.submit_many(messages).await?;
        for (i, ins) in positions.iter().zip(inserted) {
            results[*i] = Some(json!({ "index": i, "id": ins.id, "status": "queued" }));
        }
    } else {
        let each = state.dispatcher.submit_each(messages).await?;
        for (i, r) in positions.iter().zip(each) {
            results[*i] = Some(match r {
                Ok(ins) => json!({ "index": i, "id": ins.id, "status": "queued" }),
                Err(e) => {
                    let e = ApiError::from(e);
                    json!({ "index": i, "code": e.code, "error": e.message, "details": e.details })
                }
            });
        }
    }
    let accepted = results
        .iter()
        .flatten()
        .filter(|r| r.get("id").is_some())
        .count();
    Ok((
        StatusCode::ACCEPTED,
        ok(BulkOutcome {
            accepted,
            refused: results.len() - accepted,
            results,
        }),
    )
        .into_response())
}

/// Filters of `GET /v1/messages` and the CSV export.
/// (`GET /v1/messages`, its CSV export and the dashboard's history).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Only this number.
    pub channel_id: Option<uuid::Uuid>,
    /// Only this campaign.
    pub campaign_id: Option<uuid::Uuid>,
    /// A number in any format the tenant's region understands.
    pub contact: Option<String>,
    /// Only this direction.
    #[param(schema_with = direction_filter_schema)]
    pub direction: Option<Direction>,
    /// Only this status (`queued`, `sent`, ...).
    #[param(schema_with = status_filter_schema)]
    pub status: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Text, captions, file or template names containing this.
    pub q: Option<String>,
    /// Items per page (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

impl Filters {
    /// The store's query; a bad status, number or range is refused.
    pub fn query(&self, tenant: &Tenant) -> ApiResult<MessageQuery> {
        let status = match &self.status {
            None => None,
            Some(s) => Some(
                MessageStatus::ALL
                    .into_iter()
                    .find(|m| m.as_str() == s)
                    .ok_or_else(|| ApiError::invalid("status", format!("unknown status {s:?}")))?,
            ),
        };
        let contact: Option<PhoneNumber> = match &self.contact {
            None => None,
            // `?contact=` with nothing filters nothing, like `?q=`.
            Some(c) if c.is_empty() => None,
            Some(c) => Some(normalize(c, tenant.default_region)?),
        };
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(ApiError::invalid("from", "must be before to"));
        }
        // `..default()` on purpose: a filter added to MessageQuery later means "any" here.
        #[allow(clippy::needless_update)]
        let query = MessageQuery {
            channel: self.channel_id.map(ChannelId),
            contact,
            direction: self.direction,
            status,
            campaign: self.campaign_id.map(CampaignId),
            since: self.from,
            until: self.to,
            text: self.q.clone().filter(|q| !q.is_empty()),
            ..MessageQuery::default()
        };
        Ok(query)
    }
}

#[utoipa::path(get, path = "/messages", tag = "messages", summary = "Message history, newest first",
    params(Filters),
    responses((status = 200, description = "A page of messages", body = PageEnvelope<MessageView>)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(f): Query<Filters>,
) -> ApiResult<Json<Value>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let query = f.query(&tenant)?;
    let page_query = PageQuery {
        limit: f.limit,
        after: f.after.clone(),
    };
    let found = state
        .store
        .list_messages(tenant.id, &query, page_query.page()?)
        .await?;
    Ok(page(found, |m| message_view(&m)))
}

/// Rows per store read of the CSV export.
const EXPORT_BATCH: usize = 1_000;
/// The export stops after this many rows (page through `GET /v1/messages` for more).
pub const EXPORT_MAX: usize = 100_000;

#[utoipa::path(get, path = "/messages/export.csv", tag = "messages", summary = "Message history as CSV",
    params(Filters),
    responses((status = 200, description = "`id,created_at,direction,channel_id,contact,status,wamid,error,text`", body = String, content_type = "text/csv")))]
async fn export(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(f): Query<Filters>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let query = f.query(&tenant)?;
    // The export takes every page, but a malformed `limit` is refused as in the listing.
    PageQuery {
        limit: f.limit,
        after: f.after.clone(),
    }
    .page()?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"messages.csv\"",
            ),
        ],
        export_body(state, tenant.id, query),
    )
        .into_response())
}

/// The CSV of messages, streamed a store page at a time (memory stays flat whatever the
/// history's size): `id,created_at,direction,channel_id,contact,status,wamid,error,text`.
/// `contact` is E.164 with `+` (for people and re-import), not the wa_id. At most
/// [`EXPORT_MAX`] rows. A store failure mid-way ends the body with an error (the client sees a
/// truncated download, never a silently short file).
pub fn export_body(state: AppState, tenant: TenantId, query: MessageQuery) -> Body {
    let header = csv_rows(&[[
        "id",
        "created_at",
        "direction",
        "channel_id",
        "contact",
        "status",
        "wamid",
        "error",
        "text",
    ]
    .map(str::to_owned)]);
    let pages = futures::stream::try_unfold(
        (Some(Page::first(EXPORT_BATCH)), 0usize),
        move |(page, rows)| {
            let (state, query) = (state.clone(), query.clone());
            async move {
                let Some(page) = page else {
                    return Ok(None);
                };
                let found = state.store.list_messages(tenant, &query, page).await?;
                let rows = rows + found.items.len();
                let lines: Vec<[String; 9]> = found.items.iter().map(csv_record).collect();
                let next = match found.next {
                    Some(next) if rows < EXPORT_MAX => Some(Page::after(EXPORT_BATCH, next)),
                    _ => None,
                };
                Ok::<_, wagw_core::Error>(Some((csv_rows(&lines)?, (next, rows))))
            }
        },
    );
    Body::from_stream(futures::stream::once(async move { header }).chain(pages))
}

fn csv_record(m: &MessageRecord) -> [String; 9] {
    let direction = match m.direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    [
        m.id.to_string(),
        m.created_at.to_rfc3339(),
        direction.to_owned(),
        m.channel_id.to_string(),
        m.contact_phone.e164(),
        m.status.as_str().to_owned(),
        m.wamid.clone().unwrap_or_default(),
        m.error
            .as_ref()
            .map(|e| e.reason.clone())
            .unwrap_or_default(),
        wagw_core::store::searchable_text(m).trim().to_owned(),
    ]
}

fn csv_rows(rows: &[[String; 9]]) -> Result<Vec<u8>, wagw_core::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for row in rows {
        out.write_record(row)
            .map_err(|e| wagw_core::Error::backend("writing CSV", false, e))?;
    }
    out.into_inner()
        .map_err(|e| wagw_core::Error::backend("writing CSV", false, e.into_error()))
}

#[utoipa::path(get, path = "/messages/{id}", tag = "messages", summary = "Read a message",
    params(("id" = uuid::Uuid, Path, description = "Message id")),
    responses((status = 200, description = "The message", body = Envelope<MessageView>)))]
async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    let message = state
        .store
        .get_message(auth.tenant(), MessageId(id))
        .await?;
    Ok(ok(message_view(&message)))
}

/// `?typing=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MarkRead {
    /// Also show a typing indicator.
    #[serde(default)]
    typing: bool,
}

/// A message marked as read.
#[derive(Debug, Serialize, ToSchema)]
struct MarkedRead {
    id: uuid::Uuid,
    /// Always `true`.
    read: bool,
    typing: bool,
}

#[utoipa::path(post, path = "/messages/{id}/read", tag = "messages", summary = "Mark a received message as read",
    params(("id" = uuid::Uuid, Path, description = "Message id"), MarkRead),
    responses((status = 200, description = "Marked", body = Envelope<MarkedRead>)))]

async fn mark_read(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Path(id): Path<uuid::Uuid>,
    Query(MarkRead { typing }): Query<MarkRead>,
) -> ApiResult<Response> {
    let message = state
        .store
        .get_message(auth.tenant(), MessageId(id))
        .await?;
    if message.direction != Direction::Inbound {
        return Err(ApiError::invalid(
            "id",
            "only received messages can be marked as read",
        ));
    }
    let wamid = message
        .wamid
        .clone()
        .ok_or_else(|| ApiError::invalid("id", "the message has no WhatsApp id"))?;
    let channel = state
        .store
        .get_channel(auth.tenant(), message.channel_id)
        .await?;
    state
        .transport
        .mark_read(&channel, &wamid, typing)
        .await
        .map_err(wagw_core::Error::from)?;
    Ok(touched(
        id,
        ok(MarkedRead {
            id,
            read: true,
            typing,
        }),
    ))
}
