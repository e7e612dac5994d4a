//! The limiter seam: a number's rate and the pair limit are the dispatcher's own (the
//! [`Pacer`](super::Pacer)) unless the queue enforces them for every process sharing it
//! ([`Queue::fleet_limits`]). Then the dispatcher writes each number's rate to the queue,
//! reports throttles there so one 130429 slows the number for the whole fleet, and takes
//! pair-limit slots there; the queue's reservations only hand out jobs of numbers with
//! capacity, and each send takes a fleet-wide send slot of its number right before it goes
//! (behind the in-process limiter, which keeps the pause after a throttle and the order of a
//! number's jobs), so a stall between reservation and send never bunches the number's sends.

use std::time::Duration;

use tokio::sync::watch;

use super::Inner;
use super::pacing::{Stopped, burst_for, sleep_or_stop};
use crate::ids::ChannelId;
use crate::phone::PhoneNumber;
use crate::queue::Queue;
use crate::store::Store;
use crate::transport::Transport;

impl<S, Q, T> Inner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// Writes the channel's configured rate to the fleet-wide limits when it is not the one
    /// last written there (first use, a new channel record, a rate pinned at run time).
    pub(super) async fn sync_fleet_rate(&self, channel: ChannelId) {
        let Some(fleet) = self.queue.fleet_limits() else {
            return;
        };
        let Some(rate) = self.pacer.configured_rate(channel) else {
            return;
        };
        if self.fleet_rates.lock().get(&channel) == Some(&rate) {
            return;
        }
        match fleet
            .set_rate(&channel.to_string(), rate, burst_for(rate))
            .await
        {
            Ok(_) => {
                self.fleet_rates.lock().insert(channel, rate);
            }
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "writing a fleet-wide rate failed");
            }
        }
    }

    /// The far side throttled the number: slow it down for every process.
    pub(super) async fn fleet_throttled(&self, channel: ChannelId, pause: Duration) {
        if let Some(fleet) = self.queue.fleet_limits()
            && let Err(e) = fleet.throttled(&channel.to_string(), pause).await
        {
            tracing::warn!(channel = %channel, error = %e, "reporting a throttle fleet-wide failed");
        }
    }

    /// Waits for the number's next send slot: this process's pacer first, then, when the
    /// queue has fleet-wide limits, the fleet-wide send slot at the number's rate. If the
    /// fleet-wide bucket cannot be reached, this process's pacer decides alone meanwhile.
    pub(super) async fn acquire_send_slot(
        &self,
        channel: ChannelId,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        self.pacer.acquire_channel(channel, stop).await?;
        let (Some(fleet), Some(rate)) = (
            self.queue.fleet_limits(),
            self.pacer.effective_rate(channel),
        ) else {
            return Ok(());
        };
        let group = channel.to_string();
        let every = Duration::from_secs(1) / rate.max(1);
        loop {
            match fleet.take_send_slot(&group, every, burst_for(rate)).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => sleep_or_stop(wait, stop).await?,
                Err(e) => {
                    tracing::warn!(channel = %channel, error = %e, "the fleet-wide send slots are unreachable; using this process's");
                    return Ok(());
                }
            }
        }
    }

    /// Waits until the pair (number, recipient) may receive another message: from the
    /// queue's fleet-wide bucket when it has one, else from this process's pacer. If the
    /// fleet-wide bucket cannot be reached, this process's own bucket decides meanwhile.
    pub(super) async fn acquire_pair(
        &self,
        channel: ChannelId,
        to: &PhoneNumber,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let (Some(fleet), Some(limit)) = (self.queue.fleet_limits(), self.config.pair_limit) else {
            return self.pacer.acquire_pair(channel, to, stop).await;
        };
        let group = channel.to_string();
        loop {
            match fleet
                .take_pair(&group, to.as_str(), limit.every, limit.burst)
                .await
            {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => sleep_or_stop(wait, stop).await?,
                Err(e) => {
                    tracing::warn!(channel = %channel, error = %e, "the fleet-wide pair limit is unreachable; using this process's");
                    return self.pacer.acquire_pair(channel, to, stop).await;
                }
            }
        }
    }
}
