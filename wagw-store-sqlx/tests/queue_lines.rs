//! The SQL queue's line of groups (`queue_groups`) holds only groups with ready jobs, so a
//! reservation's cost does not grow with the groups that ever existed; and that line never
//! loses a group that has a ready job, even while enqueues and reservations race.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use wagw_core::Queue;
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_store_sqlx::{SqlQueue, SqlStore};

/// Rows in `queue_groups`, read on a separate connection.
async fn groups_in_line(store: &SqlStore, sqlite_url: Option<&str>) -> i64 {
    let sql = "SELECT COUNT(*) FROM queue_groups";
    match sqlite_url {
        #[cfg(feature = "sqlite")]
        Some(url) => {
            let pool = sqlx::SqlitePool::connect(url).await.expect("inspect");
            let n: (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.expect("count");
            pool.close().await;
            n.0
        }
        #[cfg(feature = "postgres")]
        None => {
            let n: (i64,) = sqlx::query_as(sql)
                .fetch_one(store.pg_pool().expect("pg"))
                .await
                .expect("count");
            n.0
        }
        #[allow(unreachable_patterns)]
        _ => unreachable!("a backend this build has"),
    }
}

/// 300 groups come and go; afterwards the line is empty, and delayed jobs do not enter it.
async fn idle_groups_leave_the_line(store: &SqlStore, sqlite_url: Option<&str>) {
    let queue = store.queue();
    let jobs: Vec<_> = (0..300)
        .map(|n| NewJob::new(format!("g-{n}"), "x"))
        .collect();
    queue.enqueue_many(jobs).await.expect("enqueue");
    assert_eq!(groups_in_line(store, sqlite_url).await, 300);
    let mut drained = 0;
    loop {
        let batch = queue
            .reserve(&ReserveOptions::new(64, Duration::from_secs(30)))
            .await
            .expect("reserve");
        if batch.is_empty() {
            break;
        }
        drained += batch.len();
        let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
        assert!(queue.ack_many(&leases).await.expect("ack").is_empty());
    }
    assert_eq!(drained, 300);
    assert_eq!(
        groups_in_line(store, sqlite_url).await,
        0,
        "groups without ready jobs leave the line"
    );
    let later = Utc::now() + TimeDelta::hours(1);
    let delayed: Vec<_> = (0..200)
        .map(|n| NewJob::new(format!("g-{}", n % 100), "later").run_at(later))
        .collect();
    queue.enqueue_many(delayed).await.expect("enqueue delayed");
    assert!(
        queue
            .reserve(&ReserveOptions::new(10, Duration::from_secs(30)))
            .await
            .expect("reserve")
            .is_empty()
    );
    assert_eq!(
        groups_in_line(store, sqlite_url).await,
        0,
        "delayed jobs keep their groups out of the line"
    );
    assert_eq!(queue.stats().await.expect("stats").delayed, 200);
}

/// Producers enqueue one job at a time into 4 groups while consumers reserve and ack; the
/// consumers keep emptying the groups, so groups leave and re-enter the line all the time.
/// Every job must be delivered: a group removed beside a ready job would strand it.
async fn no_ready_job_is_stranded(queue: SqlQueue) {
    const PER_PRODUCER: usize = 300;
    let producing = Arc::new(AtomicBool::new(true));
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let queue = queue.clone();
            tokio::spawn(async move {
                for n in 0..PER_PRODUCER {
                    queue
                        .enqueue(NewJob::new(format!("g-{}", n % 4), format!("{p}-{n}")))
                        .await
                        .expect("enqueue");
                    if n % 8 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let queue = queue.clone();
            let producing = Arc::clone(&producing);
            tokio::spawn(async move {
                let mut done = 0;
                loop {
                    let batch = queue
                        .reserve(&ReserveOptions::new(3, Duration::from_secs(30)))
                        .await
                        .expect("reserve");
                    if batch.is_empty() {
                        if !producing.load(Ordering::SeqCst) {
                            break done;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
                    assert!(queue.ack_many(&leases).await.expect("ack").is_empty());
                    done += leases.len();
                }
            })
        })
        .collect();
    for p in producers {
        p.await.expect("producer");
    }
    producing.store(false, Ordering::SeqCst);
    let mut done = 0;
    for c in consumers {
        done += c.await.expect("consumer");
    }
    // A last sweep: whatever a consumer could not see when it stopped.
    loop {
        let batch = queue
            .reserve(&ReserveOptions::new(100, Duration::from_secs(30)))
            .await
            .expect("reserve");
        if batch.is_empty() {
            break;
        }
        done += batch.len();
        let leases: Vec<_> = batch.iter().map(|r| r.lease).collect();
        queue.ack_many(&leases).await.expect("ack");
    }
    let stats = queue.stats().await.expect("stats");
    assert_eq!(
        (done, stats.ready),
        (4 * PER_PRODUCER, 0),
        "every job delivered, none stranded ready outside the line"
    );
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_groups_leave_the_line() {
        let url = format!("sqlite://{}", common::sqlite_path().display());
        let store = SqlStore::connect(&url).await.expect("open");
        super::idle_groups_leave_the_line(&store, Some(&url)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_ready_job_is_stranded() {
        super::no_ready_job_is_stranded(common::fresh_sqlite().await.queue()).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_groups_leave_the_line() {
        let Some(store) = common::fresh_pg().await else {
            eprintln!("skipped: WAGW_TEST_POSTGRES_URL is unset");
            return;
        };
        super::idle_groups_leave_the_line(&store, None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_ready_job_is_stranded() {
        let Some(store) = common::fresh_pg().await else {
            eprintln!("skipped: WAGW_TEST_POSTGRES_URL is unset");
            return;
        };
        super::no_ready_job_is_stranded(store.queue()).await;
    }
}
