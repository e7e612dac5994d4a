//! Analytics queries on PostgreSQL with 1,000,000 messages: timings and the query plans that
//! show which index each query reads.
//!
//! Seeds one tenant with `WAGW_BENCH_ROWS` (1,000,000) messages over 30 days on 10 numbers
//! (90 % outbound in mixed statuses, 10 % inbound), a 10,000-message campaign of which 3,000
//! recipients reply within 72 hours, and a second tenant with 100,000 messages as noise. Then
//! times each query five times and prints the median:
//!
//! - `daily_volume` for one local day and for all 30 days (Asia/Jakarta);
//! - `campaign_funnel` (counters + `campaign_replies` over the 10,000 campaign messages);
//! - `answers` (conversation jobs) for 30 days;
//! - `flow_engagement` for 30 days over 200,000 recorded flow steps (and 20,000 of the noise
//!   tenant), written with session saves as the runner writes them.
//!
//! `WAGW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p wagw-benches --bench analytics`

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use wagw_benches::sql::BenchDb;
use wagw_benches::{env_size, phone};
use wagw_core::analytics::{REPLY_WINDOW, answers, campaign_funnel, daily_volume, flow_engagement};
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::ids::{ChannelId, FlowId};
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, RecipientStatus,
};
use wagw_core::model::channel::Channel;
use wagw_core::model::flow::{ConversationSession, EngagementKind, FlowEngagement};
use wagw_core::model::message::{MessageRecord, MessageStatus, Priority};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{
    CampaignStore, ChannelStore, ConversationStore, MessageStore, RecipientUpdate, TenantStore,
};

const STATUSES: [MessageStatus; 5] = [
    MessageStatus::Sent,
    MessageStatus::Delivered,
    MessageStatus::Read,
    MessageStatus::Read,
    MessageStatus::Failed,
];

fn inbound(tenant: &Tenant, channel: ChannelId, to: u64, n: u64) -> MessageRecord {
    let message = serde_json::from_value(serde_json::json!({
        "from": phone(to).as_str(), "id": format!("wamid.IN.{}.{n}", tenant.id), "type": "text",
        "timestamp": "1790000000", "text": {"body": "Halo"}
    }))
    .expect("inbound");
    MessageRecord::inbound(tenant.id, channel, phone(to), message)
}

fn outbound(tenant: &Tenant, channel: ChannelId, to: u64, status: MessageStatus) -> MessageRecord {
    let body = OutboundMessage::new(phone(to).as_str(), MessageContent::text("Tagihan Anda"));
    let mut m = MessageRecord::outbound(tenant.id, channel, phone(to), body, Priority::Bulk);
    m.status = status;
    m
}

/// `rows` messages spread evenly over the 30 days from `start` on `channels`.
async fn seed(
    db: &BenchDb,
    tenant: &Tenant,
    channels: &[ChannelId],
    start: chrono::DateTime<Utc>,
    rows: u64,
) {
    let step = TimeDelta::days(30).num_milliseconds() / rows as i64;
    let mut batch = Vec::with_capacity(5_000);
    for n in 0..rows {
        let channel = channels[(n % channels.len() as u64) as usize];
        let mut m = if n % 10 == 0 {
            inbound(tenant, channel, n % 100_000, n)
        } else {
            outbound(tenant, channel, n % 100_000, STATUSES[(n % 5) as usize])
        };
        m.created_at = start + TimeDelta::milliseconds(step * n as i64);
        m.updated_at = m.created_at;
        batch.push(m);
        if batch.len() == 5_000 {
            db.store.insert_messages(&batch).await.expect("seed");
            batch.clear();
        }
    }
    db.store.insert_messages(&batch).await.expect("seed");
}

