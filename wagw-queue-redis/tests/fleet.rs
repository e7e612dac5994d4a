//! Fleet-wide limits on Redis (when `WAGW_TEST_REDIS_URL` is set; required when `CI=true`):
//! several queue connections stand in for several processes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::Queue;
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Backoff, Dispatcher, DispatcherConfig, NewMessage};
use wagw_core::ids::JobId;
use wagw_core::queue::{
    Enqueued, FleetLimits, Job, Lease, NackOutcome, NewJob, QueueStats, Reservation, ReserveOptions,
};
use wagw_core::store::{Page, Paged};
use wagw_core::testkit::StubTransport;
use wagw_queue_redis::RedisQueue;

use common::{fresh_name, one_number, phone, url_or_skip};

const VISIBLE: Duration = Duration::from_secs(30);

/// Two connections to one fresh queue, as two processes would have.
async fn two_processes(url: &str) -> (RedisQueue, RedisQueue) {
    let name = fresh_name();
    let a = RedisQueue::connect(url, &name).await.expect("connect a");
    let b = RedisQueue::connect(url, &name).await.expect("connect b");
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_follow_the_rate_across_processes() {
    let Some(url) = url_or_skip() else { return };
    let (a, b) = two_processes(&url).await;
    a.set_rate("ch-1", 20, 1).await.expect("rate");
    let jobs: Vec<_> = (0..200)
        .map(|n| NewJob::new("ch-1", n.to_string()))
        .collect();
    a.enqueue_many(jobs).await.expect("enqueue");
    let started = Instant::now();
    let mut got = 0usize;
    // Both "processes" reserve as fast as they can for 1.5 s.
    while started.elapsed() < Duration::from_millis(1_500) {
        for q in [&a, &b] {
            got += q
                .reserve(&ReserveOptions::new(50, VISIBLE))
                .await
                .expect("reserve")
                .len();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // GCRA at 20/s with a burst of 1: at most 1 + 20 * elapsed, together.
    let most = 1.0 + 20.0 * elapsed;
    assert!(
        (got as f64) <= most + 1.0,
        "{got} jobs in {elapsed:.2} s at 20/s"
    );
    assert!(
        got >= 20,
        "the limit lets the rate through ({got} in {elapsed:.2} s)"
    );
    // A group without a rate is not held back.
    a.enqueue_many(
        (0..50)
            .map(|n| NewJob::new("free", n.to_string()))
            .collect(),
    )
    .await
    .expect("enqueue");
    let free = b
        .reserve(&ReserveOptions::new(100, VISIBLE).groups(["free"]))
        .await
        .expect("reserve");
    assert_eq!(free.len(), 50);
    a.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_seen_by_one_process_pauses_and_slows_the_number_for_all() {
    let Some(url) = url_or_skip() else { return };
    let (a, b) = two_processes(&url).await;
    assert_eq!(a.set_rate("ch-1", 80, 4).await.expect("rate"), 80);
    a.enqueue_many(
        (0..50)
            .map(|n| NewJob::new("ch-1", n.to_string()))
            .collect(),
    )
    .await
    .expect("enqueue");
    assert_eq!(
        a.throttled("ch-1", Duration::from_secs(60))
            .await
            .expect("throttle"),
        60,
        "cut by a quarter"
    );
    assert!(
        b.reserve(&ReserveOptions::new(10, VISIBLE))
            .await
            .expect("reserve")
            .is_empty(),
        "the other process sees the pause"
    );
    // A new channel record rate does not lift the back-off.
    assert_eq!(b.set_rate("ch-1", 80, 4).await.expect("rate"), 60);
    a.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pair_bucket_is_shared() {
    let Some(url) = url_or_skip() else { return };
    let (a, b) = two_processes(&url).await;
    let every = Duration::from_secs(6);
    assert_eq!(
        a.take_pair("ch-1", "628123456789", every, 2)
            .await
            .expect("1"),
        None
    );
    assert_eq!(
        b.take_pair("ch-1", "628123456789", every, 2)
            .await
            .expect("2"),
        None
    );
    let wait = a
        .take_pair("ch-1", "628123456789", every, 2)
        .await
        .expect("3")
        .expect("the third waits");
    assert!(wait > Duration::from_secs(4) && wait <= every, "{wait:?}");
    assert_eq!(
        b.take_pair("ch-1", "628123456780", every, 2)
            .await
            .expect("other recipient"),
        None
    );
    a.destroy().await.expect("destroy");
}

/// Two dispatchers (each with its own pacer, as two processes have) on one Redis queue send
/// one number at 20/s: the send times of both, sorted.
async fn two_dispatchers_send(
    qa: Arc<dyn Queue>,
    qb: Arc<dyn Queue>,
    messages: u64,
    lane_depth: usize,
) -> Vec<DateTime<Utc>> {
    let (store, tenant, channel) = one_number(20).await;
    let stub = StubTransport::new_ok();
    let config = DispatcherConfig {
        enforce_window: false,
        idle_poll: Duration::from_millis(5),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        lane_depth,
        ..DispatcherConfig::default()
    };
    let dispatcher = |queue| {
        Dispatcher::new(
            Arc::clone(&store),
            queue,
            Arc::new(stub.clone()),
            config.clone(),
        )
    };
    let (da, db) = (dispatcher(qa), dispatcher(qb));
    let batch: Vec<_> = (0..messages)
        .map(|n| {
            NewMessage::new(
                tenant.id,
                channel.id,
                phone(n),
                MessageContent::text("Halo"),
            )
        })
        .collect();
    da.submit_many(batch).await.expect("submit");
    let (ha, hb) = (da.start(), db.start());
    let deadline = Instant::now() + Duration::from_secs(30);
    while da.stats().sent + db.stats().sent < messages {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ha.shutdown().await;
    hb.shutdown().await;
    assert!(
        da.stats().sent > 0 && db.stats().sent > 0,
        "both dispatchers sent: {} and {}",
        da.stats().sent,
        db.stats().sent
    );
    let mut times: Vec<_> = stub.sent().iter().map(|m| m.at).collect();
    times.sort();
    times
}

/// The most sends within any one second of sorted send times.
fn most_in_one_second(times: &[DateTime<Utc>]) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < chrono::TimeDelta::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Two dispatchers on one Redis queue send one number at its rate together, not at twice
/// its rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_share_one_number_rate() {
    let Some(url) = url_or_skip() else { return };
    let (qa, qb) = two_processes(&url).await;
    let qa = Arc::new(qa);
    let times = two_dispatchers_send(qa.clone(), Arc::new(qb), 60, 2).await;
    // 20/s for the pair of them: any one second holds 20 sends and a few of bursts and
    // timer lateness; each process at its own 20/s would put about 40 there.
    let most = most_in_one_second(&times);
    assert!(most <= 24, "{most} sends within one second");
    qa.destroy().await.expect("destroy");
}

/// A process that stalls after reserving: it keeps reserving for `hold` (each job charged
/// to its number's fleet-wide rate when reserved, as always), then hands everything it got
/// to its dispatcher at once, as a process paused by a slow store or a stalled machine does.
struct StallingProcess {
    inner: Arc<RedisQueue>,
    hold: Duration,
}

#[async_trait]
impl Queue for StallingProcess {
    async fn enqueue(&self, job: NewJob) -> wagw_core::Result<Enqueued> {
        self.inner.enqueue(job).await
    }
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> wagw_core::Result<Vec<Enqueued>> {
        self.inner.enqueue_many(jobs).await
    }
    async fn reserve(&self, options: &ReserveOptions) -> wagw_core::Result<Vec<Reservation>> {
        let until = Instant::now() + self.hold;
        let mut got = Vec::new();
        while Instant::now() < until && got.len() < options.max {
            let mut rest = options.clone();
            rest.max = options.max - got.len();
            got.extend(self.inner.reserve(&rest).await?);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(got)
    }
    async fn ack(&self, lease: &Lease) -> wagw_core::Result<()> {
        self.inner.ack(lease).await
    }
    async fn ack_many(&self, leases: &[Lease]) -> wagw_core::Result<Vec<Lease>> {
        self.inner.ack_many(leases).await
    }
    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> wagw_core::Result<NackOutcome> {
        self.inner.nack(lease, retry_at, error).await
    }
    async fn release(&self, lease: &Lease) -> wagw_core::Result<()> {
        self.inner.release(lease).await
    }
    async fn extend(
        &self,
        lease: &Lease,
        visibility: Duration,
    ) -> wagw_core::Result<DateTime<Utc>> {
        self.inner.extend(lease, visibility).await
    }
    async fn recover_expired(&self) -> wagw_core::Result<u64> {
        self.inner.recover_expired().await
    }
    async fn stats(&self) -> wagw_core::Result<QueueStats> {
        self.inner.stats().await
    }
    async fn dead_letters(&self, page: Page) -> wagw_core::Result<Paged<Job>> {
        self.inner.dead_letters(page).await
    }
    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> wagw_core::Result<()> {
        self.inner.retry_dead(id, at).await
    }
    fn fleet_limits(&self) -> Option<&dyn FleetLimits> {
        self.inner.fleet_limits()
    }
    fn data_generation(&self) -> u64 {
        self.inner.data_generation()
    }
}

/// One process hands out a second's worth of reservations at once while the other sends on
/// time: the number's fleet-wide send slots keep the two together at its rate, where each
/// process's own pacer (at the full rate) let them send at up to twice of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_process_does_not_bunch_a_numbers_sends() {
    let Some(url) = url_or_skip() else { return };
    let (qa, qb) = two_processes(&url).await;
    let qa = Arc::new(qa);
    let stalling = Arc::new(StallingProcess {
        inner: Arc::clone(&qa),
        hold: Duration::from_secs(1),
    });
    // Lanes deep enough to take a second's worth of one number's jobs.
    let times = two_dispatchers_send(stalling, Arc::new(qb), 100, 64).await;
    // 20/s with a burst of 2: 21 in any second, and one more for timer lateness.
    let most = most_in_one_second(&times);
    assert!(most <= 22, "{most} sends of the number within one second");
    qa.destroy().await.expect("destroy");
}
