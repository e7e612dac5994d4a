//! Outgoing webhooks: a time-ordered queue, a scheduler task and bounded concurrent delivery.
//!
//! Request handlers only push small jobs onto a heap ordered by due time (bounded by
//! `webhook_queue_capacity`; beyond it jobs are dropped and counted). One scheduler task pops
//! due jobs, groups status items of the same number into one POST (up to `webhook_batch`),
//! serialises and signs the body, and hands it to a delivery task bounded by a semaphore of
//! `webhook_concurrency` permits. A non-2xx answer or a transport failure puts the same body
//! back on the heap with exponential backoff until `max_attempts`.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, watch};

use super::api_error::webhook_error;
use super::config::{EmulatorConfig, UnicodeMode, WebhookTarget};
use super::state::{Number, Shared};
use crate::webhook::signature::{escape_unicode, sign};

/// Counts of the webhook machinery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// POSTs answered with a 2xx.
    pub delivered: u64,
    /// POSTs that failed (non-2xx or transport error), each attempt counted.
    pub failed_attempts: u64,
    /// Webhooks given up after the last attempt.
    pub abandoned: u64,
    /// Jobs dropped because the queue was full.
    pub dropped: u64,
    /// Status items sent (a batch of n counts n; duplicates count again).
    pub status_items: u64,
    /// Jobs waiting in the queue.
    pub queued: u64,
    /// POSTs in flight, plus jobs the scheduler is turning into POSTs.
    pub in_flight: u64,
}

/// Status of an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    Sent,
    Delivered,
    Read,
    Played,
    Failed(i64),
}

impl StatusKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed(_) => "failed",
        }
    }
}

/// One status item to report.
#[derive(Debug)]
pub(crate) struct StatusEvent {
    pub(crate) number: Arc<Number>,
    pub(crate) wamid: Arc<str>,
    pub(crate) recipient: Arc<str>,
    /// Whether the message was addressed by business-scoped user id (`recipient`): the status
    /// then names the user in `recipient_user_id`, and has no phone number to give.
    pub(crate) by_user_id: bool,
    pub(crate) status: StatusKind,
    pub(crate) category: &'static str,
    pub(crate) biz_opaque: Option<Arc<str>>,
    pub(crate) due_offset: Duration,
    /// When the status truly happened (unix seconds), reported as its `timestamp`.
    pub(crate) timestamp: i64,
}

/// A webhook body ready to POST.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    body: Bytes,
    signature: Arc<str>,
    attempt: u32,
    items: u64,
}

/// Work for the scheduler.
#[derive(Debug)]
pub(crate) enum Job {
    /// A status item, possibly to be delivered twice.
    Status { event: StatusEvent, duplicate: bool },
    /// A complete webhook body (inbound message, template update).
    Body(Value),
    /// A template review decision falls due.
    TemplateReview { id: String },
    /// A redelivery.
    Retry(Outgoing),
}

#[derive(Debug)]
struct Scheduled {
    due: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    abandoned: AtomicU64,
    dropped: AtomicU64,
    status_items: AtomicU64,
    in_flight: AtomicUsize,
    /// Jobs popped by the scheduler and not yet handed to a delivery task.
    busy: AtomicUsize,
}

/// The queue shared by handlers (producers) and the scheduler (consumer).
#[derive(Debug)]
pub(crate) struct WebhookQueue {
    heap: Mutex<BinaryHeap<Reverse<Scheduled>>>,
    seq: AtomicU64,
    notify: Notify,
    capacity: usize,
    target: Option<WebhookTarget>,
    counters: Counters,
}

impl WebhookQueue {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        Self {
            heap: Mutex::new(BinaryHeap::new()),
            seq: AtomicU64::new(0),
            notify: Notify::new(),
            capacity: config.webhook_queue_capacity.max(1),
            target: config.webhook.clone(),
            counters: Counters::default(),
        }
    }

    /// Whether webhooks go anywhere.
    pub(crate) fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Schedules a job; drops it (and counts) when the queue is full.
    pub(crate) fn push(&self, due: Instant, job: Job) {
        let needs_target = !matches!(job, Job::TemplateReview { .. });
        if needs_target && !self.enabled() {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let earliest = {
            let mut heap = self.heap.lock();
            if heap.len() >= self.capacity {
                drop(heap);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("emulator webhook queue full; job dropped");
                return;
            }
            let earliest = heap.peek().is_none_or(|Reverse(top)| due < top.due);
            heap.push(Reverse(Scheduled { due, seq, job }));
            earliest
        };
        if earliest {
            self.notify.notify_one();
        }
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        WebhookStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            status_items: c.status_items.load(Ordering::Relaxed),
            queued: self.heap.lock().len() as u64,
            in_flight: (c.in_flight.load(Ordering::SeqCst) + c.busy.load(Ordering::SeqCst)) as u64,
        }
    }

    /// Pops jobs due at `now`, at most `max`.
    fn pop_due(&self, now: Instant, max: usize) -> (Vec<Scheduled>, Option<Instant>) {
        let mut heap = self.heap.lock();
        let mut due = Vec::new();
        while due.len() < max {
            match heap.peek() {
                Some(Reverse(top)) if top.due <= now => {
                    if let Some(Reverse(job)) = heap.pop() {
                        due.push(job);
                    }
                }
                _ => break,
            }
        }
        if !due.is_empty() {
            // Marked under the heap lock so that `stats` never sees the jobs in neither place.
            self.counters.busy.store(1, Ordering::SeqCst);
        }
        let next = heap.peek().map(|Reverse(top)| top.due);
        (due, next)
    }
}

