//! Inbound webhooks (statuses and user messages mixed) verified, parsed and stored per second
//! on SQLite and PostgreSQL, through `wagw_meta::webhook::verify_and_parse` and
//! `InboundPipeline::ingest`, with `WAGW_BENCH_CONCURRENCY` webhook requests in flight.
//!
//! Each signed body carries `WAGW_BENCH_BATCH` (100) status items for outbound messages
//! recorded beforehand (so every status moves a message forward) and, every tenth body, ten
//! user messages (each stored with its contact, conversation job and outbox row). A baseline
//! measured in the same run applies the same status batches straight through
//! `MessageStore::update_statuses_by_wamid`, so the pipeline's own cost shows as a ratio.
//!
//! `WAGW_BENCH_BACKEND=sqlite|postgres` picks one backend (both by default; PostgreSQL needs
//! `WAGW_TEST_POSTGRES_URL`). `WAGW_BENCH_STATUSES` (100,000) sets the statuses per round;
//! three rounds run and the median is printed.
//!
//! `WAGW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p wagw-benches --bench inbound`

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use wagw_benches::sql::BenchDb;
use wagw_benches::{env_size, phone};
use wagw_core::conversation::{InboundPipeline, RoutedEvent};
use wagw_core::model::channel::Channel;
use wagw_core::model::message::{MessageRecord, MessageStatus, Priority};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{ChannelStore, MessageStore, TenantStore, WamidUpdate};
use wagw_store_sqlx::SqlStore;

const SECRET: &[u8] = b"bench-app-secret";
const PNID: &str = "106540352242922";
const WABA: &str = "102290129340398";

struct Round {
    statuses: u64,
    messages: u64,
    elapsed: Duration,
}

/// Records `count` sent outbound messages with wamids `wamid.B{round}.{n}`.
async fn seed(store: &SqlStore, tenant: &Tenant, channel: &Channel, round: u64, count: u64) {
    let now = Utc::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(5_000) {
        let records: Vec<MessageRecord> = chunk
            .iter()
            .map(|n| {
                let to = phone(*n % 50_000);
                let body = wagw_core::content::OutboundMessage::new(
                    to.as_str(),
                    wagw_core::content::MessageContent::text("Tagihan Anda"),
                );
                let mut m =
                    MessageRecord::outbound(tenant.id, channel.id, to, body, Priority::Bulk);
                m.status = MessageStatus::Sent;
                m.wamid = Some(format!("wamid.B{round}.{n}"));
                m.created_at = now;
                m
            })
            .collect();
        store.insert_messages(&records).await.expect("seed");
    }
}

/// Signed webhook bodies: `batch` delivered statuses each, ten user messages every tenth.
fn bodies(round: u64, statuses: u64, batch: u64) -> Vec<(Vec<u8>, String)> {
    let ts = Utc::now().timestamp().to_string();
    let mut out = Vec::new();
    let mut n = 0;
    let mut body_no = 0;
    while n < statuses {
        let items: Vec<_> = (n..(n + batch).min(statuses))
            .map(|i| {
                json!({"id": format!("wamid.B{round}.{i}"), "status": "delivered",
                       "timestamp": ts, "recipient_id": phone(i % 50_000).as_str()})
            })
            .collect();
        n += batch;
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "6281100000001", "phone_number_id": PNID},
            "statuses": items,
        });
        if body_no % 10 == 0 {
            let users: Vec<_> = (0..10u64)
                .map(|u| phone(900_000 + (body_no * 10 + u) % 20_000))
                .collect();
            value["contacts"] = users
                .iter()
                .map(|u| json!({"wa_id": u.as_str(), "profile": {"name": "Pelanggan"}}))
                .collect();
            value["messages"] = users
                .iter()
                .enumerate()
                .map(|(k, u)| {
                    json!({"from": u.as_str(), "id": format!("wamid.IN{round}.{body_no}.{k}"),
                           "timestamp": ts, "type": "text", "text": {"body": "Halo, info tagihan"}})
                })
                .collect();
        }
        body_no += 1;
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": value}]}],
        }))
        .expect("json");
        let signature = wagw_meta::webhook::sign(SECRET, &body);
        out.push((body, signature));
    }
    out
}

