//! Redis losing its data: a private `redis-server` without persistence on a spare port, killed
//! with SIGKILL and started again empty (when `WAGW_TEST_REDIS_URL` is set, which says Redis
//! is installed here; required when `CI=true`).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wagw_core::Queue;
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Backoff, Dispatcher, DispatcherConfig, NewMessage};
use wagw_core::model::message::MessageStatus;
use wagw_core::queue::{NewJob, ReserveOptions};
use wagw_core::store::MessageStore;
use wagw_core::testkit::StubTransport;
use wagw_queue_redis::RedisQueue;

use common::{PrivateRedis, fresh_name, one_number, phone, url_or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_persistence_is_detected_and_the_queue_works_on() {
    if url_or_skip().is_none() {
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let queue = RedisQueue::connect(&redis.url(), &fresh_name())
        .await
        .expect("connect");
    let mut losses = queue.losses();
    queue
        .enqueue_many((0..3).map(|n| NewJob::new("ch-1", n.to_string())).collect())
        .await
        .expect("enqueue");
    assert_eq!(queue.data_generation(), 0);

    redis.kill();
    redis.restart().await;
    // The connection comes back by itself; the scripts are loaded again (NOSCRIPT) and the
    // missing epoch is noticed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stats = loop {
        match queue.stats().await {
            Ok(stats) => break stats,
            Err(e) => {
                assert!(Instant::now() < deadline, "redis did not come back: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(stats.pending(), 0, "the jobs are gone");
    assert_eq!(queue.data_generation(), 1, "and the loss was noticed");
    assert!(losses.has_changed().expect("watch"));
    assert_eq!(*losses.borrow_and_update(), 1);
    queue
        .enqueue(NewJob::new("ch-1", "after"))
        .await
        .expect("enqueue");
    let got = queue
        .reserve(&ReserveOptions::new(10, Duration::from_secs(30)))
        .await
        .expect("reserve");
    assert_eq!(got.len(), 1, "the queue works on");

    // A script cache flushed on a live server is loaded again without a loss.
    let client = redis::Client::open(redis.url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .expect("flush scripts");
    queue.ack(&got[0].lease).await.expect("ack after NOSCRIPT");
    assert_eq!(queue.data_generation(), 1);
}

/// A dispatcher sending one number at 20/s loses Redis mid-run: it rebuilds the queue from the
/// store, every message is sent, none twice beyond the ambiguous ones, and the restart makes
/// no burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_rebuilds_a_lost_queue_without_resending_or_bursting() {
    if url_or_skip().is_none() {
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let queue = Arc::new(
        RedisQueue::connect(&redis.url(), &fresh_name())
            .await
            .expect("connect"),
    );
    let (store, tenant, channel) = one_number(20).await;
    let stub = StubTransport::new_ok();
    let config = DispatcherConfig {
        enforce_window: false,
        idle_poll: Duration::from_millis(5),
        visibility: Duration::from_secs(2),
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..DispatcherConfig::default()
    };
    let d = Dispatcher::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        Arc::new(stub.clone()),
        config,
    );
    let total = 80u64;
    let ids: Vec<_> = d
        .submit_many(
            (0..total)
                .map(|n| {
                    NewMessage::new(
                        tenant.id,
                        channel.id,
                        phone(n),
                        MessageContent::text("Halo"),
                    )
                })
                .collect(),
        )
        .await
        .expect("submit")
        .iter()
        .map(|i| i.id)
        .collect();
    let handle = d.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while d.stats().sent < 20 {
        assert!(Instant::now() < deadline, "timed out before the crash");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart().await;

    loop {
        let mut settled = 0;
        for id in &ids {
            let m = store.get_message(tenant.id, *id).await.expect("message");
            if !matches!(m.status, MessageStatus::Queued | MessageStatus::Sending) {
                settled += 1;
            }
        }
        if settled == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{settled} of {} messages settled after the loss",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.shutdown().await;
    assert_eq!(queue.data_generation(), 1, "the loss was noticed");

    for id in &ids {
        let m = store.get_message(tenant.id, *id).await.expect("message");
        assert_eq!(m.status, MessageStatus::Sent, "{id}");
    }
    let sent = stub.sent();
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for m in &sent {
        *per_recipient.entry(m.message.to.clone()).or_default() += 1;
    }
    assert_eq!(
        per_recipient.len(),
        total as usize,
        "every recipient got it"
    );
    let duplicates: usize = per_recipient.values().map(|n| n - 1).sum();
    let ambiguous = d.stats().ambiguous as usize;
    assert!(
        duplicates <= ambiguous,
        "{duplicates} duplicates, {ambiguous} ambiguous"
    );
    let mut times: Vec<_> = sent.iter().map(|m| m.at).collect();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| **t - *start < chrono::TimeDelta::seconds(1))
            .count();
        assert!(in_window <= 24, "{in_window} sends within one second");
    }
}

/// A worker reserved a job and recorded its attempt (the message is `sending`), then died
/// together with Redis, before it could settle the job. After the rebuild the message is
/// settled as an unknown outcome: counted and flagged ambiguous, then sent (at-least-once) —
/// not left `sending` forever, and never sent twice by this dispatcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_sending_when_redis_died_is_settled_as_ambiguous() {
    if url_or_skip().is_none() {
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let queue = Arc::new(
        RedisQueue::connect(&redis.url(), &fresh_name())
            .await
            .expect("connect"),
    );
    let (store, tenant, channel) = one_number(50).await;
    let stub = StubTransport::new_ok();
    let config = DispatcherConfig {
        enforce_window: false,
        idle_poll: Duration::from_millis(5),
        visibility: Duration::from_secs(1),
        ..DispatcherConfig::default()
    };
    let d = Dispatcher::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        Arc::new(stub.clone()),
        config,
    );
    let ids: Vec<_> = d
        .submit_many(
            (0..5)
                .map(|n| {
                    NewMessage::new(
                        tenant.id,
                        channel.id,
                        phone(n),
                        MessageContent::text("Halo"),
                    )
                })
                .collect(),
        )
        .await
        .expect("submit")
        .iter()
        .map(|i| i.id)
        .collect();
    // The worker that dies: it reserves one job and records the attempt, and is gone.
    let held = queue
        .reserve(&ReserveOptions::new(1, Duration::from_secs(600)))
        .await
        .expect("reserve");
    let job = wagw_core::dispatch::DispatchJob::decode(&held[0].job.payload).expect("job");
    let stranded = store
        .record_attempt(tenant.id, job.message)
        .await
        .expect("attempt");
    assert_eq!(stranded.status, MessageStatus::Sending);

    let handle = d.start();
    redis.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.restart().await;

    let deadline = Instant::now() + Duration::from_secs(30);
    'wait: loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for id in &ids {
            let m = store.get_message(tenant.id, *id).await.expect("message");
            if matches!(m.status, MessageStatus::Queued | MessageStatus::Sending) {
                assert!(
                    Instant::now() < deadline,
                    "message {id} is still {:?} after the rebuild",
                    m.status
                );
                continue 'wait;
            }
        }
        break;
    }
    handle.shutdown().await;
    let settled = store
        .get_message(tenant.id, job.message)
        .await
        .expect("message");
    assert_eq!(queue.data_generation(), 1, "the loss was noticed");
    assert_eq!(settled.status, MessageStatus::Sent);
    assert!(settled.ambiguous, "its unknown outcome is flagged");
    assert_eq!(d.stats().ambiguous, 1, "and counted once");
    for id in &ids {
        let m = store.get_message(tenant.id, *id).await.expect("message");
        assert_eq!(m.status, MessageStatus::Sent, "{id}");
    }
    let to_stranded = stub
        .sent()
        .iter()
        .filter(|m| m.message.to == stranded.contact_phone.as_str())
        .count();
    assert_eq!(to_stranded, 1, "sent once by the surviving dispatcher");
}
