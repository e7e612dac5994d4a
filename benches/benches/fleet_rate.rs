//! Fleet rate: 250 numbers at 80 messages/s each for 30 seconds in one run (20,000 messages/s
//! offered), through the dispatcher with its limits ON (default `DispatcherConfig`: pair
//! limit, 24-hour window check and quota all enforced), `MetaTransport` over loopback HTTP,
//! and the emulator enforcing 80/s per number (130429), the pair limit (131056) and the
//! customer-service window.
//!
//! Every recipient wrote first: an inbound message per (number, recipient) is stored (as
//! webhook ingestion would) and the emulator's window for it is opened, so the window check
//! runs a store lookup per message and passes. Each number has `RECIPIENTS` recipients taken
//! in turn: over the run a pair receives about 80 × 34 / 400 ≈ 7 messages, inside Meta's
//! burst of 45, so the pair limit is checked for every message but is not the binding limit;
//! the number's 80/s is.
//!
//! A feeder submits messages while the dispatcher runs, keeping about three seconds of
//! offered load queued, so the queue never runs dry and does not hold the whole run at once.
//!
//! Prints per-number achieved rate over the 30 s window (min / median / max and the worst
//! deviation from 80/s), the emulator's 130429 and 131056 counts, the total rate and the peak
//! resident memory.
//!
//! `cargo bench -p wagw-benches --bench fleet_rate`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wagw_benches::{peak_rss_mib, phone, rss_mib};
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, NewMessage};
use wagw_core::event::InboundMessage;
use wagw_core::ids::TenantId;
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::message::MessageRecord;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ChannelStore, MessageStore, TenantStore};
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{Emulator, PairLimit, PhoneNumberSpec, Throughput as EmuRate};
use wagw_store_memory::{MemoryQueue, MemoryStore};

const DEFAULT_NUMBERS: usize = 250;
const RATE: u32 = 80;
const RECIPIENTS: u64 = 400;
const WARM_UP: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(30);

/// How many numbers: 250, or `WAGW_FLEET_NUMBERS` (a smaller fleet on a busy machine shows
/// whether the pacing or the CPU is what falls short).
fn numbers() -> usize {
    std::env::var("WAGW_FLEET_NUMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_NUMBERS)
}

/// Queued-but-unsent messages the feeder keeps: three seconds of offered load.
fn backlog(numbers: usize) -> u64 {
    3 * u64::from(RATE) * numbers as u64
}
const FEED_BATCH: u64 = 2_000;
const TOKEN: &str = "bench-token";

type Fleet = Dispatcher<MemoryStore, MemoryQueue, MetaTransport>;

/// The `seq`-th outbound message of a channel. The one place a message is built, so a change
/// of the dispatcher's input type touches only this function.
fn message(tenant: TenantId, channel: &Channel, to: PhoneNumber, seq: u64) -> NewMessage {
    NewMessage::new(
        tenant,
        channel.id,
        to,
        MessageContent::text(format!("Halo, tagihan bulan ini sudah terbit ({seq}).")),
    )
    .idempotency_key(format!("fleet-{}-{seq}", channel.id))
}

/// The recipient of a channel's `seq`-th message: its recipients in turn.
fn recipient(channel_index: usize, seq: u64) -> PhoneNumber {
    phone(channel_index as u64 * RECIPIENTS + seq % RECIPIENTS)
}

/// A stored inbound text from `from`, as webhook ingestion records it: opens the window.
fn inbound(tenant: TenantId, channel: &Channel, from: &PhoneNumber, n: u64) -> MessageRecord {
    let json = serde_json::json!({
        "from": from.as_str(),
        "id": format!("wamid.IN.{}.{n}", channel.phone_number_id),
        "timestamp": unix_now_secs().to_string(),
        "type": "text",
        "text": { "body": "info tagihan" }
    });
    let item: InboundMessage = serde_json::from_value(json).expect("inbound text");
    MessageRecord::inbound(tenant, channel.id, from.clone(), item)
}

/// CPU time this process has used (user + system), from `/proc/self/stat` (Linux, whose
/// `/proc` counts in USER_HZ = 100 ticks per second).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Seconds this process's threads spent runnable but waiting for a core (sum over threads of
/// the second field of `/proc/self/task/*/schedstat`): how much the machine's other load
/// held the bench back.
fn runqueue_wait_seconds() -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .nth(1)
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total as f64 / 1e9)
}

fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Rig {
    emulator: Emulator,
    tenant: Tenant,
    channels: Vec<Channel>,
    dispatcher: Fleet,
}

async fn rig() -> Rig {
    let store = Arc::new(MemoryStore::new());
    let tenant = Tenant::new("fleet", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    // Meta's limits: 80/s per number, pair burst 45 then one per 6 s, 24-hour window.
    let mut builder = Emulator::builder()
        .seed(1)
        .access_token(TOKEN)
        .pair_limit(PairLimit::default())
        .throughput(EmuRate::per_second(RATE));
    let mut channels = Vec::new();
    for n in 0..numbers() {
        let pnid = format!("3000000000{n:05}");
        let display = phone(8_000_000 + n as u64);
        builder = builder.number(PhoneNumberSpec::new(&pnid, display.as_str(), "waba"));
        let mut ch = Channel::new(tenant.id, "fleet", pnid, "waba", display);
        ch.throughput = Throughput::per_second(RATE).expect("rate");
        store.create_channel(&ch).await.expect("channel");
        channels.push(ch);
    }
    let emulator = builder.start().await.expect("emulator");
    // Every recipient wrote first.
    for (i, ch) in channels.iter().enumerate() {
        let records: Vec<MessageRecord> = (0..RECIPIENTS)
            .map(|r| {
                let from = recipient(i, r);
                emulator
                    .open_window(&ch.phone_number_id, from.as_str())
                    .expect("window");
                inbound(tenant.id, ch, &from, r)
            })
            .collect();
        store.insert_messages(&records).await.expect("inbound");
    }
    let meta = MetaTransport::builder()
        .base_url(emulator.base_url())
        .access_token(TOKEN)
        .build()
        .expect("transport");
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(MemoryQueue::new()),
        Arc::new(meta),
        DispatcherConfig {
            // `WAGW_FLEET_CONCURRENCY` overrides the default number of jobs in hand.
            concurrency: std::env::var("WAGW_FLEET_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DispatcherConfig::default().concurrency),
            ..DispatcherConfig::default()
        },
    );
    Rig {
        emulator,
        tenant,
        channels,
        dispatcher,
    }
}

/// Submits messages round-robin over the channels while the backlog is under [`backlog`].
async fn feed(rig: &Rig, stop: &AtomicBool) -> u64 {
    let mut submitted = 0u64;
    let numbers = rig.channels.len();
    while !stop.load(Ordering::Relaxed) {
        let stats = rig.dispatcher.stats();
        let settled = stats.sent + stats.failed;
        if submitted.saturating_sub(settled) >= backlog(numbers) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let batch: Vec<NewMessage> = (submitted..submitted + FEED_BATCH)
            .map(|i| {
                let index = i as usize % numbers;
                let seq = i / numbers as u64;
                message(
                    rig.tenant.id,
                    &rig.channels[index],
                    recipient(index, seq),
                    seq,
                )
            })
            .collect();
        rig.dispatcher.submit_many(batch).await.expect("submit");
        submitted += FEED_BATCH;
        // Let the dispatcher run between batches on a busy runtime.
        tokio::task::yield_now().await;
    }
    submitted
}

#[derive(Clone, Copy, Default)]
struct Counts {
    accepted: u64,
    e130429: u64,
    e131056: u64,
    e131047: u64,
}

fn counts(rig: &Rig) -> Vec<Counts> {
    rig.channels
        .iter()
        .map(|ch| {
            rig.emulator
                .counters(&ch.phone_number_id)
                .map_or_else(Counts::default, |c| Counts {
                    accepted: c.accepted,
                    e130429: c.error(130429),
                    e131056: c.error(131056),
                    e131047: c.error(131047),
                })
        })
        .collect()
}

fn sum(counts: &[Counts], f: impl Fn(&Counts) -> u64) -> u64 {
    counts.iter().map(f).sum()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: skip it there.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let rss_before = rss_mib().unwrap_or(0.0);
        let rig = Arc::new(rig().await);
        let numbers = rig.channels.len();
        let inbound_stored = numbers as u64 * RECIPIENTS;
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = tokio::spawn({
            let rig = Arc::clone(&rig);
            let stop = Arc::clone(&stop);
            async move { feed(&rig, &stop).await }
        });
        let handle = rig.dispatcher.start();
        tokio::time::sleep(WARM_UP).await;
        let start = counts(&rig);
        let stats_start = rig.dispatcher.stats();
        let cpu_start = cpu_seconds().unwrap_or(0.0);
        let wait_start = runqueue_wait_seconds().unwrap_or(0.0);
        let started = Instant::now();
        tokio::time::sleep(WINDOW).await;
        let end = counts(&rig);
        let cpu = cpu_seconds().unwrap_or(0.0) - cpu_start;
        let waited = runqueue_wait_seconds().unwrap_or(0.0) - wait_start;
        let stats_end = rig.dispatcher.stats();
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let submitted = feeder.await.expect("feeder");
        handle.shutdown().await;

        let mut rates: Vec<f64> = start
            .iter()
            .zip(&end)
            .map(|(a, b)| (b.accepted - a.accepted) as f64 / elapsed)
            .collect();
        rates.sort_by(f64::total_cmp);
        let limit = f64::from(RATE);
        let worst = rates
            .iter()
            .map(|r| (r - limit).abs() / limit * 100.0)
            .fold(0.0, f64::max);
        let total: f64 = rates.iter().sum();
        let window = |f: fn(&Counts) -> u64| sum(&end, f) - sum(&start, f);
        println!(
            "fleet_rate: {numbers} numbers at {RATE}/s ({} msg/s offered) over {elapsed:.2} s, \
             limits on (pair limit, window check, quota; emulator 80/s, pair 45/6 s, window):",
            numbers as u64 * u64::from(RATE)
        );
        println!(
            "  per number: min {:.2}/s, median {:.2}/s, max {:.2}/s, worst deviation {worst:.2} %",
            rates[0],
            rates[rates.len() / 2],
            rates[rates.len() - 1],
        );
        println!(
            "  total {total:.0} msg/s; in the window: 130429 {}, 131056 {}, 131047 {}; \
             whole run: 130429 {}, 131056 {}, 131047 {}",
            window(|c| c.e130429),
            window(|c| c.e131056),
            window(|c| c.e131047),
            sum(&end, |c| c.e130429),
            sum(&end, |c| c.e131056),
            sum(&end, |c| c.e131047),
        );
        println!(
            "  dispatcher in the window: sent {}, failed {}, retried {}, throttled number {}, \
             throttled pair {}; submitted over the run {submitted}",
            stats_end.sent - stats_start.sent,
            stats_end.failed - stats_start.failed,
            stats_end.retried - stats_start.retried,
            stats_end.throttled_number - stats_start.throttled_number,
            stats_end.throttled_recipient - stats_start.throttled_recipient,
        );
        let settled = (stats_end.sent + stats_end.failed)
            .saturating_sub(stats_start.sent + stats_start.failed)
            .max(1);
        let per_message_us = cpu / settled as f64 * 1e6;
        println!(
            "  CPU in the window: {cpu:.1} s of the {:.0} s two cores offer ({:.0} %); \
             {per_message_us:.0} µs of CPU per message (dispatcher + HTTP client + emulator), \
             so two idle cores would carry about {:.0} msg/s; threads waited {waited:.1} s \
             runnable for a core taken by other processes",
            2.0 * elapsed,
            cpu / (2.0 * elapsed) * 100.0,
            2.0 / (per_message_us / 1e6),
        );
        println!(
            "  memory: {rss_before:.0} MiB at start, peak resident {:.0} MiB \
             ({inbound_stored} inbound messages stored before the run)",
            peak_rss_mib().unwrap_or(0.0)
        );
    });
}
