//! The reservation loop: reserves jobs fairly across numbers within each number's lane,
//! runs each one, settles it (ack in batches, retry, release), and keeps the maintenance
//! chores (lease renewal, reconciliation, pruning) going beside it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::{Inner, Settlement, bump, reconcile, to_delta};
use crate::Result;
use crate::queue::{Lease, NackOutcome, NewJob, Queue, Reservation, ReserveOptions};
use crate::store::Store;
use crate::transport::Transport;

/// Decrements a channel's lane when the job leaves it (on sending, or on any exit).
pub(super) struct LaneSlot<'a> {
    lanes: &'a Mutex<HashMap<String, usize>>,
    group: Option<String>,
    depth: usize,
    /// Woken when a full lane frees a slot: the reservation loop left that channel out and
    /// may be idle, and a fast number must not wait for the idle poll.
    wake: &'a Notify,
}

impl LaneSlot<'_> {
    pub(super) fn leave(&mut self) {
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
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
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
        let mut generation = self.queue.data_generation();
        loop {
            tokio::time::sleep(renew_every).await;
            self.leases
                .renew(&*self.queue, visibility, visibility / 2)
                .await;
            let now_generation = self.queue.data_generation();
            if now_generation != generation {
                match self.rebuild().await {
                    Ok(_) => generation = now_generation,
                    Err(e) => {
                        tracing::warn!(error = %e, "rebuilding the lost queue failed; trying again")
                    }
                }
            }
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
        let (settled, again_at) = match settlement {
            Settlement::Ack => (
                match acks.send(*lease) {
                    Ok(()) => Ok(()),
                    Err(_) => self.queue.ack(lease).await,
                },
                None,
            ),
            Settlement::Release => (self.queue.release(lease).await, Some(Utc::now())),
            Settlement::Abandon => (Ok(()), None),
            Settlement::Retry { at, error } => {
                (self.retry(&reservation, at, &error).await, Some(at))
            }
        };
        drop(held);
        if let (Err(e), Some(at)) = (&settled, again_at)
            && e.code() == crate::ErrorCode::NotFound
        {
            // The job vanished while held (the queue lost its data): its message still needs
            // it, and the rebuild only finds messages that are still `queued`.
            self.enqueue_again(&reservation, at).await;
            return;
        }
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
}

impl<S, Q, T> Inner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// Queues a held job again as it was, due at `at`.
    async fn enqueue_again(&self, reservation: &Reservation, at: chrono::DateTime<Utc>) {
        let job = &reservation.job;
        let mut again = NewJob::new(job.group.clone(), job.payload.clone())
            .priority(job.priority)
            .max_attempts(job.max_attempts)
            .run_at(at);
        again.dedup_key = job.dedup_key.clone();
        match self.queue.enqueue(again).await {
            Ok(_) => tracing::warn!(job = %job.id, "queued a job again that vanished while held"),
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "queueing a vanished job again failed");
            }
        }
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
