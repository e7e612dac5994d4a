//! Webhooks out: the delivery worker over the durable outbox (feature `http`).
//!
//! Events are written to the outbox ([`WebhookStore::enqueue_deliveries`](crate::store::WebhookStore::enqueue_deliveries)) in the same step as
//! the state change they report, so none is lost across a crash: `message_received`,
//! `message_status`, `campaign_progress`, `campaign_completed`, `template_status`,
//! `flow_completed` and `flow_handed_off` (payloads in
//! [`conversation::events`](crate::conversation::events)). [`OutboxWorker`] then delivers them:
//!
//! - it claims due deliveries with a lease ([`WebhookStore::claim_due_deliveries`](crate::store::WebhookStore::claim_due_deliveries)), so many
//!   workers on many machines never deliver one twice at the same time;
//! - it POSTs a JSON envelope `{id, event, tenant_id, created_at, data}` to the subscription's
//!   URL through the SSRF guard ([`GuardedClient`]);
//! - it signs every delivery: `X-Wagw-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//!   "<t>.<body>" with the subscription's secret>`, with the event id in `X-Wagw-Event-Id`
//!   (stable across retries, so receivers deduplicate) — see [`sign`] and [`verify`];
//! - a 2xx answer is delivered; anything else (4xx included, since receivers misconfigure
//!   and recover), a timeout or a refused connection is retried with backoff
//!   ([`RetrySchedule`], about a day by default), then dead-lettered;
//! - every attempt is recorded ([`WebhookStore::record_delivery_attempt`](crate::store::WebhookStore::record_delivery_attempt): attempts, last
//!   status, last error, and a log entry with start time, status or error and duration that
//!   [`WebhookStore::list_delivery_attempts`](crate::store::WebhookStore::list_delivery_attempts) lists), logged through `tracing` and counted through `metrics`-style
//!   counters in [`RunReport`];
//! - dead (or delivered) deliveries are replayed one by one ([`replay`]) or in bulk
//!   ([`replay_dead`]).
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn wagw_core::Store>) -> wagw_core::Result<()> {
//! use wagw_core::net::NetPolicy;
//! use wagw_core::outbox::{OutboxConfig, OutboxWorker};
//!
//! let worker = OutboxWorker::new(store, NetPolicy::default(), OutboxConfig::default())?;
//! let report = worker.run_once(chrono::Utc::now()).await?;
//! println!("{} delivered, {} to retry, {} dead", report.delivered, report.retried, report.dead);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::ids::{DeliveryId, SubscriptionId, TenantId};
use crate::model::webhook::{AttemptTiming, DeliveryOutcome, DeliveryState, WebhookDelivery};
use crate::net::{FetchFailure, GuardedClient, HttpRequest, NetPolicy};
use crate::store::{Page, Store};
use crate::{Error, Result};

/// Header carrying the delivery (event) id.
pub const EVENT_ID_HEADER: &str = "X-Wagw-Event-Id";
/// Header carrying the event kind.
pub const EVENT_HEADER: &str = "X-Wagw-Event";
/// Header carrying the timestamp and signature.
pub const SIGNATURE_HEADER: &str = "X-Wagw-Signature";

/// How long a signature stays acceptable by default in [`verify`].
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Signs a body sent at `timestamp` (unix seconds): the value of [`SIGNATURE_HEADER`],
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
///
/// ```
/// use wagw_core::outbox::{sign, verify};
/// let header = sign("rahasia", 1_764_374_400, br#"{"id":"1"}"#);
/// assert!(header.starts_with("t=1764374400,v1="));
/// assert!(verify("rahasia", &header, br#"{"id":"1"}"#, 1_764_374_410, 300));
/// assert!(!verify("rahasia", &header, br#"{"id":"2"}"#, 1_764_374_410, 300));
/// ```
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Checks a [`SIGNATURE_HEADER`] value the way a receiver should: the HMAC matches (compared
/// in constant time) and the timestamp is within `tolerance_secs` of `now` (against replays).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = Some(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    match unhex(signature) {
        Some(bytes) => mac.verify_slice(&bytes).is_ok(),
        None => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Delays between attempts: attempt `n` (1-based) that fails waits `delays[n - 1]`; when the
/// list is exhausted the delivery is dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delays, in order.
    pub delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    /// Eleven attempts over about 23 hours: 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 3 h, 4 h,
    /// 6 h, 6 h.
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        Self {
            delays: vec![
                Duration::from_secs(30),
                min(2),
                min(10),
                min(30),
                min(60),
                min(120),
                min(180),
                min(240),
                min(360),
                min(360),
            ],
        }
    }
}

