//! Flow turns per second with the store: for each inbound message, load the contact's session,
//! run the flow engine, save the session with its version check. Contacts run concurrently,
//! each contact's turns in order (as the conversation runner serialises them).
//!
//! Baseline measured in the same run: the same load and save without the engine, so the ratio
//! is what the engine adds to the store round trip.
//!
//! `cargo bench -p wagw-benches --bench flow_turns` (PostgreSQL too with
//! `WAGW_TEST_POSTGRES_URL`; `WAGW_BENCH_TURNS` sets turns per round, default 4,000).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use tokio::task::JoinSet;
use wagw_benches::sql::BenchDb;
use wagw_benches::{env_size, median};
use wagw_core::event::InboundMessage;
use wagw_core::flow::{
    Engine, FlowHttp, FlowHttpRequest, FlowHttpResponse, activate, load_document,
};
use wagw_core::model::channel::Channel;
use wagw_core::model::flow::{ConversationSession, Flow};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::{FlowEngine, Store};
use wagw_store_memory::MemoryStore;

const CONTACTS: u64 = 200;
const ROUNDS: usize = 3;

/// The bench flow makes no HTTP calls; this client is never used.
struct NoHttp;

#[async_trait::async_trait]
impl FlowHttp for NoHttp {
    async fn call(&self, _: FlowHttpRequest) -> Result<FlowHttpResponse, (&'static str, String)> {
        Err(("denied", "no HTTP in this bench".into()))
    }
}

const MENU: &str = r#"{"version": 1, "start": "menu", "nodes": {
  "menu": {"type": "ask", "message": "Halo {{ contact.name }}! 1. Tagihan 2. Gangguan",
           "options": {"1": "bill", "2": "fault"}},
  "bill": {"type": "set", "vars": {"seen": "{{ msg.text }}"}, "next": "billmsg"},
  "billmsg": {"type": "send", "message": "Tagihan bulan ini Rp 150.000", "next": "menu"},
  "fault": {"type": "send", "message": "Teknisi kami segera datang", "next": "menu"}
}}"#;

fn message(from: &PhoneNumber, n: u64, body: &str) -> InboundMessage {
    serde_json::from_value(json!({
        "from": from.as_str(), "id": format!("wamid.{from}.{n}"),
        "timestamp": Utc::now().timestamp().to_string(),
        "type": "text", "text": {"body": body}
    }))
    .expect("message")
}

async fn turns(
    store: Arc<dyn Store>,
    engine: Option<Arc<Engine>>,
    tenant: &Tenant,
    channel: &Channel,
    per_contact: u64,
) -> f64 {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for c in 0..CONTACTS {
        let store = Arc::clone(&store);
        let engine = engine.clone();
        let (tenant, channel) = (tenant.id, channel.id);
        tasks.spawn(async move {
            let phone = wagw_benches::phone(1_000_000 + c);
            for n in 0..per_contact {
                let session = store
                    .get_session(tenant, channel, &phone)
                    .await
                    .expect("get")
                    .unwrap_or_else(|| ConversationSession::new(tenant, channel, phone.clone()));
                let mut next = match &engine {
                    Some(engine) => {
                        let body = if n == 0 {
                            "menu"
                        } else if n % 2 == 0 {
                            "1"
                        } else {
                            "2"
                        };
                        engine
                            .handle(session, &message(&phone, n, body))
                            .await
                            .expect("turn")
                            .session
                    }
                    None => {
                        let mut s = session;
                        s.last_activity_at = Utc::now();
                        s
                    }
                };
                let version = store.save_session(&next).await.expect("save");
                next.version = version;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    (CONTACTS * per_contact) as f64 / started.elapsed().as_secs_f64()
}

async fn bench(name: &str, store: Arc<dyn Store>, total: u64) {
    let tenant = Tenant::new(
        format!("bench-{}", uuid::Uuid::new_v4().simple()),
        Plan::enterprise(),
    );
    store.create_tenant(&tenant).await.expect("tenant");
    let channel = Channel::new(
        tenant.id,
        "n",
        uuid::Uuid::new_v4().simple().to_string(),
        "waba",
        wagw_benches::phone(9),
    );
    store.create_channel(&channel).await.expect("channel");
    let mut flow = Flow::new(tenant.id, "menu", load_document(MENU).expect("document"));
    flow.triggers = vec!["menu".into()];
    activate(&mut flow).expect("valid");
    store.create_flow(&flow).await.expect("flow");
    let engine = Arc::new(Engine::new(
        Arc::clone(&store) as Arc<dyn wagw_core::store::ConversationStore>,
        Arc::new(NoHttp),
    ));
    let per_contact = (total / CONTACTS).max(2);
    let mut with_engine = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..ROUNDS {
        baseline.push(turns(Arc::clone(&store), None, &tenant, &channel, per_contact).await);
        with_engine.push(
            turns(
                Arc::clone(&store),
                Some(Arc::clone(&engine)),
                &tenant,
                &channel,
                per_contact,
            )
            .await,
        );
    }
    let (turn_rate, base_rate) = (median(&with_engine), median(&baseline));
    println!(
        "{name}: flow turns {turn_rate:.0}/s (median of {ROUNDS}); baseline load+save {base_rate:.0}/s; ratio {:.2}",
        turn_rate / base_rate
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total = env_size("WAGW_BENCH_TURNS", 4_000);
    println!(
        "flow_turns: {CONTACTS} contacts, {} turns per round",
        (total / CONTACTS).max(2) * CONTACTS
    );
    bench("memory", Arc::new(MemoryStore::new()), total).await;
    let sqlite = BenchDb::sqlite().await;
    bench(sqlite.name, Arc::new(sqlite.store.clone()), total).await;
    sqlite.finish().await;
    if let Some(pg) = BenchDb::postgres(16).await {
        bench(pg.name, Arc::new(pg.store.clone()), total).await;
        pg.finish().await;
    } else {
        println!("PostgreSQL: skipped (WAGW_TEST_POSTGRES_URL unset)");
    }
}
