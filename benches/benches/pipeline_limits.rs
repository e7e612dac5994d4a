//! The whole dispatcher per message with its limits on, on each store backend.
//!
//! "Limits on" means the configuration a gateway runs with: the default pair limit, the
//! 24-hour window check (each recipient sent an inbound message first, so every send passes
//! it), the monthly quota, and campaign messages (one running campaign per number; every
//! message is a campaign recipient's, so the dispatcher's campaign gate reads the campaign
//! twice per message and the recipient is marked sent), default `idle_poll`. Each number's
//! throughput is 1,000,000/s so the limiters decide but never make anyone wait: what is
//! measured is the library, not the rate.
//!
//! Each run also measures the old baseline, exactly as `benches/benches/dispatch.rs` does
//! (memory, pair limit and window off, no campaign, `idle_poll` 1 ms) with the same numbers
//! and message count, for the ratio; and, on each SQL backend, the same limits-off
//! configuration, for what the limits cost there. Runs alternate between the configurations so that the
//! noise of a shared machine falls on all of them alike.
//!
//! Messages are all submitted first (timed apart), then the dispatcher starts on a
//! single-threaded runtime and the clock runs until the last one is recorded as sent. The
//! database servers (PostgreSQL) and SQLite's connection threads run outside that one thread.
//!
//! `cargo bench -p wagw-benches --bench pipeline_limits`; `WAGW_TEST_POSTGRES_URL` adds
//! PostgreSQL. Sizes: `WAGW_BENCH_RUNS` (3), `WAGW_BENCH_NUMBERS` (1,000),
//! `WAGW_BENCH_MESSAGES` (memory, 100,000 per run), `WAGW_BENCH_SQL_MESSAGES` (20,000 per run).
//! `WAGW_BENCH_QUOTA=off` turns the monthly quota off in every configuration (a diagnostic:
//! the quota is on in the figures).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wagw_benches::sql::BenchDb;
use wagw_benches::{env_size, median, phone};
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, NewMessage};
use wagw_core::event::InboundMessage;
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, CampaignState,
};
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::message::{MessageRecord, Priority};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::testkit::StubTransport;
use wagw_core::{Queue, Store};
use wagw_store_memory::{MemoryQueue, MemoryStore};

/// Rows per store call while preparing a run.
const BATCH: usize = 5_000;

/// A tenant with one channel (and, with limits on, one running campaign) per number.
struct Fixture {
    tenant: Tenant,
    channels: Vec<Channel>,
    campaigns: Vec<Campaign>,
}

