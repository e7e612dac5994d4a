//! The Redis queue's throughput, memory and rate precision, for the side-by-side comparison
//! with BullMQ in `benches/redis_vs_bullmq.sh` (which runs this against the same Redis).
//!
//! ```text
//! cargo run --release -p wagw-benches --bin redis_queue -- redis://127.0.0.1:6390
//! ```
//!
//! Prints one line per figure; each throughput figure with the CPU time per job of the Redis
//! server (`INFO cpu`) and of this process. `WAGW_BENCH_ONLY=throughput` stops after the
//! throughput figures, `WAGW_BENCH_ONLY=precision` runs only the rate precision ones, and
//! `WAGW_BENCH_RESERVERS` (default `4,8`) lists the reserver counts each processing figure
//! is run with.
//! `precision-worker` is the child mode used for the rate precision runs: each child is a
//! separate process reserving from one shared queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use wagw_core::Queue;
use wagw_core::queue::{FleetLimits, NewJob, ReserveOptions};
use wagw_queue_redis::RedisQueue;

const VISIBLE: Duration = Duration::from_secs(300);
/// The dispatcher's own payload size: two UUIDs.
const PAYLOAD: [u8; 32] = [7; 32];

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn queue(url: &str, name: &str) -> RedisQueue {
    RedisQueue::connect(url, name)
        .await
        .unwrap_or_else(|e| fail("connect", e))
}

fn jobs(n: usize, groups: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| {
            NewJob::new(format!("g{}", i % groups), PAYLOAD.to_vec()).dedup_key(format!("m{i}"))
        })
        .collect()
}

async fn enqueue_all(q: &RedisQueue, n: usize, groups: usize) {
    for chunk in jobs(n, groups).chunks(10_000) {
        q.enqueue_many(chunk.to_vec())
            .await
            .unwrap_or_else(|e| fail("enqueue", e));
    }
}

/// One section of the server's `INFO`.
async fn redis_info(url: &str, section: &str) -> String {
    let client = redis::Client::open(url).unwrap_or_else(|e| fail("url", e));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| fail("connect", e));
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| fail("info", e))
}

/// Seconds of CPU the Redis server has used (`INFO cpu`: user + system, every thread).
async fn redis_cpu(url: &str) -> f64 {
    redis_info(url, "cpu")
        .await
        .lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_user:")
                .or_else(|| l.strip_prefix("used_cpu_sys:"))
        })
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

/// Seconds of CPU this process has used (Linux `/proc/self/stat`, user + system; 0 elsewhere).
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks of 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Jobs per second of `enqueue_many` (10,000 per call, 500 per script, 4 scripts in flight),
/// median of 3, and the Redis and client CPU time per job (µs) over the 3 runs.
async fn bench_enqueue(url: &str, n: usize) -> (f64, f64, f64) {
    let mut rates = Vec::new();
    let mut cpu = 0.0;
    let mut client = 0.0;
    for run in 0..3 {
        let q = queue(url, &format!("bench-enqueue-{run}")).await;
        let _ = q.destroy().await;
        let q = queue(url, &format!("bench-enqueue-{run}")).await;
        let batch = jobs(n, 100);
        let cpu_before = redis_cpu(url).await;
        let client_before = own_cpu();
        let started = Instant::now();
        for chunk in batch.chunks(10_000) {
            q.enqueue_many(chunk.to_vec())
                .await
                .unwrap_or_else(|e| fail("enqueue", e));
        }
        rates.push(n as f64 / started.elapsed().as_secs_f64());
        client += own_cpu() - client_before;
        cpu += redis_cpu(url).await - cpu_before;
        let _ = q.destroy().await;
    }
    let per_job = |secs: f64| secs * 1e6 / (3 * n) as f64;
    (median(rates), per_job(cpu), per_job(client))
}

