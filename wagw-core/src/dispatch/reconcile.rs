//! Finds work that fell between two steps and puts it back on its way: a message recorded
//! whose job never reached the queue (the enqueue failed, or the process died in between)
//! is queued again. Campaign messages are the campaign engine's to queue again (it holds
//! them on purpose while a campaign is paused), so they are left alone here.
//!
//! When the queue itself lost its data ([`Queue::data_generation`] changed), every queued
//! message, campaign messages included, gets its job back: see [`Inner::rebuild`].

use chrono::{DateTime, TimeDelta, Utc};
use uuid::{NoContext, Timestamp, Uuid};

use super::{DispatchJob, Inner};
use crate::Result;
use crate::ids::ChannelId;
use crate::model::message::{Direction, MessageRecord, MessageStatus};
use crate::queue::Queue;
use crate::store::{Page, Store};
use crate::transport::Transport;

/// Messages read per store round trip.
const BATCH: usize = 1_000;
/// How far before the previous pass's horizon a pass starts again, for ids minted by
/// processes whose clocks run a little behind.
const CLOCK_SLACK: TimeDelta = TimeDelta::minutes(5);

/// Rebuilt jobs wait this long, so that a send still in flight when the queue lost its data
/// is recorded before its message is looked at again.
const REBUILD_DELAY: TimeDelta = TimeDelta::seconds(2);

/// Where the reconciler's passes start: every queued message is looked at once at first,
/// then only those recorded since (less the clock slack).
#[derive(Debug, Default)]
pub(super) struct ReconcileCursor {
    horizon: Option<DateTime<Utc>>,
}

impl<S, Q, T> Inner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// One pass: queues again every message outside a campaign that is still `queued` some
    /// time after it was recorded. Enqueueing is deduplicated per message, so a message
    /// whose job is alive is left as it is. Returns how many jobs were created.
    pub(super) async fn reconcile(&self, cursor: &mut ReconcileCursor) -> Result<usize> {
        let before = Utc::now() - super::to_delta(self.config.reconcile_after);
        // Message ids are UUIDv7: an id minted at an instant is a cursor for that instant.
        let mut page = match cursor.horizon {
            Some(horizon) => Page::after(BATCH, id_at(horizon - CLOCK_SLACK)),
            None => Page::first(BATCH),
        };
        let mut created = 0;
        loop {
            let found = self.store.queued_messages(before, page).await?;
            let orphans: Vec<_> = found
                .items
                .into_iter()
                .filter(|m| m.campaign_id.is_none())
                .collect();
            created += self.requeue(&orphans).await?;
            match found.next {
                Some(next) => page = Page::after(BATCH, next),
                None => break,
            }
        }
        cursor.horizon = Some(before);
        if created > 0 {
            tracing::warn!(jobs = created, "queued messages that had lost their jobs");
        }
        Ok(created)
    }
}

impl<S, Q, T> Inner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// Rebuilds the queue from the store after it lost its data: first the fleet-wide rates
    /// this dispatcher wrote (they were lost with the jobs, and rebuilt jobs must not leave
    /// unpaced), then a job for every outbound message still `queued`, across tenants,
    /// campaign messages included (a held campaign's jobs are given up again when reserved),
    /// and one for every message still `sending`. Messages already sent or failed are not
    /// queued again, so nothing sent is sent again. Returns how many jobs were created.
    ///
    /// A `sending` message's job held the only record of how its last attempt ended, and it
    /// is gone: its worker may have died with Redis, or it waits for a retry after an unknown
    /// outcome (one waiting after a refusal is `queued` again, see
    /// [`Store::requeue_message`], and is simply sent). Its job is
    /// due one reservation period later, so a worker still mid-send records the outcome first;
    /// when it is reserved, its outcome is unknown and [`UnknownOutcome`](super::UnknownOutcome)
    /// decides (counted as ambiguous, sent again or failed), as after any crash mid-send.
    pub(super) async fn rebuild(&self) -> Result<usize> {
        let channels: Vec<ChannelId> = self.fleet_rates.lock().drain().map(|(c, _)| c).collect();
        for channel in channels {
            self.sync_fleet_rate(channel).await;
        }
        let queued_at = Utc::now() + REBUILD_DELAY;
        let created = self
            .refeed(MessageStatus::Queued, queued_at, |page| {
                self.store.queued_messages(Utc::now(), page)
            })
            .await?;
        let sending_at = Utc::now() + super::to_delta(self.config.visibility);
        let unsettled = self
            .refeed(MessageStatus::Sending, sending_at, |page| {
                self.store.sending_messages(page)
            })
            .await?;
        tracing::warn!(
            jobs = created + unsettled,
            unsettled,
            "rebuilt the queue from the store after it lost its data"
        );
        Ok(created + unsettled)
    }

    /// Queues a job due at `run_at` for every outbound message in `status` that `list` pages
    /// through; returns how many jobs were created (a message whose job exists keeps it).
    async fn refeed<'a, F, Fut>(
        &'a self,
        status: MessageStatus,
        run_at: DateTime<Utc>,
        list: F,
    ) -> Result<usize>
    where
        F: Fn(Page) -> Fut,
        Fut: std::future::Future<Output = Result<crate::store::Paged<MessageRecord>>> + 'a,
    {
        let mut page = Page::first(BATCH);
        let mut created = 0;
        loop {
            let found = list(page).await?;
            let jobs: Vec<_> = found
                .items
                .iter()
                .filter(|m| m.status == status && m.direction == Direction::Outbound)
                .map(|m| DispatchJob::new_job(m, m.id, self.config.max_attempts).run_at(run_at))
                .collect();
            if !jobs.is_empty() {
                created += self
                    .queue
                    .enqueue_many(jobs)
                    .await?
                    .iter()
                    .filter(|e| matches!(e, crate::queue::Enqueued::Created(_)))
                    .count();
            }
            match found.next {
                Some(next) => page = Page::after(BATCH, next),
                None => break,
            }
        }
        Ok(created)
    }
}

/// The smallest UUIDv7 of an instant, as a page cursor.
fn id_at(at: DateTime<Utc>) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
    let ts = Timestamp::from_unix(
        NoContext,
        millis / 1_000,
        ((millis % 1_000) * 1_000_000) as u32,
    );
    let mut bytes = *Uuid::new_v7(ts).as_bytes();
    // Clear the random bits (keeping version and variant) so the cursor sorts first.
    bytes[6] &= 0xF0;
    bytes[7] = 0;
    bytes[8] &= 0xC0;
    bytes[9..].fill(0);
    Uuid::from_bytes(bytes).to_string()
}
