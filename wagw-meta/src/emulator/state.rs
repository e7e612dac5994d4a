//! The emulator's state: phone numbers (limits, windows, registration, counters), templates
//! and media, and the send path that ties them together.
//!
//! Locking: the number table and the template and media stores sit behind read-mostly
//! `RwLock`s; each number has its own `Mutex` over its limiters, windows and counters. A send
//! takes at most one read lock on templates and one short lock on its number, never across an
//! `.await`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};

use super::api_error::{ApiError, codes};
use super::check::{CheckedMessage, CheckedRequest, MessageKind, check_messages_request};
use super::config::{EmulatorConfig, PairLimit, PhoneNumberSpec, TemplateSpec, Throughput};
use super::generated_media::Generated;
use super::ids;
use super::template_send::{self, TemplateShape};
use super::webhooks::{Job, StatusEvent, StatusKind, WebhookQueue};

/// Request and error counts of one phone number's `messages` edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberCounters {
    /// Requests received (messages and read receipts, valid or not).
    pub requests: u64,
    /// Messages accepted (HTTP 200 with a wamid).
    pub accepted: u64,
    /// Read receipts accepted.
    pub read_receipts: u64,
    /// Inbound messages from users (they count toward the number's throughput, as Meta's
    /// limit covers inbound and outbound traffic).
    pub inbound: u64,
    /// Synchronous errors by Meta code.
    pub errors: BTreeMap<i64, u64>,
    /// Asynchronous failures (`failed` status) by Meta code.
    pub failed: BTreeMap<i64, u64>,
}

impl NumberCounters {
    /// Count of synchronous errors with `code`.
    pub fn error(&self, code: i64) -> u64 {
        self.errors.get(&code).copied().unwrap_or(0)
    }

    /// Count of asynchronous failures with `code`.
    pub fn failure(&self, code: i64) -> u64 {
        self.failed.get(&code).copied().unwrap_or(0)
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Self {
        Self {
            tokens: capacity,
            at: now,
        }
    }

    /// Refills at `rate` tokens per second up to `capacity` and takes one token if it can.
    fn take(&mut self, now: Instant, rate: f64, capacity: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Mutable state of one phone number.
#[derive(Debug)]
struct NumberInner {
    throughput: Throughput,
    bucket: Bucket,
    pairs: HashMap<String, Bucket>,
    windows: HashMap<String, Instant>,
    inbound_ids: HashSet<String>,
    seq: u64,
    counters: NumberCounters,
    registered: bool,
    verified: bool,
    pending_code: Option<String>,
    code_requests: u64,
    pin: Option<String>,
    registration_calls: VecDeque<Instant>,
}

/// A business phone number.
#[derive(Debug)]
pub(crate) struct Number {
    pub(crate) id: Arc<str>,
    pub(crate) display: String,
    pub(crate) metadata_display: Arc<str>,
    pub(crate) waba_id: Arc<str>,
    pub(crate) verified_name: String,
    inner: Mutex<NumberInner>,
}

/// A template as the emulator stores it.
#[derive(Debug, Clone)]
pub(crate) struct StoredTemplate {
    pub(crate) id: String,
    pub(crate) waba_id: String,
    pub(crate) name: String,
    pub(crate) language: String,
    pub(crate) category: String,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) components: Value,
    pub(crate) parameter_format: String,
    /// What a send must supply, read from `components`.
    shape: TemplateShape,
}

impl StoredTemplate {
    pub(crate) fn to_json(&self) -> Value {
        let mut value = json!({
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "parameter_format": self.parameter_format,
            "components": self.components,
        });
        if let Some(reason) = &self.reason {
            value["rejected_reason"] = reason.clone().into();
        }
        value
    }
}

#[derive(Debug, Default)]
pub(crate) struct Templates {
    by_id: HashMap<String, StoredTemplate>,
    by_key: HashMap<(String, String, String), String>,
    order: Vec<String>,
}

/// Uploaded media.
#[derive(Debug)]
pub(crate) struct Media {
    pub(crate) id: String,
    pub(crate) owner: Arc<str>,
    pub(crate) mime_type: String,
    pub(crate) sha256: String,
    pub(crate) body: MediaBody,
}

/// The bytes of uploaded media, or the recipe of generated media.
#[derive(Debug)]
pub(crate) enum MediaBody {
    /// Uploaded through `POST /{pnid}/media`.
    Stored(Bytes),
    /// Made up as it is downloaded ([`Emulator::add_generated_media`](super::Emulator::add_generated_media)).
    Generated(Generated),
}

impl MediaBody {
    /// The body's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Stored(data) => data.len() as u64,
            Self::Generated(generated) => generated.size,
        }
    }
}