/// Jobs per second of reserve(256) + ack_many with `workers` concurrent reservers on one
/// connection, after `n` jobs were enqueued over `groups` groups, and the Redis and client
/// CPU time per job (µs).
async fn bench_process(
    url: &str,
    n: usize,
    groups: usize,
    cap: Option<usize>,
    limits: bool,
    workers: usize,
) -> (f64, f64, f64) {
    let name = format!("bench-process-{groups}-{}-{limits}", cap.unwrap_or(0));
    let q = queue(url, &name).await;
    let _ = q.destroy().await;
    let q = Arc::new(queue(url, &name).await);
    if limits {
        // Charged on every reservation, but high enough never to bind.
        for g in 0..groups {
            q.set_rate(&format!("g{g}"), 1_000_000, 1_000)
                .await
                .unwrap_or_else(|e| fail("set rate", e));
        }
    }
    enqueue_all(&q, n, groups).await;
    let cpu_before = redis_cpu(url).await;
    let client_before = own_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    // A reserver stops when every job is processed, not at its first empty reservation: a
    // group served in this millisecond is eligible again from the next one, so a reserver
    // can find nothing while jobs remain.
    let processed = Arc::new(AtomicUsize::new(0));
    for _ in 0..workers {
        let q = Arc::clone(&q);
        let processed = Arc::clone(&processed);
        tasks.push(tokio::spawn(async move {
            let mut options = ReserveOptions::new(256, VISIBLE);
            options.max_per_group = cap;
            let mut done = 0usize;
            while processed.load(Ordering::Relaxed) < n {
                let got = q
                    .reserve(&options)
                    .await
                    .unwrap_or_else(|e| fail("reserve", e));
                if got.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let leases: Vec<_> = got.iter().map(|r| r.lease).collect();
                let stale = q.ack_many(&leases).await.unwrap_or_else(|e| fail("ack", e));
                assert!(stale.is_empty());
                done += got.len();
                processed.fetch_add(got.len(), Ordering::Relaxed);
            }
            done
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap_or_else(|e| fail("join", e));
    }
    let rate = done as f64 / started.elapsed().as_secs_f64();
    let client = own_cpu() - client_before;
    let cpu = redis_cpu(url).await - cpu_before;
    assert_eq!(done, n, "every job processed once");
    let _ = q.destroy().await;
    (rate, cpu * 1e6 / n as f64, client * 1e6 / n as f64)
}

async fn used_memory(url: &str) -> u64 {
    redis_info(url, "memory")
        .await
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_default()
}

/// Bytes of Redis memory per queued job with `n` jobs queued over 1,000 groups.
async fn bench_memory(url: &str, n: usize) -> f64 {
    let q = queue(url, "bench-memory").await;
    let _ = q.destroy().await;
    let q = queue(url, "bench-memory").await;
    let before = used_memory(url).await;
    enqueue_all(&q, n, 1_000).await;
    let after = used_memory(url).await;
    let _ = q.destroy().await;
    (after.saturating_sub(before)) as f64 / n as f64
}

/// Child: reserves and acks from `name` for `secs`, then prints one line per group with
/// the local times (ms) of its reservations.
async fn precision_worker(url: &str, name: &str, secs: u64) {
    let q = queue(url, name).await;
    let until = Instant::now() + Duration::from_secs(secs);
    let epoch = std::time::SystemTime::UNIX_EPOCH;
    let mut times: HashMap<String, Vec<u64>> = HashMap::new();
    while Instant::now() < until {
        let got = q
            .reserve(&ReserveOptions::new(256, VISIBLE))
            .await
            .unwrap_or_else(|e| fail("reserve", e));
        let at = std::time::SystemTime::now()
            .duration_since(epoch)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        for r in &got {
            times.entry(r.job.group.clone()).or_default().push(at);
        }
        if !got.is_empty() {
            let leases: Vec<_> = got.iter().map(|r| r.lease).collect();
            q.ack_many(&leases).await.unwrap_or_else(|e| fail("ack", e));
        } else {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    for (group, t) in times {
        let list: Vec<String> = t.iter().map(u64::to_string).collect();
        println!("{group} {}", list.join(","));
    }
}

/// 50 numbers at 80/s (burst 4) shared by `processes` worker processes for `secs`: the
/// achieved rate of each number, and the reservations the emulator's bucket (80 tokens at
/// 80/s) would refuse.
async fn bench_precision(url: &str, processes: usize, secs: u64) -> (f64, f64, usize) {
    const GROUPS: usize = 50;
    const RATE: u32 = 80;
    let name = format!("bench-precision-{processes}");
    let q = queue(url, &name).await;
    let _ = q.destroy().await;
    let q = queue(url, &name).await;
    for g in 0..GROUPS {
        q.set_rate(&format!("g{g}"), RATE, 4)
            .await
            .unwrap_or_else(|e| fail("set rate", e));
    }
    let per_group = RATE as usize * (secs as usize + 5);
    enqueue_all(&q, per_group * GROUPS, GROUPS).await;
    let exe = std::env::current_exe().unwrap_or_else(|e| fail("exe", e));
    let mut children = Vec::new();
    for _ in 0..processes {
        children.push(
            tokio::process::Command::new(&exe)
                .args(["precision-worker", url, &name, &secs.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| fail("spawn", e)),
        );
    }
    let mut times: HashMap<String, Vec<u64>> = HashMap::new();
    for child in children {
        let out = child
            .wait_with_output()
            .await
            .unwrap_or_else(|e| fail("child", e));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((group, list)) = line.split_once(' ') {
                times
                    .entry(group.to_owned())
                    .or_default()
                    .extend(list.split(',').filter_map(|t| t.parse::<u64>().ok()));
            }
        }
    }
    let _ = q.destroy().await;
    let mut rates = Vec::new();
    let mut over = 0;
    for t in times.values_mut() {
        t.sort_unstable();
        // Skip the first second (processes start one after the other) and the last.
        let start = t[0] + 1_000;
        let end = t[t.len() - 1].saturating_sub(1_000);
        let inside = t.iter().filter(|x| **x >= start && **x < end).count();
        rates.push(inside as f64 * 1_000.0 / (end - start) as f64);
        // The emulator's bucket: 80 tokens, refilled at 80/s; a reservation without a token
        // is a send it would refuse with 130429.
        let mut tokens = f64::from(RATE);
        let mut last = t[0];
        for at in t.iter() {
            tokens = (tokens + (at - last) as f64 * f64::from(RATE) / 1_000.0).min(f64::from(RATE));
            last = *at;
            if tokens < 1.0 {
                over += 1;
            } else {
                tokens -= 1.0;
            }
        }
    }
    let min = rates.iter().copied().fold(f64::MAX, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    (min, max, over)
}

/// The command line; the environment variables let `redis_vs_bullmq.sh` pass its settings.
#[derive(Parser)]
#[command(about = "The Redis queue's throughput, memory and rate precision")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    /// The Redis to measure on (a private one: the figures read its `INFO`).
    #[arg(default_value = "redis://127.0.0.1:6379")]
    url: String,
    /// Jobs per throughput run.
    #[arg(long, env = "WAGW_BENCH_JOBS", default_value_t = 100_000)]
    jobs: usize,
    /// Only these figures: `throughput` stops before memory and precision, `precision`
    /// runs nothing else.
    #[arg(long, env = "WAGW_BENCH_ONLY")]
    only: Option<Only>,
    /// The reserver counts each processing figure is run with.
    #[arg(
        long,
        env = "WAGW_BENCH_RESERVERS",
        value_delimiter = ',',
        default_value = "4,8"
    )]
    reservers: Vec<usize>,
    /// Jobs queued for the memory figure.
    #[arg(long, env = "WAGW_BENCH_MEMORY_JOBS", default_value_t = 1_000_000)]
    memory_jobs: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    Throughput,
    Precision,
}

#[derive(Subcommand)]
enum Role {
    /// One process of a rate precision run; the benchmark starts these itself.
    #[command(hide = true)]
    PrecisionWorker {
        url: String,
        queue: String,
        secs: u64,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Some(Role::PrecisionWorker { url, queue, secs }) = &cli.role {
        precision_worker(url, queue, *secs).await;
        return;
    }
    let url = cli.url;
    if cli.only == Some(Only::Precision) {
        for processes in [1, 2, 4] {
            let (min, max, over) = bench_precision(&url, processes, 10).await;
            println!(
                "wagw precision: {processes} processes, 50 numbers at 80/s: per number {min:.2}..{max:.2}/s, {over} the emulator's bucket would refuse"
            );
        }
        return;
    }
    let n = cli.jobs;
    let (rate, cpu, client) = bench_enqueue(&url, n).await;
    println!(
        "wagw enqueue_many: {rate:.0} jobs/s ({n} jobs, median of 3), Redis CPU {cpu:.1} µs/job, client CPU {client:.1} µs/job"
    );
    // Concurrent reservers on the one connection: each count is run, as BullMQ's Worker is
    // run at several concurrencies.
    let reservers = cli.reservers;
    for groups in [100, 10_000] {
        for cap in [None, Some(2)] {
            for limits in [false, true] {
                for &workers in &reservers {
                    let (rate, cpu, client) =
                        bench_process(&url, n, groups, cap, limits, workers).await;
                    println!(
                        "wagw reserve(256)+ack_many: {rate:.0} jobs/s ({groups} groups, cap {}, limits {}, {workers} reservers), Redis CPU {cpu:.1} µs/job, client CPU {client:.1} µs/job",
                        cap.map_or("off".to_owned(), |c| c.to_string()),
                        if limits { "on" } else { "off" },
                    );
                }
            }
        }
    }
    if cli.only == Some(Only::Throughput) {
        return;
    }
    let memory_jobs = cli.memory_jobs;
    println!(
        "wagw memory: {:.0} bytes per queued job ({memory_jobs} jobs)",
        bench_memory(&url, memory_jobs).await
    );
    for processes in [1, 2, 4] {
        let (min, max, over) = bench_precision(&url, processes, 10).await;
        println!(
            "wagw precision: {processes} processes, 50 numbers at 80/s: per number {min:.2}..{max:.2}/s, {over} the emulator's bucket would refuse"
        );
    }
}
