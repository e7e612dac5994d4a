//! Conformance cases for [`Queue`] backends. Each case starts from an empty queue.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures::future::join_all;

use crate::error::ErrorCode;
use crate::queue::{Enqueued, NackOutcome, NewJob, Queue, ReserveOptions};
use crate::store::Page;

const VISIBLE: Duration = Duration::from_secs(30);

fn job(group: &str, payload: &str) -> NewJob {
    NewJob::new(group, payload.as_bytes().to_vec())
}

fn payloads(reserved: &[crate::queue::Reservation]) -> Vec<String> {
    reserved
        .iter()
        .map(|r| String::from_utf8_lossy(&r.job.payload).into_owned())
        .collect()
}

/// A job goes in, comes out once, and is gone after ack.
pub async fn enqueue_reserve_ack(queue: &dyn Queue) {
    let id = queue.enqueue(job("ch-1", "hello")).await.expect("enqueue");
    assert!(matches!(id, Enqueued::Created(_)));
    let reserved = queue
        .reserve(&ReserveOptions::new(10, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(reserved.len(), 1);
    let r = &reserved[0];
    assert_eq!(r.job.id, id.id());
    assert_eq!(r.job.payload.as_ref(), b"hello");
    assert_eq!(r.job.group, "ch-1");
    assert_eq!(r.job.attempts, 1);
    assert!(r.expires_at > Utc::now());
    assert!(
        queue
            .reserve(&ReserveOptions::new(10, VISIBLE))
            .await
            .expect("empty")
            .is_empty()
    );
    queue.ack(&r.lease).await.expect("ack");
    assert_eq!(queue.stats().await.expect("stats").pending(), 0);
}

/// A job with a future run-at is invisible until then.
pub async fn run_at_delays_a_job(queue: &dyn Queue) {
    let soon = Utc::now() + TimeDelta::milliseconds(300);
    queue
        .enqueue(job("ch-1", "later").run_at(soon))
        .await
        .expect("enqueue");
    queue
        .enqueue(job("ch-1", "much later").run_at(Utc::now() + TimeDelta::hours(1)))
        .await
        .expect("enqueue");
    assert!(
        queue
            .reserve(&ReserveOptions::new(10, VISIBLE))
            .await
            .expect("early")
            .is_empty()
    );
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.ready, stats.delayed), (0, 2));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let reserved = queue
        .reserve(&ReserveOptions::new(10, VISIBLE))
        .await
        .expect("due");
    assert_eq!(payloads(&reserved), ["later"]);
}

/// Within a group, higher priority first, then insertion order.
pub async fn priority_orders_within_a_group(queue: &dyn Queue) {
    for (name, priority) in [
        ("bulk-1", 0),
        ("bulk-2", 0),
        ("reply", 2),
        ("one-off", 1),
        ("bulk-3", 0),
    ] {
        queue
            .enqueue(job("ch-1", name).priority(priority))
            .await
            .expect("enqueue");
    }
    let mut order = Vec::new();
    for _ in 0..5 {
        let r = queue
            .reserve(&ReserveOptions::new(1, VISIBLE))
            .await
            .expect("reserve");
        order.extend(payloads(&r));
    }
    assert_eq!(order, ["reply", "one-off", "bulk-1", "bulk-2", "bulk-3"]);
}

/// A busy group does not starve a quiet one: reservations alternate across groups.
pub async fn reserve_is_fair_across_groups(queue: &dyn Queue) {
    let busy: Vec<_> = (0..100).map(|n| job("busy", &format!("b{n}"))).collect();
    queue.enqueue_many(busy).await.expect("busy");
    for n in 0..3 {
        queue
            .enqueue(job("quiet", &format!("q{n}")))
            .await
            .expect("quiet");
    }
    let reserved = queue
        .reserve(&ReserveOptions::new(6, VISIBLE))
        .await
        .expect("reserve");
    let quiet = reserved.iter().filter(|r| r.job.group == "quiet").count();
    assert_eq!(
        quiet, 3,
        "all three quiet jobs ride along with the busy group"
    );
    assert_eq!(reserved.len(), 6);
}

