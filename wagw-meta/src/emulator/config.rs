//! Configuration of the emulator: numbers, limits, status timing, webhooks and templates.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

/// Per-number throughput limit (Meta: 80 messages/s by default, 1,000 after upgrade, 20 for
/// coexistence numbers). Exceeding it answers 130429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Throughput {
    /// No limit.
    Off,
    /// A token bucket refilled at `per_second`, holding at most `burst` tokens.
    Limited {
        /// Sustained messages per second.
        per_second: f64,
        /// Bucket size; a client pacing at `per_second` never exceeds it.
        burst: f64,
    },
}

impl Throughput {
    /// `per_second` sustained, with a one-second burst.
    pub fn per_second(per_second: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        Self::Limited {
            per_second: rate,
            burst: rate,
        }
    }
}

impl Default for Throughput {
    /// Meta's default: 80 messages per second.
    fn default() -> Self {
        Self::per_second(80)
    }
}

/// The (business number, user) pair limit. Exceeding it answers 131056.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PairLimit {
    /// No limit.
    Off,
    /// A token bucket per (number, recipient).
    Limited {
        /// Bucket size (Meta: 45).
        burst: u32,
        /// Time to earn one token back (Meta: 6 s).
        refill: Duration,
    },
}

impl Default for PairLimit {
    /// Burst 45, one token every 6 seconds.
    fn default() -> Self {
        Self::Limited {
            burst: 45,
            refill: Duration::from_secs(6),
        }
    }
}

/// HTTP status of throttling errors (130429, 131056). Meta's table says 429; practitioners
/// report 400, which is the default (reference §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThrottleStatus {
    /// HTTP 400.
    #[default]
    BadRequest,
    /// HTTP 429.
    TooManyRequests,
}

impl ThrottleStatus {
    pub(crate) fn code(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::TooManyRequests => 429,
        }
    }
}

/// When and whether the status webhooks of an accepted message follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatusTiming {
    /// Delay from acceptance to `sent` (or to `failed`).
    pub sent_after: Duration,
    /// Delay from `sent` to `delivered`.
    pub delivered_after: Duration,
    /// Delay from `delivered` to `read`.
    pub read_after: Duration,
    /// Probability a sent message is delivered.
    pub delivered_probability: f64,
    /// Probability a delivered message is read.
    pub read_probability: f64,
    /// Probability a message to a reachable recipient fails with 131026 anyway.
    pub undeliverable_probability: f64,
}

impl Default for StatusTiming {
    /// `sent` after 5 ms, `delivered` 20 ms later, `read` 50 ms later; all delivered, half read.
    fn default() -> Self {
        Self {
            sent_after: Duration::from_millis(5),
            delivered_after: Duration::from_millis(20),
            read_after: Duration::from_millis(50),
            delivered_probability: 1.0,
            read_probability: 0.5,
            undeliverable_probability: 0.0,
        }
    }
}

/// Webhook redelivery after a non-2xx answer or a transport failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Redelivery {
    /// Total attempts per webhook, the first included (1 = no redelivery).
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for Redelivery {
    /// 8 attempts, 500 ms doubling to at most 60 s (Meta retries for days; compressed here).
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl Redelivery {
    /// Delay before attempt `attempt + 1`, after `attempt` failures.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// How the non-ASCII characters of webhook bodies are written and signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnicodeMode {
    /// Non-ASCII written as `\uXXXX`; the body and its signature agree byte for byte.
    #[default]
    Escaped,
    /// Raw UTF-8 bodies signed over their escaped form, as Meta documents it.
    RawSignedEscaped,
}

/// Where webhooks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The callback URL.
    pub url: String,
    /// The app secret that keys `X-Hub-Signature-256`.
    pub app_secret: String,
}

/// What the template review decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// `APPROVED`.
    Approve,
    /// `REJECTED` with a reason (`INVALID_FORMAT`, `PROMOTIONAL` ...).
    Reject(String),
}

/// Template review: delay and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateReview {
    /// Time from creation (`PENDING`) to the decision.
    pub delay: Duration,
    /// The decision for every template not named in `reject_names`.
    pub outcome: ReviewOutcome,
    /// Template names rejected (reason `INVALID_FORMAT`) whatever `outcome` says.
    pub reject_names: HashSet<String>,
}

impl Default for TemplateReview {
    /// Approve after 100 ms.
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(100),
            outcome: ReviewOutcome::Approve,
            reject_names: HashSet::new(),
        }
    }
}

/// A business phone number known to the emulator.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberSpec {
    /// The phone number id used in paths.
    pub id: String,
    /// The display phone number (`15550783881` or `+1 555-078-3881`).
    pub display_phone_number: String,
    /// The WhatsApp Business Account id it belongs to.
    pub waba_id: String,
    /// Verified business name.
    pub verified_name: String,
    /// Throughput of this number; `None` takes the emulator's default.
    pub throughput: Option<Throughput>,
    /// Whether it starts registered on the Cloud API (sending needs it).
    pub registered: bool,
}

impl PhoneNumberSpec {
    /// A registered number with the default throughput.
    pub fn new(
        id: impl Into<String>,
        display_phone_number: impl Into<String>,
        waba_id: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            display_phone_number: display_phone_number.into(),
            waba_id: waba_id.into(),
            verified_name: "wagw Test Business".to_owned(),
            throughput: None,
            registered: true,
        }
    }

    /// Sets this number's throughput.
    pub fn throughput(mut self, throughput: Throughput) -> Self {
        self.throughput = Some(throughput);
        self
    }

    /// Makes it start unregistered and unverified (request_code → verify_code → register).
    pub fn unregistered(mut self) -> Self {
        self.registered = false;
        self
    }

    /// Sets the verified name.
    pub fn verified_name(mut self, name: impl Into<String>) -> Self {
        self.verified_name = name.into();
        self
    }
}

