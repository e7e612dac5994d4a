//! `/ui`: today's messages in the tenant's timezone, plan usage, the numbers at a glance.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use wagw_core::analytics::daily_volume;
use wagw_core::model::message::MessageStatus;
use wagw_core::model::tenant::{QuotaResource, UsagePeriod};
use wagw_core::store::Page;

use super::{Layout, Session, UiResult, label, phone, render};
use crate::app::AppState;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(page))
}

/// One figure of a row of figures.
#[derive(Debug)]
pub struct Stat {
    /// What it counts.
    pub label: &'static str,
    /// The count.
    pub value: u64,
}

/// One quota of the plan.
#[derive(Debug)]
pub struct Usage {
    /// The resource.
    pub resource: &'static str,
    /// Used in the period.
    pub used: u64,
    /// The plan's limit, `unlimited` when none.
    pub limit: String,
}

/// A number at a glance.
#[derive(Debug)]
pub struct NumberRow {
    name: String,
    number: String,
    status: String,
    quality: String,
}

#[derive(askama::Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    l: Layout,
    day: String,
    today: Vec<Stat>,
    plan: String,
    period: String,
    usage: Vec<Usage>,
    numbers: Vec<NumberRow>,
}

async fn page(State(state): State<AppState>, session: Session) -> UiResult<Response> {
    let tenant = &session.tenant;
    let today = Utc::now().with_timezone(&tenant.timezone).date_naive();
    let volume = daily_volume(&*state.store, tenant.id, today, today).await?;
    let (mut received, mut queued, mut sent, mut delivered, mut read, mut failed) =
        (0, 0, 0, 0, 0, 0);
    for day in &volume {
        received += day.received;
        for (status, n) in &day.outbound {
            match status {
                MessageStatus::Queued | MessageStatus::Sending => queued += n,
                MessageStatus::Sent => sent += n,
                MessageStatus::Delivered => delivered += n,
                MessageStatus::Read => read += n,
                MessageStatus::Failed => failed += n,
                _ => {}
            }
        }
    }
    // A read message was delivered and sent too: the figures count every message that got
    // at least that far, as people read a funnel.
    let today_stats = vec![
        Stat {
            label: "Sent",
            value: sent + delivered + read,
        },
        Stat {
            label: "Delivered",
            value: delivered + read,
        },
        Stat {
            label: "Read",
            value: read,
        },
        Stat {
            label: "Failed",
            value: failed,
        },
        Stat {
            label: "Waiting to send",
            value: queued,
        },
        Stat {
            label: "Received",
            value: received,
        },
    ];
    let period = UsagePeriod::month_of(Utc::now());
    let messages = state
        .store
        .usage(tenant.id, &period, QuotaResource::MessagesPerMonth)
        .await?;
    let channels = state.store.count_channels(tenant.id).await?;
    let schedules = state.store.count_schedules(tenant.id).await?;
    let rules = state.store.list_rules(tenant.id).await?.len() as u64;
    let usage = [
        (
            "Messages this month",
            QuotaResource::MessagesPerMonth,
            messages,
        ),
        ("Numbers", QuotaResource::Channels, channels),
        (
            "Scheduled messages",
            QuotaResource::ScheduledMessages,
            schedules,
        ),
        ("Auto-reply rules", QuotaResource::AutoReplyRules, rules),
    ]
    .into_iter()
    .map(|(resource, r, used)| Usage {
        resource,
        used,
        limit: tenant
            .plan
            .limit(r)
            .map_or_else(|| "unlimited".to_owned(), |l| l.to_string()),
    })
    .collect();
    let numbers = state
        .store
        .list_channels(tenant.id, Page::first(super::PAGE_SIZE))
        .await?
        .items
        .iter()
        .map(|c| NumberRow {
            name: c.name.clone(),
            number: phone(&c.display_number),
            status: label(&c.status),
            quality: label(&c.quality),
        })
        .collect();
    render(&OverviewPage {
        l: session.layout("Overview", "overview"),
        day: format!("{today} ({})", tenant.timezone),
        today: today_stats,
        plan: tenant.plan.name.clone(),
        period: period.as_str().to_owned(),
        usage,
        numbers,
    })
}
