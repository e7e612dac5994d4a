//! # embed — WhatsApp order confirmations in an existing axum service
//!
//! A small shop service (its own state: an `orders` table) adds WhatsApp with wagw. What
//! wagw adds is marked `// wagw:` below and is about 30 lines: a [`WhatsApp`] handle in the
//! state, one route that sends an order confirmation ([`confirm_order`]), and a webhook route
//! ([`whatsapp_webhook`]) whose status webhooks update the shop's own table (queued → sent →
//! delivered → read, or failed with Meta's reason), forward only.
//!
//! Setting the handle up ([`WhatsApp::open`]) is the usual wiring: a wagw store (SQLite),
//! Meta's transport, a dispatcher that sends at the number's rate. Without an access token it
//! runs against the in-process Cloud API emulator, so `cargo run -p embed` works anywhere.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use wagw::content::MessageContent;
use wagw::dispatch::{Dispatcher, DispatcherConfig, DispatcherHandle, NewMessage};
use wagw::event::InboundEvent;
use wagw::ingest::apply_status_updates;
use wagw::meta::MetaTransport;
use wagw::meta::emulator::{Emulator, PhoneNumberSpec};
use wagw::meta::webhook::{SIGNATURE_HEADER, verify_and_parse, verify_subscription_query};
use wagw::model::channel::Channel;
use wagw::model::message::{MessageStatus, Transition};
use wagw::model::tenant::{Plan, Tenant};
use wagw::phone::{PhoneNumber, Region, normalize};
use wagw::sql::{SqlQueue, SqlStore};
use wagw::store::{ChannelStore, TenantStore, WamidUpdate};

/// An order in the shop's own table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    /// Order number.
    pub id: u64,
    /// Who ordered.
    pub customer: String,
    /// Their number as they typed it.
    pub phone: String,
    /// Amount, e.g. "Rp 150.000".
    pub total: String,
    /// The confirmation's WhatsApp status: `queued`, `sent`, `delivered`, `read`, `failed`.
    pub whatsapp: Option<MessageStatus>,
    /// Why the confirmation failed (Meta's code and reason).
    pub whatsapp_error: Option<String>,
}

/// A new order as the shop's API takes it.
#[derive(Debug, Deserialize)]
pub struct NewOrder {
    /// Who orders.
    pub customer: String,
    /// Their number as they type it.
    pub phone: String,
    /// Amount.
    pub total: String,
}

/// The shop's state: its orders, and (wagw) the WhatsApp handle.
#[derive(Clone)]
pub struct Shop {
    orders: Arc<Mutex<BTreeMap<u64, Order>>>,
    wa: Arc<WhatsApp>, // wagw
}

/// The shop's routes, with the two that wagw adds.
pub fn app(wa: WhatsApp) -> axum::Router {
    let shop = Shop {
        orders: Arc::default(),
        wa: Arc::new(wa),
    };
    axum::Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/confirm", post(confirm_order)) // wagw
        .route(
            "/whatsapp/webhook",
            get(whatsapp_handshake).post(whatsapp_webhook),
        ) // wagw
        .with_state(shop)
}

async fn create_order(State(shop): State<Shop>, Json(new): Json<NewOrder>) -> Json<Order> {
    let mut orders = shop.orders.lock().await;
    let id = orders.keys().next_back().map_or(1001, |last| last + 1);
    let order = Order {
        id,
        customer: new.customer,
        phone: new.phone,
        total: new.total,
        whatsapp: None,
        whatsapp_error: None,
    };
    orders.insert(id, order.clone());
    Json(order)
}

