//! The inbound half end to end: user messages injected into the Cloud API emulator travel as
//! signed webhooks into a receiver that verifies, parses and stores them with
//! `InboundPipeline` (then acknowledges); a `ConversationRunner` answers from the durable jobs
//! through the dispatcher, `MetaTransport` and the emulator; the emulator's status webhooks for
//! the replies come back through the same receiver; outbox rows describe it all.
//!
//! The flow engine is wagw's own, running a GVINUM ChatFlow document;
//! what is under test is the pipeline, the runner and their seams.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use parking_lot::Mutex;
use wagw_core::content::MessageContent;
use wagw_core::conversation::auto_reply::create_rule;
use wagw_core::conversation::{
    ConversationRunner, InboundPipeline, RoutedEvent, RunnerConfig, RunnerHandle,
};
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, DispatcherHandle};
use wagw_core::flow::{Engine, GuardedFlowHttp, activate, load_document};
use wagw_core::ids::SubscriptionId;
use wagw_core::model::Secret;
use wagw_core::model::auto_reply::{AutoReplyRule, KeywordMatch};
use wagw_core::model::channel::Channel;
use wagw_core::model::flow::{Flow, SessionState};
use wagw_core::model::message::{Direction, MessageStatus};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::model::webhook::{EventKind, WebhookSubscription};
use wagw_core::net::NetPolicy;
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{
    ChannelStore, ConversationStore, InboundStore, MessageQuery, MessageStore, Page, TenantStore,
    WebhookStore,
};
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{Emulator, PhoneNumberSpec, UserMessage};
use wagw_store_memory::{MemoryQueue, MemoryStore};

const TOKEN: &str = "conv-token";
const SECRET: &str = "conv-app-secret";
const WABA: &str = "102290129340398";
const PNID: &str = "106540352240001";

/// GVINUM's ChatFlow format, loaded unchanged: the menu, then the bill on `1`.
const MENU_FLOW: &str = r#"{
  "root": {"type": "text", "state": "root", "content": "Menu: 1. Tagihan 2. Gangguan",
           "options": {"1": "tagihan", "2": "gangguan"}},
  "tagihan": {"type": "text", "state": "tagihan", "content": "Tagihan Anda Rp 150.000"},
  "gangguan": {"type": "text", "state": "gangguan", "content": "Laporan gangguan diterima"}
}"#;

#[derive(Clone)]
struct Receiver {
    pipeline: InboundPipeline<MemoryStore>,
    rejected: Arc<Mutex<u64>>,
}

