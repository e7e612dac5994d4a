//! Migration 0003 on a database that already holds campaigns: the start-time column and the
//! counters are backfilled from what is stored, and the triggers keep them right afterwards.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use wagw_core::ids::{CampaignId, TenantId};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent, CampaignState};
use wagw_core::store::{CampaignStore, Page, RecipientUpdate};
use wagw_store_sqlx::SqlStore;

/// The campaigns stored before the migration: (campaign, recipient statuses).
fn before(now: DateTime<Utc>) -> Vec<(Campaign, Vec<&'static str>)> {
    let tenant = TenantId::new();
    let make = |state: CampaignState, start_at: Option<DateTime<Utc>>| {
        let mut c = Campaign::new(
            tenant,
            wagw_core::ids::ChannelId::new(),
            state.as_str(),
            CampaignContent::Text {
                body: "Halo".into(),
            },
            Audience::default(),
        );
        c.state = state;
        c.start_at = start_at;
        c
    };
    vec![
        (
            make(CampaignState::Scheduled, Some(now - TimeDelta::minutes(10))),
            vec!["pending", "pending", "pending", "failed", "failed"],
        ),
        (
            make(CampaignState::Scheduled, Some(now + TimeDelta::hours(1))),
            vec!["pending"],
        ),
        (make(CampaignState::Running, None), vec!["sent", "read"]),
        (
            make(CampaignState::Draft, Some(now - TimeDelta::hours(1))),
            vec![],
        ),
    ]
}

async fn check_after(store: &SqlStore, stored: &[(Campaign, Vec<&'static str>)]) {
    let now = Utc::now();
    let due: Vec<CampaignId> = store
        .due_campaigns(now, Page::first(10))
        .await
        .expect("due")
        .items
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut expected = vec![stored[0].0.id, stored[2].0.id];
    expected.sort();
    assert_eq!(due, expected, "the past scheduled one and the running one");

    let a = &stored[0].0;
    let counters = store
        .campaign_counters(a.tenant_id, a.id)
        .await
        .expect("backfilled counters");
    assert_eq!(
        (counters.total, counters.pending, counters.failed),
        (5, 3, 2)
    );
    let c = &stored[2].0;
    let counters = store
        .campaign_counters(c.tenant_id, c.id)
        .await
        .expect("counters");
    assert_eq!((counters.total, counters.sent, counters.read), (2, 1, 1));
    let d = &stored[3].0;
    assert_eq!(
        store
            .campaign_counters(d.tenant_id, d.id)
            .await
            .expect("counters")
            .total,
        0
    );

    // The triggers work on backfilled rows.
    let pending = store
        .list_recipients(
            a.tenant_id,
            a.id,
            Some(wagw_core::model::campaign::RecipientStatus::Pending),
            Page::first(1),
        )
        .await
        .expect("pending")
        .items;
    store
        .update_recipients(
            a.tenant_id,
            &[RecipientUpdate {
                id: pending[0].id,
                status: wagw_core::model::campaign::RecipientStatus::Sent,
                reason: None,
                message_id: None,
            }],
        )
        .await
        .expect("move");
    let counters = store
        .campaign_counters(a.tenant_id, a.id)
        .await
        .expect("counters");
    assert_eq!((counters.total, counters.pending, counters.sent), (5, 2, 1));
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_backfills_start_times_and_counters() {
    let path = common::sqlite_path();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let now = Utc::now();
    let stored = before(now);
    {
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
        wagw_store_sqlx::SQLITE_MIGRATOR
            .run_to(2, &pool)
            .await
            .expect("migrations before 0003");
        for (c, statuses) in &stored {
            sqlx::query(
                "INSERT INTO campaigns (tenant_id, id, state, version, doc) VALUES ($1, $2, $3, 0, $4)",
            )
            .bind(c.tenant_id.0)
            .bind(c.id.0)
            .bind(c.state.as_str())
            .bind(serde_json::to_string(c).expect("doc"))
            .execute(&pool)
            .await
            .expect("campaign");
            for (n, status) in statuses.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO campaign_recipients (id, tenant_id, campaign_id, phone, variables, \
                     status, updated_at) VALUES ($1, $2, $3, $4, '{}', $5, 0)",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(c.tenant_id.0)
                .bind(c.id.0)
                .bind(wagw_core::testkit::phone(n as u64).as_str().to_owned())
                .bind(*status)
                .execute(&pool)
                .await
                .expect("recipient");
            }
        }
        pool.close().await;
    }
    let store = SqlStore::connect(&url).await.expect("migrate the rest");
    check_after(&store, &stored).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_backfills_start_times_and_counters() {
    let Some(url) = common::postgres_url() else {
        eprintln!("skipped: WAGW_TEST_POSTGRES_URL is unset");
        return;
    };
    let (options, _schema) = common::fresh_pg_options(&url).await;
    let now = Utc::now();
    let stored = before(now);
    {
        let pool = sqlx::PgPool::connect_with(options.clone())
            .await
            .expect("open");
        wagw_store_sqlx::POSTGRES_MIGRATOR
            .run_to(2, &pool)
            .await
            .expect("migrations before 0003");
        for (c, statuses) in &stored {
            sqlx::query(
                "INSERT INTO campaigns (tenant_id, id, state, version, doc) \
                 VALUES ($1, $2, $3, 0, $4::jsonb)",
            )
            .bind(c.tenant_id.0)
            .bind(c.id.0)
            .bind(c.state.as_str())
            .bind(serde_json::to_string(c).expect("doc"))
            .execute(&pool)
            .await
            .expect("campaign");
            for (n, status) in statuses.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO campaign_recipients (id, tenant_id, campaign_id, phone, variables, \
                     status, updated_at) VALUES ($1, $2, $3, $4, '{}', $5, now())",
                )
                .bind(uuid::Uuid::now_v7())
                .bind(c.tenant_id.0)
                .bind(c.id.0)
                .bind(wagw_core::testkit::phone(n as u64).as_str().to_owned())
                .bind(*status)
                .execute(&pool)
                .await
                .expect("recipient");
            }
        }
        pool.close().await;
    }
    let store = SqlStore::postgres(options, 2)
        .await
        .expect("migrate the rest");
    check_after(&store, &stored).await;
}
