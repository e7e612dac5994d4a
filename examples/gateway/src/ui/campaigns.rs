//! `/ui/campaigns`: the list, creation from numbers, a contact filter (tag or list) or a CSV
//! upload with the expansion report (every refused input with its reason), live progress
//! with rate and ETA (htmx polling that the server stops with 286 at a final state), the
//! actions the state allows, recipients with failure reasons, and the report CSV.

use std::io::Cursor as Reader;

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use wagw_core::ids::{CampaignId, ChannelId, ContactListId, TemplateId};
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignCounters, CampaignState, RecipientStatus,
};
use wagw_core::model::contact::ContactFilter;
use wagw_core::model::tenant::Scope;
use wagw_core::store::Page;

use super::{
    Cursor, Layout, Opt, PAGE_SIZE, Query, Session, UiError, UiResult, go, label, link, phone,
    render, when, when_opt,
};
use crate::api::campaigns::{progress_of, report_csv_download};
use crate::api::touched;
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list).post(create))
        .route("/campaigns/new", get(new_form))
        .route("/campaigns/{id}", get(detail))
        .route("/campaigns/{id}/progress", get(progress))
        .route("/campaigns/{id}/report.csv", get(report_csv))
        .route("/campaigns/{id}/{action}", post(act))
}

/// A campaign in the list.
#[derive(Debug)]
pub struct CampaignRow {
    id: String,
    name: String,
    state: String,
    created: String,
}

#[derive(askama::Template)]
#[template(path = "ui/campaigns.html")]
struct ListPage {
    l: Layout,
    rows: Vec<CampaignRow>,
    next: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(cursor): Query<Cursor>,
) -> UiResult<Response> {
    let tz = session.tenant.timezone;
    let found = state
        .store
        .list_campaigns(session.tenant_id(), cursor.page())
        .await?;
    render(&ListPage {
        l: session.layout("Campaigns", "campaigns"),
        rows: found
            .items
            .iter()
            .map(|c| CampaignRow {
                id: c.id.to_string(),
                name: c.name.clone(),
                state: c.state.as_str().to_owned(),
                created: when(tz, c.created_at),
            })
            .collect(),
        next: found
            .next
            .map(|after| link("/ui/campaigns", &[("after", &after)])),
    })
}

#[derive(askama::Template)]
#[template(path = "ui/campaign_new.html")]
struct NewPage {
    l: Layout,
    channels: Vec<Opt>,
    templates: Vec<Opt>,
    lists: Vec<Opt>,
}

async fn new_form(State(state): State<AppState>, session: Session) -> UiResult<Response> {
    session.require(Scope::Send)?;
    let tenant = session.tenant_id();
    let first = Page::first(Page::MAX_LIMIT);
    let channels = state
        .store
        .list_channels(tenant, first.clone())
        .await?
        .items;
    let templates = state
        .store
        .list_templates(tenant, first.clone())
        .await?
        .items;
    let lists = state.store.list_lists(tenant, first).await?.items;
    render(&NewPage {
        l: session.layout("New campaign", "campaigns"),
        channels: channels
            .iter()
            .map(|c| {
                Opt::new(
                    c.id.to_string(),
                    format!("{} ({})", c.name, phone(&c.display_number)),
                    "",
                )
            })
            .collect(),
        templates: templates
            .iter()
            .filter(|t| t.status.is_sendable())
            .map(|t| Opt {
                selected: false,
                value: t.id.to_string(),
                text: format!(
                    "{} ({}), {}",
                    t.draft.name,
                    t.draft.language,
                    channels
                        .iter()
                        .find(|c| c.id == t.channel_id)
                        .map_or_else(String::new, |c| c.name.clone())
                ),
            })
            .collect(),
        lists: lists
            .iter()
            .map(|l| Opt::new(l.id.to_string(), l.name.clone(), ""))
            .collect(),
    })
}

/// The creation form's fields, read from a multipart body (it may carry a CSV file).
#[derive(Debug, Default)]
struct NewCampaign {
    name: String,
    channel_id: String,
    content: String,
    text: String,
    params: String,
    numbers: String,
    tag: String,
    list_id: String,
    delay_ms: String,
    csv: Option<Vec<u8>>,
}