async fn get_order(
    State(shop): State<Shop>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, StatusCode> {
    let orders = shop.orders.lock().await;
    orders
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

/// `POST /orders/{id}/confirm`: sends the order confirmation. The idempotency key makes a
/// second click (or a retry after a timeout) return the same message instead of sending twice.
pub async fn confirm_order(
    State(shop): State<Shop>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, (StatusCode, String)> {
    let mut orders = shop.orders.lock().await;
    let order = orders
        .get_mut(&id)
        .ok_or((StatusCode::NOT_FOUND, "no such order".into()))?;
    // wagw: the number as typed → 62…; a typed error is the customer's to fix.
    let to = normalize(&order.phone, Region::ID)
        .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let text = format!(
        "Halo {}, pesanan #{} ({}) sudah kami terima. Terima kasih!",
        order.customer, order.id, order.total
    );
    let message = NewMessage::new(
        shop.wa.tenant,
        shop.wa.channel,
        to,
        MessageContent::text(text),
    )
    .idempotency_key(format!("order-{id}-confirmation"))
    .callback_data(format!("order:{id}")); // Meta echoes it in every status webhook
    shop.wa
        .dispatcher
        .submit(message)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    order.whatsapp.get_or_insert(MessageStatus::Queued);
    Ok(Json(order.clone()))
}

/// `GET /whatsapp/webhook`: Meta's subscription handshake.
pub async fn whatsapp_handshake(
    State(shop): State<Shop>,
    RawQuery(query): RawQuery,
) -> Result<String, StatusCode> {
    verify_subscription_query(query.as_deref().unwrap_or_default(), &shop.wa.verify_token)
        .map_err(|_| StatusCode::FORBIDDEN)
}

/// `POST /whatsapp/webhook`: Meta's signed status webhooks. wagw's store moves the message
/// forward; the shop's own table follows by the callback data, by the same forward-only rule.
pub async fn whatsapp_webhook(
    State(shop): State<Shop>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let Ok(events) = verify_and_parse(shop.wa.app_secret.as_bytes(), &body, signature) else {
        return StatusCode::UNAUTHORIZED;
    };
    let (statuses, updates): (Vec<_>, Vec<_>) = events
        .iter()
        .filter_map(|e| match &e.event {
            InboundEvent::Status(s) => Some((s, WamidUpdate::from_webhook(s)?)),
            _ => None,
        })
        .unzip();
    if apply_status_updates(&*shop.wa.store, shop.wa.tenant, &updates)
        .await
        .is_err()
    {
        return StatusCode::INTERNAL_SERVER_ERROR; // Meta delivers it again
    }
    let mut orders = shop.orders.lock().await;
    for (status, update) in statuses.iter().zip(&updates) {
        let id = status
            .biz_opaque_callback_data
            .as_deref()
            .and_then(|d| d.strip_prefix("order:")?.parse().ok());
        let Some(order) = id.and_then(|id: u64| orders.get_mut(&id)) else {
            continue;
        };
        if order
            .whatsapp
            .unwrap_or(MessageStatus::Queued)
            .transition(update.update.status)
            == Transition::Advance
        {
            order.whatsapp = Some(update.update.status);
            order.whatsapp_error = update
                .update
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.code.unwrap_or_default(), e.reason));
        }
    }
    StatusCode::OK
}

/// What the shop keeps to send WhatsApp messages: the dispatcher (which records every message
/// in wagw's store before sending it at the number's rate), the store, and the tenant and
/// number it sends as.
pub struct WhatsApp {
    dispatcher: Dispatcher<SqlStore, SqlQueue, MetaTransport>,
    store: Arc<SqlStore>,
    tenant: wagw::ids::TenantId,
    channel: wagw::ids::ChannelId,
    app_secret: String,
    verify_token: String,
}

/// How to reach the Cloud API; `None` fields mean the sandbox.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// wagw's database, e.g. `sqlite://shop-wagw.db`.
    pub db: String,
    /// Cloud API access token; `None` runs the in-process emulator.
    pub token: Option<String>,
    /// Meta's phone-number id, business account id and the number (Cloud API).
    pub number: Option<(String, String, String)>,
    /// The app secret that signs webhooks (Cloud API).
    pub app_secret: Option<String>,
    /// The verify token of Meta's webhook handshake (Cloud API).
    pub verify_token: Option<String>,
    /// Sandbox only: numbers (as typed) the emulator treats as not on WhatsApp (131026).
    pub sandbox_unreachable: Vec<String>,
}

