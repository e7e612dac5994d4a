//! Messages: send one (every type, in Meta's shape), send in bulk, history with filters,
//! CSV export, mark as read.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wagw_core::content::MessageContent;
use wagw_core::dispatch::NewMessage;
use wagw_core::ids::{CampaignId, ChannelId, MessageId, TenantId};
use wagw_core::model::message::{Direction, MessageBody, MessageRecord, MessageStatus, Priority};
use wagw_core::model::tenant::{QuotaResource, Tenant, UsagePeriod};
use wagw_core::phone::{PhoneNumber, normalize};
use wagw_core::store::{MessageQuery, Page};

use super::{PageQuery, ok, page, touched};
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Send};
use crate::error::{ApiError, ApiResult};

/// At most this many messages per bulk call.
pub const BULK_MAX: usize = 1_000;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", get(list).post(send))
        .route("/messages/bulk", post(bulk))
        .route("/messages/export.csv", get(export))
        .route("/messages/{id}", get(read))
        .route("/messages/{id}/read", post(mark_read))
}

/// A stored message as the API shows it; `contact_phone` is the wa_id (digits), as Meta
/// sends it.
pub fn message_view(m: &MessageRecord) -> Value {
    let message = match &m.body {
        MessageBody::Outbound(b) => serde_json::to_value(b).unwrap_or(Value::Null),
        MessageBody::Inbound(b) => serde_json::to_value(b).unwrap_or(Value::Null),
    };
    json!({
        "id": m.id, "channel_id": m.channel_id, "contact_phone": m.contact_phone,
        "direction": m.direction, "status": m.status, "wamid": m.wamid, "error": m.error,
        "campaign_id": m.campaign_id, "priority": m.priority, "attempts": m.attempts,
        "ambiguous": m.ambiguous, "message": message,
        "created_at": m.created_at, "updated_at": m.updated_at,
    })
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
            ok(json!({ "id": inserted.id, "status": "queued", "created": inserted.created })),
        ),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bulk {
    messages: Vec<Value>,
    /// All or nothing (`true`), or accept the good items and report the bad ones (`false`).
    #[serde(default)]
    atomic: bool,
}

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
        ok(json!({ "accepted": accepted, "refused": results.len() - accepted, "results": results })),
    )
        .into_response())
}

/// Filters of `GET /v1/messages` and the CSV export.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filters {
    channel_id: Option<uuid::Uuid>,
    campaign_id: Option<uuid::Uuid>,
    /// A number in any format the tenant's region understands.
    contact: Option<String>,
    direction: Option<Direction>,
    status: Option<String>,
    /// Created at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Text, captions, file or template names containing this.
    q: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

impl Filters {
    fn query(&self, tenant: &Tenant) -> ApiResult<MessageQuery> {
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
const EXPORT_MAX: usize = 100_000;

async fn export(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(f): Query<Filters>,
) -> ApiResult<Response> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let query = f.query(&tenant)?;
    let csv = export_csv(&state, tenant.id, &query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"messages.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

/// The CSV of messages: `id,created_at,direction,channel_id,contact,status,wamid,error,text`.
/// `contact` is E.164 with `+` (for people and re-import), not the wa_id.
async fn export_csv(
    state: &AppState,
    tenant: TenantId,
    query: &MessageQuery,
) -> ApiResult<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ApiError::from(wagw_core::Error::backend("writing CSV", false, e));
    out.write_record([
        "id",
        "created_at",
        "direction",
        "channel_id",
        "contact",
        "status",
        "wamid",
        "error",
        "text",
    ])
    .map_err(io)?;
    let mut page = Page::first(EXPORT_BATCH);
    let mut rows = 0;
    loop {
        let found = state.store.list_messages(tenant, query, page).await?;
        for m in &found.items {
            let direction = match m.direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            };
            out.write_record([
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
            ])
            .map_err(io)?;
            rows += 1;
        }
        match found.next {
            Some(next) if rows < EXPORT_MAX => page = Page::after(EXPORT_BATCH, next),
            _ => break,
        }
    }
    out.into_inner().map_err(|e| {
        ApiError::from(wagw_core::Error::backend(
            "writing CSV",
            false,
            e.into_error(),
        ))
    })
}

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkRead {
    #[serde(default)]
    typing: bool,
}

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
        ok(json!({ "id": id, "read": true, "typing": typing })),
    ))
}
