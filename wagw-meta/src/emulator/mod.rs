//! A local emulator of Meta's WhatsApp Cloud API, for tests, benchmarks and sandboxes.
//!
//! It serves the Graph routes wagw uses on `127.0.0.1` and behaves like Meta where it matters
//! to a gateway:
//!
//! - **Requests are checked** by rules of its own ([`check`]), derived from Meta's OpenAPI
//!   document (the field sets of [`fields`], its known defects overridden in one list) and
//!   documented limits, and refused with Meta's error body
//!   (`{"error":{"message":"(#131009) Parameter value is not valid","type":"OAuthException",
//!   "code":131009,"error_data":{"messaging_product":"whatsapp","details":"..."},
//!   "fbtrace_id":"..."}}`). A bearer token is required (190 otherwise).
//! - **Limits hold**: per-number throughput (130429), the (number, recipient) pair limit
//!   (131056), the 24-hour customer-service window (free-form outside it is accepted, then
//!   fails with a 131047 `failed` status), templates that must exist and be approved (132001,
//!   132015, 132016) with the right parameters: counts (132000), header media, named
//!   parameters and button types (132012), buttons that need a parameter (131008); see
//!   `template_send`; registration before sending
//!   (133010).
//! - **Webhooks follow**: signed (`X-Hub-Signature-256`) status webhooks `sent` → `delivered`
//!   → `read` (or `failed` with `errors`), inbound user messages injected through
//!   [`Emulator::inject_inbound`], template review decisions
//!   (`message_template_status_update`); redelivered with backoff on non-2xx, optionally
//!   duplicated or reordered.
//! - **Deterministic under a seed**: wamids, media and template ids, verification codes and
//!   every random outcome are hashes of the seed and of what they are for; only wall-clock
//!   timing varies between runs.
//!
//! Routes (`{version}` matches `v\d+\.\d+`):
//!
//! | Method and path | What |
//! |---|---|
//! | `POST /{version}/{pnid}/messages` | send, mark as read (with typing indicator) |
//! | `POST /{version}/{pnid}/media` | multipart upload → `{"id"}` |
//! | `GET /{version}/{media-id}` | url, mime_type, sha256, file_size, id |
//! | `GET /whatsapp_business/attachments/?mid=…` | download (bearer auth, URL expires) |
//! | `DELETE /{version}/{media-id}` | delete media |
//! | `POST`/`GET`/`DELETE /{version}/{waba}/message_templates` | create (PENDING), list (`limit`, `after`, filters), delete by `name` (and `hsm_id`) |
//! | `GET /{version}/{template-id}`, `POST /{version}/{template-id}` | read, edit components |
//! | `GET /{version}/{waba}/phone_numbers`, `GET /{version}/{pnid}` | phone numbers |
//! | `POST /{version}/{pnid}/request_code`, `verify_code`, `register`, `deregister` | registration |
//! | `POST /{version}/{pnid}` | set the two-step PIN |
//! | `POST /{version}/{waba}/subscribed_apps` | accepted |
//!
//! ```no_run
//! # async fn demo() -> Result<(), wagw_meta::Error> {
//! use wagw_meta::emulator::{Emulator, PhoneNumberSpec};
//!
//! let emulator = Emulator::builder()
//!     .seed(7)
//!     .number(PhoneNumberSpec::new("106540352242922", "15550783881", "419561257915477"))
//!     .webhook("http://127.0.0.1:8080/webhook", "app-secret")
//!     .start()
//!     .await?;
//! println!("Cloud API at {}/v23.0", emulator.base_url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod api_error;
pub mod check;
mod config;
pub mod fields;
mod file;
mod generated_media;
mod ids;
mod routes;
mod state;
mod template_send;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api_error::{ApiError, codes};
pub use config::{
    EmulatorConfig, PairLimit, PhoneNumberSpec, Redelivery, ReviewOutcome, StatusTiming,
    TemplateReview, TemplateSpec, ThrottleStatus, Throughput, UnicodeMode, WebhookTarget,
};
pub use file::{NumberEntry, ScenarioFile, TemplateEntry, ThroughputEntry, WebhookEntry};
pub use state::NumberCounters;
pub use webhooks::WebhookStats;

use state::Shared;
use webhooks::{Job, WebhookQueue};

/// Builds and starts an [`Emulator`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
}

impl EmulatorBuilder {
    /// Starts from a complete configuration.
    pub fn from_config(config: EmulatorConfig) -> Self {
        Self { config }
    }

