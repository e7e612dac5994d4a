//! One number, one store, Meta or the sandbox: the wiring wagw's single-job programs
//! (`notify`, `blast`) share.
//!
//! The wiring every run needs: the SQLite store and queue, one sending number, Meta's Cloud
//! API (or the in-process emulator when no access token is configured), a dispatcher that
//! paces sends at the number's rate, and a webhook endpoint that verifies Meta's signed status
//! webhooks and moves the stored messages forward.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use wagw::dispatch::{Dispatcher, DispatcherConfig};
use wagw::event::InboundEvent;
use wagw::ingest::apply_status_updates;
use wagw::meta::MetaTransport;
use wagw::meta::emulator::{Emulator, PhoneNumberSpec, Throughput as EmulatorRate};
use wagw::meta::webhook;
use wagw::model::channel::{Channel, Throughput};
use wagw::model::tenant::{Plan, Tenant};
use wagw::phone::normalize;
use wagw::sql::{SqlQueue, SqlStore};
use wagw::store::{ChannelStore, Page, TenantStore, WamidUpdate};

/// The dispatcher over the SQLite store and queue and Meta's transport.
pub type SqlDispatcher = Dispatcher<SqlStore, SqlQueue, MetaTransport>;

/// The sandbox's sending number (Meta's phone-number id, business account, number).
const SANDBOX_PHONE_NUMBER_ID: &str = "106540352242922";
const SANDBOX_WABA_ID: &str = "102290129340398";
const SANDBOX_NUMBER: &str = "0811-1000-2000";
/// The sandbox's access token and app secret: the emulator is local and lives as long as
/// the program, so these protect nothing and need not be configured.
const SANDBOX_TOKEN: &str = "sandbox-token";
const SANDBOX_APP_SECRET: &str = "sandbox-app-secret";

/// Where messages go and how status webhooks come back.
#[derive(clap::Args, Debug, Clone)]
pub struct GatewayArgs {
    /// Cloud API access token. Without it the program runs against the in-process Cloud API
    /// emulator (the sandbox): nothing leaves the machine.
    #[arg(long, env = "WHATSAPP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Meta's phone-number id of the sending number (Cloud API mode).
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID")]
    pub phone_number_id: Option<String>,
    /// The WhatsApp Business Account id of the sending number (Cloud API mode).
    #[arg(long, env = "WHATSAPP_WABA_ID")]
    pub waba_id: Option<String>,
    /// The sending number as people write it, e.g. 0811-1000-2000 (Cloud API mode).
    #[arg(long, env = "WHATSAPP_NUMBER")]
    pub number: Option<String>,
    /// The app secret that signs Meta's webhooks (Cloud API mode).
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// The verify token of the webhook subscription handshake (Cloud API mode).
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    pub verify_token: Option<String>,
    /// Where to listen for Meta's webhooks, at path `/webhook` (Cloud API mode; the sandbox
    /// picks a free local port).
    #[arg(long, env = "WAGW_WEBHOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub webhook_listen: SocketAddr,
    /// The Graph API base URL (Cloud API mode), e.g. a `wagw-emulator` started by hand.
    #[arg(long, env = "WHATSAPP_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// Messages per second Meta allows the number: 80 by default, 1000 after an upgrade.
    /// Sends are paced at this rate, never faster.
    #[arg(long, env = "WAGW_RATE", default_value_t = 80)]
    pub rate: u32,
    /// Sandbox only: numbers the emulator treats as not on WhatsApp (their messages fail
    /// with Meta's 131026), comma-separated, as people write them.
    #[arg(long, env = "WAGW_SANDBOX_UNREACHABLE", value_delimiter = ',')]
    pub sandbox_unreachable: Vec<String>,
}

/// Whether the messages go to Meta or stay on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The in-process Cloud API emulator.
    Sandbox,
    /// Meta's Cloud API.
    CloudApi,
}