async fn fixture<S: Store + ?Sized>(store: &S, numbers: u64, campaigns: bool) -> Fixture {
    let tenant = Tenant::new("bench", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let mut fx = Fixture {
        tenant,
        channels: Vec::new(),
        campaigns: Vec::new(),
    };
    for n in 0..numbers {
        let mut ch = Channel::new(
            fx.tenant.id,
            "n",
            (100_000 + n).to_string(),
            "waba",
            phone(5_000_000 + n),
        );
        ch.throughput = Throughput::per_second(1_000_000).expect("rate");
        store.create_channel(&ch).await.expect("channel");
        if campaigns {
            let mut campaign = Campaign::new(
                fx.tenant.id,
                ch.id,
                format!("bench {n}"),
                CampaignContent::Text {
                    body: "Halo {nama}".into(),
                },
                Audience::default(),
            );
            campaign.state = CampaignState::Running;
            store.create_campaign(&campaign).await.expect("campaign");
            fx.campaigns.push(campaign);
        }
        fx.channels.push(ch);
    }
    fx
}

fn inbound(fx: &Fixture, channel: &Channel, from: u64) -> MessageRecord {
    let json = serde_json::json!({
        "from": phone(from).as_str(),
        "id": format!("wamid.in.{from}"),
        "timestamp": chrono_now_secs().to_string(),
        "type": "text",
        "text": { "body": "Halo" }
    });
    let message: InboundMessage = serde_json::from_value(json).expect("inbound text");
    MessageRecord::inbound(fx.tenant.id, channel.id, phone(from), message)
}

fn chrono_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `count` messages to distinct recipients `first..first + count`, spread over the numbers.
/// With limits on, each recipient first writes in (opening the 24-hour window) and is a
/// recipient of its number's campaign.
async fn prepare<S: Store + ?Sized>(
    store: &S,
    fx: &Fixture,
    first: u64,
    count: u64,
    limits: bool,
) -> Vec<NewMessage> {
    let numbers = fx.channels.len();
    let mut messages = Vec::with_capacity(count as usize);
    if !limits {
        for i in 0..count {
            let ch = &fx.channels[(i as usize * 31) % numbers];
            messages.push(NewMessage::new(
                fx.tenant.id,
                ch.id,
                phone(first + i),
                MessageContent::text("Halo"),
            ));
        }
        return messages;
    }
    let mut by_campaign: Vec<Vec<CampaignRecipient>> = vec![Vec::new(); numbers];
    let mut inbound_batch = Vec::with_capacity(BATCH);
    for i in 0..count {
        let k = (i as usize * 31) % numbers;
        let (ch, campaign) = (&fx.channels[k], &fx.campaigns[k]);
        let to = first + i;
        let vars = BTreeMap::from([("nama".to_owned(), format!("Pelanggan {to}"))]);
        let recipient = CampaignRecipient::new(fx.tenant.id, campaign.id, phone(to), vars);
        messages.push(
            NewMessage::new(fx.tenant.id, ch.id, phone(to), MessageContent::text("Halo"))
                .priority(Priority::Bulk)
                .campaign(campaign.id, recipient.id),
        );
        by_campaign[k].push(recipient);
        inbound_batch.push(inbound(fx, ch, to));
        if inbound_batch.len() == BATCH {
            store
                .insert_messages(&inbound_batch)
                .await
                .expect("inbound");
            inbound_batch.clear();
        }
    }
    if !inbound_batch.is_empty() {
        store
            .insert_messages(&inbound_batch)
            .await
            .expect("inbound");
    }
    for (k, recipients) in by_campaign.iter().enumerate() {
        if !recipients.is_empty() {
            store
                .insert_recipients(fx.tenant.id, fx.campaigns[k].id, recipients)
                .await
                .expect("recipients");
        }
    }
    messages
}

fn config(limits: bool) -> DispatcherConfig {
    // A diagnostic: every message of a tenant charges one usage counter, which the SQL
    // backends update under a row lock per message.
    let enforce_quota = std::env::var("WAGW_BENCH_QUOTA").map_or(true, |v| v != "off");
    let config = DispatcherConfig {
        enforce_quota,
        ..DispatcherConfig::default()
    };
    if limits {
        config
    } else {
        // The baseline, as benches/benches/dispatch.rs configures it.
        DispatcherConfig {
            enforce_window: false,
            pair_limit: None,
            idle_poll: Duration::from_millis(1),
            ..config
        }
    }
}

/// Submits `messages`, then runs a dispatcher until every one is sent; returns the time of
/// each phase.
async fn run_once<S, Q>(
    store: Arc<S>,
    queue: Arc<Q>,
    messages: Vec<NewMessage>,
    limits: bool,
) -> (Duration, Duration)
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
{
    let count = messages.len() as u64;
    let dispatcher = Dispatcher::new(
        store,
        queue,
        Arc::new(StubTransport::new_ok()),
        config(limits),
    );
    let submitting = Instant::now();
    let mut rest = messages;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(BATCH));
        dispatcher.submit_many(rest).await.expect("submit");
        rest = tail;
    }
    let submitted = submitting.elapsed();
    let started = Instant::now();
    let handle = dispatcher.start();
    let (mut progress, mut progressed) = (0, Instant::now());
    loop {
        let stats = dispatcher.stats();
        // A refusal (window, quota, campaign) would mean the limits were not passed, and the
        // figure would measure something else.
        assert_eq!(stats.failed, 0, "no message is refused: {stats:?}");
        if stats.sent >= count {
            break;
        }
        // A message held (a campaign not running) is never sent: say so instead of waiting.
        if stats.sent > progress {
            (progress, progressed) = (stats.sent, Instant::now());
        }
        assert!(
            progressed.elapsed() < Duration::from_secs(60),
            "no message sent for a minute: {stats:?}"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let sent = started.elapsed();
    handle.shutdown().await;
    let stats = dispatcher.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (count, 0, 0),
        "every message sent once, none refused or retried"
    );
    (submitted, sent)
}

/// One configuration's figures over the runs.
struct Series {
    name: String,
    messages: u64,
    submit: Vec<f64>,
    send: Vec<f64>,
}

impl Series {
    fn new(name: impl Into<String>, messages: u64) -> Self {
        Self {
            name: name.into(),
            messages,
            submit: Vec::new(),
            send: Vec::new(),
        }
    }

