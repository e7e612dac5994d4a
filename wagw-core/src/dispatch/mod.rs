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

mod backoff;
mod job;
mod leases;
mod new_message;
mod pacing;
mod reconcile;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

pub use backoff::Backoff;
pub use job::DispatchJob;
pub use new_message::NewMessage;
pub use pacing::{Pacer, PairLimit};

use crate::content::{MessageContent, OutboundMessage};
use crate::ids::{ChannelId, TenantId};
use crate::model::campaign::{CampaignState, RecipientStatus};
use crate::model::channel::{Channel, Throughput};
use crate::model::message::{
    Direction, MessageBody, MessageError, MessageRecord, MessageStatus, StatusUpdate,
};
use crate::model::template::Template;
use crate::model::tenant::{QuotaResource, Tenant, UsagePeriod};
use crate::queue::{Lease, NackOutcome, Queue, Reservation, ReserveOptions};
use crate::store::{Inserted, RecipientUpdate, Store};
use crate::transport::{Transport, TransportError, TransportErrorKind};
use crate::{Error, Result};
use leases::Leases;
use pacing::Stopped;

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
        let jobs: Vec<_> = messages
            .iter()
            .filter(|m| m.status == MessageStatus::Queued && m.direction == Direction::Outbound)
            .map(|m| DispatchJob::new_job(m, m.id, self.inner.config.max_attempts))
            .collect();
        if jobs.is_empty() {
            return Ok(0);
        }
        let enqueued = self.inner.queue.enqueue_many(jobs).await?;
        let created = enqueued
            .iter()
            .filter(|e| matches!(e, crate::queue::Enqueued::Created(_)))
            .count();
        if created > 0 {
            self.inner.wake.notify_one();
        }
        Ok(created)
    }

    /// The store messages are recorded in.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Sets a channel's throughput at run time (for example after Meta's upgrade to 1,000/s);
    /// it wins over the channel record until the dispatcher restarts.
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

/// Decrements a channel's lane when the job leaves it (on sending, or on any exit).
struct LaneSlot<'a> {
    lanes: &'a Mutex<HashMap<String, usize>>,
    group: Option<String>,
    depth: usize,
    /// Woken when a full lane frees a slot: the reservation loop left that channel out and
    /// may be idle, and a fast number must not wait for the idle poll.
    wake: &'a Notify,
}

impl LaneSlot<'_> {
    fn leave(&mut self) {
        if let Some(group) = self.group.take() {
            let mut lanes = self.lanes.lock();
            if let Some(n) = lanes.get_mut(&group) {
                let was_full = *n >= self.depth;
                *n = n.saturating_sub(1);
                if *n == 0 {
                    lanes.remove(&group);
                }
                if was_full {
                    self.wake.notify_one();
                }
            }
        }
    }
}

