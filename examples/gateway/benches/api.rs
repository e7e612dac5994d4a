//! Accepted sends per second through the gateway's HTTP API on loopback: `POST /v1/messages`
//! one at a time from concurrent clients, and `POST /v1/messages/bulk` with 1,000 messages a
//! call; latency p50/p99 per request, resident memory at rest and after load, and the
//! sandbox's start-up time. The dispatcher is not running: this measures acceptance (validate,
//! record durably, enqueue), the API's share of a send.
//!
//! ```sh
//! cargo bench -p gateway --bench api                       # SQLite file
//! WAGW_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p gateway --bench api
//! ```
//! `WAGW_BENCH_REQUESTS` (default 4,000) and `WAGW_BENCH_CLIENTS` (default 32) size the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::app::app;
use gateway::{Config, Gateway};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let requests = env_usize("WAGW_BENCH_REQUESTS", 4_000);
    let clients = env_usize("WAGW_BENCH_CLIENTS", 32);
    let dir = std::env::temp_dir().join(format!("wagw-gateway-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database_url = std::env::var("WAGW_BENCH_DATABASE_URL").ok();
    let backend = if database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let started = Instant::now();
    let config = Config {
        data_dir: dir.clone(),
        database_url,
        ..Config::default()
    };
    let gw = Gateway::build(&config, addr, None).await.expect("gateway");
    let startup = started.elapsed();
    gw.state
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let router = app(gw.state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let seeded = gw.seeded.clone().expect("sandbox");
    let key = seeded.api_key.clone();
    // Enterprise: no per-key request limit, so the figure is the gateway's, not the plan's.
    let mut tenant = gw
        .state
        .store
        .get_tenant(seeded.tenant)
        .await
        .expect("tenant");
    tenant.plan = wagw_core::model::tenant::Plan::enterprise();
    gw.state.store.update_tenant(&tenant).await.expect("plan");
    let channel = seeded.channels[0].to_string();
    let rss_rest = rss_kib();
    println!("gateway api bench: backend {backend}, {requests} requests, {clients} clients");
    println!(
        "sandbox start-up (store, migrations, emulator, seed): {} ms",
        startup.as_millis()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let body = |n: usize| {
        format!(
            r#"{{"channel_id":"{channel}","to":"0812{:08}","type":"template","template":{{"name":"hello_world","language":{{"code":"en_US"}}}}}}"#,
            n % 100_000_000
        )
    };

    // One message per request.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, key, next) = (client.clone(), key.clone(), Arc::clone(&next));
        let url = format!("http://{addr}/v1/messages");
        let bodygen = {
            let channel = channel.clone();
            move |n: usize| {
                format!(
                    r#"{{"channel_id":"{channel}","to":"0812{:08}","type":"template","template":{{"name":"hello_world","language":{{"code":"en_US"}}}}}}"#,
                    n % 100_000_000
                )
            }
        };
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("x-api-key", &key)
                    .header("content-type", "application/json")
                    .body(bodygen(n))
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status().as_u16(), 202, "accepted");
                let _ = response.bytes().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    let single = t0.elapsed();
    latencies.sort();
    println!(
        "POST /v1/messages: {:.0} accepted/s, p50 {:.2} ms, p99 {:.2} ms",
        requests as f64 / single.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );

    // Bulk: 1,000 messages per request.
    let calls = (requests / 1_000).max(2);
    let t1 = Instant::now();
    let mut bulk_latencies = Vec::new();
    for c in 0..calls {
        let items: Vec<String> = (0..1_000)
            .map(|i| body(1_000_000 + c * 1_000 + i))
            .collect();
        let payload = format!(r#"{{"messages":[{}]}}"#, items.join(","));
        let t = Instant::now();
        let response = client
            .post(format!("http://{addr}/v1/messages/bulk"))
            .header("x-api-key", &key)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await
            .expect("bulk");
        assert_eq!(response.status().as_u16(), 202, "bulk accepted");
        let _ = response.bytes().await;
        bulk_latencies.push(t.elapsed());
    }
    let bulk = t1.elapsed();
    bulk_latencies.sort();
    println!(
        "POST /v1/messages/bulk (1,000 per call, {calls} calls, one client): {:.0} accepted/s, p50 {:.0} ms, p99 {:.0} ms per call",
        (calls * 1_000) as f64 / bulk.as_secs_f64(),
        percentile(&bulk_latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&bulk_latencies, 0.99).as_secs_f64() * 1e3,
    );
    println!(
        "resident memory: {} MiB at rest, {} MiB after load",
        rss_rest / 1024,
        rss_kib() / 1024
    );
    gw.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
