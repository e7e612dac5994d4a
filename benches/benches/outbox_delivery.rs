//! Webhook-out deliveries per second to a local receiver: the outbox worker claims, signs,
//! POSTs through the SSRF guard and records every attempt, against a keep-alive HTTP/1.1
//! receiver on loopback that answers 200 at once.
//!
//! Baseline measured in the same run: the same number of POSTs of the same bodies through the
//! same guarded client at the same concurrency, without the store (no claim, no record, no
//! signing), so the ratio is what the outbox adds.
//!
//! `cargo bench -p wagw-benches --bench outbox_delivery` (`WAGW_BENCH_DELIVERIES`, default
//! 5,000 per round; PostgreSQL too with `WAGW_TEST_POSTGRES_URL`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use wagw_benches::sql::BenchDb;
use wagw_benches::{env_size, median};
use wagw_core::Store;
use wagw_core::ids::SubscriptionId;
use wagw_core::model::Secret;
use wagw_core::model::channel::Channel;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::model::webhook::{EventKind, WebhookDelivery, WebhookSubscription};
use wagw_core::net::{GuardedClient, HttpRequest, NetPolicy};
use wagw_core::outbox::{OutboxConfig, OutboxWorker};
use wagw_store_memory::MemoryStore;

const ROUNDS: usize = 3;
const CONCURRENCY: usize = 32;

/// A keep-alive receiver answering every request 200; returns its address and a hit counter.
async fn receiver() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let hits = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut buffer = Vec::with_capacity(4096);
                let mut chunk = [0u8; 8192];
                loop {
                    // Parse as many complete requests as the buffer holds.
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buffer.len() < end + 4 + length {
                            break;
                        }
                        buffer.drain(..end + 4 + length);
                        hits.fetch_add(1, Ordering::Relaxed);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, hits)
}

fn payload(i: u64) -> serde_json::Value {
    serde_json::json!({
        "from": "628123456789", "wamid": format!("wamid.bench.{i}"),
        "text": "Halo, saya mau cek tagihan bulan ini", "timestamp": "1764374400"
    })
}

async fn bench(
    name: &str,
    store: Arc<dyn Store>,
    addr: std::net::SocketAddr,
    hits: &AtomicU64,
    count: u64,
) {
    let tenant = Tenant::new(
        format!("bench-{}", uuid::Uuid::new_v4().simple()),
        Plan::enterprise(),
    );
    store.create_tenant(&tenant).await.expect("tenant");
    let channel = Channel::new(
        tenant.id,
        "n",
        uuid::Uuid::new_v4().simple().to_string(),
        "waba",
        wagw_benches::phone(9),
    );
    store.create_channel(&channel).await.expect("channel");
    let url = format!("http://{addr}/hooks");
    let subscription = WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: tenant.id,
        url: url.clone(),
        secret: Secret::new("rahasia"),
        events: BTreeSet::from([EventKind::MessageReceived]),
        active: true,
        created_at: Utc::now(),
    };
    store
        .create_subscription(&subscription)
        .await
        .expect("subscription");
    let policy = NetPolicy::default().allow("127.0.0.1/32").expect("allow");
    let config = OutboxConfig {
        batch: 256,
        concurrency: CONCURRENCY,
        lease: Duration::from_secs(60),
        ..OutboxConfig::default()
    };
    let worker = OutboxWorker::new(Arc::clone(&store), policy.clone(), config).expect("worker");
    let client = GuardedClient::new(policy).expect("client");

    let mut outbox_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    for _ in 0..ROUNDS {
        // Baseline: bare guarded POSTs.
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        let per_task = count / CONCURRENCY as u64;
        for t in 0..CONCURRENCY as u64 {
            let client = client.clone();
            let url = url.clone();
            tasks.spawn(async move {
                for i in 0..per_task {
                    let body = payload(t * per_task + i).to_string();
                    let response = client
                        .send(HttpRequest::new("POST", url.clone()).body(body))
                        .await
                        .expect("post");
                    assert_eq!(response.status, 200);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
        baseline_rates
            .push((per_task * CONCURRENCY as u64) as f64 / started.elapsed().as_secs_f64());

        // The outbox: enqueue (not timed), then drain.
        let deliveries: Vec<WebhookDelivery> = (0..count)
            .map(|i| {
                WebhookDelivery::new(
                    tenant.id,
                    subscription.id,
                    EventKind::MessageReceived,
                    payload(i),
                )
            })
            .collect();
        for chunk in deliveries.chunks(1000) {
            store.enqueue_deliveries(chunk).await.expect("enqueue");
        }
        let before = hits.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut delivered = 0;
        while delivered < count as usize {
            let report = worker.run_once(Utc::now()).await.expect("round");
            assert_eq!(report.retried + report.dead, 0, "every delivery succeeds");
            delivered += report.delivered;
            if report.claimed == 0 {
                break;
            }
        }
        outbox_rates.push(delivered as f64 / started.elapsed().as_secs_f64());
        assert_eq!(
            hits.load(Ordering::Relaxed) - before,
            count,
            "one POST per delivery"
        );
    }
    let (outbox, baseline) = (median(&outbox_rates), median(&baseline_rates));
    println!(
        "{name}: outbox {outbox:.0} deliveries/s (median of {ROUNDS}); baseline bare POSTs {baseline:.0}/s; ratio {:.2}",
        outbox / baseline
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count = env_size("WAGW_BENCH_DELIVERIES", 5_000);
    let (addr, hits) = receiver().await;
    println!("outbox_delivery: {count} deliveries per round, concurrency {CONCURRENCY}");
    bench("memory", Arc::new(MemoryStore::new()), addr, &hits, count).await;
    let sqlite = BenchDb::sqlite().await;
    bench(
        sqlite.name,
        Arc::new(sqlite.store.clone()),
        addr,
        &hits,
        count,
    )
    .await;
    sqlite.finish().await;
    if let Some(pg) = BenchDb::postgres(16).await {
        bench(pg.name, Arc::new(pg.store.clone()), addr, &hits, count).await;
        pg.finish().await;
    } else {
        println!("PostgreSQL: skipped (WAGW_TEST_POSTGRES_URL unset)");
    }
}
