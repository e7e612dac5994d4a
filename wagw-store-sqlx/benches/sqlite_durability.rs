//! What SQLite's durability costs: the same writes on a file database with
//! `SqliteDurability::Full` (the default, every commit synced) and `SqliteDurability::Normal`
//! (synced at checkpoints):
//!
//! 1. message inserts one per call (as single sends arrive), then in batches of 1,000;
//! 2. status updates by wamid one per call, then in batches of 1,000;
//! 3. queue reserve + ack by 4 workers, 100 per reserve, one `ack_many` per batch.
//!
//! `cargo bench -p wagw-store-sqlx --bench sqlite_durability`; `WAGW_BENCH_SINGLE` sets the
//! one-per-call counts (1,000 by default), `WAGW_BENCH_BATCHED` the batched ones (20,000) and
//! `WAGW_BENCH_JOBS` the jobs (10,000). The database file lives under the system temporary
//! directory, which must be on a real disk for the figures to mean anything.

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::sqlite::SqliteConnectOptions;
use wagw_core::Queue;
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::model::channel::Channel;
use wagw_core::model::message::{MessageRecord, MessageStatus, Priority, StatusUpdate};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_core::store::{ChannelStore, MessageStore, TenantStore, WamidUpdate};
use wagw_store_sqlx::{SqlStore, SqliteDurability};

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
        "{n:>7} in {:>6.2} s = {:>8.0} /s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    )
}

fn message(tenant: &Tenant, channel: &Channel, n: usize, tag: &str) -> MessageRecord {
    let to = phone(n as u64);
    let body = OutboundMessage::new(to.as_str(), MessageContent::text("promo"));
    let mut m = MessageRecord::outbound(tenant.id, channel.id, to, body, Priority::Bulk);
    m.status = MessageStatus::Sent;
    m.wamid = Some(format!("wamid.{tag}.{n}"));
    m
}

async fn run(durability: SqliteDurability, dir: &std::path::Path) {
    let single = size("WAGW_BENCH_SINGLE", 1_000);
    let batched = size("WAGW_BENCH_BATCHED", 20_000);
    let jobs = size("WAGW_BENCH_JOBS", 10_000);
    let file = dir.join(format!("{durability:?}.db"));
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true);
    let store = SqlStore::sqlite_with_durability(options, 4, durability)
        .await
        .expect("open");
    let tenant = Tenant::new("bench", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let channel = Channel::new(tenant.id, "bench", "100200300", "1", phone(1));
    store.create_channel(&channel).await.expect("channel");
    println!("SQLite, {durability:?}:");

    let t = Instant::now();
    for n in 0..single {
        let m = message(&tenant, &channel, n, "one");
        store.insert_messages(&[m]).await.expect("insert");
    }
    println!(
        "  message insert, 1 per call         {}",
        rate(single, t.elapsed())
    );
    let mut took = Duration::ZERO;
    for start in (0..batched).step_by(1_000) {
        let batch: Vec<_> = (start..(start + 1_000).min(batched))
            .map(|n| message(&tenant, &channel, n, "many"))
            .collect();
        let t = Instant::now();
        store.insert_messages(&batch).await.expect("insert");
        took += t.elapsed();
    }
    println!(
        "  message insert, 1,000 per call     {}",
        rate(batched, took)
    );

    let t = Instant::now();
    for n in 0..single {
        let update = WamidUpdate {
            wamid: format!("wamid.one.{n}"),
            update: StatusUpdate::new(MessageStatus::Delivered, Utc::now()),
        };
        store
            .update_statuses_by_wamid(tenant.id, &[update])
            .await
            .expect("update");
    }
    println!(
        "  status update, 1 per call          {}",
        rate(single, t.elapsed())
    );
    let mut took = Duration::ZERO;
    for start in (0..batched).step_by(1_000) {
        let batch: Vec<_> = (start..(start + 1_000).min(batched))
            .map(|n| WamidUpdate {
                wamid: format!("wamid.many.{n}"),
                update: StatusUpdate::new(MessageStatus::Delivered, Utc::now()),
            })
            .collect();
        let t = Instant::now();
        store
            .update_statuses_by_wamid(tenant.id, &batch)
            .await
            .expect("update");
        took += t.elapsed();
    }
    println!(
        "  status update, 1,000 per call      {}",
        rate(batched, took)
    );

    let queue = store.queue();
    for start in (0..jobs).step_by(10_000) {
        let batch: Vec<_> = (start..(start + 10_000).min(jobs))
            .map(|n| NewJob::new(format!("ch-{}", n % 10), n.to_string()))
            .collect();
        queue.enqueue_many(batch).await.expect("enqueue");
    }
    let t = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut done = 0usize;
                loop {
                    let batch = queue
                        .reserve(&ReserveOptions::new(100, Duration::from_secs(60)))
                        .await
                        .expect("reserve");
                    if batch.is_empty() {
                        break done;
                    }
                    let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
                    let stale = queue.ack_many(&leases).await.expect("ack");
                    assert!(stale.is_empty(), "every lease is live");
                    done += leases.len();
                }
            })
        })
        .collect();
    let mut done = 0;
    for w in workers {
        done += w.await.expect("worker");
    }
    assert_eq!(done, jobs, "every job reserved and acked once");
    println!(
        "  queue reserve + ack                {}",
        rate(jobs, t.elapsed())
    );
    store.close().await;
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
        let dir =
            std::env::temp_dir().join(format!("wagw-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("tmp");
        for durability in [SqliteDurability::Full, SqliteDurability::Normal] {
            run(durability, &dir).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