/// Digits of a phone number; the input itself when it has none (Meta's placeholder examples).
pub(crate) fn wa_id(to: &str) -> String {
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        to.to_owned()
    } else {
        digits
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        .unwrap_or(0)
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What an accepted send answers.
#[derive(Debug)]
pub(crate) enum SendOutcome {
    Message {
        input: String,
        wa_id: Option<String>,
        user_id: Option<String>,
        wamid: String,
        /// `accepted`, or `held_for_quality_assessment` for a held template.
        message_status: &'static str,
    },
    Read,
}

/// Everything shared by the HTTP handlers and the [`Emulator`](super::Emulator) handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    numbers: RwLock<HashMap<Arc<str>, Arc<Number>>>,
    pub(crate) templates: RwLock<Templates>,
    pub(crate) media: RwLock<HashMap<String, Arc<Media>>>,
    objects: AtomicU64,
    traces: AtomicU64,
    pub(crate) webhooks: WebhookQueue,
    pub(crate) base_url: String,
    pub(crate) started: Instant,
    /// Tokens expired at run time ([`Emulator::expire_token`](super::Emulator::expire_token)).
    pub(crate) expired_tokens: RwLock<std::collections::HashSet<String>>,
}

impl Shared {
    pub(crate) fn new(config: EmulatorConfig, base_url: String, webhooks: WebhookQueue) -> Self {
        let shared = Self {
            numbers: RwLock::new(HashMap::new()),
            templates: RwLock::new(Templates::default()),
            media: RwLock::new(HashMap::new()),
            objects: AtomicU64::new(0),
            traces: AtomicU64::new(0),
            webhooks,
            base_url,
            started: Instant::now(),
            expired_tokens: RwLock::new(std::collections::HashSet::new()),
            config,
        };
        for spec in shared.config.numbers.clone() {
            shared.add_number(spec);
        }
        for spec in shared.config.templates.clone() {
            shared.add_template(spec);
        }
        shared
    }

    /// A fresh deterministic Graph object id.
    pub(crate) fn next_object_id(&self, kind: &str) -> String {
        let n = self.objects.fetch_add(1, Ordering::Relaxed);
        ids::numeric_id(ids::draw(self.config.seed, kind, n))
    }

    pub(crate) fn fbtrace(&self) -> String {
        let n = self.traces.fetch_add(1, Ordering::Relaxed);
        ids::fbtrace(ids::draw(self.config.seed, "fbtrace", n))
    }

    pub(crate) fn add_number(&self, spec: PhoneNumberSpec) -> Arc<Number> {
        let throughput = spec.throughput.unwrap_or(self.config.throughput);
        let capacity = match throughput {
            Throughput::Limited { burst, .. } => burst,
            Throughput::Off => 0.0,
        };
        let metadata_display = wa_id(&spec.display_phone_number);
        let number = Arc::new(Number {
            id: Arc::from(spec.id.as_str()),
            display: spec.display_phone_number,
            metadata_display: Arc::from(metadata_display.as_str()),
            waba_id: Arc::from(spec.waba_id.as_str()),
            verified_name: spec.verified_name,
            inner: Mutex::new(NumberInner {
                throughput,
                bucket: Bucket::full(capacity, Instant::now()),
                pairs: HashMap::new(),
                windows: HashMap::new(),
                inbound_ids: HashSet::new(),
                seq: 0,
                counters: NumberCounters::default(),
                registered: spec.registered,
                verified: spec.registered,
                pending_code: None,
                code_requests: 0,
                pin: None,
                registration_calls: VecDeque::new(),
            }),
        });
        self.numbers
            .write()
            .insert(Arc::clone(&number.id), Arc::clone(&number));
        number
    }

