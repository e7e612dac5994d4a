//! What a reservation costs when the queue holds work that is not ready, on SQLite and (when
//! `WAGW_TEST_POSTGRES_URL` is set) PostgreSQL. Reserve + ack of ready jobs in 10 groups by
//! 4 workers (100 per reserve, one `ack_many` per batch, as the dispatcher does):
//!
//! - *clean*: nothing else in the queue;
//! - *backlog*: 10,000 idle groups (each had a job, reserved and acked, so the group is known
//!   but holds nothing ready) and 100,000 delayed jobs (due in an hour) spread over them.
//!
//! A reservation should cost the same in both: what it returns, not what waits.
//!
//! `cargo bench -p wagw-store-sqlx --bench queue_backlog`; `WAGW_BENCH_BACKLOG_JOBS` sets the
//! ready jobs (20,000 by default), `WAGW_BENCH_IDLE_GROUPS` and `WAGW_BENCH_DELAYED_JOBS` the
//! backlog.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use wagw_core::Queue;
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_store_sqlx::{SqlQueue, SqlStore, SqliteDurability};

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Leaves `groups` idle groups and `delayed` delayed jobs in the queue.
async fn backlog(queue: &SqlQueue, groups: usize, delayed: usize) {
    for start in (0..groups).step_by(10_000) {
        let jobs: Vec<_> = (start..(start + 10_000).min(groups))
            .map(|n| NewJob::new(format!("idle-{n}"), "x"))
            .collect();
        queue.enqueue_many(jobs).await.expect("enqueue idle");
    }
    let mut drained = 0;
    loop {
        let batch = queue
            .reserve(&ReserveOptions::new(1_000, Duration::from_secs(600)))
            .await
            .expect("reserve idle");
        if batch.is_empty() {
            break;
        }
        drained += batch.len();
        let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
        queue.ack_many(&leases).await.expect("ack idle");
    }
    assert_eq!(drained, groups, "every idle group's job drained");
    let later = Utc::now() + TimeDelta::hours(1);
    for start in (0..delayed).step_by(10_000) {
        let jobs: Vec<_> = (start..(start + 10_000).min(delayed))
            .map(|n| NewJob::new(format!("idle-{}", n % groups.max(1)), "later").run_at(later))
            .collect();
        queue.enqueue_many(jobs).await.expect("enqueue delayed");
    }
}

/// Reserves and acks `total` ready jobs with 4 workers; returns the wall time and the mean
/// time of one reserve call.
async fn drain(queue: &SqlQueue, total: usize) -> (Duration, Duration) {
    for start in (0..total).step_by(10_000) {
        let jobs: Vec<_> = (start..(start + 10_000).min(total))
            .map(|n| NewJob::new(format!("ch-{}", n % 10), n.to_string()))
            .collect();
        queue.enqueue_many(jobs).await.expect("enqueue");
    }
    let t = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let (mut done, mut calls, mut reserving) = (0usize, 0u32, Duration::ZERO);
                loop {
                    let t = Instant::now();
                    let batch = queue
                        .reserve(&ReserveOptions::new(100, Duration::from_secs(60)))
                        .await
                        .expect("reserve");
                    reserving += t.elapsed();
                    calls += 1;
                    if batch.is_empty() {
                        break (done, calls, reserving);
                    }
                    let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
                    let stale = queue.ack_many(&leases).await.expect("ack");
                    assert!(stale.is_empty(), "every lease is live");
                    done += leases.len();
                }
            })
        })
        .collect();
    let (mut done, mut calls, mut reserving) = (0, 0, Duration::ZERO);
    for w in workers {
        let (d, c, r) = w.await.expect("worker");
        done += d;
        calls += c;
        reserving += r;
    }
    let took = t.elapsed();
    assert_eq!(done, total, "every job reserved and acked once");
    (took, reserving / calls.max(1))
}

async fn run(name: &str, clean: SqlStore, loaded: SqlStore) {
    let jobs = size("WAGW_BENCH_BACKLOG_JOBS", 20_000);
    let groups = size("WAGW_BENCH_IDLE_GROUPS", 10_000);
    let delayed = size("WAGW_BENCH_DELAYED_JOBS", 100_000);
    println!("{name}: reserve + ack of {jobs} ready jobs in 10 groups, 4 workers, 100 per reserve");
    let (took, per_call) = drain(&clean.queue(), jobs).await;
    println!(
        "  clean queue                               {:>8.0} jobs/s, {:>7.2} ms per reserve",
        jobs as f64 / took.as_secs_f64(),
        per_call.as_secs_f64() * 1e3
    );
    let queue = loaded.queue();
    backlog(&queue, groups, delayed).await;
    let (took, per_call) = drain(&queue, jobs).await;
    println!(
        "  {groups} idle groups + {delayed} delayed jobs  {:>8.0} jobs/s, {:>7.2} ms per reserve",
        jobs as f64 / took.as_secs_f64(),
        per_call.as_secs_f64() * 1e3
    );
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats.delayed as usize, delayed, "the delayed jobs wait");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        #[cfg(feature = "sqlite")]
        {
            let dir =
                std::env::temp_dir().join(format!("wagw-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("tmp");
            // NORMAL, as the figures taken before the durability default became FULL; the
            // sqlite_durability bench measures what FULL costs.
            let open = |file: &str| {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.join(file))
                    .create_if_missing(true);
                async move {
                    SqlStore::sqlite_with_durability(options, 4, SqliteDurability::Normal)
                        .await
                        .expect("sqlite")
                }
            };
            let (clean, loaded) = (open("clean.db").await, open("loaded.db").await);
            run(
                "SQLite (file, WAL, synchronous=NORMAL)",
                clean.clone(),
                loaded.clone(),
            )
            .await;
            clean.close().await;
            loaded.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        #[cfg(feature = "postgres")]
        match std::env::var("WAGW_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                let admin = sqlx::PgPool::connect(&url).await.expect("postgres");
                let mut stores = Vec::new();
                let mut schemas = Vec::new();
                for _ in 0..2 {
                    let schema = format!("wagw_bench_{}", uuid::Uuid::new_v4().simple());
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                        .execute(&admin)
                        .await
                        .expect("schema");
                    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
                    let options = options.options([("search_path", schema.as_str())]);
                    stores.push(SqlStore::postgres(options, 8).await.expect("open"));
                    schemas.push(schema);
                }
                run("PostgreSQL", stores[0].clone(), stores[1].clone()).await;
                for (store, schema) in stores.iter().zip(&schemas) {
                    store.close().await;
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .execute(&admin)
                        .await
                        .expect("drop schema");
                }
            }
            _ => println!("PostgreSQL benches skipped: WAGW_TEST_POSTGRES_URL is unset"),
        }
    });
}