    fn record(&mut self, (submitted, sent): (Duration, Duration)) {
        let n = self.messages as f64;
        self.submit.push(n / submitted.as_secs_f64());
        self.send.push(n / sent.as_secs_f64());
        println!(
            "  {:<46} submit {:>8.0} msg/s   dispatch {:>8.0} msg/s = {:>6.1} µs/msg",
            self.name,
            n / submitted.as_secs_f64(),
            n / sent.as_secs_f64(),
            sent.as_secs_f64() * 1e6 / n
        );
    }

    fn dispatch_median(&self) -> f64 {
        median(&self.send)
    }
}

/// A SQL backend with its fixture, reused across runs (each run sends to new recipients).
struct SqlBackend {
    db: BenchDb,
    fixture: Fixture,
    /// Limits on.
    series: Series,
    /// Limits off, configured as the baseline: what the limits cost on this backend.
    off: Series,
}

/// Recipients of the limits-off SQL runs start here, apart from the limits-on ones.
const OFF_RECIPIENTS: u64 = 50_000_000;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs = env_size("WAGW_BENCH_RUNS", 3);
    let numbers = env_size("WAGW_BENCH_NUMBERS", 1_000);
    let mem_messages = env_size("WAGW_BENCH_MESSAGES", 100_000);
    let sql_messages = env_size("WAGW_BENCH_SQL_MESSAGES", 20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let base_store = Arc::new(MemoryStore::new());
        let base_fx = fixture(&*base_store, numbers, false).await;
        let mem_store = Arc::new(MemoryStore::new());
        let mem_fx = fixture(&*mem_store, numbers, true).await;
        let mut sql = Vec::new();
        let postgres = BenchDb::postgres(8).await;
        if postgres.is_none() {
            println!("PostgreSQL skipped: WAGW_TEST_POSTGRES_URL is unset");
        }
        for db in std::iter::once(BenchDb::sqlite().await).chain(postgres) {
            let fixture = fixture(&db.store, numbers, true).await;
            let series = Series::new(format!("{}, limits on", db.name), sql_messages);
            let off = Series::new(format!("{}, limits off", db.name), sql_messages);
            sql.push(SqlBackend {
                db,
                fixture,
                series,
                off,
            });
        }
        println!(
            "{numbers} numbers at 1,000,000/s, distinct recipients; {mem_messages} messages per run in memory, {sql_messages} in SQL; {runs} runs"
        );
        let mut baseline = Series::new("memory, limits off (dispatch.rs baseline)", mem_messages);
        let mut memory = Series::new("memory, limits on", mem_messages);
        for run in 0..runs {
            println!("run {}:", run + 1);
            let first = run * mem_messages;
            let messages = prepare(&*base_store, &base_fx, first, mem_messages, false).await;
            baseline.record(
                run_once(
                    Arc::clone(&base_store),
                    Arc::new(MemoryQueue::new()),
                    messages,
                    false,
                )
                .await,
            );
            let messages = prepare(&*mem_store, &mem_fx, first, mem_messages, true).await;
            memory.record(
                run_once(
                    Arc::clone(&mem_store),
                    Arc::new(MemoryQueue::new()),
                    messages,
                    true,
                )
                .await,
            );
            for backend in &mut sql {
                let first = run * sql_messages;
                let messages =
                    prepare(&backend.db.store, &backend.fixture, first, sql_messages, true).await;
                let store = Arc::new(backend.db.store.clone());
                let queue = Arc::new(backend.db.store.queue());
                backend.series.record(
                    run_once(Arc::clone(&store), Arc::clone(&queue), messages, true).await,
                );
                let first = OFF_RECIPIENTS + run * sql_messages;
                let messages =
                    prepare(&backend.db.store, &backend.fixture, first, sql_messages, false).await;
                backend
                    .off
                    .record(run_once(store, queue, messages, false).await);
            }
        }
        let base = baseline.dispatch_median();
        println!("medians over {runs} runs (dispatch phase; ratio = baseline / this):");
        let all = [&baseline, &memory]
            .into_iter()
            .chain(sql.iter().flat_map(|b| [&b.series, &b.off]));
        for series in all {
            let rate = series.dispatch_median();
            println!(
                "  {:<46} {:>8.0} msg/s = {:>6.1} µs/msg   {:>5.2}x baseline time   (runs: {})   submit {:>8.0} msg/s",
                series.name,
                rate,
                1e6 / rate,
                base / rate,
                series
                    .send
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                median(&series.submit)
            );
        }
        for backend in sql {
            backend.db.finish().await;
        }
    });
}
