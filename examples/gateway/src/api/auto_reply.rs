//! Auto-reply rules: keywords that answer inbound messages (or start a flow, or hand the
//! conversation to a human), within the plan's rule quota. Every change is validated by
//! wagw-core's rule check before it is stored, and written to the activity log by the auth
//! layer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::conversation::RuleSet;
use wagw_core::conversation::auto_reply::{create_rule, validate_rule};
use wagw_core::ids::{ChannelId, RuleId, TenantId};
use wagw_core::model::auto_reply::{
    ActiveWhen, AutoReplyRule, BusinessHours, KeywordMatch, RuleAction,
};

use super::envelope::{Data, ErrorBody, data};
use super::touched;
use crate::app::{AppState, Json, Path};
use crate::auth::{Auth, Read, Write};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, patch, remove))
        .routes(routes!(test))
}

/// A rule as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// Identifier.
    pub id: uuid::Uuid,
    /// The one channel it answers on; `null`: every channel of the tenant.
    pub channel_id: Option<uuid::Uuid>,
    /// Name.
    pub name: String,
    /// `exact`, `starts_with`, `ends_with`, `contains`, `word` or `regex`.
    #[schema(schema_with = matching_schema)]
    pub matching: KeywordMatch,
    /// Keywords; any one matching fires the rule.
    pub keywords: Vec<String>,
    /// Compare case-sensitively.
    pub case_sensitive: bool,
    /// Compare accents too.
    pub accent_sensitive: bool,
    /// The reply in Meta's shape (`{"type": "text", "text": {"body": "…"}}`).
    #[schema(value_type = Object)]
    pub reply: MessageContent,
    /// `{"kind": "reply"}`, `{"kind": "start_flow", "flow_id"}` or `{"kind": "handoff"}`.
    #[schema(schema_with = action_schema)]
    pub action: RuleAction,
    /// Higher is tried first.
    pub priority: i32,
    /// Whether the rule is in force.
    pub active: bool,
    /// `always`, `open` or `closed` (relative to `business_hours`).
    #[schema(schema_with = when_schema)]
    pub when: ActiveWhen,
    /// `{"days": ["Mon", …], "open": "08:00:00", "close": "17:00:00"}` in the tenant's
    /// timezone.
    #[schema(schema_with = business_hours_schema)]
    pub business_hours: Option<BusinessHours>,
    /// Silence per contact after firing, in seconds.
    pub cooldown_secs: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<AutoReplyRule> for RuleView {
    fn from(r: AutoReplyRule) -> Self {
        Self {
            id: r.id.0,
            channel_id: r.channel_id.map(|c| c.0),
            name: r.name,
            matching: r.matching,
            keywords: r.keywords,
            case_sensitive: r.case_sensitive,
            accent_sensitive: r.accent_sensitive,
            reply: r.reply,
            action: r.action,
            priority: r.priority,
            active: r.active,
            when: r.when,
            business_hours: r.business_hours,
            cooldown_secs: r.cooldown_secs,
            created_at: r.created_at,
        }
    }
}

/// The longest cooldown accepted: 30 days.
const MAX_COOLDOWN_SECS: u64 = 30 * 24 * 3600;
/// The most keywords a rule may carry.
const MAX_KEYWORDS: usize = 100;

/// A new rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// Name.
    pub name: String,
    /// Keywords (1 to 100).
    pub keywords: Vec<String>,
    /// The reply in Meta's shape; not sent for `start_flow` but still required to be valid.
    pub reply: Value,
    /// Default `word`.
    #[schema(schema_with = optional_matching_schema)]
    pub matching: Option<KeywordMatch>,
    /// One channel; absent: every channel.
    pub channel_id: Option<uuid::Uuid>,
    /// Default `false`.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Default `false`.
    #[serde(default)]
    pub accent_sensitive: bool,
    /// Default `{"kind": "reply"}`.
    #[schema(schema_with = optional_action_schema)]
    pub action: Option<RuleAction>,
    /// Default 0.
    #[serde(default)]
    pub priority: i32,
    /// Default `true`.
    pub active: Option<bool>,
    /// Default `always`.
    #[schema(schema_with = optional_when_schema)]
    pub when: Option<ActiveWhen>,
    /// Needed when `when` is `open` or `closed`.
    #[schema(schema_with = business_hours_schema)]
    pub business_hours: Option<BusinessHours>,
    /// Default 0; at most 30 days.
    #[serde(default)]
    pub cooldown_secs: u64,
}

/// Lists the tenant's rules, highest priority first.
#[utoipa::path(get, path = "/auto-replies", tag = "auto-replies",
    responses((status = 200, body = Data<Vec<RuleView>>)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
) -> ApiResult<Json<Data<Vec<RuleView>>>> {
    let rules = state.store.list_rules(auth.tenant()).await?;
    Ok(data(rules.into_iter().map(RuleView::from).collect()))
}

