//! The dispatcher: takes queued messages to the transport as fast as each number's limits
//! allow, and records what happened to every one of them.
//!
//! ## How a message travels
//!
//! A caller hands [`Dispatcher::submit`] a [`NewMessage`]: tenant, channel, recipient,
//! content, priority, idempotency key, campaign reference. The dispatcher checks it (the
//! channel is the tenant's, the content within Meta's limits, a template approved and given
//! its parameters), builds the stored record itself (status, attempts and wamid are never
//! the caller's), records it (deduplicated by idempotency key) and then enqueues a small job
//! that refers to it, grouped by the sending channel. A loop reserves jobs round-robin across
//! channels. Each channel has a *lane*: at most [`lane_depth`](DispatcherConfig::lane_depth)
//! reserved jobs may wait for its rate limiter, so an urgent reply enqueued behind a blast
//! waits for a handful of messages, not the blast; a freed lane slot wakes the loop at once.
//! A job then passes, in order: message state (already sent? skip), campaign state (paused:
//! leave queued and give up the job; cancelled: skip), the channel's status, the
//! unknown-outcome policy, the 24-hour window, the tenant's monthly quota (charged once per
//! message), the pair limit, the campaign's fixed delay, and the channel's rate. Only then,
//! with its reservation checked to be live, is the attempt recorded and the message sent.
//!
//! ## Outcomes
//!
//! - accepted: `sent` with the wamid (and the campaign recipient, in the same store call),
//!   the job acknowledged;
//! - throttled number (130429): the number slows down and pauses, the job is retried after
//!   the suggested delay;
//! - throttled pair (131056): retried after 4^n seconds;
//! - transient: retried with exponential backoff and jitter; once out of
//!   [`max_attempts`](DispatcherConfig::max_attempts) the message is failed first and the
//!   job dead-lettered after;
//! - outcome unknown (the request may have gone through, its answer was lost): the
//!   [`UnknownOutcome`] policy, exactly as after a crash;
//! - permanent or auth: the message fails with the reason.
//!
//! ## Crashes, races and slow limiters
//!
//! A message is recorded before it is sent, and a job is acknowledged only after the outcome
//! is recorded, so a crash loses nothing: the job's reservation expires and it comes back. A
//! message that was `sending` when the process died has an unknown outcome; the dispatcher
//! recognises it (the job carries no settled result for the message's last attempt), counts
//! it as ambiguous, and applies [`UnknownOutcome`]. Reservations of jobs waiting in a lane,
//! in the pacer or in flight are renewed before they expire, so a second dispatcher never
//! takes over a job that is still being worked on; a job whose reservations kept expiring
//! (its workers died) fails its message when it is next reserved. A maintenance loop also
//! queues again messages that were recorded but never got their job (the enqueue failed, or
//! the process died in between), prunes idle pair-limit state, and drops status webhooks
//! that never matched a send.

mod acceptor;
mod attempt;
mod backoff;
mod fleet;
mod job;
mod leases;
mod new_message;
mod pacing;
mod reconcile;
mod reserve_loop;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

pub use acceptor::{Acceptor, AcceptorConfig};
pub use backoff::Backoff;
pub use job::DispatchJob;
pub use new_message::NewMessage;
pub use pacing::{Pacer, PairLimit};

use crate::content::MessageContent;
use crate::ids::{ChannelId, TenantId};
use crate::model::channel::{Channel, Throughput};
use crate::model::message::{Direction, MessageBody, MessageRecord, MessageStatus};
use crate::model::template::Template;
use crate::model::tenant::Tenant;
use crate::queue::Queue;
use crate::store::{Inserted, Store};
use crate::transport::Transport;
use crate::{Error, Result};
use leases::Leases;

