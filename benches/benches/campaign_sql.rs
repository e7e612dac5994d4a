//! A 1,000,000-recipient campaign on the SQL backends: CSV import (expansion into
//! recipients), then start and feeding (every recipient gets its message and the message its
//! queue job) with `SqlStore` and `SqlQueue`. The dispatcher is not started, so everything fed
//! stays in the database: recipients → messages → jobs.
//!
//! Prints expansion recipients/s, feeding messages/s (each message written with its job and
//! its recipient's link to it), and the process's peak resident memory (`VmHWM`) after each
//! phase. Peak memory is per process, so run one backend per process for a clean figure:
//!
//! `WAGW_BENCH_BACKEND=sqlite cargo bench -p wagw-benches --bench campaign_sql`
//! `WAGW_BENCH_BACKEND=postgres WAGW_TEST_POSTGRES_URL=… cargo bench -p wagw-benches --bench campaign_sql`
//!
//! Without `WAGW_BENCH_BACKEND` both run, SQLite first. `WAGW_BENCH_ROWS` (1,000,000) sets
//! the campaign's size.

use std::sync::Arc;
use std::time::Instant;

use wagw_benches::sql::BenchDb;
use wagw_benches::{env_size, peak_rss_mib, rss_mib};
use wagw_core::Queue;
use wagw_core::campaign::CampaignEngine;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent};
use wagw_core::model::channel::Channel;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{CampaignStore, ChannelStore, TenantStore};
use wagw_core::testkit::StubTransport;

fn csv(rows: u64) -> String {
    let mut csv = String::with_capacity(rows as usize * 40);
    csv.push_str("nama,nomor,tagihan\n");
    for i in 0..rows {
        csv.push_str(&format!("Pelanggan {i},0812{:08},{}\n", i, 100_000 + i));
    }
    csv
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| "?".to_owned(), |m| format!("{m:.0} MiB"))
}

async fn run(db: BenchDb, csv: &str, rows: u64) {
    println!("{}:", db.name);
    let store = Arc::new(db.store.clone());
    let queue = Arc::new(db.store.queue());
    let tenant = Tenant::new("bench", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let channel = Channel::new(tenant.id, "n", "1", "waba", wagw_benches::phone(9));
    store.create_channel(&channel).await.expect("channel");
    let engine = CampaignEngine::new(Dispatcher::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        Arc::new(StubTransport::new_ok()),
        DispatcherConfig::default(),
    ));
    let campaign = Campaign::new(
        tenant.id,
        channel.id,
        "bench",
        CampaignContent::Text {
            body: "Halo {nama}, tagihan {tagihan}".into(),
        },
        Audience::default(),
    );
    engine.create(&campaign).await.expect("create");

    let started = Instant::now();
    let report = engine
        .import_csv(tenant.id, campaign.id, csv.as_bytes())
        .await
        .expect("import");
    let expansion = started.elapsed();
    assert_eq!(report.added, rows, "every row became a recipient");
    println!(
        "  expansion  {rows} CSV rows → recipients in {:>7.1} s = {:>8.0} recipients/s   peak RSS {}",
        expansion.as_secs_f64(),
        rows as f64 / expansion.as_secs_f64(),
        mib(peak_rss_mib())
    );

    let started = Instant::now();
    engine
        .start(tenant.id, campaign.id, None)
        .await
        .expect("start");
    let mut ticks = 0;
    loop {
        engine.tick().await.expect("tick");
        ticks += 1;
        let now = store
            .get_campaign(tenant.id, campaign.id)
            .await
            .expect("campaign");
        if now.feed.done {
            break;
        }
    }
    let feeding = started.elapsed();
    let jobs = queue.stats().await.expect("queue stats");
    let counters = engine
        .counters(tenant.id, campaign.id)
        .await
        .expect("counters");
    assert_eq!(jobs.ready, rows, "one job per recipient, none sent");
    assert_eq!(
        (counters.total, counters.pending),
        (rows, rows),
        "every recipient still pending"
    );
    println!(
        "  feeding    start + {ticks} tick(s): {rows} messages + {} jobs in {:>7.1} s = {:>8.0} messages/s   peak RSS {}, RSS now {}",
        jobs.ready,
        feeding.as_secs_f64(),
        rows as f64 / feeding.as_secs_f64(),
        mib(peak_rss_mib()),
        mib(rss_mib())
    );
    db.finish().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = env_size("WAGW_BENCH_ROWS", 1_000_000);
    let backend = std::env::var("WAGW_BENCH_BACKEND").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let before = rss_mib();
    let csv = csv(rows);
    println!(
        "{rows} rows, CSV of {:.0} MiB; RSS before the CSV {}, with it {}",
        csv.len() as f64 / 1_048_576.0,
        mib(before),
        mib(rss_mib())
    );
    runtime.block_on(async {
        if backend.is_empty() || backend == "sqlite" {
            run(BenchDb::sqlite().await, &csv, rows).await;
        }
        if backend.is_empty() || backend == "postgres" {
            match BenchDb::postgres(8).await {
                Some(db) => run(db, &csv, rows).await,
                None => println!("PostgreSQL skipped: WAGW_TEST_POSTGRES_URL is unset"),
            }
        }
    });
}