async fn read_form(mut multipart: Multipart) -> UiResult<NewCampaign> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        UiError(ApiError::bad_request(format!(
            "the form did not arrive whole: {e}"
        )))
    };
    let mut form = NewCampaign::default();
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csv" {
            let bytes = field.bytes().await.map_err(bad)?;
            if !bytes.is_empty() {
                form.csv = Some(bytes.to_vec());
            }
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        let slot = match name.as_str() {
            "name" => &mut form.name,
            "channel_id" => &mut form.channel_id,
            "content" => &mut form.content,
            "text" => &mut form.text,
            "params" => &mut form.params,
            "numbers" => &mut form.numbers,
            "tag" => &mut form.tag,
            "list_id" => &mut form.list_id,
            "delay_ms" => &mut form.delay_ms,
            _ => continue,
        };
        *slot = value;
    }
    Ok(form)
}

fn parse_uuid(field: &str, value: &str) -> UiResult<uuid::Uuid> {
    value
        .trim()
        .parse()
        .map_err(|_| UiError(ApiError::invalid(field, "choose one")))
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> UiResult<Response> {
    session.require(Scope::Send)?;
    let multipart = multipart.map_err(|r| UiError(ApiError::bad_request(r.body_text())))?;
    let form = read_form(multipart).await?;
    let tenant = &session.tenant;
    let content = if form.content == "text" {
        CampaignContent::Text {
            body: form.text.trim().to_owned(),
        }
    } else {
        CampaignContent::Template {
            template_id: TemplateId(parse_uuid("content", &form.content)?),
            body_params: form
                .params
                .lines()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            header_params: Vec::new(),
        }
    };
    let numbers: Vec<String> = form
        .numbers
        .split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    let mut filter = ContactFilter::default();
    if !form.tag.trim().is_empty() {
        filter.tags.insert(form.tag.trim().to_owned());
    }
    if !form.list_id.trim().is_empty() {
        let list = ContactListId(parse_uuid("list_id", &form.list_id)?);
        // Another tenant's list answers like one that never existed.
        state.store.get_list(tenant.id, list).await?;
        filter.lists.insert(list);
    }
    let has_filter = !filter.tags.is_empty() || !filter.lists.is_empty();
    if !has_filter && numbers.is_empty() && form.csv.is_none() {
        return Err(
            ApiError::invalid("audience", "give numbers, a tag, a list or a CSV file").into(),
        );
    }
    let mut campaign = Campaign::new(
        tenant.id,
        ChannelId(parse_uuid("channel_id", &form.channel_id)?),
        form.name.trim().to_owned(),
        content,
        Audience {
            filter: has_filter.then_some(filter),
            numbers,
            csv: form.csv.is_some(),
        },
    );
    if !form.delay_ms.trim().is_empty() {
        let ms: u64 = form.delay_ms.trim().parse().map_err(|_| {
            UiError(ApiError::invalid(
                "delay_ms",
                "must be a whole number of milliseconds",
            ))
        })?;
        if ms > 3_600_000 {
            return Err(ApiError::invalid("delay_ms", "at most one hour").into());
        }
        campaign.delay_between_messages_ms = (ms > 0).then_some(ms);
    }
    state.campaigns.create(&campaign).await?;
    state.campaigns.expand(tenant.id, campaign.id).await?;
    if let Some(csv) = form.csv {
        state
            .campaigns
            .import_csv(tenant.id, campaign.id, Reader::new(csv))
            .await?;
    }
    Ok(touched(
        campaign.id,
        go(&headers, &format!("/ui/campaigns/{}", campaign.id)),
    ))
}

/// A campaign's progress and the actions its state allows (the polled fragment).
#[derive(Debug)]
pub struct ProgressView {
    id: String,
    state: String,
    live: bool,
    c: CampaignCounters,
    /// Recipients (refused inputs left out).
    total: u64,
    /// Recipients no longer pending.
    done: u64,
    /// Recipients skipped (refused inputs left out).
    skipped: u64,
    percent: String,
    rate: String,
    eta: String,
    can_start: bool,
    can_pause: bool,
    can_resume: bool,
    can_cancel: bool,
    can_retry: bool,
    can_send: bool,
    started: String,
    finished: String,
}

fn progress_view(
    campaign: &Campaign,
    c: CampaignCounters,
    can_send: bool,
    tz: chrono_tz::Tz,
) -> ProgressView {
    let p = progress_of(campaign, &c);
    let s = campaign.state;
    ProgressView {
        id: campaign.id.to_string(),
        state: s.as_str().to_owned(),
        live: !matches!(
            s,
            CampaignState::Completed | CampaignState::Cancelled | CampaignState::Failed
        ),
        // The counters count refused inputs as skipped recipients; people count recipients.
        total: c.recipients(),
        done: p.done.saturating_sub(c.rejected),
        skipped: c.skipped.saturating_sub(c.rejected),
        percent: format!(
            "{:.1}",
            if c.recipients() == 0 {
                0.0
            } else {
                p.done.saturating_sub(c.rejected) as f64 * 100.0 / c.recipients() as f64
            }
        ),
        rate: p
            .rate_per_second
            .map_or_else(|| "—".to_owned(), |r| format!("{r:.1} messages/s")),
        eta: p.eta_seconds.map_or_else(
            || "—".to_owned(),
            |s| {
                let s = s as u64;
                if s >= 3_600 {
                    format!("{}h {}m", s / 3_600, s % 3_600 / 60)
                } else if s >= 60 {
                    format!("{}m {}s", s / 60, s % 60)
                } else {
                    format!("{s}s")
                }
            },
        ),
        can_start: s == CampaignState::Draft,
        can_pause: s == CampaignState::Running,
        can_resume: s == CampaignState::Paused,
        can_cancel: matches!(
            s,
            CampaignState::Draft
                | CampaignState::Scheduled
                | CampaignState::Running
                | CampaignState::Paused
        ),
        can_retry: c.failed > 0 && matches!(s, CampaignState::Completed | CampaignState::Failed),
        can_send,
        started: when_opt(tz, campaign.started_at),
        finished: when_opt(tz, campaign.finished_at),
        c,
    }
}

/// A recipient as the page shows it.
#[derive(Debug)]
pub struct RecipientRow {
    phone: String,
    status: String,
    reason: String,
    updated: String,
}

/// A refused input of the expansion report.
#[derive(Debug)]
pub struct RejectionRow {
    line: String,
    input: String,
    reason: String,
}

#[derive(askama::Template)]
#[template(path = "ui/campaign.html")]
struct DetailPage {
    l: Layout,
    id: String,
    channel: String,
    content: String,
    created: String,
    failure: Option<String>,
    p: ProgressView,
    statuses: Vec<Opt>,
    recipients: Vec<RecipientRow>,
    recipients_next: Option<String>,
    rejections: Vec<RejectionRow>,
    rejections_next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    status: Option<String>,
    after: Option<String>,
    rejections_after: Option<String>,
}

const STATUSES: [(&str, RecipientStatus); 6] = [
    ("pending", RecipientStatus::Pending),
    ("sent", RecipientStatus::Sent),
    ("delivered", RecipientStatus::Delivered),
    ("read", RecipientStatus::Read),
    ("failed", RecipientStatus::Failed),
    ("skipped", RecipientStatus::Skipped),
];

fn page_of(after: &Option<String>) -> Page {
    match super::filled(after) {
        Some(after) => Page::after(PAGE_SIZE, after.to_owned()),
        None => Page::first(PAGE_SIZE),
    }
}

async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<uuid::Uuid>,
    Query(q): Query<DetailQuery>,
) -> UiResult<Response> {
    let tenant = session.tenant_id();
    let tz = session.tenant.timezone;
    let campaign = state.store.get_campaign(tenant, CampaignId(id)).await?;
    let counters = state.campaigns.counters(tenant, campaign.id).await?;
    let status_name = super::filled(&q.status).unwrap_or_default().to_owned();
    let status = match status_name.as_str() {
        "" => None,
        name => Some(
            STATUSES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| *s)
                .ok_or_else(|| ApiError::invalid("status", format!("unknown status {name:?}")))?,
        ),
    };
    let recipients = state
        .store
        .list_recipients(tenant, campaign.id, status, page_of(&q.after))
        .await?;
    let rejections = state
        .store
        .list_rejections(tenant, campaign.id, page_of(&q.rejections_after))
        .await?;
    let channel = state.store.get_channel(tenant, campaign.channel_id).await?;
    let content = match &campaign.content {
        CampaignContent::Text { body } => format!("Text: {body}"),
        CampaignContent::Template {
            template_id,
            body_params,
            ..
        } => match state.store.get_template(tenant, *template_id).await {
            Ok(t) => format!(
                "Template {} ({}){}",
                t.draft.name,
                t.draft.language,
                if body_params.is_empty() {
                    String::new()
                } else {
                    format!(", parameters: {}", body_params.join(", "))
                }
            ),
            Err(wagw_core::Error::NotFound { .. }) => "Template (deleted)".to_owned(),
            Err(e) => return Err(e.into()),
        },
    };
    let base = format!("/ui/campaigns/{id}");
    let after_recipients = q.after.clone().unwrap_or_default();
    render(&DetailPage {
        l: session.layout(format!("Campaign {}", campaign.name), "campaigns"),
        id: id.to_string(),
        channel: format!("{} ({})", channel.name, phone(&channel.display_number)),
        content,
        created: when(tz, campaign.created_at),
        failure: campaign.failure_reason.clone(),
        p: progress_view(
            &campaign,
            counters,
            session.can(Scope::Send),
            session.tenant.timezone,
        ),
        statuses: STATUSES
            .iter()
            .map(|(n, _)| Opt::new(*n, *n, &status_name))
            .collect(),
        recipients: recipients
            .items
            .iter()
            .map(|r| RecipientRow {
                phone: phone(&r.phone),
                status: label(&r.status),
                reason: r.reason.clone().unwrap_or_default(),
                updated: when(tz, r.updated_at),
            })
            .collect(),
        recipients_next: recipients.next.map(|after| {
            link(
                &base,
                &[
                    ("status", &status_name),
                    ("after", &after),
                    (
                        "rejections_after",
                        q.rejections_after.as_deref().unwrap_or(""),
                    ),
                ],
            )
        }),
        rejections: rejections
            .items
            .iter()
            .map(|r| RejectionRow {
                line: r.line.map_or_else(|| "—".to_owned(), |l| l.to_string()),
                input: r.input.clone(),
                reason: r.reason.clone(),
            })
            .collect(),
        rejections_next: rejections.next.map(|after| {
            link(
                &base,
                &[
                    ("status", &status_name),
                    ("after", &after_recipients),
                    ("rejections_after", &after),
                ],
            )
        }),
    })
}