/// What to do with a message whose last attempt has an unknown outcome (the process died
/// between recording the attempt and recording its result).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownOutcome {
    /// Send it again: the user may receive it twice, but never zero times.
    #[default]
    AtLeastOnce,
    /// Fail it: the user receives it once or not at all.
    AtMostOnce,
}

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Jobs processed at once, waiting for a slot or sending.
    pub concurrency: usize,
    /// Jobs taken per reservation.
    pub reserve_batch: usize,
    /// Reserved jobs that may wait for one channel's rate limiter.
    pub lane_depth: usize,
    /// How long a reservation lasts; a crashed worker's jobs come back after it.
    pub visibility: Duration,
    /// Pause between reservations while the queue is empty.
    pub idle_poll: Duration,
    /// Attempts before a job is dead-lettered and its message failed.
    pub max_attempts: u32,
    /// Delays between retries.
    pub backoff: Backoff,
    /// The pair limit; `None` turns it off.
    pub pair_limit: Option<PairLimit>,
    /// Policy for messages whose outcome is unknown after a crash.
    pub unknown_outcome: UnknownOutcome,
    /// Refuse free-form messages outside the 24-hour window instead of sending them to fail.
    pub enforce_window: bool,
    /// Charge each message to the tenant's monthly quota.
    pub enforce_quota: bool,
    /// How long cached channels and tenants are trusted.
    pub cache_ttl: Duration,
    /// How long [`DispatcherHandle::shutdown`] waits for sends in flight.
    pub shutdown_grace: Duration,
    /// How often held reservations are renewed, pair-limit state pruned and lost jobs
    /// reconciled. Reservations are renewed well before they expire whatever this says.
    pub maintenance_interval: Duration,
    /// A message still `queued` this long after it was recorded, outside any campaign, has
    /// its job enqueued again (enqueueing is deduplicated, so a live job is left alone).
    pub reconcile_after: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            concurrency: 512,
            reserve_batch: 256,
            lane_depth: 2,
            visibility: Duration::from_secs(60),
            idle_poll: Duration::from_millis(20),
            max_attempts: 8,
            backoff: Backoff::default(),
            pair_limit: Some(PairLimit::default()),
            unknown_outcome: UnknownOutcome::AtLeastOnce,
            enforce_window: true,
            enforce_quota: true,
            cache_ttl: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            maintenance_interval: Duration::from_secs(30),
            reconcile_after: Duration::from_secs(60),
        }
    }
}

/// Counters since the dispatcher was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatchStats {
    /// Messages accepted by the transport.
    pub sent: u64,
    /// Messages failed (permanent errors, refused before sending, or out of attempts).
    pub failed: u64,
    /// Attempts retried later.
    pub retried: u64,
    /// Throttles of a number (130429).
    pub throttled_number: u64,
    /// Throttles of a pair (131056).
    pub throttled_recipient: u64,
    /// Messages found with an unknown outcome after a crash.
    pub ambiguous: u64,
    /// Jobs whose message was already past sending (duplicates, redeliveries).
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    throttled_number: AtomicU64,
    throttled_recipient: AtomicU64,
    ambiguous: AtomicU64,
    skipped: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Sends queued messages through a [`Transport`] within every limit. Cheap to clone.