/// Everything a run needs, opened and running.
pub struct Gateway {
    /// The store (a SQLite file by default).
    pub store: Arc<SqlStore>,
    /// The job queue, in the same database.
    pub queue: Arc<SqlQueue>,
    /// The Cloud API transport.
    pub transport: Arc<MetaTransport>,
    /// The local tenant every message belongs to.
    pub tenant: Tenant,
    /// The sending number.
    pub channel: Channel,
    /// Sandbox or Cloud API.
    pub mode: Mode,
    emulator: Option<Emulator>,
    receiver: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Receiver {
    store: Arc<SqlStore>,
    tenant: Tenant,
    app_secret: String,
    verify_token: Option<String>,
}

/// `GET /webhook`: Meta's subscription handshake.
async fn handshake(State(r): State<Receiver>, RawQuery(query): RawQuery) -> (StatusCode, String) {
    let expected = r.verify_token.as_deref().unwrap_or_default();
    match webhook::verify_subscription_query(query.as_deref().unwrap_or_default(), expected) {
        Ok(challenge) => (StatusCode::OK, challenge),
        Err(_) => (StatusCode::FORBIDDEN, String::new()),
    }
}

/// `POST /webhook`: verifies the signature over the raw body, then applies every status to
/// the store. A store failure answers 500 so that Meta delivers the webhook again.
async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if webhook::verify(r.app_secret.as_bytes(), &body, signature).is_err() {
        tracing::warn!("webhook refused: bad signature");
        return StatusCode::UNAUTHORIZED;
    }
    let events = match webhook::parse(&body) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "webhook refused: unreadable body");
            return StatusCode::BAD_REQUEST;
        }
    };
    let updates: Vec<WamidUpdate> = events
        .iter()
        .filter_map(|event| match &event.event {
            InboundEvent::Status(status) => WamidUpdate::from_webhook(status),
            _ => None,
        })
        .collect();
    if updates.is_empty() {
        return StatusCode::OK;
    }
    match apply_status_updates(&*r.store, r.tenant.id, &updates).await {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            tracing::error!(error = %e, "status webhook not stored; Meta will deliver it again");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl Gateway {
    /// Opens the store at `db` (creating the file and the local tenant and channel on first
    /// use), starts the webhook endpoint and, without an access token, the emulator.
    pub async fn open(db: &str, args: &GatewayArgs, tenant_name: &str) -> Result<Self> {
        let store = Arc::new(SqlStore::connect(db).await?);
        let queue = Arc::new(store.queue());
        let tenant = local_tenant(&store, tenant_name).await?;
        let rate = Throughput::per_second(args.rate)?;
        let mode = if args.token.is_some() {
            Mode::CloudApi
        } else {
            Mode::Sandbox
        };

        let (pnid, waba, number, app_secret, listen) = match mode {
            Mode::Sandbox => (
                SANDBOX_PHONE_NUMBER_ID.to_owned(),
                SANDBOX_WABA_ID.to_owned(),
                SANDBOX_NUMBER.to_owned(),
                SANDBOX_APP_SECRET.to_owned(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
            ),
            Mode::CloudApi => (
                required(&args.phone_number_id, "WHATSAPP_PHONE_NUMBER_ID")?,
                required(&args.waba_id, "WHATSAPP_WABA_ID")?,
                required(&args.number, "WHATSAPP_NUMBER")?,
                required(&args.app_secret, "WHATSAPP_APP_SECRET")?,
                args.webhook_listen,
            ),
        };
        let display = normalize(&number, tenant.default_region)?;
        let channel = local_channel(&store, &tenant, &pnid, &waba, display, rate).await?;

        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| SetupError::io(format!("cannot listen for webhooks on {listen}"), e))?;
        let webhook_addr = listener
            .local_addr()
            .map_err(|e| SetupError::io("webhook listener address", e))?;
        let app = axum::Router::new()
            .route("/webhook", get(handshake).post(receive))
            .with_state(Receiver {
                store: Arc::clone(&store),
                tenant: tenant.clone(),
                app_secret: app_secret.clone(),
                verify_token: args.verify_token.clone(),
            });
        let receiver = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "webhook endpoint stopped");
            }
        });

        let (emulator, base_url, token) = match mode {
            Mode::Sandbox => {
                let mut builder = Emulator::builder()
                    // Fresh wamids every run: a resumed run must not reuse an earlier one.
                    .seed(time_seed())
                    .access_token(SANDBOX_TOKEN)
                    .throughput(EmulatorRate::per_second(args.rate))
                    // The sandbox lets free-form text through at any time; the Cloud API
                    // delivers it only inside the customer's 24-hour window (131047 else).
                    .customer_window(None)
                    // Meta packs many statuses into one webhook under load; so does the
                    // sandbox, and each POST is then one store transaction, not one per status.
                    .webhook_batch(100)
                    .webhook(format!("http://{webhook_addr}/webhook"), &app_secret)
                    .number(PhoneNumberSpec::new(
                        &pnid,
                        channel.display_number.as_str(),
                        &waba,
                    ));
                for input in &args.sandbox_unreachable {
                    builder =
                        builder.unreachable(normalize(input, tenant.default_region)?.as_str());
                }
                let emulator = builder.start().await?;
                let url = emulator.base_url().to_owned();
                (Some(emulator), Some(url), SANDBOX_TOKEN.to_owned())
            }
            Mode::CloudApi => (
                None,
                args.graph_url.clone(),
                args.token.clone().unwrap_or_default(),
            ),
        };
        let mut transport = MetaTransport::builder().access_token(token);
        if let Some(url) = base_url {
            transport = transport.base_url(url);
        }
        let transport = Arc::new(transport.build()?);
        match mode {
            Mode::Sandbox => {
                tracing::info!("sandbox: sending through the in-process Cloud API emulator")
            }
            Mode::CloudApi => {
                tracing::info!(%webhook_addr, "Cloud API: status webhooks expected at /webhook")
            }
        }
        Ok(Self {
            store,
            queue,
            transport,
            tenant,
            channel,
            mode,
            emulator,
            receiver,
        })
    }

    /// A dispatcher over this gateway's store, queue and transport, paced at the number's rate.
    pub fn dispatcher(&self) -> SqlDispatcher {
        Dispatcher::new(
            Arc::clone(&self.store),
            Arc::clone(&self.queue),
            Arc::clone(&self.transport),
            DispatcherConfig {
                // The store of a single-job program never sees customers' inbound messages,
                // so it cannot know their 24-hour windows: Meta decides, and a refusal comes
                // back as a failed status with Meta's reason (131047).
                enforce_window: false,
                // A job holds its lane slot through its store writes before the rate limiter
                // (quota charge, on SQLite one fsync-ed commit each), so a lane of 2 keeps a
                // single number well below its rate on a busy disk. Nothing urgent shares the
                // number in a single-job program, so the lane can be deep (BENCHMARKS.md).
                lane_depth: 16,
                ..DispatcherConfig::default()
            },
        )
    }

    /// The emulator, in the sandbox.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }

    /// In the sandbox, waits (up to `limit`) until the emulator has delivered every status
    /// webhook it scheduled; with the Cloud API statuses arrive when Meta sends them.
    pub async fn settle(&self, limit: Duration) {
        if let Some(emulator) = &self.emulator {
            emulator.webhooks_idle(limit).await;
        }
    }

    /// Stops the webhook endpoint and the emulator, and closes the database.
    pub async fn close(self) {
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
        self.receiver.abort();
        self.store.close().await;
    }
}