/// Runs the scheduler until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let config = &shared.config;
    let client = match reqwest::Client::builder()
        .timeout(config.webhook_timeout)
        .pool_max_idle_per_host(config.webhook_concurrency.max(1))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "emulator cannot build its webhook client");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(config.webhook_concurrency.max(1)));
    let batch = config.webhook_batch.max(1);
    // With batching on, jobs due within a few milliseconds are sent together.
    let coalesce = if batch > 1 {
        Duration::from_millis(5)
    } else {
        Duration::ZERO
    };
    loop {
        let (due, next) = shared.webhooks.pop_due(Instant::now() + coalesce, 4096);
        if due.is_empty() {
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = shared.webhooks.notify.notified() => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        for outgoing in build(&shared, due, batch) {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => permit,
                _ = shutdown.changed() => return,
            };
            let Ok(permit) = permit else { return };
            let shared = Arc::clone(&shared);
            let client = client.clone();
            shared
                .webhooks
                .counters
                .in_flight
                .fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                deliver(&shared, &client, outgoing).await;
                shared
                    .webhooks
                    .counters
                    .in_flight
                    .fetch_sub(1, Ordering::SeqCst);
                drop(permit);
            });
        }
        shared.webhooks.counters.busy.store(0, Ordering::SeqCst);
    }
}

/// Turns due jobs into bodies; status items of one number are batched.
fn build(shared: &Shared, due: Vec<Scheduled>, batch: usize) -> Vec<Outgoing> {
    let mut out = Vec::new();
    let mut pending: Vec<(StatusEvent, bool)> = Vec::new();
    let flush = |pending: &mut Vec<(StatusEvent, bool)>, out: &mut Vec<Outgoing>| {
        if pending.is_empty() {
            return;
        }
        let duplicate = pending.iter().any(|(_, d)| *d);
        let items = pending.len() as u64;
        let body = status_body(pending);
        pending.clear();
        if let Some(outgoing) = body.and_then(|body| shared.webhooks_outgoing(body, items)) {
            if duplicate {
                out.push(outgoing.clone());
            }
            out.push(outgoing);
        }
    };
    for Scheduled { job, .. } in due {
        match job {
            Job::Status { event, duplicate } => {
                let same_number = pending
                    .first()
                    .is_none_or(|(first, _)| Arc::ptr_eq(&first.number, &event.number));
                if !same_number || pending.len() >= batch {
                    flush(&mut pending, &mut out);
                }
                pending.push((event, duplicate));
            }
            Job::Body(body) => {
                flush(&mut pending, &mut out);
                match serde_json::to_string(&body) {
                    Ok(text) => out.extend(shared.webhooks_outgoing(text, 0)),
                    Err(error) => tracing::error!(%error, "emulator cannot serialise a webhook"),
                }
            }
            Job::TemplateReview { id } => {
                if let Some(body) = shared.review_template(&id) {
                    shared.webhooks.push(Instant::now(), Job::Body(body));
                }
            }
            Job::Retry(outgoing) => {
                flush(&mut pending, &mut out);
                out.push(outgoing);
            }
        }
    }
    flush(&mut pending, &mut out);
    out
}

impl Shared {
    /// Escapes (per the unicode mode) and signs a serialised body.
    fn webhooks_outgoing(&self, text: String, items: u64) -> Option<Outgoing> {
        let target = self.webhooks.target.as_ref()?;
        let (sent, signed) = if text.is_ascii() {
            (text, None)
        } else {
            let escaped = escape_unicode(&text);
            match self.config.unicode {
                UnicodeMode::Escaped => (escaped, None),
                UnicodeMode::RawSignedEscaped => (text, Some(escaped)),
            }
        };
        let signature = sign(
            target.app_secret.as_bytes(),
            signed.as_deref().unwrap_or(&sent).as_bytes(),
        );
        Some(Outgoing {
            body: Bytes::from(sent),
            signature: Arc::from(signature),
            attempt: 1,
            items,
        })
    }
}

