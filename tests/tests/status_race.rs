//! Status webhooks that race the send's answer (issue 8 item 8). The emulator sends `sent`,
//! `delivered` and `read` with no delay, so they often reach the gateway before the
//! dispatcher has recorded the wamid of the send's answer. Every message must still end at
//! the status its webhooks said: none stuck at `sent`, none lost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, NewMessage};
use wagw_core::event::InboundEvent;
use wagw_core::ingest::apply_status_updates;
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::message::{MessageStatus, Transition};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{ChannelStore, MessageStore, TenantStore, WamidUpdate};
use wagw_core::testkit::faults::{FaultPlan, FaultyTransport};
use wagw_e2e::{SECRET, TOKEN, WABA, phone};
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{Emulator, PhoneNumberSpec, StatusTiming, Throughput as EmuRate};
use wagw_store_memory::{MemoryQueue, MemoryStore};

const MESSAGES: u64 = 300;
const RATE: u32 = 1_000;

/// What the webhook receiver saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every status item received, by wamid, in arrival order.
    by_wamid: HashMap<String, Vec<MessageStatus>>,
    /// Items whose wamid the store did not know yet (the race this test is about).
    early: u64,
}

#[derive(Clone)]
struct Receiver {
    store: Arc<MemoryStore>,
    seen: Arc<Mutex<Seen>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get(wagw_meta::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let Ok(events) = wagw_meta::webhook::verify_and_parse(SECRET.as_bytes(), &body, signature)
    else {
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
        let Some(update) = WamidUpdate::from_webhook(status) else {
            continue;
        };
        match apply_status_updates(&*r.store, channel.tenant_id, std::slice::from_ref(&update))
            .await
        {
            Ok(changes) => {
                let mut seen = r.seen.lock();
                seen.by_wamid
                    .entry(update.wamid.clone())
                    .or_default()
                    .push(update.update.status);
                if changes[0].is_none() {
                    seen.early += 1;
                }
            }
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    StatusCode::OK
}

/// The status a message must end at: its answer (`sent`) followed by its webhooks, by the
/// forward-only rule.
fn expected(webhooks: &[MessageStatus]) -> MessageStatus {
    webhooks.iter().fold(MessageStatus::Sent, |at, s| {
        if at.transition(*s) == Transition::Advance {
            *s
        } else {
            at
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_arriving_before_the_send_answer_are_not_lost() {
    let store = Arc::new(MemoryStore::new());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/webhook", post(receive))
        .with_state(Receiver {
            store: Arc::clone(&store),
            seen: Arc::clone(&seen),
        });
    let receiver = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let pnid = "106540352240000";
    let display = phone(900_000);
    let emulator = Emulator::builder()
        .seed(11)
        .access_token(TOKEN)
        .throughput(EmuRate::per_second(RATE))
        // Every status the moment the message is accepted, in a hostile order at times.
        .statuses(StatusTiming {
            sent_after: Duration::ZERO,
            delivered_after: Duration::ZERO,
            read_after: Duration::ZERO,
            delivered_probability: 0.9,
            read_probability: 0.5,
            undeliverable_probability: 0.05,
        })
        .duplicates(0.1)
        .out_of_order(0.2)
        .customer_window(None)
        .webhook(format!("http://{addr}/webhook"), SECRET)
        .number(PhoneNumberSpec::new(pnid, display.as_str(), WABA))
        .start()
        .await
        .expect("emulator");
    let tenant = Tenant::new("Toko Maju", Plan::enterprise());
    store.create_tenant(&tenant).await.expect("tenant");
    let mut channel = Channel::new(tenant.id, "cs", pnid, WABA, display);
    channel.throughput = Throughput::per_second(RATE).expect("rate");
    store.create_channel(&channel).await.expect("channel");
    let transport = MetaTransport::builder()
        .base_url(emulator.base_url())
        .access_token(TOKEN)
        .build()
        .expect("transport");
    // The send's answer comes back slowly, so the 0 ms webhooks surely win the race.
    let slow_answers = FaultPlan::new();
    slow_answers.set_answer_latency(Duration::from_millis(30));
    let transport = FaultyTransport::new(Arc::new(transport), slow_answers);

    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        Arc::new(MemoryQueue::new()),
        Arc::new(transport),
        DispatcherConfig {
            idle_poll: Duration::from_millis(5),
            enforce_window: false,
            ..DispatcherConfig::default()
        },
    );
    let messages: Vec<NewMessage> = (0..MESSAGES)
        .map(|n| {
            NewMessage::new(
                tenant.id,
                channel.id,
                phone(n),
                MessageContent::text("Tagihan Anda"),
            )
        })
        .collect();
    let messages: Vec<_> = dispatcher
        .submit_many(messages)
        .await
        .expect("submit")
        .into_iter()
        .map(|i| i.id)
        .collect();
    let running = dispatcher.start();

    // Done when every send's answer is recorded and the emulator has no webhook left to send.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut settled_rounds = 0;
    while settled_rounds < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the sends and their webhooks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut answered = 0;
        for m in &messages {
            if store
                .get_message(tenant.id, *m)
                .await
                .expect("get")
                .wamid
                .is_some()
            {
                answered += 1;
            }
        }
        let stats = emulator.webhook_stats();
        if answered == messages.len() && stats.queued == 0 && stats.in_flight == 0 {
            settled_rounds += 1;
        } else {
            settled_rounds = 0;
        }
    }
    running.shutdown().await;

    let seen = std::mem::take(&mut *seen.lock());
    assert!(
        seen.early > 0,
        "the race did not happen: no webhook came before its send's answer"
    );
    let mut wrong = Vec::new();
    for m in &messages {
        let stored = store.get_message(tenant.id, *m).await.expect("get");
        let wamid = stored.wamid.clone().expect("every send answered");
        let webhooks = seen.by_wamid.get(&wamid).cloned().unwrap_or_default();
        assert!(!webhooks.is_empty(), "no webhook for {wamid}");
        let want = expected(&webhooks);
        if stored.status != want {
            wrong.push((wamid, webhooks, stored.status));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {MESSAGES} messages do not match their webhooks ({} came early), e.g. {:?}",
        wrong.len(),
        seen.early,
        wrong.first()
    );
    eprintln!(
        "{MESSAGES} messages, {} webhooks before the send's answer, all applied",
        seen.early
    );
    receiver.abort();
    emulator.shutdown().await;
}