    /// The number with this id, created on first use when `auto_numbers` is on.
    pub(crate) fn number(&self, id: &str) -> Option<Arc<Number>> {
        if let Some(number) = self.numbers.read().get(id) {
            return Some(Arc::clone(number));
        }
        if self.config.auto_numbers && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            return Some(self.add_number(PhoneNumberSpec::new(
                id,
                id,
                self.config.auto_waba_id.clone(),
            )));
        }
        None
    }

    pub(crate) fn numbers_of_waba(&self, waba_id: &str) -> Vec<Arc<Number>> {
        let mut numbers: Vec<_> = self
            .numbers
            .read()
            .values()
            .filter(|n| &*n.waba_id == waba_id)
            .cloned()
            .collect();
        numbers.sort_by(|a, b| a.id.cmp(&b.id));
        numbers
    }

    pub(crate) fn is_waba(&self, id: &str) -> bool {
        id == self.config.auto_waba_id || self.numbers.read().values().any(|n| &*n.waba_id == id)
    }

    pub(crate) fn counters(&self, id: &str) -> Option<NumberCounters> {
        let number = self.numbers.read().get(id).cloned()?;
        let counters = number.inner.lock().counters.clone();
        Some(counters)
    }

    // ----- messages -------------------------------------------------------------------------

    /// Handles one `POST /{pnid}/messages` body; counts the outcome on the number.
    pub(crate) fn send(&self, number: &Arc<Number>, body: &Value) -> Result<SendOutcome, ApiError> {
        let checked = check_messages_request(body);
        let message = match checked {
            Err(error) => return Err(self.count_error(number, error)),
            Ok(CheckedRequest::MarkRead { message_id, .. }) => {
                let mut inner = number.inner.lock();
                inner.counters.requests += 1;
                if !inner.inbound_ids.contains(message_id) {
                    let error = ApiError::invalid(format!(
                        "Param message_id '{message_id}' is not a message this number received."
                    ));
                    *inner.counters.errors.entry(error.code).or_default() += 1;
                    return Err(error);
                }
                inner.counters.read_receipts += 1;
                // A read receipt is a call on the messages edge: it uses a send slot too.
                if let Throughput::Limited { per_second, burst } = inner.throughput {
                    let _ = inner.bucket.take(Instant::now(), per_second, burst);
                }
                return Ok(SendOutcome::Read);
            }
            Ok(CheckedRequest::Message(message)) => message,
        };
        let category = match &message.template {
            Some(template) => match self.check_template_use(number, template) {
                Ok(category) => category,
                Err(error) => return Err(self.count_error(number, error)),
            },
            None => "service",
        };
        // A business-scoped user id (`US.1349...`) is kept as given; a phone number is reduced
        // to its digits, as Meta normalises it.
        let recipient = if message.by_user_id {
            message.to.to_owned()
        } else {
            wa_id(message.to)
        };
        let now = Instant::now();
        let (wamid, failure) = {
            let mut inner = number.inner.lock();
            inner.counters.requests += 1;
            if let Err(error) = self.admit(&mut inner, &recipient, now) {
                *inner.counters.errors.entry(error.code).or_default() += 1;
                return Err(error);
            }
            inner.seq += 1;
            let h = ids::draw(self.config.seed, &number.id, inner.seq);
            let wamid = ids::wamid(&recipient, h);
            let failure = self.async_failure(&inner, &message, category, &recipient, &wamid, now);
            inner.counters.accepted += 1;
            if let Some(code) = failure {
                *inner.counters.failed.entry(code).or_default() += 1;
            }
            (wamid, failure)
        };
        self.schedule_statuses(number, &message, &recipient, &wamid, category, failure);
        let held = message
            .template
            .as_ref()
            .is_some_and(|t| self.config.held_templates.contains(t.name));
        Ok(SendOutcome::Message {
            input: message.to.to_owned(),
            wa_id: (!message.by_user_id).then_some(recipient.clone()),
            user_id: message.by_user_id.then_some(recipient),
            wamid,
            message_status: if held {
                "held_for_quality_assessment"
            } else {
                "accepted"
            },
        })
    }

    pub(crate) fn count_error(&self, number: &Number, error: ApiError) -> ApiError {
        let mut inner = number.inner.lock();
        inner.counters.requests += 1;
        *inner.counters.errors.entry(error.code).or_default() += 1;
        error
    }

    /// Registration, throughput and pair limit, in that order.
    fn admit(
        &self,
        inner: &mut NumberInner,
        recipient: &str,
        now: Instant,
    ) -> Result<(), ApiError> {
        if !inner.registered {
            return Err(ApiError::new(
                codes::NOT_REGISTERED,
                "The phone number is not registered on the Cloud API; call /register first.",
            ));
        }
        let throttle = self.config.throttle_status.code();
        if let Throughput::Limited { per_second, burst } = inner.throughput
            && !inner.bucket.take(now, per_second, burst)
        {
            return Err(ApiError::new(
                codes::RATE_LIMIT_HIT,
                "Message failed to send because there were too many messages sent from this \
                 phone number in a short period of time",
            )
            .with_subcode(2_494_055)
            .with_status(throttle));
        }
        if let PairLimit::Limited { burst, refill } = self.config.pair_limit {
            let capacity = f64::from(burst);
            let rate = 1.0 / refill.as_secs_f64().max(1e-9);
            if inner.pairs.len() > 200_000 {
                // Forget recipients whose bucket has refilled: they are indistinguishable
                // from new ones.
                inner.pairs.retain(|_, b| {
                    b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < capacity
                });
            }
            let bucket = match inner.pairs.get_mut(recipient) {
                Some(bucket) => bucket,
                None => inner
                    .pairs
                    .entry(recipient.to_owned())
                    .or_insert(Bucket::full(capacity, now)),
            };
            if !bucket.take(now, rate, capacity) {
                return Err(ApiError::new(
                    codes::PAIR_RATE_LIMIT,
                    "Message failed to send because there were too many messages sent from \
                     this phone number to the same phone number in a short period of time.",
                )
                .with_status(throttle));
            }
        }
        Ok(())
    }

    /// The asynchronous failure an accepted message will have, if any.
    fn async_failure(
        &self,
        inner: &NumberInner,
        message: &CheckedMessage<'_>,
        category: &str,
        recipient: &str,
        wamid: &str,
        now: Instant,
    ) -> Option<i64> {
        if self.config.experiment.contains(recipient) {
            return Some(codes::EXPERIMENT);
        }
        if category == "marketing" {
            if self.config.marketing_opted_out.contains(recipient) {
                return Some(codes::MARKETING_OPT_OUT);
            }
            if self.config.marketing_limited.contains(recipient) {
                return Some(codes::MARKETING_LIMIT);
            }
        }
        if self.config.unreachable.contains(recipient)
            || ids::chance(
                ids::draw(self.config.seed, wamid, 5),
                self.config.statuses.undeliverable_probability,
            )
        {
            return Some(codes::UNDELIVERABLE);
        }
        if message.kind != MessageKind::Template
            && let Some(window) = self.config.customer_window
        {
            let open = inner
                .windows
                .get(recipient)
                .is_some_and(|opened| now.saturating_duration_since(*opened) < window);
            if !open {
                return Some(codes::REENGAGEMENT);
            }
        }
        None
    }

    fn schedule_statuses(
        &self,
        number: &Arc<Number>,
        message: &CheckedMessage<'_>,
        recipient: &str,
        wamid: &str,
        category: &'static str,
        failure: Option<i64>,
    ) {
        if !self.webhooks.enabled() {
            return;
        }
        let seed = self.config.seed;
        let timing = self.config.statuses;
        let now = Instant::now();
        // One allocation per string, shared by the message's status events.
        let (wamid_arc, recipient_arc): (Arc<str>, Arc<str>) =
            (Arc::from(wamid), Arc::from(recipient));
        let biz_opaque: Option<Arc<str>> = message.biz_opaque_callback_data.map(Arc::from);
        // Each status carries the time it truly happened, whatever order (and however often)
        // it is delivered in.
        let accepted_ms = unix_now_ms();
        let event = |status, due: Duration, happened: Duration| StatusEvent {
            number: Arc::clone(number),
            wamid: Arc::clone(&wamid_arc),
            recipient: Arc::clone(&recipient_arc),
            by_user_id: message.by_user_id,
            status,
            category,
            biz_opaque: biz_opaque.clone(),
            due_offset: due,
            timestamp: (accepted_ms + i64::try_from(happened.as_millis()).unwrap_or(i64::MAX / 2))
                / 1000,
        };
        let t_sent = timing.sent_after;
        if let Some(code) = failure {
            self.push_status(
                event(StatusKind::Failed(code), t_sent, t_sent),
                now,
                wamid,
                0,
            );
            return;
        }
        self.push_status(event(StatusKind::Sent, t_sent, t_sent), now, wamid, 0);
        if message.kind == MessageKind::Reaction {
            return;
        }
        if !ids::chance(ids::draw(seed, wamid, 1), timing.delivered_probability) {
            return;
        }
        let delivered_at = t_sent + timing.delivered_after;
        let read = ids::chance(ids::draw(seed, wamid, 2), timing.read_probability);
        let read_at = delivered_at + timing.read_after;
        let (mut due_delivered, mut due_read) = (delivered_at, read_at);
        if read
            && ids::chance(
                ids::draw(seed, wamid, 3),
                self.config.out_of_order_probability,
            )
        {
            std::mem::swap(&mut due_delivered, &mut due_read);
        }
        self.push_status(
            event(StatusKind::Delivered, due_delivered, delivered_at),
            now,
            wamid,
            1,
        );
        if read {
            self.push_status(event(StatusKind::Read, due_read, read_at), now, wamid, 2);
            // Meta reports `played` when a voice message (audio) is played.
            if message.kind == MessageKind::Audio
                && let Some(after) = self.config.played_after
            {
                let played_at = read_at + after;
                let due = due_read.max(due_delivered) + after;
                self.push_status(event(StatusKind::Played, due, played_at), now, wamid, 3);
            }
        }
    }

    fn push_status(&self, event: StatusEvent, now: Instant, wamid: &str, n: u64) {
        let duplicate = ids::chance(
            ids::draw(self.config.seed, wamid, 10 + n),
            self.config.duplicate_probability,
        );
        let due = now + event.due_offset;
        self.webhooks.push(due, Job::Status { event, duplicate });
    }

    // ----- templates ------------------------------------------------------------------------

    fn check_template_use(
        &self,
        number: &Number,
        used: &super::check::TemplateUse<'_>,
    ) -> Result<&'static str, ApiError> {
        let templates = self.templates.read();
        let key = (
            number.waba_id.to_string(),
            used.name.to_owned(),
            used.language.to_owned(),
        );
        let template = templates
            .by_key
            .get(&key)
            .and_then(|id| templates.by_id.get(id));
        let missing = || {
            ApiError::new(
                codes::TEMPLATE_MISSING,
                format!(
                    "template name ({}) does not exist in {}",
                    used.name, used.language
                ),
            )
            .with_status(404)
        };
        let template = template.ok_or_else(missing)?;
        match template.status.as_str() {
            "APPROVED" => {}
            "PAUSED" => {
                return Err(ApiError::new(
                    codes::TEMPLATE_PAUSED,
                    format!("Template {} is paused due to low quality.", used.name),
                ));
            }
            "DISABLED" => {
                return Err(ApiError::new(
                    codes::TEMPLATE_DISABLED,
                    format!("Template {} has been disabled.", used.name),
                ));
            }
            _ => return Err(missing()),
        }
        template_send::check_send(&template.shape, used.components)?;
        Ok(match template.category.as_str() {
            "MARKETING" => "marketing",
            "AUTHENTICATION" => "authentication",
            _ => "utility",
        })
    }

    /// Registers generated media owned by a number; returns its id.
    pub(crate) fn add_generated_media(
        &self,
        phone_number_id: &str,
        mime_type: &str,
        size: u64,
    ) -> Result<String, ApiError> {
        let number = self
            .number(phone_number_id)
            .ok_or_else(ApiError::phone_not_found)?;
        let id = self.next_object_id("media");
        let generated = Generated {
            seed: ids::draw(self.config.seed, &id, 0),
            size,
        };
        let media = Media {
            id: id.clone(),
            owner: Arc::clone(&number.id),
            mime_type: mime_type.to_owned(),
            sha256: generated.sha256(),
            body: MediaBody::Generated(generated),
        };
        self.media.write().insert(id.clone(), Arc::new(media));
        Ok(id)
    }

    /// Stores a template; returns its id.
    pub(crate) fn add_template(&self, spec: TemplateSpec) -> String {
        let id = self.next_object_id("template");
        let shape = TemplateShape::of(&spec.components);
        let template = StoredTemplate {
            id: id.clone(),
            waba_id: spec.waba_id,
            name: spec.name,
            language: spec.language,
            category: spec.category.to_ascii_uppercase(),
            status: spec.status.to_ascii_uppercase(),
            reason: None,
            parameter_format: shape.parameter_format().to_owned(),
            components: spec.components,
            shape,
        };
        let mut templates = self.templates.write();
        let key = (
            template.waba_id.clone(),
            template.name.clone(),
            template.language.clone(),
        );
        if let Some(old) = templates.by_key.insert(key, id.clone()) {
            templates.by_id.remove(&old);
            templates.order.retain(|o| *o != old);
        }
        templates.order.push(id.clone());
        templates.by_id.insert(id.clone(), template);
        id
    }

    /// `POST /{waba}/message_templates`.
    pub(crate) fn create_template(&self, waba_id: &str, body: &Value) -> Result<Value, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::param("The request body must be a JSON object."))?;
        let text = |key: &str| -> Result<&str, ApiError> {
            match obj.get(key) {
                None | Some(Value::Null) => Err(ApiError::missing(key)),
                Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
                Some(_) => Err(ApiError::invalid(format!("Param {key} must be a string."))),
            }
        };
        let name = text("name")?;
        if name.len() > 512
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ApiError::param(
                "Param name must be at most 512 lowercase letters, digits and underscores.",
            ));
        }
        let language = text("language")?;
        let category = text("category")?.to_ascii_uppercase();
        if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
            return Err(ApiError::param(
                "Param category must be one of {MARKETING, UTILITY, AUTHENTICATION}.",
            ));
        }
        let components = match obj.get("components") {
            Some(Value::Array(components)) if !components.is_empty() => {
                Value::Array(components.clone())
            }
            None | Some(Value::Null) => return Err(ApiError::missing("components")),
            Some(_) => {
                return Err(ApiError::invalid(
                    "Param components must be a non-empty array.",
                ));
            }
        };
        let has_body = components.as_array().into_iter().flatten().any(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
        });
        if !has_body {
            return Err(ApiError::missing("components[BODY]"));
        }
        let exists = self.templates.read().by_key.contains_key(&(
            waba_id.to_owned(),
            name.to_owned(),
            language.to_owned(),
        ));
        if exists {
            return Err(ApiError::new(
                codes::TEMPLATE_EXISTS,
                format!("Content in {language} already exists for template {name}."),
            )
            .with_subcode(2_388_024));
        }
        let parameter_format = obj
            .get("parameter_format")
            .and_then(Value::as_str)
            .unwrap_or("POSITIONAL")
            .to_ascii_uppercase();
        let id = self.add_template(
            TemplateSpec::approved(waba_id, name, language, components)
                .status("PENDING")
                .category(category.clone()),
        );
        if let Some(template) = self.templates.write().by_id.get_mut(&id) {
            template.parameter_format = parameter_format;
        }
        let review = &self.config.template_review;
        self.webhooks.push(
            Instant::now() + review.delay,
            Job::TemplateReview { id: id.clone() },
        );
        Ok(json!({"id": id, "status": "PENDING", "category": category}))
    }

    /// Applies the configured review to a pending template; returns the webhook to send.
    pub(crate) fn review_template(&self, id: &str) -> Option<Value> {
        let review = &self.config.template_review;
        let mut templates = self.templates.write();
        let template = templates.by_id.get_mut(id)?;
        if template.status != "PENDING" {
            return None;
        }
        let rejected = review.reject_names.contains(&template.name);
        match (&review.outcome, rejected) {
            (super::config::ReviewOutcome::Approve, false) => {
                template.status = "APPROVED".to_owned();
                template.reason = None;
            }
            (super::config::ReviewOutcome::Reject(reason), false) => {
                template.status = "REJECTED".to_owned();
                template.reason = Some(reason.clone());
            }
            (_, true) => {
                template.status = "REJECTED".to_owned();
                template.reason = Some("INVALID_FORMAT".to_owned());
            }
        }
        Some(template_status_webhook(template))
    }

    /// Sets a template's status; returns the webhook to send.
    pub(crate) fn set_template_status(&self, id: &str, status: &str) -> Option<Value> {
        let mut templates = self.templates.write();
        let template = templates.by_id.get_mut(id)?;
        template.status = status.to_ascii_uppercase();
        Some(template_status_webhook(template))
    }

    /// Replaces a template's components (`POST /{template-id}`).
    pub(crate) fn update_template_components(&self, id: &str, components: Value) {
        let mut templates = self.templates.write();
        if let Some(template) = templates.by_id.get_mut(id) {
            template.shape = TemplateShape::of(&components);
            template.components = components;
        }
    }

    /// The WABA a Graph object belongs to: a WABA itself, a number, a template or a media
    /// object (through the number that uploaded it); `None` for unknown ids.
    pub(crate) fn owner_waba(&self, id: &str) -> Option<String> {
        if self.is_waba(id) {
            return Some(id.to_owned());
        }
        if let Some(number) = self.number(id) {
            return Some(number.waba_id.to_string());
        }
        if let Some(template) = self.template(id) {
            return Some(template.waba_id);
        }
        let owner = self.media.read().get(id).map(|m| Arc::clone(&m.owner))?;
        self.number(&owner).map(|n| n.waba_id.to_string())
    }

    pub(crate) fn template(&self, id: &str) -> Option<StoredTemplate> {
        self.templates.read().by_id.get(id).cloned()
    }

    pub(crate) fn template_id(&self, waba_id: &str, name: &str, language: &str) -> Option<String> {
        self.templates
            .read()
            .by_key
            .get(&(waba_id.to_owned(), name.to_owned(), language.to_owned()))
            .cloned()
    }

    /// Templates of a WABA in creation order, after filters.
    pub(crate) fn list_templates(
        &self,
        waba_id: &str,
        filter: impl Fn(&StoredTemplate) -> bool,
    ) -> Vec<StoredTemplate> {
        let templates = self.templates.read();
        templates
            .order
            .iter()
            .filter_map(|id| templates.by_id.get(id))
            .filter(|t| t.waba_id == waba_id && filter(t))
            .cloned()
            .collect()
    }

    /// Deletes templates by name (all languages) or by name and id; returns how many.
    pub(crate) fn delete_templates(
        &self,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> usize {
        let mut templates = self.templates.write();
        let doomed: Vec<String> = templates
            .by_id
            .values()
            .filter(|t| t.waba_id == waba_id && t.name == name)
            .filter(|t| hsm_id.is_none_or(|id| t.id == id))
            .map(|t| t.id.clone())
            .collect();
        for id in &doomed {
            if let Some(t) = templates.by_id.remove(id) {
                templates.by_key.remove(&(t.waba_id, t.name, t.language));
            }
        }
        templates.order.retain(|id| !doomed.contains(id));
        doomed.len()
    }

    // ----- inbound --------------------------------------------------------------------------

    /// Records an inbound message: opens the window and remembers the wamid for read receipts.
    pub(crate) fn record_inbound(&self, number: &Number, from: &str, wamid: &str) {
        let mut inner = number.inner.lock();
        let now = Instant::now();
        inner.windows.insert(from.to_owned(), now);
        inner.inbound_ids.insert(wamid.to_owned());
        inner.counters.inbound += 1;
        // Meta's throughput covers inbound and outbound messages: an inbound message uses a
        // send slot (it is never refused for it).
        if let Throughput::Limited { per_second, burst } = inner.throughput {
            let _ = inner.bucket.take(now, per_second, burst);
        }
    }

    /// A fresh inbound wamid for a user of a number.
    pub(crate) fn inbound_wamid(&self, number: &Number, from: &str) -> String {
        let mut inner = number.inner.lock();
        inner.seq += 1;
        let h = ids::draw(self.config.seed ^ 0x1b0d, &number.id, inner.seq);
        ids::wamid(from, h)
    }

    pub(crate) fn open_window(&self, number: &Number, user: &str, at: Instant) {
        number.inner.lock().windows.insert(user.to_owned(), at);
    }

    // ----- registration ---------------------------------------------------------------------

    pub(crate) fn request_code(&self, number: &Number, method: &str) -> Result<(), ApiError> {
        if !["SMS", "VOICE", "IVR"].contains(&method) {
            return Err(ApiError::param(
                "Invalid parameter: code_method must be SMS or VOICE",
            ));
        }
        let mut inner = number.inner.lock();
        inner.code_requests += 1;
        let h = ids::draw(
            self.config.seed,
            &number.id,
            1_000_000 + inner.code_requests,
        );
        inner.pending_code = Some(format!("{:06}", h % 1_000_000));
        Ok(())
    }

    pub(crate) fn verification_code(&self, id: &str) -> Option<String> {
        let number = self.numbers.read().get(id).cloned()?;
        number.inner.lock().pending_code.clone()
    }

    pub(crate) fn verify_code(&self, number: &Number, code: &str) -> Result<(), ApiError> {
        let mut inner = number.inner.lock();
        match inner.pending_code.as_deref() {
            Some(expected) if expected == code => {
                inner.verified = true;
                inner.pending_code = None;
                Ok(())
            }
            _ => Err(ApiError::param(
                "The verification code is invalid or has expired",
            )),
        }
    }

    fn registration_call(&self, inner: &mut NumberInner) -> Result<(), ApiError> {
        let now = Instant::now();
        let window = Duration::from_secs(72 * 3600);
        while inner
            .registration_calls
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            inner.registration_calls.pop_front();
        }
        if inner.registration_calls.len() >= 10 {
            return Err(ApiError::new(
                codes::REGISTER_RATE_LIMIT,
                "The phone number has been registered or deregistered 10 times in 72 hours.",
            ));
        }
        inner.registration_calls.push_back(now);
        Ok(())
    }

    pub(crate) fn register(&self, number: &Number, pin: &str) -> Result<(), ApiError> {
        if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::param(
                "Invalid PIN format. PIN must be exactly 6 digits",
            ));
        }
        let mut inner = number.inner.lock();
        if !inner.verified {
            return Err(ApiError::new(
                codes::NEEDS_VERIFICATION,
                "The phone number must be verified (request_code, verify_code) before it can \
                 be registered.",
            ));
        }
        if inner.pin.as_deref().is_some_and(|existing| existing != pin) {
            return Err(ApiError::new(
                codes::PIN_MISMATCH,
                "The PIN does not match the number's two-step verification PIN.",
            ));
        }
        self.registration_call(&mut inner)?;
        inner.pin = Some(pin.to_owned());
        inner.registered = true;
        Ok(())
    }

    pub(crate) fn deregister(&self, number: &Number) -> Result<(), ApiError> {
        let mut inner = number.inner.lock();
        if !inner.registered {
            return Err(ApiError::param(
                "Phone number is not currently linked in Facebook Hosted System",
            ));
        }
        self.registration_call(&mut inner)?;
        inner.registered = false;
        Ok(())
    }

    pub(crate) fn set_pin(&self, number: &Number, pin: &str) -> Result<(), ApiError> {
        if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::param(
                "Invalid PIN format. PIN must be exactly 6 digits",
            ));
        }
        number.inner.lock().pin = Some(pin.to_owned());
        Ok(())
    }

    pub(crate) fn is_registered(&self, id: &str) -> Option<bool> {
        let number = self.numbers.read().get(id).cloned()?;
        let registered = number.inner.lock().registered;
        Some(registered)
    }

    /// `GET /{pnid}` and the items of `GET /{waba}/phone_numbers`.
    pub(crate) fn number_json(&self, number: &Number) -> Value {
        let inner = number.inner.lock();
        let level = match inner.throughput {
            Throughput::Limited { per_second, .. } if per_second > 80.0 => "HIGH",
            _ => "STANDARD",
        };
        json!({
            "verified_name": number.verified_name,
            "code_verification_status": if inner.verified { "VERIFIED" } else { "NOT_VERIFIED" },
            "display_phone_number": number.display,
            "quality_rating": "GREEN",
            "platform_type": if inner.registered { "CLOUD_API" } else { "NOT_APPLICABLE" },
            "status": if inner.registered { "CONNECTED" } else { "PENDING" },
            "throughput": {"level": level},
            "id": &*number.id,
        })
    }
}