async fn deliver(shared: &Shared, client: &reqwest::Client, outgoing: Outgoing) {
    let Some(target) = shared.webhooks.target.as_ref() else {
        return;
    };
    let counters = &shared.webhooks.counters;
    let result = client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", &*outgoing.signature)
        .header("user-agent", "facebookexternalua")
        .body(outgoing.body.clone())
        .send()
        .await;
    let ok = match &result {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    };
    if ok {
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        counters
            .status_items
            .fetch_add(outgoing.items, Ordering::Relaxed);
    } else {
        counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
        let redelivery = shared.config.redelivery;
        match &result {
            Ok(response) => {
                tracing::debug!(status = %response.status(), attempt = outgoing.attempt, "webhook refused")
            }
            Err(error) => tracing::debug!(%error, attempt = outgoing.attempt, "webhook failed"),
        }
        if outgoing.attempt < redelivery.max_attempts {
            let delay = redelivery.backoff(outgoing.attempt);
            let retry = Outgoing {
                attempt: outgoing.attempt + 1,
                ..outgoing
            };
            shared
                .webhooks
                .push(Instant::now() + delay, Job::Retry(retry));
        } else {
            counters.abandoned.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                attempts = outgoing.attempt,
                "emulator gave up delivering a webhook"
            );
        }
    }
}

/// The `messages` webhook carrying status items of one number.
/// Writes `text` as a JSON string literal.
fn push_json_str(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The `messages` webhook carrying status items of one number, written directly as text
/// (status webhooks are the emulator's bulk output; no intermediate `Value`).
fn status_body(events: &[(StatusEvent, bool)]) -> Option<String> {
    use std::fmt::Write;
    let number = &events.first()?.0.number;
    let mut out = String::with_capacity(260 + events.len() * 420);
    out.push_str(r#"{"object":"whatsapp_business_account","entry":[{"id":"#);
    push_json_str(&mut out, &number.waba_id);
    out.push_str(r#","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"#);
    push_json_str(&mut out, &number.metadata_display);
    out.push_str(r#","phone_number_id":"#);
    push_json_str(&mut out, &number.id);
    out.push_str(r#"},"statuses":["#);
    for (i, (event, _)) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"id":"#);
        push_json_str(&mut out, &event.wamid);
        let _ = write!(
            out,
            r#","status":"{}","timestamp":"{}","{}":"#,
            event.status.as_str(),
            event.timestamp,
            if event.by_user_id {
                "recipient_user_id"
            } else {
                "recipient_id"
            }
        );
        push_json_str(&mut out, &event.recipient);
        if let Some(data) = &event.biz_opaque {
            out.push_str(r#","biz_opaque_callback_data":"#);
            push_json_str(&mut out, data);
        }
        if let StatusKind::Failed(code) = event.status {
            out.push_str(r#","errors":"#);
            out.push_str(&json!([webhook_error(code)]).to_string());
            out.push('}');
            continue;
        }
        let service = event.category == "service";
        let _ = write!(
            out,
            r#","conversation":{{"id":"{:016x}{:016x}","#,
            super::ids::fnv(event.number.id.as_bytes()),
            super::ids::fnv(event.recipient.as_bytes())
        );
        if event.status == StatusKind::Sent {
            let _ = write!(
                out,
                r#""expiration_timestamp":"{}","#,
                event.timestamp + 24 * 3600
            );
        }
        let _ = write!(
            out,
            r#""origin":{{"type":"{category}"}}}},"pricing":{{"billable":{billable},"pricing_model":"PMP","category":"{category}","type":"{kind}"}}}}"#,
            category = event.category,
            billable = !service,
            kind = if service {
                "free_customer_service"
            } else {
                "regular"
            },
        );
    }
    out.push_str(r#"]},"field":"messages"}]}]}"#);
    Some(out)
}

/// Meta's envelope around one `messages` change of a number.
pub(crate) fn messages_envelope(number: &Number, mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.insert("messaging_product".to_owned(), "whatsapp".into());
        object.insert(
            "metadata".to_owned(),
            json!({
                "display_phone_number": &*number.metadata_display,
                "phone_number_id": &*number.id,
            }),
        );
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": &*number.waba_id,
            "changes": [{"value": value, "field": "messages"}],
        }],
    })
}