impl RetrySchedule {
    /// The delay after failed attempt number `attempt` (1-based), or `None` when the delivery
    /// should be dead-lettered. A tenth of jitter spreads retries of a burst apart.
    pub fn after(&self, attempt: u32) -> Option<Duration> {
        let base = *self.delays.get(attempt.checked_sub(1)? as usize)?;
        let jitter = base.as_millis() as u64 / 10;
        Some(base + Duration::from_millis(fastrand::u64(0..=jitter)))
    }

    /// The total time from the first attempt to the last one, without jitter.
    pub fn span(&self) -> Duration {
        self.delays.iter().sum()
    }
}

/// How the worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Deliveries claimed per round.
    pub batch: usize,
    /// How long a claimed delivery stays hidden from other workers; longer than the total
    /// HTTP timeout.
    pub lease: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Sleep between rounds that found nothing due.
    pub idle_poll: Duration,
    /// Backoff between attempts.
    pub retry: RetrySchedule,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            batch: 64,
            lease: Duration::from_secs(60),
            concurrency: 16,
            idle_poll: Duration::from_millis(500),
            retry: RetrySchedule::default(),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Deliveries claimed.
    pub claimed: usize,
    /// Answered 2xx.
    pub delivered: usize,
    /// Failed and scheduled again.
    pub retried: usize,
    /// Failed for the last time.
    pub dead: usize,
}

/// The delivery worker. See the [module documentation](self).
#[derive(Clone)]
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    client: GuardedClient,
    config: OutboxConfig,
}

impl std::fmt::Debug for OutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWorker")
            .field("client", &self.client)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one attempt produced, before it is recorded.
enum Attempt {
    Delivered(u16),
    Failed {
        status: Option<u16>,
        error: String,
    },
    /// The subscription is gone or switched off: no point in retrying.
    Abandoned(String),
}

impl OutboxWorker {
    /// A worker delivering through a [`GuardedClient`] with `policy`.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the HTTP client cannot be built; [`Error::InvalidInput`] for a
    /// zero batch or concurrency.
    pub fn new(store: Arc<dyn Store>, policy: NetPolicy, config: OutboxConfig) -> Result<Self> {
        if config.batch == 0 || config.concurrency == 0 {
            return Err(Error::invalid_input(
                "outbox",
                "batch and concurrency must be at least 1",
            ));
        }
        Ok(Self {
            store,
            client: GuardedClient::new(policy)?,
            config,
        })
    }

    /// Claims the deliveries due at `now` (one batch) and attempts each once.
    ///
    /// # Errors
    ///
    /// A store error while claiming. Errors recording a single attempt are logged and leave
    /// that delivery to come back when its lease ends.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<RunReport> {
        let claimed = self
            .store
            .claim_due_deliveries(now, self.config.batch, self.config.lease)
            .await?;
        let mut report = RunReport {
            claimed: claimed.len(),
            ..RunReport::default()
        };
        let results: Vec<Option<DeliveryState>> = futures::stream::iter(claimed)
            .map(|delivery| self.deliver(delivery))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for state in results.into_iter().flatten() {
            match state {
                DeliveryState::Delivered => report.delivered += 1,
                DeliveryState::Pending => report.retried += 1,
                DeliveryState::Dead => report.dead += 1,
            }
        }
        Ok(report)
    }

    /// Runs rounds until `shutdown` completes, sleeping [`idle_poll`](OutboxConfig::idle_poll)
    /// when nothing was due. Store errors are logged and retried after the idle sleep.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let claimed = match self.run_once(Utc::now()).await {
                Ok(report) => report.claimed,
                Err(error) => {
                    tracing::warn!(%error, "outbox: claiming deliveries failed");
                    0
                }
            };
            // A full batch means more may be due: go again at once, still heeding shutdown.
            let pause = if claimed < self.config.batch {
                self.config.idle_poll
            } else {
                Duration::ZERO
            };
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Makes one attempt and records it; returns the delivery's new state.
    async fn deliver(&self, delivery: WebhookDelivery) -> Option<DeliveryState> {
        let started_at = Utc::now();
        let clock = std::time::Instant::now();
        let attempt = self.attempt(&delivery).await;
        let timing = AttemptTiming {
            started_at,
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let number = delivery.attempts + 1;
        let outcome = match attempt {
            Attempt::Delivered(status) => DeliveryOutcome::Delivered { status },
            Attempt::Abandoned(error) => DeliveryOutcome::Dead {
                status: None,
                error,
            },
            Attempt::Failed { status, error } => match self.config.retry.after(number) {
                Some(delay) => DeliveryOutcome::Retry {
                    status,
                    error,
                    retry_at: Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
                },
                None => DeliveryOutcome::Dead { status, error },
            },
        };
        tracing::info!(
            delivery = %delivery.id,
            tenant = %delivery.tenant_id,
            subscription = %delivery.subscription_id,
            event = ?delivery.event,
            attempt = number,
            outcome = ?outcome,
            "webhook delivery attempt"
        );
        match self
            .store
            .record_delivery_attempt(delivery.tenant_id, delivery.id, &outcome, &timing)
            .await
        {
            Ok(recorded) => Some(recorded.state),
            Err(error) => {
                tracing::warn!(delivery = %delivery.id, %error, "outbox: recording an attempt failed");
                None
            }
        }
    }

    async fn attempt(&self, delivery: &WebhookDelivery) -> Attempt {
        let subscription = match self
            .store
            .get_subscription(delivery.tenant_id, delivery.subscription_id)
            .await
        {
            Ok(s) if s.active => s,
            Ok(_) => return Attempt::Abandoned("subscription is inactive".into()),
            Err(Error::NotFound { .. }) => {
                return Attempt::Abandoned("subscription was deleted".into());
            }
            Err(error) => {
                return Attempt::Failed {
                    status: None,
                    error: format!("reading the subscription: {error}"),
                };
            }
        };
        let event = serde_json::to_value(delivery.event)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let envelope = json!({
            "id": delivery.id,
            "event": event,
            "tenant_id": delivery.tenant_id,
            "created_at": delivery.created_at,
            "data": delivery.payload,
        });
        let body = match serde_json::to_vec(&envelope) {
            Ok(body) => body,
            Err(e) => return Attempt::Abandoned(format!("payload is not JSON: {e}")),
        };
        let timestamp = Utc::now().timestamp();
        let request = HttpRequest::new("POST", subscription.url.clone())
            .header("Content-Type", "application/json")
            .header(EVENT_ID_HEADER, delivery.id.to_string())
            .header(EVENT_HEADER, event)
            .header(
                SIGNATURE_HEADER,
                sign(subscription.secret.expose(), timestamp, &body),
            )
            .body(body);
        match self.client.send(request).await {
            Ok(response) if (200..300).contains(&response.status) => {
                Attempt::Delivered(response.status)
            }
            Ok(response) => Attempt::Failed {
                status: Some(response.status),
                error: format!("receiver answered {}", response.status),
            },
            Err(failure @ FetchFailure::Denied(_)) => Attempt::Failed {
                status: None,
                error: failure.to_string(),
            },
            Err(failure) => Attempt::Failed {
                status: None,
                error: failure.to_string(),
            },
        }
    }
}