/// Verify, parse, store, then acknowledge; a store failure answers 500 so Meta retries.
async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(wagw_meta::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let Ok(events) = wagw_meta::webhook::verify_and_parse(SECRET.as_bytes(), &body, signature)
    else {
        *r.rejected.lock() += 1;
        return StatusCode::UNAUTHORIZED;
    };
    let events: Vec<RoutedEvent> = events.into_iter().map(RoutedEvent::from).collect();
    match r.pipeline.ingest(&events).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

type Runner = ConversationRunner<MemoryStore, MemoryQueue, MetaTransport>;

struct Rig {
    store: Arc<MemoryStore>,
    emulator: Emulator,
    tenant: Tenant,
    channel: Channel,
    dispatcher: Dispatcher<MemoryStore, MemoryQueue, MetaTransport>,
    sending: Option<DispatcherHandle>,
    receiver: tokio::task::JoinHandle<()>,
}

impl Rig {
    async fn start() -> Self {
        let store = Arc::new(MemoryStore::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .route("/webhook", post(receive))
            .with_state(Receiver {
                pipeline: InboundPipeline::new(Arc::clone(&store)),
                rejected: Arc::default(),
            });
        let receiver = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let display = PhoneNumber::from_wa_id("6281100000001").expect("number");
        let emulator = Emulator::builder()
            .seed(11)
            .access_token(TOKEN)
            .webhook(format!("http://{addr}/webhook"), SECRET)
            .number(PhoneNumberSpec::new(PNID, display.as_str(), WABA))
            .start()
            .await
            .expect("emulator");
        let tenant = Tenant::new("Toko Maju", Plan::premium());
        store.create_tenant(&tenant).await.expect("tenant");
        let channel = Channel::new(tenant.id, "cs", PNID, WABA, display);
        store.create_channel(&channel).await.expect("channel");
        let transport = MetaTransport::builder()
            .base_url(emulator.base_url())
            .access_token(TOKEN)
            .build()
            .expect("transport");
        let dispatcher = Dispatcher::new(
            Arc::clone(&store),
            Arc::new(MemoryQueue::new()),
            Arc::new(transport),
            DispatcherConfig {
                idle_poll: Duration::from_millis(5),
                ..DispatcherConfig::default()
            },
        );
        let sending = Some(dispatcher.start());
        Self {
            store,
            emulator,
            tenant,
            channel,
            dispatcher,
            sending,
            receiver,
        }
    }

    fn runner(&self) -> Runner {
        ConversationRunner::new(
            Arc::clone(&self.store),
            self.dispatcher.clone(),
            Arc::new(Engine::new(
                Arc::clone(&self.store) as Arc<dyn ConversationStore>,
                Arc::new(GuardedFlowHttp::new(NetPolicy::default()).expect("http")),
            )),
            RunnerConfig {
                idle_poll: Duration::from_millis(10),
                lease: Duration::from_millis(500),
                ..RunnerConfig::default()
            },
        )
    }

    fn say(&self, user: &str, text: &str) -> String {
        self.emulator
            .inject_inbound(PNID, UserMessage::text(user, "Budi", text))
            .expect("inject")
    }

    fn say_as(&self, user: &str, wamid: &str, text: &str) {
        self.emulator
            .inject_inbound(PNID, UserMessage::text(user, "Budi", text).with_id(wamid))
            .expect("inject");
    }

    async fn outbound(&self, user: &str) -> Vec<wagw_core::model::message::MessageRecord> {
        let query = MessageQuery {
            direction: Some(Direction::Outbound),
            contact: Some(PhoneNumber::from_wa_id(user).expect("user")),
            ..MessageQuery::default()
        };
        self.store
            .list_messages(self.tenant.id, &query, Page::first(100))
            .await
            .expect("list")
            .items
    }

    async fn inbound_count(&self) -> usize {
        let query = MessageQuery {
            direction: Some(Direction::Inbound),
            ..MessageQuery::default()
        };
        self.store
            .list_messages(self.tenant.id, &query, Page::first(1000))
            .await
            .expect("list")
            .items
            .len()
    }

    async fn event_types(&self) -> Vec<String> {
        self.store
            .list_deliveries(self.tenant.id, None, Page::first(1000))
            .await
            .expect("deliveries")
            .items
            .into_iter()
            .map(|d| d.payload["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn stop(mut self) {
        if let Some(h) = self.sending.take() {
            h.shutdown().await;
        }
        self.receiver.abort();
        self.emulator.shutdown().await;
    }
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn reply_texts(records: &[wagw_core::model::message::MessageRecord]) -> Vec<String> {
    records
        .iter()
        .map(|m| match &m.body {
            wagw_core::model::message::MessageBody::Outbound(o) => match &o.content {
                MessageContent::Text(t) => t.body.clone(),
                other => format!("{other:?}"),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_messages_get_auto_replies_and_flows_once_and_outbound_webhooks() {
    let rig = Rig::start().await;
    let mut price = AutoReplyRule::new(
        rig.tenant.id,
        "harga",
        vec!["harga".into()],
        MessageContent::text("Paket mulai Rp 150.000/bulan"),
    );
    price.matching = KeywordMatch::Word;
    create_rule(&*rig.store, &price).await.expect("rule");
    let mut flow = Flow::new(
        rig.tenant.id,
        "menu",
        load_document(MENU_FLOW).expect("GVINUM flow"),
    );
    flow.triggers = vec!["menu".into()];
    activate(&mut flow).expect("valid");
    rig.store.create_flow(&flow).await.expect("flow");
    rig.store
        .create_subscription(&WebhookSubscription {
            id: SubscriptionId::new(),
            tenant_id: rig.tenant.id,
            url: "https://crm.example.co.id/wa".into(),
            secret: Secret::new("s3cret"),
            events: BTreeSet::from([EventKind::MessageReceived, EventKind::MessageStatus]),
            active: true,
            created_at: Utc::now(),
        })
        .await
        .expect("subscription");
    let runner = rig.runner().start();

    // An auto-reply; the same message delivered twice (same wamid) is answered once.
    let user = "628123450001";
    rig.say_as(user, "wamid.E2E.HARGA", "Berapa harga paketnya?");
    rig.say_as(user, "wamid.E2E.HARGA", "Berapa harga paketnya?");
    wait_for("the auto-reply to be sent", async || {
        rig.outbound(user)
            .await
            .iter()
            .any(|m| m.status >= MessageStatus::Sent && m.status != MessageStatus::Failed)
    })
    .await;
    // A flow, started by its trigger word and run to its end.
    rig.say(user, "MENU");
    wait_for("the menu", async || rig.outbound(user).await.len() >= 2).await;
    rig.say(user, "1");
    wait_for("the bill", async || rig.outbound(user).await.len() >= 3).await;
    wait_for("every reply sent", async || {
        rig.outbound(user)
            .await
            .iter()
            .all(|m| m.status >= MessageStatus::Sent && m.status != MessageStatus::Failed)
    })
    .await;
    assert!(rig.emulator.webhooks_idle(Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reply_texts(&rig.outbound(user).await),
        vec![
            "Paket mulai Rp 150.000/bulan",
            "Menu: 1. Tagihan 2. Gangguan",
            "Tagihan Anda Rp 150.000"
        ],
        "each message answered once"
    );
    assert_eq!(
        rig.inbound_count().await,
        3,
        "the redelivery is stored once"
    );
    let session = rig
        .store
        .get_session(
            rig.tenant.id,
            rig.channel.id,
            &PhoneNumber::from_wa_id(user).expect("user"),
        )
        .await
        .expect("get")
        .expect("session");
    assert_eq!(session.state, SessionState::Ended);

    // Outbound webhooks: one per stored inbound message, and status events for the replies.
    wait_for("status events for the replies", async || {
        rig.event_types()
            .await
            .iter()
            .filter(|t| *t == "message_status")
            .count()
            >= 3
    })
    .await;
    let types = rig.event_types().await;
    assert_eq!(types.iter().filter(|t| *t == "message_received").count(), 3);
    runner.shutdown().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_acknowledgement_and_reply_loses_nothing_and_answers_once() {
    let rig = Rig::start().await;
    let mut price = AutoReplyRule::new(
        rig.tenant.id,
        "harga",
        vec!["harga".into()],
        MessageContent::text("Paket mulai Rp 150.000/bulan"),
    );
    price.matching = KeywordMatch::Word;
    create_rule(&*rig.store, &price).await.expect("rule");
    let user = "628123450002";
    // Acknowledged (stored) while no runner runs.
    rig.say(user, "harga");
    wait_for("the message to be stored", async || {
        rig.inbound_count().await == 1
    })
    .await;
    // A runner takes the job and dies before answering: its claim is never settled.
    let claimed = rig
        .store
        .claim_conversation_jobs(Utc::now(), 10, Duration::from_millis(500))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(rig.outbound(user).await.is_empty());
    // A new runner answers once the dead one's lease runs out; two of them answer once.
    let a: RunnerHandle = rig.runner().start();
    let b: RunnerHandle = rig.runner().start();
    wait_for("the answer after the crash", async || {
        rig.outbound(user)
            .await
            .iter()
            .any(|m| m.status >= MessageStatus::Sent && m.status != MessageStatus::Failed)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.outbound(user).await.len(), 1, "answered once");
    a.shutdown().await;
    b.shutdown().await;
    rig.stop().await;
}