/// A template known to the emulator from the start (or added at run time).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    /// The WhatsApp Business Account id.
    pub waba_id: String,
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED` ...
    pub status: String,
    /// Components in Meta's creation shape (`[{"type":"BODY","text":"Hi {{1}}"}]`).
    pub components: Value,
}

impl TemplateSpec {
    /// An approved `UTILITY` template.
    pub fn approved(
        waba_id: impl Into<String>,
        name: impl Into<String>,
        language: impl Into<String>,
        components: Value,
    ) -> Self {
        Self {
            waba_id: waba_id.into(),
            name: name.into(),
            language: language.into(),
            category: "UTILITY".to_owned(),
            status: "APPROVED".to_owned(),
            components,
        }
    }

    /// Sets the status.
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = status.into();
        self
    }

    /// Sets the category.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = category.into();
        self
    }
}

/// Everything the emulator can be told; built with [`EmulatorBuilder`](super::EmulatorBuilder).
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Seed of every id and random outcome.
    pub seed: u64,
    /// Address to bind; port 0 picks a free one.
    pub bind: std::net::SocketAddr,
    /// Access tokens accepted as `Authorization: Bearer`, for every WABA.
    pub access_tokens: Vec<String>,
    /// Access tokens bound to the WABAs they were issued for (token → WABA ids), as Meta's
    /// system-user tokens are: another WABA's numbers, templates and media answer Meta's
    /// permission error (code 200, HTTP 403).
    pub waba_tokens: HashMap<String, Vec<String>>,
    /// Webhook destination; `None` sends no webhooks.
    pub webhook: Option<WebhookTarget>,
    /// Throughput of numbers without their own.
    pub throughput: Throughput,
    /// Pair limit.
    pub pair_limit: PairLimit,
    /// HTTP status of throttling errors.
    pub throttle_status: ThrottleStatus,
    /// Status webhook timing and outcomes.
    pub statuses: StatusTiming,
    /// Recipients (wa_id, digits only) whose messages fail with 131026.
    pub unreachable: HashSet<String>,
    /// Recipients whose marketing template messages fail with 131049 (Meta's per-user
    /// marketing limit, "to maintain healthy ecosystem engagement").
    pub marketing_limited: HashSet<String>,
    /// Recipients who stopped marketing messages: marketing templates fail with 131050.
    pub marketing_opted_out: HashSet<String>,
    /// Recipients in a Meta experiment: every message to them fails with 130472.
    pub experiment: HashSet<String>,
    /// Template names whose sends are answered `message_status: held_for_quality_assessment`
    /// (Meta's pacing of new marketing templates) instead of `accepted`.
    pub held_templates: HashSet<String>,
    /// Delay from `read` to `played` for audio messages; `None` sends no `played`.
    pub played_after: Option<Duration>,
    /// The customer-service window; `None` lets free-form messages through at any time.
    pub customer_window: Option<Duration>,
    /// Webhook redelivery.
    pub redelivery: Redelivery,
    /// Probability a webhook is delivered twice.
    pub duplicate_probability: f64,
    /// Probability a message's `read` arrives before its `delivered`.
    pub out_of_order_probability: f64,
    /// How many status items one webhook POST may carry (Meta batches under load).
    pub webhook_batch: usize,
    /// Concurrent webhook POSTs.
    pub webhook_concurrency: usize,
    /// Scheduled webhooks held at most; beyond it new ones are dropped and counted.
    pub webhook_queue_capacity: usize,
    /// Timeout of one webhook POST.
    pub webhook_timeout: Duration,
    /// Unicode handling of webhook bodies.
    pub unicode: UnicodeMode,
    /// Registered phone numbers.
    pub numbers: Vec<PhoneNumberSpec>,
    /// Numbers not registered beforehand are created on first use (WABA `auto_waba_id`).
    pub auto_numbers: bool,
    /// WABA of numbers created on first use.
    pub auto_waba_id: String,
    /// Templates present from the start.
    pub templates: Vec<TemplateSpec>,
    /// Template review.
    pub template_review: TemplateReview,
    /// Validity of media download URLs.
    pub media_url_ttl: Duration,
    /// Largest media upload accepted, bytes (per-type limits apply below it).
    pub max_upload_bytes: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            access_tokens: vec!["test-token".to_owned()],
            waba_tokens: HashMap::new(),
            webhook: None,
            throughput: Throughput::default(),
            pair_limit: PairLimit::default(),
            throttle_status: ThrottleStatus::default(),
            statuses: StatusTiming::default(),
            unreachable: HashSet::new(),
            marketing_limited: HashSet::new(),
            marketing_opted_out: HashSet::new(),
            experiment: HashSet::new(),
            held_templates: HashSet::new(),
            played_after: Some(Duration::from_millis(20)),
            customer_window: Some(Duration::from_secs(24 * 3600)),
            redelivery: Redelivery::default(),
            duplicate_probability: 0.0,
            out_of_order_probability: 0.0,
            webhook_batch: 1,
            webhook_concurrency: 16,
            webhook_queue_capacity: 1_000_000,
            webhook_timeout: Duration::from_secs(10),
            unicode: UnicodeMode::default(),
            numbers: Vec::new(),
            auto_numbers: false,
            auto_waba_id: "100000000000001".to_owned(),
            templates: Vec::new(),
            template_review: TemplateReview::default(),
            media_url_ttl: Duration::from_secs(300),
            max_upload_bytes: 100 * 1024 * 1024,
        }
    }
}