/// Creates a rule within the plan's quota (`QUOTA_EXCEEDED` past it).
#[utoipa::path(post, path = "/auto-replies", tag = "auto-replies", request_body = NewRule,
    responses((status = 201, body = Data<RuleView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Json(body): Json<NewRule>,
) -> ApiResult<Response> {
    let tenant = auth.tenant();
    let reply = parse_reply(body.reply)?;
    let mut rule = AutoReplyRule::new(tenant, body.name, body.keywords, reply);
    rule.channel_id = body.channel_id.map(ChannelId);
    if let Some(matching) = body.matching {
        rule.matching = matching;
    }
    rule.case_sensitive = body.case_sensitive;
    rule.accent_sensitive = body.accent_sensitive;
    rule.action = body.action.unwrap_or_default();
    rule.priority = body.priority;
    rule.active = body.active.unwrap_or(true);
    rule.when = body.when.unwrap_or_default();
    rule.business_hours = body.business_hours;
    rule.cooldown_secs = body.cooldown_secs;
    check(&state, tenant, &rule).await?;
    create_rule(&*state.store, &rule).await?;
    Ok(touched(
        rule.id,
        (StatusCode::CREATED, data(RuleView::from(rule))),
    ))
}

/// Reads a rule.
#[utoipa::path(get, path = "/auto-replies/{id}", tag = "auto-replies",
    params(("id" = uuid::Uuid, Path, description = "Rule id")),
    responses((status = 200, body = Data<RuleView>), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Data<RuleView>>> {
    let rule = state.store.get_rule(auth.tenant(), RuleId(id)).await?;
    Ok(data(rule.into()))
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes to a rule; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    /// Name.
    pub name: Option<String>,
    /// Keywords.
    pub keywords: Option<Vec<String>>,
    /// The reply in Meta's shape.
    pub reply: Option<Value>,
    /// How keywords are compared.
    #[schema(schema_with = optional_matching_schema)]
    pub matching: Option<KeywordMatch>,
    /// One channel, or `null` for every channel.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub channel_id: Option<Option<uuid::Uuid>>,
    /// Compare case-sensitively.
    pub case_sensitive: Option<bool>,
    /// Compare accents too.
    pub accent_sensitive: Option<bool>,
    /// What the rule does.
    #[schema(schema_with = optional_action_schema)]
    pub action: Option<RuleAction>,
    /// Higher is tried first.
    pub priority: Option<i32>,
    /// In force or not.
    pub active: Option<bool>,
    /// `always`, `open` or `closed`.
    #[schema(schema_with = optional_when_schema)]
    pub when: Option<ActiveWhen>,
    /// Opening hours, or `null` to remove them.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = business_hours_schema)]
    pub business_hours: Option<Option<BusinessHours>>,
    /// Silence per contact after firing, in seconds.
    pub cooldown_secs: Option<u64>,
}

/// Changes a rule; the result is validated as a new rule is.
#[utoipa::path(patch, path = "/auto-replies/{id}", tag = "auto-replies",
    params(("id" = uuid::Uuid, Path, description = "Rule id")), request_body = RulePatch,
    responses((status = 200, body = Data<RuleView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn patch(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<RulePatch>,
) -> ApiResult<Response> {
    let mut rule = state.store.get_rule(auth.tenant(), RuleId(id)).await?;
    if let Some(name) = body.name {
        rule.name = name;
    }
    if let Some(keywords) = body.keywords {
        rule.keywords = keywords;
    }
    if let Some(reply) = body.reply {
        rule.reply = parse_reply(reply)?;
    }
    if let Some(matching) = body.matching {
        rule.matching = matching;
    }
    if let Some(channel) = body.channel_id {
        rule.channel_id = channel.map(ChannelId);
    }
    if let Some(v) = body.case_sensitive {
        rule.case_sensitive = v;
    }
    if let Some(v) = body.accent_sensitive {
        rule.accent_sensitive = v;
    }
    if let Some(action) = body.action {
        rule.action = action;
    }
    if let Some(priority) = body.priority {
        rule.priority = priority;
    }
    if let Some(active) = body.active {
        rule.active = active;
    }
    if let Some(when) = body.when {
        rule.when = when;
    }
    if let Some(hours) = body.business_hours {
        rule.business_hours = hours;
    }
    if let Some(cooldown) = body.cooldown_secs {
        rule.cooldown_secs = cooldown;
    }
    check(&state, auth.tenant(), &rule).await?;
    validate_rule(&rule)?;
    state.store.update_rule(&rule).await?;
    Ok(touched(rule.id, data(RuleView::from(rule))))
}

/// Deletes a rule.
#[utoipa::path(delete, path = "/auto-replies/{id}", tag = "auto-replies",
    params(("id" = uuid::Uuid, Path, description = "Rule id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    state.store.delete_rule(auth.tenant(), RuleId(id)).await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

/// The reply content, checked against Meta's limits as a send would be.
fn parse_reply(reply: Value) -> ApiResult<MessageContent> {
    let content: MessageContent =
        serde_json::from_value(reply).map_err(|e| ApiError::invalid("reply", e.to_string()))?;
    OutboundMessage::new("628123456789", content.clone()).validate()?;
    Ok(content)
}

/// What wagw-core's rule check does not know: bounds, and that the channel and flow named
/// belong to the tenant (another tenant's ids answer 404 like unknown ones).
async fn check(state: &AppState, tenant: TenantId, rule: &AutoReplyRule) -> ApiResult<()> {
    if rule.keywords.len() > MAX_KEYWORDS {
        return Err(ApiError::invalid(
            "keywords",
            format!("at most {MAX_KEYWORDS}"),
        ));
    }
    if rule.name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "at most 200 characters"));
    }
    if rule.cooldown_secs > MAX_COOLDOWN_SECS {
        return Err(ApiError::invalid("cooldown_secs", "at most 30 days"));
    }
    if let Some(channel) = rule.channel_id {
        state.store.get_channel(tenant, channel).await?;
    }
    if let RuleAction::StartFlow { flow_id } = rule.action {
        state.store.get_flow(tenant, flow_id).await?;
    }
    Ok(())
}

/// An inbound text to try against the rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// The channel the message would arrive on.
    pub channel_id: uuid::Uuid,
    /// The message text.
    pub text: String,
    /// When it would arrive (RFC 3339; default now), for business hours.
    pub at: Option<DateTime<Utc>>,
}

/// Which rules a text would fire.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleTestView {
    /// The rule that answers (cooldowns aside), if any.
    pub answer: Option<RuleView>,
    /// Every matching rule in the order they are tried.
    pub matches: Vec<uuid::Uuid>,
}

/// Tries a text against the tenant's rules as the conversation runner would (cooldowns and
/// flows aside); nothing is sent.
#[utoipa::path(post, path = "/auto-replies/test", tag = "auto-replies", request_body = RuleTest,
    responses((status = 200, body = Data<RuleTestView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn test(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Json(body): Json<RuleTest>,
) -> ApiResult<Json<Data<RuleTestView>>> {
    let tenant = state.store.get_tenant(auth.tenant()).await?;
    let channel = state
        .store
        .get_channel(tenant.id, ChannelId(body.channel_id))
        .await?;
    if body.text.is_empty() || body.text.chars().count() > 4_096 {
        return Err(ApiError::invalid("text", "must have 1 to 4096 characters"));
    }
    let local = body
        .at
        .unwrap_or_else(Utc::now)
        .with_timezone(&tenant.timezone)
        .naive_local();
    let rules = RuleSet::lenient(state.store.list_rules(tenant.id).await?);
    let texts = [body.text.as_str()];
    let matches: Vec<&AutoReplyRule> = rules.matches(channel.id, &texts, local).collect();
    Ok(data(RuleTestView {
        answer: matches.first().map(|r| RuleView::from((*r).clone())),
        matches: matches.iter().map(|r| r.id.0).collect(),
    }))
}

/// `ActiveWhen`'s wire values, for the OpenAPI document (wagw-core types derive no schema).
const WHEN_VALUES: &[&str] = &["always", "open", "closed"];

fn when_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::string_enum(WHEN_VALUES)
}

fn optional_when_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::nullable_string_enum(WHEN_VALUES)
}

/// `KeywordMatch`'s wire values.
const MATCHING_VALUES: &[&str] = &[
    "exact",
    "starts_with",
    "ends_with",
    "contains",
    "word",
    "regex",
];

fn matching_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::string_enum(MATCHING_VALUES)
}

