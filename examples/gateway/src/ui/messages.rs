//! `/ui/messages`: the history with the API's filters (dates in the tenant's timezone),
//! a streamed CSV export, and a conversation view per contact.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use wagw_core::model::message::{Direction, MessageRecord, MessageStatus};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{MessageQuery, Page, searchable_text};

use super::{Layout, Opt, PAGE_SIZE, Query, Session, UiResult, filled, link, phone, render, when};
use crate::api::messages::{Filters, export_body};
use crate::app::{AppState, Path};
use crate::error::ApiError;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", get(page))
        .route("/messages/export.csv", get(export))
        .route("/conversations/{phone}", get(conversation))
}

/// The history's filter form, every field optional (a blank field is no filter).
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    q: Option<String>,
    /// First local day (`YYYY-MM-DD`).
    #[serde(default)]
    from: Option<String>,
    /// Last local day, included.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

fn local_day(tz: Tz, field: &str, value: &str, next: bool) -> Result<DateTime<Utc>, ApiError> {
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, format!("{value:?} is not YYYY-MM-DD")))?;
    let day = if next {
        day.succ_opt()
            .ok_or_else(|| ApiError::invalid(field, "out of range"))?
    } else {
        day
    };
    tz.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::invalid(field, "that day has no midnight here"))
}

impl FilterForm {
    /// The API's filters (and so its checks) for this form.
    fn query(&self, session: &Session) -> Result<MessageQuery, ApiError> {
        let tz = session.tenant.timezone;
        let direction = match filled(&self.direction) {
            None => None,
            Some("inbound") => Some(Direction::Inbound),
            Some("outbound") => Some(Direction::Outbound),
            Some(other) => {
                return Err(ApiError::invalid(
                    "direction",
                    format!("unknown direction {other:?}"),
                ));
            }
        };
        let filters = Filters {
            channel_id: filled(&self.channel_id)
                .map(|c| {
                    c.parse()
                        .map_err(|_| ApiError::invalid("channel_id", "is not an id"))
                })
                .transpose()?,
            campaign_id: None,
            contact: filled(&self.contact).map(str::to_owned),
            direction,
            status: filled(&self.status).map(str::to_owned),
            from: filled(&self.from)
                .map(|d| local_day(tz, "from", d, false))
                .transpose()?,
            to: filled(&self.to)
                .map(|d| local_day(tz, "to", d, true))
                .transpose()?,
            q: filled(&self.q).map(str::to_owned),
            limit: None,
            after: None,
        };
        filters.query(&session.tenant)
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        vec![
            ("channel_id", v(&self.channel_id)),
            ("direction", v(&self.direction)),
            ("status", v(&self.status)),
            ("contact", v(&self.contact)),
            ("q", v(&self.q)),
            ("from", v(&self.from)),
            ("to", v(&self.to)),
        ]
    }
}

/// A message as a row of the history or a bubble of a conversation.
#[derive(Debug)]
pub struct MessageRow {
    /// Shown as is.
    pub at: String,
    /// Shown as is.
    pub direction: String,
    /// Shown as is.
    pub contact: String,
    /// Shown as is.
    pub wa_id: String,
    /// Shown as is.
    pub status: String,
    /// Shown as is.
    pub text: String,
    /// Shown as is.
    pub error: String,
}

fn row(tz: Tz, m: &MessageRecord) -> MessageRow {
    MessageRow {
        at: when(tz, m.created_at),
        direction: match m.direction {
            Direction::Inbound => "inbound".to_owned(),
            Direction::Outbound => "outbound".to_owned(),
        },
        contact: phone(&m.contact_phone),
        wa_id: m.contact_phone.as_str().to_owned(),
        status: m.status.as_str().to_owned(),
        text: searchable_text(m).trim().to_owned(),
        error: m
            .error
            .as_ref()
            .map(|e| e.reason.clone())
            .unwrap_or_default(),
    }
}

#[derive(askama::Template)]
#[template(path = "ui/messages.html")]
struct MessagesPage {
    l: Layout,
    f: FilterValues,
    channels: Vec<Opt>,
    directions: Vec<Opt>,
    statuses: Vec<Opt>,
    rows: Vec<MessageRow>,
    next: Option<String>,
    export: String,
    page_size: usize,
}