fn required(value: &Option<String>, env: &'static str) -> Result<String> {
    value
        .clone()
        .filter(|v| !v.trim().is_empty())
        .ok_or(SetupError::MissingSetting(env))
}

fn time_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The tenant named `name`, created (with no plan limits: this is the operator's own
/// machine) on first use.
async fn local_tenant(store: &SqlStore, name: &str) -> Result<Tenant> {
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let tenants = store.list_tenants(page).await?;
        if let Some(tenant) = tenants.items.into_iter().find(|t| t.name == name) {
            return Ok(tenant);
        }
        match tenants.next {
            Some(next) => page = Page::after(Page::MAX_LIMIT, next),
            None => break,
        }
    }
    let tenant = Tenant::new(name, Plan::enterprise());
    store.create_tenant(&tenant).await?;
    Ok(tenant)
}

/// The channel of phone-number id `pnid`, created on first use; its throughput follows the
/// configured rate.
async fn local_channel(
    store: &SqlStore,
    tenant: &Tenant,
    pnid: &str,
    waba: &str,
    display: wagw::phone::PhoneNumber,
    rate: Throughput,
) -> Result<Channel> {
    match store.find_channel_by_phone_number_id(pnid).await {
        Ok(mut channel) if channel.tenant_id == tenant.id => {
            if channel.throughput != rate {
                channel.throughput = rate;
                store.update_channel(&channel).await?;
            }
            Ok(channel)
        }
        Ok(_) => Err(SetupError::Input(format!(
            "phone-number id {pnid} belongs to another tenant in this database"
        ))),
        Err(e)
            if e.code() == wagw::ErrorCode::NotFound
                || e.code() == wagw::ErrorCode::ChannelNotFound =>
        {
            let mut channel = Channel::new(tenant.id, tenant.name.clone(), pnid, waba, display);
            channel.throughput = rate;
            store.create_channel(&channel).await?;
            Ok(channel)
        }
        Err(e) => Err(e.into()),
    }
}

/// What can stop the set-up. Every variant has a stable machine-readable
/// [`code`](Self::code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// wagw refused or failed (invalid number, store error ...).
    #[error(transparent)]
    Wagw(#[from] wagw::Error),
    /// The Cloud API transport or the emulator could not start.
    #[error(transparent)]
    Meta(#[from] wagw::meta::Error),
    /// The webhook listener could not start.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A Cloud API setting is missing.
    #[error(
        "{0} is not set (it is needed with WHATSAPP_TOKEN; unset the token to use the sandbox)"
    )]
    MissingSetting(&'static str),
    /// A setting does not make sense.
    #[error("{0}")]
    Input(String),
}

impl SetupError {
    fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// A stable code: `META`, `IO`, `MISSING_SETTING`, `INVALID_INPUT`, or wagw's own code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Wagw(e) => e.code().as_str(),
            Self::Meta(_) => "META",
            Self::Io { .. } => "IO",
            Self::MissingSetting(_) => "MISSING_SETTING",
            Self::Input(_) => "INVALID_INPUT",
        }
    }
}

/// The set-up's result.
pub type Result<T, E = SetupError> = std::result::Result<T, E>;
