//! The fleet proof: dispatcher **processes** sharing one Redis queue and one PostgreSQL store
//! keep every number at its rate, never draw a throttling error, and settle every recipient
//! once — also when one of them is killed with `kill -9` mid-run.
//!
//! ```text
//! WAGW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! WAGW_TEST_REDIS_URL=redis://127.0.0.1:6379 \
//! cargo run --release -p wagw-benches --bin fleet_proof -- \
//!     --numbers 50 --recipients 30000 --processes 3 [--kill] [--rate 80] [--log-statements] \
//!     [--no-quota]
//! ```
//!
//! The harness creates a schema of its own in the PostgreSQL database and a queue of its own
//! (`{wagw:fleet-proof-…}:`) in Redis, starts the Cloud API emulator in-process with Meta's
//! rules on (each number a token bucket at `--rate`/s answering 130429 past it; the pair
//! limit answering 131056), creates `--numbers` channels and one campaign per number (a wagw
//! campaign sends from one number) with `--recipients` recipients in all, and feeds them.
//! Then it starts `--processes` copies of itself in `worker` mode — each a separate OS
//! process running a [`Dispatcher`] over its own store pool, queue connection and Meta
//! transport — and waits until every recipient is settled. With `--kill`, the first worker
//! is killed with SIGKILL once 40 % of the recipients were accepted by the emulator.
//!
//! Figures: each number's achieved rate (sends recorded in the store, between the 10th and
//! the 90th percentile of its send times, so start-up and the tail do not count) against the
//! rate, the most sends of one number in any second, the emulator's 130429 and 131056
//! counts, recipients by state, duplicates (sends the emulator accepted beyond one per
//! recipient: each recipient has exactly one message) and the ambiguous outcomes the
//! surviving workers counted. The harness exits non-zero when a promise is broken.
//!
//! `--log-statements` sets `log_min_duration_statement = 0` on the workers' store sessions
//! only (it needs a superuser, as the test database's `postgres` is), so PostgreSQL's server
//! log holds every statement the dispatchers ran, with its duration, and nothing from other
//! sessions; the harness prints the time span to read it for. `--no-quota` turns the
//! dispatchers' monthly quota charge off (`enforce_quota = false`), to measure its cost.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand};
use wagw_benches::sql::BenchDb;
use wagw_core::campaign::CampaignEngine;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent};
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{CampaignStore, ChannelStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{Emulator, PhoneNumberSpec, Throughput as EmuRate};
use wagw_queue_redis::RedisQueue;
use wagw_store_sqlx::SqlStore;

/// The emulator's access token.
const TOKEN: &str = "fleet-proof-token";
/// A killed worker's jobs come back after this; short, so the kill run ends soon.
const VISIBILITY: Duration = Duration::from_secs(5);
/// Store connections per worker process.
const WORKER_CONNECTIONS: u32 = 6;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("fleet_proof: {what}: {e}");
    std::process::exit(2)
}

/// The command line: the proof's settings, or (started by the proof itself) one worker.
#[derive(Parser)]
#[command(about = "Dispatcher processes sharing one Redis queue and one PostgreSQL store")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    #[command(flatten)]
    proof: Args,
}

#[derive(Subcommand)]
enum Role {
    /// One dispatcher process; the proof starts these itself.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// The proof's settings.
#[derive(clap::Args)]
struct Args {
    /// Sending numbers, each with a campaign of its own.
    #[arg(long, default_value_t = 50, value_parser = at_least_one())]
    numbers: usize,
    /// Recipients over all campaigns.
    #[arg(long, default_value_t = 30_000, value_parser = at_least_one())]
    recipients: usize,
    /// Dispatcher processes.
    #[arg(long, default_value_t = 3, value_parser = at_least_one())]
    processes: usize,
    /// Each number's throughput (messages per second), in the channels and the emulator.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,
    /// Kill the first worker with SIGKILL once 40 % of the recipients were accepted.
    #[arg(long)]
    kill: bool,
    /// Log every statement of the workers' store sessions (`log_min_duration_statement = 0`).
    #[arg(long)]
    log_statements: bool,
    /// Turn the monthly quota charge off, to measure its cost.
    #[arg(long)]
    no_quota: bool,
}

/// What one worker process is told by the proof.
#[derive(clap::Args)]
struct WorkerArgs {
    pg_url: String,
    schema: String,
    redis_url: String,
    queue: String,
    emulator_url: String,
    #[arg(long)]
    log_statements: bool,
    #[arg(long)]
    no_quota: bool,
}

fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

fn env_url(var: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| fail("environment", format!("{var} is unset")))
}