pub struct Dispatcher<S: ?Sized, Q: ?Sized, T: ?Sized> {
    inner: Arc<Inner<S, Q, T>>,
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> Clone for Dispatcher<S, Q, T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> std::fmt::Debug for Dispatcher<S, Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<S: ?Sized, Q: ?Sized, T: ?Sized> {
    store: Arc<S>,
    queue: Arc<Q>,
    transport: Arc<T>,
    config: DispatcherConfig,
    pacer: Pacer,
    counters: Counters,
    /// Reserved jobs per channel group still waiting for a send slot.
    lanes: Mutex<HashMap<String, usize>>,
    /// Keyed by tenant and id: a channel is only ever found through its own tenant.
    channels: Mutex<HashMap<(TenantId, ChannelId), (Channel, Instant)>>,
    tenants: Mutex<HashMap<TenantId, (Tenant, Instant)>>,
    leases: Leases,
    wake: Notify,
    /// The rate last written to the queue's fleet-wide limits, per channel.
    fleet_rates: Mutex<HashMap<ChannelId, u32>>,
}

/// What to do with a job once it has been handled.
enum Settlement {
    Ack,
    Retry {
        at: chrono::DateTime<Utc>,
        error: String,
    },
    Release,
    /// The reservation was lost: another worker may hold the job now, leave it alone.
    Abandon,
}

impl<S, Q, T> Dispatcher<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// A dispatcher over a store, a queue and a transport.
    pub fn new(store: Arc<S>, queue: Arc<Q>, transport: Arc<T>, config: DispatcherConfig) -> Self {
        let pacer = Pacer::new(config.pair_limit);
        Self {
            inner: Arc::new(Inner {
                store,
                queue,
                transport,
                config,
                pacer,
                counters: Counters::default(),
                lanes: Mutex::new(HashMap::new()),
                channels: Mutex::new(HashMap::new()),
                tenants: Mutex::new(HashMap::new()),
                leases: Leases::default(),
                wake: Notify::new(),
                fleet_rates: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Accepts a message: validates it, records it durably, then queues it. When this
    /// returns `Ok`, the message will reach a final state. Submitting a message whose
    /// idempotency key was used returns the stored message's id with `created: false`, and
    /// makes sure it is queued. A channel that is not the tenant's is
    /// [`ChannelNotFound`](crate::ErrorCode::ChannelNotFound), and nothing is stored.
    pub async fn submit(&self, message: NewMessage) -> Result<Inserted> {
        let mut inserted = self.submit_many(vec![message]).await?;
        inserted
            .pop()
            .ok_or_else(|| Error::invalid_input("message", "nothing was submitted"))
    }

    /// Accepts many messages at once, all or nothing; results are in input order.
    ///
    /// Every message is checked first: the channel is the tenant's, the content is within
    /// Meta's limits and, for a template message, a stored template of the channel that is
    /// approved gets exactly the parameters it declares. One bad message refuses the whole
    /// call, which then stores nothing. [`submit_each`](Self::submit_each) takes the good
    /// ones instead.
    pub async fn submit_many(&self, messages: Vec<NewMessage>) -> Result<Vec<Inserted>> {
        let records: Vec<_> = messages.into_iter().map(NewMessage::into_record).collect();
        let mut templates = HashMap::new();
        for record in &records {
            self.inner.check(record, &mut templates).await?;
        }
        self.inner.record_and_enqueue(&records).await
    }

    /// Accepts the good messages of a batch and refuses the bad ones alone: one bad row never
    /// stops the others. Each message gets its own result, in input order; the outer error is
    /// for failures of the store or queue themselves, which refuse the whole batch.
    pub async fn submit_each(&self, messages: Vec<NewMessage>) -> Result<Vec<Result<Inserted>>> {
        let mut templates = HashMap::new();
        let mut checked = Vec::with_capacity(messages.len());
        let mut good = Vec::with_capacity(messages.len());
        for message in messages {
            let record = message.into_record();
            match self.inner.check(&record, &mut templates).await {
                Ok(()) => {
                    checked.push(Ok(good.len()));
                    good.push(record);
                }
                Err(e) if e.retry() == crate::error::Retry::Never => checked.push(Err(e)),
                Err(e) => return Err(e),
            }
        }
        let inserted = self.inner.record_and_enqueue(&good).await?;
        Ok(checked
            .into_iter()
            .map(|c| c.map(|i| inserted[i]))
            .collect())
    }

    /// Queues stored messages again: those still `queued` get a job unless they have one
    /// (jobs are deduplicated by message), the rest are left alone. For messages whose job
    /// was given up on purpose (held while their campaign was paused) or lost. Returns how
    /// many jobs were created.
    pub async fn requeue(&self, messages: &[MessageRecord]) -> Result<usize> {
        self.inner.requeue(messages).await
    }

    /// Rebuilds the queue from the store after the queue lost its data: writes this
    /// dispatcher's fleet-wide rates again, then queues a job (due in two seconds, so sends in
    /// flight are recorded first) for every outbound message still `queued`, across tenants,
    /// and one due a [`visibility`](DispatcherConfig::visibility) later for every message
    /// still `sending`: its last attempt's outcome went with the queue, so it is settled as
    /// an unknown outcome ([`UnknownOutcome`]), never left `sending`. Messages already sent
    /// are never queued again. A running dispatcher does this by itself when
    /// [`Queue::data_generation`] changes; call it after restoring a queue by hand, or when a
    /// process finds its queue created empty at start. Returns how many jobs were created.
    pub async fn rebuild_queue(&self) -> Result<usize> {
        self.inner.rebuild().await
    }

    /// The store messages are recorded in.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Sets a channel's throughput at run time (for example after Meta's upgrade to 1,000/s);
    /// it wins over the channel record until the dispatcher restarts. With a queue that has
    /// [fleet-wide limits](crate::queue::FleetLimits), the new rate is written there before
    /// this dispatcher's next send on the channel, and so holds for every process.
    pub fn set_throughput(&self, channel: ChannelId, throughput: Throughput) {
        self.inner.pacer.pin(channel, throughput.get());
    }

    /// The rate a channel sends at now, once the dispatcher has seen it.
    pub fn effective_rate(&self, channel: ChannelId) -> Option<u32> {
        self.inner.pacer.effective_rate(channel)
    }

    /// Counters since creation.
    pub fn stats(&self) -> DispatchStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DispatchStats {
            sent: get(&c.sent),
            failed: get(&c.failed),
            retried: get(&c.retried),
            throttled_number: get(&c.throttled_number),
            throttled_recipient: get(&c.throttled_recipient),
            ambiguous: get(&c.ambiguous),
            skipped: get(&c.skipped),
        }
    }

    /// Starts the reservation loop on the current tokio runtime.
    pub fn start(&self) -> DispatcherHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move { inner.run(stop_rx).await });
        DispatcherHandle {
            stop: stop_tx,
            task,
        }
    }
}

/// Controls a running dispatcher.
#[derive(Debug)]
pub struct DispatcherHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl DispatcherHandle {
    /// Stops reserving, gives back jobs still waiting for a slot, and waits (up to the
    /// configured grace) for sends in flight to be recorded.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "dispatcher loop ended abnormally");
        }
    }

    /// Kills the dispatcher at once, as a crash would: nothing is released or recorded.
    /// Reserved jobs come back when their reservations expire.
    pub fn abort(self) {
        self.task.abort();
    }
}