/// Makes one delivered or dead delivery pending again, due now. Its attempt count carries on,
/// so a replayed delivery that fails again is dead again after one attempt; replay it again to
/// try once more.
///
/// # Errors
///
/// [`Error::NotFound`] for another tenant's or an unknown delivery.
pub async fn replay(store: &dyn Store, tenant: TenantId, id: DeliveryId) -> Result<()> {
    store.replay_delivery(tenant, id, Utc::now()).await
}

/// Replays every dead delivery of the tenant (of one subscription when given), due now.
/// Returns how many were replayed.
///
/// # Errors
///
/// The first store error; deliveries replayed before it stay replayed.
pub async fn replay_dead(
    store: &dyn Store,
    tenant: TenantId,
    subscription: Option<SubscriptionId>,
) -> Result<u64> {
    // Collect first: replaying while paging would move rows under the cursor.
    let mut dead = Vec::new();
    let mut page = Page::first(500);
    loop {
        let batch = store.list_deliveries(tenant, subscription, page).await?;
        dead.extend(
            batch
                .items
                .iter()
                .filter(|d| d.state == DeliveryState::Dead)
                .map(|d| d.id),
        );
        match batch.next {
            Some(cursor) => page = Page::after(500, cursor),
            None => break,
        }
    }
    let now = Utc::now();
    for id in &dead {
        store.replay_delivery(tenant, *id, now).await?;
    }
    Ok(dead.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_expire() {
        let body = br#"{"event":"message_received"}"#;
        let header = sign("s3cret", 1_000, body);
        assert!(verify("s3cret", &header, body, 1_100, 300));
        assert!(!verify("other", &header, body, 1_100, 300));
        assert!(!verify("s3cret", &header, b"{}", 1_100, 300));
        assert!(!verify("s3cret", &header, body, 2_000, 300));
        assert!(!verify("s3cret", "t=1000", body, 1_000, 300));
        assert!(!verify("s3cret", "t=1000,v1=zz", body, 1_000, 300));
    }

    #[test]
    fn the_default_schedule_spans_about_a_day() {
        let schedule = RetrySchedule::default();
        let hours = schedule.span().as_secs_f64() / 3600.0;
        assert!((20.0..=26.0).contains(&hours), "{hours} h");
        assert!(schedule.after(1).is_some());
        assert!(schedule.after(10).is_some());
        assert!(schedule.after(11).is_none());
        assert!(schedule.after(0).is_none());
    }
}
