//! Message templates: list, read, create (submitted to Meta through the transport), submit a
//! draft, delete, sync with Meta, and a parameter dry run that renders what a send would carry.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::content::{
    self, Media, MessageContent, Placeholder, TemplateComponent, TemplateParameter, placeholders,
};
use wagw_core::conversation::template_sync::sync_channel;
use wagw_core::ids::{ChannelId, TemplateId};
use wagw_core::model::channel::Channel;
use wagw_core::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};

use super::envelope::{Data, ErrorBody, PageOf, PageParams, data, page_of};
use super::touched;
use crate::app::{AppState, Json, Path, Query};
use crate::auth::{Auth, Read, Write};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(sync))
        .routes(routes!(read, remove))
        .routes(routes!(submit))
        .routes(routes!(dry_run))
}

/// A template as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Identifier.
    pub id: uuid::Uuid,
    /// The channel whose business account owns it.
    pub channel_id: uuid::Uuid,
    /// Lower-case name with underscores.
    pub name: String,
    /// Language code, e.g. `id` or `en_US`.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[schema(schema_with = category_schema)]
    pub category: TemplateCategory,
    /// Components in Meta's shape.
    pub components: Vec<Value>,
    /// `DRAFT`, `PENDING`, `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED` ...
    #[schema(value_type = String, example = "APPROVED")]
    pub status: TemplateStatus,
    /// Meta's id once submitted.
    pub remote_id: Option<String>,
    /// Meta's reason when rejected, paused or disabled.
    pub reason: Option<String>,
    /// Parameters a send must give in the header.
    pub header_params: usize,
    /// Parameters a send must give in the body.
    pub body_params: usize,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        let (header_params, body_params) = t.draft.parameter_counts();
        Self {
            id: t.id.0,
            channel_id: t.channel_id.0,
            name: t.draft.name,
            language: t.draft.language,
            category: t.draft.category,
            components: t.draft.components,
            status: t.status,
            remote_id: t.remote_id,
            reason: t.reason,
            header_params,
            body_params,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Lists the tenant's templates.
#[utoipa::path(get, path = "/templates", tag = "templates", params(PageParams),
    responses((status = 200, body = PageOf<TemplateView>), (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<PageOf<TemplateView>>> {
    let page = q.page()?;
    Ok(page_of(
        state.store.list_templates(auth.tenant(), page).await?,
        TemplateView::from,
    ))
}

fn yes() -> bool {
    true
}

/// A new template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    /// The channel (number) whose business account will own it.
    pub channel_id: uuid::Uuid,
    /// 1-512 lower-case letters, digits and underscores.
    pub name: String,
    /// Language code, e.g. `id`.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[schema(schema_with = category_schema)]
    pub category: TemplateCategory,
    /// Components in Meta's shape; exactly one `BODY`.
    pub components: Vec<Value>,
    /// Submit to Meta for review now (default); `false` keeps a local draft.
    #[serde(default = "yes")]
    pub submit: bool,
}

/// Creates a template and (by default) submits it to Meta for review. Meta refusing it stores
/// nothing.
#[utoipa::path(post, path = "/templates", tag = "templates", request_body = NewTemplate,
    responses((status = 201, body = Data<TemplateView>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Json(body): Json<NewTemplate>,
) -> ApiResult<Response> {
    let channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(body.channel_id))
        .await?;
    let draft = TemplateDraft {
        name: body.name,
        language: body.language,
        category: body.category,
        components: body.components,
    };
    draft.validate()?;
    match state
        .store
        .find_template(channel.tenant_id, channel.id, &draft.name, &draft.language)
        .await
    {
        Ok(_) => {
            return Err(wagw_core::Error::Conflict {
                entity: "template",
                reason: format!(
                    "{} ({}) already exists on this channel",
                    draft.name, draft.language
                ),
            }
            .into());
        }
        Err(wagw_core::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let mut template = Template::new(channel.tenant_id, channel.id, draft);
    if body.submit {
        submit_to_meta(&state, &channel, &mut template).await?;
    }
    state.store.create_template(&template).await?;
    Ok(touched(
        template.id,
        (StatusCode::CREATED, data(TemplateView::from(template))),
    ))
}

/// Submits `template` through the transport and records Meta's id and first status on it.
async fn submit_to_meta(
    state: &AppState,
    channel: &Channel,
    template: &mut Template,
) -> ApiResult<()> {
    let remote = state
        .transport
        .create_template(channel, &template.draft)
        .await
        .map_err(wagw_core::Error::from)?;
    template.remote_id = Some(remote.id);
    template.status = remote.status;
    template.updated_at = Utc::now();
    Ok(())
}

/// Reads a template.
#[utoipa::path(get, path = "/templates/{id}", tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "Template id")),
    responses((status = 200, body = Data<TemplateView>), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Json<Data<TemplateView>>> {
    let template = state
        .store
        .get_template(auth.tenant(), TemplateId(id))
        .await?;
    Ok(data(template.into()))
}

/// Submits a local draft to Meta for review.
#[utoipa::path(post, path = "/templates/{id}/submit", tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "Template id")),
    responses((status = 200, body = Data<TemplateView>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let mut template = state
        .store
        .get_template(auth.tenant(), TemplateId(id))
        .await?;
    if template.status != TemplateStatus::Draft {
        return Err(wagw_core::Error::InvalidState {
            entity: "template",
            state: format!("{:?}", template.status).to_uppercase(),
            action: "submit it again",
        }
        .into());
    }
    let channel = state
        .store
        .get_channel(auth.tenant(), template.channel_id)
        .await?;
    submit_to_meta(&state, &channel, &mut template).await?;
    state.store.update_template(&template).await?;
    Ok(touched(template.id, data(TemplateView::from(template))))
}

/// Deletes a template, on Meta's side too when it was submitted.
#[utoipa::path(delete, path = "/templates/{id}", tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "Template id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<Response> {
    let template = state
        .store
        .get_template(auth.tenant(), TemplateId(id))
        .await?;
    if template.remote_id.is_some() && template.status != TemplateStatus::Deleted {
        match state
            .store
            .get_channel(auth.tenant(), template.channel_id)
            .await
        {
            Ok(channel) => state
                .transport
                .delete_template(&channel, &template.draft.name)
                .await
                .map_err(wagw_core::Error::from)?,
            // The number is gone: nothing left to ask Meta with; the local copy goes.
            Err(wagw_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    state
        .store
        .delete_template(auth.tenant(), template.id)
        .await?;
    Ok(touched(id, StatusCode::NO_CONTENT))
}

/// Which channels to sync.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// One channel; absent: every channel of the tenant.
    pub channel_id: Option<uuid::Uuid>,
}

/// What a sync changed on one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelSync {
    /// The channel.
    pub channel_id: uuid::Uuid,
    /// Templates Meta listed.
    pub listed: u64,
    /// Stored templates whose status or Meta id changed.
    pub updated: u64,
    /// Templates imported from Meta (made in WhatsApp Manager).
    pub imported: u64,
    /// Stored templates Meta no longer lists, marked deleted.
    pub deleted: u64,
}

/// Pulls templates from Meta and brings the stored ones in step (status, ids, imports,
/// deletions).
#[utoipa::path(post, path = "/templates/sync", tag = "templates", request_body = SyncRequest,
    responses((status = 200, body = Data<Vec<ChannelSync>>), (status = 404, body = ErrorBody)))]
async fn sync(
    State(state): State<AppState>,
    auth: Auth<Write>,
    Json(body): Json<SyncRequest>,
) -> ApiResult<Response> {
    let channels = match body.channel_id {
        Some(id) => vec![
            state
                .store
                .get_channel(auth.tenant(), ChannelId(id))
                .await?,
        ],
        None => super::channels::all_channels(&state, auth.tenant()).await?,
    };
    let mut out = Vec::with_capacity(channels.len());
    for channel in &channels {
        let report = sync_channel(&*state.store, &*state.transport, channel).await?;
        out.push(ChannelSync {
            channel_id: channel.id.0,
            listed: report.listed,
            updated: report.updated,
            imported: report.imported,
            deleted: report.deleted,
        });
    }
    Ok(data(out).into_response())
}

/// The parameters of a dry run, as a campaign or a send gives them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// Header parameters: the text values, or the media link of a media header.
    #[serde(default)]
    pub header_params: Vec<String>,
    /// Body parameters, one per distinct placeholder in order of first appearance.
    #[serde(default)]
    pub body_params: Vec<String>,
}

/// The texts a recipient would read.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedText {
    /// The header text, or `[IMAGE] <link>` for a media header.
    pub header: Option<String>,
    /// The body with its placeholders filled.
    pub body: String,
    /// The footer.
    pub footer: Option<String>,
    /// The button labels.
    pub buttons: Vec<String>,
}

/// What a send with these parameters would carry; nothing was sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunView {
    /// The template.
    pub template_id: uuid::Uuid,
    /// Whether the template may be sent now (approved).
    pub sendable: bool,
    /// The template's status.
    #[schema(value_type = String, example = "APPROVED")]
    pub status: TemplateStatus,
    /// The message content in Meta's shape (`{"type": "template", "template": {...}}`).
    pub message: Value,
    /// The filled texts.
    pub rendered: RenderedText,
}

/// Fills a template's parameters and renders the message a send would carry; too few or too
/// many parameters answer `TEMPLATE_PARAM_MISMATCH`. Nothing is sent or stored.
#[utoipa::path(post, path = "/templates/{id}/dry-run", tag = "templates",
    params(("id" = uuid::Uuid, Path, description = "Template id")), request_body = DryRunRequest,
    responses((status = 200, body = Data<DryRunView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn dry_run(
    State(state): State<AppState>,
    auth: Auth<Read>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<DryRunRequest>,
) -> ApiResult<Json<Data<DryRunView>>> {
    let template = state
        .store
        .get_template(auth.tenant(), TemplateId(id))
        .await?;
    let view = render_dry_run(&template, &body)?;
    Ok(data(view))
}

/// The dry run proper: counts checked against the template, then the content built and
/// checked against Meta's limits as a send would be.
fn render_dry_run(template: &Template, params: &DryRunRequest) -> ApiResult<DryRunView> {
    let (header_expected, body_expected) = template.draft.parameter_counts();
    for (component, expected, actual) in [
        ("header", header_expected, params.header_params.len()),
        ("body", body_expected, params.body_params.len()),
    ] {
        if expected != actual {
            return Err(wagw_core::Error::TemplateParamMismatch {
                template: template.draft.name.clone(),
                component: component.into(),
                expected,
                actual,
            }
            .into());
        }
    }
    let text_of = |kind: &str| {
        template
            .draft
            .components
            .iter()
            .find(|c| component_is(c, kind))
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let header_format = template.draft.header_format();
    let header_text = text_of("HEADER");
    let body_text = text_of("BODY").unwrap_or_default();

    let mut message =
        content::Template::new(template.draft.name.clone(), template.draft.language.clone());
    let rendered_header = match header_format.as_deref() {
        Some(format) if format != "TEXT" => {
            let link = params.header_params.first().cloned().unwrap_or_default();
            let media = Media::from_link(link.clone());
            let parameter = match format {
                "IMAGE" => TemplateParameter::image(media),
                "VIDEO" => TemplateParameter::video(media),
                "DOCUMENT" => TemplateParameter::document(media),
                other => {
                    return Err(ApiError::invalid(
                        "header_params",
                        format!("a {other} header cannot be filled from text"),
                    ));
                }
            };
            message = message.with_component(TemplateComponent::header([parameter]));
            Some(format!("[{format}] {link}"))
        }
        _ => {
            let text = header_text.unwrap_or_default();
            if !params.header_params.is_empty() {
                message = message.with_component(TemplateComponent::header(parameters(
                    &text,
                    &params.header_params,
                )));
            }
            (!text.is_empty()).then(|| fill(&text, &params.header_params))
        }
    };
    if !params.body_params.is_empty() {
        message = message.with_component(TemplateComponent::body(parameters(
            &body_text,
            &params.body_params,
        )));
    }
    let content = MessageContent::Template(message);
    // The same checks a send runs before anything is queued (lengths, required fields).
    content::OutboundMessage::new("628123456789", content.clone()).validate()?;
    let buttons = template
        .draft
        .components
        .iter()
        .filter(|c| component_is(c, "BUTTONS"))
        .filter_map(|c| c.get("buttons").and_then(Value::as_array))
        .flatten()
        .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_owned))
        .collect();
    Ok(DryRunView {
        template_id: template.id.0,
        sendable: template.status.is_sendable(),
        status: template.status,
        message: serde_json::to_value(&content).unwrap_or(Value::Null),
        rendered: RenderedText {
            header: rendered_header,
            body: fill(&body_text, &params.body_params),
            footer: text_of("FOOTER"),
            buttons,
        },
    })
}

fn component_is(component: &Value, kind: &str) -> bool {
    component
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case(kind))
}

/// Text parameters for `text`'s placeholders, named ones carrying their name as Meta
/// requires.
fn parameters(text: &str, values: &[String]) -> Vec<TemplateParameter> {
    let found = placeholders(text);
    values
        .iter()
        .enumerate()
        .map(|(i, value)| match found.get(i) {
            Some(Placeholder::Named(name)) => TemplateParameter::named_text(name, value),
            _ => TemplateParameter::text(value),
        })
        .collect()
}

/// `text` with its distinct placeholders replaced by `values` in order of first appearance.
fn fill(text: &str, values: &[String]) -> String {
    placeholders(text)
        .iter()
        .zip(values)
        .fold(text.to_owned(), |out, (placeholder, value)| {
            out.replace(&placeholder.to_string(), value)
        })
}

/// `TemplateCategory`'s wire values, for the OpenAPI document.
fn category_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::string_enum(&["MARKETING", "UTILITY", "AUTHENTICATION"])
}