/// A reservation can be limited to some groups (numbers with budget left).
pub async fn reserve_can_be_limited_to_groups(queue: &dyn Queue) {
    for g in ["a", "b", "c"] {
        queue.enqueue(job(g, g)).await.expect("enqueue");
    }
    let reserved = queue
        .reserve(&ReserveOptions::new(10, VISIBLE).groups(["b", "c"]))
        .await
        .expect("reserve");
    let mut got = payloads(&reserved);
    got.sort();
    assert_eq!(got, ["b", "c"]);
    assert_eq!(queue.stats().await.expect("stats").ready, 1);
}

/// Excluded groups are skipped and no group gives more than its cap.
pub async fn reserve_honours_exclusions_and_group_caps(queue: &dyn Queue) {
    for g in ["a", "b", "c"] {
        let jobs: Vec<_> = (0..5).map(|n| job(g, &format!("{g}{n}"))).collect();
        queue.enqueue_many(jobs).await.expect("enqueue");
    }
    let options = ReserveOptions::new(100, VISIBLE)
        .exclude(["b"])
        .max_per_group(2);
    let reserved = queue.reserve(&options).await.expect("reserve");
    let mut got = payloads(&reserved);
    got.sort();
    assert_eq!(got, ["a0", "a1", "c0", "c1"]);
}

/// When a reservation expires the job comes back with its attempt counted, and the old
/// lease can no longer settle it.
pub async fn expired_reservation_is_redelivered(queue: &dyn Queue) {
    queue.enqueue(job("ch-1", "crashy")).await.expect("enqueue");
    let first = queue
        .reserve(&ReserveOptions::new(1, Duration::from_millis(200)))
        .await
        .expect("reserve");
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let recovered = queue.recover_expired().await.expect("recover");
    assert_eq!(recovered, 1);
    let second = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("again");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].job.id, first[0].job.id);
    assert_eq!(second[0].job.attempts, 2);
    let stale = queue.ack(&first[0].lease).await;
    assert_eq!(stale.map_err(|e| e.code()), Err(ErrorCode::Conflict));
    queue
        .ack(&second[0].lease)
        .await
        .expect("ack with the live lease");
}

/// Expiry never dead-letters: a job whose reservation expires on its last attempt comes back
/// again and again, its attempts growing past `max_attempts`, until its holder nacks it.
pub async fn expiry_on_the_last_attempt_never_dead_letters(queue: &dyn Queue) {
    let id = queue
        .enqueue(job("ch-1", "stalled").max_attempts(1))
        .await
        .expect("enqueue")
        .id();
    let mut held = queue
        .reserve(&ReserveOptions::new(1, Duration::from_millis(150)))
        .await
        .expect("reserve");
    assert_eq!(
        held[0].job.attempts, 1,
        "the first and only planned attempt"
    );
    for round in 2..=4u32 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(queue.recover_expired().await.expect("recover"), 1);
        let stats = queue.stats().await.expect("stats");
        assert_eq!(
            (stats.ready, stats.reserved, stats.dead),
            (1, 0, 0),
            "round {round}: an expired job is ready again, never dead"
        );
        assert!(
            queue
                .dead_letters(Page::default())
                .await
                .expect("dead")
                .items
                .is_empty()
        );
        let again = queue
            .reserve(&ReserveOptions::new(1, Duration::from_millis(150)))
            .await
            .expect("reserve again");
        assert_eq!(again.len(), 1, "round {round}: the job comes back");
        assert_eq!(again[0].job.id, id);
        assert_eq!(
            again[0].job.attempts, round,
            "each expiry counts an attempt"
        );
        assert!(again[0].job.attempts > again[0].job.max_attempts);
        let stale = queue.ack(&held[0].lease).await;
        assert_eq!(stale.map_err(|e| e.code()), Err(ErrorCode::Conflict));
        held = again;
    }
    let outcome = queue
        .nack(&held[0].lease, Utc::now(), "out of attempts")
        .await
        .expect("nack");
    assert_eq!(outcome, NackOutcome::DeadLettered);
    let dead = queue.dead_letters(Page::default()).await.expect("dead");
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].id, id);
    assert_eq!(dead.items[0].attempts, 4);
    assert_eq!(dead.items[0].last_error.as_deref(), Some("out of attempts"));
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.pending(), stats.dead), (0, 1));
}