fn pnid(n: usize) -> String {
    format!("3000000000{n:05}")
}

/// Opens the harness's schema from another process; with `log`, every statement of its
/// sessions goes to the server log.
async fn open_store(pg_url: &str, schema: &str, log: bool) -> SqlStore {
    let options: sqlx::postgres::PgConnectOptions =
        pg_url.parse().unwrap_or_else(|e| fail("postgres url", e));
    let mut options = options.options([("search_path", schema)]);
    if log {
        options = options.options([("log_min_duration_statement", "0")]);
    }
    SqlStore::postgres(options, WORKER_CONNECTIONS)
        .await
        .unwrap_or_else(|e| fail("open the store", e))
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    if let Some(Role::Worker(w)) = cli.role {
        runtime.block_on(worker(w));
        return;
    }
    let ok = runtime.block_on(coordinate(cli.proof));
    std::process::exit(if ok { 0 } else { 1 });
}

/// Worker mode: sends until its stdin closes, printing `stats <sent> <ambiguous> <failed>
/// <retried> <130429> <131056>` every 200 ms and once more as `final …` after a graceful
/// shutdown.
async fn worker(w: WorkerArgs) {
    let store = Arc::new(open_store(&w.pg_url, &w.schema, w.log_statements).await);
    let queue = Arc::new(
        RedisQueue::connect(&w.redis_url, &w.queue)
            .await
            .unwrap_or_else(|e| fail("connect to redis", e)),
    );
    let transport = MetaTransport::builder()
        .base_url(&w.emulator_url)
        .access_token(TOKEN)
        .build()
        .unwrap_or_else(|e| fail("transport", e));
    let dispatcher = Dispatcher::new(
        store,
        queue,
        Arc::new(transport),
        DispatcherConfig {
            enforce_window: false,
            visibility: VISIBILITY,
            idle_poll: Duration::from_millis(10),
            enforce_quota: !w.no_quota,
            ..DispatcherConfig::default()
        },
    );
    let handle = dispatcher.start();
    let closed = Arc::new(AtomicBool::new(false));
    std::thread::spawn({
        let closed = Arc::clone(&closed);
        move || {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
            closed.store(true, Ordering::Release);
        }
    });
    let line = |tag: &str| {
        let s = dispatcher.stats();
        println!(
            "{tag} {} {} {} {} {} {}",
            s.sent, s.ambiguous, s.failed, s.retried, s.throttled_number, s.throttled_recipient
        );
        let _ = std::io::stdout().flush();
    };
    while !closed.load(Ordering::Acquire) {
        line("stats");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    handle.shutdown().await;
    line("final");
}

/// What a worker said last.
#[derive(Debug, Clone, Copy, Default)]
struct WorkerStats {
    sent: u64,
    ambiguous: u64,
    failed: u64,
    retried: u64,
    throttled_number: u64,
    throttled_recipient: u64,
    finished: bool,
}

struct WorkerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stats: Arc<Mutex<WorkerStats>>,
    killed: bool,
}

