//! PostgreSQL (when `WAGW_TEST_POSTGRES_URL` is set; required when `CI=true`): wagw-core's
//! conformance suites, each test in a schema of its own; migrations; recovery after the
//! server drops every connection; concurrent workers on separate pools.
#![cfg(feature = "postgres")]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fresh_pg, fresh_pg_options, postgres_url};
use wagw_core::Queue;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_core::store::TenantStore;
use wagw_store_sqlx::{Dialect, SqlStore};

mod store {
    use super::*;
    wagw_core::store_conformance_tests!(optional async { fresh_pg().await });
}

mod queue {
    use super::*;
    wagw_core::queue_conformance_tests!(optional async { fresh_pg().await.map(|s| s.queue()) });
}

/// The database URL, or `None` after printing that the test was skipped.
fn url() -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        eprintln!(
            "skipped: WAGW_TEST_POSTGRES_URL is unset (e.g. postgres://postgres@127.0.0.1:5432/test)"
        );
    }
    url
}

#[tokio::test]
async fn migrations_apply_from_empty_and_are_idempotent() {
    let Some(url) = url() else { return };
    let (options, schema) = fresh_pg_options(&url).await;
    let store = SqlStore::postgres(options, 2).await.expect("open");
    assert_eq!(store.dialect(), Dialect::Postgres);
    store.migrate().await.expect("again is a no-op");
    let pool = store.pg_pool().expect("pg");
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .expect("migrations table");
    // Every embedded migration, each applied once.
    assert_eq!(
        applied.0 as usize,
        wagw_store_sqlx::POSTGRES_MIGRATOR.iter().count()
    );
    let tables: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1 \
         AND table_name IN ('tenants', 'messages', 'campaign_recipients', 'queue_jobs', 'queue_groups')",
    )
    .bind(&schema)
    .fetch_one(pool)
    .await
    .expect("schema");
    assert_eq!(tables.0, 5);
}

#[tokio::test]
async fn pool_recovers_after_the_server_drops_its_connections() {
    let Some(url) = url() else { return };
    let (options, schema) = fresh_pg_options(&url).await;
    let store = SqlStore::postgres(options, 3).await.expect("open");
    let tenant = Tenant::new("Toko Maju", Plan::basic());
    store.create_tenant(&tenant).await.expect("tenant");
    // Another session kills every backend of this store's pool, as a server restart would.
    let admin = sqlx::PgPool::connect(&url).await.expect("admin");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&schema)
    .fetch_all(&admin)
    .await
    .expect("terminate");
    assert!(!killed.is_empty(), "the pool had open connections");
    // The pool notices the dead connections and opens new ones.
    let mut last = None;
    for _ in 0..3 {
        match store.get_tenant(tenant.id).await {
            Ok(t) => {
                last = Some(t);
                break;
            }
            Err(e) => {
                assert!(e.is_retryable(), "a dropped connection is transient: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(last, Some(tenant));
    store
        .queue()
        .enqueue(NewJob::new("ch-1", "after restart"))
        .await
        .expect("writes work again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_on_separate_pools_never_share_a_job() {
    let Some(url) = url() else { return };
    let (options, _schema) = fresh_pg_options(&url).await;
    let first = SqlStore::postgres(options.clone(), 2).await.expect("open");
    let jobs: Vec<_> = (0..2_000)
        .map(|n| NewJob::new(format!("ch-{}", n % 10), n.to_string()))
        .collect();
    first.queue().enqueue_many(jobs).await.expect("enqueue");
    let seen: Arc<Mutex<HashSet<uuid::Uuid>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..3 {
        let store = SqlStore::postgres(options.clone(), 3).await.expect("open");
        for _ in 0..3 {
            let queue = store.queue();
            let seen = Arc::clone(&seen);
            tasks.push(tokio::spawn(async move {
                loop {
                    let batch = queue
                        .reserve(&ReserveOptions::new(25, Duration::from_secs(60)))
                        .await
                        .unwrap_or_else(|e| panic!("worker {w}: {e}"));
                    if batch.is_empty() {
                        break;
                    }
                    for r in batch {
                        let fresh = seen.lock().expect("lock").insert(r.job.id.0);
                        assert!(fresh, "job {} delivered twice", r.job.id);
                        queue.ack(&r.lease).await.expect("ack");
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("worker");
    }
    // Workers stop on an empty reservation, which SKIP LOCKED may give while others hold
    // rows; drain what is left and check nothing was lost.
    let queue = first.queue();
    loop {
        let batch = queue
            .reserve(&ReserveOptions::new(100, Duration::from_secs(60)))
            .await
            .expect("drain");
        if batch.is_empty() {
            break;
        }
        for r in batch {
            assert!(seen.lock().expect("lock").insert(r.job.id.0));
            queue.ack(&r.lease).await.expect("ack");
        }
    }
    assert_eq!(seen.lock().expect("lock").len(), 2_000);
    assert_eq!(queue.stats().await.expect("stats").pending(), 0);
}
