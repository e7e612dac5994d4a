//! How long wagw takes to rebuild a lost Redis queue from the store, and what a queued job
//! costs Redis in memory.
//!
//! ```text
//! redis-server --port 6391 --save "" --appendonly no &     # a private, empty Redis
//! WAGW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! cargo run --release -p wagw-benches --bin rebuild_time -- redis://127.0.0.1:6391 \
//!     [--messages 1000000] [--backend postgres|sqlite]
//! ```
//!
//! Stores `--messages` queued outbound messages over 50 numbers (in a schema or SQLite file
//! of its own), then times [`Dispatcher::rebuild_queue`] — the path a dispatcher takes when
//! it finds its Redis queue lost — twice: into an empty queue (every job created) and once
//! more over the full queue (every job found by its dedup key, nothing created). Redis
//! `used_memory` is read before and after, for the bytes per queued job. Use a private Redis:
//! on a shared one, other clients' keys move `used_memory` too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use wagw_benches::sql::BenchDb;
use wagw_core::Queue;
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::model::channel::Channel;
use wagw_core::model::message::{MessageRecord, Priority};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{ChannelStore, MessageStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_queue_redis::RedisQueue;

const NUMBERS: usize = 50;
const INSERT_BATCH: usize = 5_000;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("rebuild_time: {what}: {e}");
    std::process::exit(2)
}

async fn used_memory(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap_or_else(|e| fail("redis url", e));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| fail("redis", e));
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| fail("INFO memory", e));
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| fail("INFO memory", "no used_memory"))
}

/// The command line.
#[derive(Parser)]
#[command(about = "How long rebuilding a lost Redis queue from the store takes")]
struct Args {
    /// A private, empty Redis (`used_memory` is read for the bytes per job).
    url: String,
    /// Queued messages to store and rebuild.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// The store holding them.
    #[arg(long, value_enum, default_value_t = Backend::Postgres)]
    backend: Backend,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Postgres,
    Sqlite,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    runtime.block_on(run(&args.url, args.messages, args.backend));
}

async fn run(url: &str, total: usize, backend: Backend) {
    let db = match backend {
        Backend::Sqlite => BenchDb::sqlite().await,
        Backend::Postgres => BenchDb::postgres(8)
            .await
            .unwrap_or_else(|| fail("environment", "WAGW_TEST_POSTGRES_URL is unset")),
    };
    let store = Arc::new(db.store.clone());
    let tenant = Tenant::new("Rebuild", Plan::enterprise());
    store
        .create_tenant(&tenant)
        .await
        .unwrap_or_else(|e| fail("tenant", e));
    let mut channels = Vec::new();
    for n in 0..NUMBERS {
        let channel = Channel::new(
            tenant.id,
            format!("n{n}"),
            format!("4000000000{n:05}"),
            "waba",
            wagw_benches::phone(9_000_000 + n as u64),
        );
        store
            .create_channel(&channel)
            .await
            .unwrap_or_else(|e| fail("channel", e));
        channels.push(channel);
    }
    let stored_at = Instant::now();
    let mut batch = Vec::with_capacity(INSERT_BATCH);
    for i in 0..total {
        let channel = &channels[i % NUMBERS];
        let to = wagw_benches::phone(i as u64);
        let body = OutboundMessage::new(to.as_str(), MessageContent::text("Halo, tagihan Anda."));
        batch.push(MessageRecord::outbound(
            tenant.id,
            channel.id,
            to,
            body,
            Priority::Normal,
        ));
        if batch.len() == INSERT_BATCH || i + 1 == total {
            store
                .insert_messages(&batch)
                .await
                .unwrap_or_else(|e| fail("insert", e));
            batch.clear();
        }
    }
    println!(
        "{}: {total} queued messages stored in {:.1} s",
        db.name,
        stored_at.elapsed().as_secs_f64()
    );

    let name = format!(
        "bench-rebuild-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let before = used_memory(url).await;
    let queue = Arc::new(
        RedisQueue::connect(url, &name)
            .await
            .unwrap_or_else(|e| fail("connect", e)),
    );
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        Arc::new(StubTransport::new_ok()),
        DispatcherConfig::default(),
    );
    let started = Instant::now();
    let created = dispatcher
        .rebuild_queue()
        .await
        .unwrap_or_else(|e| fail("rebuild", e));
    let took = started.elapsed();
    let after = used_memory(url).await;
    let stats = queue.stats().await.unwrap_or_else(|e| fail("stats", e));
    let again_at = Instant::now();
    let again = dispatcher
        .rebuild_queue()
        .await
        .unwrap_or_else(|e| fail("rebuild again", e));
    let again_took = again_at.elapsed();
    let per_million = |d: Duration| d.as_secs_f64() * 1_000_000.0 / total as f64;
    println!(
        "  rebuild into an empty queue: {created} jobs in {:.1} s = {:.0} jobs/s ({:.1} s per 1,000,000)",
        took.as_secs_f64(),
        created as f64 / took.as_secs_f64(),
        per_million(took)
    );
    println!(
        "  rebuild over the full queue: {again} created, {:.1} s ({:.1} s per 1,000,000)",
        again_took.as_secs_f64(),
        per_million(again_took)
    );
    println!(
        "  Redis used_memory {:.1} MiB → {:.1} MiB: {:.0} bytes per queued job ({} jobs, {} delayed)",
        before as f64 / 1_048_576.0,
        after as f64 / 1_048_576.0,
        after.saturating_sub(before) as f64 / stats.pending().max(1) as f64,
        stats.pending(),
        stats.delayed
    );
    let _ = queue.destroy().await;
    db.finish().await;
}
