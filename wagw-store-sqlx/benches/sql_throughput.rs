//! Throughput of the SQL backends on their hot paths, on SQLite and (when
//! `WAGW_TEST_POSTGRES_URL` is set) PostgreSQL:
//!
//! 1. bulk insert of campaign recipients (1,000,000 by default, in batches of 10,000);
//! 2. status updates from webhooks, by wamid, in batches of 1,000 (200,000 updates);
//! 3. queue reserve + ack by 4 concurrent workers reserving 100 at a time and acknowledging
//!    each batch in one call, as the dispatcher does (50,000 jobs).
//!
//! `cargo bench -p wagw-store-sqlx --bench sql_throughput`; set `WAGW_BENCH_RECIPIENTS`,
//! `WAGW_BENCH_UPDATES` or `WAGW_BENCH_JOBS` to change the sizes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use wagw_core::Queue;
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent, CampaignRecipient};
use wagw_core::model::channel::Channel;
use wagw_core::model::message::{MessageRecord, MessageStatus, Priority, StatusUpdate};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_core::store::{CampaignStore, ChannelStore, MessageStore, TenantStore, WamidUpdate};
use wagw_store_sqlx::SqlStore;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn phone(n: u64) -> PhoneNumber {
    PhoneNumber::from_wa_id(&format!("{}", 6_281_200_000_000u64 + n)).expect("phone")
}

fn rate(n: usize, took: Duration) -> String {
    format!(
        "{n:>9} in {:>7.2} s = {:>9.0} /s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    )
}

async fn fixture(store: &SqlStore) -> (Tenant, Channel) {
    let tenant = Tenant::new("bench", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let pnid = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000) + 1;
    let channel = Channel::new(tenant.id, "bench", pnid.to_string(), "1", phone(1));
    store.create_channel(&channel).await.expect("channel");
    (tenant, channel)
}

async fn recipients(store: &SqlStore, total: usize) -> Duration {
    let (tenant, channel) = fixture(store).await;
    let campaign = Campaign::new(
        tenant.id,
        channel.id,
        "bench",
        CampaignContent::Text {
            body: "Halo {nama}".into(),
        },
        Audience::default(),
    );
    store.create_campaign(&campaign).await.expect("campaign");
    let mut took = Duration::ZERO;
    for start in (0..total as u64).step_by(10_000) {
        let batch: Vec<_> = (start..(start + 10_000).min(total as u64))
            .map(|n| {
                let vars = BTreeMap::from([("nama".to_owned(), format!("Pelanggan {n}"))]);
                CampaignRecipient::new(tenant.id, campaign.id, phone(n), vars)
            })
            .collect();
        let t = Instant::now();
        store
            .insert_recipients(tenant.id, campaign.id, &batch)
            .await
            .expect("insert");
        took += t.elapsed();
    }
    took
}

async fn statuses(store: &SqlStore, total: usize) -> Duration {
    let (tenant, channel) = fixture(store).await;
    let messages = total / 2;
    for start in (0..messages).step_by(5_000) {
        let batch: Vec<_> = (start..(start + 5_000).min(messages))
            .map(|n| {
                let to = phone(n as u64);
                let body = OutboundMessage::new(to.as_str(), MessageContent::text("promo"));
                let mut m =
                    MessageRecord::outbound(tenant.id, channel.id, to, body, Priority::Bulk);
                m.status = MessageStatus::Sent;
                m.wamid = Some(format!("wamid.bench.{n}"));
                m
            })
            .collect();
        store.insert_messages(&batch).await.expect("messages");
    }
    let mut took = Duration::ZERO;
    // Delivered for every message, then read: two webhooks per message, 1,000 per batch.
    for status in [MessageStatus::Delivered, MessageStatus::Read] {
        for start in (0..messages).step_by(1_000) {
            let batch: Vec<_> = (start..(start + 1_000).min(messages))
                .map(|n| WamidUpdate {
                    wamid: format!("wamid.bench.{n}"),
                    update: StatusUpdate::new(status, Utc::now()),
                })
                .collect();
            let t = Instant::now();
            let changes = store
                .update_statuses_by_wamid(tenant.id, &batch)
                .await
                .expect("update");
            took += t.elapsed();
            assert!(changes.iter().all(|c| c.is_some_and(|c| c.moved())));
        }
    }
    took
}

async fn queue(store: &SqlStore, total: usize) -> Duration {
    let queue = store.queue();
    for start in (0..total).step_by(10_000) {
        let jobs: Vec<_> = (start..(start + 10_000).min(total))
            .map(|n| NewJob::new(format!("ch-{}", n % 10), n.to_string()))
            .collect();
        queue.enqueue_many(jobs).await.expect("enqueue");
    }
    let t = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let (mut done, mut reserving, mut acking) =
                    (0usize, Duration::ZERO, Duration::ZERO);
                loop {
                    let t = Instant::now();
                    let batch = queue
                        .reserve(&ReserveOptions::new(100, Duration::from_secs(60)))
                        .await
                        .expect("reserve");
                    reserving += t.elapsed();
                    if batch.is_empty() {
                        break (done, reserving, acking);
                    }
                    // As the dispatcher does: one acknowledgement round trip per batch.
                    let t = Instant::now();
                    let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
                    let stale = queue.ack_many(&leases).await.expect("ack");
                    assert!(stale.is_empty(), "every lease is live");
                    done += leases.len();
                    acking += t.elapsed();
                }
            })
        })
        .collect();
    let (mut done, mut reserving, mut acking) = (0, Duration::ZERO, Duration::ZERO);
    for w in workers {
        let (d, r, a) = w.await.expect("worker");
        done += d;
        reserving += r;
        acking += a;
    }
    let took = t.elapsed();
    println!(
        "    (worker time: reserve {:.1} s, ack {:.1} s, summed over 4 workers)",
        reserving.as_secs_f64(),
        acking.as_secs_f64()
    );
    assert_eq!(done, total, "every job reserved and acked once");
    took
}

async fn run(name: &str, store: SqlStore) {
    let n_recipients = size("WAGW_BENCH_RECIPIENTS", 1_000_000);
    let n_updates = size("WAGW_BENCH_UPDATES", 200_000);
    let n_jobs = size("WAGW_BENCH_JOBS", 50_000);
    println!("{name}:");
    let took = recipients(&store, n_recipients).await;
    println!(
        "  campaign recipients inserted   {}",
        rate(n_recipients, took)
    );
    let took = statuses(&store, n_updates).await;
    println!("  status updates by wamid        {}", rate(n_updates, took));
    let took = queue(&store, n_jobs).await;
    println!("  queue reserve + ack            {}", rate(n_jobs, took));
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        #[cfg(feature = "sqlite")]
        {
            let dir =
                std::env::temp_dir().join(format!("wagw-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("tmp");
            let url = format!("sqlite://{}", dir.join("bench.db").display());
            let store = SqlStore::connect(&url).await.expect("sqlite");
            run("SQLite (file, WAL, synchronous=FULL)", store.clone()).await;
            store.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        #[cfg(feature = "postgres")]
        match std::env::var("WAGW_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("wagw_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&url).await.expect("postgres");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .expect("schema");
                let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
                let options = options.options([("search_path", schema.as_str())]);
                let store = SqlStore::postgres(options, 8).await.expect("open");
                run("PostgreSQL", store.clone()).await;
                store.close().await;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await
                    .expect("drop schema");
            }
            _ => println!("PostgreSQL benches skipped: WAGW_TEST_POSTGRES_URL is unset"),
        }
    });
}