/// `steps` flow-engagement steps over 30 days from `start` on 5 flows, 100 per session save
/// (starts, completions, drop-offs at 4 nodes, hand-offs). Returns the flows.
async fn seed_engagement(
    db: &BenchDb,
    tenant: &Tenant,
    channel: ChannelId,
    start: chrono::DateTime<Utc>,
    steps: u64,
) -> Vec<FlowId> {
    let flows: Vec<FlowId> = (0..5).map(|_| FlowId::new()).collect();
    let step = TimeDelta::days(30).num_milliseconds() / steps as i64;
    let kinds = [
        EngagementKind::Started,
        EngagementKind::Started,
        EngagementKind::Completed,
        EngagementKind::DroppedOff,
        EngagementKind::HandedOff,
    ];
    for save in 0..steps / 100 {
        let session = ConversationSession::new(tenant.id, channel, phone(700_000 + save));
        let engagement: Vec<FlowEngagement> = (0..100)
            .map(|i| {
                let n = save * 100 + i;
                let kind = kinds[(n % 5) as usize];
                FlowEngagement {
                    tenant_id: tenant.id,
                    flow_id: flows[(n / 5 % 5) as usize],
                    kind,
                    node: (kind == EngagementKind::DroppedOff).then(|| format!("ask_{}", n % 4)),
                    at: start + TimeDelta::milliseconds(step * n as i64),
                }
            })
            .collect();
        db.store
            .save_session_with_engagement(&session, &engagement)
            .await
            .expect("engagement");
    }
    flows
}