    /// Seed of ids and random outcomes (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Address to bind (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// Replaces the accepted access tokens (default `test-token`).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.config.access_tokens = vec![token.into()];
        self
    }

    /// Accepts `token` for `waba_id` only (call again to add WABAs): calls on another WABA's
    /// numbers, templates or media answer Meta's permission error (code 200).
    pub fn waba_token(mut self, token: impl Into<String>, waba_id: impl Into<String>) -> Self {
        self.config
            .waba_tokens
            .entry(token.into())
            .or_default()
            .push(waba_id.into());
        self
    }

    /// Marketing template messages to `wa_id` fail with 131049 (per-user marketing limit).
    pub fn marketing_limited(mut self, wa_id: impl Into<String>) -> Self {
        self.config.marketing_limited.insert(wa_id.into());
        self
    }

    /// `wa_id` stopped marketing messages: marketing templates to them fail with 131050.
    pub fn marketing_opted_out(mut self, wa_id: impl Into<String>) -> Self {
        self.config.marketing_opted_out.insert(wa_id.into());
        self
    }

    /// `wa_id` is part of a Meta experiment: every message to them fails with 130472.
    pub fn in_experiment(mut self, wa_id: impl Into<String>) -> Self {
        self.config.experiment.insert(wa_id.into());
        self
    }

    /// Sends of template `name` are answered `held_for_quality_assessment`.
    pub fn held_template(mut self, name: impl Into<String>) -> Self {
        self.config.held_templates.insert(name.into());
        self
    }

    /// Delay from `read` to `played` for audio messages; `None` sends no `played`.
    pub fn played_after(mut self, delay: Option<Duration>) -> Self {
        self.config.played_after = delay;
        self
    }

    /// Accepts one more access token.
    pub fn also_accept_token(mut self, token: impl Into<String>) -> Self {
        self.config.access_tokens.push(token.into());
        self
    }

    /// Sends webhooks to `url`, signed with `app_secret`.
    pub fn webhook(mut self, url: impl Into<String>, app_secret: impl Into<String>) -> Self {
        self.config.webhook = Some(WebhookTarget {
            url: url.into(),
            app_secret: app_secret.into(),
        });
        self
    }

    /// Throughput of numbers without their own (default 80/s).
    pub fn throughput(mut self, throughput: Throughput) -> Self {
        self.config.throughput = throughput;
        self
    }

    /// The pair limit (default burst 45, one per 6 s).
    pub fn pair_limit(mut self, pair_limit: PairLimit) -> Self {
        self.config.pair_limit = pair_limit;
        self
    }

    /// HTTP status of throttling errors (default 400).
    pub fn throttle_status(mut self, status: ThrottleStatus) -> Self {
        self.config.throttle_status = status;
        self
    }

    /// Status webhook timing and probabilities.
    pub fn statuses(mut self, timing: StatusTiming) -> Self {
        self.config.statuses = timing;
        self
    }

    /// Messages to this recipient fail with 131026 (`failed` status webhook).
    pub fn unreachable(mut self, wa_id: impl Into<String>) -> Self {
        self.config.unreachable.insert(state::wa_id(&wa_id.into()));
        self
    }

    /// The customer-service window (default 24 h); `None` lets free-form through always.
    pub fn customer_window(mut self, window: Option<Duration>) -> Self {
        self.config.customer_window = window;
        self
    }

    /// Webhook redelivery policy.
    pub fn redelivery(mut self, redelivery: Redelivery) -> Self {
        self.config.redelivery = redelivery;
        self
    }

    /// Probability that a status webhook is delivered twice.
    pub fn duplicates(mut self, probability: f64) -> Self {
        self.config.duplicate_probability = probability;
        self
    }

    /// Probability that a message's `read` arrives before its `delivered`.
    pub fn out_of_order(mut self, probability: f64) -> Self {
        self.config.out_of_order_probability = probability;
        self
    }

    /// Status items per webhook POST, for the same number (default 1).
    pub fn webhook_batch(mut self, items: usize) -> Self {
        self.config.webhook_batch = items;
        self
    }

    /// Concurrent webhook POSTs (default 16).
    pub fn webhook_concurrency(mut self, posts: usize) -> Self {
        self.config.webhook_concurrency = posts;
        self
    }

    /// Scheduled webhooks held at most (default 1,000,000).
    pub fn webhook_queue_capacity(mut self, jobs: usize) -> Self {
        self.config.webhook_queue_capacity = jobs;
        self
    }

    /// How non-ASCII characters of webhook bodies are written and signed.
    pub fn unicode(mut self, mode: UnicodeMode) -> Self {
        self.config.unicode = mode;
        self
    }

    /// Registers a business phone number.
    pub fn number(mut self, spec: PhoneNumberSpec) -> Self {
        self.config.numbers.push(spec);
        self
    }

    /// Creates unknown numeric phone number ids on first use (WABA `auto_waba_id`).
    pub fn auto_numbers(mut self, on: bool) -> Self {
        self.config.auto_numbers = on;
        self
    }

    /// Adds a template present from the start.
    pub fn template(mut self, spec: TemplateSpec) -> Self {
        self.config.templates.push(spec);
        self
    }

    /// Template review delay and outcome.
    pub fn template_review(mut self, review: TemplateReview) -> Self {
        self.config.template_review = review;
        self
    }

    /// Validity of media download URLs (default 5 minutes).
    pub fn media_url_ttl(mut self, ttl: Duration) -> Self {
        self.config.media_url_ttl = ttl;
        self
    }

    /// The configuration, for settings without a dedicated method.
    pub fn config_mut(&mut self) -> &mut EmulatorConfig {
        &mut self.config
    }

    /// Binds the listener and starts serving and sending webhooks.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the address cannot be bound.
    pub async fn start(self) -> Result<Emulator, crate::Error> {
        let listener = tokio::net::TcpListener::bind(self.config.bind).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let queue = WebhookQueue::new(&self.config);
        let shared = Arc::new(Shared::new(self.config, base_url.clone(), queue));
        let (stop, stopped) = watch::channel(false);
        let app = routes::router(Arc::clone(&shared));
        let mut server_stop = stopped.clone();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.changed().await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "emulator server failed");
            }
        });
        let scheduler = tokio::spawn(webhooks::run(Arc::clone(&shared), stopped));
        tracing::info!(%addr, "Cloud API emulator listening");
        Ok(Emulator {
            shared,
            addr,
            base_url,
            stop,
            tasks: vec![server, scheduler],
        })
    }
}

