//! What the batched scripts must keep (when `WAGW_TEST_REDIS_URL` is set; required when
//! `CI=true`): a batch larger than one script call, a lease twice in one ack, a number's
//! charge for several jobs of one reservation, and limits read a page of groups at a time.

mod common;

use std::time::Duration;

use wagw_core::queue::{Enqueued, FleetLimits, NewJob, ReserveOptions};
use wagw_core::{ErrorCode, Queue};

use common::fresh_queue;

const VISIBLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedup_key_repeated_across_chunks_of_one_batch_makes_one_job() {
    let Some(q) = fresh_queue().await else { return };
    // 1,200 jobs are three script calls, pipelined; job 1,100 repeats job 3's key and job
    // 1,150 repeats a key already queued before the batch.
    q.enqueue(NewJob::new("g", "before").dedup_key("old"))
        .await
        .expect("enqueue");
    let jobs: Vec<_> = (0..1_200)
        .map(|n| {
            let key = match n {
                1_100 => "k3".to_owned(),
                1_150 => "old".to_owned(),
                n => format!("k{n}"),
            };
            NewJob::new(format!("g{}", n % 7), n.to_string()).dedup_key(key)
        })
        .collect();
    let got = q.enqueue_many(jobs).await.expect("enqueue many");
    assert_eq!(got.len(), 1_200);
    assert!(matches!(got[3], Enqueued::Created(_)));
    assert_eq!(got[1_100], Enqueued::Duplicate(got[3].id()));
    assert!(matches!(got[1_150], Enqueued::Duplicate(_)));
    let created = got
        .iter()
        .filter(|e| matches!(e, Enqueued::Created(_)))
        .count();
    assert_eq!(created, 1_198);
    assert_eq!(q.stats().await.expect("stats").ready, 1_199);
    // Every job comes back once, with its own payload and key.
    let mut seen = std::collections::HashSet::new();
    loop {
        let r = q
            .reserve(&ReserveOptions::new(500, VISIBLE))
            .await
            .expect("reserve");
        if r.is_empty() {
            break;
        }
        for res in &r {
            assert!(seen.insert(res.job.id), "reserved twice");
            let payload = std::str::from_utf8(&res.job.payload).expect("utf-8");
            if payload != "before" {
                let n: usize = payload.parse().expect("a number");
                assert_eq!(res.job.group, format!("g{}", n % 7));
                assert_eq!(res.job.dedup_key.as_deref(), Some(format!("k{n}").as_str()));
            }
            assert_eq!(res.job.attempts, 1);
        }
        let leases: Vec<_> = r.iter().map(|res| res.lease).collect();
        assert!(q.ack_many(&leases).await.expect("ack").is_empty());
    }
    assert_eq!(seen.len(), 1_199);
    q.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_twice_in_one_ack_batch_settles_once() {
    let Some(q) = fresh_queue().await else { return };
    q.enqueue_many(vec![NewJob::new("g", "a"), NewJob::new("g", "b")])
        .await
        .expect("enqueue");
    let r = q
        .reserve(&ReserveOptions::new(2, VISIBLE))
        .await
        .expect("reserve");
    let (a, b) = (r[0].lease, r[1].lease);
    let stale = q.ack_many(&[a, b, a]).await.expect("ack many");
    assert_eq!(stale, vec![a], "the second copy finds the job gone");
    // A job that is gone is not found; a job whose token differs is a conflict.
    assert_eq!(
        q.ack(&a).await.map_err(|e| e.code()),
        Err(ErrorCode::NotFound)
    );
    q.enqueue(NewJob::new("g", "c")).await.expect("enqueue");
    let c = q
        .reserve(&ReserveOptions::new(1, Duration::from_millis(1)))
        .await
        .expect("reserve")[0]
        .lease;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(q.recover_expired().await.expect("recover"), 1);
    assert_eq!(
        q.ack(&c).await.map_err(|e| e.code()),
        Err(ErrorCode::Conflict)
    );
    q.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_charges_every_job_it_takes_from_a_number() {
    let Some(q) = fresh_queue().await else { return };
    // 10/s with a burst of 5: one reservation takes the burst, and the charge for all five
    // leaves no capacity for another 100 ms.
    q.set_rate("n", 10, 5).await.expect("rate");
    q.enqueue_many((0..20).map(|n| NewJob::new("n", n.to_string())).collect())
        .await
        .expect("enqueue");
    let first = q
        .reserve(&ReserveOptions::new(20, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(first.len(), 5, "the burst");
    let second = q
        .reserve(&ReserveOptions::new(20, VISIBLE))
        .await
        .expect("reserve");
    assert!(
        second.is_empty(),
        "{} more right after the burst",
        second.len()
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let later = q
        .reserve(&ReserveOptions::new(20, VISIBLE))
        .await
        .expect("reserve");
    assert!(
        (1..=3).contains(&later.len()),
        "{} after 250 ms at 10/s",
        later.len()
    );
    q.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_read_for_the_right_groups_across_pages() {
    let Some(q) = fresh_queue().await else { return };
    // 300 groups, three pages of the scan: g%3 == 0 at 1/s without burst and one job,
    // g%3 == 1 at a rate that never binds, g%3 == 2 without a limit.
    let name = |g: usize| format!("g{g:03}");
    for g in 0..300 {
        match g % 3 {
            0 => q.set_rate(&name(g), 1, 1).await.expect("rate"),
            1 => q.set_rate(&name(g), 1_000, 1_000).await.expect("rate"),
            _ => 0,
        };
    }
    let jobs = |round: usize| {
        (0..300)
            .flat_map(|g| {
                let n = if round == 0 && g % 3 == 0 { 1 } else { 3 };
                (0..n).map(move |i| NewJob::new(name(g), format!("{round}-{i}")))
            })
            .collect::<Vec<_>>()
    };
    let count = |r: &[wagw_core::queue::Reservation]| {
        let mut per = std::collections::HashMap::<String, usize>::new();
        for res in r {
            *per.entry(res.job.group.clone()).or_default() += 1;
        }
        per
    };
    q.enqueue_many(jobs(0)).await.expect("enqueue");
    let first = count(
        &q.reserve(&ReserveOptions::new(2_000, VISIBLE))
            .await
            .expect("reserve"),
    );
    for g in 0..300 {
        let want = if g % 3 == 0 { 1 } else { 3 };
        assert_eq!(first.get(&name(g)).copied(), Some(want), "{}", name(g));
    }
    // The 1/s groups emptied and left the index; new jobs bring them back at once, but each
    // one's TAT is a second away, so only the others give.
    q.enqueue_many(jobs(1)).await.expect("enqueue");
    let second = count(
        &q.reserve(&ReserveOptions::new(2_000, VISIBLE))
            .await
            .expect("reserve"),
    );
    for g in 0..300 {
        let want = if g % 3 == 0 { None } else { Some(3) };
        assert_eq!(second.get(&name(g)).copied(), want, "{}", name(g));
    }
    q.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_number_wins_rate_back_after_a_calm_period() {
    let Some(q) = fresh_queue().await else { return };
    assert_eq!(q.set_rate("n", 80, 4).await.expect("rate"), 80);
    assert_eq!(
        q.throttled("n", Duration::from_millis(10))
            .await
            .expect("throttle"),
        60
    );
    q.enqueue(NewJob::new("n", "x")).await.expect("enqueue");
    // The calm period is 10 s from the end of the pause; a reservation after it gives a
    // tenth of the configured rate back, for every process.
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    let r = q
        .reserve(&ReserveOptions::new(1, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(r.len(), 1);
    assert_eq!(
        q.set_rate("n", 80, 4).await.expect("rate"),
        68,
        "60 + 80 / 10"
    );
    q.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_job_carries_its_fields_exactly() {
    let Some(q) = fresh_queue().await else { return };
    // Run-at comes back from the ready score, the rest from the packed field.
    let past =
        chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis() - 5_123)
            .expect("a time");
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(150);
    let soon = chrono::DateTime::from_timestamp_millis(soon.timestamp_millis()).expect("a time");
    let mut a = NewJob::new("g", vec![0_u8, 255, 1]).dedup_key("ключ");
    a.priority = 7;
    a.run_at = Some(past);
    a.max_attempts = 9;
    let mut b = NewJob::new("g", "later");
    b.run_at = Some(soon);
    let before = chrono::Utc::now().timestamp_millis();
    q.enqueue_many(vec![a, b]).await.expect("enqueue");
    let r = q
        .reserve(&ReserveOptions::new(10, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(r.len(), 1);
    let job = &r[0].job;
    assert_eq!(job.run_at, past);
    assert_eq!(job.priority, 7);
    assert_eq!(job.max_attempts, 9);
    assert_eq!(job.dedup_key.as_deref(), Some("ключ"));
    assert_eq!(&job.payload[..], &[0_u8, 255, 1]);
    assert_eq!(job.attempts, 1);
    assert!(job.last_error.is_none());
    let created = job.created_at.timestamp_millis();
    assert!(
        (before - 1_000..=before + 1_000).contains(&created),
        "{created} vs {before}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = q
        .reserve(&ReserveOptions::new(10, VISIBLE))
        .await
        .expect("reserve");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].job.run_at, soon, "a delayed job keeps its run-at");
    assert!(r[0].job.dedup_key.is_none());
    q.destroy().await.expect("destroy");
}