impl<S, Q, T> Inner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// Checks a message before it is stored: the channel is the tenant's, the content is
    /// sendable, a template is approved and gets its parameters. `templates` caches the
    /// templates of one call.
    async fn check(
        &self,
        record: &MessageRecord,
        templates: &mut HashMap<(ChannelId, String, String), Template>,
    ) -> Result<()> {
        self.channel(record.tenant_id, record.channel_id).await?;
        let MessageBody::Outbound(body) = &record.body else {
            return Err(Error::invalid_input(
                "body",
                "only outbound messages are sent",
            ));
        };
        body.validate()?;
        if let MessageContent::Template(send) = &body.content {
            let key = (
                record.channel_id,
                send.name.clone(),
                send.language.code.clone(),
            );
            let template = match templates.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let (channel, name, language) = e.key();
                    let stored = self
                        .store
                        .find_template(record.tenant_id, *channel, name, language)
                        .await?;
                    e.insert(stored)
                }
            };
            template.check_send(send)?;
        }
        Ok(())
    }

    /// Queues a job for each stored message still `queued` (see [`Dispatcher::requeue`]).
    async fn requeue(&self, messages: &[MessageRecord]) -> Result<usize> {
        let jobs: Vec<_> = messages
            .iter()
            .filter(|m| m.status == MessageStatus::Queued && m.direction == Direction::Outbound)
            .map(|m| DispatchJob::new_job(m, m.id, self.config.max_attempts))
            .collect();
        if jobs.is_empty() {
            return Ok(0);
        }
        let created = self
            .queue
            .enqueue_many(jobs)
            .await?
            .iter()
            .filter(|e| matches!(e, crate::queue::Enqueued::Created(_)))
            .count();
        if created > 0 {
            self.wake.notify_one();
        }
        Ok(created)
    }

    /// Records checked messages, then queues a job for each (a duplicate submission refers
    /// to the stored message, and the queue keeps one job per message).
    async fn record_and_enqueue(&self, records: &[MessageRecord]) -> Result<Vec<Inserted>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let inserted = self.store.insert_messages(records).await?;
        for (record, inserted) in records.iter().zip(&inserted) {
            if inserted.created {
                crate::metrics::submitted(record.channel_id);
            }
        }
        let jobs = records
            .iter()
            .zip(&inserted)
            .map(|(m, i)| DispatchJob::new_job(m, i.id, self.config.max_attempts))
            .collect();
        self.queue.enqueue_many(jobs).await?;
        self.wake.notify_one();
        Ok(inserted)
    }

    async fn channel(&self, tenant: TenantId, id: ChannelId) -> Result<Channel> {
        if let Some((channel, at)) = self.channels.lock().get(&(tenant, id))
            && at.elapsed() < self.config.cache_ttl
        {
            return Ok(channel.clone());
        }
        let channel = self.store.get_channel(tenant, id).await?;
        self.pacer.observe(id, channel.throughput.get());
        self.channels
            .lock()
            .insert((tenant, id), (channel.clone(), Instant::now()));
        Ok(channel)
    }

    async fn tenant(&self, id: TenantId) -> Result<Tenant> {
        if let Some((tenant, at)) = self.tenants.lock().get(&id)
            && at.elapsed() < self.config.cache_ttl
        {
            return Ok(tenant.clone());
        }
        let tenant = self.store.get_tenant(id).await?;
        self.tenants
            .lock()
            .insert(id, (tenant.clone(), Instant::now()));
        Ok(tenant)
    }
}

/// A retry delay as a chrono delta, capped at a day (a far-future `Retry-After` is a bug
/// on the far side, not a reason to park a message for years).
fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d)
        .unwrap_or(TimeDelta::MAX)
        .min(TimeDelta::days(1))
}