/// Nack schedules a retry until the attempts run out, then the job is a dead letter.
pub async fn nack_retries_then_dead_letters(queue: &dyn Queue) {
    queue
        .enqueue(job("ch-1", "flaky").max_attempts(2))
        .await
        .expect("enqueue");
    let r = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    let retry_at = Utc::now() + TimeDelta::milliseconds(200);
    let outcome = queue
        .nack(&r[0].lease, retry_at, "131000")
        .await
        .expect("nack");
    assert_eq!(outcome, NackOutcome::Retrying(retry_at));
    assert!(
        queue
            .reserve(&ReserveOptions::new(1, VISIBLE))
            .await
            .expect("not yet")
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("retry");
    assert_eq!(r[0].job.attempts, 2);
    assert_eq!(r[0].job.last_error.as_deref(), Some("131000"));
    let outcome = queue
        .nack(&r[0].lease, Utc::now(), "131000 again")
        .await
        .expect("nack");
    assert_eq!(outcome, NackOutcome::DeadLettered);
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.pending(), stats.dead), (0, 1));
    let dead = queue.dead_letters(Page::default()).await.expect("dead");
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].last_error.as_deref(), Some("131000 again"));
}

/// A dead letter can be put back with fresh attempts.
pub async fn dead_letter_can_be_retried(queue: &dyn Queue) {
    queue
        .enqueue(job("ch-1", "poison").max_attempts(1))
        .await
        .expect("enqueue");
    let r = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(
        queue
            .nack(&r[0].lease, Utc::now(), "bad")
            .await
            .expect("nack"),
        NackOutcome::DeadLettered
    );
    queue
        .retry_dead(r[0].job.id, Utc::now())
        .await
        .expect("retry dead");
    let again = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].job.attempts, 1, "attempts start afresh");
    assert_eq!(queue.stats().await.expect("stats").dead, 0);
    let unknown = queue.retry_dead(crate::ids::JobId::new(), Utc::now()).await;
    assert_eq!(unknown.map_err(|e| e.code()), Err(ErrorCode::NotFound));
}

/// A deduplication key blocks a second job until the first is acked.
pub async fn dedup_key_holds_until_ack(queue: &dyn Queue) {
    let first = queue
        .enqueue(job("ch-1", "a").dedup_key("msg-1"))
        .await
        .expect("first");
    let second = queue
        .enqueue(job("ch-1", "b").dedup_key("msg-1"))
        .await
        .expect("second");
    assert_eq!(second, Enqueued::Duplicate(first.id()));
    let r = queue
        .reserve(&ReserveOptions::new(10, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(payloads(&r), ["a"]);
    let while_reserved = queue
        .enqueue(job("ch-1", "c").dedup_key("msg-1"))
        .await
        .expect("dup");
    assert!(matches!(while_reserved, Enqueued::Duplicate(_)));
    queue.ack(&r[0].lease).await.expect("ack");
    let after = queue
        .enqueue(job("ch-1", "d").dedup_key("msg-1"))
        .await
        .expect("after ack");
    assert!(matches!(after, Enqueued::Created(_)));
}

/// Bulk enqueue reports duplicates in input order, within the batch too.
pub async fn enqueue_many_reports_duplicates(queue: &dyn Queue) {
    queue
        .enqueue(job("ch-1", "x").dedup_key("k1"))
        .await
        .expect("enqueue");
    let results = queue
        .enqueue_many(vec![
            job("ch-1", "a").dedup_key("k0"),
            job("ch-1", "b").dedup_key("k1"),
            job("ch-1", "c"),
            job("ch-1", "d").dedup_key("k0"),
        ])
        .await
        .expect("bulk");
    assert!(matches!(results[0], Enqueued::Created(_)));
    assert!(matches!(results[1], Enqueued::Duplicate(_)));
    assert!(matches!(results[2], Enqueued::Created(_)));
    assert_eq!(results[3], Enqueued::Duplicate(results[0].id()));
    assert_eq!(queue.stats().await.expect("stats").ready, 3);
}

/// Extending a reservation keeps the job from being recovered.
pub async fn extend_keeps_a_job_reserved(queue: &dyn Queue) {
    queue.enqueue(job("ch-1", "long")).await.expect("enqueue");
    let r = queue
        .reserve(&ReserveOptions::new(1, Duration::from_millis(250)))
        .await
        .expect("reserve");
    let until = queue
        .extend(&r[0].lease, Duration::from_secs(30))
        .await
        .expect("extend");
    assert!(until > r[0].expires_at);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(queue.recover_expired().await.expect("recover"), 0);
    assert!(
        queue
            .reserve(&ReserveOptions::new(1, VISIBLE))
            .await
            .expect("hidden")
            .is_empty()
    );
    queue.ack(&r[0].lease).await.expect("ack");
}

/// Release gives a job back at once without spending an attempt (graceful shutdown).
pub async fn release_returns_a_job_without_an_attempt(queue: &dyn Queue) {
    queue
        .enqueue(job("ch-1", "unfinished"))
        .await
        .expect("enqueue");
    let r = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    queue.release(&r[0].lease).await.expect("release");
    let again = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].job.attempts, 1,
        "the released attempt is not counted"
    );
}

