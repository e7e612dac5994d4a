//! `flow_completed` and `flow_handed_off` outbox events: a GVINUM flow run by the conversation
//! runner (inbound turns and the wake-up sweeper) writes one event per subscription of that
//! kind, with the session save that ends the flow or hands it off, and none on a re-run.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use common::{Setup, phone, quick};
use serde_json::json;
use wagw_core::conversation::{ConversationRunner, InboundPipeline, RoutedEvent, RunnerConfig};
use wagw_core::event::{InboundEvent, InboundMessage};
use wagw_core::flow::{Engine, GuardedFlowHttp, activate, load_document};
use wagw_core::ids::SubscriptionId;
use wagw_core::model::Secret;
use wagw_core::model::flow::Flow;
use wagw_core::model::webhook::{EventKind, WebhookDelivery, WebhookSubscription};
use wagw_core::net::NetPolicy;
use wagw_core::store::{ConversationStore, Page, WebhookStore};
use wagw_store_memory::{MemoryQueue, MemoryStore};

/// A customer code, then a menu: `1` ends at `bill`, `2` hands off at `human`, silence past
/// 30 seconds ends at `bye`.
const BILLING: &str = r#"{"version": 1, "start": "kode", "settings": {"session_ttl_secs": 600}, "nodes": {
  "kode": {"type": "ask", "message": "Kode pelanggan?", "input": {"kind": "regex", "pattern": "[0-9]{6}"},
           "save_as": "kode", "next": "menu"},
  "menu": {"type": "ask", "message": "1. Tagihan 2. CS", "options": {"1": "bill", "2": "human"},
           "timeout": {"after": "30s", "next": "bye"}},
  "bill": {"type": "end", "message": "Tagihan {{ kode }}: Rp 150.000"},
  "human": {"type": "handoff", "message": "Menghubungkan ke CS...", "release_after_secs": 600},
  "bye": {"type": "end", "message": "Sampai jumpa", "outcome": "timed_out"}
}}"#;

type Runner = ConversationRunner<MemoryStore, MemoryQueue, wagw_core::testkit::StubTransport>;

struct World {
    s: Setup,
    runner: Runner,
    flow: Flow,
    /// Subscribed to `flow_completed` only.
    completed: WebhookSubscription,
    /// Subscribed to `flow_handed_off` only.
    handed_off: WebhookSubscription,
}

fn subscription(s: &Setup, kind: EventKind) -> WebhookSubscription {
    WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: s.tenant.id,
        url: "https://crm.example.co.id/wa".into(),
        secret: Secret::new("s3cret"),
        events: BTreeSet::from([kind, EventKind::MessageStatus]),
        active: true,
        created_at: Utc::now(),
    }
}

impl World {
    async fn new() -> Self {
        let s = Setup::new(80).await;
        let mut flow = Flow::new(
            s.tenant.id,
            "tagihan",
            load_document(BILLING).expect("document"),
        );
        flow.triggers = vec!["cek".into()];
        activate(&mut flow).expect("valid");
        s.store.create_flow(&flow).await.expect("flow");
        let completed = subscription(&s, EventKind::FlowCompleted);
        let handed_off = subscription(&s, EventKind::FlowHandedOff);
        for sub in [&completed, &handed_off] {
            s.store.create_subscription(sub).await.expect("subscribe");
        }
        let engine = Engine::new(
            Arc::clone(&s.store) as Arc<dyn ConversationStore>,
            Arc::new(GuardedFlowHttp::new(NetPolicy::default()).expect("http")),
        );
        let runner = ConversationRunner::new(
            Arc::clone(&s.store),
            s.dispatcher(quick()),
            Arc::new(engine),
            RunnerConfig::default(),
        );
        Self {
            s,
            runner,
            flow,
            completed,
            handed_off,
        }
    }

    /// Stores the user's text and runs the runner over it.
    async fn say(&self, from: u64, wamid: &str, body: &str) {
        let message: InboundMessage = serde_json::from_value(json!({
            "from": phone(from).as_str(), "id": wamid, "type": "text",
            "timestamp": Utc::now().timestamp().to_string(),
            "text": {"body": body}
        }))
        .expect("inbound text");
        let routed = RoutedEvent {
            waba_id: self.s.channel.waba_id.clone(),
            phone_number_id: Some(self.s.channel.phone_number_id.clone()),
            contact: Some(json!({"wa_id": message.from, "profile": {"name": "Budi"}})),
            event: InboundEvent::Message(message),
        };
        InboundPipeline::new(Arc::clone(&self.s.store))
            .ingest(&[routed])
            .await
            .expect("ingest");
        self.runner.run_once().await.expect("run");
    }