async fn pipeline_round(
    pipeline: &InboundPipeline<SqlStore>,
    bodies: Vec<(Vec<u8>, String)>,
    concurrency: usize,
) -> Round {
    let started = Instant::now();
    let reports: Vec<_> = futures::stream::iter(bodies)
        .map(|(body, signature)| async move {
            let events = wagw_meta::webhook::verify_and_parse(SECRET, &body, Some(&signature))
                .expect("verified");
            let events: Vec<RoutedEvent> = events.into_iter().map(RoutedEvent::from).collect();
            pipeline.ingest(&events).await.expect("stored")
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    Round {
        statuses: reports.iter().map(|r| r.statuses_moved).sum(),
        messages: reports.iter().map(|r| r.messages).sum(),
        elapsed,
    }
}

async fn baseline_round(
    store: &SqlStore,
    tenant: &Tenant,
    round: u64,
    statuses: u64,
    batch: u64,
    concurrency: usize,
) -> Round {
    let at = Utc::now();
    let batches: Vec<Vec<WamidUpdate>> = (0..statuses)
        .collect::<Vec<_>>()
        .chunks(batch as usize)
        .map(|c| {
            c.iter()
                .map(|i| WamidUpdate {
                    wamid: format!("wamid.B{round}.{i}"),
                    update: wagw_core::model::message::StatusUpdate::new(
                        MessageStatus::Delivered,
                        at,
                    ),
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let moved: Vec<u64> = futures::stream::iter(batches)
        .map(|b| async move {
            store
                .update_statuses_by_wamid(tenant.id, &b)
                .await
                .expect("stored")
                .iter()
                .flatten()
                .filter(|c| c.moved())
                .count() as u64
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    Round {
        statuses: moved.iter().sum(),
        messages: 0,
        elapsed: started.elapsed(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(db: BenchDb, statuses: u64, batch: u64, concurrency: usize) {
    let store = Arc::new(db.store.clone());
    let tenant = Tenant::new("bench", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let channel = Channel::new(tenant.id, "cs", PNID, WABA, phone(1));
    store.create_channel(&channel).await.expect("channel");
    let pipeline = InboundPipeline::new(Arc::clone(&store));
    let (mut through, mut msgs, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3u64 {
        // Pipeline and baseline each get their own fresh messages.
        seed(&store, &tenant, &channel, round * 2, statuses).await;
        seed(&store, &tenant, &channel, round * 2 + 1, statuses).await;
        let bodies = bodies(round * 2, statuses, batch);
        let p = pipeline_round(&pipeline, bodies, concurrency).await;
        assert_eq!(p.statuses, statuses, "every status moved a message");
        let b = baseline_round(&store, &tenant, round * 2 + 1, statuses, batch, concurrency).await;
        assert_eq!(b.statuses, statuses);
        let secs = p.elapsed.as_secs_f64();
        println!(
            "  round {round}: pipeline {:>8.0} statuses/s + {:>6.0} messages/s ({} statuses, {} messages in {:.2} s); baseline store alone {:>8.0} statuses/s",
            p.statuses as f64 / secs,
            p.messages as f64 / secs,
            p.statuses,
            p.messages,
            secs,
            b.statuses as f64 / b.elapsed.as_secs_f64()
        );
        through.push(p.statuses as f64 / secs);
        msgs.push(p.messages as f64 / secs);
        base.push(b.statuses as f64 / b.elapsed.as_secs_f64());
    }
    let (t, m, b) = (median(through), median(msgs), median(base));
    println!(
        "{}: median pipeline {t:.0} statuses/s with {m:.0} messages/s mixed in; store alone {b:.0} statuses/s; pipeline/store = {:.2}",
        db.name,
        t / b
    );
    db.finish().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let statuses = env_size("WAGW_BENCH_STATUSES", 100_000);
    let batch = env_size("WAGW_BENCH_BATCH", 100);
    let concurrency = env_size("WAGW_BENCH_CONCURRENCY", 8) as usize;
    let backend = std::env::var("WAGW_BENCH_BACKEND").unwrap_or_default();
    println!(
        "inbound webhooks: {statuses} statuses per round in bodies of {batch}, ten user messages every tenth body, {concurrency} requests in flight"
    );
    if backend.is_empty() || backend == "sqlite" {
        run(BenchDb::sqlite().await, statuses, batch, concurrency).await;
    }
    if backend.is_empty() || backend == "postgres" {
        match BenchDb::postgres(concurrency as u32 + 2).await {
            Some(db) => run(db, statuses, batch, concurrency).await,
            None => println!("PostgreSQL: skipped, WAGW_TEST_POSTGRES_URL is unset"),
        }
    }
}