fn spawn_worker(args: &[String]) -> WorkerProcess {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail("own executable", e));
    let mut child = Command::new(exe)
        .arg("worker")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail("start a worker", e));
    let stdin = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| fail("worker", "no stdout"));
    let stats = Arc::new(Mutex::new(WorkerStats::default()));
    std::thread::spawn({
        let stats = Arc::clone(&stats);
        move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                let tag = parts.next().unwrap_or_default();
                let n: Vec<u64> = parts.filter_map(|p| p.parse().ok()).collect();
                if n.len() == 6 && (tag == "stats" || tag == "final") {
                    *stats.lock().unwrap_or_else(|p| p.into_inner()) = WorkerStats {
                        sent: n[0],
                        ambiguous: n[1],
                        failed: n[2],
                        retried: n[3],
                        throttled_number: n[4],
                        throttled_recipient: n[5],
                        finished: tag == "final",
                    };
                }
            }
        }
    });
    WorkerProcess {
        child,
        stdin,
        stats,
        killed: false,
    }
}

/// Sends recorded per channel: the times of its `sent` messages, in order.
async fn send_times(pool: &sqlx::PgPool) -> HashMap<String, Vec<DateTime<Utc>>> {
    let rows: Vec<(uuid::Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT channel_id, updated_at FROM messages WHERE status = 'sent' ORDER BY updated_at",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| fail("read send times", e));
    let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for (channel, at) in rows {
        out.entry(channel.to_string()).or_default().push(at);
    }
    out
}

/// Sends per second between the 10th and 90th percentile of a number's send times.
fn steady_rate(times: &[DateTime<Utc>]) -> f64 {
    if times.len() < 10 {
        return f64::NAN;
    }
    let lo = times.len() / 10;
    let hi = times.len() * 9 / 10;
    let span = (times[hi] - times[lo]).as_seconds_f64();
    (hi - lo) as f64 / span
}

/// The most sends within any one second.
fn busiest_second(times: &[DateTime<Utc>]) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while (times[end] - times[start]).num_milliseconds() >= 1_000 {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

async fn coordinate(a: Args) -> bool {
    let pg_url = env_url("WAGW_TEST_POSTGRES_URL");
    let redis_url = env_url("WAGW_TEST_REDIS_URL");
    println!(
        "fleet proof: {} numbers at {}/s, {} recipients, {} worker processes{}",
        a.numbers,
        a.rate,
        a.recipients,
        a.processes,
        if a.kill {
            ", one killed with SIGKILL at 40 %"
        } else {
            ""
        }
    );
    let db = BenchDb::postgres(4)
        .await
        .unwrap_or_else(|| fail("environment", "WAGW_TEST_POSTGRES_URL is unset"));
    let schema = db
        .schema()
        .unwrap_or_else(|| fail("store", "not PostgreSQL"))
        .to_owned();
    let pool = {
        let options: sqlx::postgres::PgConnectOptions =
            pg_url.parse().unwrap_or_else(|e| fail("postgres url", e));
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await
            .unwrap_or_else(|e| fail("postgres", e))
    };
    let store = Arc::new(db.store.clone());

    let mut builder = Emulator::builder()
        .seed(7)
        .access_token(TOKEN)
        .customer_window(None)
        .throughput(EmuRate::per_second(a.rate));
    for n in 0..a.numbers {
        let display = wagw_benches::phone(8_000_000 + n as u64);
        builder = builder.number(PhoneNumberSpec::new(pnid(n), display.as_str(), "waba"));
    }
    let emulator = builder
        .start()
        .await
        .unwrap_or_else(|e| fail("emulator", e));

    let tenant = Tenant::new("Fleet", Plan::enterprise());
    store
        .create_tenant(&tenant)
        .await
        .unwrap_or_else(|e| fail("tenant", e));
    let mut channels = Vec::new();
    for n in 0..a.numbers {
        let display = wagw_benches::phone(8_000_000 + n as u64);
        let mut channel = Channel::new(tenant.id, format!("n{n}"), pnid(n), "waba", display);
        channel.throughput = Throughput::per_second(a.rate).unwrap_or_else(|e| fail("rate", e));
        store
            .create_channel(&channel)
            .await
            .unwrap_or_else(|e| fail("channel", e));
        channels.push(channel);
    }

    let queue_name = format!(
        "fleet-proof-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let queue = Arc::new(
        RedisQueue::connect(&redis_url, &queue_name)
            .await
            .unwrap_or_else(|e| fail("connect to redis", e)),
    );
    let engine = CampaignEngine::new(Dispatcher::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        Arc::new(StubTransport::new_ok()),
        DispatcherConfig::default(),
    ));
    let fed_at = Instant::now();
    let per_number = a.recipients.div_ceil(a.numbers);
    let mut campaigns = Vec::new();
    let mut recipient = 0u64;
    for channel in &channels {
        let campaign = Campaign::new(
            tenant.id,
            channel.id,
            "Info gangguan",
            CampaignContent::Text {
                body: "Halo {nama}, layanan sedang gangguan.".into(),
            },
            Audience::default(),
        );
        engine
            .create(&campaign)
            .await
            .unwrap_or_else(|e| fail("campaign", e));
        let mut csv = String::from("nama,nomor\n");
        for _ in 0..per_number {
            if recipient as usize >= a.recipients {
                break;
            }
            csv.push_str(&format!(
                "Pelanggan {recipient},+{}\n",
                wagw_benches::phone(recipient).as_str()
            ));
            recipient += 1;
        }
        engine
            .import_csv(tenant.id, campaign.id, csv.as_bytes())
            .await
            .unwrap_or_else(|e| fail("import", e));
        engine
            .start(tenant.id, campaign.id, None)
            .await
            .unwrap_or_else(|e| fail("start", e));
        campaigns.push(campaign.id);
    }
    loop {
        engine.tick().await.unwrap_or_else(|e| fail("feed", e));
        let mut done = true;
        for id in &campaigns {
            let c = store
                .get_campaign(tenant.id, *id)
                .await
                .unwrap_or_else(|e| fail("campaign", e));
            done &= c.feed.done;
        }
        if done {
            break;
        }
    }
    println!(
        "  fed {} recipients in {} campaigns in {:.1} s",
        recipient,
        campaigns.len(),
        fed_at.elapsed().as_secs_f64()
    );
    let total = recipient;

    let mut worker_args = vec![
        pg_url.clone(),
        schema.clone(),
        redis_url.clone(),
        queue_name.clone(),
        emulator.base_url().to_owned(),
    ];
    if a.log_statements {
        worker_args.push("--log-statements".into());
    }
    if a.no_quota {
        worker_args.push("--no-quota".into());
    }
    let started = Instant::now();
    let started_at = Utc::now();
    let mut workers: Vec<WorkerProcess> = (0..a.processes)
        .map(|_| spawn_worker(&worker_args))
        .collect();
    let accepted = |emulator: &Emulator| -> u64 {
        (0..a.numbers)
            .filter_map(|n| emulator.counters(&pnid(n)))
            .map(|c| c.accepted)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(1_800);
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if a.kill && !workers[0].killed && accepted(&emulator) * 10 >= total * 4 {
            let _ = workers[0].child.kill();
            let _ = workers[0].child.wait();
            workers[0].killed = true;
            println!(
                "  killed worker 1 (pid {}) with SIGKILL after {:.1} s, {} accepted",
                workers[0].child.id(),
                started.elapsed().as_secs_f64(),
                accepted(&emulator)
            );
        }
        let (pending,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM campaign_recipients WHERE status = 'pending'")
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| fail("count recipients", e));
        if last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            println!(
                "  {:>6.1} s: {} accepted, {pending} pending",
                started.elapsed().as_secs_f64(),
                accepted(&emulator)
            );
        }
        if pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            println!("  gave up after 30 minutes with {pending} recipients pending");
            break;
        }
    }
    let elapsed = started.elapsed();
    for w in &mut workers {
        drop(w.stdin.take());
    }
    for w in &mut workers {
        if !w.killed {
            let _ = w.child.wait();
        }
    }
    if a.log_statements {
        println!(
            "  the workers' statements are in the PostgreSQL server log from {} to {} UTC",
            started_at.format("%H:%M:%S%.3f"),
            Utc::now().format("%H:%M:%S%.3f")
        );
    }

    // Figures.
    let by_channel = send_times(&pool).await;
    let mut rates = Vec::new();
    let mut busiest = 0;
    let mut within = 0;
    for channel in &channels {
        let times = by_channel
            .get(&channel.id.to_string())
            .cloned()
            .unwrap_or_default();
        let rate = steady_rate(&times);
        if ((rate - f64::from(a.rate)) / f64::from(a.rate)).abs() <= 0.02 {
            within += 1;
        }
        rates.push(rate);
        busiest = busiest.max(busiest_second(&times));
    }
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let (mut e130429, mut e131056, mut accepted_total) = (0, 0, 0);
    for n in 0..a.numbers {
        if let Some(c) = emulator.counters(&pnid(n)) {
            e130429 += c.error(130_429);
            e131056 += c.error(131_056);
            accepted_total += c.accepted;
        }
    }
    let by_state: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM campaign_recipients GROUP BY status ORDER BY status",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_else(|e| fail("recipient states", e));
    let (unsettled_messages,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending') AND direction = 'outbound'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| fail("message states", e));
    let (one_message_each,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM campaign_recipients r JOIN messages m \
         ON m.id = r.message_id AND m.recipient_id = r.id",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| fail("recipient messages", e));
    let survivors: Vec<WorkerStats> = workers
        .iter()
        .filter(|w| !w.killed)
        .map(|w| *w.stats.lock().unwrap_or_else(|p| p.into_inner()))
        .collect();
    let ambiguous: u64 = survivors.iter().map(|s| s.ambiguous).sum();
    let duplicates = accepted_total.saturating_sub(total);
    let settled: i64 = by_state
        .iter()
        .filter(|(s, _)| s != "pending")
        .map(|(_, n)| n)
        .sum();

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| numbers × rate | {} × {}/s = {}/s |",
        a.numbers,
        a.rate,
        a.numbers as u64 * u64::from(a.rate)
    );
    println!(
        "| recipients, worker processes | {total}, {}{} |",
        a.processes,
        if a.kill { " (1 killed at 40 %)" } else { "" }
    );
    println!(
        "| wall time, overall | {:.1} s, {:.0} msg/s |",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| per-number steady rate (p10–p90 of send times): min / median / max | {:.2} / {:.2} / {:.2} per s |",
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    println!(
        "| numbers within 2 % of {}/s | {within} of {} |",
        a.rate, a.numbers
    );
    println!("| most sends of one number in any 1 s | {busiest} |");
    println!("| emulator 130429 / 131056 | {e130429} / {e131056} |");
    println!(
        "| recipients settled | {settled} of {total} ({}) |",
        by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("| recipients with their one message | {one_message_each} |");
    println!("| messages left queued/sending | {unsettled_messages} |");
    println!("| emulator accepted, duplicates | {accepted_total}, {duplicates} |");
    println!(
        "| ambiguous counted by the survivors | {ambiguous} ({}) |",
        survivors
            .iter()
            .map(|s| format!(
                "sent {} amb {} failed {} retried {} 130429 {} 131056 {}{}",
                s.sent,
                s.ambiguous,
                s.failed,
                s.retried,
                s.throttled_number,
                s.throttled_recipient,
                if s.finished { "" } else { ", no final line" }
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );

    let ok = settled == total as i64
        && one_message_each == total as i64
        && unsettled_messages == 0
        && e130429 == 0
        && e131056 == 0
        && duplicates <= ambiguous;
    println!(
        "\n{}",
        if ok {
            "every promise held (rates: see the within-2 % row)"
        } else {
            "A PROMISE WAS BROKEN"
        }
    );
    let _ = queue.destroy().await;
    pool.close().await;
    emulator.shutdown().await;
    db.finish().await;
    ok
}