impl Drop for LaneSlot<'_> {
    fn drop(&mut self) {
        self.leave();
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

    /// Records checked messages, then queues a job for each (a duplicate submission refers
    /// to the stored message, and the queue keeps one job per message).
    async fn record_and_enqueue(&self, records: &[MessageRecord]) -> Result<Vec<Inserted>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let inserted = self.store.insert_messages(records).await?;
        let jobs = records
            .iter()
            .zip(&inserted)
            .map(|(m, i)| DispatchJob::new_job(m, i.id, self.config.max_attempts))
            .collect();
        self.queue.enqueue_many(jobs).await?;
        self.wake.notify_one();
        Ok(inserted)
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let (acks, batches) = mpsc::unbounded_channel();
        // Aborted with this task (a crash drops it); awaited after a graceful stop.
        let acker = AbortOnDrop(Some(tokio::spawn(ack_batches(
            Arc::clone(&self.queue),
            batches,
        ))));
        // Runs until this loop ends (renewing reservations through the shutdown grace too).
        let _maintenance = AbortOnDrop(Some(tokio::spawn(Arc::clone(&self).maintain())));
        loop {
            while tasks.try_join_next().is_some() {}
            if *stop.borrow() {
                break;
            }
            let free = permits.available_permits().min(self.config.reserve_batch);
            if free == 0 {
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let mut exclude = self.pacer.paused_groups();
            exclude.extend(
                self.lanes
                    .lock()
                    .iter()
                    .filter(|(_, n)| **n >= self.config.lane_depth)
                    .map(|(g, _)| g.clone()),
            );
            let options = ReserveOptions::new(free, self.config.visibility)
                .exclude(exclude)
                .max_per_group(self.config.lane_depth);
            let reserved = match self.queue.reserve(&options).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "reserving jobs failed");
                    self.idle(&mut stop, self.config.backoff.base).await;
                    continue;
                }
            };
            if reserved.is_empty() {
                self.idle(&mut stop, self.config.idle_poll).await;
                continue;
            }
            for reservation in reserved {
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    break;
                };
                *self
                    .lanes
                    .lock()
                    .entry(reservation.job.group.clone())
                    .or_default() += 1;
                let inner = Arc::clone(&self);
                let stop = stop.clone();
                let acks = acks.clone();
                tasks.spawn(async move {
                    inner.process(reservation, stop, &acks).await;
                    drop(permit);
                });
            }
        }
        // Jobs waiting for a slot see the stop signal and release themselves; sends in
        // flight get the grace period to record their outcome.
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                () = &mut grace => {
                    tracing::warn!(left = tasks.len(), "shutdown grace elapsed with jobs in flight");
                    break;
                }
            }
        }
        drop(tasks);
        drop(acks);
        if let Err(e) = acker.finish().await {
            tracing::error!(error = %e, "acknowledging jobs ended abnormally");
        }
    }

    /// Renews held reservations before they expire and, every
    /// [`maintenance_interval`](DispatcherConfig::maintenance_interval), does the chores.
    async fn maintain(self: Arc<Self>) {
        let visibility = self.config.visibility;
        let renew_every = (visibility / 4).max(Duration::from_millis(5));
        let mut chores_at = Instant::now();
        let mut reconciled = reconcile::ReconcileCursor::default();
        loop {
            tokio::time::sleep(renew_every).await;
            self.leases
                .renew(&*self.queue, visibility, visibility / 2)
                .await;
            if Instant::now() >= chores_at {
                chores_at = Instant::now() + self.config.maintenance_interval;
                self.pacer.prune();
                if let Err(e) = self.reconcile(&mut reconciled).await {
                    tracing::warn!(error = %e, "reconciling queued messages failed");
                }
                // A status webhook whose send was never recorded here is someone else's.
                if let Err(e) = self
                    .store
                    .prune_pending_statuses(Utc::now() - TimeDelta::days(1))
                    .await
                {
                    tracing::warn!(error = %e, "pruning unmatched statuses failed");
                }
            }
        }
    }

    async fn idle(&self, stop: &mut watch::Receiver<bool>, wait: Duration) {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = self.wake.notified() => {}
            _ = stop.changed() => {}
        }
    }

    async fn process(
        &self,
        reservation: Reservation,
        mut stop: watch::Receiver<bool>,
        acks: &mpsc::UnboundedSender<Lease>,
    ) {
        let mut lane = LaneSlot {
            lanes: &self.lanes,
            group: Some(reservation.job.group.clone()),
            depth: self.config.lane_depth,
            wake: &self.wake,
        };
        let held = self.leases.hold(&reservation);
        let outcome = if reservation.job.attempts > reservation.job.max_attempts {
            self.exhausted(&reservation).await
        } else {
            self.handle(&reservation, &held, &mut lane, &mut stop).await
        };
        let settlement = match outcome {
            Ok(s) => s,
            Err(e) if e.code() == crate::ErrorCode::InvalidInput => {
                tracing::error!(job = %reservation.job.id, error = %e, "dropping a job that is not a dispatch job");
                Settlement::Ack
            }
            Err(e) => {
                let delay = self.config.backoff.delay(reservation.job.attempts);
                tracing::warn!(job = %reservation.job.id, error = %e, "dispatch failed; retrying");
                Settlement::Retry {
                    at: Utc::now() + to_delta(delay),
                    error: format!("dispatcher: {e}"),
                }
            }
        };
        lane.leave();
        let lease = &reservation.lease;
        let settled = match settlement {
            Settlement::Ack => match acks.send(*lease) {
                Ok(()) => Ok(()),
                Err(_) => self.queue.ack(lease).await,
            },
            Settlement::Release => self.queue.release(lease).await,
            Settlement::Abandon => Ok(()),
            Settlement::Retry { at, error } => self.retry(&reservation, at, &error).await,
        };
        drop(held);
        if let Err(e) = settled {
            // The reservation will expire and the job come back; the message state tells
            // the next attempt what happened.
            tracing::warn!(job = %reservation.job.id, error = %e, "settling a job failed");
        }
    }

    /// Gives a job another attempt later, or, when it has used its attempts, fails its
    /// message and then dead-letters it. The message is failed first: a crash in between
    /// leaves a job that comes back, never a dead job whose message waits forever.
    async fn retry(
        &self,
        reservation: &Reservation,
        at: chrono::DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        if reservation.job.attempts >= reservation.job.max_attempts {
            self.give_up(reservation, error).await?;
        }
        if let NackOutcome::Retrying(_) = self.queue.nack(&reservation.lease, at, error).await? {
            bump(&self.counters.retried);
        }
        Ok(())
    }

    /// A job reserved more often than its attempts allow: its reservations expired each
    /// time (workers died or hung). Its message fails, unless it already has an outcome.
    async fn exhausted(&self, reservation: &Reservation) -> Result<Settlement> {
        let job = DispatchJob::decode(&reservation.job.payload)?;
        let message = match self.store.get_message(job.tenant, job.message).await {
            Ok(m) => m,
            Err(Error::NotFound { .. }) => return Ok(Settlement::Ack),
            Err(e) => return Err(e),
        };
        if !matches!(
            message.status,
            MessageStatus::Queued | MessageStatus::Sending
        ) {
            return Ok(Settlement::Ack);
        }
        if self.outcome_unknown(&message, reservation) {
            bump(&self.counters.ambiguous);
            self.store.mark_ambiguous(job.tenant, message.id).await?;
        }
        Ok(Settlement::Retry {
            at: Utc::now(),
            error: format!(
                "its reservation expired on each of {} attempts",
                reservation.job.max_attempts
            ),
        })
    }

    /// Makes sure the job's reservation is live before an attempt is recorded, renewing it
    /// at once if it is about to run out; `false` when it is lost.
    async fn ensure_lease(&self, reservation: &Reservation, held: &leases::HeldLease<'_>) -> bool {
        if held.is_lost() {
            return false;
        }
        let margin = self.config.visibility / 3;
        if self.leases.live_for(reservation.lease.job_id, margin) {
            return true;
        }
        self.leases
            .renew(&*self.queue, self.config.visibility, self.config.visibility)
            .await;
        !held.is_lost() && self.leases.live_for(reservation.lease.job_id, margin)
    }

    async fn handle(
        &self,
        reservation: &Reservation,
        held: &leases::HeldLease<'_>,
        lane: &mut LaneSlot<'_>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Settlement> {
        let job = DispatchJob::decode(&reservation.job.payload)?;
        let message = match self.store.get_message(job.tenant, job.message).await {
            Ok(m) => m,
            Err(Error::NotFound { .. }) => {
                tracing::warn!(message = %job.message, "job for a message that does not exist");
                return Ok(Settlement::Ack);
            }
            Err(e) => return Err(e),
        };
        if !matches!(
            message.status,
            MessageStatus::Queued | MessageStatus::Sending
        ) {
            bump(&self.counters.skipped);
            return Ok(Settlement::Ack);
        }
        let MessageBody::Outbound(body) = &message.body else {
            return Ok(Settlement::Ack);
        };

        let mut campaign_delay = None;
        if message.campaign_id.is_some() {
            match self.campaign_gate(&message).await? {
                Gate::Open(delay) => campaign_delay = delay,
                Gate::Hold => return Ok(Settlement::Ack),
                Gate::Stopped => {
                    self.refuse(&message, None, CAMPAIGN_STOPPED, RecipientStatus::Skipped)
                        .await?;
                    return Ok(Settlement::Ack);
                }
            }
        }

        let channel = match self.channel(job.tenant, message.channel_id).await {
            Ok(c) => c,
            Err(Error::NotFound { .. }) => {
                self.refuse(
                    &message,
                    None,
                    "the sending channel no longer exists",
                    RecipientStatus::Failed,
                )
                .await?;
                return Ok(Settlement::Ack);
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = channel.ensure_can_send() {
            self.refuse(&message, None, &e.to_string(), RecipientStatus::Failed)
                .await?;
            return Ok(Settlement::Ack);
        }

        if self.outcome_unknown(&message, reservation) {
            bump(&self.counters.ambiguous);
            self.store.mark_ambiguous(job.tenant, message.id).await?;
            tracing::warn!(message = %message.id, attempts = message.attempts, "outcome of the last attempt is unknown");
            if self.config.unknown_outcome == UnknownOutcome::AtMostOnce {
                self.refuse(
                    &message,
                    None,
                    "the last attempt's outcome is unknown after a crash; not sent again (at-most-once)",
                    RecipientStatus::Failed,
                )
                .await?;
                return Ok(Settlement::Ack);
            }
        }

        if self.config.enforce_window && needs_window(body) {
            let last = self
                .store
                .last_inbound_at(job.tenant, channel.id, &message.contact_phone)
                .await?;
            if last.is_none_or(|at| Utc::now() - at > TimeDelta::hours(24)) {
                self.refuse(
                    &message,
                    Some(131047),
                    "outside the 24-hour window, send a template",
                    RecipientStatus::Failed,
                )
                .await?;
                return Ok(Settlement::Ack);
            }
        }

        // Charged once per message, however often it is held, released, retried or re-fed.
        if self.config.enforce_quota {
            let tenant = self.tenant(job.tenant).await?;
            let limit = tenant.plan.limit(QuotaResource::MessagesPerMonth);
            let period = UsagePeriod::month_of(Utc::now());
            match self
                .store
                .charge_message(job.tenant, message.id, &period, limit)
                .await
            {
                Ok(_) => {}
                Err(e @ Error::QuotaExceeded { .. }) => {
                    self.refuse(&message, None, &e.to_string(), RecipientStatus::Failed)
                        .await?;
                    return Ok(Settlement::Ack);
                }
                Err(e) => return Err(e),
            }
        }

        let paced = async {
            self.pacer
                .acquire_pair(channel.id, &message.contact_phone, stop)
                .await?;
            if let (Some(delay), Some(campaign)) = (campaign_delay, message.campaign_id) {
                self.pacer.acquire_campaign(campaign, delay, stop).await?;
            }
            self.pacer.acquire_channel(channel.id, stop).await
        };
        if paced.await == Err(Stopped) {
            return Ok(Settlement::Release);
        }
        lane.leave();
        // Waiting for a slot can take a while: a pause or cancel in the meantime wins.
        if message.campaign_id.is_some() {
            match self.campaign_gate(&message).await? {
                Gate::Open(_) => {}
                Gate::Hold => return Ok(Settlement::Ack),
                Gate::Stopped => {
                    self.refuse(&message, None, CAMPAIGN_STOPPED, RecipientStatus::Skipped)
                        .await?;
                    return Ok(Settlement::Ack);
                }
            }
        }

        // Another worker may hold the job once its reservation is gone: it must not be
        // attempted here too.
        if !self.ensure_lease(reservation, held).await {
            return Ok(Settlement::Abandon);
        }
        let message = self.store.record_attempt(job.tenant, message.id).await?;
        if message.status != MessageStatus::Sending {
            bump(&self.counters.skipped);
            return Ok(Settlement::Ack);
        }
        match self.transport.send(&channel, body).await {
            Ok(receipt) => {
                // The message and its recipient in one store call: a crash never leaves a
                // sent message with a pending recipient (and a campaign running forever).
                self.store
                    .record_outcome(
                        job.tenant,
                        message.id,
                        &StatusUpdate::sent(&receipt.wamid, Utc::now()),
                        recipient_update(&message, RecipientStatus::Sent, None).as_ref(),
                    )
                    .await?;
                self.pacer.succeeded(channel.id);
                bump(&self.counters.sent);
                Ok(Settlement::Ack)
            }
            Err(e) => self.after_failure(&message, &channel, reservation, e).await,
        }
    }

    /// Whether a campaign message may go now. Held messages stay queued, unsent: the campaign
    /// engine feeds them again on resume or when the sending window opens.
    async fn campaign_gate(&self, message: &MessageRecord) -> Result<Gate> {
        let Some(id) = message.campaign_id else {
            return Ok(Gate::Open(None));
        };
        let campaign = self.store.get_campaign(message.tenant_id, id).await?;
        Ok(match campaign.state {
            CampaignState::Running => {
                if let Some(window) = campaign.window {
                    let tz = self.tenant(message.tenant_id).await?.timezone;
                    if !window.contains(Utc::now().with_timezone(&tz).time()) {
                        return Ok(Gate::Hold);
                    }
                }
                Gate::Open(
                    campaign
                        .delay_between_messages_ms
                        .map(Duration::from_millis),
                )
            }
            CampaignState::Paused | CampaignState::Scheduled | CampaignState::Draft => Gate::Hold,
            CampaignState::Cancelled | CampaignState::Completed | CampaignState::Failed => {
                Gate::Stopped
            }
        })
    }

    /// A message is `sending` with attempts recorded, but the job's last settled error does
    /// not belong to that attempt: the process died between recording and settling it.
    fn outcome_unknown(&self, message: &MessageRecord, reservation: &Reservation) -> bool {
        message.status == MessageStatus::Sending
            && message.attempts > 0
            && !reservation
                .job
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with(&attempt_tag(message.attempts)))
    }

    async fn after_failure(
        &self,
        message: &MessageRecord,
        channel: &Channel,
        reservation: &Reservation,
        error: TransportError,
    ) -> Result<Settlement> {
        let attempt = reservation.job.attempts;
        let tagged = format!("{}{error}", attempt_tag(message.attempts));
        let delay = match error.kind {
            TransportErrorKind::Permanent | TransportErrorKind::Auth => {
                self.fail(message, error.code, &error.message).await?;
                return Ok(Settlement::Ack);
            }
            // The request may have gone through: the same policy as for a crash mid-send,
            // never a silent resend. The tagged error keeps it from being counted twice.
            TransportErrorKind::OutcomeUnknown => {
                bump(&self.counters.ambiguous);
                self.store
                    .mark_ambiguous(message.tenant_id, message.id)
                    .await?;
                tracing::warn!(message = %message.id, error = %error, "the outcome of a send is unknown");
                if self.config.unknown_outcome == UnknownOutcome::AtMostOnce {
                    let reason = format!(
                        "the outcome of the send is unknown ({}); not sent again (at-most-once)",
                        error.message
                    );
                    self.fail(message, error.code, &reason).await?;
                    return Ok(Settlement::Ack);
                }
                self.config.backoff.delay(attempt)
            }
            TransportErrorKind::ThrottledNumber => {
                bump(&self.counters.throttled_number);
                let pause = error.retry_after.unwrap_or(Duration::from_secs(1));
                self.pacer.throttled(channel.id, pause);
                pause
            }
            TransportErrorKind::ThrottledRecipient => {
                bump(&self.counters.throttled_recipient);
                error
                    .retry_after
                    .unwrap_or_default()
                    .max(self.config.backoff.pair_limit(attempt))
            }
            _ => error
                .retry_after
                .unwrap_or_else(|| self.config.backoff.delay(attempt)),
        };
        Ok(Settlement::Retry {
            at: Utc::now() + to_delta(delay),
            error: tagged,
        })
    }

    async fn give_up(&self, reservation: &Reservation, error: &str) -> Result<()> {
        let job = DispatchJob::decode(&reservation.job.payload)?;
        let message = self.store.get_message(job.tenant, job.message).await?;
        if !matches!(
            message.status,
            MessageStatus::Queued | MessageStatus::Sending
        ) {
            return Ok(());
        }
        let reason = format!(
            "gave up after {} attempts: {error}",
            reservation.job.attempts
        );
        self.fail(&message, None, &reason).await
    }

    /// Fails a message that was attempted.
    async fn fail(&self, message: &MessageRecord, code: Option<i64>, reason: &str) -> Result<()> {
        self.refuse(message, code, reason, RecipientStatus::Failed)
            .await
    }

    /// Fails a message and marks its campaign recipient.
    async fn refuse(
        &self,
        message: &MessageRecord,
        code: Option<i64>,
        reason: &str,
        recipient: RecipientStatus,
    ) -> Result<()> {
        let error = MessageError {
            code,
            reason: reason.to_owned(),
        };
        self.store
            .record_outcome(
                message.tenant_id,
                message.id,
                &StatusUpdate::failed(error, Utc::now()),
                recipient_update(message, recipient, Some(reason)).as_ref(),
            )
            .await?;
        bump(&self.counters.failed);
        tracing::info!(message = %message.id, reason, "message failed");
        Ok(())
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

/// Acknowledges jobs in batches: whatever has arrived by the time the previous batch is done
/// goes in the next one, so acks wait for no timer and cost one round trip per batch.
async fn ack_batches<Q: Queue + ?Sized>(queue: Arc<Q>, mut leases: mpsc::UnboundedReceiver<Lease>) {
    const MAX: usize = 512;
    let mut batch = Vec::with_capacity(MAX);
    while leases.recv_many(&mut batch, MAX).await > 0 {
        match queue.ack_many(&batch).await {
            Ok(stale) if !stale.is_empty() => {
                tracing::warn!(
                    stale = stale.len(),
                    "acknowledged jobs whose leases had expired"
                );
            }
            Ok(_) => {}
            // The jobs come back after their reservations expire; their messages are recorded
            // as sent, so they are acknowledged then without being sent again.
            Err(e) => tracing::warn!(error = %e, jobs = batch.len(), "acknowledging jobs failed"),
        }
        batch.clear();
    }
}

/// A task that is aborted when its handle is dropped, unless it was awaited to its end.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    async fn finish(mut self) -> Result<(), tokio::task::JoinError> {
        match self.0.take() {
            Some(handle) => handle.await,
            None => Ok(()),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

/// What a campaign's state means for one of its messages.
enum Gate {
    /// Send, with the campaign's fixed delay between messages, if any.
    Open(Option<Duration>),
    /// Not now: leave the message queued.
    Hold,
    /// Never: the campaign is over.
    Stopped,
}

const CAMPAIGN_STOPPED: &str = "the campaign was stopped before this message was sent";

/// The change a message's outcome makes to its campaign recipient, if it has one.
fn recipient_update(
    message: &MessageRecord,
    status: RecipientStatus,
    reason: Option<&str>,
) -> Option<RecipientUpdate> {
    message.recipient_id.map(|id| RecipientUpdate {
        id,
        status,
        reason: reason.map(str::to_owned),
        message_id: Some(message.id),
    })
}

/// The prefix a settled attempt leaves in the job's last error.
fn attempt_tag(attempt: u32) -> String {
    format!("attempt {attempt}: ")
}

/// Free-form content reaches a user only inside the 24-hour window; templates always do.
fn needs_window(message: &OutboundMessage) -> bool {
    !matches!(message.content, MessageContent::Template(_))
}

/// A retry delay as a chrono delta, capped at a day (a far-future `Retry-After` is a bug
/// on the far side, not a reason to park a message for years).
fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d)
        .unwrap_or(TimeDelta::MAX)
        .min(TimeDelta::days(1))
}