    /// The stored deliveries of flow events, oldest first.
    async fn flow_deliveries(&self) -> Vec<WebhookDelivery> {
        let mut items = self
            .s
            .store
            .list_deliveries(self.s.tenant.id, None, Page::first(100))
            .await
            .expect("deliveries")
            .items;
        items.retain(|d| matches!(d.event, EventKind::FlowCompleted | EventKind::FlowHandedOff));
        items.sort_by_key(|d| d.created_at);
        items
    }
}

#[tokio::test]
async fn a_flow_run_to_its_end_writes_one_flow_completed_event_per_subscriber() {
    let w = World::new().await;
    w.say(1, "wamid.C1", "cek").await;
    w.say(1, "wamid.C2", "123456").await;
    assert!(w.flow_deliveries().await.is_empty(), "not ended yet");
    w.say(1, "wamid.C3", "1").await;

    let deliveries = w.flow_deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let d = &deliveries[0];
    assert_eq!(d.subscription_id, w.completed.id);
    assert_eq!(d.event, EventKind::FlowCompleted);
    let p = &d.payload;
    assert_eq!(p["type"], "flow_completed");
    assert_eq!(p["tenant_id"], json!(w.s.tenant.id));
    let data = &p["data"];
    assert_eq!(data["flow_id"], json!(w.flow.id));
    assert_eq!(data["flow_version"], json!(w.flow.version));
    assert_eq!(data["channel_id"], json!(w.s.channel.id));
    assert_eq!(data["contact"], phone(1).e164());
    assert_eq!(data["wa_id"], phone(1).as_str());
    assert_eq!(data["node"], "bill");
    assert_eq!(data["outcome"], "completed");
    assert_eq!(data["variables"]["kode"], "123456");
    let session =
        w.s.store
            .get_session(w.s.tenant.id, w.s.channel.id, &phone(1))
            .await
            .expect("read")
            .expect("session");
    assert_eq!(data["session_id"], json!(session.id));

    // The same message delivered again: the turn is not re-run, no second event.
    w.say(1, "wamid.C3", "1").await;
    assert_eq!(w.flow_deliveries().await.len(), 1);
}

#[tokio::test]
async fn a_flow_that_ends_on_the_turn_that_starts_it_writes_its_event() {
    let w = World::new().await;
    let mut hours = Flow::new(
        w.s.tenant.id,
        "jam buka",
        load_document(
            r#"{"version": 1, "start": "info", "nodes": {
                "info": {"type": "end", "message": "Buka 08.00-17.00 WIB", "outcome": "answered"}}}"#,
        )
        .expect("document"),
    );
    hours.triggers = vec!["jam".into()];
    activate(&mut hours).expect("valid");
    w.s.store.create_flow(&hours).await.expect("flow");
    w.say(4, "wamid.J1", "jam").await;

    let deliveries = w.flow_deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].subscription_id, w.completed.id);
    let data = &deliveries[0].payload["data"];
    assert_eq!(data["flow_id"], json!(hours.id));
    assert_eq!(data["node"], "info");
    assert_eq!(data["outcome"], "answered");
}

#[tokio::test]
async fn a_hand_off_writes_one_flow_handed_off_event_per_subscriber() {
    let w = World::new().await;
    w.say(2, "wamid.H1", "cek").await;
    w.say(2, "wamid.H2", "654321").await;
    w.say(2, "wamid.H3", "2").await;

    let deliveries = w.flow_deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let d = &deliveries[0];
    assert_eq!(d.subscription_id, w.handed_off.id);
    assert_eq!(d.payload["type"], "flow_handed_off");
    let data = &d.payload["data"];
    assert_eq!(data["node"], "human");
    assert_eq!(data["flow_id"], json!(w.flow.id));
    assert_eq!(data["wa_id"], phone(2).as_str());
    assert_eq!(data["variables"]["kode"], "654321");
    assert!(data.get("outcome").is_none());
}

#[tokio::test]
async fn a_wake_up_that_ends_the_flow_writes_its_event_once() {
    let w = World::new().await;
    w.say(3, "wamid.T1", "cek").await;
    w.say(3, "wamid.T2", "111111").await;
    let late = Utc::now() + TimeDelta::seconds(31);
    assert_eq!(w.runner.wake_due(late).await.expect("wake"), 1);
    // A second sweeper finds nothing due: no second event.
    assert_eq!(w.runner.wake_due(late).await.expect("wake"), 0);

    let deliveries = w.flow_deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].subscription_id, w.completed.id);
    let data = &deliveries[0].payload["data"];
    assert_eq!(data["node"], "bye");
    assert_eq!(data["outcome"], "timed_out");
}
