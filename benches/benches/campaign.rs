//! Campaign expansion: 1,000,000 CSV rows streamed into campaign recipients in the memory
//! backends. Prints the peak resident memory after the first run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wagw_core::campaign::CampaignEngine;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent};
use wagw_core::model::channel::Channel;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{ChannelStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_store_memory::{MemoryQueue, MemoryStore};

const ROWS: u64 = 1_000_000;

fn csv() -> String {
    let mut csv = String::with_capacity(ROWS as usize * 40);
    csv.push_str("nama,nomor,tagihan\n");
    for i in 0..ROWS {
        csv.push_str(&format!("Pelanggan {i},0812{:08},{}\n", i, 100_000 + i));
    }
    csv
}

fn expansion(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let csv = csv();
    let before = wagw_benches::rss_mib();
    let mut reported = false;
    let mut group = c.benchmark_group("campaign");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("expand_csv_1m", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += runtime.block_on(async {
                    let store = Arc::new(MemoryStore::new());
                    let tenant = Tenant::new("bench", Plan::enterprise());
                    store.create_tenant(&tenant).await.expect("tenant");
                    let channel = Channel::new(tenant.id, "n", "1", "waba", wagw_benches::phone(9));
                    store.create_channel(&channel).await.expect("channel");
                    let engine = CampaignEngine::new(Dispatcher::new(
                        Arc::clone(&store),
                        Arc::new(MemoryQueue::new()),
                        Arc::new(StubTransport::new_ok()),
                        DispatcherConfig::default(),
                    ));
                    let campaign = Campaign::new(
                        tenant.id,
                        channel.id,
                        "bench",
                        CampaignContent::Text { body: "Halo {nama}, tagihan {tagihan}".into() },
                        Audience::default(),
                    );
                    engine.create(&campaign).await.expect("create");
                    let started = Instant::now();
                    let report = engine
                        .import_csv(tenant.id, campaign.id, csv.as_bytes())
                        .await
                        .expect("import");
                    let elapsed = started.elapsed();
                    assert_eq!(report.added, ROWS);
                    if !reported {
                        reported = true;
                        eprintln!(
                            "campaign/expand_csv_1m: resident memory before {:.0} MiB, peak {:.0} MiB (store holding 1,000,000 recipients included)",
                            before.unwrap_or(0.0),
                            wagw_benches::peak_rss_mib().unwrap_or(0.0)
                        );
                    }
                    elapsed
                });
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, expansion);
criterion_main!(benches);
