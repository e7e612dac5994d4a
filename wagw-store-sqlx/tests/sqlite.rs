//! SQLite: wagw-core's conformance suites, reopening a file, and concurrent workers on
//! separate connections.
#![cfg(feature = "sqlite")]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{fresh_sqlite, sqlite_path};
use wagw_core::Queue;
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_core::store::TenantStore;
use wagw_store_sqlx::{Dialect, SqlStore};

mod store {
    use super::*;
    wagw_core::store_conformance_tests!(async { fresh_sqlite().await });
}

mod queue {
    use super::*;
    wagw_core::queue_conformance_tests!(async { fresh_sqlite().await.queue() });
}

mod memory_store {
    use super::*;
    wagw_core::store_conformance_tests!(async {
        SqlStore::connect("sqlite::memory:").await.expect("memory")
    });
}

#[tokio::test]
async fn migrations_apply_from_empty_and_are_idempotent() {
    let path = sqlite_path();
    let url = format!("sqlite://{}", path.display());
    let store = SqlStore::connect(&url).await.expect("open");
    assert_eq!(store.dialect(), Dialect::Sqlite);
    store.migrate().await.expect("again is a no-op");
    let pool = sqlx::SqlitePool::connect(&url).await.expect("inspect");
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("migrations table");
    // Every embedded migration, each applied once.
    assert_eq!(
        applied.0 as usize,
        wagw_store_sqlx::SQLITE_MIGRATOR.iter().count()
    );
    for table in [
        "tenants",
        "messages",
        "campaign_recipients",
        "queue_jobs",
        "queue_groups",
    ] {
        let found: (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table)
                .fetch_one(&pool)
                .await
                .expect("schema");
        assert_eq!(found.0, 1, "{table}");
    }
}

#[tokio::test]
async fn reopening_the_file_finds_the_data() {
    let path = sqlite_path();
    let url = format!("sqlite://{}", path.display());
    let tenant = Tenant::new("Toko Maju", Plan::basic());
    {
        let store = SqlStore::connect(&url).await.expect("open");
        store.create_tenant(&tenant).await.expect("tenant");
        store
            .queue()
            .enqueue(NewJob::new("ch-1", "survives"))
            .await
            .expect("enqueue");
        store.close().await;
    }
    let store = SqlStore::connect(&url).await.expect("reopen");
    assert_eq!(store.get_tenant(tenant.id).await.expect("get"), tenant);
    let jobs = store
        .queue()
        .reserve(&ReserveOptions::new(10, Duration::from_secs(30)))
        .await
        .expect("reserve");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job.payload.as_ref(), b"survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_on_separate_connections_never_share_a_job() {
    let path = sqlite_path();
    let url = format!("sqlite://{}", path.display());
    let first = SqlStore::connect(&url).await.expect("open");
    let jobs: Vec<_> = (0..1_000)
        .map(|n| NewJob::new(format!("ch-{}", n % 10), n.to_string()))
        .collect();
    first.queue().enqueue_many(jobs).await.expect("enqueue");
    // Four independent stores: four writer connections contending for the file lock.
    let mut queues = Vec::new();
    for _ in 0..4 {
        queues.push(SqlStore::connect(&url).await.expect("open").queue());
    }
    let seen = Arc::new(parking_lot_free::Seen::default());
    let mut tasks = Vec::new();
    for (i, queue) in queues.into_iter().enumerate() {
        for _ in 0..2 {
            let queue = queue.clone();
            let seen = Arc::clone(&seen);
            tasks.push(tokio::spawn(async move {
                loop {
                    let batch = queue
                        .reserve(&ReserveOptions::new(20, Duration::from_secs(60)))
                        .await
                        .unwrap_or_else(|e| panic!("worker {i}: {e}"));
                    if batch.is_empty() {
                        break;
                    }
                    for r in batch {
                        assert!(seen.insert(r.job.id.0), "job {} delivered twice", r.job.id);
                        queue.ack(&r.lease).await.expect("ack");
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("worker");
    }
    assert_eq!(seen.len(), 1_000);
    assert_eq!(first.queue().stats().await.expect("stats").pending(), 0);
}

mod parking_lot_free {
    use super::*;

    /// A set shared by worker tasks.
    #[derive(Default)]
    pub struct Seen(std::sync::Mutex<HashSet<uuid::Uuid>>);

    impl Seen {
        pub fn insert(&self, id: uuid::Uuid) -> bool {
            self.0.lock().expect("lock").insert(id)
        }
        pub fn len(&self) -> usize {
            self.0.lock().expect("lock").len()
        }
    }
}