/// A running WhatsApp side: the dispatcher's loop and, in the sandbox, the emulator.
pub struct Running {
    dispatcher: DispatcherHandle,
    emulator: Option<Emulator>,
}

impl Running {
    /// The sandbox's emulator.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }

    /// Stops sending (sends in flight are recorded) and the emulator.
    pub async fn shutdown(self) {
        self.dispatcher.shutdown().await;
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

const SANDBOX_SECRET: &str = "sandbox-app-secret";
const SANDBOX_TOKEN: &str = "sandbox-token";

impl WhatsApp {
    /// Opens wagw's store, the shop's tenant and number, Meta's transport (or, without a
    /// token, the emulator, whose status webhooks go to `webhook` — this service's
    /// `/whatsapp/webhook`) and starts the dispatcher.
    pub async fn open(settings: &Settings, webhook: SocketAddr) -> wagw::Result<(Self, Running)> {
        let store = Arc::new(SqlStore::connect(&settings.db).await?);
        let (pnid, waba, number) = settings.number.clone().unwrap_or_else(|| {
            (
                "106540352242923".into(),
                "102290129340398".into(),
                "0811-1000-3000".into(),
            )
        });
        let display: PhoneNumber = normalize(&number, Region::ID)?;
        let channel = match store.find_channel_by_phone_number_id(&pnid).await {
            Ok(channel) => channel,
            Err(_) => {
                let tenant = Tenant::new("shop", Plan::enterprise());
                store.create_tenant(&tenant).await?;
                let channel = Channel::new(tenant.id, "orders", &pnid, &waba, display);
                store.create_channel(&channel).await?;
                channel
            }
        };
        let backend = |e: wagw::meta::Error| wagw::Error::backend("Cloud API transport", false, e);
        let (transport, emulator, app_secret) = match &settings.token {
            Some(token) => (
                MetaTransport::builder()
                    .access_token(token)
                    .build()
                    .map_err(backend)?,
                None,
                settings.app_secret.clone().ok_or_else(|| {
                    wagw::Error::invalid_input("app_secret", "needed with a token")
                })?,
            ),
            None => {
                let mut builder = Emulator::builder();
                for typed in &settings.sandbox_unreachable {
                    builder = builder.unreachable(normalize(typed, Region::ID)?.as_str());
                }
                let emulator = builder
                    .access_token(SANDBOX_TOKEN)
                    // The sandbox lets free-form text through; the Cloud API only inside
                    // the customer's 24-hour window (order confirmations are usually a
                    // utility template in production).
                    .customer_window(None)
                    .webhook(format!("http://{webhook}/whatsapp/webhook"), SANDBOX_SECRET)
                    .number(PhoneNumberSpec::new(
                        &pnid,
                        channel.display_number.as_str(),
                        &waba,
                    ))
                    .start()
                    .await
                    .map_err(backend)?;
                let transport = MetaTransport::builder()
                    .base_url(emulator.base_url())
                    .access_token(SANDBOX_TOKEN)
                    .build()
                    .map_err(backend)?;
                (transport, Some(emulator), SANDBOX_SECRET.to_owned())
            }
        };
        let dispatcher = Dispatcher::new(
            Arc::clone(&store),
            Arc::new(store.queue()),
            Arc::new(transport),
            DispatcherConfig {
                // The shop's store sees no inbound messages, so Meta judges the 24-hour window.
                enforce_window: false,
                ..DispatcherConfig::default()
            },
        );
        let handle = dispatcher.start();
        let wa = Self {
            dispatcher,
            store,
            tenant: channel.tenant_id,
            channel: channel.id,
            app_secret,
            verify_token: settings.verify_token.clone().unwrap_or_default(),
        };
        Ok((
            wa,
            Running {
                dispatcher: handle,
                emulator,
            },
        ))
    }
}