/// An inbound user message to inject with [`Emulator::inject_inbound`].
#[derive(Debug, Clone, PartialEq)]
pub struct UserMessage {
    /// Sender's WhatsApp id (phone number digits).
    pub from: String,
    /// Sender's profile name (`contacts[].profile.name`).
    pub profile_name: String,
    /// The message `type` (`text`, `image`, `interactive`, `button` ...).
    pub kind: String,
    /// The payload under the `type` key (`{"body": "hi"}` for text).
    pub payload: Value,
    /// The wamid to use; a deterministic one is made when `None`.
    pub id: Option<String>,
    /// The wamid this message replies to (`context.id`).
    pub reply_to: Option<String>,
}

impl UserMessage {
    /// A text message.
    pub fn text(
        from: impl Into<String>,
        profile_name: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            from: from.into(),
            profile_name: profile_name.into(),
            kind: "text".to_owned(),
            payload: json!({"body": body.into()}),
            id: None,
            reply_to: None,
        }
    }

    /// Any message type with its payload.
    pub fn raw(
        from: impl Into<String>,
        profile_name: impl Into<String>,
        kind: impl Into<String>,
        payload: Value,
    ) -> Self {
        Self {
            from: from.into(),
            profile_name: profile_name.into(),
            kind: kind.into(),
            payload,
            id: None,
            reply_to: None,
        }
    }

    /// Uses this wamid.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Makes it a reply to a business message.
    pub fn replying_to(mut self, wamid: impl Into<String>) -> Self {
        self.reply_to = Some(wamid.into());
        self
    }
}