fn optional_matching_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::nullable_string_enum(MATCHING_VALUES)
}

/// `RuleAction` as it reads: an object tagged by `kind`.
fn action_schema() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::OneOf(action_variants().build())
}

fn optional_action_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    Schema::OneOf(
        action_variants()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

fn action_variants() -> utoipa::openapi::schema::OneOfBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let kind = |name: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("kind", crate::openapi::string_enum(&[name]))
            .required("kind")
    };
    OneOfBuilder::new()
        .item(kind("reply").description(Some("Sends the rule's `reply`")))
        .item(
            kind("start_flow")
                .description(Some("Starts a flow for the contact instead of replying"))
                .property(
                    "flow_id",
                    ObjectBuilder::new().schema_type(Type::String).format(Some(
                        utoipa::openapi::schema::SchemaFormat::KnownFormat(
                            utoipa::openapi::schema::KnownFormat::Uuid,
                        ),
                    )),
                )
                .required("flow_id"),
        )
        .item(kind("handoff").description(Some(
            "Sends the `reply` and hands the conversation to a human",
        )))
}

/// `BusinessHours` as it reads: chrono's short weekday names and `HH:MM:SS` times (a JSON
/// Schema `time` would allow an offset, which a local time has not). `null` where optional.
fn business_hours_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let time = |what: &str, example: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"))
            .description(Some(what))
            .examples([example])
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "Opening hours in the tenant's timezone; `close` before `open` spans midnight",
        ))
        .property(
            "days",
            ArrayBuilder::new().items(crate::openapi::string_enum(&[
                "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
            ])),
        )
        .required("days")
        .property("open", time("Opening time (inclusive)", "08:00:00"))
        .required("open")
        .property("close", time("Closing time (exclusive)", "17:00:00"))
        .required("close")
        .build()
}
