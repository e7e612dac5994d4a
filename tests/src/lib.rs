//! A whole gateway on one machine for end-to-end tests: memory backends, the dispatcher and
//! campaign engine, `MetaTransport` against the Cloud API emulator, and a webhook receiver
//! that verifies the emulator's signed status webhooks and feeds them to status ingestion.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes as RawBytes;
use parking_lot::Mutex;
use wagw_core::content::OutboundMessage;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_core::event::InboundEvent;
use wagw_core::ingest::apply_status_updates;
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::template::{TemplateDraft, TemplateStatus};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ChannelStore, TenantStore, WamidUpdate};
use wagw_core::transport::{
    Capabilities, CodeMethod, MediaInfo, MediaUpload, RemoteTemplate, SendReceipt, TemplatePage,
    Transport, TransportError,
};
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{Emulator, PhoneNumberSpec, StatusTiming, Throughput as EmuRate};
use wagw_store_memory::{MemoryQueue, MemoryStore};

/// The emulator's access token in these tests.
pub const TOKEN: &str = "e2e-token";
/// The app secret that signs webhooks.
pub const SECRET: &str = "e2e-app-secret";
/// The business account of every test number.
pub const WABA: &str = "102290129340398";

/// The dispatcher type of the harness.
pub type E2eDispatcher = Dispatcher<MemoryStore, MemoryQueue, Recording>;

/// A distinct Indonesian mobile number for each `n`.
pub fn phone(n: u64) -> PhoneNumber {
    match PhoneNumber::from_wa_id(&(6_281_200_000_000 + n).to_string()) {
        Ok(p) => p,
        Err(e) => panic!("test numbers are valid: {e}"),
    }
}

/// One send as the transport saw it.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Recipient.
    pub to: String,
    /// Sending number (phone-number id).
    pub from: String,
    /// When the call returned.
    pub at: Instant,
    /// Whether the far side accepted it.
    pub accepted: bool,
}

/// A transport that records every send in order, then delegates to `MetaTransport`.
#[derive(Debug, Clone)]
pub struct Recording {
    inner: Arc<MetaTransport>,
    log: Arc<Mutex<Vec<Sent>>>,
}

impl Recording {
    /// Every send so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.log.lock().clone()
    }
}

#[async_trait]
impl Transport for Recording {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn send(&self, ch: &Channel, m: &OutboundMessage) -> Result<SendReceipt, TransportError> {
        let result = self.inner.send(ch, m).await;
        self.log.lock().push(Sent {
            to: m.to.clone(),
            from: ch.phone_number_id.clone(),
            at: Instant::now(),
            accepted: result.is_ok(),
        });
        result
    }
    async fn mark_read(&self, ch: &Channel, w: &str, t: bool) -> Result<(), TransportError> {
        self.inner.mark_read(ch, w, t).await
    }
    async fn upload_media(&self, ch: &Channel, m: MediaUpload) -> Result<String, TransportError> {
        self.inner.upload_media(ch, m).await
    }
    async fn get_media(&self, ch: &Channel, id: &str) -> Result<MediaInfo, TransportError> {
        self.inner.get_media(ch, id).await
    }
    async fn download_media(&self, ch: &Channel, id: &str) -> Result<RawBytes, TransportError> {
        self.inner.download_media(ch, id).await
    }
    async fn delete_media(&self, ch: &Channel, id: &str) -> Result<(), TransportError> {
        self.inner.delete_media(ch, id).await
    }
    async fn create_template(
        &self,
        ch: &Channel,
        t: &TemplateDraft,
    ) -> Result<RemoteTemplate, TransportError> {
        self.inner.create_template(ch, t).await
    }
    async fn list_templates(
        &self,
        ch: &Channel,
        after: Option<&str>,
    ) -> Result<TemplatePage, TransportError> {
        self.inner.list_templates(ch, after).await
    }
    async fn get_template(&self, ch: &Channel, id: &str) -> Result<RemoteTemplate, TransportError> {
        self.inner.get_template(ch, id).await
    }
    async fn delete_template(&self, ch: &Channel, name: &str) -> Result<(), TransportError> {
        self.inner.delete_template(ch, name).await
    }
    async fn request_code(
        &self,
        ch: &Channel,
        m: CodeMethod,
        l: &str,
    ) -> Result<(), TransportError> {
        self.inner.request_code(ch, m, l).await
    }
    async fn verify_code(&self, ch: &Channel, code: &str) -> Result<(), TransportError> {
        self.inner.verify_code(ch, code).await
    }
    async fn register(&self, ch: &Channel, pin: &str) -> Result<(), TransportError> {
        self.inner.register(ch, pin).await
    }
}

/// Settings of a test gateway.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    /// Numbers to create.
    pub numbers: usize,
    /// Messages per second of every number, in wagw and in the emulator.
    pub rate: u32,
    /// Recipients the emulator treats as not on WhatsApp (131026).
    pub unreachable: Vec<PhoneNumber>,
    /// Whether the emulator sends status webhooks.
    pub webhooks: bool,
}

impl Default for GatewaySpec {
    fn default() -> Self {
        Self {
            numbers: 1,
            rate: 80,
            unreachable: Vec::new(),
            webhooks: true,
        }
    }
}