/// The form's values, echoed back.
#[derive(Debug)]
pub struct FilterValues {
    contact: String,
    q: String,
    from: String,
    to: String,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(form): Query<FilterForm>,
) -> UiResult<Response> {
    let tz = session.tenant.timezone;
    let query = form.query(&session)?;
    let page = match filled(&form.after) {
        Some(after) => Page::after(PAGE_SIZE, after.to_owned()),
        None => Page::first(PAGE_SIZE),
    };
    let found = state
        .store
        .list_messages(session.tenant_id(), &query, page)
        .await?;
    let pairs = form.pairs();
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let next = found.next.map(|after| {
        let mut with_after = borrowed.clone();
        with_after.push(("after", &after));
        link("/ui/messages", &with_after)
    });
    let channels = state
        .store
        .list_channels(session.tenant_id(), Page::first(Page::MAX_LIMIT))
        .await?
        .items;
    let current = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut channel_opts = vec![Opt::new("", "any", "")];
    channel_opts.extend(channels.iter().map(|c| {
        Opt::new(
            c.id.to_string(),
            format!("{} ({})", c.name, phone(&c.display_number)),
            &current(&form.channel_id),
        )
    }));
    let mut status_opts = vec![Opt::new("", "any", "")];
    status_opts.extend(
        MessageStatus::ALL
            .iter()
            .map(|s| Opt::new(s.as_str(), s.as_str(), &current(&form.status))),
    );
    let dir = current(&form.direction);
    render(&MessagesPage {
        l: session.layout("Messages", "messages"),
        f: FilterValues {
            contact: current(&form.contact),
            q: current(&form.q),
            from: current(&form.from),
            to: current(&form.to),
        },
        channels: channel_opts,
        directions: vec![
            Opt::new("", "any", &dir),
            Opt::new("inbound", "received", &dir),
            Opt::new("outbound", "sent", &dir),
        ],
        statuses: status_opts,
        rows: found.items.iter().map(|m| row(tz, m)).collect(),
        next,
        export: link("/ui/messages/export.csv", &borrowed),
        page_size: PAGE_SIZE,
    })
}

/// The CSV export of the filtered history, streamed (the API's export).
async fn export(
    State(state): State<AppState>,
    session: Session,
    Query(form): Query<FilterForm>,
) -> UiResult<Response> {
    let query = form.query(&session)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"messages.csv\"",
            ),
        ],
        export_body(state, session.tenant_id(), query),
    )
        .into_response())
}

#[derive(askama::Template)]
#[template(path = "ui/conversation.html")]
struct ConversationPage {
    l: Layout,
    rows: Vec<MessageRow>,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ConversationQuery {
    #[serde(default)]
    after: Option<String>,
}

/// One contact's messages, oldest first (the store's order), a page at a time.
async fn conversation(
    State(state): State<AppState>,
    session: Session,
    Path(wa_id): Path<String>,
    Query(q): Query<ConversationQuery>,
) -> UiResult<Response> {
    let contact = PhoneNumber::from_wa_id(&wa_id).map_err(|_| ApiError::not_found())?;
    let query = MessageQuery {
        contact: Some(contact.clone()),
        ..MessageQuery::default()
    };
    let page = match filled(&q.after) {
        Some(after) => Page::after(PAGE_SIZE, after.to_owned()),
        None => Page::first(PAGE_SIZE),
    };
    let found = state
        .store
        .list_messages(session.tenant_id(), &query, page)
        .await?;
    let tz = session.tenant.timezone;
    let path = format!("/ui/conversations/{wa_id}");
    render(&ConversationPage {
        l: session.layout(format!("Conversation with {}", phone(&contact)), "messages"),
        rows: found.items.iter().map(|m| row(tz, m)).collect(),
        next: found.next.map(|after| link(&path, &[("after", &after)])),
    })
}

/// One contact's messages on one number in the last hour, at most 200 (the sandbox panel's
/// live view: the store lists oldest first, so the window keeps new messages on the page).
pub async fn recent(
    state: &AppState,
    session: &Session,
    channel: wagw_core::ids::ChannelId,
    contact: &PhoneNumber,
) -> UiResult<Vec<MessageRow>> {
    let query = MessageQuery {
        channel: Some(channel),
        contact: Some(contact.clone()),
        since: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        ..MessageQuery::default()
    };
    let found = state
        .store
        .list_messages(session.tenant_id(), &query, Page::first(200))
        .await?;
    Ok(found
        .items
        .iter()
        .map(|m| row(session.tenant.timezone, m))
        .collect())
}
