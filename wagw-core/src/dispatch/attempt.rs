//! One job's way to the transport: the checks a message passes before it is sent (campaign,
//! channel, unknown outcome, window, quota, limits), the send, and the recording of its
//! outcome.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use tokio::sync::watch;

use super::leases::HeldLease;
use super::pacing::Stopped;
use super::reserve_loop::LaneSlot;
use super::{DispatchJob, Inner, Settlement, UnknownOutcome, bump, to_delta};
use crate::content::{MessageContent, OutboundMessage};
use crate::model::campaign::{CampaignState, RecipientStatus};
use crate::model::channel::Channel;
use crate::model::message::{
    MessageBody, MessageError, MessageRecord, MessageStatus, StatusUpdate,
};
use crate::model::tenant::{QuotaResource, UsagePeriod};
use crate::queue::{Queue, Reservation};
use crate::store::{RecipientUpdate, Store};
use crate::transport::{Transport, TransportError, TransportErrorKind};
use crate::{Error, Result};

impl<S, Q, T> Inner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// A job reserved more often than its attempts allow: its reservations expired each
    /// time (workers died or hung). Its message fails, unless it already has an outcome.
    pub(super) async fn exhausted(&self, reservation: &Reservation) -> Result<Settlement> {
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
            self.note_ambiguous(&message).await?;
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
    async fn ensure_lease(&self, reservation: &Reservation, held: &HeldLease<'_>) -> bool {
        if held.is_lost() {
            return false;
        }
        let margin = self.config.visibility / 3;
        if self.leases.live_for(reservation.lease.job_id, margin) {
            return true;
        }
        self.leases
            .renew_job(&*self.queue, &reservation.lease, self.config.visibility)
            .await;
        !held.is_lost() && self.leases.live_for(reservation.lease.job_id, margin)
    }

    pub(super) async fn handle(
        &self,
        reservation: &Reservation,
        held: &HeldLease<'_>,
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
        self.sync_fleet_rate(channel.id).await;

        if self.outcome_unknown(&message, reservation) {
            self.note_ambiguous(&message).await?;
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
            self.acquire_pair(channel.id, &message.contact_phone, stop)
                .await?;
            if let (Some(delay), Some(campaign)) = (campaign_delay, message.campaign_id) {
                self.pacer.acquire_campaign(campaign, delay, stop).await?;
            }
            self.acquire_send_slot(channel.id, stop).await
        };
        let waited_from = Instant::now();
        if paced.await == Err(Stopped) {
            return Ok(Settlement::Release);
        }
        lane.leave();
        // Waiting for a slot can take a while: a pause or cancel in the meantime wins. A
        // message the limiters let through at once was checked a moment ago.
        if message.campaign_id.is_some() && waited_from.elapsed() >= RECHECK_AFTER {
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
        let send_started = Instant::now();
        let sent = self.transport.send(&channel, body).await;
        crate::metrics::send_latency(channel.id, send_started.elapsed());
        match sent {
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
                crate::metrics::sent(channel.id);
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

    /// Counts and flags a message whose last attempt may or may not have reached WhatsApp.
    async fn note_ambiguous(&self, message: &MessageRecord) -> Result<()> {
        bump(&self.counters.ambiguous);
        crate::metrics::ambiguous(message.channel_id);
        tracing::warn!(message = %message.id, attempts = message.attempts, "the outcome of the last attempt is unknown");
        self.store
            .mark_ambiguous(message.tenant_id, message.id)
            .await
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
                self.note_ambiguous(message).await?;
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
                crate::metrics::throttled(channel.id, crate::metrics::Throttle::Number);
                let pause = error.retry_after.unwrap_or(Duration::from_secs(1));
                self.pacer.throttled(channel.id, pause);
                self.fleet_throttled(channel.id, pause).await;
                pause
            }
            TransportErrorKind::ThrottledRecipient => {
                bump(&self.counters.throttled_recipient);
                crate::metrics::throttled(channel.id, crate::metrics::Throttle::Recipient);
                error
                    .retry_after
                    .unwrap_or_default()
                    .max(self.config.backoff.pair_limit(attempt))
            }
            _ => error
                .retry_after
                .unwrap_or_else(|| self.config.backoff.delay(attempt)),
        };
        if !matches!(error.kind, TransportErrorKind::OutcomeUnknown) {
            // Refused before reaching WhatsApp: the store must not keep it as possibly out,
            // or a queue rebuilt from the store would settle it as an unknown outcome.
            self.store
                .requeue_message(message.tenant_id, message.id, message.attempts)
                .await?;
        }
        Ok(Settlement::Retry {
            at: Utc::now() + to_delta(delay),
            error: tagged,
        })
    }

    pub(super) async fn give_up(&self, reservation: &Reservation, error: &str) -> Result<()> {
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
        crate::metrics::failed(message.channel_id);
        tracing::info!(message = %message.id, reason, "message failed");
        Ok(())
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

/// A campaign message that waited at least this long for its limiters reads its campaign
/// again before it is sent.
const RECHECK_AFTER: Duration = Duration::from_millis(1);

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
