//! The dispatcher's seam to fleet-wide limits: with a queue that offers
//! [`FleetLimits`](wagw_core::queue::FleetLimits), the dispatcher writes each number's rate
//! there, reports throttles there and takes pair slots and send slots there. A recording
//! queue over the memory queue stands in for a shared one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, PairLimit};
use wagw_core::ids::JobId;
use wagw_core::model::channel::Throughput;
use wagw_core::model::message::{MessageStatus, Priority};
use wagw_core::queue::{
    Enqueued, FleetLimits, Job, Lease, NackOutcome, NewJob, Queue, QueueStats, Reservation,
    ReserveOptions,
};
use wagw_core::store::{Page, Paged};
use wagw_core::testkit::StubTransport;
use wagw_core::{Result, TransportError, TransportErrorKind};
use wagw_store_memory::{MemoryQueue, MemoryStore};

mod common;

use common::{Setup, quick, wait_until};

#[derive(Debug, Clone, PartialEq)]
enum Call {
    SetRate(String, u32, u32),
    Throttled(String, Duration),
    TakePair(String, String),
}

/// A memory queue that claims fleet-wide limits and records what the dispatcher asks of them.
#[derive(Default)]
struct RecordingFleet {
    inner: MemoryQueue,
    calls: Mutex<Vec<Call>>,
    /// Pair slots refused before one is given.
    pair_refusals: AtomicU32,
}

impl RecordingFleet {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }
}

#[async_trait]
impl Queue for RecordingFleet {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        self.inner.enqueue(job).await
    }
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        self.inner.enqueue_many(jobs).await
    }
    async fn reserve(&self, options: &ReserveOptions) -> Result<Vec<Reservation>> {
        self.inner.reserve(options).await
    }
    async fn ack(&self, lease: &Lease) -> Result<()> {
        self.inner.ack(lease).await
    }
    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<NackOutcome> {
        self.inner.nack(lease, retry_at, error).await
    }
    async fn release(&self, lease: &Lease) -> Result<()> {
        self.inner.release(lease).await
    }
    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<DateTime<Utc>> {
        self.inner.extend(lease, visibility).await
    }
    async fn recover_expired(&self) -> Result<u64> {
        self.inner.recover_expired().await
    }
    async fn stats(&self) -> Result<QueueStats> {
        self.inner.stats().await
    }
    async fn dead_letters(&self, page: Page) -> Result<Paged<Job>> {
        self.inner.dead_letters(page).await
    }
    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> Result<()> {
        self.inner.retry_dead(id, at).await
    }
    fn fleet_limits(&self) -> Option<&dyn FleetLimits> {
        Some(self)
    }
}

#[async_trait]
impl FleetLimits for RecordingFleet {
    async fn set_rate(&self, group: &str, per_second: u32, burst: u32) -> Result<u32> {
        self.calls
            .lock()
            .push(Call::SetRate(group.to_owned(), per_second, burst));
        Ok(per_second)
    }
    async fn throttled(&self, group: &str, pause: Duration) -> Result<u32> {
        self.calls
            .lock()
            .push(Call::Throttled(group.to_owned(), pause));
        Ok(1)
    }
    async fn take_pair(
        &self,
        group: &str,
        key: &str,
        _every: Duration,
        _burst: u32,
    ) -> Result<Option<Duration>> {
        self.calls
            .lock()
            .push(Call::TakePair(group.to_owned(), key.to_owned()));
        let refuse = self
            .pair_refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Ok(refuse.then_some(Duration::from_millis(20)))
    }
}

type Fleet = Dispatcher<MemoryStore, RecordingFleet, StubTransport>;

fn dispatcher(s: &Setup, queue: &Arc<RecordingFleet>, config: DispatcherConfig) -> Fleet {
    Dispatcher::new(
        Arc::clone(&s.store),
        Arc::clone(queue),
        Arc::new(s.stub.clone()),
        config,
    )
}

fn rates(calls: &[Call]) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| matches!(c, Call::SetRate(..)))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_number_rate_is_written_once_and_again_when_pinned() {
    let s = Setup::new(80).await;
    let queue = Arc::new(RecordingFleet::default());
    let d = dispatcher(&s, &queue, quick());
    let group = s.channel.id.to_string();
    for n in 0..3 {
        d.submit(s.message(n, "Halo", Priority::Normal))
            .await
            .expect("submit");
    }
    let handle = d.start();
    wait_until("three sent", async || d.stats().sent == 3).await;
    assert_eq!(
        rates(&queue.calls()),
        [Call::SetRate(group.clone(), 80, 4)],
        "80/s with the in-process burst, written once however many messages"
    );
    d.set_throughput(s.channel.id, Throughput::per_second(1_000).expect("rate"));
    d.submit(s.message(9, "Halo", Priority::Normal))
        .await
        .expect("submit");
    wait_until("the fourth sent", async || d.stats().sent == 4).await;
    handle.shutdown().await;
    assert_eq!(
        rates(&queue.calls()),
        [
            Call::SetRate(group.clone(), 80, 4),
            Call::SetRate(group, 1_000, 50)
        ],
        "a pinned rate reaches the fleet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_is_reported_to_the_fleet() {
    let s = Setup::new(80).await;
    s.stub.push_outcomes([Err(TransportError::new(
        TransportErrorKind::ThrottledNumber,
        "(#130429) Rate limit hit",
    )
    .with_code(130429)
    .with_retry_after(Duration::from_millis(100)))]);
    let queue = Arc::new(RecordingFleet::default());
    let d = dispatcher(&s, &queue, quick());
    d.submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit");
    let handle = d.start();
    wait_until("sent after the throttle", async || d.stats().sent == 1).await;
    handle.shutdown().await;
    let throttles: Vec<_> = queue
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Throttled(..)))
        .collect();
    assert_eq!(
        throttles,
        [Call::Throttled(
            s.channel.id.to_string(),
            Duration::from_millis(100)
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_slots_come_from_the_fleet() {
    let s = Setup::new(80).await;
    let queue = Arc::new(RecordingFleet::default());
    queue.pair_refusals.store(3, Ordering::SeqCst);
    // A local pair limit that would refuse the second message for an hour: only the fleet's
    // bucket may decide.
    let config = DispatcherConfig {
        pair_limit: Some(PairLimit {
            every: Duration::from_secs(3_600),
            burst: 1,
        }),
        ..quick()
    };
    let d = dispatcher(&s, &queue, config);
    let first = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("first sent", async || d.stats().sent == 1).await;
    d.submit(s.message(1, "Halo lagi", Priority::Normal))
        .await
        .expect("submit");
    wait_until("second sent", async || d.stats().sent == 2).await;
    handle.shutdown().await;
    let to = s.status(first).await.contact_phone;
    // The number's own send slots share the pair buckets' method under the empty key.
    let (slots, pairs): (Vec<_>, Vec<_>) = queue
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::TakePair(..)))
        .partition(|c| matches!(c, Call::TakePair(_, key) if key.is_empty()));
    assert_eq!(
        slots,
        [
            Call::TakePair(s.channel.id.to_string(), String::new()),
            Call::TakePair(s.channel.id.to_string(), String::new())
        ],
        "one fleet-wide send slot per message"
    );
    assert_eq!(
        pairs.len(),
        5,
        "three refusals, then one slot per message: {pairs:?}"
    );
    assert!(
        pairs
            .iter()
            .all(|c| *c == Call::TakePair(s.channel.id.to_string(), to.as_str().to_owned()))
    );
    assert_eq!(s.status(first).await.status, MessageStatus::Sent);
}