#[derive(askama::Template)]
#[template(path = "ui/campaign_progress.html")]
struct ProgressFragment {
    p: ProgressView,
}

/// The polled fragment; 286 at a final state, which stops htmx polling.
async fn progress(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    let tenant = session.tenant_id();
    let campaign = state.store.get_campaign(tenant, CampaignId(id)).await?;
    let counters = state.campaigns.counters(tenant, campaign.id).await?;
    let p = progress_view(
        &campaign,
        counters,
        session.can(Scope::Send),
        session.tenant.timezone,
    );
    let live = p.live;
    let mut response = render(&ProgressFragment { p })?;
    if !live {
        *response.status_mut() = StatusCode::from_u16(286).unwrap_or(StatusCode::OK);
    }
    Ok(response)
}

async fn act(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((id, action)): Path<(uuid::Uuid, String)>,
) -> UiResult<Response> {
    session.require(Scope::Send)?;
    let tenant = session.tenant_id();
    let id = CampaignId(id);
    match action.as_str() {
        "start" => state.campaigns.start(tenant, id, None).await.map(drop),
        "pause" => state.campaigns.pause(tenant, id).await.map(drop),
        "resume" => state.campaigns.resume(tenant, id).await.map(drop),
        "cancel" => state.campaigns.cancel(tenant, id).await.map(drop),
        "retry-failed" => state.campaigns.retry_failed(tenant, id).await.map(drop),
        _ => return Err(ApiError::not_found().into()),
    }?;
    Ok(touched(id, go(&headers, &format!("/ui/campaigns/{id}"))))
}

/// The report (`phone,status,reason,message_id,updated_at,line,input`), as the API's.
async fn report_csv(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<uuid::Uuid>,
) -> UiResult<Response> {
    Ok(report_csv_download(&state, session.tenant_id(), CampaignId(id)).await?)
}
