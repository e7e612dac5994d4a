//! Redis out of memory (`maxmemory` reached, `noeviction`): new jobs are refused, and the
//! jobs already queued can still be reserved, settled and counted, so a full Redis drains.
//! A private `redis-server` (skipped without it, required when `CI=true`).

mod common;

use std::time::Duration;

use wagw_core::Queue;
use wagw_core::queue::{FleetLimits, NewJob, ReserveOptions};
use wagw_queue_redis::{RedisQueue, RedisQueueError};

use common::{OwnServer, fresh_name, redis_server_or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refuses_new_jobs_and_still_drains() {
    if !redis_server_or_skip() {
        return;
    }
    let port = OwnServer::spare_port();
    let server = OwnServer::start(
        OwnServer::folder(),
        port,
        &[
            "--port".into(),
            port.to_string(),
            "--maxmemory-policy".into(),
            "noeviction".into(),
        ],
    );
    let url = format!("redis://127.0.0.1:{}", server.port);
    let queue = RedisQueue::connect(&url, &fresh_name())
        .await
        .expect("connect");
    queue
        .enqueue_many(
            (0..20)
                .map(|n| NewJob::new("ch-1", vec![b'x'; 1_000 + n]))
                .collect(),
        )
        .await
        .expect("enqueue");

    // Out of memory from now on: any limit below what the server uses.
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("config set maxmemory");

    let refused = queue
        .enqueue(NewJob::new("ch-1", "one too many"))
        .await
        .expect_err("a new job while out of memory");
    let code = std::error::Error::source(&refused)
        .and_then(|s| s.downcast_ref::<RedisQueueError>())
        .and_then(|e| match e {
            RedisQueueError::Redis(e) => e.code().map(str::to_owned),
            _ => None,
        });
    assert_eq!(code.as_deref(), Some("OOM"), "{refused:?}");

    let got = queue
        .reserve(&ReserveOptions::new(8, Duration::from_secs(30)))
        .await
        .expect("reserve while out of memory");
    assert_eq!(got.len(), 8);
    let stale = queue
        .ack_many(&got[..6].iter().map(|r| r.lease).collect::<Vec<_>>())
        .await
        .expect("ack while out of memory");
    assert!(stale.is_empty());
    queue
        .nack(&got[6].lease, chrono::Utc::now(), "send failed")
        .await
        .expect("nack while out of memory");
    queue.release(&got[7].lease).await.expect("release");
    // The dispatcher's per-number calls go on too.
    queue.set_rate("ch-1", 80, 4).await.expect("set a rate");
    assert_eq!(
        queue
            .take_pair("ch-1", "628123", Duration::from_secs(6), 1)
            .await
            .expect("take a pair"),
        None
    );
    let stats = queue.stats().await.expect("stats while out of memory");
    assert_eq!((stats.ready, stats.reserved), (14, 0), "{stats:?}");
}
