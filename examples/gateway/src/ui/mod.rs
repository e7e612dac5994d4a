//! The dashboard at `/ui`: server-rendered pages (askama templates compiled into the binary)
//! with htmx for forms and live progress; no build step, no JavaScript of our own.
//!
//! - **Auth** is the API's: a person logs in with tenant, e-mail and password and gets the
//!   same JWT `POST /v1/auth/login` issues, kept in an HttpOnly, SameSite=Strict cookie;
//!   every request resolves it again through [`crate::auth::resolve`], so roles and
//!   deactivations take effect at once (see [`session`]).
//! - **CSRF**: besides SameSite=Strict, every POST must carry the session's CSRF token in
//!   the `x-csrf-token` header, which htmx adds to every request from `hx-headers` on
//!   `<body>` (forms are boosted, so they go through htmx too).
//! - **Roles**: pages show only what the role may do, and handlers check the scope again, so
//!   a viewer's POST is refused with 403 whatever the page showed.
//! - Every list is a cursor page of the store; exports are streamed.
//!
//! `/ui` is not part of the API: it has its own HTML error pages and is absent from the
//! OpenAPI document.

mod activity;
pub mod assets;
mod auto_reply;
mod campaigns;
mod flows;
mod messages;
mod numbers;
mod overview;
mod sandbox_panel;
mod schedules;
pub mod session;
mod templates;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use wagw_core::model::tenant::Scope;
use wagw_core::phone::PhoneNumber;
use wagw_core::store::Page;

use crate::app::AppState;
use crate::error::{ApiError, KeepBody};
pub use session::Session;

/// Largest upload the dashboard takes (CSV audiences, flow documents).
const UPLOAD_LIMIT: usize = 20 * 1024 * 1024;

/// The dashboard's routes, to nest under `/ui`. `state` is needed by the session guard.
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .merge(overview::routes())
        .merge(numbers::routes())
        .merge(campaigns::routes())
        .merge(messages::routes())
        .merge(templates::routes())
        .merge(auto_reply::routes())
        .merge(flows::routes())
        .merge(schedules::routes())
        .merge(webhooks::routes())
        .merge(activity::routes())
        .merge(sandbox_panel::routes())
        .merge(session::logout_routes())
        .route_layer(middleware::from_fn_with_state(state, session::guard));
    Router::new()
        .merge(pages)
        .merge(session::login_routes())
        .merge(assets::routes())
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
}

/// A failure shown as an HTML page (never the API's JSON).
#[derive(Debug)]
pub struct UiError(pub ApiError);

/// Result of the dashboard's handlers.
pub type UiResult<T> = Result<T, UiError>;

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<wagw_core::Error> for UiError {
    fn from(e: wagw_core::Error) -> Self {
        Self(e.into())
    }
}

impl From<FormRejection> for UiError {
    fn from(r: FormRejection) -> Self {
        Self(ApiError::bad_request(r.body_text()))
    }
}

impl From<QueryRejection> for UiError {
    fn from(r: QueryRejection) -> Self {
        Self(ApiError::bad_request(r.body_text()))
    }
}

#[derive(askama::Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    status: u16,
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let page = ErrorPage {
            status: e.status.as_u16(),
            code: e.code,
            message: &e.message,
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| e.message.clone());
        let mut response = (e.status, Html(body)).into_response();
        // The API's error renderer must leave this HTML alone.
        response.extensions_mut().insert(KeepBody);
        response
    }
}

/// `axum::Form` whose rejections are HTML pages.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(UiError))]
pub struct Form<T>(pub T);

/// `axum::extract::Query` whose rejections are HTML pages.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(UiError))]
pub struct Query<T>(pub T);