async fn time<F, Fut, T>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        last = Some(f().await);
        times.push(started.elapsed());
    }
    times.sort();
    println!("  {what:<52} median {:>8.1} ms", ms(times[2]));
    last.expect("ran")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn explain(db: &BenchDb, sql: &str) {
    let Some(pool) = db.store.pg_pool() else {
        return;
    };
    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .fetch_all(pool)
        .await
        .expect("explain");
    for (line,) in rows {
        if line.contains("Scan") || line.contains("Index") {
            println!("      {}", line.trim());
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = env_size("WAGW_BENCH_ROWS", 1_000_000);
    let Some(db) = BenchDb::postgres(4).await else {
        println!("analytics: skipped, WAGW_TEST_POSTGRES_URL is unset");
        return;
    };
    let tenant = Tenant::new("bench", Plan::enterprise());
    let noise = Tenant::new("noise", Plan::enterprise());
    let mut channels = Vec::new();
    for t in [&tenant, &noise] {
        db.store.create_tenant(t).await.expect("tenant");
    }
    for i in 0..10u64 {
        let ch = Channel::new(tenant.id, "n", format!("10{i}"), "waba", phone(800_000 + i));
        db.store.create_channel(&ch).await.expect("channel");
        channels.push(ch.id);
    }
    let noise_channel = Channel::new(noise.id, "n", "200", "waba-2", phone(900_000));
    db.store
        .create_channel(&noise_channel)
        .await
        .expect("channel");
    let jakarta = chrono_tz::Asia::Jakarta;
    let first_day = NaiveDate::from_ymd_opt(2026, 10, 1).expect("day");
    let start = jakarta
        .from_local_datetime(&first_day.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("start")
        .with_timezone(&Utc);
    let seeding = Instant::now();
    seed(&db, &tenant, &channels, start, rows).await;
    seed(&db, &noise, &[noise_channel.id], start, rows / 10).await;

    // The campaign: 10,000 delivered messages on day 10; 3,000 recipients reply an hour later.
    let campaign = Campaign::new(
        tenant.id,
        channels[0],
        "promo",
        CampaignContent::Text {
            body: "Promo".into(),
        },
        Audience::default(),
    );
    db.store.create_campaign(&campaign).await.expect("campaign");
    let sent_at = start + TimeDelta::days(10);
    let recipients: Vec<_> = (0..10_000u64)
        .map(|n| {
            CampaignRecipient::new(
                tenant.id,
                campaign.id,
                phone(500_000 + n),
                Default::default(),
            )
        })
        .collect();
    db.store
        .insert_recipients(tenant.id, campaign.id, &recipients)
        .await
        .expect("recipients");
    let mut messages = Vec::new();
    let mut updates = Vec::new();
    let mut replies = Vec::new();
    for (n, r) in recipients.iter().enumerate() {
        let mut m = outbound(
            &tenant,
            channels[0],
            500_000 + n as u64,
            MessageStatus::Delivered,
        );
        m.campaign_id = Some(campaign.id);
        m.recipient_id = Some(r.id);
        m.created_at = sent_at;
        updates.push(RecipientUpdate {
            id: r.id,
            status: RecipientStatus::Delivered,
            reason: None,
            message_id: Some(m.id),
        });
        messages.push(m);
        if n % 10 < 3 {
            let mut reply = inbound(
                &tenant,
                channels[0],
                500_000 + n as u64,
                10_000_000 + n as u64,
            );
            reply.created_at = sent_at + TimeDelta::hours(1);
            replies.push(reply);
        }
    }
    for chunk in messages.chunks(5_000) {
        db.store.insert_messages(chunk).await.expect("campaign");
    }
    db.store.insert_messages(&replies).await.expect("replies");
    db.store
        .update_recipients(tenant.id, &updates)
        .await
        .expect("recipients");
    let flow_steps = env_size("WAGW_BENCH_FLOW_STEPS", 200_000);
    seed_engagement(&db, &tenant, channels[1], start, flow_steps).await;
    seed_engagement(&db, &noise, noise_channel.id, start, flow_steps / 10).await;
    if let Some(pool) = db.store.pg_pool() {
        for table in ["messages", "flow_engagement"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                .execute(pool)
                .await
                .expect("vacuum");
        }
    }
    println!(
        "analytics on PostgreSQL: {} + {} messages seeded in {:.0} s",
        rows + 13_000,
        rows / 10,
        seeding.elapsed().as_secs_f64()
    );

    let day10 = first_day + chrono::Days::new(10);
    let last = first_day + chrono::Days::new(29);
    let one_day = time("daily_volume, one local day (~33,000 messages)", || {
        daily_volume(&db.store, tenant.id, day10, day10)
    })
    .await
    .expect("volume");
    let month = time("daily_volume, 30 local days (1,000,000 messages)", || {
        daily_volume(&db.store, tenant.id, first_day, last)
    })
    .await
    .expect("volume");
    let total: u64 = month
        .iter()
        .map(|d| d.received + d.outbound.values().sum::<u64>())
        .sum();
    assert_eq!(total, rows + 13_000, "every message counted once");
    assert_eq!(one_day.len(), 10, "ten numbers on one day");
    let funnel = time("campaign_funnel, 10,000 campaign messages", || {
        campaign_funnel(&db.store, tenant.id, campaign.id, REPLY_WINDOW)
    })
    .await
    .expect("funnel");
    assert_eq!((funnel.delivered, funnel.replied), (10_000, 3_000));
    time("answers (conversation jobs), 30 days", || {
        answers(
            &db.store,
            tenant.id,
            None,
            start,
            start + TimeDelta::days(30),
        )
    })
    .await
    .expect("answers");
    let funnels = time("flow_engagement, 30 local days (200,000 steps)", || {
        flow_engagement(&db.store, tenant.id, first_day, last)
    })
    .await
    .expect("flow engagement");
    let counted: u64 = funnels
        .iter()
        .map(|f| f.started + f.completed + f.handed_off + f.dropped_off_total())
        .sum();
    assert_eq!(counted, flow_steps, "every step counted once");
    let tid = tenant.id;
    println!("  plans:");
    println!("    message_volume:");
    explain(
        &db,
        &format!(
            "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM created_at) / 900) AS BIGINT), channel_id, direction, status, COUNT(*) \
             FROM messages WHERE tenant_id = '{tid}' AND created_at >= '{start}' AND created_at < '{}' GROUP BY 1, 2, 3, 4",
            start + TimeDelta::days(1)
        ),
    )
    .await;
    println!("    campaign_replies:");
    explain(
        &db,
        &format!(
            "SELECT COUNT(*) FROM messages m WHERE m.tenant_id = '{tid}' AND m.campaign_id = '{}' \
             AND m.status IN ('sent', 'delivered', 'read') AND EXISTS (SELECT 1 FROM messages i \
             WHERE i.tenant_id = m.tenant_id AND i.channel_id = m.channel_id AND i.contact_phone = m.contact_phone \
             AND i.direction = 'inbound' AND i.created_at > m.created_at AND i.created_at <= m.created_at + interval '72 hours')",
            campaign.id
        ),
    )
    .await;
    println!("    flow_engagement_counts:");
    explain(
        &db,
        &format!(
            "SELECT flow_id, kind, node, COUNT(*) AS n FROM flow_engagement \
             WHERE tenant_id = '{tid}' AND at >= '{start}' AND at < '{}' GROUP BY flow_id, kind, node",
            start + TimeDelta::days(30)
        ),
    )
    .await;
    db.finish().await;
}