/// A gateway wired to the emulator.
pub struct Gateway {
    /// The store.
    pub store: Arc<MemoryStore>,
    /// The queue.
    pub queue: Arc<MemoryQueue>,
    /// The transport, recording.
    pub transport: Recording,
    /// The emulator.
    pub emulator: Emulator,
    /// The tenant.
    pub tenant: Tenant,
    /// Its channels, one per number.
    pub channels: Vec<Channel>,
    webhooks: Arc<Mutex<WebhookLog>>,
    receiver: tokio::task::JoinHandle<()>,
}

/// What the webhook receiver saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebhookLog {
    /// Status items received.
    pub statuses: u64,
    /// Of those, items that moved a message forward.
    pub moved: u64,
    /// POSTs whose signature did not verify.
    pub rejected: u64,
}

#[derive(Clone)]
struct Receiver {
    store: Arc<MemoryStore>,
    log: Arc<Mutex<WebhookLog>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(wagw_meta::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let Ok(events) = wagw_meta::webhook::verify_and_parse(SECRET.as_bytes(), &body, signature)
    else {
        r.log.lock().rejected += 1;
        return StatusCode::UNAUTHORIZED;
    };
    for event in events {
        let InboundEvent::Status(status) = &event.event else {
            continue;
        };
        let Some(pnid) = event.phone_number_id.as_deref() else {
            continue;
        };
        let Ok(channel) = r.store.find_channel_by_phone_number_id(pnid).await else {
            continue;
        };
        r.log.lock().statuses += 1;
        if let Some(update) = WamidUpdate::from_webhook(status) {
            match apply_status_updates(&*r.store, channel.tenant_id, &[update]).await {
                Ok(changes) if changes.iter().flatten().any(|c| c.moved()) => {
                    r.log.lock().moved += 1;
                }
                Ok(_) => {}
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
    }
    StatusCode::OK
}

impl Gateway {
    /// Starts the emulator, the webhook receiver and the backends.
    pub async fn start(spec: GatewaySpec) -> Self {
        let store = Arc::new(MemoryStore::new());
        let log = Arc::new(Mutex::new(WebhookLog::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .route("/webhook", post(receive))
            .with_state(Receiver {
                store: Arc::clone(&store),
                log: Arc::clone(&log),
            });
        let receiver = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let mut builder = Emulator::builder()
            .seed(7)
            .access_token(TOKEN)
            .throughput(EmuRate::per_second(spec.rate))
            .statuses(StatusTiming {
                read_probability: 0.5,
                ..StatusTiming::default()
            })
            .customer_window(None);
        if spec.webhooks {
            builder = builder.webhook(format!("http://{addr}/webhook"), SECRET);
        }
        for n in &spec.unreachable {
            builder = builder.unreachable(n.as_str());
        }
        let tenant = Tenant::new("Toko Maju", Plan::enterprise());
        store.create_tenant(&tenant).await.expect("tenant");
        let mut channels = Vec::new();
        for i in 0..spec.numbers {
            let pnid = format!("10654035224{i:04}");
            let display = phone(900_000 + i as u64);
            builder = builder.number(PhoneNumberSpec::new(&pnid, display.as_str(), WABA));
            let mut channel = Channel::new(tenant.id, format!("cs-{i}"), pnid, WABA, display);
            channel.throughput = Throughput::per_second(spec.rate).expect("rate");
            store.create_channel(&channel).await.expect("channel");
            channels.push(channel);
        }
        let emulator = builder.start().await.expect("emulator");
        let meta = MetaTransport::builder()
            .base_url(emulator.base_url())
            .access_token(TOKEN)
            .build()
            .expect("transport");
        Self {
            store,
            queue: Arc::new(MemoryQueue::new()),
            transport: Recording {
                inner: Arc::new(meta),
                log: Arc::default(),
            },
            emulator,
            tenant,
            channels,
            webhooks: log,
            receiver,
        }
    }

    /// A dispatcher over the gateway's backends and transport.
    pub fn dispatcher(&self, config: DispatcherConfig) -> E2eDispatcher {
        Dispatcher::new(
            Arc::clone(&self.store),
            Arc::clone(&self.queue),
            Arc::new(self.transport.clone()),
            config,
        )
    }

    /// What the webhook receiver saw so far.
    pub fn webhooks(&self) -> WebhookLog {
        *self.webhooks.lock()
    }

    /// Registers an approved template with the emulator (per business account) and the store
    /// (per channel).
    pub async fn approved_template(
        &self,
        channel: usize,
        draft: TemplateDraft,
    ) -> wagw_core::model::template::Template {
        use wagw_core::store::TemplateStore;
        let components = serde_json::Value::Array(draft.components.clone());
        let remote = self
            .emulator
            .add_template(wagw_meta::emulator::TemplateSpec::approved(
                WABA,
                draft.name.clone(),
                draft.language.clone(),
                components,
            ));
        let mut template = wagw_core::model::template::Template::new(
            self.tenant.id,
            self.channels[channel].id,
            draft,
        );
        template.status = TemplateStatus::Approved;
        template.remote_id = Some(remote);
        self.store
            .create_template(&template)
            .await
            .expect("template");
        template
    }

    /// Waits until `done` holds, failing the test after `limit`.
    pub async fn wait(&self, what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the emulator and the receiver.
    pub async fn stop(self) {
        self.receiver.abort();
        self.emulator.shutdown().await;
    }
}