/// A running emulator. Dropping it stops the server and the webhook sender.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// A builder with Meta's defaults.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:<port>`; the Graph API lives under `/{version}` below it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first accepted access token.
    pub fn access_token(&self) -> &str {
        self.shared
            .config
            .access_tokens
            .first()
            .map_or("", String::as_str)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    /// Counters of a phone number's `messages` edge.
    pub fn counters(&self, phone_number_id: &str) -> Option<NumberCounters> {
        self.shared.counters(phone_number_id)
    }

    /// Counters of the webhook sender.
    pub fn webhook_stats(&self) -> WebhookStats {
        self.shared.webhooks.stats()
    }

    /// Waits until no webhook is queued or in flight, up to `timeout`; returns whether it got
    /// there.
    pub async fn webhooks_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.webhook_stats();
            if stats.queued == 0 && stats.in_flight == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Expires an access token now: every later call with it answers 190 (subcode 463,
    /// "Session has expired"), as Meta does when a user token runs out or is revoked.
    pub fn expire_token(&self, token: &str) {
        self.shared.expired_tokens.write().insert(token.to_owned());
    }

    /// Registers a phone number at run time.
    pub fn add_number(&self, spec: PhoneNumberSpec) {
        self.shared.add_number(spec);
    }

    /// Adds media of `size` bytes owned by `phone_number_id`, as if a user had sent it; returns
    /// its id. Its bytes are generated from the emulator's seed while they are downloaded (the
    /// emulator never holds them), and `GET /{media-id}` announces their sha256: for download
    /// tests up to Meta's largest media (documents, 100 MB) without a fixture file.
    ///
    /// # Errors
    ///
    /// 803 when the number is unknown.
    pub fn add_generated_media(
        &self,
        phone_number_id: &str,
        mime_type: &str,
        size: u64,
    ) -> Result<String, ApiError> {
        self.shared
            .add_generated_media(phone_number_id, mime_type, size)
    }

    /// Adds a template at run time; returns its id.
    pub fn add_template(&self, spec: TemplateSpec) -> String {
        self.shared.add_template(spec)
    }

    /// The id of a template.
    pub fn template_id(&self, waba_id: &str, name: &str, language: &str) -> Option<String> {
        self.shared.template_id(waba_id, name, language)
    }

    /// A template's status (`PENDING`, `APPROVED` ...).
    pub fn template_status(&self, template_id: &str) -> Option<String> {
        self.shared.template(template_id).map(|t| t.status)
    }

    /// Sets a template's status (`PAUSED`, `DISABLED` ...) and sends the
    /// `message_template_status_update` webhook; `false` when the template is unknown.
    pub fn set_template_status(&self, template_id: &str, status: &str) -> bool {
        match self.shared.set_template_status(template_id, status) {
            Some(body) => {
                self.shared.webhooks.push(Instant::now(), Job::Body(body));
                true
            }
            None => false,
        }
    }

    /// The last verification code sent by `request_code` and not yet verified.
    pub fn verification_code(&self, phone_number_id: &str) -> Option<String> {
        self.shared.verification_code(phone_number_id)
    }

    /// Whether a number is registered on the Cloud API.
    pub fn is_registered(&self, phone_number_id: &str) -> Option<bool> {
        self.shared.is_registered(phone_number_id)
    }

    /// Opens (or refreshes) the customer-service window of a user without a webhook.
    ///
    /// # Errors
    ///
    /// 803 when the number is unknown.
    pub fn open_window(&self, phone_number_id: &str, wa_id: &str) -> Result<(), ApiError> {
        let number = self
            .shared
            .number(phone_number_id)
            .ok_or_else(ApiError::phone_not_found)?;
        self.shared
            .open_window(&number, &state::wa_id(wa_id), Instant::now());
        Ok(())
    }

    /// Makes a user's window look opened `ago` (to test expiry without waiting 24 hours).
    ///
    /// # Errors
    ///
    /// 803 when the number is unknown.
    pub fn backdate_window(
        &self,
        phone_number_id: &str,
        wa_id: &str,
        ago: Duration,
    ) -> Result<(), ApiError> {
        let number = self
            .shared
            .number(phone_number_id)
            .ok_or_else(ApiError::phone_not_found)?;
        let at = Instant::now()
            .checked_sub(ago)
            .unwrap_or(self.shared.started);
        self.shared.open_window(&number, &state::wa_id(wa_id), at);
        Ok(())
    }

    /// Injects a message from a user to a business number: opens the user's 24-hour window,
    /// makes its wamid valid for read receipts and sends a signed `messages` webhook with
    /// `contacts[].profile` and `messages[]`. Returns the wamid.
    ///
    /// # Errors
    ///
    /// 803 when the number is unknown.
    pub fn inject_inbound(
        &self,
        phone_number_id: &str,
        message: UserMessage,
    ) -> Result<String, ApiError> {
        let number = self
            .shared
            .number(phone_number_id)
            .ok_or_else(ApiError::phone_not_found)?;
        let from = state::wa_id(&message.from);
        let wamid = message
            .id
            .unwrap_or_else(|| self.shared.inbound_wamid(&number, &from));
        self.shared.record_inbound(&number, &from, &wamid);
        let mut item = json!({
            "from": from,
            "id": wamid,
            "timestamp": state::unix_now().to_string(),
            "type": message.kind,
        });
        item[message.kind.as_str()] = message.payload;
        if let Some(reply_to) = message.reply_to {
            item["context"] = json!({"from": &*number.metadata_display, "id": reply_to});
        }
        let body = webhooks::messages_envelope(
            &number,
            json!({
                "contacts": [{"profile": {"name": message.profile_name}, "wa_id": from}],
                "messages": [item],
            }),
        );
        self.shared.webhooks.push(Instant::now(), Job::Body(body));
        Ok(wamid)
    }

    /// Stops serving and sending webhooks, and waits for both to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