/// Renders a template as a page that is never cached (it shows live data).
pub fn render(page: &impl askama::Template) -> UiResult<Response> {
    let html = page.render().map_err(|e| {
        tracing::error!(error = %e, "rendering a page failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

/// After a successful POST: a full navigation to `to` (`HX-Redirect` for htmx, 303
/// otherwise), so a reload never repeats the POST.
pub fn go(headers: &HeaderMap, to: &str) -> Response {
    let Ok(location) = HeaderValue::from_str(to) else {
        return UiError(ApiError::bad_request("bad redirect target")).into_response();
    };
    if headers.contains_key("hx-request") {
        ([("hx-redirect", location)], StatusCode::OK).into_response()
    } else {
        (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
    }
}

/// What every page's frame shows: title, tenant, the person, the CSRF token, what the role
/// may do, and which navigation entry is current.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// The navigation entry of the page (`campaigns`, ...).
    pub nav: &'static str,
    /// The tenant's name.
    pub tenant: String,
    /// The person's e-mail.
    pub who: String,
    /// The person's role.
    pub role: String,
    /// The session's CSRF token, sent by htmx with every request.
    pub csrf: String,
    /// May send (campaigns, schedules, sandbox messages).
    pub can_send: bool,
    /// May change configuration (auto-replies, flows, numbers).
    pub can_write: bool,
    /// May administer (webhooks, activity, sandbox).
    pub can_admin: bool,
    /// Whether the sandbox runs for this tenant.
    pub sandbox: bool,
}

/// One entry of the navigation.
#[derive(Debug, Clone)]
pub struct NavEntry {
    /// Where it leads.
    pub path: &'static str,
    /// Its words.
    pub text: &'static str,
    /// Whether it is the page shown.
    pub current: bool,
}

impl Layout {
    /// The navigation entries the role may use.
    pub fn entries(&self) -> Vec<NavEntry> {
        let mut entries = vec![
            ("overview", "/ui", "Overview"),
            ("numbers", "/ui/numbers", "Numbers"),
            ("campaigns", "/ui/campaigns", "Campaigns"),
            ("messages", "/ui/messages", "Messages"),
            ("templates", "/ui/templates", "Templates"),
            ("auto_reply", "/ui/auto-replies", "Auto-replies"),
            ("flows", "/ui/flows", "Flows"),
            ("schedules", "/ui/schedules", "Schedules"),
            ("webhooks", "/ui/webhooks", "Webhooks"),
        ];
        if self.can_admin {
            entries.push(("activity", "/ui/activity", "Activity"));
        }
        if self.sandbox && self.can_admin {
            entries.push(("sandbox", "/ui/sandbox", "Sandbox"));
        }
        entries
            .into_iter()
            .map(|(key, path, text)| NavEntry {
                path,
                text,
                current: key == self.nav,
            })
            .collect()
    }
}

impl Session {
    /// The frame of a page titled `title` under navigation entry `nav`.
    pub fn layout(&self, title: impl Into<String>, nav: &'static str) -> Layout {
        Layout {
            title: title.into(),
            nav,
            tenant: self.tenant.name.clone(),
            who: self.who.clone(),
            role: self.role.clone(),
            csrf: self.csrf.clone(),
            can_send: self.can(Scope::Send),
            can_write: self.can(Scope::Write),
            can_admin: self.can(Scope::Admin),
            sandbox: self.sandbox,
        }
    }
}

/// An option of a `<select>`.
#[derive(Debug, Clone)]
pub struct Opt {
    /// The submitted value.
    pub value: String,
    /// What people read.
    pub text: String,
    /// Whether it is selected.
    pub selected: bool,
}

impl Opt {
    /// An option, selected when `value` equals `current`.
    pub fn new(value: impl Into<String>, text: impl Into<String>, current: &str) -> Self {
        let value = value.into();
        Self {
            selected: value == current,
            text: text.into(),
            value,
        }
    }
}

/// `?after=` of a listing page (the store's cursor); pages hold [`PAGE_SIZE`] rows.
#[derive(Debug, Default, Deserialize)]
pub struct Cursor {
    /// The cursor of the previous page's last row.
    #[serde(default)]
    pub after: Option<String>,
}

/// Rows per listing page.
pub const PAGE_SIZE: usize = 50;

impl Cursor {
    /// The store's page.
    pub fn page(&self) -> Page {
        match self.after.as_deref().filter(|a| !a.is_empty()) {
            Some(after) => Page::after(PAGE_SIZE, after.to_owned()),
            None => Page::first(PAGE_SIZE),
        }
    }
}

/// `path?key=value&…` with the pairs URL-encoded, empty values left out.
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    match serde_urlencoded::to_string(&kept) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

/// A number for people: `+62 812-3456-789` for Indonesian mobiles, `+<cc> <national>`
/// elsewhere.
pub fn phone(p: &PhoneNumber) -> String {
    let national = p.national_number();
    if p.country_code() == 62 && national.starts_with('8') && national.len() >= 9 {
        let (a, rest) = national.split_at(3);
        let (b, c) = rest.split_at(4);
        format!("+62 {a}-{b}-{c}")
    } else {
        format!("+{} {national}", p.country_code())
    }
}

/// A time in the tenant's timezone: `2026-11-29 10:45:03 WIB`.
pub fn when(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// An optional time in the tenant's timezone, `—` when absent.
pub fn when_opt(tz: Tz, at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), |at| when(tz, at))
}

/// The wire name of an enum value (`running`, `GREEN`, ...), as the API spells it.
pub fn label<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Escapes text for HTML or SVG built outside a template.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An optional form value: blank is absent.
pub fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indonesian_mobiles_are_grouped_for_people() {
        let p = PhoneNumber::from_wa_id("628123456789").expect("number");
        assert_eq!(phone(&p), "+62 812-3456-789");
        let us = PhoneNumber::from_wa_id("14155550100").expect("number");
        assert_eq!(phone(&us), "+1 4155550100");
    }

    #[test]
    fn links_encode_and_drop_blank_values() {
        assert_eq!(
            link("/ui/messages", &[("q", "a b&c"), ("status", "")]),
            "/ui/messages?q=a+b%26c"
        );
    }
}