/// Stats count ready, delayed, reserved and dead jobs.
pub async fn stats_count_each_state(queue: &dyn Queue) {
    for n in 0..4 {
        queue
            .enqueue(job("ch-1", &format!("r{n}")))
            .await
            .expect("ready");
    }
    queue
        .enqueue(job("ch-2", "later").run_at(Utc::now() + TimeDelta::hours(1)))
        .await
        .expect("delayed");
    queue
        .enqueue(job("ch-3", "doomed").max_attempts(1).priority(9))
        .await
        .expect("doomed");
    let r = queue
        .reserve(&ReserveOptions::new(1, VISIBLE).groups(["ch-3"]))
        .await
        .expect("r");
    queue
        .nack(&r[0].lease, Utc::now(), "x")
        .await
        .expect("dead");
    queue
        .reserve(&ReserveOptions::new(2, VISIBLE))
        .await
        .expect("reserve two");
    let stats = queue.stats().await.expect("stats");
    assert_eq!(
        (stats.ready, stats.delayed, stats.reserved, stats.dead),
        (2, 1, 2, 1)
    );
}

/// Workers reserving at the same time never receive the same job.
pub async fn concurrent_reservers_never_share_a_job(queue: &dyn Queue) {
    let jobs: Vec<_> = (0..400)
        .map(|n| job(&format!("ch-{}", n % 8), &n.to_string()))
        .collect();
    queue.enqueue_many(jobs).await.expect("enqueue");
    let mut seen = HashSet::new();
    let options = ReserveOptions::new(25, VISIBLE);
    loop {
        let batches = join_all((0..4).map(|_| queue.reserve(&options))).await;
        let mut got = 0;
        for batch in batches {
            for r in batch.expect("reserve") {
                assert!(seen.insert(r.job.id), "job {} delivered twice", r.job.id);
                got += 1;
            }
        }
        if got == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 400);
}

/// A batch of acks completes every live lease and reports the stale ones.
pub async fn ack_many_settles_a_batch_and_reports_stale_leases(queue: &dyn Queue) {
    let jobs: Vec<_> = (0..10)
        .map(|n| job("ch-1", &n.to_string()).dedup_key(format!("k{n}")))
        .collect();
    queue.enqueue_many(jobs).await.expect("enqueue");
    let reserved = queue
        .reserve(&ReserveOptions::new(10, VISIBLE))
        .await
        .expect("reserve");
    queue
        .ack(&reserved[0].lease)
        .await
        .expect("one acked alone");
    let leases: Vec<_> = reserved.iter().map(|r| r.lease).collect();
    let stale = queue.ack_many(&leases).await.expect("ack many");
    assert_eq!(stale, vec![reserved[0].lease]);
    assert_eq!(queue.stats().await.expect("stats").pending(), 0);
    let again = queue
        .enqueue(job("ch-1", "x").dedup_key("k5"))
        .await
        .expect("enqueue");
    assert!(
        matches!(again, Enqueued::Created(_)),
        "keys are free after the batch"
    );
    assert!(queue.ack_many(&[]).await.expect("empty").is_empty());
}

/// A lease settles its job once.
pub async fn settled_lease_is_refused(queue: &dyn Queue) {
    queue.enqueue(job("ch-1", "once")).await.expect("enqueue");
    let r = queue
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    queue.ack(&r[0].lease).await.expect("ack");
    for result in [
        queue.ack(&r[0].lease).await,
        queue.release(&r[0].lease).await,
        queue
            .nack(&r[0].lease, Utc::now(), "late")
            .await
            .map(|_| ()),
        queue.extend(&r[0].lease, VISIBLE).await.map(|_| ()),
    ] {
        let code = result.map_err(|e| e.code());
        assert!(
            matches!(code, Err(ErrorCode::Conflict | ErrorCode::NotFound)),
            "{code:?}"
        );
    }
}