/// The `message_template_status_update` webhook body for a template's current status.
fn template_status_webhook(template: &StoredTemplate) -> Value {
    let id_number: Value = template
        .id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| template.id.clone().into());
    let mut value = json!({
        "event": template.status,
        "message_template_id": id_number,
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": template.reason.clone().unwrap_or_else(|| "NONE".to_owned()),
        "message_template_category": template.category,
    });
    if template.status == "REJECTED"
        && template.reason.as_deref() == Some("INVALID_FORMAT")
        && let Some(object) = value.as_object_mut()
    {
        object.insert(
            "rejection_info".to_owned(),
            json!({"reason": "INVALID_FORMAT", "recommendation": "Review the template format."}),
        );
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": template.waba_id,
            "time": unix_now(),
            "changes": [{"field": "message_template_status_update", "value": value}],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_counting() {
        let shape = TemplateShape::of(&json!([
            {"type":"HEADER","format":"TEXT","text":"Sale {{1}}"},
            {"type":"BODY","text":"{{1}} {{2}} {{3}} {{1}}"}
        ]));
        assert_eq!((shape.header_names.len(), shape.body_names.len()), (1, 3));
        assert_eq!(shape.parameter_format(), "POSITIONAL");
    }

    #[test]
    fn bucket_refills() {
        let start = Instant::now();
        let mut bucket = Bucket::full(2.0, start);
        assert!(bucket.take(start, 1.0, 2.0));
        assert!(bucket.take(start, 1.0, 2.0));
        assert!(!bucket.take(start, 1.0, 2.0));
        assert!(bucket.take(start + Duration::from_secs(1), 1.0, 2.0));
    }
}
